// ServiceHost: everything a process's main needs besides its own domain — command line, config, logging,
// metrics and health endpoints, the gRPC server, readiness, signals and an ordered, bounded shutdown. It
// knows nothing of Postgres: the service passes a readiness probe.
//
// A service's whole main (services/incident/main.cc):
//
//   int main(int argc, char** argv) {
//     using namespace protectogram;
//     auto host = kernel::ServiceHost::CreateOrExit(argc, argv, kernel::IncidentDefaults());
//     auto runtime = services::DurableRuntime::CreateOrExit(
//         *host, {.job_table = "incident.scheduled_actions",
//                 .outbox_table = "incident.outbox_messages",
//                 .inbox_table = "incident.inbox_events"});
//     incident::IncidentGrpc api(*runtime);
//     host->AddGrpcService(&api);
//     return host->Run();  // 0 after a clean shutdown, 1 if something could not start
//   }
//
// CreateOrExit is the first line of main: it blocks SIGTERM/SIGINT before any thread exists, handles --help
// and --version, loads ProcessConfig (exit 2 with one "config error: ..." line) and starts JSON logging.
//
// --check-config (libs/kernel/config.h): CreateOrExit loads and checks ProcessConfig as always but logs only
// errors, and Run() prints "config ok" and returns 0 without starting anything. So whatever a main checks
// before Run() (its own config loader, DurableRuntime's DATABASE_URL, telephony's providers, ...) is checked
// by --check-config too, and a failure prints the same "config error: ..." line (exit 2). This relies on a
// main only wiring before Run(): building pools, channels and clients, which connect lazily, never
// connecting or serving. A main that must do I/O before Run() calls ExitIfCheckingConfig() before it.
// DurableRuntime (services/common/durable_runtime.h) adds everything that needs Postgres: the pool and the
// readiness probe on it, the job worker and the outbox relay as components, the service's inbox, and the
// JobsAdminService.
//
// Run() in order: readiness probe once, then polled; ops HTTP (METRICS_PORT: /metrics, /health/live,
// /health/ready) when the process has METRICS_PORT; components in the order added; the gRPC server (with
// Health, reflection, metrics) when the process has GRPC_PORT; logs "ready" with the ports and startup_ms
// (process start to ready). Then waits for SIGTERM/SIGINT (or RequestShutdown), logs "stopping", and shuts
// down within SHUTDOWN_GRACE_MS: readiness turns false (503 / NOT_SERVING), gRPC stops accepting and drains,
// components stop in reverse order, the ops HTTP server stops last; logs "stopped". A second signal during
// the drain, or a drain that overruns the grace by 2 s, ends the process at once with exit code 1.
//
// The edge (no gRPC, metrics on HTTP_PORT) adds kernel::AddOpsRoutes(router, &host->metrics(),
// &host->readiness(), config.metrics_enabled) to its own router and runs its http::Server as a component.
#pragma once

#include <grpcpp/impl/codegen/service_type.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/kernel/config.h"
#include "libs/kernel/grpc_host.h"
#include "libs/kernel/metrics.h"
#include "libs/kernel/ops_http.h"
#include "libs/kernel/readiness.h"
#include "libs/kernel/shutdown.h"

namespace protectogram::kernel {

class ServiceHost {
 public:
  // See the example above. Never returns on --help/--version (exit 0), on a bad argument or a config error
  // (one line on stderr, exit 2).
  static std::unique_ptr<ServiceHost> CreateOrExit(int argc, char** argv, const ServiceDefaults& defaults);
  // The same without the command line and without exiting (tests): INVALID_ARGUMENT from LoadProcessConfig.
  // Also blocks SIGTERM/SIGINT in the calling thread, inits logging and registers secrets from `env`.
  // `check_config` is --check-config (see above).
  static absl::StatusOr<std::unique_ptr<ServiceHost>> Create(const Env& env, const ServiceDefaults& defaults,
                                                             bool check_config = false);

  ~ServiceHost();
  ServiceHost(const ServiceHost&) = delete;
  ServiceHost& operator=(const ServiceHost&) = delete;

  const ProcessConfig& config() const { return config_; }
  // --check-config was given: the configuration is being checked, nothing is to be started.
  bool checking_config() const { return check_config_; }
  // Under --check-config: prints "config ok" and exits 0 (a main that must do I/O before Run() calls it
  // first). Otherwise returns at once.
  void ExitIfCheckingConfig() const;
  MetricsRegistry& metrics() { return DefaultMetrics(); }
  // The readiness verdict that Health and /health/ready report.
  Readiness& readiness() { return readiness_; }

  // Before Run/Start. The probe is run once at start and then every `interval` on a background thread.
  void SetReadinessProbe(Readiness::Probe probe, absl::Duration interval = absl::Seconds(1));
  // A gRPC service (not owned; must outlive the host). The process must have GRPC_PORT (ServiceDefaults).
  void AddGrpcService(grpc::Service* service);
  // Something with a lifetime of its own (job workers, a relay, the edge's HTTP server). `start` runs at
  // start in the order added (an error stops the start-up); `stop` gets the shutdown deadline and runs after
  // gRPC has drained, in reverse order. Either may be null.
  void AddComponent(std::string name, std::function<absl::Status()> start,
                    std::function<void(absl::Time deadline)> stop);

  // Start, wait for a signal or RequestShutdown, Shutdown. Returns main's exit code: 0 after a clean
  // shutdown, 1 when something could not start (logged as "start failed"). Under --check-config: prints
  // "config ok" and returns 0 at once, starting nothing.
  int Run();

  // The pieces of Run, for tests. Start returns the first error (UNAVAILABLE for a port in use,
  // FAILED_PRECONDITION for gRPC services without GRPC_PORT, a component's own error).
  absl::Status Start();
  // Wakes Run (and WaitForShutdownRequest) as a signal would. Any thread.
  void RequestShutdown(const std::string& reason = "requested");
  // Blocks until SIGTERM/SIGINT or RequestShutdown; returns what it was ("SIGTERM", ...).
  std::string WaitForShutdownRequest() { return signal_.Wait(); }
  // The ordered shutdown (see above) with deadline now + SHUTDOWN_GRACE_MS. Safe to call more than once.
  void Shutdown();

  // Bound ports after Start (0 when that listener is off).
  uint16_t grpc_port() const { return grpc_ != nullptr ? grpc_->port() : 0; }
  uint16_t metrics_port() const { return ops_http_ != nullptr ? ops_http_->port() : 0; }

 private:
  ServiceHost(ProcessConfig config, bool check_config);

  struct Component {
    std::string name;
    std::function<absl::Status()> start;
    std::function<void(absl::Time)> stop;
    bool started = false;
  };

  const ProcessConfig config_;
  const bool check_config_;
  ShutdownSignal signal_;
  Readiness readiness_;
  std::vector<grpc::Service*> grpc_services_;
  std::vector<Component> components_;
  std::unique_ptr<OpsHttpServer> ops_http_;
  std::unique_ptr<GrpcHost> grpc_;
  bool started_ = false;
  bool shut_down_ = false;
};

// When the process started (static initialisation of the kernel), for startup_ms.
absl::Time ProcessStartTime();

}  // namespace protectogram::kernel
