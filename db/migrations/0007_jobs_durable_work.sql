-- Durable work (libs/jobs, docs/durable-work.md): what the inbox, job and outbox code needs beyond the tables
-- of 0002-0005.

-- Jobs: cancelling by key prefix ('incident:42:') uses a pattern index over live rows, whatever the database
-- collation; pruning finished rows walks done rows by age.
CREATE INDEX scheduled_actions_key_prefix_idx ON incident.scheduled_actions (job_key text_pattern_ops)
  WHERE state IN ('pending', 'running');
CREATE INDEX scheduled_actions_done_idx ON incident.scheduled_actions (updated_at) WHERE state = 'done';
CREATE INDEX jobs_key_prefix_idx ON notification.jobs (job_key text_pattern_ops)
  WHERE state IN ('pending', 'running');
CREATE INDEX jobs_done_idx ON notification.jobs (updated_at) WHERE state = 'done';
CREATE INDEX jobs_key_prefix_idx ON telephony.jobs (job_key text_pattern_ops)
  WHERE state IN ('pending', 'running');
CREATE INDEX jobs_done_idx ON telephony.jobs (updated_at) WHERE state = 'done';

-- Inbox: incident.inbox_events gets the shape of edge.inbox_events, so one library (jobs::Inbox) serves both:
-- the raw payload, request headers, and the delivery columns. payload_json may be NULL (a body that is not
-- JSON), as at the edge; its default stays '{}' for code that does not set it.
ALTER TABLE incident.inbox_events
  ADD COLUMN payload text NOT NULL DEFAULT '',
  ADD COLUMN headers jsonb NOT NULL DEFAULT '{}'::jsonb,
  ADD COLUMN status text NOT NULL DEFAULT 'received',
  ADD COLUMN attempts integer NOT NULL DEFAULT 0,
  ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN last_error text,
  ADD COLUMN delivered_at timestamptz,
  ADD CONSTRAINT inbox_events_status_check CHECK (status IN ('received', 'delivered', 'ignored')),
  ALTER COLUMN payload_json DROP NOT NULL;
CREATE INDEX inbox_events_status_next_attempt_idx ON incident.inbox_events (status, next_attempt_at);
