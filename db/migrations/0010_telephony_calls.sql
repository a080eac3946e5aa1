-- The telephony service's calls (services/telephony, docs/telephony.md).
-- call_attempts gains what placing and following a call needs: its public id (the REST API's call_id), the
-- request (text, language, digits, ring timeout, dialplan target), who hears the outcome, the failover order
-- and where in it the attempt is, the provider-side idempotency key of the current dial and when that dial
-- was started (a crash between "decided to dial" and "provider accepted" is recognized by it), whether a
-- machine answered, and the outcome reported (set once: it is what makes the report exactly once).
ALTER TABLE telephony.call_attempts
  ADD COLUMN call_id uuid NOT NULL DEFAULT gen_random_uuid(),
  ADD COLUMN correlation_id text NOT NULL DEFAULT '',
  ADD COLUMN report_service text NOT NULL DEFAULT '',
  ADD COLUMN report_key text NOT NULL DEFAULT '',
  ADD COLUMN requested_by text NOT NULL DEFAULT '',
  ADD COLUMN speak_text text NOT NULL DEFAULT '',
  ADD COLUMN language text NOT NULL DEFAULT '',
  ADD COLUMN valid_digits text NOT NULL DEFAULT '1',
  ADD COLUMN prompt_repeats integer NOT NULL DEFAULT 3,
  ADD COLUMN ring_timeout_sec integer NOT NULL DEFAULT 25,
  ADD COLUMN caller_id text NOT NULL DEFAULT '',
  ADD COLUMN dialplan_context text NOT NULL DEFAULT '',
  ADD COLUMN dialplan_extension text NOT NULL DEFAULT '',
  ADD COLUMN dialplan_priority integer NOT NULL DEFAULT 1,
  ADD COLUMN providers text[] NOT NULL DEFAULT '{}',
  ADD COLUMN provider_index integer NOT NULL DEFAULT 0,
  ADD COLUMN dial_key text NOT NULL DEFAULT '',
  ADD COLUMN dial_started_at timestamptz,
  ADD COLUMN machine_detected boolean NOT NULL DEFAULT false,
  ADD COLUMN outcome text,
  ADD COLUMN outcome_at timestamptz,
  -- false for a call refused by a guardrail: it never rang and does not count toward the spend caps.
  ADD COLUMN billable boolean NOT NULL DEFAULT true,
  ADD CONSTRAINT call_attempts_call_id_key UNIQUE (call_id),
  ADD CONSTRAINT call_attempts_outcome_check CHECK (outcome IN ('digit_pressed', 'answered_no_digit', 'machine',
                                                                'no_answer', 'busy', 'failed', 'canceled'));
-- HangupAll: the live calls of a correlation.
CREATE INDEX call_attempts_live_correlation_idx ON telephony.call_attempts (correlation_id)
  WHERE state IN ('pending', 'dialing', 'ringing', 'answered');
-- ARI's events name the call by our channel id (the dial key).
CREATE INDEX call_attempts_dial_key_idx ON telephony.call_attempts (dial_key) WHERE dial_key <> '';
-- The spend caps count the last day's billable calls; the admin list is newest first.
CREATE INDEX call_attempts_created_idx ON telephony.call_attempts (created_at);

-- Every provider event and every decision of a call, in order: its history (TelephonyAdmin.GetCallHistory).
CREATE TABLE telephony.call_events (
  id bigserial PRIMARY KEY,
  attempt_id bigint NOT NULL REFERENCES telephony.call_attempts (id) ON DELETE CASCADE,
  at timestamptz NOT NULL DEFAULT now(),
  source text NOT NULL,  -- telnyx, twilio, ari; telephony for our own steps
  kind text NOT NULL,    -- the provider's event name, or our step (placed, dial_requested, ...)
  state_before text NOT NULL,
  state_after text NOT NULL,
  detail jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX call_events_attempt_idx ON telephony.call_events (attempt_id, id);

-- The outcomes to the requesters (IncidentService.OnCallOutcome), through the outbox (libs/jobs/outbox.h).
CREATE TABLE telephony.outbox_messages (
  id bigserial PRIMARY KEY,
  channel text NOT NULL,
  idempotency_key text NOT NULL,
  payload_json jsonb NOT NULL DEFAULT '{}'::jsonb,
  status text NOT NULL DEFAULT 'pending',
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error text,
  incident_id bigint,
  priority smallint NOT NULL DEFAULT 0,
  pace_keys text[] NOT NULL DEFAULT '{}',
  pace_costs integer[] NOT NULL DEFAULT '{}',
  receipt jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT outbox_messages_idempotency_key_key UNIQUE (idempotency_key),
  CONSTRAINT outbox_messages_status_check CHECK (status IN ('pending', 'sent', 'dead'))
);
CREATE INDEX outbox_messages_due_idx ON telephony.outbox_messages (priority DESC, next_attempt_at, id)
  WHERE status = 'pending';
CREATE INDEX outbox_messages_pending_next_idx ON telephony.outbox_messages (next_attempt_at)
  WHERE status = 'pending';
CREATE INDEX outbox_messages_dead_idx ON telephony.outbox_messages (updated_at) WHERE status = 'dead';
CREATE INDEX outbox_messages_sent_idx ON telephony.outbox_messages (next_attempt_at) WHERE status = 'sent';

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA telephony TO protectogram_telephony;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA telephony TO protectogram_telephony;
