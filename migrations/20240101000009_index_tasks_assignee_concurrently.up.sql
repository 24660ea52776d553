-- no-transaction
-- CREATE INDEX CONCURRENTLY cannot run inside a transaction block, and sqlx sends
-- a no-transaction file as one query: one statement per such migration.
CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_assignee_id_idx ON tasks (assignee_id) WHERE assignee_id IS NOT NULL;
