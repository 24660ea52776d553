-- Orders placed by users, and titles searchable by prefix.
CREATE TABLE orders (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id  bigint REFERENCES projects (id),
    total       numeric(10,2) NOT NULL DEFAULT 0 CHECK (total >= 0),
    placed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_user_id_idx ON orders (user_id);

ALTER TABLE tasks ALTER COLUMN title TYPE varchar(200);
CREATE INDEX tasks_title_idx ON tasks (title text_pattern_ops);
