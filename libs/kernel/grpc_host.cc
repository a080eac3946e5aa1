#include "libs/kernel/grpc_host.h"

#include <grpc/grpc.h>
#include <grpc/support/log.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/impl/server_initializer.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/server_interceptor.h>

#include <algorithm>
#include <mutex>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "libs/kernel/log.h"
#include "libs/kernel/rpc.h"

namespace protectogram::kernel {
namespace {

using grpc::experimental::InterceptionHookPoints;

struct GrpcMetrics {
  Counter* handled;
  Histogram* latency;
};

GrpcMetrics RegisterGrpcMetrics(MetricsRegistry& registry) {
  return {
      &registry.AddCounter("grpc_server_handled_total", "gRPC calls completed on the server, by status code.",
                           {"service", "method", "code"}),
      &registry.AddHistogram("grpc_server_handling_seconds",
                             "Time from a gRPC call's start to its status being sent, in seconds.",
                             {"service", "method"})};
}

// Server-side failures are worth a warning; a client's mistake or a normal outcome only a debug line.
bool IsServerFault(grpc::StatusCode code) {
  return code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::UNKNOWN ||
         code == grpc::StatusCode::DATA_LOSS;
}

// Counts, times and logs one call. Hooks of a synchronous call run on the thread that runs the handler.
class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(grpc::experimental::ServerRpcInfo* info, const GrpcMetrics& metrics)
      : metrics_(metrics), start_(absl::Now()) {
    std::string_view full = info->method() != nullptr ? info->method() : "";  // "/pkg.Service/Method"
    if (!full.empty() && full.front() == '/') full.remove_prefix(1);
    size_t slash = full.find('/');
    // Calls to methods the server does not have arrive as "unknown" (no slash).
    service_ = full.empty() ? "unknown" : std::string(full.substr(0, slash));
    method_ = slash == std::string_view::npos ? "unknown" : std::string(full.substr(slash + 1));
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      // RpcScope put the call's correlation id here; keep it for the log line below.
      if (auto* metadata = methods->GetSendInitialMetadata(); metadata != nullptr) {
        if (auto it = metadata->find(kCorrelationIdKey); it != metadata->end()) correlation_id_ = it->second;
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      Record(methods->GetSendStatus());
    }
    methods->Proceed();
  }

 private:
  void Record(const grpc::Status& status) {
    absl::Duration elapsed = absl::Now() - start_;
    std::string code(absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())));
    metrics_.handled->WithLabels({service_, method_, code}).Inc();
    metrics_.latency->WithLabels({service_, method_}).ObserveDuration(elapsed);
    CorrelationScope scope(correlation_id_);
    const int64_t elapsed_us = absl::ToInt64Microseconds(elapsed);
    if (status.ok()) {
      LogDebug("rpc",
               {{"service", service_}, {"method", method_}, {"code", code}, {"elapsed_us", elapsed_us}});
    } else {
      Log(IsServerFault(status.error_code()) ? LogLevel::kWarn : LogLevel::kDebug, "rpc",
          {{"grpc_service", service_},
           {"grpc_method", method_},
           {"grpc_code", code},
           {"error", status.error_message()},
           {"elapsed_us", elapsed_us}});
    }
  }

  const GrpcMetrics& metrics_;
  const absl::Time start_;
  std::string service_;
  std::string method_;
  std::string correlation_id_;
};

// Names the services a server ends up with, so Health can report each one (grpc::Service hides its name).
class ServiceListPlugin final : public grpc::ServerBuilderPlugin {
 public:
  ServiceListPlugin(std::vector<std::string>* names, HealthService* health)
      : names_(names), health_(health) {}
  std::string name() override { return "protectogram.service_list"; }
  // Called after every service is registered and before the server starts.
  void InitServer(grpc::ServerInitializer* initializer) override {
    names_->clear();
    for (const std::string& name : *initializer->GetServiceList()) {
      if (name == "grpc.health.v1.Health" || name.rfind("grpc.reflection.", 0) == 0) continue;
      names_->push_back(name);
    }
    health_->SetServiceNames(*names_);
  }
  void Finish(grpc::ServerInitializer*) override {}
  void ChangeArguments(const std::string&, void*) override {}

 private:
  std::vector<std::string>* names_;
  HealthService* health_;
};

class ServiceListOption final : public grpc::ServerBuilderOption {
 public:
  ServiceListOption(std::vector<std::string>* names, HealthService* health)
      : names_(names), health_(health) {}
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->push_back(std::make_unique<ServiceListPlugin>(names_, health_));
  }

 private:
  std::vector<std::string>* names_;
  HealthService* health_;
};

void LogFromGrpc(gpr_log_func_args* args) {
  LogLevel level = LogLevel::kInfo;
  if (args->severity == GPR_LOG_SEVERITY_ERROR) level = LogLevel::kError;
  if (args->severity == GPR_LOG_SEVERITY_DEBUG) level = LogLevel::kDebug;
  Log(level, args->message != nullptr ? args->message : "",
      {{"source", "grpc"}, {"file", args->file != nullptr ? args->file : ""}, {"line", args->line}});
}

}  // namespace

void RouteGrpcLogsToJson() { gpr_set_log_function(&LogFromGrpc); }

class GrpcHost::MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(MetricsRegistry& registry) : metrics_(RegisterGrpcMetrics(registry)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(info, metrics_);
  }

 private:
  const GrpcMetrics metrics_;
};

GrpcHost::GrpcHost(GrpcHostOptions options) : options_(std::move(options)) {
  if (options_.metrics == nullptr) options_.metrics = &DefaultMetrics();
}

GrpcHost::~GrpcHost() { Shutdown(absl::Now()); }

void GrpcHost::AddService(grpc::Service* service) { services_.push_back(service); }

std::vector<std::string> GrpcHost::service_names() const { return service_names_; }

absl::Status GrpcHost::Start() {
  if (started_) return absl::FailedPreconditionError("gRPC host already started");
  started_ = true;
  static std::once_flag reflection_once;
  std::call_once(reflection_once, [] { grpc::reflection::InitProtoReflectionServerBuilderPlugin(); });

  const std::string address = options_.address + ":" + std::to_string(options_.port);
  int selected_port = 0;
  grpc::ServerBuilder builder;
  // Without this, gRPC sets SO_REUSEPORT and a second process on the same port starts "fine".
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Clients re-resolve a DNS name only when a connection drops: closing each connection after about two
  // minutes (GOAWAY, gRPC adds +-10 % jitter; calls in flight get 30 s to finish) makes every caller's
  // round_robin channel (kernel::ServiceChannel) find a replica added since, within that time.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, 120000);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, 30000);
  builder.SetMaxReceiveMessageSize(options_.max_receive_message_bytes);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &selected_port);
  builder.RegisterService(&health_);
  for (grpc::Service* service : services_) builder.RegisterService(service);
  builder.SetOption(std::make_unique<ServiceListOption>(&service_names_, &health_));
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<MetricsInterceptorFactory>(*options_.metrics));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));

  // Health is right from the first call: the plugin names the services before the server starts, and the
  // status follows the readiness verdict from now on.
  if (options_.readiness != nullptr) {
    readiness_listener_ = options_.readiness->AddListener([this](bool ready) { health_.SetServing(ready); });
    health_.SetServing(options_.readiness->ready());
  } else {
    health_.SetServing(true);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || selected_port == 0) {
    if (server != nullptr) server->Shutdown();
    return absl::UnavailableError("cannot listen for gRPC on " + address);
  }
  server_ = std::move(server);
  port_ = static_cast<uint16_t>(selected_port);
  return absl::OkStatus();
}

void GrpcHost::Shutdown(absl::Time deadline) {
  if (shut_down_.exchange(true)) return;
  health_.Shutdown();
  if (options_.readiness != nullptr && readiness_listener_ != 0) {
    options_.readiness->RemoveListener(readiness_listener_);
    readiness_listener_ = 0;
  }
  if (server_ != nullptr) {
    server_->Shutdown(absl::ToChronoTime(deadline));
    server_->Wait();
  }
}

}  // namespace protectogram::kernel
