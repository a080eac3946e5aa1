// End to end: the three service binaries as real processes against a real Postgres. Each starts, reports
// readiness over gRPC health and HTTP, serves metrics, records delivered events exactly once, survives
// Postgres going away, refuses bad configuration with one line, and stops cleanly on SIGTERM.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "protectogram/incident/v1/incident.grpc.pb.h"
#include "protectogram/telephony/v1/telephony.grpc.pb.h"
#include "tests/support/child_process.h"
#include "tests/support/pg_harness.h"

namespace protectogram {
namespace {

using namespace std::chrono_literals;
using testing::BinaryPath;
using testing::ChildProcess;

struct Service {
  std::string name;  // "incident"
};

// A running service process with its ports.
struct Running {
  std::unique_ptr<ChildProcess> process;
  int grpc_port = 0;
  int metrics_port = 0;
};

Running StartService(const std::string& name, const std::string& database_url,
                     std::map<std::string, std::string> extra = {}) {
  Running r;
  r.grpc_port = testing::FreePort();
  r.metrics_port = testing::FreePort();
  std::map<std::string, std::string> env{{"APP_ENV", "dev"},
                                         {"DATABASE_URL", database_url},
                                         {"GRPC_PORT", std::to_string(r.grpc_port)},
                                         {"METRICS_PORT", std::to_string(r.metrics_port)},
                                         {"ADMIN_TOKEN", "e2e-admin-token-123"},
                                         {"SHUTDOWN_GRACE_MS", "3000"}};
  for (auto& [k, v] : extra) env[k] = v;
  r.process =
      std::make_unique<ChildProcess>(BinaryPath("protectogram-" + name), std::vector<std::string>{}, env);
  return r;
}

grpc::health::v1::HealthCheckResponse::ServingStatus HealthOf(int port, const std::string& service = "") {
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 2s);
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status status = stub->Check(&ctx, req, &resp);
  if (!status.ok()) return grpc::health::v1::HealthCheckResponse::UNKNOWN;
  return resp.status();
}

bool WaitHealth(int port, grpc::health::v1::HealthCheckResponse::ServingStatus want,
                std::chrono::seconds within) {
  auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    if (HealthOf(port) == want) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

class ServiceProcessTest : public test::PgTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(ServiceProcessTest, StartsServesHealthAndMetricsAndStopsOnSigterm) {
  const std::string name = GetParam();
  Running svc = StartService(name, db_url_for_role("protectogram_" + name));
  ASSERT_TRUE(svc.process->WaitForOutput("\"msg\":\"ready\"", 20s)) << svc.process->Output();

  EXPECT_EQ(HealthOf(svc.grpc_port), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(HealthOf(svc.grpc_port, "protectogram.jobs.v1.JobsAdminService"),
            grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(testing::HttpGet(svc.metrics_port, "/health/live"), 200);
  EXPECT_EQ(testing::HttpGet(svc.metrics_port, "/health/ready"), 200);
  std::string metrics;
  EXPECT_EQ(testing::HttpGet(svc.metrics_port, "/metrics", &metrics), 200);
  EXPECT_NE(metrics.find("scheduler_job_lag_seconds"), std::string::npos) << metrics.substr(0, 2000);

  ASSERT_TRUE(svc.process->Signal(SIGTERM));
  std::optional<int> code = svc.process->WaitExit(10s);
  ASSERT_TRUE(code.has_value()) << "did not stop within 10 s";
  EXPECT_EQ(*code, 0) << svc.process->Output();
  EXPECT_NE(svc.process->Output().find("\"msg\":\"stopped\""), std::string::npos);
  // Every line the process wrote is a JSON object with the service's name.
  std::string out = svc.process->Output();
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('\n', start);
    std::string line = out.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!line.empty()) {
      EXPECT_EQ(line.front(), '{') << line;
      EXPECT_NE(line.find("\"service\":\"" + name + "\""), std::string::npos) << line;
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
}

TEST_P(ServiceProcessTest, MalformedSettingStopsWithOneLineNamingIt) {
  const std::string name = GetParam();
  Running svc = StartService(name, db_url_for_role("protectogram_" + name), {{"GRPC_PORT", "not-a-port"}});
  std::optional<int> code = svc.process->WaitExit(10s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 2);
  std::string out = svc.process->Output();
  EXPECT_NE(out.find("GRPC_PORT"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

TEST_P(ServiceProcessTest, UnknownFlagIsRefused) {
  const std::string name = GetParam();
  ChildProcess p(BinaryPath("protectogram-" + name), {"--frobnicate"}, {{"APP_ENV", "dev"}});
  std::optional<int> code = p.WaitExit(10s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 2);
  EXPECT_NE(p.Output().find("--frobnicate"), std::string::npos) << p.Output();
}

INSTANTIATE_TEST_SUITE_P(AllServices, ServiceProcessTest,
                         ::testing::Values("incident", "notification", "telephony"));

class ServiceResilienceTest : public test::PgTest {};

TEST_F(ServiceResilienceTest, PostgresUnreachableAtStartIsNotReadyThenDoesNotCrash) {
  // A port nobody listens on: the process starts, reports not ready, and keeps running.
  std::string url =
      "postgresql://protectogram_incident@127.0.0.1:" + std::to_string(testing::FreePort()) + "/x";
  Running svc = StartService("incident", url);
  ASSERT_TRUE(svc.process->WaitForOutput("\"msg\":\"ready\"", 20s)) << svc.process->Output();
  EXPECT_TRUE(WaitHealth(svc.grpc_port, grpc::health::v1::HealthCheckResponse::NOT_SERVING, 10s));
  EXPECT_EQ(testing::HttpGet(svc.metrics_port, "/health/ready"), 503);
  EXPECT_FALSE(svc.process->WaitExit(0ms).has_value()) << "the process must keep running";
  svc.process->Signal(SIGTERM);
  EXPECT_EQ(svc.process->WaitExit(10s), std::optional<int>(0)) << svc.process->Output();
}

TEST_F(ServiceResilienceTest, ReadinessFollowsPostgresDownAndBackUp) {
  Running svc = StartService("telephony", db_url_for_role("protectogram_telephony"));
  ASSERT_TRUE(svc.process->WaitForOutput("\"msg\":\"ready\"", 20s)) << svc.process->Output();
  ASSERT_TRUE(WaitHealth(svc.grpc_port, grpc::health::v1::HealthCheckResponse::SERVING, 10s));

  ASSERT_TRUE(cluster().Stop().ok());
  EXPECT_TRUE(WaitHealth(svc.grpc_port, grpc::health::v1::HealthCheckResponse::NOT_SERVING, 15s));
  EXPECT_EQ(testing::HttpGet(svc.metrics_port, "/health/ready"), 503);
  ASSERT_TRUE(cluster().Start().ok());
  EXPECT_TRUE(WaitHealth(svc.grpc_port, grpc::health::v1::HealthCheckResponse::SERVING, 20s))
      << svc.process->Output();

  svc.process->Signal(SIGTERM);
  EXPECT_EQ(svc.process->WaitExit(10s), std::optional<int>(0));
}

TEST_F(ServiceResilienceTest, DeliveredEventsAreRecordedExactlyOnce) {
  Running incident = StartService("incident", db_url_for_role("protectogram_incident"));
  Running telephony = StartService("telephony", db_url_for_role("protectogram_telephony"));
  ASSERT_TRUE(incident.process->WaitForOutput("\"msg\":\"ready\"", 20s)) << incident.process->Output();
  ASSERT_TRUE(telephony.process->WaitForOutput("\"msg\":\"ready\"", 20s)) << telephony.process->Output();

  auto incident_stub = incident::v1::IncidentService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(incident.grpc_port), grpc::InsecureChannelCredentials()));
  incident::v1::HandleChatEventRequest chat;
  chat.mutable_event()->set_event_key("edge:41");
  chat.mutable_event()->set_provider_event_id("main:815000001");
  chat.mutable_event()->mutable_text()->set_text("/start");
  for (bool want_duplicate : {false, true, true}) {
    grpc::ClientContext ctx;
    incident::v1::HandleChatEventResponse resp;
    grpc::Status status = incident_stub->HandleChatEvent(&ctx, chat, &resp);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(resp.duplicate(), want_duplicate);
  }
  {
    incident::v1::HandleChatEventRequest no_key;
    grpc::ClientContext ctx;
    incident::v1::HandleChatEventResponse resp;
    EXPECT_EQ(incident_stub->HandleChatEvent(&ctx, no_key, &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }

  auto telephony_stub = telephony::v1::TelephonyService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(telephony.grpc_port), grpc::InsecureChannelCredentials()));
  telephony::v1::HandleCallEventRequest call;
  call.mutable_event()->set_event_key("edge:42");
  call.mutable_event()->set_provider_event_id("0ccc7b54-4df3-4bca-a65a-3da1ecc777f0");
  for (bool want_duplicate : {false, true}) {
    grpc::ClientContext ctx;
    telephony::v1::HandleCallEventResponse resp;
    ASSERT_TRUE(telephony_stub->HandleCallEvent(&ctx, call, &resp).ok());
    EXPECT_EQ(resp.duplicate(), want_duplicate);
  }

  auto rows = pool().Execute(
      {"count_inbox",
       "SELECT (SELECT count(*) FROM incident.inbox_events WHERE provider_event_id = 'edge:41'),"
       "       (SELECT count(*) FROM telephony.inbox_events WHERE provider_event_id = 'edge:42')"});
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->front().Get<int64_t>(0), 1);
  EXPECT_EQ(rows->front().Get<int64_t>(1), 1);

  incident.process->Signal(SIGTERM);
  telephony.process->Signal(SIGTERM);
  EXPECT_EQ(incident.process->WaitExit(10s), std::optional<int>(0));
  EXPECT_EQ(telephony.process->WaitExit(10s), std::optional<int>(0));
}

}  // namespace
}  // namespace protectogram
