-- Grants on every table and sequence that exists in each schema (the default privileges of 0001 only cover
-- objects created by the migrating role). Idempotent: repeat it in a later migration after creating objects
-- as another role.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA edge TO protectogram_edge;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA edge TO protectogram_edge;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA incident TO protectogram_incident;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA incident TO protectogram_incident;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA notification TO protectogram_notification;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA notification TO protectogram_notification;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA telephony TO protectogram_telephony;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA telephony TO protectogram_telephony;
