-- notification: outbound chat messages (a durable outbox keyed by the caller's idempotency key; 'dead' rows
-- are the dead letters) and the service's durable jobs.

CREATE TABLE notification.outbox_messages (
  id bigserial PRIMARY KEY,
  channel text NOT NULL,  -- telegram:<bot_id>, whatsapp, ...
  idempotency_key text NOT NULL,
  payload_json jsonb NOT NULL DEFAULT '{}'::jsonb,
  status text NOT NULL DEFAULT 'pending',
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error text,
  provider_message_id text,
  incident_id bigint,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT outbox_messages_idempotency_key_key UNIQUE (idempotency_key),
  CONSTRAINT outbox_messages_status_check CHECK (status IN ('pending', 'sent', 'dead'))
);
CREATE INDEX outbox_messages_status_next_attempt_idx ON notification.outbox_messages (status, next_attempt_at);

CREATE TABLE notification.jobs (
  id bigserial PRIMARY KEY,
  action_type text NOT NULL,
  job_key text NOT NULL,
  incident_id bigint,
  run_at timestamptz NOT NULL,
  state text NOT NULL DEFAULT 'pending',
  attempts integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL DEFAULT 5,
  lease_until timestamptz,
  last_error text,
  payload_json jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT jobs_job_key_key UNIQUE (job_key),
  CONSTRAINT jobs_state_check CHECK (state IN ('pending', 'running', 'done', 'dead'))
);
CREATE INDEX jobs_due_idx ON notification.jobs (run_at) WHERE state = 'pending';
CREATE INDEX jobs_lease_idx ON notification.jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_incident_idx ON notification.jobs (incident_id);
