// protectogram-edge: the HTTP door for every webhook (docs/edge.md), for the REST call API (docs/call-api.md)
// and for the admin routes (admin_api.h). The kernel's ServiceHost gives it what every process has (command
// line, config, JSON logs, readiness, signals, ordered shutdown); the edge has no gRPC server and serves
// /health* and /metrics on HTTP_PORT next to its webhooks.
//
//   protectogram-edge                        runs the edge
//   protectogram-edge --check-config         checks its configuration only (ServiceHost: "config ok" or exit 2)
//   protectogram-edge api-user add NAME      adds a call API user (password: the first line of stdin)
//   protectogram-edge api-user remove NAME   removes one
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "edge/admin_api.h"
#include "edge/api_users.h"
#include "edge/call_api.h"
#include "edge/config.h"
#include "edge/edge.h"
#include "libs/kernel/config.h"
#include "libs/kernel/host.h"
#include "libs/kernel/log.h"

namespace protectogram::edge {
namespace {

int Main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (IsApiUserCommand(args)) {
    // One line of output: the database pool's own warnings (connect back-off) would add JSON lines.
    kernel::InitLogging("protectogram-edge", "error");
    return RunApiUserCommand(args, kernel::ProcessEnv(), std::cin, std::cout, std::cerr);
  }

  auto host = kernel::ServiceHost::CreateOrExit(argc, argv, kernel::EdgeDefaults());
  const kernel::ProcessConfig& process = host->config();
  EdgeOptions options;
  options.config = kernel::ConfigOrExit(LoadEdgeConfig(kernel::ProcessEnv(), process.app_env));
  options.database_url = process.database_url;
  options.db_pool_size = process.db_pool_size;
  options.port = process.http_port.value_or(8080);
  options.listen_address = process.bind_address;
  options.metrics_enabled = process.metrics_enabled;
  options.metrics = &host->metrics();
  options.readiness = &host->readiness();

  // The REST call API: its own users' pool and telephony channel; it outlives the edge that routes to it.
  CallApiConfig call_api_config =
      kernel::ConfigOrExit(LoadCallApiConfig(kernel::ProcessEnv(), process.app_env));
  if (!call_api_config.enabled) {
    kernel::LogWarn("edge: SECRET_KEY is not set: the REST call API answers 503 (docs/call-api.md)");
  }
  std::unique_ptr<CallApi> call_api = kernel::ConfigOrExit(CallApi::Create(
      std::move(call_api_config), process.database_url, options.config.telephony_addr, &host->metrics()));
  // The admin routes (admin_api.h): ADMIN_TOKEN, read by the kernel with the settings every process shares,
  // and their own channel to the incident service.
  std::unique_ptr<AdminApi> admin_api = AdminApi::Create(process.admin_token, options.config.incident_addr);
  if (!admin_api->enabled()) kernel::LogWarn("edge: ADMIN_TOKEN is not set: the /admin routes answer 404");
  options.extra_routes = [api = call_api.get(), admin = admin_api.get()](http::Router& router) {
    api->AddRoutes(router);
    admin->AddRoutes(router);
  };

  std::unique_ptr<Edge> edge = kernel::ConfigOrExit(Edge::Create(std::move(options)));

  host->SetReadinessProbe([&edge] { return edge->CheckReady(); }, absl::Seconds(1));
  host->AddComponent(
      "edge", [&edge] { return edge->Start(); }, [&edge](absl::Time deadline) { edge->Stop(deadline); });
  return host->Run();
}

}  // namespace
}  // namespace protectogram::edge

int main(int argc, char** argv) { return protectogram::edge::Main(argc, argv); }
