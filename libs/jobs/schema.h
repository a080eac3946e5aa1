// The table shapes the durable-work library works on, as DDL. Services get their tables from db/migrations
// (incident.scheduled_actions, notification.jobs, telephony.jobs; incident/notification.outbox_messages;
// edge/incident.inbox_events): these functions describe the same shapes for a new schema, a benchmark or a
// test database, and tests compare them with what the migrations create.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace protectogram::jobs {

// CREATE TABLE + indexes of a durable-job table: id, action_type (the job kind), job_key (unique),
// incident_id, run_at, state (pending | running | done | dead), attempts, max_attempts, lease_until,
// last_error, payload_json, created_at, updated_at. INVALID_ARGUMENT for a bad table name.
absl::StatusOr<std::string> JobTableDdl(std::string_view table);
// An outbox table: id, channel, idempotency_key (unique), payload_json, status (pending | sent | dead),
// attempts, next_attempt_at, last_error, provider_message_id, incident_id, created_at, updated_at.
absl::StatusOr<std::string> OutboxTableDdl(std::string_view table);
// An inbox table: id, provider, provider_event_id (unique together), received_at, payload (raw),
// payload_json, headers, status (received | delivered | ignored), attempts, next_attempt_at, last_error,
// delivered_at, processed_at.
absl::StatusOr<std::string> InboxTableDdl(std::string_view table);
// The pace buckets of a paced outbox relay (key, tat): OutboxRelayOptions::pace_table.
absl::StatusOr<std::string> PaceTableDdl(std::string_view table);

}  // namespace protectogram::jobs
