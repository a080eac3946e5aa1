-- telephony: one row per call attempt (keyed by the caller's attempt key, so a retried PlaceCall never rings
-- twice) and the service's durable jobs.
-- The charter's telnyx_call_id, started_at and attempt_number are generated from provider_call_id, dialed_at
-- and attempt_no, so each fact is stored once; write the base columns.

CREATE TABLE telephony.call_attempts (
  id bigserial PRIMARY KEY,
  attempt_key text NOT NULL,
  incident_id bigint,
  alert_id bigint,
  attempt_no integer NOT NULL DEFAULT 1,
  attempt_number integer GENERATED ALWAYS AS (attempt_no) STORED,
  to_e164 text NOT NULL,
  provider text,  -- telnyx, twilio, ari: the one that placed the call
  provider_call_id text,
  telnyx_call_id text GENERATED ALWAYS AS (CASE WHEN provider = 'telnyx' THEN provider_call_id END) STORED,
  state text NOT NULL DEFAULT 'pending',
  result text,  -- the outcome counted in call_attempts_total{result}
  dtmf_received text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  dialed_at timestamptz,
  started_at timestamptz GENERATED ALWAYS AS (dialed_at) STORED,
  answered_at timestamptz,
  ended_at timestamptz,
  duration_sec integer,
  failure_reason text,
  error_code text,  -- the provider's error code, if any
  CONSTRAINT call_attempts_attempt_key_key UNIQUE (attempt_key),
  CONSTRAINT call_attempts_state_check CHECK (state IN ('pending', 'dialing', 'ringing', 'answered', 'completed',
                                                        'no_answer', 'busy', 'failed', 'canceled'))
);
CREATE INDEX call_attempts_alert_attempt_idx ON telephony.call_attempts (alert_id, attempt_no);
CREATE INDEX call_attempts_provider_call_idx ON telephony.call_attempts (provider, provider_call_id);
CREATE INDEX call_attempts_incident_idx ON telephony.call_attempts (incident_id);

CREATE TABLE telephony.jobs (
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
CREATE INDEX jobs_due_idx ON telephony.jobs (run_at) WHERE state = 'pending';
CREATE INDEX jobs_lease_idx ON telephony.jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_incident_idx ON telephony.jobs (incident_id);
