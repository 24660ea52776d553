-- Extensions used by the task-tracker schema.
-- citext: case-insensitive text for organization slugs.
-- pgcrypto: digest()/crypt() for API token hashing.
CREATE EXTENSION IF NOT EXISTS citext;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
