// What every service process runs besides its own gRPC API: a Postgres pool (readiness follows Ping), its
// durable-job worker and, when the service sends commands, its outbox relay, the JobsAdminService on its job
// table, and an inbox for events other processes deliver to it. All of it is wired into a kernel::ServiceHost
// so that start, readiness and graceful shutdown follow the host's order.
//
//   auto host = kernel::ServiceHost::CreateOrExit(argc, argv, kernel::IncidentDefaults());
//   auto runtime = services::DurableRuntime::CreateOrExit(*host, {.job_table = "incident.scheduled_actions",
//                                                                .outbox_table = "incident.outbox_messages",
//                                                                .inbox_table = "incident.inbox_events"});
//   runtime->worker().Register("cascade_step", ...);   // before Run
//   return host->Run();
#pragma once

#include <google/protobuf/message.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "libs/jobs/admin_service.h"
#include "libs/jobs/inbox.h"
#include "libs/jobs/job_store.h"
#include "libs/jobs/outbox.h"
#include "libs/jobs/worker.h"
#include "libs/kernel/host.h"
#include "libs/pg/pool.h"

namespace protectogram::services {

struct DurableRuntimeOptions {
  std::string job_table;     // "incident.scheduled_actions", "notification.jobs", ...
  std::string outbox_table;  // "" when the service sends no commands
  std::string inbox_table;   // "" when nothing is delivered to the service as events
  int worker_threads = 2;
  // A claimed job whose process vanished runs again after this (WorkerOptions::lease).
  absl::Duration worker_lease = absl::Seconds(60);
  // The outbox relay's options when the defaults do not fit (more senders, pacing, a longer lease); the
  // runtime fills in table, listen_url and metrics.
  std::optional<jobs::OutboxRelayOptions> relay;
  // NOTIFY the relays at each enqueue's commit. Postgres serializes every commit that NOTIFYs (one lock on the
  // notification queue), so a service that enqueues on its request path and wakes its own relay in-process
  // turns it off and lets the other replicas find its rows by their rescan (OutboxRelayOptions).
  bool outbox_notify = true;
};

class DurableRuntime {
 public:
  // Builds the pieces and registers them with `host` (readiness probe, admin service, components).
  // Exits the process with one line (exit 2) when the configuration cannot work (a malformed URL).
  static std::unique_ptr<DurableRuntime> CreateOrExit(kernel::ServiceHost& host,
                                                      DurableRuntimeOptions options);

  pg::Pool& pool() { return *pool_; }
  jobs::JobStore& job_store() { return *job_store_; }
  jobs::Worker& worker() { return *worker_; }
  jobs::Outbox* outbox() { return outbox_.get(); }
  jobs::OutboxRelay* outbox_relay() { return relay_.get(); }

  using Effect = jobs::Inbox::Effect;

  // Records one delivered event in the service's inbox and applies `effect` in the same transaction, exactly
  // once: (source, event_key) is unique. Returns true the first time, false for a repeat (acknowledge it,
  // change nothing). The event is kept as JSON for the timeline and for replays. INVALID_ARGUMENT for an
  // empty key; UNAVAILABLE when Postgres is down (the sender retries); an error of `effect` rolls everything
  // back. FAILED_PRECONDITION if the service has no inbox. jobs::Inbox::ReceiveOnce does the work.
  absl::StatusOr<bool> ReceiveOnce(std::string_view source, std::string_view event_key,
                                   const google::protobuf::Message& event, const Effect& effect = nullptr);

 private:
  DurableRuntime() = default;

  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<jobs::JobStore> job_store_;
  std::unique_ptr<jobs::Worker> worker_;
  std::unique_ptr<jobs::Outbox> outbox_;
  std::unique_ptr<pg::Pool> relay_pool_;  // declared before relay_: outlives it
  std::unique_ptr<jobs::OutboxRelay> relay_;
  std::unique_ptr<jobs::Inbox> inbox_;
  std::unique_ptr<jobs::JobsAdminService> admin_;
};

}  // namespace protectogram::services
