#include "libs/kernel/ops_http.h"

#include <utility>

namespace protectogram::kernel {

void AddOpsRoutes(http::Router& router, const MetricsRegistry* registry, const Readiness* readiness,
                  bool metrics_enabled) {
  if (metrics_enabled && registry != nullptr) {
    router.Add("GET", "/metrics", [registry](const http::Request&) {
      http::Response response;
      response.status = 200;
      response.content_type = std::string(kPrometheusContentType);
      response.body = registry->Expose();
      return response;
    });
  }
  router.Add("GET", "/health/live",
             [](const http::Request&) { return http::Response::Json(200, R"({"status":"ok"})"); });
  router.Add("GET", "/health/ready", [readiness](const http::Request&) {
    if (readiness == nullptr || readiness->ready()) return http::Response::Json(200, R"({"status":"ready"})");
    return http::Response::Json(503, R"({"status":"not_ready"})");
  });
}

std::function<void(std::string_view, int, std::chrono::nanoseconds)> HttpMetricsObserver(
    MetricsRegistry& registry) {
  Counter* requests = &registry.AddCounter(
      "http_requests_total", "HTTP responses sent, by route and status code.", {"route", "code"});
  Histogram* duration =
      &registry.AddHistogram("http_request_duration_seconds",
                             "Time from a request being read to its response being written.", {"route"});
  return [requests, duration](std::string_view route, int status, std::chrono::nanoseconds elapsed) {
    requests->WithLabels({route, std::to_string(status)}).Inc();
    duration->WithLabels({route}).Observe(std::chrono::duration<double>(elapsed).count());
  };
}

OpsHttpServer::OpsHttpServer(OpsHttpOptions options) {
  MetricsRegistry* registry = options.metrics != nullptr ? options.metrics : &DefaultMetrics();
  http::Router router;
  AddOpsRoutes(router, registry, options.readiness, options.metrics_enabled);
  http::ServerOptions server_options;
  server_options.address = options.address;
  server_options.port = options.port;
  server_options.threads = 1;
  server_options.handler_threads = 0;  // the handlers never block
  server_options.max_connections = 64;
  server_options.limits.body = 64 * 1024;
  server_options.header_timeout = std::chrono::milliseconds(5000);
  server_options.read_timeout = std::chrono::milliseconds(5000);
  server_options.write_timeout = std::chrono::milliseconds(5000);
  server_ = std::make_unique<http::Server>(std::move(server_options), std::move(router));
}

OpsHttpServer::~OpsHttpServer() { Stop(std::chrono::milliseconds(0)); }

absl::Status OpsHttpServer::Start() { return server_->Start(); }

uint16_t OpsHttpServer::port() const { return server_->port(); }

void OpsHttpServer::Stop(std::chrono::milliseconds drain) { server_->Stop(drain); }

}  // namespace protectogram::kernel
