// The schema db/migrations produces: tables in their owners' schemas, indexes, defaults, constraints, and
// the per-service roles' privileges.
#include <gtest/gtest.h>

#include <set>
#include <utility>

#include "libs/pg/pool.h"
#include "libs/pg/status.h"
#include "tests/support/pg_harness.h"

namespace protectogram::migrate {
namespace {

using pg::Pool;
using pg::Query;
using pg::Result;

class SchemaTest : public test::PgTest {
 protected:
  std::set<std::string> Columns(const std::string& schema, const std::string& table) {
    absl::StatusOr<Result> r = pool().Execute(
        {"columns",
         "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2"},
        {schema, table});
    EXPECT_TRUE(r.ok()) << r.status();
    std::set<std::string> out;
    if (r.ok()) {
      for (const pg::Row& row : *r) out.insert(row.Get<std::string>(0));
    }
    return out;
  }

  std::unique_ptr<Pool> RolePool(const std::string& role) {
    absl::StatusOr<std::unique_ptr<Pool>> p = Pool::Create({.url = db_url_for_role(role), .size = 1});
    EXPECT_TRUE(p.ok()) << p.status();
    return *std::move(p);
  }
};

TEST_F(SchemaTest, EveryTableIsInItsOwnersSchema) {
  absl::StatusOr<Result> r =
      pool().Execute({"tables",
                      "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                      "WHERE table_schema IN ('public', 'edge', 'incident', 'notification', 'telephony')"});
  ASSERT_TRUE(r.ok()) << r.status();
  std::set<std::string> tables;
  for (const pg::Row& row : *r) tables.insert(row.Get<std::string>(0));
  const std::set<std::string> want = {"public.schema_migrations",
                                      "edge.inbox_events",
                                      "incident.users",
                                      "incident.member_links",
                                      "incident.incidents",
                                      "incident.alerts",
                                      "incident.inbox_events",
                                      "incident.outbox_messages",
                                      "incident.scheduled_actions",
                                      "notification.outbox_messages",
                                      "notification.jobs",
                                      "telephony.call_attempts",
                                      "telephony.jobs"};
  for (const std::string& t : want) EXPECT_TRUE(tables.count(t)) << t << " is missing";
  // Later migrations may add tables, but never to public, and no owner's table shows up in another schema.
  for (const std::string& t : tables) {
    if (t.rfind("public.", 0) == 0) {
      EXPECT_EQ(t, "public.schema_migrations");
    }
  }
  for (const char* misplaced :
       {"edge.users", "edge.incidents", "edge.call_attempts", "incident.call_attempts",
        "notification.incidents", "telephony.incidents", "telephony.users"}) {
    EXPECT_FALSE(tables.count(misplaced)) << misplaced;
  }
}

TEST_F(SchemaTest, TablesHaveTheCharterColumns) {
  struct Want {
    const char* schema;
    const char* table;
    std::set<std::string> columns;  // must all be present
  } wants[] = {
      {"incident", "users", {"id", "telegram_id", "phone_e164", "display_name", "created_at"}},
      {"incident",
       "member_links",
       {"id", "watcher_user_id", "traveler_user_id", "status", "call_priority", "ring_timeout_sec",
        "max_retries", "retry_backoff_sec", "telegram_enabled", "calls_enabled", "created_at", "updated_at"}},
      {"incident",
       "incidents",
       {"id", "traveler_user_id", "status", "created_at", "acknowledged_by_user_id", "ack_at",
        "canceled_at"}},
      {"incident",
       "alerts",
       {"id", "incident_id", "type", "audience_user_id", "status", "attempts", "last_error", "created_at",
        "updated_at"}},
      {"telephony",
       "call_attempts",
       {"id",
        "alert_id",
        "to_e164",
        "telnyx_call_id",
        "attempt_no",
        "result",
        "dtmf_received",
        "started_at",
        "ended_at",
        "error_code",
        "attempt_key",
        "provider",
        "provider_call_id",
        "state",
        "incident_id",
        "created_at",
        "dialed_at",
        "answered_at",
        "duration_sec",
        "failure_reason",
        "attempt_number"}},
      {"incident",
       "inbox_events",
       {"id", "provider", "provider_event_id", "received_at", "payload_json", "processed_at"}},
      {"edge",
       "inbox_events",
       {"id", "provider", "provider_event_id", "received_at", "payload", "payload_json", "headers", "status",
        "attempts", "next_attempt_at", "last_error", "delivered_at", "processed_at"}},
      {"incident",
       "outbox_messages",
       {"id", "channel", "idempotency_key", "payload_json", "status", "attempts", "next_attempt_at",
        "last_error", "priority", "pace_keys", "pace_costs", "receipt", "created_at", "updated_at"}},
      {"notification",
       "outbox_messages",
       {"id", "channel", "idempotency_key", "payload_json", "status", "attempts", "next_attempt_at",
        "last_error", "priority", "pace_keys", "pace_costs", "receipt", "created_at", "updated_at"}},
      {"notification", "outbox_pace", {"key", "tat"}},
      {"incident", "outbox_pace", {"key", "tat"}},
      {"notification", "bots", {"bot_id", "username", "telegram_id", "learned_at"}},
  };
  for (const Want& w : wants) {
    const std::set<std::string> have = Columns(w.schema, w.table);
    for (const std::string& c : w.columns)
      EXPECT_TRUE(have.count(c)) << w.schema << "." << w.table << "." << c;
  }
}

TEST_F(SchemaTest, JobTablesShareOneShape) {
  const std::set<std::string> want = {
      "id",           "action_type", "job_key",    "incident_id",  "run_at",     "state",     "attempts",
      "max_attempts", "lease_until", "last_error", "payload_json", "created_at", "updated_at"};
  EXPECT_EQ(Columns("incident", "scheduled_actions"), want);
  EXPECT_EQ(Columns("notification", "jobs"), want);
  EXPECT_EQ(Columns("telephony", "jobs"), want);
}

TEST_F(SchemaTest, IndexesExist) {
  struct Want {
    const char* schema;
    const char* index;
    std::vector<std::string> fragments;  // parts of pg_indexes.indexdef
  } wants[] = {
      {"edge", "inbox_events_provider_event_key", {"UNIQUE", "(provider, provider_event_id)"}},
      {"edge", "inbox_events_status_next_attempt_idx", {"(status, next_attempt_at)"}},
      {"incident", "inbox_events_provider_event_key", {"UNIQUE", "(provider, provider_event_id)"}},
      {"incident", "member_links_traveler_priority_idx", {"(traveler_user_id, call_priority)"}},
      {"incident",
       "incidents_one_active_per_traveler_idx",
       {"UNIQUE", "(traveler_user_id)", "WHERE (status = 'active'::text)"}},
      {"incident", "outbox_messages_idempotency_key_key", {"UNIQUE", "(idempotency_key)"}},
      {"incident",
       "outbox_messages_due_idx",
       {"(priority DESC, next_attempt_at, id)", "WHERE (status = 'pending'::text)"}},
      {"notification", "outbox_messages_idempotency_key_key", {"UNIQUE", "(idempotency_key)"}},
      {"notification",
       "outbox_messages_due_idx",
       {"(priority DESC, next_attempt_at, id)", "WHERE (status = 'pending'::text)"}},
      {"telephony", "call_attempts_alert_attempt_idx", {"(alert_id, attempt_no)"}},
      {"telephony", "call_attempts_attempt_key_key", {"UNIQUE", "(attempt_key)"}},
      {"incident", "scheduled_actions_job_key_key", {"UNIQUE", "(job_key)"}},
      {"incident", "scheduled_actions_due_idx", {"(run_at)", "WHERE (state = 'pending'::text)"}},
      {"incident", "scheduled_actions_lease_idx", {"(lease_until)", "WHERE (state = 'running'::text)"}},
      {"incident", "scheduled_actions_incident_idx", {"(incident_id)"}},
      {"notification", "jobs_job_key_key", {"UNIQUE", "(job_key)"}},
      {"notification", "jobs_due_idx", {"(run_at)", "WHERE (state = 'pending'::text)"}},
      {"notification", "jobs_lease_idx", {"(lease_until)", "WHERE (state = 'running'::text)"}},
      {"notification", "jobs_incident_idx", {"(incident_id)"}},
      {"telephony", "jobs_job_key_key", {"UNIQUE", "(job_key)"}},
      {"telephony", "jobs_due_idx", {"(run_at)", "WHERE (state = 'pending'::text)"}},
      {"telephony", "jobs_lease_idx", {"(lease_until)", "WHERE (state = 'running'::text)"}},
      {"telephony", "jobs_incident_idx", {"(incident_id)"}},
  };
  for (const Want& w : wants) {
    absl::StatusOr<Result> r =
        pool().Execute({"index", "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = $2"},
                       {w.schema, w.index});
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->size(), 1u) << w.schema << "." << w.index << " is missing";
    const std::string def = r->front().Get<std::string>(0);
    for (const std::string& f : w.fragments)
      EXPECT_NE(def.find(f), std::string::npos) << def << " lacks " << f;
  }
}

TEST_F(SchemaTest, DefaultsAndConstraintsBehave) {
  absl::StatusOr<Result> users = pool().Execute(
      {"users",
       "INSERT INTO incident.users (telegram_id, display_name) VALUES (1, 'T'), (2, 'G') RETURNING id"});
  ASSERT_TRUE(users.ok()) << users.status();
  const int64_t traveler = (*users)[0].Get<int64_t>(0);
  const int64_t guardian = (*users)[1].Get<int64_t>(0);
  absl::StatusOr<Result> link = pool().Execute(
      {"link",
       "INSERT INTO incident.member_links (watcher_user_id, traveler_user_id) VALUES ($1, $2) "
       "RETURNING ring_timeout_sec, max_retries, retry_backoff_sec, telegram_enabled, calls_enabled"},
      {guardian, traveler});
  ASSERT_TRUE(link.ok()) << link.status();
  const pg::Row l = link->front();
  EXPECT_EQ(l.Get<int32_t>(0), 25);
  EXPECT_EQ(l.Get<int32_t>(1), 2);
  EXPECT_EQ(l.Get<int32_t>(2), 60);
  EXPECT_TRUE(l.Get<bool>(3));
  EXPECT_TRUE(l.Get<bool>(4));

  // One active incident per traveler.
  constexpr Query kOpen{"open_incident",
                        "INSERT INTO incident.incidents (traveler_user_id) VALUES ($1) RETURNING id"};
  absl::StatusOr<Result> first = pool().Execute(kOpen, {traveler});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(pg::IsUniqueViolation(pool().Execute(kOpen, {traveler}).status()));
  ASSERT_TRUE(pool()
                  .Execute({"cancel", "UPDATE incident.incidents SET status = 'canceled' WHERE id = $1"},
                           {first->front().Get<int64_t>(0)})
                  .ok());
  EXPECT_TRUE(pool().Execute(kOpen, {traveler}).ok());

  // Job rows: defaults, and the state CHECK.
  absl::StatusOr<Result> job = pool().Execute(
      {"job",
       "INSERT INTO telephony.jobs (action_type, job_key, run_at) VALUES ('dial', 'k1', now()) "
       "RETURNING state, attempts, max_attempts, payload_json::text"});
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->front().Get<std::string>(0), "pending");
  EXPECT_EQ(job->front().Get<int32_t>(1), 0);
  EXPECT_EQ(job->front().Get<int32_t>(2), 5);
  EXPECT_EQ(job->front().Get<std::string>(3), "{}");
  absl::StatusOr<Result> bad_state = pool().Execute({"bad_job",
                                                     "INSERT INTO notification.jobs (action_type, job_key, "
                                                     "run_at, state) VALUES ('x', 'k', now(), 'bogus')"});
  EXPECT_TRUE(pg::IsCheckViolation(bad_state.status())) << bad_state.status();
  EXPECT_TRUE(pg::IsUniqueViolation(
      pool()
          .Execute({"dup_job",
                    "INSERT INTO telephony.jobs (action_type, job_key, run_at) VALUES ('d', 'k1', now())"})
          .status()));

  // Inbox dedup and the charter aliases of call_attempts.
  constexpr Query kInbox{
      "inbox", "INSERT INTO edge.inbox_events (provider, provider_event_id, payload) VALUES ($1, $2, $3)"};
  ASSERT_TRUE(pool().Execute(kInbox, {"twilio", "SM1", "Body=hi&From=%2B1"}).ok());
  EXPECT_TRUE(pg::IsUniqueViolation(pool().Execute(kInbox, {"twilio", "SM1", "again"}).status()));
  EXPECT_TRUE(pool().Execute(kInbox, {"telegram:main", "SM1", "{}"}).ok());
  absl::StatusOr<Result> call = pool().Execute(
      {"call",
       "INSERT INTO telephony.call_attempts (attempt_key, to_e164, provider, provider_call_id, attempt_no, "
       "dialed_at) VALUES ('a1', '+34600000000', 'telnyx', 'v3:abc', 2, now()) "
       "RETURNING telnyx_call_id, attempt_number, started_at = dialed_at, state"});
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->front().Get<std::string>(0), "v3:abc");
  EXPECT_EQ(call->front().Get<int32_t>(1), 2);
  EXPECT_TRUE(call->front().Get<bool>(2));
  EXPECT_EQ(call->front().Get<std::string>(3), "pending");
}

TEST_F(SchemaTest, ServiceRolesUseOnlyTheirOwnSchema) {
  const std::pair<const char*, const char*> own[] = {
      {"protectogram_edge",
       "INSERT INTO edge.inbox_events (provider, provider_event_id, payload) VALUES ('p', 'e', 'x')"},
      {"protectogram_incident", "INSERT INTO incident.users (display_name) VALUES ('x')"},
      {"protectogram_notification",
       "INSERT INTO notification.outbox_messages (channel, idempotency_key) VALUES ('telegram:main', 'k')"},
      {"protectogram_telephony",
       "INSERT INTO telephony.call_attempts (attempt_key, to_e164) VALUES ('k', '+1')"},
  };
  const char* foreign[] = {"SELECT count(*) FROM edge.inbox_events", "SELECT count(*) FROM incident.users",
                           "SELECT count(*) FROM notification.jobs",
                           "SELECT count(*) FROM telephony.call_attempts"};
  for (size_t i = 0; i < 4; ++i) {
    const std::string role = own[i].first;
    std::unique_ptr<Pool> p = RolePool(role);
    // DML on its own schema, including the bigserial sequence.
    absl::StatusOr<Result> mine = p->Execute({"own_insert", own[i].second});
    EXPECT_TRUE(mine.ok()) << role << ": " << mine.status();
    EXPECT_TRUE(p->Execute({"own_select", foreign[i]}).ok()) << role;
    // Nothing in any other schema.
    for (size_t j = 0; j < 4; ++j) {
      if (j == i) continue;
      absl::StatusOr<Result> theirs = p->Execute({"foreign_select", foreign[j]});
      EXPECT_EQ(theirs.status().code(), absl::StatusCode::kPermissionDenied) << role << ": " << foreign[j];
    }
    // DML only: no DDL in its own schema or in public, no peeking at the migration table.
    EXPECT_EQ(p->Execute({"ddl", "CREATE TABLE edge.x (id int)"}).status().code(),
              absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(p->Execute({"ddl_public", "CREATE TABLE public.x (id int)"}).status().code(),
              absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(p->Execute({"migrations", "SELECT * FROM public.schema_migrations"}).status().code(),
              absl::StatusCode::kPermissionDenied);
  }
  // The brief's example, spelled out.
  std::unique_ptr<Pool> incident = RolePool("protectogram_incident");
  absl::StatusOr<Result> denied = incident->Execute({"peek", "SELECT * FROM edge.inbox_events"});
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied) << denied.status();
  EXPECT_EQ(pg::SqlState(denied.status()), "42501");
}

TEST_F(SchemaTest, RolesCanLogInAndHaveNoPassword) {
  absl::StatusOr<Result> r = pool().Execute(
      {"roles",
       "SELECT rolname, rolcanlogin, rolpassword IS NULL, rolsuper, rolcreaterole, rolcreatedb "
       "FROM pg_authid WHERE rolname LIKE 'protectogram\\_%' ORDER BY rolname"});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 4u);
  for (const pg::Row& row : *r) {
    EXPECT_TRUE(row.Get<bool>(1)) << row.Get<std::string>(0);
    EXPECT_TRUE(row.Get<bool>(2)) << row.Get<std::string>(0);
    EXPECT_FALSE(row.Get<bool>(3) || row.Get<bool>(4) || row.Get<bool>(5)) << row.Get<std::string>(0);
  }
}

}  // namespace
}  // namespace protectogram::migrate
