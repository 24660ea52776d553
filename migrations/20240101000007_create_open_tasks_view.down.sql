DROP VIEW project_task_summary;
