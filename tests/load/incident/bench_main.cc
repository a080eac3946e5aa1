// incident_bench: the panic flow across every process of the product (docs/benchmarks.md, "Panic flow"; run by
// tests/load/incident/run.sh, which measures pgbench's insert ceiling beside it). A traveler's /panic Telegram
// update posted to the real protectogram-edge, through protectogram-incident, -notification and -telephony on
// one Postgres, to what the guardians and the traveler receive at the fakes:
//   (a) panic webhook sent -> the first guardian alert («Тревога от …») at the Telegram fake;
//   (b) panic webhook sent -> the first dial to one of the traveler's guardians at the Telnyx fake;
//   (c) the Telnyx fake's call.gather.ended webhook (the guardian pressed 1) sent -> the traveler's
//       «… берёт ответственность» at the Telegram fake.
//
//   incident_bench --admin-url=postgresql://postgres@127.0.0.1:55433/db
//     --edge-database-url=postgresql://protectogram_edge@.../db --incident-database-url=...
//     --notification-database-url=... --telephony-database-url=...
//     [--edge-binary=...] [--incident-binary=...] [--notification-binary=...] [--telephony-binary=...]
//
// The database must be freshly migrated. --admin-url (a superuser: the migration role) seeds it directly in
// SQL: (--warmup + --rate x --seconds) registered travelers, each with --guardians (3) guardians (users with
// telegram_id, chat_id = telegram_id, phone, locale ru, registered; member_links with call_priority 0, 1, 2 and
// the default policy), then ANALYZE; and reads the services' timestamps afterwards (and Postgres's CPU).
//
// In this process: a FakeBotApi (the bot main) and a FakeTelnyx (--time-scale 0.01) posting signed webhooks to
// the edge; every traveler's first guardian answers after --answer-after-ms and presses 1 --press-after-ms
// after the prompt (simulated ms: 1,000 each, 10 ms real at 0.01), the others are scripted not to answer (they
// are never called when the first presses 1; fake_dials_not_first counts it). Four child processes, set up as
// tests/e2e/incident/panic_fixture.h does, except NOTIFY_PACING=false (the benchmark measures our latency, not
// Telegram's published send limits, which would pace 20 panics/s x 4 messages to the bot's 30/s) and the
// telephony spend caps off (600 calls in 30 s is the load, not a runaway). Any EDGE_*, INCIDENT_*, PANIC_*,
// NOTIFY_*, TELEPHONY_* or DB_POOL_SIZE variable in this program's environment is passed to the processes and
// wins.
//
//   warm-up: --warmup (10) panics at 5/s, each waited for until the traveler's notice;
//   the run: a /panic of a new traveler every 1/--rate s (20/s) for --seconds (30), open loop (each at its slot,
//            from --senders (8) threads, never waiting for the previous), to /webhook/main with the secret
//            header; then waited for (at most --drain-seconds, 60) until every traveler has the notice.
// All times on this process's clock (Call.received_at, Command.received_at, Webhook.sent_at, and the time taken
// just before each webhook is posted). Around the run (from its first slot to 1 s after the last notice): CPU
// seconds of each process, Postgres (the postmaster and its children), this process (fakes and client) and
// everything else on the machine (cpu_others_s); the database's commits and rows per panic (pg_stat_database,
// read again once the services have exited) and the six tables or indexes that read the most rows
// (db_top_reads_*). Afterwards, where the time went: per-panic steps (step_*) from the services' own now()
// stamps (each the start of its transaction, the same machine clock): edge.inbox_events, incident.incidents,
// incident and notification outbox rows, telephony.call_events; and histograms from each process's /metrics.
// Prints key=value lines on stdout; progress on stderr. Exits 1 if a panic did not complete (any of the three
// missing), a webhook post failed, or the target check is asked for (--require-targets) and missed.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/http/client.h"
#include "libs/pg/pool.h"
#include "libs/providers/telegram/fake_bot_api.h"
#include "libs/providers/telnyx/fake_call_control.h"
#include "tests/support/bench_support.h"
#include "tests/support/child_process.h"

#ifndef EDGE_BINARY
#define EDGE_BINARY "build/bin/protectogram-edge"
#endif
#ifndef INCIDENT_BINARY
#define INCIDENT_BINARY "build/bin/protectogram-incident"
#endif
#ifndef NOTIFICATION_BINARY
#define NOTIFICATION_BINARY "build/bin/protectogram-notification"
#endif
#ifndef TELEPHONY_BINARY
#define TELEPHONY_BINARY "build/bin/protectogram-telephony"
#endif

namespace {

using protectogram::testing::AdoptChild;
using protectogram::testing::BucketQuantile;
using protectogram::testing::Die;
using protectogram::testing::Histogram;
using protectogram::testing::LoadAverage;
using protectogram::testing::MachineCpu;
using protectogram::testing::ParseHistogram;
using protectogram::testing::PostgresCpuSeconds;
using protectogram::testing::Postmaster;
using protectogram::testing::Print;
using protectogram::testing::PrintInt;
using protectogram::testing::PrintNum;
using protectogram::testing::Progress;
using protectogram::testing::ReadMachineCpu;
using protectogram::testing::SelfCpuSeconds;
using protectogram::testing::Ticks;

using namespace protectogram;  // NOLINT: a benchmark program
namespace tg = providers::telegram;
namespace tx = providers::telnyx;

constexpr char kBotToken[] = "111:AAA";
constexpr char kBotUsername[] = "protectogram_bench_bot";
constexpr char kWebhookSecret[] = "bench-webhook-secret";
constexpr char kAdminToken[] = "bench-admin-token-123";

// Telegram ids (= private chat ids) and phones by person: traveler n, guardian k = n x guardians + j.
constexpr int64_t kTravelerIds = 700'000'000;
constexpr int64_t kGuardianIds = 800'000'000;
constexpr char kTravelerPhonePrefix[] = "+7990";
constexpr char kGuardianPhonePrefix[] = "+7991";

std::string GuardianPhone(int64_t k) {
  return absl::StrCat(kGuardianPhonePrefix, absl::Dec(k, absl::kZeroPad7));
}

struct Flags {
  std::string admin_url;
  std::string edge_database_url;
  std::string incident_database_url;
  std::string notification_database_url;
  std::string telephony_database_url;
  std::string edge_binary = EDGE_BINARY;
  std::string incident_binary = INCIDENT_BINARY;
  std::string notification_binary = NOTIFICATION_BINARY;
  std::string telephony_binary = TELEPHONY_BINARY;
  int rate = 20;
  int seconds = 30;
  int warmup = 10;
  int guardians = 3;
  double time_scale = 0.01;
  int answer_after_ms = 1000;  // simulated
  int press_after_ms = 1000;   // simulated
  int senders = 8;
  int drain_seconds = 60;
  double target_ms = 50;
  double stretch_ms = 25;
  bool require_targets = false;
  std::string log_level = "warn";
  std::string log_dir;
};

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    if (!absl::StartsWith(arg, "--") || eq == std::string::npos) Die("flags are --name=value, got " + arg);
    const std::string name = arg.substr(2, eq - 2);
    const std::string value = arg.substr(eq + 1);
    auto integer = [&](int* out) {
      if (!absl::SimpleAtoi(value, out) || *out < 0) Die("--" + name + " needs a number, got " + value);
    };
    auto real = [&](double* out) {
      if (!absl::SimpleAtod(value, out) || *out <= 0) Die("--" + name + " needs a number > 0, got " + value);
    };
    if (name == "admin-url") {
      f.admin_url = value;
    } else if (name == "edge-database-url") {
      f.edge_database_url = value;
    } else if (name == "incident-database-url") {
      f.incident_database_url = value;
    } else if (name == "notification-database-url") {
      f.notification_database_url = value;
    } else if (name == "telephony-database-url") {
      f.telephony_database_url = value;
    } else if (name == "edge-binary") {
      f.edge_binary = value;
    } else if (name == "incident-binary") {
      f.incident_binary = value;
    } else if (name == "notification-binary") {
      f.notification_binary = value;
    } else if (name == "telephony-binary") {
      f.telephony_binary = value;
    } else if (name == "rate") {
      integer(&f.rate);
    } else if (name == "seconds") {
      integer(&f.seconds);
    } else if (name == "warmup") {
      integer(&f.warmup);
    } else if (name == "guardians") {
      integer(&f.guardians);
    } else if (name == "time-scale") {
      real(&f.time_scale);
    } else if (name == "answer-after-ms") {
      integer(&f.answer_after_ms);
    } else if (name == "press-after-ms") {
      integer(&f.press_after_ms);
    } else if (name == "senders") {
      integer(&f.senders);
    } else if (name == "drain-seconds") {
      integer(&f.drain_seconds);
    } else if (name == "target-ms") {
      real(&f.target_ms);
    } else if (name == "stretch-ms") {
      real(&f.stretch_ms);
    } else if (name == "require-targets") {
      f.require_targets = value == "true" || value == "1";
    } else if (name == "log-level") {
      f.log_level = value;
    } else if (name == "log-dir") {
      f.log_dir = value;
    } else {
      Die("unknown flag --" + name);
    }
  }
  if (f.admin_url.empty() || f.edge_database_url.empty() || f.incident_database_url.empty() ||
      f.notification_database_url.empty() || f.telephony_database_url.empty()) {
    Die("give --admin-url and the four --<service>-database-url flags");
  }
  if (f.rate < 1 || f.seconds < 1 || f.senders < 1 || f.guardians < 1 || f.drain_seconds < 1) {
    Die("counts must be at least 1");
  }
  if (static_cast<int64_t>(f.warmup) + static_cast<int64_t>(f.rate) * f.seconds > 1'000'000) {
    Die("at most 1,000,000 travelers");
  }
  return f;
}

// ---- seeding -----------------------------------------------------------------------------------------------

// $1 first traveler's telegram id, $2 travelers. Registered, with a chat, a phone and the Russian locale.
constexpr char kSeedTravelersSql[] = R"sql(
INSERT INTO incident.users (telegram_id, display_name, phone_e164, locale, bot_id, chat_id, registered_at)
SELECT $1::bigint + n, 'Путник ' || n, '+7990' || lpad(n::text, 7, '0'), 'ru', 'main', ($1::bigint + n)::text,
       now()
  FROM generate_series(0, $2::int - 1) AS n)sql";
// $1 first guardian's telegram id, $2 guardians (all travelers' together).
constexpr char kSeedGuardiansSql[] = R"sql(
INSERT INTO incident.users (telegram_id, display_name, phone_e164, locale, bot_id, chat_id, registered_at)
SELECT $1::bigint + k, 'Хранитель ' || k, '+7991' || lpad(k::text, 7, '0'), 'ru', 'main',
       ($1::bigint + k)::text, now()
  FROM generate_series(0, $2::int - 1) AS k)sql";
// $1 first traveler's id, $2 first guardian's id, $3 travelers, $4 guardians each: guardian n x $4 + j of
// traveler n, call_priority j, the default policy.
constexpr char kSeedLinksSql[] = R"sql(
INSERT INTO incident.member_links (watcher_user_id, traveler_user_id, call_priority)
SELECT w.id, t.id, j.j
  FROM generate_series(0, $3::int - 1) AS n(n)
 CROSS JOIN generate_series(0, $4::int - 1) AS j(j)
  JOIN incident.users t ON t.telegram_id = $1::bigint + n.n
  JOIN incident.users w ON w.telegram_id = $2::bigint + n.n * $4::int + j.j)sql";
constexpr char kAnalyzeUsersSql[] = "ANALYZE incident.users";
constexpr char kAnalyzeLinksSql[] = "ANALYZE incident.member_links";
constexpr pg::Query kSeedTravelers{"bench_seed_travelers", kSeedTravelersSql};
constexpr pg::Query kSeedGuardians{"bench_seed_guardians", kSeedGuardiansSql};
constexpr pg::Query kSeedLinks{"bench_seed_links", kSeedLinksSql};
constexpr pg::Query kAnalyzeUsers{"bench_analyze_users", kAnalyzeUsersSql};
constexpr pg::Query kAnalyzeLinks{"bench_analyze_links", kAnalyzeLinksSql};

// ---- where the time went, from the database (epoch milliseconds of each row's now()) -----------------------

constexpr char kUsersSql[] = "SELECT id, telegram_id FROM incident.users WHERE telegram_id IS NOT NULL";
constexpr char kIncidentsSql[] = R"sql(
SELECT u.telegram_id, i.id, i.status,
       (extract(epoch FROM i.created_at) * 1000)::float8 AS created_ms,
       (extract(epoch FROM i.ack_at) * 1000)::float8 AS ack_ms
  FROM incident.incidents i JOIN incident.users u ON u.id = i.traveler_user_id)sql";
// Sent rows: updated_at is when the relay marked them sent (after the receiver's answer).
constexpr char kIncidentOutboxSql[] = R"sql(
SELECT idempotency_key, status, attempts,
       (extract(epoch FROM created_at) * 1000)::float8 AS created_ms,
       (extract(epoch FROM updated_at) * 1000)::float8 AS updated_ms
  FROM incident.outbox_messages WHERE incident_id IS NOT NULL)sql";
constexpr char kNotificationOutboxSql[] = R"sql(
SELECT idempotency_key, status, attempts,
       (extract(epoch FROM created_at) * 1000)::float8 AS created_ms,
       (extract(epoch FROM updated_at) * 1000)::float8 AS updated_ms
  FROM notification.outbox_messages WHERE idempotency_key LIKE 'incident:%')sql";
constexpr char kEdgeTelegramSql[] = R"sql(
SELECT provider_event_id AS event_id,
       (extract(epoch FROM received_at) * 1000)::float8 AS stored_ms,
       (extract(epoch FROM delivered_at) * 1000)::float8 AS delivered_ms
  FROM edge.inbox_events WHERE provider LIKE 'telegram%')sql";
constexpr char kEdgeGatherSql[] = R"sql(
SELECT payload_json #>> '{data,payload,call_control_id}' AS call_control_id,
       (extract(epoch FROM min(received_at)) * 1000)::float8 AS stored_ms,
       (extract(epoch FROM min(delivered_at)) * 1000)::float8 AS delivered_ms
  FROM edge.inbox_events
 WHERE provider = 'telnyx' AND payload_json #>> '{data,event_type}' = 'call.gather.ended' GROUP BY 1)sql";
constexpr char kTelephonySql[] = R"sql(
SELECT a.attempt_key, coalesce(a.provider_call_id, '') AS provider_call_id,
       (extract(epoch FROM min(e.at) FILTER (WHERE e.kind = 'placed')) * 1000)::float8 AS placed_ms,
       (extract(epoch FROM min(e.at) FILTER (WHERE e.kind = 'dial_requested')) * 1000)::float8
         AS dial_requested_ms,
       (extract(epoch FROM min(e.at) FILTER (WHERE e.kind = 'call.gather.ended')) * 1000)::float8 AS handled_ms,
       (extract(epoch FROM (SELECT min(o.updated_at) FROM telephony.outbox_messages o
                             WHERE o.idempotency_key = 'call:' || a.attempt_key AND o.status = 'sent'))
        * 1000)::float8 AS outcome_sent_ms
  FROM telephony.call_attempts a LEFT JOIN telephony.call_events e ON e.attempt_id = a.id
 WHERE a.attempt_key LIKE 'incident:%'
 GROUP BY a.id, a.attempt_key, a.provider_call_id)sql";
// The database's transaction and row counters (pg_stat_database; a backend reports its counts when it goes
// idle, at most every second, and when it exits).
constexpr char kDbStatsSql[] = R"sql(
SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, tup_returned, tup_fetched
  FROM pg_stat_database WHERE datname = current_database())sql";
constexpr pg::Query kDbStats{"bench_db_stats", kDbStatsSql};
// Rows read per table (sequential scans) and per index (entries read), to find what reads the most.
constexpr char kReadsSql[] = R"sql(
SELECT 'seq:' || schemaname || '.' || relname AS what, seq_scan AS scans, seq_tup_read AS rows
  FROM pg_stat_user_tables
UNION ALL
SELECT 'idx:' || schemaname || '.' || indexrelname, idx_scan, idx_tup_read FROM pg_stat_user_indexes)sql";
constexpr pg::Query kReads{"bench_reads", kReadsSql};
constexpr pg::Query kUsers{"bench_users", kUsersSql};
constexpr pg::Query kIncidents{"bench_incidents", kIncidentsSql};
constexpr pg::Query kIncidentOutbox{"bench_incident_outbox", kIncidentOutboxSql};
constexpr pg::Query kNotificationOutbox{"bench_notification_outbox", kNotificationOutboxSql};
constexpr pg::Query kEdgeTelegram{"bench_edge_telegram", kEdgeTelegramSql};
constexpr pg::Query kEdgeGather{"bench_edge_gather", kEdgeGatherSql};
constexpr pg::Query kTelephony{"bench_telephony", kTelephonySql};
constexpr double kNone = std::numeric_limits<double>::quiet_NaN();

// ---- output ------------------------------------------------------------------------------------------------

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  return v[i];
}

void PrintDistribution(const std::string& key, const std::vector<double>& ms) {
  double mean = 0;
  for (double v : ms) mean += v;
  mean /= static_cast<double>(std::max<size_t>(ms.size(), 1));
  PrintInt(key + "_n", static_cast<int64_t>(ms.size()));
  PrintNum(key + "_p50_ms", Percentile(ms, 0.50));
  PrintNum(key + "_p90_ms", Percentile(ms, 0.90));
  PrintNum(key + "_p99_ms", Percentile(ms, 0.99));
  PrintNum(key + "_max_ms", Percentile(ms, 1.0));
  PrintNum(key + "_mean_ms", mean);
}

std::string Metrics(int port) {
  std::string body;
  if (testing::HttpGet(port, "/metrics", &body) != 200) return "";
  return body;
}

// <key>_count/_mean_ms/_p50_le_ms/_p99_le_ms of histogram `name` between two scrapes, over the label sets
// whose line contains `label` ("" for all).
void PrintHistogram(const std::string& key, const std::string& before, const std::string& after,
                    const std::string& name, const std::string& label = "") {
  const Histogram a = ParseHistogram(before, name, label);
  const Histogram b = ParseHistogram(after, name, label);
  if (b.count <= a.count) return;
  PrintInt(key + "_count", static_cast<int64_t>(b.count - a.count));
  PrintNum(key + "_mean_ms", (b.sum - a.sum) / (b.count - a.count) * 1000);
  PrintNum(key + "_p50_le_ms", BucketQuantile(a, b, 0.50) * 1000);
  PrintNum(key + "_p99_le_ms", BucketQuantile(a, b, 0.99) * 1000);
}

double EpochMs(absl::Time t) { return absl::ToDoubleMilliseconds(t - absl::UnixEpoch()); }

// ---- the processes -----------------------------------------------------------------------------------------

struct Ports {
  int edge = 0, edge_metrics = 0;
  int incident = 0, incident_metrics = 0;
  int notification = 0, notification_metrics = 0;
  int telephony = 0, telephony_metrics = 0;
};

Ports PickPorts() {
  std::set<int> taken;
  auto next = [&taken] {
    for (;;) {
      const int p = testing::FreePort();
      if (p > 0 && taken.insert(p).second) return p;
    }
  };
  Ports p;
  p.edge = next();
  p.edge_metrics = next();
  p.incident = next();
  p.incident_metrics = next();
  p.notification = next();
  p.notification_metrics = next();
  p.telephony = next();
  p.telephony_metrics = next();
  return p;
}

using Env = std::map<std::string, std::string>;

// Variables of this program's environment that override the processes' settings.
void Override(Env& env, const std::vector<std::string>& prefixes) {
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    const std::string name = kv.substr(0, eq);
    bool ours = name == "DB_POOL_SIZE";
    for (const std::string& p : prefixes) ours |= absl::StartsWith(name, p);
    if (ours) env[name] = kv.substr(eq + 1);
  }
}

const char* const kDbStatColumns[] = {"xact_commit", "xact_rollback", "tup_inserted", "tup_updated",
                                      "tup_deleted", "tup_returned",  "tup_fetched"};
std::map<std::string, int64_t> DbStats(pg::Pool& pool) {
  std::map<std::string, int64_t> out;
  absl::StatusOr<pg::Result> r = pool.Execute(kDbStats);
  if (!r.ok() || r->empty()) return out;
  for (const char* c : kDbStatColumns) out[c] = r->front().Get<int64_t>(c);
  return out;
}

// scans and rows by "seq:<table>" / "idx:<index>".
std::map<std::string, std::pair<int64_t, int64_t>> Reads(pg::Pool& pool) {
  std::map<std::string, std::pair<int64_t, int64_t>> out;
  absl::StatusOr<pg::Result> r = pool.Execute(kReads);
  if (!r.ok()) return out;
  for (const pg::Row& row : *r) {
    out[row.Get<std::string>("what")] = {row.GetOptional<int64_t>("scans").value_or(0),
                                         row.GetOptional<int64_t>("rows").value_or(0)};
  }
  return out;
}

struct Counters {
  double edge = 0, incident = 0, notification = 0, telephony = 0, postgres = 0, self = 0;
  MachineCpu machine;
};

// ---- one panic ---------------------------------------------------------------------------------------------

std::string PanicUpdate(int64_t update_id, int64_t traveler) {
  const int64_t id = kTravelerIds + traveler;
  return absl::StrCat(R"({"update_id":)", update_id, R"(,"message":{"message_id":)", update_id,
                      R"(,"from":{"id":)", id, R"(,"is_bot":false,"first_name":"Путник )", traveler,
                      R"(","language_code":"ru"},"chat":{"id":)", id, R"(,"type":"private"},"date":)",
                      absl::ToUnixSeconds(absl::Now()), R"(,"text":"/panic"}})");
}

// Which traveler a chat id / a guardian phone belongs to; -1 if none of the bench's.
struct Directory {
  int64_t travelers = 0;
  int64_t guardians_each = 0;

  int64_t TravelerOfChat(const std::string& chat) const {
    int64_t id = 0;
    if (!absl::SimpleAtoi(chat, &id)) return -1;
    if (id >= kTravelerIds && id < kTravelerIds + travelers) return id - kTravelerIds;
    return -1;
  }
  // The guardian index k of a guardian's chat; -1 if not one.
  int64_t GuardianOfChat(const std::string& chat) const {
    int64_t id = 0;
    if (!absl::SimpleAtoi(chat, &id)) return -1;
    if (id >= kGuardianIds && id < kGuardianIds + travelers * guardians_each) return id - kGuardianIds;
    return -1;
  }
  int64_t GuardianOfPhone(const std::string& phone) const {
    if (!absl::StartsWith(phone, kGuardianPhonePrefix)) return -1;
    int64_t k = 0;
    if (!absl::SimpleAtoi(phone.substr(sizeof(kGuardianPhonePrefix) - 1), &k)) return -1;
    return k < travelers * guardians_each ? k : -1;
  }
};

// What the fakes saw of each traveler's panic.
struct Seen {
  std::optional<absl::Time> alert;        // the first guardian alert's received_at
  int64_t alert_guardian = -1;            // whose (k)
  int alerts = 0;                         // alerts accepted
  std::optional<absl::Time> dial;         // the first dial's received_at
  int64_t dial_guardian = -1;             // to whom (k)
  int dials = 0;                          // dials that placed a call
  std::string call_control_id;            // the first guardian's call
  std::optional<absl::Time> gather_sent;  // its call.gather.ended, first attempt
  std::optional<absl::Time> notice;       // the traveler's «… берёт ответственность»
  int notices = 0;
  std::optional<absl::Time> confirmation;  // the traveler's «Тревога поднята…»
};

const char kAlertPrefix[] = "Тревога от";
const char kNoticePart[] = "берёт ответственность";
const char kConfirmationPart[] = "Тревога поднята";

std::vector<Seen> Collect(const Directory& dir, const tg::FakeBotApi& telegram, const tx::FakeTelnyx& telnyx,
                          int64_t* telegram_failed, int64_t* webhook_not_2xx, int64_t* dials_not_first) {
  std::vector<Seen> seen(static_cast<size_t>(dir.travelers));
  for (const tg::FakeBotApi::Call& c : telegram.Calls()) {
    if (!c.accepted) {
      if ((c.status < 200 || c.status >= 300) && (*telegram_failed)++ < 5) {
        Progress(absl::StrCat("the Telegram fake refused ", c.method, " to chat ", c.chat_id, ": ", c.status,
                              " ", c.description));
      }
      continue;
    }
    if (c.method != "sendMessage") continue;
    if (const int64_t k = dir.GuardianOfChat(c.chat_id); k >= 0) {
      if (!absl::StartsWith(c.text, kAlertPrefix)) continue;
      Seen& s = seen[static_cast<size_t>(k / dir.guardians_each)];
      ++s.alerts;
      if (!s.alert.has_value() || c.received_at < *s.alert) {
        s.alert = c.received_at;
        s.alert_guardian = k;
      }
    } else if (const int64_t n = dir.TravelerOfChat(c.chat_id); n >= 0) {
      Seen& s = seen[static_cast<size_t>(n)];
      if (absl::StrContains(c.text, kNoticePart)) {
        ++s.notices;
        if (!s.notice.has_value() || c.received_at < *s.notice) s.notice = c.received_at;
      } else if (absl::StrContains(c.text, kConfirmationPart) && !s.confirmation.has_value()) {
        s.confirmation = c.received_at;
      }
    }
  }
  for (const tx::FakeTelnyx::Command& c : telnyx.Commands()) {
    if (c.action != "dial" || !c.placed) continue;
    const int64_t k = dir.GuardianOfPhone(c.to);
    if (k < 0) continue;
    Seen& s = seen[static_cast<size_t>(k / dir.guardians_each)];
    ++s.dials;
    if (k % dir.guardians_each != 0) ++*dials_not_first;
    if (!s.dial.has_value() || c.received_at < *s.dial) {
      s.dial = c.received_at;
      s.dial_guardian = k;
    }
  }
  std::unordered_map<std::string, int64_t> traveler_of_call;
  for (const tx::FakeTelnyx::Call& c : telnyx.Calls()) {
    const int64_t k = dir.GuardianOfPhone(c.to);
    if (k < 0 || k % dir.guardians_each != 0) continue;
    traveler_of_call[c.call_control_id] = k / dir.guardians_each;
  }
  for (const tx::FakeTelnyx::Webhook& w : telnyx.Webhooks()) {
    if (w.status < 200 || w.status >= 300) ++*webhook_not_2xx;
    if (w.event_type != "call.gather.ended" || w.attempt != 1 || w.duplicate) continue;
    auto it = traveler_of_call.find(w.call_control_id);
    if (it == traveler_of_call.end()) continue;
    Seen& s = seen[static_cast<size_t>(it->second)];
    if (!s.gather_sent.has_value()) {
      s.gather_sent = w.sent_at;
      s.call_control_id = w.call_control_id;
    }
  }
  return seen;
}

// How many of travelers [from, to) have their notice (cheap enough to poll: one pass over the calls).
int64_t Noticed(const Directory& dir, const tg::FakeBotApi& telegram, int64_t from, int64_t to) {
  std::vector<bool> got(static_cast<size_t>(to - from));
  int64_t n = 0;
  for (const tg::FakeBotApi::Call& c : telegram.Calls()) {
    if (!c.accepted || c.method != "sendMessage") continue;
    const int64_t t = dir.TravelerOfChat(c.chat_id);
    if (t < from || t >= to || !absl::StrContains(c.text, kNoticePart)) continue;
    if (!got[static_cast<size_t>(t - from)]) {
      got[static_cast<size_t>(t - from)] = true;
      ++n;
    }
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  protectogram::testing::SetProgramName("incident_bench");
  protectogram::testing::KillChildrenOnSignals();
  const Flags flags = ParseFlags(argc, argv);
  const std::string load_before = LoadAverage();
  const int64_t total = static_cast<int64_t>(flags.rate) * flags.seconds;
  const Directory dir{.travelers = flags.warmup + total, .guardians_each = flags.guardians};

  // Seed.
  absl::StatusOr<std::unique_ptr<pg::Pool>> admin = pg::Pool::Create({.url = flags.admin_url, .size = 1});
  if (!admin.ok()) Die(absl::StrCat("--admin-url: ", admin.status().ToString()));
  {
    const absl::Time t0 = absl::Now();
    auto run = [&](const pg::Query& q, const pg::Params& params) {
      absl::StatusOr<pg::Result> r = (*admin)->Execute(q, params);
      if (!r.ok()) Die(absl::StrCat("seeding: ", r.status().ToString()));
    };
    run(kSeedTravelers, {kTravelerIds, dir.travelers});
    run(kSeedGuardians, {kGuardianIds, dir.travelers * dir.guardians_each});
    run(kSeedLinks, {kTravelerIds, kGuardianIds, dir.travelers, dir.guardians_each});
    run(kAnalyzeUsers, {});
    run(kAnalyzeLinks, {});
    Progress(absl::StrCat("seeded ", dir.travelers, " travelers x ", dir.guardians_each, " guardians in ",
                          absl::FormatDuration(absl::Now() - t0)));
  }

  // The fakes.
  const Ports ports = PickPorts();
  const std::string edge_url = absl::StrCat("http://127.0.0.1:", ports.edge);
  auto telegram = tg::FakeBotApi::Start({.bots = {{.token = kBotToken, .username = kBotUsername}}});
  if (!telegram.ok()) Die(absl::StrCat("FakeBotApi: ", telegram.status().ToString()));
  auto telnyx = tx::FakeTelnyx::Start(
      {.webhook_url = edge_url + "/telnyx/webhook",
       .handler_threads = 16,
       .delivery_threads = 16,
       .time_scale = flags.time_scale,
       .default_script = tx::CallScript::NoAnswer(),
       .webhook_retry_delays = {absl::Milliseconds(100), absl::Milliseconds(300), absl::Seconds(1)}});
  if (!telnyx.ok()) Die(absl::StrCat("FakeTelnyx: ", telnyx.status().ToString()));
  for (int64_t n = 0; n < dir.travelers; ++n) {
    tx::CallScript first = tx::CallScript::PressDigit("1");
    first.answer_after = absl::Milliseconds(flags.answer_after_ms);
    first.press_after = absl::Milliseconds(flags.press_after_ms);
    (*telnyx)->Script(GuardianPhone(n * dir.guardians_each), first);
    for (int64_t j = 1; j < dir.guardians_each; ++j) {
      (*telnyx)->Script(GuardianPhone(n * dir.guardians_each + j), tx::CallScript::NoAnswer());
    }
  }

  // The processes, as tests/e2e/incident/panic_fixture.h starts them.
  auto addr = [](int port) { return absl::StrCat("127.0.0.1:", port); };
  auto common = [&](const std::string& url, int metrics_port) {
    return Env{{"APP_ENV", "dev"},
               {"LOG_LEVEL", flags.log_level},
               {"DATABASE_URL", url},
               {"METRICS_PORT", std::to_string(metrics_port)},
               {"ADMIN_TOKEN", kAdminToken},
               {"INCIDENT_ADDR", addr(ports.incident)},
               {"NOTIFICATION_ADDR", addr(ports.notification)},
               {"TELEPHONY_ADDR", addr(ports.telephony)},
               {"PUBLIC_BASE_URL", edge_url},
               {"TELEGRAM_BOT_TOKEN", kBotToken},
               {"TELEGRAM_WEBHOOK_SECRET", kWebhookSecret},
               {"SHUTDOWN_GRACE_MS", "2000"}};
  };
  Env edge_env = common(flags.edge_database_url, ports.edge_metrics);
  edge_env["HTTP_PORT"] = std::to_string(ports.edge);
  edge_env["TELNYX_PUBLIC_KEY"] = tx::kFakePublicKey;
  edge_env["EDGE_FORWARD_RETRY_MAX_MS"] = "200";
  edge_env["SECRET_KEY"] = "bench-secret-key-of-at-least-32-characters";
  Override(edge_env, {"EDGE_"});
  Env incident_env = common(flags.incident_database_url, ports.incident_metrics);
  incident_env["GRPC_PORT"] = std::to_string(ports.incident);
  incident_env["TELEGRAM_BOT_USERNAME"] = kBotUsername;
  incident_env["LINK_DEFAULT_RETRY_BACKOFF_SEC"] = "1";
  incident_env["PANIC_OUTCOME_GRACE_MS"] = "3000";
  incident_env["INCIDENT_AUDIT_INTERVAL_MS"] = "500";
  Override(incident_env, {"INCIDENT_", "PANIC_", "LINK_"});
  Env notification_env = common(flags.notification_database_url, ports.notification_metrics);
  notification_env["GRPC_PORT"] = std::to_string(ports.notification);
  notification_env["TELEGRAM_API_BASE_URL"] = (*telegram)->base_url();
  notification_env["NOTIFY_PACING"] = "false";  // our latency, not Telegram's published limits
  notification_env["NOTIFY_RETRY_DELAYS_MS"] = "0,200,1000";
  Override(notification_env, {"NOTIFY_"});
  Env telephony_env = common(flags.telephony_database_url, ports.telephony_metrics);
  telephony_env["GRPC_PORT"] = std::to_string(ports.telephony);
  telephony_env["TELEPHONY_PROVIDERS"] = "telnyx";
  telephony_env["TELNYX_API_KEY"] = tx::kFakeApiKey;
  telephony_env["TELNYX_CONNECTION_ID"] = "conn-1";
  telephony_env["TELNYX_FROM_NUMBER"] = "+15550000001";
  telephony_env["TELNYX_API_BASE_URL"] = (*telnyx)->base_url();
  telephony_env["TELEPHONY_RING_GRACE_MS"] = "500";
  telephony_env["TELEPHONY_JOB_LEASE_MS"] = "2000";
  telephony_env["TELEPHONY_PROVIDER_TIMEOUT_MS"] = "1000";
  // Spend caps off: 600 calls in 30 s is the load, not a runaway.
  telephony_env["TELEPHONY_MAX_CALLS_PER_HOUR"] = "0";
  telephony_env["TELEPHONY_MAX_CALLS_PER_DAY"] = "0";
  telephony_env["TELEPHONY_MAX_RING_MINUTES_PER_HOUR"] = "0";
  telephony_env["TELEPHONY_MAX_RING_MINUTES_PER_DAY"] = "0";
  Override(telephony_env, {"TELEPHONY_"});

  auto start = [](const std::string& binary, const Env& env) {
    auto p = std::make_unique<testing::ChildProcess>(binary, std::vector<std::string>{}, env);
    AdoptChild(p->pid());
    return p;
  };
  auto edge = start(flags.edge_binary, edge_env);
  auto notification = start(flags.notification_binary, notification_env);
  auto telephony = start(flags.telephony_binary, telephony_env);
  auto incident = start(flags.incident_binary, incident_env);
  auto output = [&] {
    auto tail = [](const std::string& s) { return s.substr(s.size() > 4000 ? s.size() - 4000 : 0); };
    return absl::StrCat("--- edge:\n", tail(edge->Output()), "\n--- incident:\n", tail(incident->Output()),
                        "\n--- notification:\n", tail(notification->Output()), "\n--- telephony:\n",
                        tail(telephony->Output()));
  };
  {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    bool edge_ready = false, incident_ready = false, notification_ready = false, telephony_ready = false;
    while (!(edge_ready && incident_ready && notification_ready && telephony_ready)) {
      if (absl::Now() > deadline) Die("a process was not ready in 30 s:\n" + output());
      if (!edge_ready) edge_ready = testing::HttpGet(ports.edge, "/health/live") == 200;
      if (!incident_ready) incident_ready = testing::HttpGet(ports.incident_metrics, "/health/ready") == 200;
      if (!notification_ready)
        notification_ready = testing::HttpGet(ports.notification_metrics, "/health/ready") == 200;
      if (!telephony_ready)
        telephony_ready = testing::HttpGet(ports.telephony_metrics, "/health/ready") == 200;
      for (auto* p : {edge.get(), incident.get(), notification.get(), telephony.get()}) {
        if (p->WaitExit(std::chrono::milliseconds(5)).has_value())
          Die("a process exited at start:\n" + output());
      }
    }
  }
  Progress("edge, incident, notification and telephony ready");

  const pid_t postmaster = Postmaster(**admin);
  if (postmaster <= 0) Progress("Postgres's postmaster.pid is not readable: its CPU is not measured");
  auto read_counters = [&] {
    Counters c;
    c.edge = edge->CpuSeconds();
    c.incident = incident->CpuSeconds();
    c.notification = notification->CpuSeconds();
    c.telephony = telephony->CpuSeconds();
    c.postgres = PostgresCpuSeconds(postmaster);
    c.self = SelfCpuSeconds();
    c.machine = ReadMachineCpu();
    return c;
  };

  http::Client client;
  const std::string webhook = edge_url + "/webhook/main";
  std::atomic<int64_t> post_failures{0};
  std::atomic<int64_t> next_update_id{1};
  // Posts traveler n's /panic; the time just before it is sent, or nullopt when the edge did not take it.
  auto post = [&](int64_t n) -> std::optional<absl::Time> {
    const std::string body = PanicUpdate(next_update_id.fetch_add(1), n);
    const absl::Time sent = absl::Now();
    absl::StatusOr<http::ClientResponse> r =
        client.PostJson(webhook, body, {{"X-Telegram-Bot-Api-Secret-Token", kWebhookSecret}});
    if (!r.ok() || r->status != 200) {
      if (post_failures++ < 5) {
        Progress(absl::StrCat("panic webhook of traveler ", n, ": ",
                              r.ok() ? absl::StrCat("HTTP ", r->status) : r.status().ToString()));
      }
      return std::nullopt;
    }
    return sent;
  };

  // Warm-up: connections, keep-alive pools, every statement once.
  if (flags.warmup > 0) {
    Progress(absl::StrCat("warm-up: ", flags.warmup, " panics"));
    for (int64_t n = 0; n < flags.warmup; ++n) {
      post(n);
      absl::SleepFor(absl::Milliseconds(200));
    }
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (Noticed(dir, **telegram, 0, flags.warmup) < flags.warmup) {
      if (absl::Now() > deadline) {
        Die(absl::StrCat("warm-up: ", Noticed(dir, **telegram, 0, flags.warmup), " of ", flags.warmup,
                         " panics acknowledged in 30 s\n", output()));
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    absl::SleepFor(absl::Seconds(1));  // the warm-up's edits, hang-ups and delivery reports
  }

  // The run.
  const size_t n_run = static_cast<size_t>(total);
  const int64_t first = flags.warmup;
  Progress(absl::StrCat("run: ", flags.rate, " panics/s for ", flags.seconds, " s"));
  std::vector<std::optional<absl::Time>> sent(n_run);
  std::vector<double> lateness_ms(n_run);
  const std::string m0_edge = Metrics(ports.edge);
  const std::string m0_incident = Metrics(ports.incident_metrics);
  const std::string m0_notification = Metrics(ports.notification_metrics);
  const std::string m0_telephony = Metrics(ports.telephony_metrics);
  const std::map<std::string, int64_t> db0 = DbStats(**admin);
  const std::map<std::string, std::pair<int64_t, int64_t>> reads0 = Reads(**admin);
  const Counters c0 = read_counters();
  const absl::Time t_start = absl::Now() + absl::Milliseconds(20);
  const absl::Duration slot = absl::Seconds(1) / flags.rate;
  {
    std::vector<std::thread> senders;
    for (int w = 0; w < flags.senders; ++w) {
      senders.emplace_back([&, w] {
        for (size_t i = static_cast<size_t>(w); i < n_run; i += static_cast<size_t>(flags.senders)) {
          const absl::Time due = t_start + slot * static_cast<int64_t>(i);
          const absl::Time now = absl::Now();
          if (now < due) absl::SleepFor(due - now);
          lateness_ms[i] = absl::ToDoubleMilliseconds(absl::Now() - due);
          sent[i] = post(first + static_cast<int64_t>(i));
        }
      });
    }
    for (std::thread& t : senders) t.join();
  }
  const absl::Time paced_end = absl::Now();
  Progress("run posted; waiting for the notices");
  const absl::Time drain_deadline = paced_end + absl::Seconds(flags.drain_seconds);
  int64_t noticed = 0;
  while ((noticed = Noticed(dir, **telegram, first, first + total)) < total && absl::Now() < drain_deadline) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  const absl::Time all_done = absl::Now();
  absl::SleepFor(absl::Seconds(1));     // edits, hang-ups, delivery reports of the last panics
  const Counters c1 = read_counters();  // so the CPU is every panic's whole work, that second included
  const std::string m1_edge = Metrics(ports.edge);
  const std::string m1_incident = Metrics(ports.incident_metrics);
  const std::string m1_notification = Metrics(ports.notification_metrics);
  const std::string m1_telephony = Metrics(ports.telephony_metrics);

  // The three latencies.
  int64_t telegram_failed = 0, webhook_not_2xx = 0, dials_not_first = 0;
  const std::vector<Seen> seen =
      Collect(dir, **telegram, **telnyx, &telegram_failed, &webhook_not_2xx, &dials_not_first);
  std::vector<double> alert_ms, dial_ms, ack_ms, confirmation_ms, whole_ms;
  int64_t incomplete = 0, no_alert = 0, no_dial = 0, no_gather = 0, no_notice = 0, not_posted = 0;
  int64_t repeated_notices = 0, short_alerts = 0;
  for (size_t i = 0; i < n_run; ++i) {
    const Seen& s = seen[static_cast<size_t>(first) + i];
    if (!sent[i].has_value()) {
      ++not_posted;
      ++incomplete;
      continue;
    }
    const absl::Time t0 = *sent[i];
    bool complete = true;
    if (s.alert.has_value()) {
      alert_ms.push_back(absl::ToDoubleMilliseconds(*s.alert - t0));
    } else {
      ++no_alert;
      complete = false;
    }
    if (s.alerts < flags.guardians) ++short_alerts;
    if (s.dial.has_value()) {
      dial_ms.push_back(absl::ToDoubleMilliseconds(*s.dial - t0));
    } else {
      ++no_dial;
      complete = false;
    }
    if (!s.gather_sent.has_value()) {
      ++no_gather;
      complete = false;
    }
    if (!s.notice.has_value()) {
      ++no_notice;
      complete = false;
    }
    if (s.gather_sent.has_value() && s.notice.has_value()) {
      ack_ms.push_back(absl::ToDoubleMilliseconds(*s.notice - *s.gather_sent));
      whole_ms.push_back(absl::ToDoubleMilliseconds(*s.notice - t0));
    }
    if (s.notices > 1) ++repeated_notices;
    if (s.confirmation.has_value())
      confirmation_ms.push_back(absl::ToDoubleMilliseconds(*s.confirmation - t0));
    if (!complete) ++incomplete;
  }

  // Where the time went, per panic, from the services' own timestamps.
  std::map<std::string, std::vector<double>> steps;
  {
    auto query = [&](const pg::Query& q) -> std::optional<pg::Result> {
      absl::StatusOr<pg::Result> r = (*admin)->Execute(q);
      if (!r.ok()) {
        Progress(absl::StrCat(q.name, ": ", r.status().ToString()));
        return std::nullopt;
      }
      return *std::move(r);
    };
    auto ms = [](const pg::Row& row, const char* column) {
      return row.GetOptional<double>(column).value_or(kNone);
    };
    struct Stamp {
      double created = kNone, sent = kNone;
    };
    std::unordered_map<int64_t, int64_t> user_of_telegram;
    if (auto r = query(kUsers)) {
      for (const pg::Row& row : *r)
        user_of_telegram[row.Get<int64_t>("telegram_id")] = row.Get<int64_t>("id");
    }
    struct IncidentRow {
      int64_t id = 0;
      double created = kNone, ack = kNone;
    };
    std::unordered_map<int64_t, IncidentRow> incident_of_telegram;
    if (auto r = query(kIncidents)) {
      for (const pg::Row& row : *r) {
        incident_of_telegram[row.Get<int64_t>("telegram_id")] = {
            .id = row.Get<int64_t>("id"), .created = ms(row, "created_ms"), .ack = ms(row, "ack_ms")};
      }
    }
    auto stamps = [&](const pg::Query& q) {
      std::unordered_map<std::string, Stamp> out;
      if (auto r = query(q)) {
        for (const pg::Row& row : *r) {
          const bool is_sent = row.Get<std::string>("status") == "sent";
          out[row.Get<std::string>("idempotency_key")] = {.created = ms(row, "created_ms"),
                                                          .sent = is_sent ? ms(row, "updated_ms") : kNone};
        }
      }
      return out;
    };
    const std::unordered_map<std::string, Stamp> incident_outbox = stamps(kIncidentOutbox);
    const std::unordered_map<std::string, Stamp> notification_outbox = stamps(kNotificationOutbox);
    std::unordered_map<std::string, std::pair<double, double>> edge_telegram,
        edge_gather;  // stored, delivered
    if (auto r = query(kEdgeTelegram)) {
      for (const pg::Row& row : *r)
        edge_telegram[row.Get<std::string>("event_id")] = {ms(row, "stored_ms"), ms(row, "delivered_ms")};
    }
    if (auto r = query(kEdgeGather)) {
      for (const pg::Row& row : *r) {
        edge_gather[row.GetOptional<std::string>("call_control_id").value_or("")] = {ms(row, "stored_ms"),
                                                                                     ms(row, "delivered_ms")};
      }
    }
    struct CallRow {
      double placed = kNone, dial_requested = kNone, handled = kNone, outcome_sent = kNone;
      std::string provider_call_id;
    };
    std::unordered_map<std::string, CallRow> calls;  // by attempt key
    if (auto r = query(kTelephony)) {
      for (const pg::Row& row : *r) {
        calls[row.Get<std::string>("attempt_key")] = {
            .placed = ms(row, "placed_ms"),
            .dial_requested = ms(row, "dial_requested_ms"),
            .handled = ms(row, "handled_ms"),
            .outcome_sent = ms(row, "outcome_sent_ms"),
            .provider_call_id = row.Get<std::string>("provider_call_id")};
      }
    }
    auto add = [&steps](const std::string& name, double a, double b) {
      if (!std::isnan(a) && !std::isnan(b)) steps[name].push_back(b - a);
    };
    auto at = [](const std::optional<absl::Time>& t) { return t.has_value() ? EpochMs(*t) : kNone; };
    auto find = [](const std::unordered_map<std::string, Stamp>& m, const std::string& key) {
      auto it = m.find(key);
      return it == m.end() ? Stamp{} : it->second;
    };
    // The update ids: the warm-up took 1..warmup in order; the run's were taken by the senders in the order
    // they posted, so match by the traveler (the update's chat) through the incident instead.
    for (size_t i = 0; i < n_run; ++i) {
      const int64_t n = first + static_cast<int64_t>(i);
      const Seen& s = seen[static_cast<size_t>(n)];
      auto inc = incident_of_telegram.find(kTravelerIds + n);
      if (inc == incident_of_telegram.end() || !sent[i].has_value()) continue;
      const std::string p = absl::StrCat("incident:", inc->second.id, ":");
      const double t0 = EpochMs(*sent[i]);
      add("step_a1_webhook_to_incident_txn", t0, inc->second.created);
      // The alert of the guardian who got the first one.
      if (s.alert_guardian >= 0) {
        auto g = user_of_telegram.find(kGuardianIds + s.alert_guardian);
        if (g != user_of_telegram.end()) {
          const std::string key = absl::StrCat(p, "alert:", g->second);
          const Stamp io = find(incident_outbox, key);
          const Stamp no = find(notification_outbox, key);
          add("step_a2_incident_txn_to_notification_send_txn", inc->second.created, no.created);
          add("step_a3_notification_send_txn_to_fake", no.created, at(s.alert));
          add("step_a_x_incident_outbox_marked_sent_after_fake", at(s.alert), io.sent);
          add("step_a_x_notification_marked_sent_after_fake", at(s.alert), no.sent);
        }
      }
      // The first call.
      const std::string attempt = p + "call:1";
      auto call = calls.find(attempt);
      if (call != calls.end()) {
        add("step_b2_incident_txn_to_placecall_txn", inc->second.created, call->second.placed);
        add("step_b3_placecall_txn_to_dial_requested_txn", call->second.placed, call->second.dial_requested);
        add("step_b4_dial_requested_txn_to_fake_dial", call->second.dial_requested, at(s.dial));
        // The DTMF path.
        auto eg = edge_gather.find(call->second.provider_call_id);
        const double stored = eg == edge_gather.end() ? kNone : eg->second.first;
        add("step_c1_gather_sent_to_edge_stored_txn", at(s.gather_sent), stored);
        add("step_c2_edge_stored_to_telephony_handled_txn", stored, call->second.handled);
        add("step_c3_telephony_handled_txn_to_incident_ack_txn", call->second.handled, inc->second.ack);
        const Stamp no = find(notification_outbox, p + "ack:traveler");
        add("step_c4_incident_ack_txn_to_notification_send_txn", inc->second.ack, no.created);
        add("step_c5_notification_send_txn_to_fake", no.created, at(s.notice));
        add("step_c_x_telephony_outcome_marked_sent_after_ack_txn", inc->second.ack,
            call->second.outcome_sent);
      }
    }
    // Edge: every stored panic update (the run's are the update ids after the warm-up's).
    for (const auto& [event_id, times] : edge_telegram) {
      int64_t id = 0;
      if (!absl::SimpleAtoi(event_id, &id) || id <= flags.warmup) continue;
      add("step_edge_telegram_stored_to_delivered", times.first, times.second);
    }
  }

  // Stop; keep what the children wrote.
  for (auto* p : {edge.get(), incident.get(), notification.get(), telephony.get()}) p->Signal(SIGTERM);
  for (auto* p : {edge.get(), incident.get(), notification.get(), telephony.get()})
    p->WaitExit(std::chrono::milliseconds(10000));
  // The services' backends have exited, so every count of theirs is in (and a few of the queries above).
  absl::SleepFor(absl::Milliseconds(500));
  const std::map<std::string, int64_t> db1 = DbStats(**admin);
  const std::map<std::string, std::pair<int64_t, int64_t>> reads1 = Reads(**admin);
  (*telnyx)->Stop();
  (*telegram)->Stop();
  if (!flags.log_dir.empty()) {
    std::ofstream(flags.log_dir + "/edge.log") << edge->Output();
    std::ofstream(flags.log_dir + "/incident.log") << incident->Output();
    std::ofstream(flags.log_dir + "/notification.log") << notification->Output();
    std::ofstream(flags.log_dir + "/telephony.log") << telephony->Output();
    std::ofstream(flags.log_dir + "/edge-metrics.txt") << m1_edge;
    std::ofstream(flags.log_dir + "/incident-metrics.txt") << m1_incident;
    std::ofstream(flags.log_dir + "/notification-metrics.txt") << m1_notification;
    std::ofstream(flags.log_dir + "/telephony-metrics.txt") << m1_telephony;
  }

  const double per_panic = 1e3 / static_cast<double>(std::max<int64_t>(total, 1));  // ms of CPU per panic
  PrintInt("rate", flags.rate);
  PrintInt("seconds", flags.seconds);
  PrintInt("panics", total);
  PrintInt("guardians_per_traveler", flags.guardians);
  PrintNum("offered_panics_per_s", static_cast<double>(total) / absl::ToDoubleSeconds(paced_end - t_start),
           2);
  PrintInt("late_slots_over_5ms",
           std::count_if(lateness_ms.begin(), lateness_ms.end(), [](double v) { return v > 5; }));
  PrintNum("lateness_max_ms", Percentile(lateness_ms, 1.0));
  PrintNum("time_scale", flags.time_scale, 3);
  PrintDistribution("alert", alert_ms);
  PrintDistribution("dial", dial_ms);
  PrintDistribution("dtmf_to_notice", ack_ms);
  PrintDistribution("confirmation", confirmation_ms);
  PrintDistribution("panic_to_notice", whole_ms);
  PrintInt("panics_noticed_by_deadline", noticed);
  PrintInt("panics_incomplete", incomplete);
  PrintInt("panics_not_posted", not_posted);
  PrintInt("panics_without_alert", no_alert);
  PrintInt("panics_without_dial", no_dial);
  PrintInt("panics_without_gather", no_gather);
  PrintInt("panics_without_notice", no_notice);
  PrintInt("panics_with_fewer_alerts_than_guardians", short_alerts);
  PrintInt("panics_with_repeated_notice", repeated_notices);
  PrintInt("fake_dials_not_first", dials_not_first);
  PrintInt("telegram_calls_refused", telegram_failed);
  PrintInt("telnyx_webhooks_not_2xx", webhook_not_2xx);
  PrintInt("telegram_calls_total", static_cast<int64_t>((*telegram)->Calls().size()));
  PrintInt("telnyx_commands_total", static_cast<int64_t>((*telnyx)->Commands().size()));
  PrintInt("telnyx_webhooks_total", static_cast<int64_t>((*telnyx)->Webhooks().size()));
  const double run_seconds = absl::ToDoubleSeconds(all_done - t_start);
  PrintNum("run_seconds", run_seconds);
  PrintNum("cpu_edge_s", c1.edge - c0.edge);
  PrintNum("cpu_incident_s", c1.incident - c0.incident);
  PrintNum("cpu_notification_s", c1.notification - c0.notification);
  PrintNum("cpu_telephony_s", c1.telephony - c0.telephony);
  PrintNum("cpu_postgres_s", c1.postgres - c0.postgres);
  PrintNum("cpu_bench_s", c1.self - c0.self);
  PrintNum("cpu_ms_per_panic_edge", (c1.edge - c0.edge) * per_panic);
  PrintNum("cpu_ms_per_panic_incident", (c1.incident - c0.incident) * per_panic);
  PrintNum("cpu_ms_per_panic_notification", (c1.notification - c0.notification) * per_panic);
  PrintNum("cpu_ms_per_panic_telephony", (c1.telephony - c0.telephony) * per_panic);
  if (postmaster > 0) PrintNum("cpu_ms_per_panic_postgres", (c1.postgres - c0.postgres) * per_panic);
  PrintNum("cpu_ms_per_panic_bench", (c1.self - c0.self) * per_panic);
  const double ours = (c1.edge - c0.edge) + (c1.incident - c0.incident) +
                      (c1.notification - c0.notification) + (c1.telephony - c0.telephony) +
                      (c1.postgres - c0.postgres) + (c1.self - c0.self);
  PrintNum("cpu_ms_per_panic_total", ours * per_panic);
  const double ticks = c1.machine.total - c0.machine.total;
  PrintNum("machine_busy", ticks > 0 ? (c1.machine.busy - c0.machine.busy) / ticks : 0.0);
  PrintNum("cpu_others_s", (c1.machine.busy - c0.machine.busy) / Ticks() - ours);
  for (const char* c : kDbStatColumns) {
    auto a = db0.find(c), b = db1.find(c);
    if (a == db0.end() || b == db1.end()) continue;
    PrintNum(absl::StrCat("db_", c, "_per_panic"),
             static_cast<double>(b->second - a->second) * per_panic / 1e3, 1);
  }
  {
    // The six tables or indexes that read the most rows during the run, per panic.
    std::vector<std::tuple<int64_t, int64_t, std::string>> top;  // rows, scans, what
    for (const auto& [what, after] : reads1) {
      auto it = reads0.find(what);
      const std::pair<int64_t, int64_t> before =
          it == reads0.end() ? std::pair<int64_t, int64_t>{0, 0} : it->second;
      if (after.second > before.second)
        top.emplace_back(after.second - before.second, after.first - before.first, what);
    }
    std::sort(top.rbegin(), top.rend());
    for (size_t i = 0; i < top.size() && i < 6; ++i) {
      const auto& [rows, scans, what] = top[i];
      Print(absl::StrCat("db_top_reads_", i + 1),
            absl::StrCat(what, " rows_per_panic=", absl::Dec(rows / std::max<int64_t>(total, 1)),
                         " scans_per_panic=",
                         absl::StrFormat("%.1f", static_cast<double>(scans) /
                                                     static_cast<double>(std::max<int64_t>(total, 1)))));
    }
  }
  for (const auto& [name, values] : steps) PrintDistribution(name, values);
  PrintHistogram("edge_ingest_commit", m0_edge, m1_edge, "edge_ingest_commit_seconds");
  PrintHistogram("edge_forward_incident", m0_edge, m1_edge, "edge_forward_duration_seconds",
                 "service=\"incident\"");
  PrintHistogram("edge_forward_telephony", m0_edge, m1_edge, "edge_forward_duration_seconds",
                 "service=\"telephony\"");
  PrintHistogram("incident_handle_chat_event_rpc", m0_incident, m1_incident, "grpc_server_handling_seconds",
                 "method=\"HandleChatEvent\"");
  PrintHistogram("incident_on_call_outcome_rpc", m0_incident, m1_incident, "grpc_server_handling_seconds",
                 "method=\"OnCallOutcome\"");
  PrintHistogram("incident_on_delivery_outcome_rpc", m0_incident, m1_incident, "grpc_server_handling_seconds",
                 "method=\"OnDeliveryOutcome\"");
  PrintHistogram("incident_first_alert", m0_incident, m1_incident, "panic_first_alert_seconds");
  PrintHistogram("notification_send_rpc", m0_notification, m1_notification, "grpc_server_handling_seconds",
                 "method=\"Send\"");
  PrintHistogram("notification_edit_rpc", m0_notification, m1_notification, "grpc_server_handling_seconds",
                 "method=\"Edit\"");
  PrintHistogram("telephony_place_call_rpc", m0_telephony, m1_telephony, "grpc_server_handling_seconds",
                 "method=\"PlaceCall\"");
  PrintHistogram("telephony_handle_call_event_rpc", m0_telephony, m1_telephony,
                 "grpc_server_handling_seconds", "method=\"HandleCallEvent\"");
  PrintHistogram("telephony_dial", m0_telephony, m1_telephony, "telephony_dial_seconds");
  PrintHistogram("telephony_dial_job_lag", m0_telephony, m1_telephony, "scheduler_job_lag_seconds",
                 "kind=\"telephony.dial\"");
  const double p99_alert = Percentile(alert_ms, 0.99), p99_dial = Percentile(dial_ms, 0.99),
               p99_ack = Percentile(ack_ms, 0.99);
  const bool met = incomplete == 0 && p99_alert <= flags.target_ms && p99_dial <= flags.target_ms &&
                   p99_ack <= flags.target_ms;
  const bool stretch = incomplete == 0 && p99_alert <= flags.stretch_ms && p99_dial <= flags.stretch_ms &&
                       p99_ack <= flags.stretch_ms;
  PrintNum("target_p99_ms", flags.target_ms, 0);
  Print("target_alert_met", p99_alert <= flags.target_ms ? "true" : "false");
  Print("target_dial_met", p99_dial <= flags.target_ms ? "true" : "false");
  Print("target_dtmf_to_notice_met", p99_ack <= flags.target_ms ? "true" : "false");
  Print("targets_met", met ? "true" : "false");
  Print("stretch_targets_met", stretch ? "true" : "false");
  Print("load_avg_1m_before", load_before);
  Print("load_avg_1m_after", LoadAverage());
  std::cout.flush();
  if (incomplete > 0 || post_failures.load() > 0) return 1;
  return flags.require_targets && !met ? 1 : 0;
}
