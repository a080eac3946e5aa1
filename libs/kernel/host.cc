#include "libs/kernel/host.h"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/time/clock.h"
#include "libs/kernel/log.h"

namespace protectogram::kernel {
namespace {

const absl::Time kStaticInitTime = absl::Now();

// Process start from /proc (uptime now minus the process's start in ticks since boot): includes exec and
// dynamic loading, to ~10 ms. Falls back to the kernel library's static initialisation.
absl::Time ComputeProcessStart() {
  std::ifstream stat_file("/proc/self/stat");
  std::ifstream uptime_file("/proc/uptime");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  double uptime = 0;
  if (!(uptime_file >> uptime)) return kStaticInitTime;
  // Field 2 (comm) may contain spaces; count fields after its closing parenthesis. starttime is field 22.
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return kStaticInitTime;
  std::istringstream fields(stat.substr(paren + 2));
  std::string field;
  for (int i = 3; i <= 22; ++i) {
    if (!(fields >> field)) return kStaticInitTime;
  }
  long ticks_per_second = sysconf(_SC_CLK_TCK);
  if (ticks_per_second <= 0) return kStaticInitTime;
  double started_after_boot = std::stod(field) / static_cast<double>(ticks_per_second);
  absl::Time start = absl::Now() - absl::Seconds(uptime - started_after_boot);
  return start < kStaticInitTime ? start : kStaticInitTime;
}

std::string ProgramName(const char* argv0) {
  std::string_view name = argv0 != nullptr ? argv0 : "protectogram";
  size_t slash = name.rfind('/');
  return std::string(slash == std::string_view::npos ? name : name.substr(slash + 1));
}

}  // namespace

absl::Time ProcessStartTime() {
  static const absl::Time start = ComputeProcessStart();
  return start;
}

std::unique_ptr<ServiceHost> ServiceHost::CreateOrExit(int argc, char** argv,
                                                       const ServiceDefaults& defaults) {
  BlockShutdownSignals();
  ProcessStartTime();
  std::vector<std::string_view> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  CommandLine command_line = ParseCommandLine(args, ProgramName(argc > 0 ? argv[0] : nullptr), &defaults);
  if (command_line.action == CommandLine::Action::kExit) {
    std::fputs(command_line.output.c_str(), command_line.exit_code == 0 ? stdout : stderr);
    std::fflush(nullptr);
    std::exit(command_line.exit_code);
  }
  ProcessEnv env;
  absl::StatusOr<std::unique_ptr<ServiceHost>> host = Create(env, defaults, command_line.check_config);
  if (!host.ok()) ExitWithConfigError(host.status());
  return *std::move(host);
}

absl::StatusOr<std::unique_ptr<ServiceHost>> ServiceHost::Create(const Env& env,
                                                                 const ServiceDefaults& defaults,
                                                                 bool check_config) {
  BlockShutdownSignals();
  ProcessStartTime();
  absl::StatusOr<ProcessConfig> config = LoadProcessConfig(env, defaults);
  if (!config.ok()) return config.status();
  RegisterSecretsFromEnv(env);
  // A check's output is the one "config ok" line on stdout, where the JSON log lines go too: only errors,
  // which mean something is wrong anyway, may join it.
  InitLogging(config->service, check_config ? "error" : config->log_level);
  RouteGrpcLogsToJson();
  LogInfo("starting", {{"version", Version()},
                       {"app_env", AppEnvName(config->app_env)},
                       {"log_level", config->log_level},
                       {"db_pool_size", config->db_pool_size},
                       {"shutdown_grace_ms", absl::ToInt64Milliseconds(config->shutdown_grace)}});
  return std::unique_ptr<ServiceHost>(new ServiceHost(*std::move(config), check_config));
}

ServiceHost::ServiceHost(ProcessConfig config, bool check_config)
    : config_(std::move(config)), check_config_(check_config) {
  MetricsRegistry& registry = DefaultMetrics();
  registry
      .AddGauge("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds.")
      .Set(absl::ToDoubleSeconds(ProcessStartTime() - absl::UnixEpoch()));
  registry
      .AddGauge("protectogram_build_info", "Always 1; the labels say which build and service this is.",
                {"service", "version"})
      .WithLabels({config_.service, std::string(Version())})
      .Set(1);
}

ServiceHost::~ServiceHost() { Shutdown(); }

void ServiceHost::ExitIfCheckingConfig() const {
  if (!check_config_) return;
  std::fputs("config ok\n", stdout);
  std::fflush(nullptr);
  std::exit(0);
}

void ServiceHost::SetReadinessProbe(Readiness::Probe probe, absl::Duration interval) {
  readiness_.SetProbe(std::move(probe), interval);
}

void ServiceHost::AddGrpcService(grpc::Service* service) { grpc_services_.push_back(service); }

void ServiceHost::AddComponent(std::string name, std::function<absl::Status()> start,
                               std::function<void(absl::Time deadline)> stop) {
  components_.push_back({std::move(name), std::move(start), std::move(stop)});
}

absl::Status ServiceHost::Start() {
  if (started_) return absl::FailedPreconditionError("host already started");
  started_ = true;
  if (!grpc_services_.empty() && !config_.grpc_port.has_value()) {
    return absl::FailedPreconditionError("gRPC services added but " + config_.service + " has no GRPC_PORT");
  }
  readiness_.Start();

  if (config_.metrics_port.has_value()) {
    OpsHttpOptions options;
    options.address = config_.bind_address;
    options.port = *config_.metrics_port;
    options.readiness = &readiness_;
    options.metrics_enabled = config_.metrics_enabled;
    ops_http_ = std::make_unique<OpsHttpServer>(std::move(options));
    if (absl::Status status = ops_http_->Start(); !status.ok()) {
      return absl::Status(status.code(), "METRICS_PORT " + std::to_string(*config_.metrics_port) + ": " +
                                             std::string(status.message()));
    }
  }

  for (Component& component : components_) {
    if (component.start != nullptr) {
      if (absl::Status status = component.start(); !status.ok()) {
        return absl::Status(status.code(), component.name + ": " + std::string(status.message()));
      }
    }
    component.started = true;
  }

  if (config_.grpc_port.has_value()) {
    GrpcHostOptions options;
    // gRPC takes "host:port", so an IPv6 address goes in brackets ("[::]:50051").
    options.address = config_.bind_address.find(':') != std::string::npos ? "[" + config_.bind_address + "]"
                                                                          : config_.bind_address;
    options.port = *config_.grpc_port;
    options.readiness = &readiness_;
    grpc_ = std::make_unique<GrpcHost>(std::move(options));
    for (grpc::Service* service : grpc_services_) grpc_->AddService(service);
    if (absl::Status status = grpc_->Start(); !status.ok()) {
      return absl::Status(status.code(), "GRPC_PORT " + std::to_string(*config_.grpc_port) + ": " +
                                             std::string(status.message()));
    }
  }

  const int64_t startup_ms = absl::ToInt64Milliseconds(absl::Now() - ProcessStartTime());
  if (config_.http_port.has_value()) {
    LogInfo("ready", {{"grpc_port", grpc_port()},
                      {"metrics_port", metrics_port()},
                      {"http_port", *config_.http_port},
                      {"startup_ms", startup_ms},
                      {"healthy", readiness_.ready()}});
  } else {
    LogInfo("ready", {{"grpc_port", grpc_port()},
                      {"metrics_port", metrics_port()},
                      {"startup_ms", startup_ms},
                      {"healthy", readiness_.ready()}});
  }
  return absl::OkStatus();
}

void ServiceHost::RequestShutdown(const std::string& reason) { signal_.Request(reason); }

void ServiceHost::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  const absl::Time deadline = absl::Now() + config_.shutdown_grace;
  // 1. Probes fail first, so load balancers stop sending new work.
  readiness_.MarkShuttingDown();
  // 2. gRPC stops accepting and drains in-flight calls (their work may still need the components).
  if (grpc_ != nullptr) grpc_->Shutdown(deadline);
  // 3. Components, newest first.
  for (auto it = components_.rbegin(); it != components_.rend(); ++it) {
    if (it->started && it->stop != nullptr) it->stop(deadline);
  }
  readiness_.Stop();
  // 4. The ops endpoint last: liveness and metrics stay visible during the drain.
  if (ops_http_ != nullptr) {
    absl::Duration left = std::max(deadline - absl::Now(), absl::ZeroDuration());
    ops_http_->Stop(std::chrono::milliseconds(std::min<int64_t>(absl::ToInt64Milliseconds(left), 1000)));
  }
}

int ServiceHost::Run() {
  if (check_config_) {
    // Returning (rather than exiting) lets main's objects be destroyed in order, as after a normal run.
    std::fputs("config ok\n", stdout);
    std::fflush(stdout);
    return 0;
  }
  if (absl::Status status = Start(); !status.ok()) {
    LogError("start failed", {{"error", status.ToString()}});
    Shutdown();
    return 1;
  }
  const std::string reason = signal_.Wait();
  const absl::Time stopping_at = absl::Now();
  LogInfo("stopping", {{"reason", reason}, {"grace_ms", absl::ToInt64Milliseconds(config_.shutdown_grace)}});

  // While draining: a second signal, or a drain that overruns the grace (a handler that never returns), ends
  // the process at once.
  std::mutex mu;
  bool done = false;
  std::thread escalation([&] {
    std::optional<std::string> again = signal_.WaitFor(config_.shutdown_grace + absl::Seconds(2));
    std::lock_guard<std::mutex> lock(mu);
    if (done) return;
    LogError(again.has_value() ? "second signal during shutdown, exiting now"
                               : "shutdown overran its grace, exiting now",
             {{"reason", again.value_or("timeout")}});
    std::fflush(nullptr);
    std::_Exit(1);
  });
  Shutdown();
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  signal_.Request("stopped");
  escalation.join();
  LogInfo("stopped", {{"shutdown_ms", absl::ToInt64Milliseconds(absl::Now() - stopping_at)}});
  return 0;
}

}  // namespace protectogram::kernel
