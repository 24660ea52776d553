UPDATE users SET display_name = email WHERE display_name IS NULL;
ALTER TABLE users ALTER COLUMN display_name SET NOT NULL;
ALTER TABLE projects DROP COLUMN archived_at;
ALTER TABLE tasks ALTER COLUMN priority SET DEFAULT 2;
ALTER TABLE tasks DROP COLUMN estimate_minutes;
