-- One schema per service and one LOGIN role per service (protectogram_<service>), which may use only its own
-- schema: USAGE plus SELECT/INSERT/UPDATE/DELETE on its tables and USAGE/SELECT/UPDATE on its sequences.
-- Roles are cluster-global, so they are created only if missing, and never with a password: operators set one
-- (ALTER ROLE protectogram_edge PASSWORD '...') or use trust/peer/cert auth.
-- The default privileges below cover every table and sequence that the migrating role creates later in these
-- schemas; 0006 also grants on what exists.

REVOKE CREATE ON SCHEMA public FROM PUBLIC;

DO $$
DECLARE
  role_name text;
BEGIN
  FOREACH role_name IN ARRAY ARRAY['protectogram_edge', 'protectogram_incident', 'protectogram_notification',
                                   'protectogram_telephony'] LOOP
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
        EXECUTE format('CREATE ROLE %I LOGIN', role_name);
      END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;  -- created at the same moment by a migrator of another database in this cluster
    END;
  END LOOP;
END
$$;

CREATE SCHEMA edge;
CREATE SCHEMA incident;
CREATE SCHEMA notification;
CREATE SCHEMA telephony;

REVOKE ALL ON SCHEMA edge, incident, notification, telephony FROM PUBLIC;

GRANT USAGE ON SCHEMA edge TO protectogram_edge;
GRANT USAGE ON SCHEMA incident TO protectogram_incident;
GRANT USAGE ON SCHEMA notification TO protectogram_notification;
GRANT USAGE ON SCHEMA telephony TO protectogram_telephony;

ALTER DEFAULT PRIVILEGES IN SCHEMA edge
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO protectogram_edge;
ALTER DEFAULT PRIVILEGES IN SCHEMA edge
  GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO protectogram_edge;
ALTER DEFAULT PRIVILEGES IN SCHEMA incident
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO protectogram_incident;
ALTER DEFAULT PRIVILEGES IN SCHEMA incident
  GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO protectogram_incident;
ALTER DEFAULT PRIVILEGES IN SCHEMA notification
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO protectogram_notification;
ALTER DEFAULT PRIVILEGES IN SCHEMA notification
  GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO protectogram_notification;
ALTER DEFAULT PRIVILEGES IN SCHEMA telephony
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO protectogram_telephony;
ALTER DEFAULT PRIVILEGES IN SCHEMA telephony
  GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO protectogram_telephony;
