CREATE VIEW project_task_summary AS
SELECT p.id                                              AS project_id,
       p.organization_id,
       p.key,
       count(t.id) FILTER (WHERE t.status NOT IN ('done', 'cancelled')) AS open_tasks,
       count(t.id) FILTER (WHERE t.status = 'done')      AS done_tasks,
       min(t.due_on) FILTER (WHERE t.status NOT IN ('done', 'cancelled')) AS next_due_on
FROM projects p
LEFT JOIN tasks t ON t.project_id = p.id
GROUP BY p.id, p.organization_id, p.key;

COMMENT ON VIEW project_task_summary IS 'Per-project counts of open and finished tasks.';
