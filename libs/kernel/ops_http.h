// The operational HTTP endpoints every process serves (SPEC §7-§8):
//   GET /metrics       Prometheus text format 0.0.4 ("text/plain; version=0.0.4"); 404 when metrics are off
//   GET /health/live   200 {"status":"ok"} while the process runs (even while draining)
//   GET /health/ready  200 {"status":"ready"}, or 503 {"status":"not_ready"} when the readiness verdict is
//                      false (the probe failed, or shutdown has started)
// Services serve them on METRICS_PORT with OpsHttpServer; the edge adds the same routes to its own router
// with AddOpsRoutes (and can pass HttpMetricsObserver as its server's observer).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "libs/http/server.h"
#include "libs/kernel/metrics.h"
#include "libs/kernel/readiness.h"

namespace protectogram::kernel {

// Adds the routes above. `registry` and `readiness` are not owned and must outlive the router; a null
// readiness means always ready. With metrics_enabled false, /metrics is not routed (404).
void AddOpsRoutes(http::Router& router, const MetricsRegistry* registry, const Readiness* readiness,
                  bool metrics_enabled = true);

// An http::ServerOptions::observer that counts and times every response in `registry`:
// http_requests_total{route,code} and http_request_duration_seconds{route}.
std::function<void(std::string_view route, int status, std::chrono::nanoseconds elapsed)> HttpMetricsObserver(
    MetricsRegistry& registry);

struct OpsHttpOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 0;                     // 0 picks a free port; see OpsHttpServer::port()
  MetricsRegistry* metrics = nullptr;    // nullptr: DefaultMetrics()
  const Readiness* readiness = nullptr;  // nullptr: always ready
  bool metrics_enabled = true;
};

// A small http::Server with only the operational routes. Its handlers never block (they run on the I/O
// threads), so a scrape or probe is answered even while the service's own threads are saturated.
class OpsHttpServer {
 public:
  explicit OpsHttpServer(OpsHttpOptions options);
  ~OpsHttpServer();
  OpsHttpServer(const OpsHttpServer&) = delete;
  OpsHttpServer& operator=(const OpsHttpServer&) = delete;

  // UNAVAILABLE if the port cannot be bound; FAILED_PRECONDITION if called twice.
  absl::Status Start();
  uint16_t port() const;
  // Closes the listener, lets in-flight requests finish for up to `drain`. Safe to call more than once.
  void Stop(std::chrono::milliseconds drain = std::chrono::milliseconds(1000));

 private:
  std::unique_ptr<http::Server> server_;
};

}  // namespace protectogram::kernel
