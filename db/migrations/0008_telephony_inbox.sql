-- The telephony service's receiving side: voice events delivered by the edge are recorded here once, keyed by
-- ('edge', event_key), in the transaction that handles them (services/common/durable_runtime.h). Same shape
-- as edge.inbox_events and incident.inbox_events, so jobs::Inbox serves all three.
CREATE TABLE telephony.inbox_events (
  id bigserial PRIMARY KEY,
  provider text NOT NULL,
  provider_event_id text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  payload text NOT NULL DEFAULT '',
  payload_json jsonb,
  headers jsonb NOT NULL DEFAULT '{}'::jsonb,
  status text NOT NULL DEFAULT 'received',
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error text,
  delivered_at timestamptz,
  processed_at timestamptz,
  CONSTRAINT inbox_events_provider_event_key UNIQUE (provider, provider_event_id),
  CONSTRAINT inbox_events_status_check CHECK (status IN ('received', 'delivered', 'ignored'))
);
CREATE INDEX inbox_events_status_next_attempt_idx ON telephony.inbox_events (status, next_attempt_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA telephony TO protectogram_telephony;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA telephony TO protectogram_telephony;
