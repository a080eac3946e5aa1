// notification_bench: how fast two real protectogram-notification replicas deliver messages to the fake Bot
// API, and how late a message arrives at a steady offered rate (docs/benchmarks.md, "Notification delivery";
// run by tests/load/notification/run.sh, which measures pgbench's insert ceiling beside it).
//
//   notification_bench --database-url=postgresql://protectogram_notification@127.0.0.1:55433/db
//     [--stats-url=postgresql://postgres@127.0.0.1:55433/db] [--binary=build/bin/protectogram-notification]
//
// It starts a FakeBotApi (libs/providers/telegram/fake_bot_api.h) and --replicas (2) protectogram-notification
// processes on the same database with NOTIFY_PACING=false and NOTIFY_SEND_THREADS=--send-threads (8); any
// NOTIFY_* or DB_POOL_SIZE variable in this program's environment is passed on and wins. Then:
//   warm-up:    --warmup (200) messages, waited for;
//   throughput: --messages (20,000) Sends to distinct chats, --inflight (128) at a time over the replicas
//               (gRPC async, round robin); from the first Send until the fake has accepted all of them;
//   latency:    --rate (1,000) messages/s for --latency-seconds (10), open loop (each Send at its slot, not
//               waiting for the previous); per message, the fake's received_at minus the time taken just
//               before its Send, both on this process's clock.
// Around each phase: CPU seconds of the replicas, of Postgres (the postmaster and its children, when
// --stats-url can read data_directory) and of this process (the fake and the gRPC clients); the machine's
// busy share (/proc/stat); write transactions (txid_current) and WAL bytes per message. The replicas'
// notification_delivery_seconds over the latency phase is read from their /metrics beside the bench's own.
// --log-dir keeps what the replicas logged. Prints key=value lines on stdout; progress goes to stderr. Exits 1
// if a phase does not complete or a Send failed for good (each is retried 5 times, same idempotency key).
#include <dirent.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/pg/pool.h"
#include "libs/providers/telegram/fake_bot_api.h"
#include "protectogram/notification/v1/notification.grpc.pb.h"
#include "tests/support/bench_support.h"
#include "tests/support/child_process.h"

#ifndef NOTIFICATION_BINARY
#define NOTIFICATION_BINARY "build/bin/protectogram-notification"
#endif

namespace {

using protectogram::testing::Add;
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
namespace v1 = protectogram::notification::v1;
namespace tg = providers::telegram;

constexpr char kToken[] = "111:bench-token";
// Chat ids by phase: nothing is ever limited per chat, even if pacing were on.
constexpr int64_t kWarmupChats = 3'000'000;
constexpr int64_t kThroughputChats = 1'000'000;
constexpr int64_t kLatencyChats = 2'000'000;

struct Flags {
  std::string database_url;
  std::string stats_url;
  std::string binary = NOTIFICATION_BINARY;
  int replicas = 2;
  int send_threads = 8;
  int messages = 20'000;
  int inflight = 128;
  int rate = 1000;
  int latency_seconds = 10;
  int warmup = 200;
  int fake_threads = 0;  // 0: max(16, replicas * send_threads)
  std::string log_dir;   // the replicas' output goes to <log_dir>/replica-<n>.log at the end
};

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  if (const char* url = std::getenv("DATABASE_URL"); url != nullptr) f.database_url = url;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    if (!absl::StartsWith(arg, "--") || eq == std::string::npos) Die("flags are --name=value, got " + arg);
    const std::string name = arg.substr(2, eq - 2);
    const std::string value = arg.substr(eq + 1);
    auto integer = [&](int* out) {
      if (!absl::SimpleAtoi(value, out) || *out < 0) Die("--" + name + " needs a number, got " + value);
    };
    if (name == "database-url") {
      f.database_url = value;
    } else if (name == "stats-url") {
      f.stats_url = value;
    } else if (name == "binary") {
      f.binary = value;
    } else if (name == "replicas") {
      integer(&f.replicas);
    } else if (name == "send-threads") {
      integer(&f.send_threads);
    } else if (name == "messages") {
      integer(&f.messages);
    } else if (name == "inflight") {
      integer(&f.inflight);
    } else if (name == "rate") {
      integer(&f.rate);
    } else if (name == "latency-seconds") {
      integer(&f.latency_seconds);
    } else if (name == "warmup") {
      integer(&f.warmup);
    } else if (name == "log-dir") {
      f.log_dir = value;
    } else if (name == "fake-threads") {
      integer(&f.fake_threads);
    } else {
      Die("unknown flag --" + name);
    }
  }
  if (f.database_url.empty()) Die("give --database-url (or DATABASE_URL)");
  if (f.stats_url.empty()) f.stats_url = f.database_url;
  if (f.replicas > 64) Die("at most 64 replicas");  // AdoptChild's limit
  if (f.replicas < 1 || f.send_threads < 1 || f.inflight < 1 || f.rate < 1) Die("counts must be at least 1");
  if (f.fake_threads == 0) f.fake_threads = std::max(16, f.replicas * f.send_threads);
  return f;
}

// ---- CPU and database counters -----------------------------------------------------------------------------

struct Counters {
  absl::Time at;
  double replicas_cpu = 0, postgres_cpu = 0, self_cpu = 0;
  MachineCpu machine;
  int64_t xid = 0, wal_bytes = 0;
};

constexpr pg::Query kDbCounters{
    "bench_counters",
    "SELECT txid_current() AS xid, (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint AS wal_bytes"};

class Probe {
 public:
  Probe(pg::Pool& stats, std::vector<std::unique_ptr<testing::ChildProcess>>& replicas)
      : stats_(stats), replicas_(replicas) {
    postmaster_ = Postmaster(stats_);
    if (postmaster_ <= 0) Progress("Postgres's postmaster.pid is not readable: its CPU is not measured");
  }

  Counters Read() {
    Counters c;
    absl::StatusOr<pg::Result> r = stats_.Execute(kDbCounters);
    if (!r.ok()) Die(absl::StrCat("reading the database counters: ", r.status().ToString()));
    c.xid = r->front().Get<int64_t>("xid");
    c.wal_bytes = r->front().Get<int64_t>("wal_bytes");
    c.at = absl::Now();
    for (auto& p : replicas_) c.replicas_cpu += p->CpuSeconds();
    c.postgres_cpu = PostgresCpuSeconds(postmaster_);
    c.self_cpu = SelfCpuSeconds();
    c.machine = ReadMachineCpu();
    return c;
  }

  bool postgres_measured() const { return postmaster_ > 0; }

 private:
  pg::Pool& stats_;
  std::vector<std::unique_ptr<testing::ChildProcess>>& replicas_;
  pid_t postmaster_ = 0;
};

void PrintCosts(const std::string& phase, const Counters& a, const Counters& b, int64_t messages,
                bool postgres_measured) {
  const double per = 1e6 / static_cast<double>(std::max<int64_t>(messages, 1));
  PrintNum(phase + "_cpu_us_per_message_replicas", (b.replicas_cpu - a.replicas_cpu) * per, 1);
  if (postgres_measured)
    PrintNum(phase + "_cpu_us_per_message_postgres", (b.postgres_cpu - a.postgres_cpu) * per, 1);
  PrintNum(phase + "_cpu_us_per_message_bench", (b.self_cpu - a.self_cpu) * per, 1);
  const double total = b.machine.total - a.machine.total;
  PrintNum(phase + "_machine_busy", total > 0 ? (b.machine.busy - a.machine.busy) / total : 0.0);
  // Each counter read takes one xid itself.
  PrintNum(phase + "_write_xacts_per_message",
           static_cast<double>(b.xid - a.xid - 1) / static_cast<double>(std::max<int64_t>(messages, 1)));
  PrintNum(
      phase + "_wal_bytes_per_message",
      static_cast<double>(b.wal_bytes - a.wal_bytes) / static_cast<double>(std::max<int64_t>(messages, 1)),
      0);
}

// ---- the replicas ------------------------------------------------------------------------------------------

struct Replica {
  std::unique_ptr<testing::ChildProcess> process;
  int grpc_port = 0;
  int metrics_port = 0;
};

std::map<std::string, std::string> ReplicaEnv(const Flags& f, const std::string& api, int grpc_port,
                                              int metrics_port) {
  std::map<std::string, std::string> env = {{"APP_ENV", "dev"},
                                            {"LOG_LEVEL", "warn"},
                                            {"DATABASE_URL", f.database_url},
                                            {"GRPC_PORT", std::to_string(grpc_port)},
                                            {"METRICS_PORT", std::to_string(metrics_port)},
                                            {"TELEGRAM_BOT_TOKEN", kToken},
                                            {"TELEGRAM_WEBHOOK_SECRET", "bench-secret"},
                                            {"TELEGRAM_API_BASE_URL", api},
                                            {"INCIDENT_ADDR", "127.0.0.1:1"},
                                            {"NOTIFY_PACING", "false"},
                                            {"NOTIFY_SEND_THREADS", std::to_string(f.send_threads)}};
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    const std::string name = kv.substr(0, eq);
    if (absl::StartsWith(name, "NOTIFY_") || name == "DB_POOL_SIZE") env[name] = kv.substr(eq + 1);
  }
  return env;
}

void WaitReady(Replica& r) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    if (testing::HttpGet(r.metrics_port, "/health/ready") == 200) return;
    if (r.process->WaitExit(std::chrono::milliseconds(20)).has_value()) {
      Die("a replica exited at start:\n" + r.process->Output());
    }
  }
  Die("a replica did not become ready in 30 s:\n" + r.process->Output());
}

// ---- the gRPC clients --------------------------------------------------------------------------------------

// Async Sends over one channel (and one completion thread) per replica, at most `max_inflight` outstanding.
class SendClient {
 public:
  SendClient(const std::vector<Replica>& replicas, int max_inflight) : max_inflight_(max_inflight) {
    for (const Replica& r : replicas) {
      auto target = std::make_unique<Target>();
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      target->stub = v1::NotificationService::NewStub(grpc::CreateCustomChannel(
          absl::StrCat("127.0.0.1:", r.grpc_port), grpc::InsecureChannelCredentials(), args));
      targets_.push_back(std::move(target));
    }
    for (auto& t : targets_) {
      Target* target = t.get();
      target->thread = std::thread([this, target] { Drain(*target); });
    }
  }
  ~SendClient() {
    for (auto& t : targets_) t->cq.Shutdown();
    for (auto& t : targets_) t->thread.join();
  }

  void SetMaxInflight(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    max_inflight_ = n;
  }

  // Blocks while max_inflight calls are outstanding. When `done_at` is given, the call's completion time is
  // stored at `(*done_at)[index]`.
  void Send(size_t replica, v1::SendRequest request, std::vector<absl::Time>* done_at = nullptr,
            size_t index = 0) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return inflight_ < max_inflight_; });
      ++inflight_;
    }
    auto* call = new Call{.target = targets_[replica % targets_.size()].get(),
                          .request = std::move(request),
                          .done_at = done_at,
                          .index = index};
    Start(call);
  }

  // Waits until nothing is outstanding; false after `timeout`.
  bool WaitIdle(absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [this] { return inflight_ == 0; });
  }

  absl::Time last_done() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_done_;
  }
  int64_t failures() const { return failures_.load(); }
  int64_t retries() const { return retries_.load(); }
  int64_t duplicates() const { return duplicates_.load(); }

 private:
  struct Target {
    std::unique_ptr<v1::NotificationService::Stub> stub;
    grpc::CompletionQueue cq;
    std::thread thread;
  };
  struct Call {
    Target* target = nullptr;
    v1::SendRequest request;
    std::vector<absl::Time>* done_at = nullptr;
    size_t index = 0;
    int attempt = 0;
    std::unique_ptr<grpc::ClientContext> context;
    v1::SendResponse response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::SendResponse>> reader;
  };

  static void Start(Call* call) {
    call->context = std::make_unique<grpc::ClientContext>();
    call->context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    call->context->set_wait_for_ready(true);
    call->response.Clear();
    call->reader =
        call->target->stub->PrepareAsyncSend(call->context.get(), call->request, &call->target->cq);
    call->reader->StartCall();
    call->reader->Finish(&call->response, &call->status, call);
  }

  void Drain(Target& target) {
    void* tag = nullptr;
    bool ok = false;
    while (target.cq.Next(&tag, &ok)) {
      auto* call = static_cast<Call*>(tag);
      if ((!ok || !call->status.ok()) && call->attempt < 5) {
        ++call->attempt;
        ++retries_;
        Start(call);  // the same idempotency key: a repeat of a stored message is a duplicate, never two
        continue;
      }
      const absl::Time now = absl::Now();
      if (!ok || !call->status.ok()) {
        if (failures_++ < 5) Progress("Send failed: " + call->status.error_message());
      } else if (call->response.duplicate()) {
        ++duplicates_;
      }
      if (call->done_at != nullptr) (*call->done_at)[call->index] = now;
      delete call;
      {
        std::lock_guard<std::mutex> lock(mu_);
        --inflight_;
        last_done_ = std::max(last_done_, now);
      }
      cv_.notify_all();
    }
  }

  std::vector<std::unique_ptr<Target>> targets_;
  std::mutex mu_;
  std::condition_variable cv_;
  int max_inflight_ ABSL_GUARDED_BY(mu_);
  int inflight_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_done_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> failures_{0}, retries_{0}, duplicates_{0};
};

v1::SendRequest Message(const std::string& phase, int64_t chat) {
  v1::SendRequest r;
  r.set_idempotency_key(absl::StrCat("bench:", phase, ":", chat));
  r.set_chat_id(std::to_string(chat));
  r.set_text(absl::StrCat("Benchmark message ", chat, ": your guardian alert would read like this."));
  return r;
}

// ---- counting what the fake accepted -----------------------------------------------------------------------

// Accepted sendMessage calls to chats [base, base + n), counted once per chat; scans each call once, stopping
// at the first still in flight.
class Tally {
 public:
  Tally(int64_t base, int64_t n) : base_(base), seen_(static_cast<size_t>(n), 0) {}
  void Scan(const std::vector<tg::FakeBotApi::Call>& calls) {
    for (; cursor_ < calls.size(); ++cursor_) {
      const tg::FakeBotApi::Call& c = calls[cursor_];
      if (c.status == 0 && !c.finished) return;  // in flight
      if (!c.accepted || c.method != "sendMessage") continue;
      int64_t chat = 0;
      if (!absl::SimpleAtoi(c.chat_id, &chat)) continue;
      const int64_t i = chat - base_;
      if (i < 0 || i >= static_cast<int64_t>(seen_.size())) continue;
      if (seen_[static_cast<size_t>(i)]++ == 0) {
        ++distinct_;
      } else {
        ++repeated_;
      }
    }
  }
  int64_t distinct() const { return distinct_; }
  int64_t repeated() const { return repeated_; }
  bool complete() const { return distinct_ == static_cast<int64_t>(seen_.size()); }

 private:
  int64_t base_;
  std::vector<char> seen_;
  size_t cursor_ = 0;
  int64_t distinct_ = 0, repeated_ = 0;
};

// Polls the fake every millisecond until every message of the tally arrived; the time it saw the last one,
// or nullopt after `timeout`.
std::optional<absl::Time> WaitAccepted(tg::FakeBotApi& api, Tally& tally, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    api.WaitForCalls(
        [&tally](const std::vector<tg::FakeBotApi::Call>& calls) {
          tally.Scan(calls);
          return true;
        },
        absl::ZeroDuration());
    const absl::Time now = absl::Now();
    if (tally.complete()) return now;
    if (now > deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(1));
  }
}

// ---- the service's own histogram ---------------------------------------------------------------------------

// notification_delivery_seconds buckets (upper bound -> cumulative count), summed over the replicas.
Histogram ReadHistogram(const std::vector<Replica>& replicas) {
  Histogram h;
  for (const Replica& r : replicas) {
    std::string body;
    if (testing::HttpGet(r.metrics_port, "/metrics", &body) != 200) continue;
    Add(h, ParseHistogram(body, "notification_delivery_seconds"));
  }
  return h;
}

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(q * static_cast<double>(sorted.size())));
  return sorted[i];
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  protectogram::testing::SetProgramName("notification_bench");
  protectogram::testing::KillChildrenOnSignals();
  const Flags flags = ParseFlags(argc, argv);
  const std::string load_before = LoadAverage();

  auto api = tg::FakeBotApi::Start({.bots = {{kToken, "bench_bot"}}, .handler_threads = flags.fake_threads});
  if (!api.ok()) Die(absl::StrCat("fake Bot API: ", api.status().ToString()));

  std::vector<Replica> replicas(static_cast<size_t>(flags.replicas));
  for (Replica& r : replicas) {
    r.grpc_port = testing::FreePort();
    r.metrics_port = testing::FreePort();
    while (r.metrics_port == r.grpc_port) r.metrics_port = testing::FreePort();
    r.process = std::make_unique<testing::ChildProcess>(
        flags.binary, std::vector<std::string>{},
        ReplicaEnv(flags, (*api)->base_url(), r.grpc_port, r.metrics_port));
    AdoptChild(r.process->pid());
  }
  for (Replica& r : replicas) WaitReady(r);
  Progress(absl::StrCat(flags.replicas, " replicas ready, ", flags.send_threads, " send threads each"));

  absl::StatusOr<std::unique_ptr<pg::Pool>> stats_pool =
      pg::Pool::Create({.url = flags.stats_url, .size = 1});
  if (!stats_pool.ok()) Die(absl::StrCat("--stats-url: ", stats_pool.status().ToString()));
  std::vector<std::unique_ptr<testing::ChildProcess>> processes;
  for (Replica& r : replicas) processes.push_back(std::move(r.process));
  Probe probe(**stats_pool, processes);
  auto output = [&processes] {
    std::string out;
    for (auto& p : processes) out += p->Output();
    return out;
  };

  SendClient client(replicas, flags.inflight);

  // Warm-up: connections, prepared statements, the fake's keep-alive pool.
  {
    Tally tally(kWarmupChats, flags.warmup);
    for (int i = 0; i < flags.warmup; ++i)
      client.Send(static_cast<size_t>(i), Message("warmup", kWarmupChats + i));
    if (!WaitAccepted(**api, tally, absl::Seconds(30)).has_value())
      Die("warm-up did not complete:\n" + output());
    client.WaitIdle(absl::Seconds(10));
  }
  absl::SleepFor(absl::Milliseconds(500));

  // Throughput.
  Progress(absl::StrCat("throughput: ", flags.messages, " messages, ", flags.inflight, " Sends in flight"));
  Tally tally(kThroughputChats, flags.messages);
  const Counters t0 = probe.Read();
  const absl::Time start = absl::Now();
  for (int i = 0; i < flags.messages; ++i) {
    client.Send(static_cast<size_t>(i), Message("throughput", kThroughputChats + i));
  }
  const std::optional<absl::Time> all_accepted = WaitAccepted(**api, tally, absl::Seconds(120));
  if (!all_accepted.has_value()) {
    Die(absl::StrCat("throughput: only ", tally.distinct(), " of ", flags.messages, " arrived\n", output()));
  }
  const Counters t1 = probe.Read();
  client.WaitIdle(absl::Seconds(10));
  const double seconds = absl::ToDoubleSeconds(*all_accepted - start);
  const double sends_seconds = absl::ToDoubleSeconds(client.last_done() - start);

  absl::SleepFor(absl::Seconds(1));

  // Latency at a fixed offered rate.
  const int total = flags.rate * flags.latency_seconds;
  Progress(absl::StrCat("latency: ", flags.rate, " messages/s for ", flags.latency_seconds, " s"));
  client.SetMaxInflight(1 << 20);
  Tally latency_tally(kLatencyChats, total);
  std::vector<absl::Time> enqueued(static_cast<size_t>(total));
  std::vector<absl::Time> send_done(static_cast<size_t>(total));
  const Histogram h0 = ReadHistogram(replicas);
  const Counters l0 = probe.Read();
  const absl::Time paced_start = absl::Now() + absl::Milliseconds(5);
  const absl::Duration slot = absl::Seconds(1) / flags.rate;
  int late = 0;
  for (int i = 0; i < total; ++i) {
    const absl::Time due = paced_start + slot * i;
    const absl::Time now = absl::Now();
    if (now < due) {
      absl::SleepFor(due - now);
    } else if (now - due > absl::Milliseconds(1)) {
      ++late;
    }
    enqueued[static_cast<size_t>(i)] = absl::Now();
    client.Send(static_cast<size_t>(i), Message("latency", kLatencyChats + i), &send_done,
                static_cast<size_t>(i));
  }
  const absl::Time paced_end = absl::Now();
  if (!WaitAccepted(**api, latency_tally, absl::Seconds(60)).has_value()) {
    Die(absl::StrCat("latency: only ", latency_tally.distinct(), " of ", total, " arrived\n", output()));
  }
  const Counters l1 = probe.Read();
  client.WaitIdle(absl::Seconds(10));
  absl::SleepFor(absl::Milliseconds(200));  // the last observations reach the histograms
  const Histogram h1 = ReadHistogram(replicas);

  std::vector<double> latencies_ms, send_ms;
  std::vector<char> matched(static_cast<size_t>(total), 0);
  for (const tg::FakeBotApi::Call& c : (*api)->Calls()) {
    int64_t chat = 0;
    if (!c.accepted || c.method != "sendMessage" || !absl::SimpleAtoi(c.chat_id, &chat)) continue;
    const int64_t i = chat - kLatencyChats;
    if (i < 0 || i >= total || matched[static_cast<size_t>(i)]++ != 0) continue;
    latencies_ms.push_back(absl::ToDoubleMilliseconds(c.received_at - enqueued[static_cast<size_t>(i)]));
  }
  for (int i = 0; i < total; ++i) {
    send_ms.push_back(
        absl::ToDoubleMilliseconds(send_done[static_cast<size_t>(i)] - enqueued[static_cast<size_t>(i)]));
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  std::sort(send_ms.begin(), send_ms.end());
  double mean = 0;
  for (double v : latencies_ms) mean += v;
  mean /= static_cast<double>(std::max<size_t>(latencies_ms.size(), 1));

  for (auto& p : processes) p->Signal(SIGTERM);
  for (auto& p : processes) p->WaitExit(std::chrono::milliseconds(10000));
  (*api)->Stop();
  // What the replicas logged (LOG_LEVEL=warn: only warnings and errors), kept when --log-dir is given.
  int64_t log_lines = 0;
  for (size_t i = 0; i < processes.size(); ++i) {
    const std::string out = processes[i]->Output();
    log_lines += static_cast<int64_t>(std::count(out.begin(), out.end(), '\n'));
    if (!flags.log_dir.empty()) {
      std::ofstream(absl::StrCat(flags.log_dir, "/replica-", i, ".log")) << out;
    }
  }

  PrintInt("replicas", flags.replicas);
  PrintInt("send_threads", flags.send_threads);
  PrintInt("throughput_messages", flags.messages);
  PrintInt("throughput_inflight", flags.inflight);
  PrintNum("throughput_seconds", seconds, 3);
  PrintNum("throughput_messages_per_s", static_cast<double>(flags.messages) / seconds, 0);
  PrintNum("throughput_sends_answered_per_s", static_cast<double>(flags.messages) / sends_seconds, 0);
  PrintInt("throughput_repeated_deliveries", tally.repeated());
  PrintCosts("throughput", t0, t1, flags.messages, probe.postgres_measured());
  PrintInt("latency_rate", flags.rate);
  PrintInt("latency_messages", total);
  PrintNum("latency_offered_per_s",
           static_cast<double>(total) / absl::ToDoubleSeconds(paced_end - paced_start), 0);
  PrintInt("latency_late_slots", late);
  PrintNum("latency_p50_ms", Percentile(latencies_ms, 0.50));
  PrintNum("latency_p90_ms", Percentile(latencies_ms, 0.90));
  PrintNum("latency_p99_ms", Percentile(latencies_ms, 0.99));
  PrintNum("latency_max_ms", latencies_ms.empty() ? 0.0 : latencies_ms.back());
  PrintNum("latency_mean_ms", mean);
  PrintNum("latency_send_rpc_p50_ms", Percentile(send_ms, 0.50));
  PrintNum("latency_send_rpc_p99_ms", Percentile(send_ms, 0.99));
  PrintInt("latency_repeated_deliveries", latency_tally.repeated());
  if (h1.count > h0.count) {
    PrintInt("service_delivery_count", static_cast<int64_t>(h1.count - h0.count));
    PrintNum("service_delivery_mean_ms", (h1.sum - h0.sum) / (h1.count - h0.count) * 1000);
    PrintNum("service_delivery_p50_le_ms", BucketQuantile(h0, h1, 0.50) * 1000);
    PrintNum("service_delivery_p99_le_ms", BucketQuantile(h0, h1, 0.99) * 1000);
  }
  PrintCosts("latency", l0, l1, total, probe.postgres_measured());
  PrintInt("replica_log_lines", log_lines);
  PrintInt("send_failures", client.failures());
  PrintInt("send_retries", client.retries());
  PrintInt("send_duplicates", client.duplicates());
  Print("load_avg_1m_before", load_before);
  Print("load_avg_1m_after", LoadAverage());
  std::cout.flush();
  return client.failures() == 0 ? 0 : 1;
}
