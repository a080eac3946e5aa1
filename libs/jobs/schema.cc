#include "libs/jobs/schema.h"

#include "absl/strings/str_replace.h"
#include "libs/jobs/internal/sql.h"

namespace protectogram::jobs {
namespace {

constexpr char kJobTable[] = R"sql(
CREATE TABLE {table} (
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
  CONSTRAINT {name}_job_key_key UNIQUE (job_key),
  CONSTRAINT {name}_state_check CHECK (state IN ('pending', 'running', 'done', 'dead'))
);
CREATE INDEX {name}_due_idx ON {table} (run_at) WHERE state = 'pending';
CREATE INDEX {name}_lease_idx ON {table} (lease_until) WHERE state = 'running';
CREATE INDEX {name}_incident_idx ON {table} (incident_id);
CREATE INDEX {name}_key_prefix_idx ON {table} (job_key text_pattern_ops) WHERE state IN ('pending', 'running');
CREATE INDEX {name}_done_idx ON {table} (updated_at) WHERE state = 'done';
)sql";

constexpr char kOutboxTable[] = R"sql(
CREATE TABLE {table} (
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
  CONSTRAINT {name}_idempotency_key_key UNIQUE (idempotency_key),
  CONSTRAINT {name}_status_check CHECK (status IN ('pending', 'sent', 'dead'))
);
CREATE INDEX {name}_due_idx ON {table} (priority DESC, next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX {name}_dead_idx ON {table} (updated_at) WHERE status = 'dead';
CREATE INDEX {name}_sent_idx ON {table} (next_attempt_at) WHERE status = 'sent';
)sql";

// The pace buckets of paced outbox claims (OutboxRelayOptions::pace_table).
constexpr char kPaceTable[] = R"sql(
CREATE TABLE {table} (
  key text PRIMARY KEY,
  tat timestamptz NOT NULL DEFAULT '-infinity'
);
)sql";

constexpr char kInboxTable[] = R"sql(
CREATE TABLE {table} (
  id bigserial PRIMARY KEY,
  provider text NOT NULL,
  provider_event_id text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  payload text NOT NULL,
  payload_json jsonb,
  headers jsonb NOT NULL DEFAULT '{}'::jsonb,
  status text NOT NULL DEFAULT 'received',
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error text,
  delivered_at timestamptz,
  processed_at timestamptz,
  CONSTRAINT {name}_provider_event_key UNIQUE (provider, provider_event_id),
  CONSTRAINT {name}_status_check CHECK (status IN ('received', 'delivered', 'ignored'))
);
CREATE INDEX {name}_status_next_attempt_idx ON {table} (status, next_attempt_at);
)sql";

absl::StatusOr<std::string> Render(const char* tmpl, std::string_view table) {
  if (absl::Status s = internal::ValidateTableName(table); !s.ok()) return s;
  const size_t dot = table.find('.');
  const std::string name(dot == std::string_view::npos ? table : table.substr(dot + 1));
  return absl::StrReplaceAll(tmpl, {{"{table}", std::string(table)}, {"{name}", name}});
}

}  // namespace

absl::StatusOr<std::string> JobTableDdl(std::string_view table) { return Render(kJobTable, table); }
absl::StatusOr<std::string> OutboxTableDdl(std::string_view table) { return Render(kOutboxTable, table); }
absl::StatusOr<std::string> InboxTableDdl(std::string_view table) { return Render(kInboxTable, table); }
absl::StatusOr<std::string> PaceTableDdl(std::string_view table) { return Render(kPaceTable, table); }

}  // namespace protectogram::jobs
