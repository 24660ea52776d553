COMMENT ON COLUMN tasks.priority IS NULL;
DROP TABLE task_comments;
