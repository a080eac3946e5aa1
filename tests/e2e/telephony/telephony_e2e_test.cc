// Telephony across real processes: protectogram-edge and protectogram-telephony on the harness Postgres, the
// provider APIs faked at the network boundary with their documented wire formats, and a fake incident service
// that records every OnCallOutcome. Ring times are shortened through configuration (the fakes' time scale,
// TELEPHONY_RING_GRACE_MS, TELEPHONY_JOB_LEASE_MS); the production defaults are the unit tests'.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "libs/http/client.h"
#include "libs/providers/ari/fake_ari.h"
#include "libs/providers/telnyx/fake_call_control.h"
#include "libs/providers/twilio/fake_voice_api.h"
#include "protectogram/incident/v1/incident.grpc.pb.h"
#include "protectogram/telephony/v1/telephony.grpc.pb.h"
#include "tests/support/child_process.h"
#include "tests/support/pg_harness.h"

namespace protectogram::telephony {
namespace {

namespace tx = providers::telnyx;
namespace tw = providers::twilio;
using protectogram::testing::ChildProcess;
using protectogram::testing::FreePort;
using std::chrono::milliseconds;

constexpr char kTwilioSid[] = "AC00000000000000000000000000000000";
constexpr char kTwilioToken[] = "fake-auth-token";
constexpr char kSecretKey[] = "e2e-secret-key-of-at-least-32-characters";

// Records every OnCallOutcome (and how often each event_key came).
class FakeIncident final : public incident::v1::IncidentService::Service {
 public:
  grpc::Status OnCallOutcome(grpc::ServerContext*, const incident::v1::OnCallOutcomeRequest* request,
                             incident::v1::OnCallOutcomeResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    response->set_duplicate(seen_[request->event_key()]++ > 0);
    if (!response->duplicate()) outcomes_.push_back(*request);
    return grpc::Status::OK;
  }
  std::vector<incident::v1::OnCallOutcomeRequest> outcomes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return outcomes_;
  }
  std::optional<incident::v1::OnCallOutcomeRequest> Find(const std::string& attempt_key) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& o : outcomes_) {
      if (o.attempt_key() == attempt_key) return o;
    }
    return std::nullopt;
  }

 private:
  mutable std::mutex mu_;
  std::vector<incident::v1::OnCallOutcomeRequest> outcomes_;
  std::map<std::string, int> seen_;
};

bool WaitFor(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(20)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return done();
}

class TelephonyE2eTest : public test::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&incident_);
    incident_server_ = builder.BuildAndStart();
    ASSERT_NE(incident_server_, nullptr);
    incident_addr_ = absl::StrCat("127.0.0.1:", port);
    edge_port_ = FreePort();
    telephony_port_ = FreePort();
  }

  void TearDown() override {
    telephony_.reset();
    edge_.reset();
    if (incident_server_) incident_server_->Shutdown(std::chrono::system_clock::now());
    PgTest::TearDown();
  }

  std::string EdgeUrl() const { return absl::StrCat("http://127.0.0.1:", edge_port_); }

  void StartFakes(double telnyx_time_scale = 0.01) {
    auto telnyx =
        tx::FakeTelnyx::Start({.webhook_url = EdgeUrl() + "/telnyx/webhook",
                               .time_scale = telnyx_time_scale,
                               .webhook_retry_delays = {absl::Milliseconds(100), absl::Milliseconds(300)}});
    ASSERT_TRUE(telnyx.ok()) << telnyx.status();
    telnyx_ = *std::move(telnyx);
    auto twilio = tw::FakeTwilioVoice::Start({.account_sid = kTwilioSid, .auth_token = kTwilioToken});
    ASSERT_TRUE(twilio.ok()) << twilio.status();
    twilio_ = *std::move(twilio);
  }

  void StartEdge() {
    edge_ = std::make_unique<ChildProcess>(
        protectogram::testing::BinaryPath("protectogram-edge"), std::vector<std::string>{},
        std::map<std::string, std::string>{{"APP_ENV", "dev"},
                                           {"DATABASE_URL", db_url_for_role("protectogram_edge")},
                                           {"HTTP_PORT", std::to_string(edge_port_)},
                                           {"METRICS_PORT", std::to_string(FreePort())},
                                           {"PUBLIC_BASE_URL", EdgeUrl()},
                                           {"TELNYX_PUBLIC_KEY", tx::kFakePublicKey},
                                           {"TWILIO_AUTH_TOKEN", kTwilioToken},
                                           {"INCIDENT_ADDR", incident_addr_},
                                           {"TELEPHONY_ADDR", absl::StrCat("127.0.0.1:", telephony_port_)},
                                           {"NOTIFICATION_ADDR", "127.0.0.1:1"},
                                           {"EDGE_FORWARD_RETRY_MAX_MS", "100"},
                                           {"SECRET_KEY", kSecretKey}});
    ASSERT_TRUE(WaitFor([&] { return protectogram::testing::HttpGet(edge_port_, "/health/live") == 200; }))
        << edge_->Output();
  }

  void StartTelephony(std::map<std::string, std::string> extra = {}) {
    std::map<std::string, std::string> env{{"APP_ENV", "dev"},
                                           {"DATABASE_URL", db_url_for_role("protectogram_telephony")},
                                           {"GRPC_PORT", std::to_string(telephony_port_)},
                                           {"METRICS_PORT", std::to_string(FreePort())},
                                           {"PUBLIC_BASE_URL", EdgeUrl()},
                                           {"INCIDENT_ADDR", incident_addr_},
                                           {"TELEPHONY_PROVIDERS", "telnyx,twilio"},
                                           {"TELNYX_API_KEY", tx::kFakeApiKey},
                                           {"TELNYX_CONNECTION_ID", "conn-1"},
                                           {"TELNYX_FROM_NUMBER", "+15550000001"},
                                           {"TELNYX_API_BASE_URL", telnyx_->base_url()},
                                           {"TWILIO_ACCOUNT_SID", kTwilioSid},
                                           {"TWILIO_AUTH_TOKEN", kTwilioToken},
                                           {"TWILIO_FROM_NUMBER", "+15550000002"},
                                           {"TWILIO_API_BASE_URL", twilio_->base_url()},
                                           {"TELEPHONY_RING_GRACE_MS", "500"},
                                           {"TELEPHONY_JOB_LEASE_MS", "2000"},
                                           {"TELEPHONY_PROVIDER_TIMEOUT_MS", "1000"}};
    for (auto& [k, v] : extra) env[k] = v;
    telephony_ = std::make_unique<ChildProcess>(protectogram::testing::BinaryPath("protectogram-telephony"),
                                                std::vector<std::string>{}, env);
    stub_ = v1::TelephonyService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", telephony_port_), grpc::InsecureChannelCredentials()));
  }

  void StartAll(double telnyx_time_scale = 0.01) {
    StartFakes(telnyx_time_scale);
    StartEdge();
    StartTelephony();
    // The edge's call API asks telephony at once (a refused connection is a 503, whatever the back-off).
    ASSERT_TRUE(telephony_->WaitForOutput("\"msg\":\"ready\"", milliseconds(20000))) << telephony_->Output();
    // And until the edge has reached it: its channel may still be in the back-off of a first attempt made
    // before telephony listened, and a call then is refused at once.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::string health;
    while (std::chrono::steady_clock::now() < deadline) {
      if (protectogram::testing::HttpGet(edge_port_, "/health", &health) == 200 &&
          health.find(R"("telephony":"SERVING")") != std::string::npos) {
        break;
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
    ASSERT_NE(health.find(R"("telephony":"SERVING")"), std::string::npos) << health;
  }

  v1::PlaceCallRequest Request(const std::string& key, const std::string& to) {
    v1::PlaceCallRequest r;
    r.set_attempt_key(key);
    r.set_to_e164(to);
    r.set_speak_text("Тревога: Анна нажала кнопку. Нажмите 1, чтобы принять.");
    r.set_language("ru");
    r.set_incident_id("77");
    r.mutable_report_to()->set_service("incident");
    r.mutable_report_to()->set_key("cascade:77:" + key);
    return r;
  }

  grpc::Status Place(const v1::PlaceCallRequest& request, v1::PlaceCallResponse* response = nullptr) {
    v1::PlaceCallResponse ignored;
    for (int attempt = 0;; ++attempt) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      context.set_wait_for_ready(true);
      grpc::Status s = stub_->PlaceCall(&context, request, response != nullptr ? response : &ignored);
      if (s.error_code() != grpc::StatusCode::UNAVAILABLE || attempt >= 20) return s;
      std::this_thread::sleep_for(milliseconds(200));
    }
  }

  v1::Call GetCall(const std::string& key) {
    grpc::ClientContext context;
    v1::GetCallRequest request;
    request.set_attempt_key(key);
    v1::GetCallResponse response;
    grpc::Status s = stub_->GetCall(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.call();
  }

  std::optional<incident::v1::OnCallOutcomeRequest> WaitOutcome(const std::string& key,
                                                                absl::Duration timeout = absl::Seconds(20)) {
    WaitFor([&] { return incident_.Find(key).has_value(); }, timeout);
    return incident_.Find(key);
  }

  std::string Logs() const {
    return "\n--- telephony:\n" + (telephony_ ? telephony_->Output() : "") + "\n--- edge:\n" +
           (edge_ ? edge_->Output() : "");
  }

  FakeIncident incident_;
  std::unique_ptr<grpc::Server> incident_server_;
  std::string incident_addr_;
  int edge_port_ = 0;
  int telephony_port_ = 0;
  std::unique_ptr<tx::FakeTelnyx> telnyx_;
  std::unique_ptr<tw::FakeTwilioVoice> twilio_;
  std::unique_ptr<ChildProcess> edge_;
  std::unique_ptr<ChildProcess> telephony_;
  std::unique_ptr<v1::TelephonyService::Stub> stub_;
};

TEST_F(TelephonyE2eTest, TelnyxAnsweredWithOneIsReportedOnce) {
  StartAll();
  tx::CallScript script = tx::CallScript::PressDigit("1");
  script.duplicate_webhooks = true;  // Telnyx may deliver twice: still one outcome
  telnyx_->Script("+79990000001", script);
  v1::PlaceCallResponse placed;
  ASSERT_TRUE(Place(Request("t-answer", "+79990000001"), &placed).ok()) << Logs();
  std::optional<incident::v1::OnCallOutcomeRequest> outcome = WaitOutcome("t-answer");
  ASSERT_TRUE(outcome.has_value()) << Logs();
  EXPECT_EQ(outcome->outcome(), "digit_pressed");
  EXPECT_EQ(outcome->digit(), "1");
  EXPECT_EQ(outcome->provider(), "telnyx");
  EXPECT_EQ(outcome->report_key(), "cascade:77:t-answer");
  EXPECT_EQ(outcome->call_id(), placed.call_id());
  EXPECT_EQ(telnyx_->DialCountFor("+79990000001"), 1u);
  // The prompt said the alert in the guardian's language, one digit, valid 1.
  bool prompted = false;
  for (const tx::FakeTelnyx::Command& c : telnyx_->Commands()) {
    if (c.action == "gather_using_speak") {
      prompted = true;
      EXPECT_NE(c.body_json.find("\"language\":\"ru-RU\""), std::string::npos) << c.body_json;
      EXPECT_NE(c.body_json.find("\"valid_digits\":\"1\""), std::string::npos) << c.body_json;
    }
  }
  EXPECT_TRUE(prompted);
  ASSERT_TRUE(WaitFor([&] { return GetCall("t-answer").state() == v1::CALL_STATE_COMPLETED; })) << Logs();
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(incident_.outcomes().size(), 1u);
}

TEST_F(TelephonyE2eTest, TelnyxNoAnswerAtTheRingTimeout) {
  StartAll();
  telnyx_->Script("+79990000002", tx::CallScript::NoAnswer());
  v1::PlaceCallRequest request = Request("t-noanswer", "+79990000002");
  request.set_ring_timeout_sec(20);
  ASSERT_TRUE(Place(request).ok()) << Logs();
  std::optional<incident::v1::OnCallOutcomeRequest> outcome = WaitOutcome("t-noanswer");
  ASSERT_TRUE(outcome.has_value()) << Logs();
  EXPECT_EQ(outcome->outcome(), "no_answer");
  EXPECT_EQ(GetCall("t-noanswer").state(), v1::CALL_STATE_NO_ANSWER);
  // The dial asked Telnyx to give up at the ring timeout.
  ASSERT_EQ(telnyx_->Dials().size(), 1u);
  EXPECT_NE(telnyx_->Dials()[0].body_json.find("\"timeout_secs\":20"), std::string::npos);
}

TEST_F(TelephonyE2eTest, TelnyxMachineIsNotAnswered) {
  StartAll();
  telnyx_->Script("+79990000003", tx::CallScript::Machine());
  ASSERT_TRUE(Place(Request("t-machine", "+79990000003")).ok()) << Logs();
  std::optional<incident::v1::OnCallOutcomeRequest> outcome = WaitOutcome("t-machine");
  ASSERT_TRUE(outcome.has_value()) << Logs();
  EXPECT_EQ(outcome->outcome(), "machine");
  EXPECT_TRUE(outcome->machine_detected());
  EXPECT_TRUE(GetCall("t-machine").machine_detected());
}

TEST_F(TelephonyE2eTest, TelnyxFailingSendsTheSameAttemptToTwilio) {
  StartAll();
  telnyx_->Script("+79990000004", tx::CallScript::RejectDial(500));
  v1::PlaceCallResponse placed;
  ASSERT_TRUE(Place(Request("t-failover", "+79990000004"), &placed).ok()) << Logs();
  std::optional<incident::v1::OnCallOutcomeRequest> outcome = WaitOutcome("t-failover");
  ASSERT_TRUE(outcome.has_value()) << Logs();
  EXPECT_EQ(outcome->outcome(), "digit_pressed");
  EXPECT_EQ(outcome->provider(), "twilio");
  EXPECT_EQ(outcome->call_id(), placed.call_id());
  EXPECT_EQ(twilio_->Calls().size(), 1u);
  EXPECT_EQ(telnyx_->Calls().size(), 0u);
  const v1::Call call = GetCall("t-failover");
  EXPECT_NE(call.failure_reason().find("telnyx"), std::string::npos) << call.failure_reason();
}

TEST_F(TelephonyE2eTest, KilledBetweenDecidingAndTheProviderAcceptingDialsOnce) {
  StartAll();
  // Telnyx places the call at once but answers the dial only after 3 s: telephony is killed while it waits.
  tx::CallScript script = tx::CallScript::SlowDial(absl::Seconds(3));
  telnyx_->Script("+79990000005", script);
  ASSERT_TRUE(Place(Request("t-crash", "+79990000005")).ok()) << Logs();
  ASSERT_TRUE(
      telnyx_->WaitFor([](const tx::FakeTelnyx::View& v) { return !v.calls.empty(); }, absl::Seconds(10)))
      << Logs();
  ASSERT_TRUE(telephony_->Signal(SIGKILL));
  ASSERT_TRUE(telephony_->WaitExit(milliseconds(5000)).has_value());
  StartTelephony();
  std::optional<incident::v1::OnCallOutcomeRequest> outcome = WaitOutcome("t-crash", absl::Seconds(30));
  ASSERT_TRUE(outcome.has_value()) << Logs();
  EXPECT_EQ(outcome->outcome(), "digit_pressed");
  // The restarted process dialed again with the same command_id: Telnyx placed nothing new.
  EXPECT_EQ(telnyx_->Calls().size(), 1u);
  EXPECT_GE(telnyx_->Dials().size(), 1u);
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(incident_.outcomes().size(), 1u);
}

TEST_F(TelephonyE2eTest, HangupAllEndsEveryLiveCallOfAnIncident) {
  StartAll(/*telnyx_time_scale=*/1.0);  // real-time rings: the calls are still ringing when we hang up
  telnyx_->Script("+79990000006", tx::CallScript::NoAnswer());
  telnyx_->Script("+79990000007", tx::CallScript::NoAnswer());
  ASSERT_TRUE(Place(Request("t-all-1", "+79990000006")).ok()) << Logs();
  ASSERT_TRUE(Place(Request("t-all-2", "+79990000007")).ok()) << Logs();
  ASSERT_TRUE(WaitFor([&] {
    return !GetCall("t-all-1").provider_call_id().empty() && !GetCall("t-all-2").provider_call_id().empty();
  })) << Logs();
  grpc::ClientContext context;
  v1::HangupAllRequest request;
  request.set_correlation_id("incident:77");
  v1::HangupAllResponse response;
  ASSERT_TRUE(stub_->HangupAll(&context, request, &response).ok());
  EXPECT_EQ(response.ended(), 2);
  // Both calls end at the provider.
  ASSERT_TRUE(telnyx_->WaitFor(
      [](const tx::FakeTelnyx::View& v) {
        int ended = 0;
        for (const auto& c : v.calls) ended += c.state == tx::FakeTelnyx::CallState::kEnded;
        return ended == 2;
      },
      absl::Seconds(10)))
      << Logs();
  EXPECT_EQ(WaitOutcome("t-all-1")->outcome(), "canceled");
  EXPECT_EQ(WaitOutcome("t-all-2")->outcome(), "canceled");
}

TEST_F(TelephonyE2eTest, SpendCapRefusesWithTheCapNamed) {
  StartFakes();
  StartEdge();
  StartTelephony({{"TELEPHONY_MAX_CALLS_PER_HOUR", "1"}});
  ASSERT_TRUE(Place(Request("t-cap-1", "+79990000008")).ok()) << Logs();
  grpc::Status refused = Place(Request("t-cap-2", "+79990000009"));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.error_message().find("calls_per_hour"), std::string::npos) << refused.error_message();
  std::optional<incident::v1::OnCallOutcomeRequest> outcome = WaitOutcome("t-cap-2");
  ASSERT_TRUE(outcome.has_value()) << Logs();
  EXPECT_EQ(outcome->outcome(), "failed");
  EXPECT_EQ(outcome->reason(), "spend_cap:calls_per_hour");
  EXPECT_EQ(telnyx_->DialCountFor("+79990000009"), 0u);
}

// The admin API over gRPC, as an operator uses it (grpcurl with "authorization: Bearer $ADMIN_TOKEN"): without
// the token every call is refused; with it, calls are listed with masked numbers, one call's history shows
// every event and decision, and a test call rings through the same path.
TEST_F(TelephonyE2eTest, AdminListsCallsShowsHistoryAndPlacesATestCall) {
  StartAll();
  ASSERT_TRUE(Place(Request("t-admin", "+79990000012")).ok()) << Logs();
  ASSERT_TRUE(WaitOutcome("t-admin").has_value()) << Logs();
  auto admin = v1::TelephonyAdminService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", telephony_port_), grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext context;
    v1::ListCallsResponse response;
    EXPECT_EQ(admin->ListCalls(&context, v1::ListCallsRequest(), &response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  const auto authorized = [](grpc::ClientContext* context) {
    context->AddMetadata("authorization", "Bearer dev-admin-token");
  };
  {
    grpc::ClientContext context;
    authorized(&context);
    v1::ListCallsRequest request;
    request.set_correlation_id("incident:77");
    v1::ListCallsResponse response;
    grpc::Status s = admin->ListCalls(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(response.calls_size(), 1);
    EXPECT_EQ(response.calls(0).to_e164(), "+7999****012");
    EXPECT_EQ(response.calls(0).outcome(), "digit_pressed");
  }
  {
    grpc::ClientContext context;
    authorized(&context);
    v1::GetCallHistoryRequest request;
    request.set_attempt_key("t-admin");
    v1::GetCallHistoryResponse response;
    grpc::Status s = admin->GetCallHistory(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    std::vector<std::string> kinds;
    for (const v1::CallHistoryEntry& e : response.history()) kinds.push_back(e.kind());
    for (const char* kind :
         {"placed", "dial_requested", "dial_accepted", "call.answered", "call.gather.ended"}) {
      EXPECT_NE(std::find(kinds.begin(), kinds.end(), kind), kinds.end()) << kind;
    }
  }
  {
    grpc::ClientContext context;
    authorized(&context);
    v1::PlaceTestCallRequest request;
    request.set_to_e164("+79990000013");
    v1::PlaceTestCallResponse response;
    grpc::Status s = admin->PlaceTestCall(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(response.call().correlation_id(), "test");
    EXPECT_EQ(response.call().requested_by(), "admin");
    ASSERT_TRUE(WaitFor([&] { return telnyx_->DialCountFor("+79990000013") == 1; })) << Logs();
  }
}

// Asterisk ARI: the real telephony process originates through the ARI fake and follows the call over ARI's
// events WebSocket (no edge involved): StasisStart, the prompt played, DTMF 1.
TEST_F(TelephonyE2eTest, AriAnsweredWithOneOverTheEventsWebSocket) {
  StartFakes();
  auto ari = providers::ari::FakeAri::Start({.username = "protectogram", .password = "ari-pass"});
  ASSERT_TRUE(ari.ok()) << ari.status();
  StartEdge();
  StartTelephony({{"TELEPHONY_PROVIDERS", "ari"},
                  {"ARI_HTTP_URL", (*ari)->http_url()},
                  {"ARI_USERNAME", "protectogram"},
                  {"ARI_PASSWORD", "ari-pass"},
                  {"ARI_APP", "protectogram"}});
  // The events WebSocket connects at start; a call placed before it is up still finds its events.
  ASSERT_TRUE(Place(Request("a-answer", "+79990000011")).ok()) << Logs();
  std::optional<incident::v1::OnCallOutcomeRequest> outcome = WaitOutcome("a-answer");
  ASSERT_TRUE(outcome.has_value()) << Logs();
  EXPECT_EQ(outcome->outcome(), "digit_pressed");
  EXPECT_EQ(outcome->provider(), "ari");
  EXPECT_EQ((*ari)->OriginateCountFor("+79990000011"), 1);
  const v1::Call call = GetCall("a-answer");
  EXPECT_EQ(call.provider_call_id().size(), 36u);  // our channelId, the dial key
}

// The REST call API of the edge (docs/call-api.md) with a real token, through the real telephony service to
// the Telnyx fake: an API user added with the CLI, a token, an interaction, its status until completed.
TEST_F(TelephonyE2eTest, RestCallApiPlacesARealCall) {
  StartAll();
  ChildProcess cli("/bin/sh", {"-c", "printf 'pa55 word\\n' | \"$EDGE\" api-user add ops"},
                   {{"EDGE", protectogram::testing::BinaryPath("protectogram-edge")},
                    {"DATABASE_URL", db_url_for_role("protectogram_edge")},
                    {"BCRYPT_COST", "4"}});
  ASSERT_EQ(cli.WaitExit(milliseconds(20000)), 0) << cli.Output();

  http::Client client;
  absl::StatusOr<http::ClientResponse> token =
      client.PostForm(EdgeUrl() + "/api/v1/token", {{"username", "ops"}, {"password", "pa55 word"}});
  ASSERT_TRUE(token.ok()) << token.status();
  ASSERT_EQ(token->status, 200) << token->body;
  boost::system::error_code ec;
  boost::json::value t = boost::json::parse(token->body, ec);
  ASSERT_FALSE(ec) << token->body;
  const std::string bearer = "Bearer " + std::string(t.at("access_token").as_string());

  // A wrong token is a 401 with WWW-Authenticate: Bearer.
  absl::StatusOr<http::ClientResponse> refused = client.PostJson(
      EdgeUrl() + "/api/v1/interaction/%2B79990000010", "{}", {{"Authorization", "Bearer x.y.z"}});
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, 401);
  EXPECT_EQ(refused->Header("www-authenticate"), "Bearer");

  absl::StatusOr<http::ClientResponse> placed = client.PostJson(
      EdgeUrl() + "/api/v1/interaction/%2B79990000010", R"({"timeout": 20})", {{"Authorization", bearer}});
  ASSERT_TRUE(placed.ok()) << placed.status();
  ASSERT_EQ(placed->status, 200) << placed->body << Logs();
  boost::json::value p = boost::json::parse(placed->body, ec);
  ASSERT_FALSE(ec) << placed->body;
  EXPECT_EQ(p.at("success").as_bool(), true);
  EXPECT_EQ(p.at("phone_number").as_string(), "+79990000010");
  const std::string call_id(p.at("call_id").as_string());

  // The default script answers and presses 1: the call completes.
  std::string status;
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<http::ClientResponse> r =
        client.Get(EdgeUrl() + "/api/v1/status/" + call_id, {{"Authorization", bearer}});
    if (!r.ok() || r->status != 200) return false;
    boost::json::value v = boost::json::parse(r->body, ec);
    if (ec) return false;
    status = std::string(v.at("status").as_string());
    return status == "completed" && v.at("is_completed").as_bool() && !v.at("answered_at").is_null();
  })) << status
      << Logs();
  EXPECT_EQ(telnyx_->DialCountFor("+79990000010"), 1u);
  absl::StatusOr<http::ClientResponse> unknown = client.Get(
      EdgeUrl() + "/api/v1/calls/00000000-0000-4000-8000-000000000000", {{"Authorization", bearer}});
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 404);
}

}  // namespace
}  // namespace protectogram::telephony
