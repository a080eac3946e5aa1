// telephony_bench: how quickly the real protectogram-telephony dials after PlaceCall, and how quickly a
// guardian's key press (Telnyx's DTMF webhook at the real protectogram-edge) reaches the requester as an
// OnCallOutcome (docs/benchmarks.md, "Telephony"; run by tests/load/telephony/run.sh, which measures pgbench's
// insert ceiling beside it).
//
//   telephony_bench --edge-database-url=postgresql://protectogram_edge@127.0.0.1:55433/db
//     --telephony-database-url=postgresql://protectogram_telephony@127.0.0.1:55433/db
//     [--stats-url=postgresql://postgres@127.0.0.1:55433/db] [--edge-binary=...] [--telephony-binary=...]
//
// In this process: a FakeTelnyx (libs/providers/telnyx/fake_call_control.h; every number's script "answer,
// then press 1", its call time scaled by --time-scale) posting signed webhooks to the edge, and a fake
// IncidentService on gRPC that records when each OnCallOutcome arrives. Two child processes, set up as
// tests/e2e/telephony/telephony_e2e_test.cc does: protectogram-edge (its Telnyx route, forwarding to
// telephony) and protectogram-telephony (Telnyx only, spend caps off, reports to the fake incident service).
// Any TELEPHONY_*, EDGE_* or DB_POOL_SIZE variable in this program's environment is passed on and wins.
//
//   warm-up: --warmup (20) calls at 10/s, waited for;
//   the run: --rate (50) PlaceCalls/s for --seconds (20), open loop (each at its slot, never waiting for the
//            previous), distinct attempt keys and numbers; waited for until every call has its outcome.
//   dial latency (per call): the fake's received_at of the call's first dial command minus the time taken
//            just before its PlaceCall;
//   DTMF latency (per call): the arrival of its OnCallOutcome at the fake incident service minus the sent_at
//            of the first delivery attempt of its call.gather.ended webhook.
// All on this process's clock; the run is waited for at most 60 s after its last PlaceCall. Around the run: CPU
// seconds of the edge, of telephony, of Postgres (the postmaster and its children, when --stats-url can read
// data_directory), of this process (the fakes and the client) and of everything else on the machine
// (cpu_others_s: other builds and tests). Afterwards, where the time went: histograms from telephony's
// /metrics (telephony_dial_seconds, grpc_server_handling_seconds of PlaceCall and HandleCallEvent,
// scheduler_job_lag_seconds of the dial and command jobs), and per-call steps (step_*) from the database:
// edge.inbox_events.received_at/delivered_at, telephony.call_events.at, telephony.outbox_messages.updated_at,
// each the now() of its transaction, on the same machine's clock. Other knobs: --time-scale (0.01: a call's
// 2 s to answer and 3 s to press take 20 and 30 ms; the load, five webhooks per call, is the same),
// --delivery-threads (16) and --fake-threads (16) of the fake, --log-level (warn) of the services. --log-dir
// keeps both processes' output and their /metrics. Prints key=value lines on stdout; progress on stderr. Exits
// 1 if a call got no outcome, an outcome came twice, or a PlaceCall failed.
#include <dirent.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/pg/pool.h"
#include "libs/providers/telnyx/fake_call_control.h"
#include "protectogram/incident/v1/incident.grpc.pb.h"
#include "protectogram/telephony/v1/telephony.grpc.pb.h"
#include "tests/support/bench_support.h"
#include "tests/support/child_process.h"

#ifndef EDGE_BINARY
#define EDGE_BINARY "build/bin/protectogram-edge"
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
namespace tx = providers::telnyx;
namespace tv1 = protectogram::telephony::v1;
namespace iv1 = protectogram::incident::v1;

// Numbers by phase: +7999<7 digits>, each call its own.
constexpr int64_t kWarmupNumbers = 1'000'000;
constexpr int64_t kRunNumbers = 2'000'000;

struct Flags {
  std::string edge_database_url;
  std::string telephony_database_url;
  std::string stats_url;
  std::string edge_binary = EDGE_BINARY;
  std::string telephony_binary = TELEPHONY_BINARY;
  int rate = 50;
  int seconds = 20;
  int warmup = 20;
  double time_scale = 0.01;
  int delivery_threads = 16;  // the fake's webhook senders (one call's webhooks are never in parallel)
  int fake_threads = 16;      // the fake's HTTP handler threads
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
    if (name == "edge-database-url") {
      f.edge_database_url = value;
    } else if (name == "telephony-database-url") {
      f.telephony_database_url = value;
    } else if (name == "stats-url") {
      f.stats_url = value;
    } else if (name == "edge-binary") {
      f.edge_binary = value;
    } else if (name == "telephony-binary") {
      f.telephony_binary = value;
    } else if (name == "rate") {
      integer(&f.rate);
    } else if (name == "seconds") {
      integer(&f.seconds);
    } else if (name == "warmup") {
      integer(&f.warmup);
    } else if (name == "time-scale") {
      if (!absl::SimpleAtod(value, &f.time_scale) || f.time_scale <= 0)
        Die("--time-scale needs a number > 0");
    } else if (name == "delivery-threads") {
      integer(&f.delivery_threads);
    } else if (name == "fake-threads") {
      integer(&f.fake_threads);
    } else if (name == "log-level") {
      f.log_level = value;
    } else if (name == "log-dir") {
      f.log_dir = value;
    } else {
      Die("unknown flag --" + name);
    }
  }
  if (f.edge_database_url.empty() || f.telephony_database_url.empty()) {
    Die("give --edge-database-url and --telephony-database-url");
  }
  if (f.stats_url.empty()) f.stats_url = f.telephony_database_url;
  if (f.rate < 1 || f.seconds < 1 || f.delivery_threads < 1 || f.fake_threads < 1) {
    Die("counts must be at least 1");
  }
  return f;
}

// ---- CPU ---------------------------------------------------------------------------------------------------

struct Counters {
  double edge = 0, telephony = 0, postgres = 0, self = 0;
  MachineCpu machine;
};

// ---- the fake incident service -----------------------------------------------------------------------------

// Records when each OnCallOutcome first arrived (by attempt key), and every repeat of an event key.
class FakeIncident final : public iv1::IncidentService::Service {
 public:
  grpc::Status OnCallOutcome(grpc::ServerContext*, const iv1::OnCallOutcomeRequest* request,
                             iv1::OnCallOutcomeResponse* response) override {
    const absl::Time now = absl::Now();
    std::lock_guard<std::mutex> lock(mu_);
    const bool repeat = seen_[request->event_key()]++ > 0;
    response->set_duplicate(repeat);
    if (repeat) {
      ++duplicates_;
    } else {
      arrived_.emplace(request->attempt_key(), Arrival{.at = now, .outcome = request->outcome()});
    }
    return grpc::Status::OK;
  }

  struct Arrival {
    absl::Time at;
    std::string outcome;
  };
  std::optional<Arrival> Find(const std::string& attempt_key) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = arrived_.find(attempt_key);
    if (it == arrived_.end()) return std::nullopt;
    return it->second;
  }
  size_t count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return arrived_.size();
  }
  int64_t duplicates() const {
    std::lock_guard<std::mutex> lock(mu_);
    return duplicates_;
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, Arrival> arrived_;
  std::unordered_map<std::string, int> seen_;
  int64_t duplicates_ = 0;
};

// ---- the PlaceCall client ----------------------------------------------------------------------------------

// Async PlaceCalls over one channel, completed on one thread; each call's completion time and status kept.
class PlaceClient {
 public:
  explicit PlaceClient(const std::string& target) {
    stub_ = tv1::TelephonyService::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
    thread_ = std::thread([this] { Drain(); });
  }
  ~PlaceClient() {
    cq_.Shutdown();
    thread_.join();
  }

  void Place(tv1::PlaceCallRequest request, absl::Time* done_at) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++inflight_;
    }
    auto* call = new Call{.request = std::move(request), .done_at = done_at};
    call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    call->context.set_wait_for_ready(true);
    call->reader = stub_->PrepareAsyncPlaceCall(&call->context, call->request, &cq_);
    call->reader->StartCall();
    call->reader->Finish(&call->response, &call->status, call);
  }

  bool WaitIdle(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [this] { return inflight_ == 0; });
  }
  int64_t failures() const { return failures_.load(); }
  int64_t duplicates() const { return duplicates_.load(); }

 private:
  struct Call {
    tv1::PlaceCallRequest request;
    absl::Time* done_at = nullptr;
    grpc::ClientContext context;
    tv1::PlaceCallResponse response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<tv1::PlaceCallResponse>> reader;
  };

  void Drain() {
    void* tag = nullptr;
    bool ok = false;
    while (cq_.Next(&tag, &ok)) {
      auto* call = static_cast<Call*>(tag);
      const absl::Time now = absl::Now();
      if (!ok || !call->status.ok()) {
        if (failures_++ < 5) {
          Progress(absl::StrCat("PlaceCall ", call->request.attempt_key(),
                                " failed: ", call->status.error_message()));
        }
      } else if (call->response.duplicate()) {
        ++duplicates_;
      }
      if (call->done_at != nullptr) *call->done_at = now;
      delete call;
      {
        std::lock_guard<std::mutex> lock(mu_);
        --inflight_;
      }
      cv_.notify_all();
    }
  }

  std::unique_ptr<tv1::TelephonyService::Stub> stub_;
  grpc::CompletionQueue cq_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  int inflight_ = 0;
  std::atomic<int64_t> failures_{0}, duplicates_{0};
};

std::string Number(int64_t n) { return absl::StrCat("+7999", absl::Dec(n, absl::kZeroPad7)); }

tv1::PlaceCallRequest Request(const std::string& key, const std::string& to) {
  tv1::PlaceCallRequest r;
  r.set_attempt_key(key);
  r.set_to_e164(to);
  r.set_speak_text("Тревога: Анна нажала кнопку. Нажмите 1, чтобы принять.");
  r.set_language("ru");
  r.set_incident_id("77");
  r.mutable_report_to()->set_service("incident");
  r.mutable_report_to()->set_key("cascade:77:" + key);
  return r;
}

// ---- /metrics ----------------------------------------------------------------------------------------------

// One histogram's buckets (upper bound -> cumulative count), summed over its label sets.
std::string Metrics(int port) {
  std::string body;
  if (testing::HttpGet(port, "/metrics", &body) != 200) return "";
  return body;
}

// Prints <key>_count/_mean_ms/_p50_le_ms/_p99_le_ms of histogram `name` over [before, after], summed over
// the label sets whose line contains `label` ("" for all).
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

// ---- where the time went, from the database ----------------------------------------------------------------

// Per call of the run ($1: a LIKE pattern of its attempt keys), the epoch milliseconds of the steps the services
// stamped with now() (their transaction's start; the same clock as absl::Now() on this machine): the PlaceCall
// transaction (call_events "placed"), the dial job's decision to dial ("dial_requested"), the gather webhook's
// row stored at the edge (edge.inbox_events.received_at) and acknowledged by telephony (delivered_at),
// telephony's transaction handling it (call_events "call.gather.ended", which also enqueues the outcome), and
// the outcome's outbox row marked sent (after the incident service answered).
constexpr char kStepsSql[] = R"sql(
WITH a AS (SELECT id, attempt_key, provider_call_id FROM telephony.call_attempts WHERE attempt_key LIKE $1),
e AS (SELECT attempt_id,
             min(at) FILTER (WHERE kind = 'placed') AS placed,
             min(at) FILTER (WHERE kind = 'dial_requested') AS dial_requested,
             min(at) FILTER (WHERE kind = 'call.gather.ended') AS handled
        FROM telephony.call_events WHERE attempt_id IN (SELECT id FROM a) GROUP BY attempt_id),
g AS (SELECT payload_json #>> '{data,payload,call_control_id}' AS call_control_id,
             min(received_at) AS stored, min(delivered_at) AS delivered
        FROM edge.inbox_events
       WHERE provider = 'telnyx' AND payload_json #>> '{data,event_type}' = 'call.gather.ended' GROUP BY 1),
o AS (SELECT idempotency_key, min(updated_at) FILTER (WHERE status = 'sent') AS sent
        FROM telephony.outbox_messages GROUP BY 1)
SELECT a.attempt_key,
       (extract(epoch FROM e.placed) * 1000)::float8 AS placed_ms,
       (extract(epoch FROM e.dial_requested) * 1000)::float8 AS dial_requested_ms,
       (extract(epoch FROM g.stored) * 1000)::float8 AS edge_stored_ms,
       (extract(epoch FROM g.delivered) * 1000)::float8 AS edge_delivered_ms,
       (extract(epoch FROM e.handled) * 1000)::float8 AS handled_ms,
       (extract(epoch FROM o.sent) * 1000)::float8 AS outbox_sent_ms
  FROM a LEFT JOIN e ON e.attempt_id = a.id
         LEFT JOIN g ON g.call_control_id = a.provider_call_id
         LEFT JOIN o ON o.idempotency_key = 'call:' || a.attempt_key
)sql";

constexpr char kEventKindsSql[] = R"sql(
SELECT e.kind, count(*) AS n FROM telephony.call_events e
  JOIN telephony.call_attempts a ON a.id = e.attempt_id WHERE a.attempt_key LIKE $1
  GROUP BY e.kind ORDER BY min(e.id)
)sql";
constexpr double kNone = std::numeric_limits<double>::quiet_NaN();
constexpr pg::Query kSteps{"bench_steps", kStepsSql};
constexpr pg::Query kEventKinds{"bench_event_kinds", kEventKindsSql};

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  protectogram::testing::SetProgramName("telephony_bench");
  protectogram::testing::KillChildrenOnSignals();
  const Flags flags = ParseFlags(argc, argv);
  const std::string load_before = LoadAverage();

  // The fake incident service.
  FakeIncident incident;
  grpc::ServerBuilder builder;
  int incident_port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &incident_port);
  builder.RegisterService(&incident);
  std::unique_ptr<grpc::Server> incident_server = builder.BuildAndStart();
  if (incident_server == nullptr) Die("the fake incident service did not start");
  const std::string incident_addr = absl::StrCat("127.0.0.1:", incident_port);

  const int edge_port = testing::FreePort();
  int edge_metrics_port = testing::FreePort();
  int telephony_port = testing::FreePort();
  int telephony_metrics_port = testing::FreePort();
  while (edge_metrics_port == edge_port) edge_metrics_port = testing::FreePort();
  while (telephony_port == edge_port || telephony_port == edge_metrics_port)
    telephony_port = testing::FreePort();
  while (telephony_metrics_port == edge_port || telephony_metrics_port == edge_metrics_port ||
         telephony_metrics_port == telephony_port) {
    telephony_metrics_port = testing::FreePort();
  }
  const std::string edge_url = absl::StrCat("http://127.0.0.1:", edge_port);

  auto telnyx =
      tx::FakeTelnyx::Start({.webhook_url = edge_url + "/telnyx/webhook",
                             .handler_threads = flags.fake_threads,
                             .delivery_threads = flags.delivery_threads,
                             .time_scale = flags.time_scale,
                             .webhook_retry_delays = {absl::Milliseconds(100), absl::Milliseconds(300)}});
  if (!telnyx.ok()) Die(absl::StrCat("FakeTelnyx: ", telnyx.status().ToString()));

  std::map<std::string, std::string> edge_env{{"APP_ENV", "dev"},
                                              {"LOG_LEVEL", flags.log_level},
                                              {"DATABASE_URL", flags.edge_database_url},
                                              {"HTTP_PORT", std::to_string(edge_port)},
                                              {"METRICS_PORT", std::to_string(edge_metrics_port)},
                                              {"PUBLIC_BASE_URL", edge_url},
                                              {"TELNYX_PUBLIC_KEY", tx::kFakePublicKey},
                                              {"INCIDENT_ADDR", incident_addr},
                                              {"TELEPHONY_ADDR", absl::StrCat("127.0.0.1:", telephony_port)},
                                              {"NOTIFICATION_ADDR", "127.0.0.1:1"},
                                              {"EDGE_FORWARD_RETRY_MAX_MS", "100"}};
  std::map<std::string, std::string> telephony_env{
      {"APP_ENV", "dev"},
      {"LOG_LEVEL", flags.log_level},
      {"DATABASE_URL", flags.telephony_database_url},
      {"GRPC_PORT", std::to_string(telephony_port)},
      {"METRICS_PORT", std::to_string(telephony_metrics_port)},
      {"PUBLIC_BASE_URL", edge_url},
      {"INCIDENT_ADDR", incident_addr},
      {"TELEPHONY_PROVIDERS", "telnyx"},
      {"TELNYX_API_KEY", tx::kFakeApiKey},
      {"TELNYX_CONNECTION_ID", "conn-1"},
      {"TELNYX_FROM_NUMBER", "+15550000001"},
      {"TELNYX_API_BASE_URL", (*telnyx)->base_url()},
      // Spend caps off: 1,000 calls in 20 s is the load, not a runaway.
      {"TELEPHONY_MAX_CALLS_PER_HOUR", "0"},
      {"TELEPHONY_MAX_CALLS_PER_DAY", "0"},
      {"TELEPHONY_MAX_RING_MINUTES_PER_HOUR", "0"},
      {"TELEPHONY_MAX_RING_MINUTES_PER_DAY", "0"}};
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    const std::string name = kv.substr(0, eq);
    if (absl::StartsWith(name, "TELEPHONY_") || name == "DB_POOL_SIZE")
      telephony_env[name] = kv.substr(eq + 1);
    if (absl::StartsWith(name, "EDGE_") || name == "DB_POOL_SIZE") edge_env[name] = kv.substr(eq + 1);
  }

  auto edge =
      std::make_unique<testing::ChildProcess>(flags.edge_binary, std::vector<std::string>{}, edge_env);
  AdoptChild(edge->pid());
  auto telephony = std::make_unique<testing::ChildProcess>(flags.telephony_binary, std::vector<std::string>{},
                                                           telephony_env);
  AdoptChild(telephony->pid());
  auto output = [&] { return "--- edge:\n" + edge->Output() + "\n--- telephony:\n" + telephony->Output(); };
  {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    bool edge_ready = false, telephony_ready = false;
    while (!(edge_ready && telephony_ready)) {
      if (absl::Now() > deadline) Die("edge or telephony not ready in 30 s:\n" + output());
      if (!edge_ready) edge_ready = testing::HttpGet(edge_port, "/health/live") == 200;
      if (!telephony_ready)
        telephony_ready = testing::HttpGet(telephony_metrics_port, "/health/ready") == 200;
      if (edge->WaitExit(std::chrono::milliseconds(10)).has_value() ||
          telephony->WaitExit(std::chrono::milliseconds(10)).has_value()) {
        Die("edge or telephony exited at start:\n" + output());
      }
    }
  }
  Progress("edge and telephony ready");

  absl::StatusOr<std::unique_ptr<pg::Pool>> stats_pool =
      pg::Pool::Create({.url = flags.stats_url, .size = 1});
  if (!stats_pool.ok()) Die(absl::StrCat("--stats-url: ", stats_pool.status().ToString()));
  const pid_t postmaster = Postmaster(**stats_pool);
  if (postmaster <= 0) Progress("Postgres's postmaster.pid is not readable: its CPU is not measured");
  auto read_counters = [&] {
    Counters c;
    c.edge = edge->CpuSeconds();
    c.telephony = telephony->CpuSeconds();
    c.postgres = PostgresCpuSeconds(postmaster);
    c.self = SelfCpuSeconds();
    c.machine = ReadMachineCpu();
    return c;
  };

  PlaceClient client(absl::StrCat("127.0.0.1:", telephony_port));
  const std::string run_id = absl::StrCat(absl::ToUnixSeconds(absl::Now()));

  // Warm-up: connections, the fake's keep-alive pools, the services' first statements.
  {
    Progress(absl::StrCat("warm-up: ", flags.warmup, " calls"));
    std::vector<absl::Time> done(static_cast<size_t>(flags.warmup));
    for (int i = 0; i < flags.warmup; ++i) {
      client.Place(Request(absl::StrCat("bench:", run_id, ":warmup:", i), Number(kWarmupNumbers + i)),
                   &done[static_cast<size_t>(i)]);
      absl::SleepFor(absl::Milliseconds(100));
    }
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (incident.count() < static_cast<size_t>(flags.warmup)) {
      if (absl::Now() > deadline) {
        Die(absl::StrCat("warm-up: ", incident.count(), " of ", flags.warmup, " outcomes\n", output()));
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    client.WaitIdle(absl::Seconds(10));
  }
  absl::SleepFor(absl::Milliseconds(500));

  // The run.
  const int total = flags.rate * flags.seconds;
  const size_t n = static_cast<size_t>(total);
  Progress(absl::StrCat("run: ", flags.rate, " calls/s for ", flags.seconds, " s"));
  std::vector<std::string> keys(n);
  std::unordered_map<std::string, size_t> by_number;
  for (size_t i = 0; i < n; ++i) {
    keys[i] = absl::StrCat("bench:", run_id, ":run:", i);
    by_number[Number(kRunNumbers + static_cast<int64_t>(i))] = i;
  }
  std::vector<absl::Time> before(n), placed(n);
  const std::string telephony_metrics_before = Metrics(telephony_metrics_port);
  const std::string edge_metrics_before = Metrics(edge_port);  // the edge serves /metrics on HTTP_PORT
  const Counters c0 = read_counters();
  const absl::Time start = absl::Now() + absl::Milliseconds(5);
  const absl::Duration slot = absl::Seconds(1) / flags.rate;
  int late = 0;
  for (size_t i = 0; i < n; ++i) {
    const absl::Time due = start + slot * static_cast<int64_t>(i);
    const absl::Time now = absl::Now();
    if (now < due) {
      absl::SleepFor(due - now);
    } else if (now - due > absl::Milliseconds(1)) {
      ++late;
    }
    before[i] = absl::Now();
    client.Place(Request(keys[i], Number(kRunNumbers + static_cast<int64_t>(i))), &placed[i]);
  }
  const absl::Time paced_end = absl::Now();
  const size_t expected = n + static_cast<size_t>(flags.warmup);
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (incident.count() < expected && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(2));
  const absl::Time all_done = absl::Now();
  const Counters c1 = read_counters();
  client.WaitIdle(absl::Seconds(10));
  absl::SleepFor(absl::Milliseconds(500));  // late repeats, the last hangups and observations
  const std::string telephony_metrics_after = Metrics(telephony_metrics_port);
  const std::string edge_metrics_after = Metrics(edge_port);

  // Dial latency: the first dial command per number.
  std::vector<std::optional<absl::Time>> dialed(n);
  int64_t dials = 0, commands = 0;
  for (const tx::FakeTelnyx::Command& c : (*telnyx)->Commands()) {
    ++commands;
    if (c.action != "dial") continue;
    ++dials;
    auto it = by_number.find(c.to);
    if (it != by_number.end() && !dialed[it->second].has_value()) dialed[it->second] = c.received_at;
  }
  std::unordered_map<std::string, size_t> by_call;
  for (const tx::FakeTelnyx::Call& c : (*telnyx)->Calls()) {
    auto it = by_number.find(c.to);
    if (it != by_number.end()) by_call[c.call_control_id] = it->second;
  }
  std::vector<std::optional<absl::Time>> gathered(n);
  int64_t webhook_attempts = 0, webhook_failed = 0;
  for (const tx::FakeTelnyx::Webhook& w : (*telnyx)->Webhooks()) {
    ++webhook_attempts;
    if (w.status < 200 || w.status >= 300) ++webhook_failed;
    if (w.event_type != "call.gather.ended" || w.attempt != 1 || w.duplicate) continue;
    auto it = by_call.find(w.call_control_id);
    if (it != by_call.end() && !gathered[it->second].has_value()) gathered[it->second] = w.sent_at;
  }
  std::vector<double> dial_ms, dtmf_ms, place_rpc_ms, whole_ms;
  int64_t missing = 0, not_pressed = 0, no_gather = 0, not_dialed = 0;
  for (size_t i = 0; i < n; ++i) {
    if (placed[i] != absl::Time()) place_rpc_ms.push_back(absl::ToDoubleMilliseconds(placed[i] - before[i]));
    if (dialed[i].has_value()) {
      dial_ms.push_back(absl::ToDoubleMilliseconds(*dialed[i] - before[i]));
    } else {
      ++not_dialed;
    }
    std::optional<FakeIncident::Arrival> outcome = incident.Find(keys[i]);
    if (!outcome.has_value()) {
      ++missing;
      continue;
    }
    if (outcome->outcome != "digit_pressed") ++not_pressed;
    whole_ms.push_back(absl::ToDoubleMilliseconds(outcome->at - before[i]));
    if (gathered[i].has_value()) {
      dtmf_ms.push_back(absl::ToDoubleMilliseconds(outcome->at - *gathered[i]));
    } else {
      ++no_gather;
    }
  }

  // Where the time went, per call, from the services' own timestamps.
  std::map<std::string, std::vector<double>> steps;
  std::string event_kinds;
  {
    const std::string like = absl::StrCat("bench:", run_id, ":run:%");
    absl::StatusOr<pg::Result> kinds = (*stats_pool)->Execute(kEventKinds, {like});
    if (kinds.ok()) {
      for (const auto& row : *kinds) {
        absl::StrAppend(&event_kinds, event_kinds.empty() ? "" : ",", row.Get<std::string>("kind"), ":",
                        row.Get<int64_t>("n"));
      }
    } else {
      Progress(absl::StrCat("call_events: ", kinds.status().ToString()));
    }
    absl::StatusOr<pg::Result> rows = (*stats_pool)->Execute(kSteps, {like});
    if (!rows.ok()) {
      Progress(absl::StrCat("per-call steps: ", rows.status().ToString()));
    } else {
      std::unordered_map<std::string, size_t> by_key;
      for (size_t i = 0; i < n; ++i) by_key[keys[i]] = i;
      for (const auto& row : *rows) {
        auto it = by_key.find(row.Get<std::string>("attempt_key"));
        if (it == by_key.end()) continue;
        const size_t i = it->second;
        // Epoch milliseconds; NaN when a step did not happen.
        auto ms = [&row](const char* column) { return row.GetOptional<double>(column).value_or(kNone); };
        auto at = [](const std::optional<absl::Time>& t) {
          return t.has_value() ? absl::ToDoubleMilliseconds(*t - absl::UnixEpoch()) : kNone;
        };
        auto add = [&steps](const std::string& name, double a, double b) {
          if (!std::isnan(a) && !std::isnan(b)) steps[name].push_back(b - a);
        };
        std::optional<FakeIncident::Arrival> outcome = incident.Find(keys[i]);
        const double before_ms = at(before[i]);
        const double dial_ms_at = at(dialed[i]);
        const double gather_ms_at = at(gathered[i]);
        const double outcome_ms_at =
            at(outcome.has_value() ? std::optional<absl::Time>(outcome->at) : std::nullopt);
        add("step_dial_a_place_to_placed_txn", before_ms, ms("placed_ms"));
        add("step_dial_b_placed_txn_to_dial_requested_txn", ms("placed_ms"), ms("dial_requested_ms"));
        add("step_dial_c_dial_requested_txn_to_fake_dial", ms("dial_requested_ms"), dial_ms_at);
        add("step_dtmf_a_webhook_sent_to_edge_stored_txn", gather_ms_at, ms("edge_stored_ms"));
        add("step_dtmf_b_edge_stored_to_telephony_handled_txn", ms("edge_stored_ms"), ms("handled_ms"));
        // The outcome's outbox row is created in the transaction that handles the event (the same now()).
        add("step_dtmf_c_telephony_handled_txn_to_outcome_arrived", ms("handled_ms"), outcome_ms_at);
        add("step_dtmf_d_outcome_arrived_to_outbox_marked_sent_txn", outcome_ms_at, ms("outbox_sent_ms"));
        add("step_dtmf_edge_stored_to_edge_delivered_txn", ms("edge_stored_ms"), ms("edge_delivered_ms"));
      }
    }
  }

  // Stop; keep what the children wrote.
  edge->Signal(SIGTERM);
  telephony->Signal(SIGTERM);
  edge->WaitExit(std::chrono::milliseconds(10000));
  telephony->WaitExit(std::chrono::milliseconds(10000));
  (*telnyx)->Stop();
  incident_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  const std::string edge_out = edge->Output();
  const std::string telephony_out = telephony->Output();
  if (!flags.log_dir.empty()) {
    std::ofstream(flags.log_dir + "/edge.log") << edge_out;
    std::ofstream(flags.log_dir + "/telephony.log") << telephony_out;
    std::ofstream(flags.log_dir + "/edge-metrics.txt") << edge_metrics_after;
    std::ofstream(flags.log_dir + "/telephony-metrics-before.txt") << telephony_metrics_before;
    std::ofstream(flags.log_dir + "/telephony-metrics.txt") << telephony_metrics_after;
  }

  const double run_seconds = absl::ToDoubleSeconds(all_done - start);
  const double per_call = 1e3 / static_cast<double>(std::max(total, 1));  // ms of CPU per call
  PrintInt("rate", flags.rate);
  PrintInt("calls", total);
  PrintNum("offered_calls_per_s", static_cast<double>(total) / absl::ToDoubleSeconds(paced_end - start), 1);
  PrintInt("late_slots", late);
  PrintNum("time_scale", flags.time_scale, 3);
  PrintDistribution("dial", dial_ms);
  PrintDistribution("dtmf_to_outcome", dtmf_ms);
  PrintDistribution("place_rpc", place_rpc_ms);
  PrintDistribution("place_to_outcome", whole_ms);
  PrintInt("calls_without_outcome", missing);
  PrintInt("duplicate_outcomes", incident.duplicates());
  PrintInt("outcomes_not_digit_pressed", not_pressed);
  PrintInt("calls_not_dialed", not_dialed);
  PrintInt("outcomes_without_gather_webhook", no_gather);
  PrintInt("place_failures", client.failures());
  PrintInt("place_duplicates", client.duplicates());
  PrintInt("fake_dial_commands", dials);
  PrintInt("fake_commands", commands);
  PrintInt("fake_webhook_attempts", webhook_attempts);
  PrintInt("fake_webhook_not_2xx", webhook_failed);
  PrintNum("run_seconds", run_seconds, 2);
  PrintNum("cpu_edge_s", c1.edge - c0.edge);
  PrintNum("cpu_telephony_s", c1.telephony - c0.telephony);
  PrintNum("cpu_postgres_s", c1.postgres - c0.postgres);
  PrintNum("cpu_bench_s", c1.self - c0.self);
  PrintNum("cpu_ms_per_call_edge", (c1.edge - c0.edge) * per_call);
  PrintNum("cpu_ms_per_call_telephony", (c1.telephony - c0.telephony) * per_call);
  if (postmaster > 0) PrintNum("cpu_ms_per_call_postgres", (c1.postgres - c0.postgres) * per_call);
  PrintNum("cpu_ms_per_call_bench", (c1.self - c0.self) * per_call);
  const double ticks = c1.machine.total - c0.machine.total;
  PrintNum("machine_busy", ticks > 0 ? (c1.machine.busy - c0.machine.busy) / ticks : 0.0);
  // What else ran meanwhile (other builds and tests on the machine): its busy CPU seconds minus the above.
  PrintNum("cpu_others_s", (c1.machine.busy - c0.machine.busy) / Ticks() - (c1.edge - c0.edge) -
                               (c1.telephony - c0.telephony) - (c1.postgres - c0.postgres) -
                               (c1.self - c0.self));
  PrintHistogram("service_dial", telephony_metrics_before, telephony_metrics_after, "telephony_dial_seconds");
  PrintHistogram("service_place_call_rpc", telephony_metrics_before, telephony_metrics_after,
                 "grpc_server_handling_seconds", "method=\"PlaceCall\"");
  PrintHistogram("service_handle_call_event_rpc", telephony_metrics_before, telephony_metrics_after,
                 "grpc_server_handling_seconds", "method=\"HandleCallEvent\"");
  PrintHistogram("service_dial_job_lag", telephony_metrics_before, telephony_metrics_after,
                 "scheduler_job_lag_seconds", "kind=\"telephony.dial\"");
  PrintHistogram("service_command_job_lag", telephony_metrics_before, telephony_metrics_after,
                 "scheduler_job_lag_seconds", "kind=\"telephony.command\"");
  for (const auto& [name, values] : steps) PrintDistribution(name, values);
  Print("call_event_kinds", event_kinds);
  PrintInt("edge_log_lines", static_cast<int64_t>(std::count(edge_out.begin(), edge_out.end(), '\n')));
  PrintInt("telephony_log_lines",
           static_cast<int64_t>(std::count(telephony_out.begin(), telephony_out.end(), '\n')));
  Print("load_avg_1m_before", load_before);
  Print("load_avg_1m_after", LoadAverage());
  std::cout.flush();
  (void)edge_metrics_before;
  return missing == 0 && incident.duplicates() == 0 && client.failures() == 0 ? 0 : 1;
}
