// The edge's admin routes (edge/admin_api.h) over real HTTP on loopback, against the harness Postgres and a
// fake IncidentAdminService on in-process gRPC that records what it is asked and answers what the test
// scripts: the token checked and passed on, the body checked before anything is forwarded, the incident
// service's errors mapped, and a missing or slow incident service answered 503 within the deadline.
#include "edge/admin_api.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "edge/edge.h"
#include "libs/http/client.h"
#include "libs/kernel/log.h"
#include "libs/kernel/rpc.h"
#include "protectogram/incident/v1/incident.grpc.pb.h"
#include "tests/support/pg_harness.h"

namespace protectogram::edge {
namespace {

namespace json = boost::json;
namespace iv1 = incident::v1;

constexpr char kToken[] = "integration-admin-token-0123456789";

// IncidentAdminService.TriggerTestPanic: keeps every request with its metadata; answers the next scripted
// status (OK: incident 7, already_active as scripted), after `delay` when set.
class FakeIncidentAdmin final : public iv1::IncidentAdminService::Service {
 public:
  struct Seen {
    iv1::TriggerTestPanicRequest request;
    std::string authorization;
    std::string correlation_id;
  };
  struct Answer {
    grpc::Status status = grpc::Status::OK;
    bool already_active = false;
  };

  FakeIncidentAdmin() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeIncidentAdmin() override { Down(); }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  void Down() {
    if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
    server_.reset();
  }
  void Script(Answer answer) {
    std::lock_guard<std::mutex> lock(mu_);
    answers_.push_back(std::move(answer));
  }
  void SetDelay(absl::Duration delay) {
    std::lock_guard<std::mutex> lock(mu_);
    delay_ = delay;
  }
  std::vector<Seen> seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

  grpc::Status TriggerTestPanic(grpc::ServerContext* context, const iv1::TriggerTestPanicRequest* request,
                                iv1::TriggerTestPanicResponse* response) override {
    Answer answer;
    absl::Duration delay;
    {
      std::lock_guard<std::mutex> lock(mu_);
      Seen seen{*request, Metadata(*context, "authorization"), Metadata(*context, "x-correlation-id")};
      seen_.push_back(std::move(seen));
      if (!answers_.empty()) {
        answer = answers_.front();
        answers_.pop_front();
      }
      delay = delay_;
    }
    const absl::Time until = absl::Now() + delay;
    while (absl::Now() < until && !context->IsCancelled()) absl::SleepFor(absl::Milliseconds(10));
    if (!answer.status.ok()) return answer.status;
    response->set_incident_id(7);
    response->set_already_active(answer.already_active);
    return grpc::Status::OK;
  }

 private:
  static std::string Metadata(const grpc::ServerContext& context, const std::string& key) {
    auto it = context.client_metadata().find(key);
    if (it == context.client_metadata().end()) return "";
    return std::string(it->second.data(), it->second.size());
  }

  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  mutable std::mutex mu_;
  std::deque<Answer> answers_;
  absl::Duration delay_;
  std::vector<Seen> seen_;
};

class AdminApiIntegrationTest : public test::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    incident_ = std::make_unique<FakeIncidentAdmin>();
  }
  void TearDown() override {
    if (edge_ != nullptr) edge_->Stop();
    edge_.reset();
    api_.reset();
    incident_.reset();
    PgTest::TearDown();
  }

  // The edge with the admin routes on its router, as protectogram-edge has them.
  void Start(std::string admin_token = kToken, absl::Duration incident_timeout = absl::Seconds(5)) {
    AdminApi::Options admin;
    admin.admin_token = std::move(admin_token);
    admin.incident = kernel::ServiceChannel(incident_->address());
    admin.incident_timeout = incident_timeout;
    api_ = std::make_unique<AdminApi>(std::move(admin));

    absl::StatusOr<EdgeConfig> config =
        LoadEdgeConfig(kernel::MapEnv({{"INCIDENT_ADDR", incident_->address()}}), kernel::AppEnv::kDev);
    ASSERT_TRUE(config.ok()) << config.status();
    EdgeOptions options;
    options.config = *config;
    options.database_url = db_url_for_role("protectogram_edge");
    options.listen_address = "127.0.0.1";
    options.port = 0;
    options.metrics = &metrics_;
    options.run_relay = false;
    AdminApi* api = api_.get();
    options.extra_routes = [api](http::Router& router) { api->AddRoutes(router); };
    absl::StatusOr<std::unique_ptr<Edge>> edge = Edge::Create(std::move(options));
    ASSERT_TRUE(edge.ok()) << edge.status();
    edge_ = *std::move(edge);
    ASSERT_TRUE(edge_->Start().ok());
    url_ = absl::StrCat("http://127.0.0.1:", edge_->port(), kTriggerPanicTestPath);
  }

  absl::StatusOr<http::ClientResponse> Trigger(std::string body, http::HeaderList headers) {
    return client_.PostJson(url_, std::move(body), std::move(headers));
  }
  absl::StatusOr<http::ClientResponse> Trigger(std::string body) {
    return Trigger(std::move(body), {{"Authorization", absl::StrCat("Bearer ", kToken)}});
  }

  // A {"detail": "<text>"} answer with `status`; returns the detail.
  static std::string ExpectDetail(const absl::StatusOr<http::ClientResponse>& r, int status,
                                  const std::string& what) {
    EXPECT_TRUE(r.ok()) << r.status() << " " << what;
    if (!r.ok()) return "";
    EXPECT_EQ(r->status, status) << what << ": " << r->body;
    EXPECT_EQ(r->Header("content-type"), "application/json") << what;
    boost::system::error_code ec;
    json::value body = json::parse(r->body, ec);
    EXPECT_FALSE(ec) << what << ": " << r->body;
    if (ec || !body.is_object() || body.as_object().size() != 1 || !body.as_object().contains("detail") ||
        !body.at("detail").is_string()) {
      ADD_FAILURE() << what << ": not {\"detail\": \"...\"}: " << r->body;
      return "";
    }
    return std::string(body.at("detail").as_string());
  }

  kernel::MetricsRegistry metrics_;
  std::unique_ptr<FakeIncidentAdmin> incident_;
  std::unique_ptr<AdminApi> api_;
  std::unique_ptr<Edge> edge_;
  http::Client client_;
  std::string url_;
};

TEST_F(AdminApiIntegrationTest, ForwardsWithTheTokenAndRelaysTheAnswer) {
  Start();
  absl::StatusOr<http::ClientResponse> r = Trigger(R"({"traveler_user_id": 42})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->Header("content-type"), "application/json");
  EXPECT_EQ(json::parse(r->body), json::parse(R"({"incident_id": 7, "already_active": false})")) << r->body;

  incident_->Script({.status = grpc::Status::OK, .already_active = true});
  r = Trigger(R"({"telegram_id": 123456789, "note": "ignored"})",
              {{"Authorization", absl::StrCat("bearer  ", kToken, " ")}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body), json::parse(R"({"incident_id": 7, "already_active": true})")) << r->body;

  // The caller's correlation id goes through to the incident service and back.
  r = Trigger(R"({"traveler_user_id": 43})",
              {{"Authorization", absl::StrCat("Bearer ", kToken)}, {"X-Correlation-Id", "ops-check-1"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->Header("x-correlation-id"), "ops-check-1");

  const std::vector<FakeIncidentAdmin::Seen> seen = incident_->seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[2].correlation_id, "ops-check-1");
  EXPECT_EQ(seen[0].request.traveler_user_id(), 42);
  EXPECT_EQ(seen[0].request.telegram_id(), 0);
  EXPECT_EQ(seen[1].request.traveler_user_id(), 0);
  EXPECT_EQ(seen[1].request.telegram_id(), 123456789);
  for (const FakeIncidentAdmin::Seen& s : seen) {
    EXPECT_EQ(s.authorization, absl::StrCat("Bearer ", kToken));
    EXPECT_TRUE(kernel::IsValidCorrelationId(s.correlation_id)) << s.correlation_id;
  }
}

TEST_F(AdminApiIntegrationTest, WithoutTheTokenIs401AndNothingIsForwarded) {
  Start();
  std::string logs;
  kernel::CaptureLogsForTest(&logs);
  const std::string body = R"({"traveler_user_id": 42})";
  const std::string almost(kToken, sizeof(kToken) - 2);
  const std::map<std::string, http::HeaderList> cases = {
      {"no header", {}},
      {"another scheme", {{"Authorization", absl::StrCat("Basic ", kToken)}}},
      {"no token", {{"Authorization", "Bearer"}}},
      {"empty token", {{"Authorization", "Bearer  "}}},
      {"wrong token", {{"Authorization", "Bearer wrong-token"}}},
      {"a prefix of the token", {{"Authorization", "Bearer " + almost}}},
      {"the token and more", {{"Authorization", absl::StrCat("Bearer ", kToken, "x")}}},
      {"the token as the header", {{"Authorization", kToken}}},
  };
  for (const auto& [what, headers] : cases) {
    absl::StatusOr<http::ClientResponse> r = Trigger(body, headers);
    const std::string detail = ExpectDetail(r, 401, what);
    EXPECT_EQ(detail, what == "no header" || what == "another scheme" || what == "the token as the header"
                          ? "Not authenticated"
                          : "Invalid admin token")
        << what;
    if (r.ok()) {
      EXPECT_EQ(r->Header("www-authenticate"), "Bearer") << what;
    }
  }
  kernel::CaptureLogsForTest(nullptr);
  EXPECT_TRUE(incident_->seen().empty());
  EXPECT_EQ(logs.find(kToken), std::string::npos) << "a presented token reached the log";
  EXPECT_EQ(logs.find(almost), std::string::npos) << "a presented token reached the log";
}

TEST_F(AdminApiIntegrationTest, BadBodiesAre422AndNothingIsForwarded) {
  Start();
  const std::vector<std::string> bodies = {
      "",
      "not json",
      R"({"traveler_user_id": 42)",
      "[]",
      "42",
      "null",
      "{}",
      R"({"traveller_user_id": 42})",
      R"({"traveler_user_id": null, "telegram_id": null})",
      R"({"traveler_user_id": 1, "telegram_id": 2})",
      R"({"traveler_user_id": "42"})",
      R"({"traveler_user_id": 42.5})",
      R"({"traveler_user_id": 42.0})",
      R"({"traveler_user_id": true})",
      R"({"traveler_user_id": [42]})",
      R"({"traveler_user_id": 0})",
      R"({"telegram_id": -5})",
      R"({"telegram_id": 18446744073709551615})",
      R"({"telegram_id": 1e3})",
  };
  for (const std::string& body : bodies) {
    const std::string detail = ExpectDetail(Trigger(body), 422, body);
    EXPECT_FALSE(detail.empty()) << body;
  }
  EXPECT_EQ(ExpectDetail(Trigger(R"({"traveler_user_id": 1, "telegram_id": 2})"), 422, "both"),
            "give traveler_user_id or telegram_id, not both");
  EXPECT_EQ(ExpectDetail(Trigger(R"({"telegram_id": "x"})"), 422, "a string"),
            "telegram_id must be a positive integer");

  // Bodies above 4 KiB are refused by the server before the handler runs.
  absl::StatusOr<http::ClientResponse> big =
      Trigger(absl::StrCat(R"({"traveler_user_id": 42, "pad": ")", std::string(5000, 'x'), R"("})"));
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->status, 413) << big->body;
  EXPECT_TRUE(incident_->seen().empty());
}

TEST_F(AdminApiIntegrationTest, TheIncidentServicesErrorsAreMapped) {
  Start();
  struct Case {
    grpc::StatusCode code;
    int http;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {grpc::StatusCode::NOT_FOUND, 404, "no such traveler"},
      {grpc::StatusCode::FAILED_PRECONDITION, 409, "no such traveler"},
      {grpc::StatusCode::INVALID_ARGUMENT, 422, "no such traveler"},
      {grpc::StatusCode::UNAVAILABLE, 503, "Incident service unavailable"},
      {grpc::StatusCode::DEADLINE_EXCEEDED, 503, "Incident service unavailable"},
      {grpc::StatusCode::UNAUTHENTICATED, 502, "Incident service error"},
      {grpc::StatusCode::PERMISSION_DENIED, 502, "Incident service error"},
      {grpc::StatusCode::INTERNAL, 502, "Incident service error"},
      {grpc::StatusCode::UNIMPLEMENTED, 502, "Incident service error"},
  };
  for (const Case& c : cases) {
    incident_->Script({.status = grpc::Status(c.code, "no such traveler"), .already_active = false});
    absl::StatusOr<http::ClientResponse> r = Trigger(R"({"traveler_user_id": 42})");
    const std::string what = absl::StrCat("code ", static_cast<int>(c.code));
    EXPECT_EQ(ExpectDetail(r, c.http, what), c.detail) << what;
    if (r.ok() && c.http == 503) {
      EXPECT_EQ(r->Header("retry-after"), "5") << what;
    }
  }
  EXPECT_EQ(incident_->seen().size(), cases.size());
}

TEST_F(AdminApiIntegrationTest, IncidentDownIs503WithinTheDeadline) {
  Start();
  incident_->Down();
  const absl::Time started = absl::Now();
  absl::StatusOr<http::ClientResponse> r = Trigger(R"({"traveler_user_id": 42})");
  const absl::Duration took = absl::Now() - started;
  EXPECT_EQ(ExpectDetail(r, 503, "incident down"), "Incident service unavailable");
  EXPECT_LT(took, absl::Seconds(5) + absl::Milliseconds(500));
}

TEST_F(AdminApiIntegrationTest, SlowIncidentIs503AtTheDeadline) {
  Start(kToken, absl::Milliseconds(300));
  incident_->SetDelay(absl::Seconds(3));
  const absl::Time started = absl::Now();
  absl::StatusOr<http::ClientResponse> r = Trigger(R"({"traveler_user_id": 42})");
  const absl::Duration took = absl::Now() - started;
  EXPECT_EQ(ExpectDetail(r, 503, "incident slow"), "Incident service unavailable");
  EXPECT_GE(took, absl::Milliseconds(300));
  EXPECT_LT(took, absl::Seconds(2));
  EXPECT_EQ(incident_->seen().size(), 1u);
}

TEST_F(AdminApiIntegrationTest, WithoutAdminTokenTheRouteIs404) {
  Start("");
  EXPECT_EQ(ExpectDetail(Trigger(R"({"traveler_user_id": 42})"), 404, "disabled"), "Not Found");
  EXPECT_EQ(ExpectDetail(Trigger(R"({"traveler_user_id": 42})", {{"Authorization", "Bearer "}}), 404,
                         "disabled, empty token"),
            "Not Found");
  EXPECT_TRUE(incident_->seen().empty());
}

}  // namespace
}  // namespace protectogram::edge
