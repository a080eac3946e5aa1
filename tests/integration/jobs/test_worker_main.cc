// jobs_test_worker: a real process for the crash tests (process_test.cc). Prints one line per event on stdout
// and runs until SIGTERM (clean stop, exit 0) or SIGKILL.
//
//   jobs_test_worker worker [--schedule=KEY --delay-ms=N]
//       Runs a jobs::Worker on incident.scheduled_actions. Kind "effect" writes a row to jobs_test_effects
//       and completes the job in the same transaction. With --schedule, schedules KEY first ("scheduled
//       <us>").
//   jobs_test_worker outbox [--crash-after-send] [--lease-ms=N]
//       Runs a jobs::OutboxRelay on incident.outbox_messages. Channel "test.effect" applies the message
//       through Inbox::ReceiveOnce on jobs_test_inbox (the effect: a jobs_test_effects row). With
//       --crash-after-send the sender prints "sent <key>" after applying and then hangs, so the test can
//       SIGKILL the process between the receiver's acknowledgement and marking the message sent.
// Environment: DATABASE_URL.
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "libs/jobs/inbox.h"
#include "libs/jobs/job_store.h"
#include "libs/jobs/outbox.h"
#include "libs/jobs/worker.h"
#include "libs/kernel/log.h"
#include "libs/pg/pool.h"

namespace {

using namespace protectogram;  // NOLINT: a test program

constexpr pg::Query kInsertEffect{"test_insert_effect",
                                  "INSERT INTO jobs_test_effects (job_key, ran_at) VALUES ($1, now())"};

void Say(const std::string& line) { std::cout << line << std::endl; }

int Fail(const absl::Status& status) {
  std::cerr << "jobs_test_worker: " << status << std::endl;
  return 1;
}

// Blocks until SIGTERM or SIGINT.
void WaitForTermination() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
}

int RunWorker(pg::Pool& pool, const std::string& url, const std::string& schedule_key, int64_t delay_ms) {
  auto store = jobs::JobStore::Create(pool, {.table = "incident.scheduled_actions"});
  if (!store.ok()) return Fail(store.status());
  if (!schedule_key.empty()) {
    auto scheduled = (*store)->Schedule(
        {.kind = "effect", .key = schedule_key, .delay = absl::Milliseconds(delay_ms), .payload_json = "{}"});
    if (!scheduled.ok()) return Fail(scheduled.status());
    auto job = (*store)->Get(schedule_key);
    if (!job.ok()) return Fail(job.status());
    Say("scheduled " + std::to_string(absl::ToUnixMicros(job->run_at)));
  }
  auto worker =
      jobs::Worker::Create(pool, {.table = "incident.scheduled_actions", .listen_url = url, .threads = 2});
  if (!worker.ok()) return Fail(worker.status());
  (*worker)->Register("effect", [&pool](jobs::JobContext& ctx) -> absl::Status {
    absl::StatusOr<pg::Transaction> txn = pool.Begin();
    if (!txn.ok()) return txn.status();
    if (auto r = txn->Execute(kInsertEffect, {ctx.job().key}); !r.ok()) return r.status();
    if (absl::Status s = ctx.CompleteIn(*txn); !s.ok()) return s;
    if (absl::Status s = txn->Commit(); !s.ok()) return s;
    Say("ran " + ctx.job().key);
    return absl::OkStatus();
  });
  if (absl::Status s = (*worker)->Start(); !s.ok()) return Fail(s);
  Say("ready");
  WaitForTermination();
  (*worker)->Stop();
  Say("stopped");
  return 0;
}

int RunOutbox(pg::Pool& pool, const std::string& url, bool crash_after_send, int64_t lease_ms) {
  auto receiver = jobs::Inbox::Create(pool, {.table = "jobs_test_inbox"});
  if (!receiver.ok()) return Fail(receiver.status());
  auto relay = jobs::OutboxRelay::Create(
      pool, {.table = "incident.outbox_messages",
             .listen_url = url,
             .threads = 1,
             .lease = absl::Milliseconds(lease_ms),
             .retry = jobs::RetryPolicy::Exponential(absl::Milliseconds(100), absl::Milliseconds(500))});
  if (!relay.ok()) return Fail(relay.status());
  (*relay)->RegisterSender("test.effect", [&](const jobs::OutboxMessage& m) -> absl::Status {
    absl::StatusOr<bool> applied = (*receiver)->ReceiveOnce(
        {.provider = "incident", .provider_event_id = m.idempotency_key, .payload = m.payload_json},
        [&](pg::Transaction& txn) { return txn.Execute(kInsertEffect, {m.idempotency_key}).status(); });
    if (!applied.ok()) return applied.status();
    Say("sent " + m.idempotency_key + " applied=" + (*applied ? "1" : "0"));
    if (crash_after_send) {
      // Acknowledged by the receiver, not yet marked sent: the test kills us here.
      while (true) std::this_thread::sleep_for(std::chrono::hours(1));
    }
    return absl::OkStatus();
  });
  if (absl::Status s = (*relay)->Start(); !s.ok()) return Fail(s);
  Say("ready");
  WaitForTermination();
  (*relay)->Stop();
  Say("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // SIGTERM/SIGINT are taken with sigwait; block them in every thread before any is started.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  kernel::InitLogging("jobs_test_worker", "warn");
  if (argc < 2) {
    std::cerr << "usage: jobs_test_worker worker|outbox [flags]" << std::endl;
    return 2;
  }
  const std::string mode = argv[1];
  std::string schedule_key;
  int64_t delay_ms = 0;
  int64_t lease_ms = 1000;
  bool crash_after_send = false;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (absl::StartsWith(arg, "--schedule=")) {
      schedule_key = arg.substr(11);
    } else if (absl::StartsWith(arg, "--delay-ms=") && absl::SimpleAtoi(arg.substr(11), &delay_ms)) {
    } else if (absl::StartsWith(arg, "--lease-ms=") && absl::SimpleAtoi(arg.substr(11), &lease_ms)) {
    } else if (arg == "--crash-after-send") {
      crash_after_send = true;
    } else {
      std::cerr << "jobs_test_worker: unknown argument " << arg << std::endl;
      return 2;
    }
  }
  const char* url = std::getenv("DATABASE_URL");
  if (url == nullptr) {
    std::cerr << "jobs_test_worker: DATABASE_URL is not set" << std::endl;
    return 2;
  }
  auto pool = pg::Pool::Create({.url = url, .size = 6});
  if (!pool.ok()) return Fail(pool.status());
  if (mode == "worker") return RunWorker(**pool, url, schedule_key, delay_ms);
  if (mode == "outbox") return RunOutbox(**pool, url, crash_after_send, lease_ms);
  std::cerr << "jobs_test_worker: unknown mode " << mode << std::endl;
  return 2;
}
