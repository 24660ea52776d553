DROP TYPE member_role;
DROP TYPE task_status;
