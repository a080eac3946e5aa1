// The edge over real HTTP on loopback, against the harness Postgres, with fake
// incident/telephony/notification gRPC services in process: stored once and forwarded once under concurrent
// duplicates; delivered after the service comes back; 503 while Postgres is down and nothing lost after; the
// server's own limits.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "edge/edge.h"
#include "libs/http/client.h"
#include "libs/kernel/readiness.h"
#include "libs/pg/query.h"
#include "tests/contract/edge/edge_test_util.h"
#include "tests/contract/edge/fixtures.h"
#include "tests/integration/edge/fake_services.h"
#include "tests/integration/http/raw_connection.h"
#include "tests/support/pg_harness.h"

namespace protectogram::edge::testing {
namespace {

using std::chrono::milliseconds;

constexpr pg::Query kCount{"test_count", "SELECT count(*) FROM edge.inbox_events"};
constexpr pg::Query kRow{"test_row", R"sql(
SELECT id, status, attempts, coalesce(last_error, '') AS last_error FROM edge.inbox_events
 WHERE provider = $1 AND provider_event_id = $2)sql"};

class EdgeIntegrationTest : public test::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    incident_ = std::make_unique<FakeServices>();
    telephony_ = std::make_unique<FakeServices>();
    notification_ = std::make_unique<FakeServices>();
  }
  void TearDown() override {
    readiness_.reset();  // first: its thread probes the edge
    if (edge_ != nullptr) edge_->Stop();
    edge_.reset();
    incident_.reset();
    telephony_.reset();
    notification_.reset();
    PgTest::TearDown();
  }

  void StartEdge(std::map<std::string, std::string> overrides = {}) {
    std::map<std::string, std::string> env = AllProvidersEnv();
    env["INCIDENT_ADDR"] = incident_->address();
    env["TELEPHONY_ADDR"] = telephony_->address();
    env["NOTIFICATION_ADDR"] = notification_->address();
    env["EDGE_FORWARD_RETRY_MAX_MS"] = "500";
    env["EDGE_FORWARD_TIMEOUT_MS"] = "1000";
    for (auto& [k, v] : overrides) env[k] = v;
    readiness_.reset();
    edge_.reset();
    metrics_ = std::make_unique<kernel::MetricsRegistry>();
    readiness_ = std::make_unique<kernel::Readiness>();
    EdgeOptions options;
    options.config = ConfigFrom(env);
    options.database_url = db_url_for_role("protectogram_edge");
    options.listen_address = "127.0.0.1";
    options.port = 0;
    options.metrics = metrics_.get();
    options.readiness = readiness_.get();
    options.now = [] { return absl::FromUnixSeconds(1700000010); };
    options.relay_rescan_interval = absl::Seconds(1);
    absl::StatusOr<std::unique_ptr<Edge>> edge = Edge::Create(std::move(options));
    ASSERT_TRUE(edge.ok()) << edge.status();
    edge_ = *std::move(edge);
    Edge* e = edge_.get();
    readiness_->SetProbe([e] { return e->CheckReady(); }, absl::Milliseconds(200));
    ASSERT_TRUE(edge_->Start().ok());
    readiness_->Start();
    base_url_ = absl::StrCat("http://127.0.0.1:", edge_->port());
  }

  absl::StatusOr<http::ClientResponse> PostTelegram(const std::string& body) {
    return client_.Post(base_url_ + "/telegram/webhook?secret=" + kMainSecret, "application/json", body);
  }

  int64_t Count() {
    absl::StatusOr<pg::Result> r = pool().Execute(kCount);
    return r.ok() ? r->front().Get<int64_t>(0) : -1;
  }

  struct RowState {
    int64_t id = 0;
    std::string status;
    int attempts = 0;
    std::string last_error;
  };
  std::optional<RowState> Row(const std::string& provider, const std::string& event_id) {
    absl::StatusOr<pg::Result> r = pool().Execute(kRow, {provider, event_id});
    if (!r.ok() || r->empty()) return std::nullopt;
    const pg::Row row = r->front();
    return RowState{row.Get<int64_t>("id"), row.Get<std::string>("status"), row.Get<int32_t>("attempts"),
                    row.Get<std::string>("last_error")};
  }

  // Polls `done` every 20 ms until it holds or `timeout` passes.
  template <typename F>
  bool Eventually(F done, milliseconds timeout = milliseconds(10000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return done();
  }

  std::unique_ptr<FakeServices> incident_, telephony_, notification_;
  std::unique_ptr<kernel::MetricsRegistry> metrics_;
  std::unique_ptr<kernel::Readiness> readiness_;
  std::unique_ptr<Edge> edge_;
  http::Client client_;
  std::string base_url_;
};

TEST_F(EdgeIntegrationTest, FiftyConcurrentDuplicatesAreStoredOnceAndForwardedOnce) {
  StartEdge();
  constexpr int kPosts = 50;
  std::barrier start(kPosts);
  std::atomic<int> ok{0}, duplicates{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kPosts; ++i) {
    threads.emplace_back([&] {
      http::Client client;  // one connection per poster: all 50 arrive at once
      start.arrive_and_wait();
      absl::StatusOr<http::ClientResponse> r = client.Post(
          base_url_ + "/telegram/webhook?secret=" + kMainSecret, "application/json", kTelegramUpdate);
      if (r.ok() && r->status == 200) {
        ++ok;
        if (r->body.find("duplicate") != std::string::npos) ++duplicates;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), kPosts);
  EXPECT_EQ(duplicates.load(), kPosts - 1);
  EXPECT_EQ(Count(), 1);
  EXPECT_EQ(MetricValue(*metrics_, "duplicate_inbox_dropped_total"), kPosts - 1);

  ASSERT_TRUE(incident_->WaitForChats(1, milliseconds(10000)));
  std::this_thread::sleep_for(milliseconds(1500));  // a second delivery would have happened by now
  std::vector<FakeServices::Chat> chats = incident_->chats();
  ASSERT_EQ(chats.size(), 1u);
  const std::optional<RowState> row = Row("telegram:main", "815000001");
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(chats[0].event.event_key(), absl::StrCat("edge:", row->id));
  EXPECT_EQ(chats[0].event.provider_event_id(), "main:815000001");
  EXPECT_EQ(chats[0].event.text().command(), "start");
  EXPECT_EQ(chats[0].correlation_id, absl::StrCat("edge-", row->id));
  EXPECT_TRUE(chats[0].event.has_received_at());
  EXPECT_TRUE(Eventually([&] { return Row("telegram:main", "815000001")->status == "delivered"; }));
}

TEST_F(EdgeIntegrationTest, StoredWhileTheServiceIsDownAndDeliveredOnceWhenItIsBack) {
  incident_->Down();
  StartEdge();
  absl::StatusOr<http::ClientResponse> r = PostTelegram(kTelegramUpdate);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  // Stored, tried, not delivered.
  EXPECT_TRUE(Eventually([&] {
    std::optional<RowState> row = Row("telegram:main", "815000001");
    return row.has_value() && row->attempts >= 1 && !row->last_error.empty();
  }));
  EXPECT_EQ(Row("telegram:main", "815000001")->status, "received");
  EXPECT_EQ(incident_->chat_count(), 0u);

  incident_->Up();
  ASSERT_TRUE(incident_->WaitForChats(1, milliseconds(15000)));
  EXPECT_TRUE(Eventually([&] { return Row("telegram:main", "815000001")->status == "delivered"; }));
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_EQ(incident_->chat_count(), 1u);
}

TEST_F(EdgeIntegrationTest, PostgresDownAnswers503AndNothingIsLostAfterRecovery) {
  StartEdge();
  // A first webhook goes through, so the pools hold live connections that the stop then breaks.
  ASSERT_EQ(PostTelegram(TelegramUpdate(700)).value().status, 200);
  ASSERT_TRUE(cluster().Stop().ok());
  absl::StatusOr<http::ClientResponse> down = PostTelegram(TelegramUpdate(701));
  ASSERT_TRUE(down.ok()) << down.status();
  EXPECT_EQ(down->status, 503);
  EXPECT_EQ(down->Header("retry-after"), "5");
  EXPECT_NE(down->body.find("unavailable"), std::string::npos);
  EXPECT_GE(
      MetricValue(*metrics_, R"(webhook_rejected_total{provider="telegram",reason="store_unavailable"})"), 1);
  readiness_->ProbeNowForTest();
  EXPECT_EQ(client_.Get(base_url_ + "/health/ready").value().status, 503);

  ASSERT_TRUE(cluster().Start().ok());
  // The provider retries until it gets its 200.
  int status = 0;
  EXPECT_TRUE(Eventually([&] {
    absl::StatusOr<http::ClientResponse> again = PostTelegram(TelegramUpdate(701));
    status = again.ok() ? again->status : 0;
    return status == 200;
  }));
  EXPECT_EQ(Count(), 2);
  ASSERT_TRUE(incident_->WaitForChats(2, milliseconds(15000)));
  std::this_thread::sleep_for(milliseconds(1000));
  EXPECT_EQ(incident_->chat_count(), 2u);
}

TEST_F(EdgeIntegrationTest, CallEventsGoToTelephonyAndChatsToIncident) {
  StartEdge();
  absl::StatusOr<http::ClientResponse> telnyx =
      client_.Post(base_url_ + "/telnyx/webhook", "application/json", kTelnyxBody,
                   {{"telnyx-signature-ed25519", kTelnyxSignature}, {"telnyx-timestamp", kTelnyxTimestamp}});
  ASSERT_TRUE(telnyx.ok());
  EXPECT_EQ(telnyx->status, 200);
  absl::StatusOr<http::ClientResponse> twilio =
      client_.Post(base_url_ + "/twilio/whatsapp", "application/x-www-form-urlencoded", kTwilioWhatsAppBody,
                   {{"X-Twilio-Signature", kTwilioWhatsAppSignature}});
  ASSERT_TRUE(twilio.ok());
  EXPECT_EQ(twilio->status, 200);
  ASSERT_TRUE(telephony_->WaitForCalls(1, milliseconds(10000)));
  ASSERT_TRUE(incident_->WaitForChats(1, milliseconds(10000)));
  const FakeServices::Call call = telephony_->calls()[0];
  EXPECT_EQ(call.event.type(), common::v1::CALL_EVENT_TYPE_GATHER_ENDED);
  EXPECT_EQ(call.event.digits(), "1");
  EXPECT_EQ(call.event.client_state(), "attempt:42");
  EXPECT_EQ(call.event.event_key(), absl::StrCat("edge:", Row("telnyx", kTelnyxEventId)->id));
  const FakeServices::Chat chat = incident_->chats()[0];
  EXPECT_EQ(chat.event.provider(), common::v1::PROVIDER_TWILIO);
  EXPECT_EQ(chat.event.text().text(), "1");
  EXPECT_EQ(telephony_->chat_count(), 0u);
  EXPECT_EQ(incident_->call_count(), 0u);
}

TEST_F(EdgeIntegrationTest, AnEventTheServiceRefusesAsInvalidIsIgnoredNotRetried) {
  incident_->SetAnswer(grpc::StatusCode::INVALID_ARGUMENT, "no such chat");
  StartEdge();
  ASSERT_EQ(PostTelegram(kTelegramUpdate).value().status, 200);
  EXPECT_TRUE(Eventually([&] { return Row("telegram:main", "815000001")->status == "ignored"; }));
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_EQ(incident_->chat_count(), 1u);
  EXPECT_NE(Row("telegram:main", "815000001")->last_error.find("no such chat"), std::string::npos);
}

TEST_F(EdgeIntegrationTest, UnavailableAnswersAreRetriedUntilTaken) {
  incident_->SetAnswer(grpc::StatusCode::UNAVAILABLE, "busy");
  StartEdge();
  ASSERT_EQ(PostTelegram(kTelegramUpdate).value().status, 200);
  ASSERT_TRUE(incident_->WaitForChats(2, milliseconds(10000)));
  incident_->SetAnswer(grpc::StatusCode::OK);
  EXPECT_TRUE(Eventually([&] { return Row("telegram:main", "815000001")->status == "delivered"; }));
}

TEST_F(EdgeIntegrationTest, OversizedBodyIs413AndNothingIsStored) {
  StartEdge();
  std::string big =
      std::string(R"({"update_id":1,"message":{"text":")") + std::string((1 << 20) + 1, 'x') + "\"}}";
  absl::StatusOr<http::ClientResponse> r = PostTelegram(big);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("too_large"), std::string::npos);
  EXPECT_EQ(Count(), 0);
  EXPECT_TRUE(Eventually([&] {
    return MetricValue(*metrics_, R"(webhook_rejected_total{provider="unknown",reason="too_large"})") == 1;
  }));
  // Just under the limit is fine (and a smaller limit is configuration).
  edge_->Stop();
  StartEdge({{"EDGE_BODY_LIMIT_BYTES", "2048"}});
  EXPECT_EQ(PostTelegram(TelegramUpdate(1)).value().status, 200);
  EXPECT_EQ(PostTelegram(TelegramUpdate(2) + std::string(2048, ' ')).value().status, 413);
}

TEST_F(EdgeIntegrationTest, OversizedHeadersAre431) {
  StartEdge({{"EDGE_HEADER_LIMIT_BYTES", "4096"}});
  absl::StatusOr<http::ClientResponse> r =
      client_.Post(base_url_ + "/telegram/webhook?secret=" + kMainSecret, "application/json", kTelegramUpdate,
                   {{"X-Padding", std::string(5000, 'p')}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(Count(), 0);
}

TEST_F(EdgeIntegrationTest, SlowClientIsCutOff) {
  StartEdge({{"EDGE_READ_TIMEOUT_MS", "300"}});
  http::testing::RawConnection conn(edge_->port());
  ASSERT_TRUE(conn.connected());
  const std::string body = kTelegramUpdate;
  ASSERT_TRUE(conn.Send(
      absl::StrCat("POST /telegram/webhook?secret=", kMainSecret,
                   " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ", body.size(),
                   "\r\n\r\n", body.substr(0, 10))));
  const auto started = std::chrono::steady_clock::now();
  std::optional<http::testing::RawResponse> response = conn.ReadResponse(milliseconds(3000));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 408);
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(2000));
  EXPECT_TRUE(conn.WaitForClose(milliseconds(3000)));
  EXPECT_EQ(Count(), 0);
  // A connection that never sends anything is closed too.
  http::testing::RawConnection idle(edge_->port());
  EXPECT_TRUE(idle.WaitForClose(milliseconds(3000)));
}

TEST_F(EdgeIntegrationTest, ConnectionsOverTheCapAreRefused) {
  StartEdge({{"EDGE_MAX_CONNECTIONS", "2"}});
  http::testing::RawConnection a(edge_->port()), b(edge_->port());
  ASSERT_TRUE(a.Send("GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(b.Send("GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(a.ReadResponse()->status, 200);
  ASSERT_EQ(b.ReadResponse()->status, 200);
  http::testing::RawConnection c(edge_->port());
  std::optional<http::testing::RawResponse> refused = c.ReadResponse();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 503);
}

// Ready means the edge can accept webhooks: Postgres answers. A service down does not take the edge out of
// its load balancer (what it accepts waits in the inbox); /health and edge_service_up report it.
TEST_F(EdgeIntegrationTest, ReadinessNeedsOnlyPostgresAndHealthReportsTheServices) {
  StartEdge();
  EXPECT_TRUE(edge_->CheckReady().ok()) << edge_->CheckReady();
  readiness_->ProbeNowForTest();
  EXPECT_EQ(client_.Get(base_url_ + "/health/ready").value().status, 200);
  EXPECT_EQ(client_.Get(base_url_ + "/health").value().body,
            R"({"status":"ok","version":"0.1.0","postgres":"ok","services":{"incident":"SERVING",)"
            R"("notification":"SERVING","telephony":"SERVING"}})");
  EXPECT_EQ(MetricValue(*metrics_, R"(edge_service_up{service="notification"})"), 1);

  // The notification service goes down: still ready, and a webhook is still stored.
  notification_->Down();
  EXPECT_TRUE(edge_->CheckReady().ok()) << edge_->CheckReady();
  readiness_->ProbeNowForTest();
  EXPECT_EQ(client_.Get(base_url_ + "/health/ready").value().status, 200);
  http::ClientResponse health = client_.Get(base_url_ + "/health").value();
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body,
            R"({"status":"ok","version":"0.1.0","postgres":"ok","services":{"incident":"SERVING",)"
            R"("notification":"UNAVAILABLE","telephony":"SERVING"}})");
  EXPECT_EQ(MetricValue(*metrics_, R"(edge_service_up{service="notification"})"), 0);
  EXPECT_EQ(MetricValue(*metrics_, R"(edge_service_up{service="incident"})"), 1);
  EXPECT_NE(
      client_.Get(base_url_ + "/metrics").value().body.find(R"(edge_service_up{service="notification"} 0)"),
      std::string::npos);
  EXPECT_EQ(PostTelegram(kTelegramUpdate).value().status, 200);
  EXPECT_EQ(client_.Get(base_url_ + "/health/live").value().status, 200);

  // Back: SERVING again, within the probe's interval (the test's Readiness polls every 200 ms).
  notification_->Up();
  EXPECT_TRUE(Eventually([&] {
    return client_.Get(base_url_ + "/health").value().body.find(R"("notification":"SERVING")") !=
           std::string::npos;
  }));
  EXPECT_EQ(MetricValue(*metrics_, R"(edge_service_up{service="notification"})"), 1);

  // Postgres down: not ready, whatever the services say; /health still answers, naming it.
  ASSERT_TRUE(cluster().Stop().ok());
  absl::Status status = edge_->CheckReady();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("postgres"), std::string::npos) << status;
  readiness_->ProbeNowForTest();
  EXPECT_EQ(client_.Get(base_url_ + "/health/ready").value().status, 503);
  health = client_.Get(base_url_ + "/health").value();
  EXPECT_EQ(health.status, 200);
  EXPECT_NE(health.body.find(R"("postgres":"unavailable")"), std::string::npos) << health.body;
  EXPECT_NE(health.body.find(R"("incident":"SERVING")"), std::string::npos) << health.body;
  EXPECT_EQ(client_.Get(base_url_ + "/health/live").value().status, 200);
  ASSERT_TRUE(cluster().Start().ok());
  EXPECT_TRUE(Eventually([&] { return edge_->CheckReady().ok(); }));
}

TEST_F(EdgeIntegrationTest, MetricsCountRequestsByRouteAndCode) {
  StartEdge();
  ASSERT_EQ(PostTelegram(kTelegramUpdate).value().status, 200);
  ASSERT_EQ(client_.Post(base_url_ + "/webhook/nobody", "application/json", kTelegramUpdate).value().status,
            404);
  ASSERT_EQ(client_.Get(base_url_ + "/telnyx/webhook").value().status, 405);
  http::ClientResponse metrics = client_.Get(base_url_ + "/metrics").value();
  EXPECT_EQ(metrics.status, 200);
  EXPECT_TRUE(Eventually([&] {
    return MetricValue(*metrics_, R"(http_requests_total{route="/telegram/webhook",code="200"})") == 1 &&
           MetricValue(*metrics_, R"(http_requests_total{route="/webhook/",code="404"})") == 1 &&
           MetricValue(*metrics_,
                       R"(webhook_rejected_total{provider="telnyx",reason="method_not_allowed"})") == 1;
  }));
  EXPECT_NE(metrics_->Expose().find(R"(http_request_duration_seconds_count{route="/telegram/webhook"} 1)"),
            std::string::npos);
}

TEST_F(EdgeIntegrationTest, ManyDistinctUpdatesAreEachStoredAndForwardedOnce) {
  StartEdge();
  constexpr int kThreads = 16, kEach = 20;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      http::Client client;
      for (int i = 0; i < kEach; ++i) {
        absl::StatusOr<http::ClientResponse> r =
            client.Post(base_url_ + "/telegram/webhook?secret=" + kMainSecret, "application/json",
                        TelegramUpdate(t * 1000 + i));
        if (r.ok() && r->status == 200) ++ok;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kEach);
  EXPECT_EQ(Count(), kThreads * kEach);
  ASSERT_TRUE(incident_->WaitForChats(kThreads * kEach, milliseconds(20000)));
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_EQ(incident_->chat_count(), static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(MetricValue(*metrics_, "edge_ingest_batch_rows_sum"), kThreads * kEach);
}

}  // namespace
}  // namespace protectogram::edge::testing
