-- incident: the panic flow (docs/incident.md). Users learn their Telegram chat, bot and locale; guardians are
-- invited with one-time tokens; each chat's conversation state is a row; an incident keeps the pure core's
-- whole state (state_json) next to the columns the admin views and the indexes need, and everything it did
-- on its timeline.

ALTER TABLE incident.users
  ADD COLUMN bot_id text NOT NULL DEFAULT 'main',  -- the bot the user talks to
  ADD COLUMN chat_id text,                         -- their private chat with that bot
  ADD COLUMN locale text NOT NULL DEFAULT 'ru',    -- from Telegram's language_code: ru, en, es
  ADD COLUMN registered_at timestamptz;            -- set once the phone was shared

-- 'active' or 'removed' (a removed link is kept for the incidents that name it; re-inviting revives it).
ALTER TABLE incident.member_links
  ADD CONSTRAINT member_links_status_check CHECK (status IN ('active', 'removed'));

ALTER TABLE incident.incidents
  ADD COLUMN state_json jsonb NOT NULL DEFAULT '{}'::jsonb,  -- services/incident/core: the whole state
  ADD COLUMN correlation_id text NOT NULL DEFAULT '',
  ADD COLUMN ended_at timestamptz,
  ADD COLUMN first_alert_at timestamptz,  -- when the first guardian alert was accepted by Telegram
  ADD CONSTRAINT incidents_status_check
    CHECK (status IN ('active', 'acknowledged', 'canceled', 'escalated'));

-- One-time invite tokens: 16 hex characters, a TTL (7 days), max_uses (1).
CREATE TABLE incident.invites (
  token text PRIMARY KEY,
  traveler_user_id bigint NOT NULL REFERENCES incident.users (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  max_uses integer NOT NULL DEFAULT 1,
  uses integer NOT NULL DEFAULT 0,
  used_by_user_id bigint REFERENCES incident.users (id),
  used_at timestamptz,
  CONSTRAINT invites_token_check CHECK (token ~ '^[0-9a-f]{16}$'),
  CONSTRAINT invites_uses_check CHECK (uses >= 0 AND uses <= max_uses)
);
CREATE INDEX invites_traveler_idx ON incident.invites (traveler_user_id);

-- The conversation of one chat with one bot (services/incident/conversation): what the bot waits for, the
-- spam guard's window. Survives restarts and replica switches.
CREATE TABLE incident.conversations (
  bot_id text NOT NULL,
  chat_id text NOT NULL,
  state_json jsonb NOT NULL DEFAULT '{}'::jsonb,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (bot_id, chat_id)
);

-- Everything an incident did: who, what, when, and the correlation id of the log lines.
CREATE TABLE incident.timeline (
  id bigserial PRIMARY KEY,
  incident_id bigint NOT NULL REFERENCES incident.incidents (id),
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  what text NOT NULL,
  detail_json jsonb NOT NULL DEFAULT '{}'::jsonb,
  correlation_id text NOT NULL DEFAULT ''
);
CREATE INDEX timeline_incident_idx ON incident.timeline (incident_id, id);

-- Test calls a traveler places to a guardian from the guardians menu (their outcome is told to the traveler).
CREATE TABLE incident.test_calls (
  attempt_key text PRIMARY KEY,
  link_id bigint NOT NULL REFERENCES incident.member_links (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  outcome text
);

-- telephony: a correlation HangupAll has ended (an incident acknowledged or canceled). A PlaceCall of it that
-- arrives afterwards (the incident's outbox sends in parallel) is refused, so no call rings after an ack.
CREATE TABLE telephony.closed_correlations (
  correlation_id text PRIMARY KEY,
  closed_at timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE, DELETE ON telephony.closed_correlations TO protectogram_telephony;

-- notification: whether a later edit of a message was applied already (kLaterEditApplied, once per edit; the
-- panic edits every alert) looks the edits of one target up here instead of reading every sent row.
CREATE INDEX outbox_messages_edit_target_idx ON notification.outbox_messages ((payload_json ->> 'target'), id)
  WHERE payload_json ->> 'kind' = 'DELIVERY_KIND_EDIT';

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA incident TO protectogram_incident;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA incident TO protectogram_incident;
