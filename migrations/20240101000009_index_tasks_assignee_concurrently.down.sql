-- no-transaction
DROP INDEX CONCURRENTLY IF EXISTS organizations_name_lower_idx;
DROP INDEX CONCURRENTLY IF EXISTS tasks_assignee_id_idx;
