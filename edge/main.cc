// protectogram-edge: the HTTP door for every webhook (docs/edge.md). The kernel's ServiceHost gives it what
// every process has (command line, config, JSON logs, readiness, signals, ordered shutdown); the edge has no
// gRPC server and serves /health* and /metrics on HTTP_PORT next to its webhooks.
#include <memory>
#include <utility>

#include "edge/config.h"
#include "edge/edge.h"
#include "libs/kernel/config.h"
#include "libs/kernel/host.h"
#include "libs/kernel/log.h"

namespace protectogram::edge {
namespace {

int Main(int argc, char** argv) {
  auto host = kernel::ServiceHost::CreateOrExit(argc, argv, kernel::EdgeDefaults());
  const kernel::ProcessConfig& process = host->config();
  EdgeOptions options;
  options.config = kernel::ConfigOrExit(LoadEdgeConfig(kernel::ProcessEnv(), process.app_env));
  options.database_url = process.database_url;
  options.db_pool_size = process.db_pool_size;
  options.port = process.http_port.value_or(8080);
  options.metrics_enabled = process.metrics_enabled;
  options.metrics = &host->metrics();
  options.readiness = &host->readiness();
  std::unique_ptr<Edge> edge = kernel::ConfigOrExit(Edge::Create(std::move(options)));

  host->SetReadinessProbe([&edge] { return edge->CheckReady(); }, absl::Seconds(1));
  host->AddComponent(
      "edge", [&edge] { return edge->Start(); }, [&edge](absl::Time deadline) { edge->Stop(deadline); });
  return host->Run();
}

}  // namespace
}  // namespace protectogram::edge

int main(int argc, char** argv) { return protectogram::edge::Main(argc, argv); }
