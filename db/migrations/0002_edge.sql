-- edge: every accepted webhook, stored before the edge answers 200, then relayed to its service until acked.
-- `payload` is the raw body exactly as received (Telegram, Telnyx and WhatsApp send JSON; Twilio sends
-- application/x-www-form-urlencoded), so signatures can be re-checked and events replayed byte for byte;
-- `payload_json` is the parsed body when it is JSON, NULL otherwise.
-- `headers` keeps only the request headers the edge chooses (content type, signature headers for audit), never
-- a secret such as X-Telegram-Bot-Api-Secret-Token.
CREATE TABLE edge.inbox_events (
  id bigserial PRIMARY KEY,
  provider text NOT NULL,                 -- 'telegram:<bot_id>', 'telnyx', 'twilio', 'whatsapp'
  provider_event_id text NOT NULL,        -- update_id, event id, MessageSid/CallSid, ...
  received_at timestamptz NOT NULL DEFAULT now(),
  payload text NOT NULL,
  payload_json jsonb,
  headers jsonb NOT NULL DEFAULT '{}'::jsonb,
  status text NOT NULL DEFAULT 'received',  -- received -> delivered | ignored
  attempts integer NOT NULL DEFAULT 0,      -- delivery attempts to the owning service
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error text,
  delivered_at timestamptz,                 -- the service acknowledged it
  processed_at timestamptz,                 -- the edge is done with it (delivered or ignored)
  CONSTRAINT inbox_events_provider_event_key UNIQUE (provider, provider_event_id),
  CONSTRAINT inbox_events_status_check CHECK (status IN ('received', 'delivered', 'ignored'))
);

-- The redelivery relay: WHERE status = 'received' AND next_attempt_at <= now().
CREATE INDEX inbox_events_status_next_attempt_idx ON edge.inbox_events (status, next_attempt_at);
