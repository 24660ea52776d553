-- Add effort estimates, archive projects, and make new tasks default to
-- priority 3 instead of 2.
ALTER TABLE tasks ADD COLUMN estimate_minutes integer CHECK (estimate_minutes >= 0);
ALTER TABLE tasks ALTER COLUMN priority SET DEFAULT 3;
ALTER TABLE projects ADD COLUMN archived_at timestamptz;
ALTER TABLE users ALTER COLUMN display_name DROP NOT NULL;
