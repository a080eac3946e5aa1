// The ops HTTP endpoints and an in-process ServiceHost (config from a MapEnv, ports 0).
#include "libs/kernel/host.h"

#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <atomic>

#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "libs/kernel/ops_http.h"
#include "tests/integration/kernel/test_support.h"
#include "tests/integration/kernel/toy_service.h"

namespace protectogram::kernel {
namespace {

using ::testing::HasSubstr;

bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout = absl::Seconds(3)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return condition();
}

TEST(OpsHttpTest, ServesMetricsLiveAndReady) {
  MetricsRegistry registry;
  registry.AddCounter("things_total", "Things.").Inc(3);
  std::atomic<bool> ready{true};
  Readiness readiness([&] { return ready.load() ? absl::OkStatus() : absl::UnavailableError("down"); },
                      absl::Milliseconds(20));
  readiness.Start();
  OpsHttpServer server({.address = "127.0.0.1", .port = 0, .metrics = &registry, .readiness = &readiness});
  ASSERT_TRUE(server.Start().ok());
  ASSERT_GT(server.port(), 0);

  kerneltest::HttpResult metrics = kerneltest::HttpGet(server.port(), "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(metrics.body, registry.Expose());
  EXPECT_THAT(metrics.body, HasSubstr("things_total 3\n"));

  kerneltest::HttpResult live = kerneltest::HttpGet(server.port(), "/health/live");
  EXPECT_EQ(live.status, 200);
  EXPECT_EQ(live.body, R"({"status":"ok"})");
  EXPECT_EQ(kerneltest::HttpGet(server.port(), "/health/ready").status, 200);

  ready = false;
  EXPECT_TRUE(WaitUntil([&] { return kerneltest::HttpGet(server.port(), "/health/ready").status == 503; }));
  EXPECT_EQ(kerneltest::HttpGet(server.port(), "/health/ready").body, R"({"status":"not_ready"})");
  EXPECT_EQ(kerneltest::HttpGet(server.port(), "/health/live").status, 200);
  ready = true;
  EXPECT_TRUE(WaitUntil([&] { return kerneltest::HttpGet(server.port(), "/health/ready").status == 200; }));

  readiness.MarkShuttingDown();
  EXPECT_EQ(kerneltest::HttpGet(server.port(), "/health/ready").status, 503);
  EXPECT_EQ(kerneltest::HttpGet(server.port(), "/nope").status, 404);
  server.Stop();
  readiness.Stop();
  EXPECT_EQ(kerneltest::HttpGet(server.port(), "/metrics").status, 0);
}

TEST(OpsHttpTest, MetricsCanBeTurnedOff) {
  MetricsRegistry registry;
  OpsHttpServer server({.address = "127.0.0.1", .port = 0, .metrics = &registry, .metrics_enabled = false});
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(kerneltest::HttpGet(server.port(), "/metrics").status, 404);
  EXPECT_EQ(kerneltest::HttpGet(server.port(), "/health/ready").status, 200);
}

TEST(OpsHttpTest, HttpMetricsObserverCounts) {
  MetricsRegistry registry;
  auto observer = HttpMetricsObserver(registry);
  observer("/webhook/", 200, std::chrono::milliseconds(3));
  observer("/webhook/", 200, std::chrono::milliseconds(30));
  observer("unmatched", 404, std::chrono::microseconds(50));
  std::string text = registry.Expose();
  EXPECT_THAT(text, HasSubstr("http_requests_total{route=\"/webhook/\",code=\"200\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("http_requests_total{route=\"unmatched\",code=\"404\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("http_request_duration_seconds_count{route=\"/webhook/\"} 2\n"));
}

TEST(ServiceHostTest, CreateReportsConfigErrors) {
  auto host = ServiceHost::Create(MapEnv({{"APP_ENV", "prod"}}), IncidentDefaults());
  ASSERT_FALSE(host.ok());
  EXPECT_EQ(host.status().message(), "ADMIN_TOKEN is required; DATABASE_URL is required");
}

TEST(ServiceHostTest, StartsServesAndShutsDownInOrder) {
  auto created = ServiceHost::Create(
      MapEnv(
          {{"GRPC_PORT", "0"}, {"METRICS_PORT", "0"}, {"SHUTDOWN_GRACE_MS", "2000"}, {"LOG_LEVEL", "warn"}}),
      {"hosttest", 50099, std::nullopt, 9199});
  ASSERT_TRUE(created.ok()) << created.status();
  ServiceHost& host = **created;
  EXPECT_EQ(host.config().admin_token, "dev-admin-token");

  kerneltest::ToyService toy;
  kerneltest::ToyAdminService admin(host.config().admin_token);
  std::atomic<bool> ready{true};
  host.SetReadinessProbe([&] { return ready.load() ? absl::OkStatus() : absl::UnavailableError("db down"); },
                         absl::Milliseconds(20));
  host.AddGrpcService(&toy);
  host.AddGrpcService(&admin);
  std::vector<std::string> events;
  host.AddComponent(
      "first",
      [&] {
        events.push_back("start first");
        return absl::OkStatus();
      },
      [&](absl::Time) { events.push_back("stop first"); });
  host.AddComponent(
      "second",
      [&] {
        events.push_back("start second");
        return absl::OkStatus();
      },
      [&](absl::Time) { events.push_back("stop second"); });

  ASSERT_TRUE(host.Start().ok());
  ASSERT_GT(host.grpc_port(), 0);
  ASSERT_GT(host.metrics_port(), 0);

  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(host.grpc_port()),
                                     grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  auto check = [&](const std::string& service) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = health->Check(&context, request, &response);
    return status.ok() ? response.status() : grpc::health::v1::HealthCheckResponse::UNKNOWN;
  };
  EXPECT_EQ(check(""), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(check("protectogram.kerneltest.v1.ToyService"), grpc::health::v1::HealthCheckResponse::SERVING);
  ready = false;
  EXPECT_TRUE(WaitUntil([&] { return check("") == grpc::health::v1::HealthCheckResponse::NOT_SERVING; }));
  EXPECT_EQ(kerneltest::HttpGet(host.metrics_port(), "/health/ready").status, 503);
  ready = true;
  EXPECT_TRUE(WaitUntil([&] { return check("") == grpc::health::v1::HealthCheckResponse::SERVING; }));
  EXPECT_EQ(kerneltest::HttpGet(host.metrics_port(), "/health/ready").status, 200);

  {
    auto stub = kerneltest::v1::ToyService::NewStub(channel);
    grpc::ClientContext context;
    kerneltest::v1::EchoResponse response;
    ASSERT_TRUE(stub->Echo(&context, {}, &response).ok());
  }
  kerneltest::HttpResult metrics = kerneltest::HttpGet(host.metrics_port(), "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body,
              HasSubstr("grpc_server_handled_total{service=\"protectogram.kerneltest.v1.ToyService\","
                        "method=\"Echo\",code=\"OK\"}"));
  EXPECT_THAT(metrics.body, HasSubstr("process_start_time_seconds "));
  EXPECT_THAT(metrics.body, HasSubstr("protectogram_build_info{service=\"hosttest\",version=\"0.1.0\"} 1\n"));
  int exit_code = 0;
  std::optional<std::string> lint = kerneltest::Promtool(metrics.body, &exit_code);
  if (lint.has_value()) {
    EXPECT_EQ(exit_code, 0) << *lint;
    EXPECT_EQ(*lint, "") << metrics.body;
  }

  host.RequestShutdown("test");
  EXPECT_EQ(host.WaitForShutdownRequest(), "test");
  const absl::Time start = absl::Now();
  host.Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(events, (std::vector<std::string>{"start first", "start second", "stop second", "stop first"}));
  EXPECT_EQ(kerneltest::HttpGet(host.metrics_port(), "/health/live").status, 0);
}

TEST(ServiceHostTest, StartFailsWhenAComponentFails) {
  auto created =
      ServiceHost::Create(MapEnv({{"GRPC_PORT", "0"}, {"METRICS_PORT", "0"}, {"LOG_LEVEL", "error"}}),
                          {"hosttest", 50099, std::nullopt, 9199});
  ASSERT_TRUE(created.ok());
  bool stopped_first = false;
  (*created)->AddComponent("first", nullptr, [&](absl::Time) { stopped_first = true; });
  (*created)->AddComponent(
      "broken", [] { return absl::UnavailableError("no broker"); }, nullptr);
  absl::Status status = (*created)->Start();
  EXPECT_EQ(status, absl::UnavailableError("broken: no broker"));
  (*created)->Shutdown();
  EXPECT_TRUE(stopped_first);
}

}  // namespace
}  // namespace protectogram::kernel
