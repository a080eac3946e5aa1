// The gRPC server of a service process.
//
// GrpcHost builds one grpc::Server and adds to it what every service must offer (SPEC §8):
//   - grpc.health.v1.Health, our own implementation (gRPC 1.51's built-in one is invisible to reflection):
//     Check and Watch for "" (the whole process) and for every service added with AddService, all following
//     one Readiness; NOT_SERVING from the moment shutdown starts;
//   - server reflection (grpc.reflection.v1alpha), so `grpcurl -plaintext HOST:PORT list` / `buf curl
//     --list-methods` / a reflection-only `grpc.health.v1.Health/Check` work with no .proto at hand;
//   - metrics for every call in the registry: grpc_server_handled_total{service,method,code} and
//     grpc_server_handling_seconds{service,method} (a histogram), and a log line "rpc" per call with
//     grpc_service, grpc_method, grpc_code, elapsed_us and the call's correlation id (debug; warn for
//     INTERNAL, UNKNOWN and DATA_LOSS). Calls to a method the server lacks count as service="unknown".
// Correlation ids and admin auth are per handler: see RpcScope in rpc.h.
//
// Lifecycle: construct, AddService..., Start, (serve), Shutdown. Not thread-safe before Start; port() and
// Shutdown() may be called from any thread afterwards.
#pragma once

#include <grpcpp/impl/codegen/service_type.h>
#include <grpcpp/server.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "libs/kernel/health.h"
#include "libs/kernel/metrics.h"
#include "libs/kernel/readiness.h"

namespace protectogram::kernel {

// Sends gRPC's own log lines (by default only its errors; GRPC_VERBOSITY raises that) through Log, as JSON
// lines with "source":"grpc", instead of gRPC's plain-text stderr format. Process-wide; ServiceHost calls it.
void RouteGrpcLogsToJson();

struct GrpcHostOptions {
  std::string address = "0.0.0.0";  // a wildcard address: gRPC listens on IPv6 too where it can
  uint16_t port = 0;                // 0 picks a free port; see GrpcHost::port()
  // Drives Health; not owned, must outlive the host. nullptr: always SERVING until shutdown.
  Readiness* readiness = nullptr;
  MetricsRegistry* metrics = nullptr;  // nullptr: DefaultMetrics()
  int max_receive_message_bytes = 4 * 1024 * 1024;
};

class GrpcHost {
 public:
  explicit GrpcHost(GrpcHostOptions options);
  ~GrpcHost();  // Shutdown(now) if still running.
  GrpcHost(const GrpcHost&) = delete;
  GrpcHost& operator=(const GrpcHost&) = delete;

  // Adds a service implementation (not owned; must outlive the host). Before Start only.
  void AddService(grpc::Service* service);

  // Binds and starts serving. Returns UNAVAILABLE if the port cannot be bound (another process has it: port
  // reuse is off), FAILED_PRECONDITION if called twice.
  absl::Status Start();
  // The bound port (the chosen one when options.port was 0); 0 before Start.
  uint16_t port() const { return port_; }
  // Full names of the services Health reports besides "" (known after Start).
  std::vector<std::string> service_names() const;

  // In order: Health turns NOT_SERVING everywhere and Watch streams end; the listener closes and new calls
  // fail with UNAVAILABLE; calls in flight may finish until `deadline`, after which they are cancelled.
  // Returns once every handler has returned (a handler that ignores cancellation delays this: check
  // context->IsCancelled() in long loops). Safe to call more than once, and without Start.
  void Shutdown(absl::Time deadline);

 private:
  class MetricsInterceptorFactory;
  class ServiceListPlugin;

  GrpcHostOptions options_;
  std::vector<grpc::Service*> services_;
  HealthService health_;
  std::unique_ptr<grpc::Server> server_;
  uint16_t port_ = 0;
  int64_t readiness_listener_ = 0;
  std::vector<std::string> service_names_;
  bool started_ = false;
  std::atomic<bool> shut_down_{false};
};

}  // namespace protectogram::kernel
