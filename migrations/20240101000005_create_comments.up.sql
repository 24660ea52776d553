CREATE TABLE task_comments (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id    bigint NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    author_id  uuid REFERENCES users (id) ON DELETE SET NULL,
    body       text NOT NULL CHECK (length(body) <= 20000),
    created_at timestamptz NOT NULL DEFAULT now(),
    edited_at  timestamptz
);

CREATE INDEX task_comments_task_id_created_at_idx ON task_comments (task_id, created_at);

COMMENT ON TABLE task_comments IS 'Discussion thread entries attached to a task.';
COMMENT ON COLUMN task_comments.edited_at IS 'NULL until the author edits the comment.';
COMMENT ON COLUMN tasks.priority IS '0 = urgent ... 4 = someday';
