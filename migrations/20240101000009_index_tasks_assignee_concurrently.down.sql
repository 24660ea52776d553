-- no-transaction
DROP INDEX CONCURRENTLY IF EXISTS tasks_assignee_id_idx;
