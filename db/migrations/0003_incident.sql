-- incident: people, guardian links, incidents and alerts, plus the service's inbox (dedup of what comes in),
-- outbox (commands to other services) and durable jobs (scheduled_actions).
-- Status columns without a CHECK hold values the incident service defines (docs/database.md).

CREATE TABLE incident.users (
  id bigserial PRIMARY KEY,
  telegram_id bigint,
  phone_e164 text,
  display_name text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT users_telegram_id_key UNIQUE (telegram_id)
);
CREATE INDEX users_phone_e164_idx ON incident.users (phone_e164);

-- A guardian (watcher) of a traveler, with the call policy for that guardian.
CREATE TABLE incident.member_links (
  id bigserial PRIMARY KEY,
  watcher_user_id bigint NOT NULL REFERENCES incident.users (id),
  traveler_user_id bigint NOT NULL REFERENCES incident.users (id),
  status text NOT NULL DEFAULT 'active',
  call_priority integer NOT NULL DEFAULT 0,  -- lower rings first
  ring_timeout_sec integer NOT NULL DEFAULT 25,
  max_retries integer NOT NULL DEFAULT 2,
  retry_backoff_sec integer NOT NULL DEFAULT 60,
  telegram_enabled boolean NOT NULL DEFAULT true,
  calls_enabled boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT member_links_pair_key UNIQUE (traveler_user_id, watcher_user_id),
  CONSTRAINT member_links_not_self CHECK (watcher_user_id <> traveler_user_id),
  CONSTRAINT member_links_policy_check
    CHECK (ring_timeout_sec > 0 AND max_retries >= 0 AND retry_backoff_sec >= 0)
);
CREATE INDEX member_links_traveler_priority_idx ON incident.member_links (traveler_user_id, call_priority);
CREATE INDEX member_links_watcher_idx ON incident.member_links (watcher_user_id);

CREATE TABLE incident.incidents (
  id bigserial PRIMARY KEY,
  traveler_user_id bigint NOT NULL REFERENCES incident.users (id),
  status text NOT NULL DEFAULT 'active',  -- active, acknowledged, canceled, ...
  is_test boolean NOT NULL DEFAULT false,
  total_ring_sec integer NOT NULL DEFAULT 0,  -- summed ringing time, against the per-incident cap
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  acknowledged_by_user_id bigint REFERENCES incident.users (id),
  ack_at timestamptz,
  canceled_at timestamptz
);
-- At most one active incident per traveler: a second panic finds the first one (ON CONFLICT).
CREATE UNIQUE INDEX incidents_one_active_per_traveler_idx ON incident.incidents (traveler_user_id)
  WHERE status = 'active';
CREATE INDEX incidents_status_created_idx ON incident.incidents (status, created_at);

CREATE TABLE incident.alerts (
  id bigserial PRIMARY KEY,
  incident_id bigint NOT NULL REFERENCES incident.incidents (id),
  type text NOT NULL,  -- telegram, call, reminder, ...
  audience_user_id bigint REFERENCES incident.users (id),
  status text NOT NULL DEFAULT 'pending',
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_incident_idx ON incident.alerts (incident_id);

-- Events received from the edge (and other services), recorded in the same transaction as their effect.
CREATE TABLE incident.inbox_events (
  id bigserial PRIMARY KEY,
  provider text NOT NULL,
  provider_event_id text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  payload_json jsonb NOT NULL DEFAULT '{}'::jsonb,
  processed_at timestamptz,
  CONSTRAINT inbox_events_provider_event_key UNIQUE (provider, provider_event_id)
);

-- Commands to other services ('notification.send', 'telephony.place_call', ...), sent by the relay with their
-- idempotency key until acknowledged.
CREATE TABLE incident.outbox_messages (
  id bigserial PRIMARY KEY,
  channel text NOT NULL,
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
CREATE INDEX outbox_messages_status_next_attempt_idx ON incident.outbox_messages (status, next_attempt_at);

-- Durable jobs (the same shape as notification.jobs and telephony.jobs).
CREATE TABLE incident.scheduled_actions (
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
  CONSTRAINT scheduled_actions_job_key_key UNIQUE (job_key),
  CONSTRAINT scheduled_actions_state_check CHECK (state IN ('pending', 'running', 'done', 'dead'))
);
CREATE INDEX scheduled_actions_due_idx ON incident.scheduled_actions (run_at) WHERE state = 'pending';
CREATE INDEX scheduled_actions_lease_idx ON incident.scheduled_actions (lease_until) WHERE state = 'running';
CREATE INDEX scheduled_actions_incident_idx ON incident.scheduled_actions (incident_id);
