-- Outbox features the notification service needs, for every outbox table (libs/jobs/outbox.h,
-- docs/durable-work.md "Priority, pacing, receipts"):
--   priority   higher goes first among due messages (an incident's alerts before routine messages);
--   pace_keys  rate-limit buckets the message draws from (e.g. {'tg:main', 'tg:main:123'}), with
--   pace_costs how much it draws from each (a text split into 3 parts costs the bot 3, its chat 1);
--   receipt    what the receiver answered (provider message ids), and a send's progress between attempts.
-- The buckets themselves live in <schema>.outbox_pace: one GCRA "theoretical arrival time" per key, locked by
-- the claim, so every replica of a service shares one limit.
ALTER TABLE incident.outbox_messages
  ADD COLUMN priority smallint NOT NULL DEFAULT 0,
  ADD COLUMN pace_keys text[] NOT NULL DEFAULT '{}',
  ADD COLUMN pace_costs integer[] NOT NULL DEFAULT '{}',
  ADD COLUMN receipt jsonb;
ALTER TABLE notification.outbox_messages
  ADD COLUMN priority smallint NOT NULL DEFAULT 0,
  ADD COLUMN pace_keys text[] NOT NULL DEFAULT '{}',
  ADD COLUMN pace_costs integer[] NOT NULL DEFAULT '{}',
  ADD COLUMN receipt jsonb,
  DROP COLUMN provider_message_id;

-- The claim walks due messages by priority, then due time.
DROP INDEX incident.outbox_messages_status_next_attempt_idx;
CREATE INDEX outbox_messages_due_idx ON incident.outbox_messages (priority DESC, next_attempt_at, id)
  WHERE status = 'pending';
DROP INDEX notification.outbox_messages_status_next_attempt_idx;
CREATE INDEX outbox_messages_due_idx ON notification.outbox_messages (priority DESC, next_attempt_at, id)
  WHERE status = 'pending';
-- The claim's "when is the next one due"; listing dead letters and counting the last hour's; pruning sent
-- rows by age.
CREATE INDEX outbox_messages_pending_next_idx ON incident.outbox_messages (next_attempt_at)
  WHERE status = 'pending';
CREATE INDEX outbox_messages_pending_next_idx ON notification.outbox_messages (next_attempt_at)
  WHERE status = 'pending';
CREATE INDEX outbox_messages_dead_idx ON notification.outbox_messages (updated_at) WHERE status = 'dead';
CREATE INDEX outbox_messages_sent_idx ON notification.outbox_messages (next_attempt_at) WHERE status = 'sent';
CREATE INDEX outbox_messages_dead_idx ON incident.outbox_messages (updated_at) WHERE status = 'dead';
CREATE INDEX outbox_messages_sent_idx ON incident.outbox_messages (next_attempt_at) WHERE status = 'sent';

CREATE TABLE incident.outbox_pace (
  key text PRIMARY KEY,
  tat timestamptz NOT NULL DEFAULT '-infinity'
);
CREATE TABLE notification.outbox_pace (
  key text PRIMARY KEY,
  tat timestamptz NOT NULL DEFAULT '-infinity'
);

-- What getMe told each bot's username (invite links need it), learned at start by whichever replica gets
-- there first; and the webhook state last seen.
CREATE TABLE notification.bots (
  bot_id text PRIMARY KEY,
  username text NOT NULL,
  telegram_id bigint NOT NULL,
  learned_at timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA incident TO protectogram_incident;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA incident TO protectogram_incident;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA notification TO protectogram_notification;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA notification TO protectogram_notification;
