// The real protectogram-edge binary as a child process against the harness Postgres: it goes live and ready
// while the services are unreachable (ready needs Postgres only; /health and edge_service_up report the
// services), accepts a signed webhook, delivers it once the services answer, and exits 0 on SIGTERM. In prod a missing credential stops it at start, naming it.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "libs/http/client.h"
#include "libs/pg/query.h"
#include "tests/contract/edge/fixtures.h"
#include "tests/integration/edge/fake_services.h"
#include "tests/support/child_process.h"
#include "tests/support/pg_harness.h"

namespace protectogram::edge::testing {
namespace {

using std::chrono::milliseconds;

constexpr pg::Query kStatus{"test_status",
                            "SELECT status FROM edge.inbox_events WHERE provider = 'telegram:main' "
                            "AND provider_event_id = '815000001'"};

std::string EdgeBinary() {
  const char* dir = std::getenv("PROTECTOGRAM_BIN_DIR");
  return dir != nullptr && *dir != '\0' ? protectogram::testing::BinaryPath("protectogram-edge")
                                        : EDGE_BINARY;
}

uint16_t FreePort() { return static_cast<uint16_t>(protectogram::testing::FreePort()); }

template <typename F>
bool Eventually(F done, milliseconds timeout = milliseconds(10000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(25));
  }
  return done();
}

class EdgeProcessTest : public test::PgTest {};

TEST_F(EdgeProcessTest, LiveAndReadyWithTheServicesDownAcceptsDeliversAndStopsOnSigterm) {
  // The services' ports are reserved, then let go: the edge starts with nothing answering there.
  FakeServices incident, telephony, notification;
  incident.Down();
  telephony.Down();
  notification.Down();
  const uint16_t port = FreePort();
  protectogram::testing::ChildProcess edge(EdgeBinary(), {},
                                           {{"APP_ENV", "dev"},
                                            {"DATABASE_URL", db_url_for_role("protectogram_edge")},
                                            {"HTTP_PORT", std::to_string(port)},
                                            {"LOG_LEVEL", "info"},
                                            {"TELEGRAM_BOT_TOKEN", kMainBotToken},
                                            {"TELEGRAM_WEBHOOK_SECRET", kMainSecret},
                                            {"INCIDENT_ADDR", incident.address()},
                                            {"TELEPHONY_ADDR", telephony.address()},
                                            {"NOTIFICATION_ADDR", notification.address()},
                                            {"EDGE_FORWARD_RETRY_MAX_MS", "500"},
                                            {"EDGE_READY_TIMEOUT_MS", "200"}});
  const std::string base = absl::StrCat("http://127.0.0.1:", port);
  http::Client client;
  ASSERT_TRUE(Eventually([&] {
    absl::StatusOr<http::ClientResponse> r = client.Get(base + "/health/live");
    return r.ok() && r->status == 200;
  })) << edge.Stdout()
      << edge.Stderr();
  // The readiness probe ran before the port was opened: ready (Postgres answers), the services reported.
  absl::StatusOr<http::ClientResponse> ready = client.Get(base + "/health/ready");
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(ready->body, R"({"status":"ready"})");
  EXPECT_EQ(client.Get(base + "/health").value().body,
            R"({"status":"ok","version":"0.1.0","postgres":"ok","services":{"incident":"UNAVAILABLE",)"
            R"("notification":"UNAVAILABLE","telephony":"UNAVAILABLE"}})");
  EXPECT_NE(client.Get(base + "/metrics").value().body.find(R"(edge_service_up{service="telephony"} 0)"),
            std::string::npos);

  absl::StatusOr<http::ClientResponse> accepted =
      client.Post(base + "/telegram/webhook?secret=" + kMainSecret, "application/json", kTelegramUpdate);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_EQ(accepted->status, 200);
  EXPECT_EQ(client.Post(base + "/telegram/webhook?secret=nope", "application/json", kTelegramUpdate)->status,
            403);
  absl::StatusOr<pg::Result> status = pool().Execute(kStatus);
  ASSERT_TRUE(status.ok() && status->size() == 1);
  EXPECT_EQ(status->front().Get<std::string>(0), "received");

  incident.Up();
  telephony.Up();
  notification.Up();
  EXPECT_TRUE(Eventually([&] {
    absl::StatusOr<http::ClientResponse> r = client.Get(base + "/health");
    return r.ok() && r->body == R"({"status":"ok","version":"0.1.0","postgres":"ok","services":{)"
                                R"("incident":"SERVING","notification":"SERVING","telephony":"SERVING"}})";
  }));
  EXPECT_NE(client.Get(base + "/metrics").value().body.find(R"(edge_service_up{service="telephony"} 1)"),
            std::string::npos);
  EXPECT_EQ(client.Get(base + "/health/ready").value().status, 200);
  ASSERT_TRUE(incident.WaitForChats(1, milliseconds(10000)));
  EXPECT_TRUE(
      Eventually([&] { return pool().Execute(kStatus)->front().Get<std::string>(0) == "delivered"; }));
  EXPECT_NE(client.Get(base + "/metrics").value().body.find("webhook_rejected_total"), std::string::npos);

  edge.Signal(SIGTERM);
  std::optional<int> code = edge.WaitExit(milliseconds(10000));
  ASSERT_TRUE(code.has_value()) << edge.Stdout();
  EXPECT_EQ(*code, 0) << edge.Stdout() << edge.Stderr();
  EXPECT_NE(edge.Stdout().find(R"("msg":"stopped")"), std::string::npos);
  // The secret never reached the logs.
  EXPECT_EQ(edge.Stdout().find(kMainSecret), std::string::npos);
  EXPECT_EQ(incident.chat_count(), 1u);
}

TEST_F(EdgeProcessTest, ProdWithoutCredentialsStopsAtStartNamingThem) {
  protectogram::testing::ChildProcess edge(EdgeBinary(), {},
                                           {{"APP_ENV", "prod"},
                                            {"DATABASE_URL", db_url_for_role("protectogram_edge")},
                                            {"ADMIN_TOKEN", "a-real-admin-token-for-this-test"},
                                            {"HTTP_PORT", std::to_string(FreePort())},
                                            {"TELNYX_API_KEY", "KEY0123456789"}});
  std::optional<int> code = edge.WaitExit(milliseconds(10000));
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 2);
  const std::string err = edge.Stderr();
  EXPECT_NE(err.find("config error: "), std::string::npos) << err;
  EXPECT_NE(err.find("TELEGRAM_BOT_TOKEN"), std::string::npos) << err;
  EXPECT_NE(err.find("TELNYX_PUBLIC_KEY"), std::string::npos) << err;
}

}  // namespace
}  // namespace protectogram::edge::testing
