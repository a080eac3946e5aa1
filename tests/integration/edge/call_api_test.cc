// The REST call API over real HTTP on loopback, against the harness Postgres (edge.api_users) and a fake
// TelephonyService on in-process gRPC: the whole flow (a user added as the CLI adds one, a token, a call, its
// status) and every refusal of the contract (docs/call-api.md).
#include "edge/call_api.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "edge/api_users.h"
#include "edge/edge.h"
#include "libs/crypto/digest.h"
#include "libs/crypto/encoding.h"
#include "libs/crypto/jwt.h"
#include "libs/http/client.h"
#include "libs/http/form.h"
#include "libs/kernel/log.h"
#include "protectogram/telephony/v1/telephony.grpc.pb.h"
#include "tests/support/child_process.h"
#include "tests/support/pg_harness.h"

namespace protectogram::edge {
namespace {

namespace json = boost::json;
namespace tv1 = telephony::v1;

constexpr char kSecret[] = "integration-secret-key-0123456789abcdef";
constexpr char kPassword[] = "correct horse battery staple";
constexpr char kCallId[] = "0b7a4c1e-2f3d-4e5f-8a9b-0c1d2e3f4a5b";

// TelephonyService.PlaceCall/GetCall as the contract says: idempotent on attempt_key, NOT_FOUND for an unknown
// call; every request kept; the next PlaceCall can be made to fail with a given status.
class FakeTelephony final : public tv1::TelephonyService::Service {
 public:
  FakeTelephony() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeTelephony() override { Down(); }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  void Down() {
    if (server_ != nullptr) server_->Shutdown();
    server_.reset();
  }
  void FailNext(grpc::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_next_ = std::move(status);
  }
  std::vector<tv1::PlaceCallRequest> placed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return placed_;
  }

  grpc::Status PlaceCall(grpc::ServerContext*, const tv1::PlaceCallRequest* request,
                         tv1::PlaceCallResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    placed_.push_back(*request);
    if (!fail_next_.ok()) {
      grpc::Status status = fail_next_;
      fail_next_ = grpc::Status::OK;
      return status;
    }
    auto it = by_key_.find(request->attempt_key());
    if (it != by_key_.end()) {
      response->set_duplicate(true);
      response->set_call_id(it->second);
      *response->mutable_call() = calls_.at(it->second);
      return grpc::Status::OK;
    }
    const std::string id = calls_.empty() ? kCallId : NewUuid();
    tv1::Call call;
    call.set_call_id(id);
    call.set_attempt_key(request->attempt_key());
    call.set_to_e164(request->to_e164());
    call.set_state(tv1::CALL_STATE_DIALING);
    call.set_provider("ari");
    call.set_provider_call_id("ari-channel-" + std::to_string(calls_.size() + 1));
    call.set_correlation_id(request->correlation_id());
    call.set_attempt_number(1);
    call.mutable_created_at()->set_seconds(1700000000);
    call.mutable_dialed_at()->set_seconds(1700000001);
    call.set_ring_timeout_sec(request->ring_timeout_sec());
    call.set_caller_id(request->caller_id());
    *call.mutable_dialplan() = request->dialplan();
    call.set_requested_by(request->requested_by());
    call.set_language(request->language());
    calls_[id] = call;
    by_key_[request->attempt_key()] = id;
    response->set_call_id(id);
    *response->mutable_call() = call;
    return grpc::Status::OK;
  }

  grpc::Status GetCall(grpc::ServerContext*, const tv1::GetCallRequest* request,
                       tv1::GetCallResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = calls_.find(request->call_id());
    if (it == calls_.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such call");
    *response->mutable_call() = it->second;
    return grpc::Status::OK;
  }

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  mutable std::mutex mu_;
  grpc::Status fail_next_ = grpc::Status::OK;
  std::vector<tv1::PlaceCallRequest> placed_;
  std::map<std::string, tv1::Call> calls_;
  std::map<std::string, std::string> by_key_;
};

class CallApiIntegrationTest : public test::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    telephony_ = std::make_unique<FakeTelephony>();
  }
  void TearDown() override {
    kernel::CaptureLogsForTest(nullptr);
    if (edge_ != nullptr) edge_->Stop();
    edge_.reset();
    api_.reset();
    telephony_.reset();
    PgTest::TearDown();
  }

  // The edge with the call API on its router, configured from `env` (SECRET_KEY is kSecret unless given).
  void Start(std::map<std::string, std::string> env = {}) {
    if (!env.contains("SECRET_KEY")) env["SECRET_KEY"] = kSecret;
    kernel::MapEnv map_env(env);
    absl::StatusOr<CallApiConfig> config = LoadCallApiConfig(map_env, kernel::AppEnv::kDev);
    ASSERT_TRUE(config.ok()) << config.status();
    absl::StatusOr<std::unique_ptr<CallApi>> api =
        CallApi::Create(*config, db_url_for_role("protectogram_edge"), telephony_->address(), &metrics_);
    ASSERT_TRUE(api.ok()) << api.status();
    api_ = *std::move(api);

    kernel::MapEnv edge_env({{"TELEPHONY_ADDR", telephony_->address()}});
    absl::StatusOr<EdgeConfig> edge_config = LoadEdgeConfig(edge_env, kernel::AppEnv::kDev);
    ASSERT_TRUE(edge_config.ok()) << edge_config.status();
    EdgeOptions options;
    options.config = *edge_config;
    options.database_url = db_url_for_role("protectogram_edge");
    options.listen_address = "127.0.0.1";
    options.port = 0;
    options.metrics = &metrics_;
    options.run_relay = false;
    CallApi* call_api = api_.get();
    options.extra_routes = [call_api](http::Router& router) { call_api->AddRoutes(router); };
    absl::StatusOr<std::unique_ptr<Edge>> edge = Edge::Create(std::move(options));
    ASSERT_TRUE(edge.ok()) << edge.status();
    edge_ = *std::move(edge);
    ASSERT_TRUE(edge_->Start().ok());
    base_ = absl::StrCat("http://127.0.0.1:", edge_->port());
  }

  // `api-user add|remove NAME` in process, as protectogram-edge runs it. Returns the exit code.
  int ApiUser(const std::string& verb, const std::string& name, const std::string& stdin_text = "",
              std::string* output = nullptr) {
    kernel::MapEnv env({{"DATABASE_URL", db_url_for_role("protectogram_edge")}, {"BCRYPT_COST", "4"}});
    std::istringstream in(stdin_text);
    std::ostringstream out, err;
    const int code = RunApiUserCommand({"api-user", verb, name}, env, in, out, err);
    if (output != nullptr) *output = out.str() + err.str();
    return code;
  }

  absl::StatusOr<http::ClientResponse> RequestToken(const std::string& username,
                                                    const std::string& password) {
    return client_.PostForm(base_ + "/api/v1/token", {{"username", username}, {"password", password}});
  }
  std::string TokenFor(const std::string& username, const std::string& password = kPassword) {
    absl::StatusOr<http::ClientResponse> r = RequestToken(username, password);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok() || r->status != 200) {
      ADD_FAILURE() << (r.ok() ? r->body : "");
      return "";
    }
    return std::string(json::parse(r->body).at("access_token").as_string());
  }
  std::string AddUserAndToken(const std::string& username = "alice") {
    EXPECT_EQ(ApiUser("add", username, std::string(kPassword) + "\n"), 0);
    return TokenFor(username);
  }

  http::HeaderList Bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }
  absl::StatusOr<http::ClientResponse> Interaction(const std::string& number, const std::string& token,
                                                   std::string body = "", http::HeaderList extra = {}) {
    http::HeaderList headers = Bearer(token);
    headers.insert(headers.end(), extra.begin(), extra.end());
    return client_.Post(base_ + "/api/v1/interaction/" + number, "application/json", std::move(body),
                        std::move(headers));
  }
  absl::StatusOr<http::ClientResponse> Status(const std::string& id, const std::string& token,
                                              const std::string& route = "/api/v1/status/") {
    return client_.Get(base_ + route + id, Bearer(token));
  }

  // A token signed with kSecret whatever its header says.
  static std::string Forge(std::string_view header, std::string_view payload,
                           std::string_view secret = kSecret) {
    std::string input = crypto::Base64UrlEncode(header) + "." + crypto::Base64UrlEncode(payload);
    return input + "." + crypto::Base64UrlEncode(crypto::HmacSha256(secret, input));
  }
  static int64_t NowSeconds() { return absl::ToUnixSeconds(absl::Now()); }

  void ExpectUnauthorized(const absl::StatusOr<http::ClientResponse>& r, std::string_view detail,
                          std::string_view what) {
    ASSERT_TRUE(r.ok()) << r.status() << " " << what;
    EXPECT_EQ(r->status, 401) << what << ": " << r->body;
    EXPECT_EQ(r->body, absl::StrCat(R"({"detail":")", std::string(detail), R"("})")) << what;
    EXPECT_EQ(r->Header("www-authenticate"), "Bearer") << what;
  }

  kernel::MetricsRegistry metrics_;
  std::unique_ptr<FakeTelephony> telephony_;
  std::unique_ptr<CallApi> api_;
  std::unique_ptr<Edge> edge_;
  http::Client client_;
  std::string base_;
};

TEST_F(CallApiIntegrationTest, TokenThenCallThenStatus) {
  Start({{"JWT_ISSUER", "protectogram"}, {"JWT_AUDIENCE", "call-api"}});
  std::string logs;
  kernel::CaptureLogsForTest(&logs);
  std::string out;
  ASSERT_EQ(ApiUser("add", "alice", std::string(kPassword) + "\n", &out), 0) << out;
  EXPECT_EQ(out, "api user alice added\n");

  absl::StatusOr<http::ClientResponse> token_response = RequestToken("alice", kPassword);
  ASSERT_TRUE(token_response.ok()) << token_response.status();
  ASSERT_EQ(token_response->status, 200) << token_response->body;
  EXPECT_EQ(token_response->Header("content-type"), "application/json");
  json::object token_body = json::parse(token_response->body).as_object();
  EXPECT_EQ(token_body.size(), 2u);
  EXPECT_EQ(token_body.at("token_type").as_string(), "bearer");
  const std::string token(token_body.at("access_token").as_string());
  absl::StatusOr<crypto::JwtClaims> claims = crypto::VerifyJwtHs256(
      token, kSecret, {.now = absl::Now(), .issuer = "protectogram", .audience = "call-api"});
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "alice");
  EXPECT_EQ(claims->expires_at - claims->issued_at, absl::Minutes(30));

  // The number URL-encoded, as clients send it; the body overrides some defaults.
  absl::StatusOr<http::ClientResponse> placed = Interaction(
      "%2B15551234567", token,
      R"({"context":"outbound-ivr","priority":2,"timeout":45,"message":"Проверка связи","language":"ru-RU"})",
      {{"Idempotency-Key", "order-42"}});
  ASSERT_TRUE(placed.ok()) << placed.status();
  ASSERT_EQ(placed->status, 200) << placed->body;
  EXPECT_EQ(placed->body, absl::StrCat(R"({"success":true,"call_id":")", kCallId,
                                       R"(","phone_number":"+15551234567","message":"Call initiated",)",
                                       R"("channel":"ari-channel-1","status":"dialing",)",
                                       R"("created_at":"2023-11-14T22:13:20.000000+00:00"})"));
  std::vector<tv1::PlaceCallRequest> requests = telephony_->placed();
  ASSERT_EQ(requests.size(), 1u);
  const tv1::PlaceCallRequest& sent = requests[0];
  EXPECT_EQ(sent.attempt_key(), "api:alice:order-42");
  EXPECT_EQ(sent.to_e164(), "+15551234567");
  EXPECT_EQ(sent.ring_timeout_sec(), 45);
  EXPECT_EQ(sent.caller_id(), "");
  EXPECT_EQ(sent.dialplan().context(), "outbound-ivr");
  EXPECT_EQ(sent.dialplan().extension(), "s");
  EXPECT_EQ(sent.dialplan().priority(), 2);
  EXPECT_EQ(sent.speak_text(), "Проверка связи");
  EXPECT_EQ(sent.language(), "ru-RU");
  EXPECT_EQ(sent.requested_by(), "api:alice");
  EXPECT_EQ(sent.correlation_id(), "api:alice");

  // The same Idempotency-Key again: the same call, never a second one.
  absl::StatusOr<http::ClientResponse> again =
      Interaction("%2B15551234567", token, "", {{"Idempotency-Key", "order-42"}});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, 200);
  EXPECT_EQ(json::parse(again->body).at("call_id").as_string(), kCallId);

  for (const char* route : {"/api/v1/status/", "/api/v1/calls/"}) {
    absl::StatusOr<http::ClientResponse> status = Status(kCallId, token, route);
    ASSERT_TRUE(status.ok()) << status.status();
    ASSERT_EQ(status->status, 200) << status->body;
    EXPECT_EQ(status->body,
              absl::StrCat(R"({"call_id":")", kCallId, R"(","phone_number":"+15551234567",)",
                           R"("status":"dialing","channel":"ari-channel-1","context":"outbound-ivr",)",
                           R"("extension":"s","caller_id":"",)",
                           R"("created_at":"2023-11-14T22:13:20.000000+00:00",)",
                           R"("dialed_at":"2023-11-14T22:13:21.000000+00:00","answered_at":null,)",
                           R"("ended_at":null,"duration":null,"failure_reason":null,)",
                           R"("attempt_number":1,"is_active":true,"is_completed":false})"))
        << route;
  }
  // Upper-case UUIDs name the same call.
  EXPECT_EQ(Status(absl::AsciiStrToUpper(kCallId), token)->status, 200);

  // POST /api/v1/calls: the number in the body, every default, a fresh attempt key.
  absl::StatusOr<http::ClientResponse> created =
      client_.PostJson(base_ + "/api/v1/calls", R"({"phone_number":"+79991234567"})", Bearer(token));
  ASSERT_TRUE(created.ok());
  ASSERT_EQ(created->status, 200) << created->body;
  json::object created_body = json::parse(created->body).as_object();
  EXPECT_TRUE(created_body.at("success").as_bool());
  EXPECT_EQ(created_body.at("phone_number").as_string(), "+79991234567");
  EXPECT_TRUE(IsUuid(std::string(created_body.at("call_id").as_string())));
  requests = telephony_->placed();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_TRUE(requests[2].attempt_key().starts_with("api:"));
  EXPECT_TRUE(IsUuid(requests[2].attempt_key().substr(4))) << requests[2].attempt_key();
  EXPECT_EQ(requests[2].ring_timeout_sec(), 30);
  EXPECT_EQ(requests[2].dialplan().context(), "default");
  EXPECT_EQ(requests[2].dialplan().priority(), 1);
  EXPECT_EQ(requests[2].speak_text(), "");

  kernel::CaptureLogsForTest(nullptr);
  EXPECT_NE(logs.find("call api: call placed"), std::string::npos) << logs;
  EXPECT_EQ(logs.find(kPassword), std::string::npos) << "a password reached the logs";
  EXPECT_EQ(logs.find(token), std::string::npos) << "a token reached the logs";
  EXPECT_EQ(logs.find("+15551234567"), std::string::npos) << "an unmasked number reached the logs";
  EXPECT_NE(logs.find(kernel::MaskPhone("+15551234567")), std::string::npos);
}

TEST_F(CallApiIntegrationTest, WrongPasswordOrUnknownUserIs401) {
  Start();
  ASSERT_EQ(ApiUser("add", "alice", std::string(kPassword) + "\n"), 0);
  ExpectUnauthorized(RequestToken("alice", "wrong"), "Incorrect username or password", "wrong password");
  ExpectUnauthorized(RequestToken("mallory", kPassword), "Incorrect username or password", "unknown user");
  absl::StatusOr<http::ClientResponse> missing =
      client_.PostForm(base_ + "/api/v1/token", {{"username", "alice"}});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 422);
  EXPECT_EQ(
      missing->body,
      R"({"detail":[{"loc":["body","password"],"msg":"field required","type":"value_error.missing"}]})");
}

TEST_F(CallApiIntegrationTest, EveryInvalidTokenIsRefused) {
  Start({{"JWT_ISSUER", "protectogram"}, {"JWT_AUDIENCE", "call-api"}});
  const std::string good = AddUserAndToken("alice");
  ASSERT_EQ(Interaction("%2B15551234567", good)->status, 200);

  const int64_t now = NowSeconds();
  const auto payload = [&](int64_t iat, int64_t exp,
                           std::string_view extra = R"(,"iss":"protectogram","aud":"call-api")") {
    return absl::StrCat(R"({"sub":"alice","iat":)", iat, R"(,"exp":)", exp, std::string(extra), "}");
  };
  const std::string hs256 = R"({"alg":"HS256","typ":"JWT"})";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"expired", Forge(hs256, payload(now - 3600, now - 1800))},
      {"not yet valid (iat in the future)", Forge(hs256, payload(now + 600, now + 2400))},
      {"not yet valid (nbf in the future)",
       Forge(hs256, payload(now, now + 1800,
                            R"(,"iss":"protectogram","aud":"call-api","nbf":)" + std::to_string(now + 600)))},
      {"alg none", crypto::Base64UrlEncode(R"({"alg":"none","typ":"JWT"})") + "." +
                       crypto::Base64UrlEncode(payload(now, now + 1800)) + "."},
      {"alg HS512", Forge(R"({"alg":"HS512","typ":"JWT"})", payload(now, now + 1800))},
      {"alg RS256", Forge(R"({"alg":"RS256","typ":"JWT"})", payload(now, now + 1800))},
      {"bad signature", Forge(hs256, payload(now, now + 1800), "not-the-secret-key")},
      {"wrong iss", Forge(hs256, payload(now, now + 1800, R"(,"iss":"someone-else","aud":"call-api")"))},
      {"wrong aud", Forge(hs256, payload(now, now + 1800, R"(,"iss":"protectogram","aud":"another-api")"))},
      {"no iss/aud", Forge(hs256, payload(now, now + 1800, ""))},
      {"garbage", "not.a.token"},
      {"empty", ""},
  };
  for (const auto& [what, token] : cases) {
    ExpectUnauthorized(Interaction("%2B15551234567", token), "Could not validate credentials", what);
    ExpectUnauthorized(Status(kCallId, token), "Could not validate credentials", what);
  }
  // The forged good one passes: the refusals above are for what they changed.
  EXPECT_EQ(Status(kCallId, Forge(hs256, payload(now, now + 1800)))->status, 200);

  absl::StatusOr<http::ClientResponse> none =
      client_.Post(base_ + "/api/v1/interaction/%2B15551234567", "application/json", "");
  ExpectUnauthorized(none, "Not authenticated", "no header");
  ExpectUnauthorized(client_.Get(base_ + "/api/v1/status/" + kCallId, {{"Authorization", "Basic YTpi"}}),
                     "Not authenticated", "basic auth");
  EXPECT_EQ(telephony_->placed().size(), 1u) << "no refused request reached telephony";
}

TEST_F(CallApiIntegrationTest, TokensOfARemovedUserAreRefused) {
  Start();
  const std::string token = AddUserAndToken("alice");
  ASSERT_EQ(Interaction("%2B15551234567", token)->status, 200);
  std::string out;
  ASSERT_EQ(ApiUser("remove", "alice", "", &out), 0) << out;
  EXPECT_EQ(out, "api user alice removed\n");
  ExpectUnauthorized(Interaction("%2B15551234567", token), "Could not validate credentials", "removed user");
  ExpectUnauthorized(RequestToken("alice", kPassword), "Incorrect username or password",
                     "removed user's login");

  // A new user of the same name does not revive tokens issued before it was created (by more than the
  // clock skew allowed: a token of the last few seconds cannot be told apart, iat has whole seconds).
  const int64_t now = NowSeconds();
  const std::string old_token =
      Forge(R"({"alg":"HS256","typ":"JWT"})",
            absl::StrCat(R"({"sub":"alice","iat":)", now - 60, R"(,"exp":)", now + 1200, "}"));
  ASSERT_EQ(ApiUser("add", "alice", "another password\n"), 0);
  ExpectUnauthorized(Status(kCallId, old_token), "Could not validate credentials", "re-created user");
  EXPECT_EQ(Status(kCallId, TokenFor("alice", "another password"))->status, 200);
}

TEST_F(CallApiIntegrationTest, ApiUserCommandRefusals) {
  Start();
  std::string out;
  EXPECT_EQ(ApiUser("add", "alice", "pw\n", &out), 0) << out;
  EXPECT_EQ(ApiUser("add", "alice", "pw\n", &out), 1);
  EXPECT_EQ(out, "error: api user alice already exists\n");
  EXPECT_EQ(ApiUser("add", "bob", "\n", &out), 1);
  EXPECT_EQ(out, "error: the password (the first line of stdin) is empty\n");
  EXPECT_EQ(ApiUser("add", "bob", "", &out), 1);
  EXPECT_EQ(ApiUser("add", "bad name", "pw\n", &out), 1);
  EXPECT_EQ(ApiUser("remove", "nobody", "", &out), 1);
  EXPECT_EQ(out, "error: no api user named nobody\n");
  EXPECT_EQ(ApiUser("rename", "alice", "", &out), 2);
  // Only the first line is the password; a CRLF line ending is not part of it.
  EXPECT_EQ(ApiUser("add", "carol", "pass word\r\nignored\n"), 0);
  EXPECT_EQ(RequestToken("carol", "pass word")->status, 200);
}

TEST_F(CallApiIntegrationTest, MalformedRequestsAre422AndReachNoOne) {
  Start();
  const std::string token = AddUserAndToken();
  for (const char* number : {"12345", "%2B123", "+1555abc4567", "%2B0123456789", "%2B1234567890123456"}) {
    absl::StatusOr<http::ClientResponse> r = Interaction(number, token);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 422) << number;
    json::value detail = json::parse(r->body).at("detail");
    ASSERT_EQ(detail.as_array().size(), 1u) << r->body;
    EXPECT_EQ(json::serialize(detail.as_array()[0].at("loc")), R"(["path","number"])") << number;
    EXPECT_EQ(detail.as_array()[0].at("type").as_string(), "value_error");
  }
  absl::StatusOr<http::ClientResponse> r =
      client_.PostJson(base_ + "/api/v1/calls", R"({"context":"ivr"})", Bearer(token));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 422);
  EXPECT_EQ(
      r->body,
      R"({"detail":[{"loc":["body","phone_number"],"msg":"field required","type":"value_error.missing"}]})");
  r = Interaction("%2B15551234567", token, R"({"priority":"high"})");
  EXPECT_EQ(r->status, 422);
  r = Interaction("%2B15551234567", token, "", {{"Idempotency-Key", std::string(200, 'k')}});
  EXPECT_EQ(r->status, 422);
  EXPECT_TRUE(telephony_->placed().empty());
}

TEST_F(CallApiIntegrationTest, UnknownCallIs404) {
  Start();
  const std::string token = AddUserAndToken();
  for (const char* id : {"42", "not-a-uuid", "ffffffff-ffff-4fff-8fff-ffffffffffff"}) {
    absl::StatusOr<http::ClientResponse> r = Status(id, token);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 404) << id;
    EXPECT_EQ(r->body, R"({"detail":"Call not found"})") << id;
    EXPECT_EQ(Status(id, token, "/api/v1/calls/")->status, 404) << id;
  }
}

TEST_F(CallApiIntegrationTest, RateLimitPerUser) {
  Start({{"CALL_API_RATE_LIMIT", "2/minute"}});
  const std::string alice = AddUserAndToken("alice");
  const std::string bob = AddUserAndToken("bob");
  EXPECT_EQ(Interaction("%2B15551234567", alice)->status, 200);
  EXPECT_EQ(Interaction("%2B15551234567", alice)->status, 200);
  absl::StatusOr<http::ClientResponse> limited = Interaction("%2B15551234567", alice);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->status, 429);
  EXPECT_EQ(limited->body, R"({"detail":"Rate limit exceeded"})");
  int retry_after = 0;
  ASSERT_TRUE(absl::SimpleAtoi(std::string(limited->Header("retry-after")), &retry_after));
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 30);
  EXPECT_EQ(
      client_.PostJson(base_ + "/api/v1/calls", R"({"phone_number":"+15551234567"})", Bearer(alice))->status,
      429)
      << "both origination routes share the bucket";
  EXPECT_EQ(Interaction("%2B15551234567", bob)->status, 200) << "bob has his own bucket";
  EXPECT_EQ(Status(kCallId, alice)->status, 200) << "reading is not limited";
  EXPECT_EQ(telephony_->placed().size(), 3u);
}

TEST_F(CallApiIntegrationTest, TelephonyRefusalsAndOutages) {
  Start();
  const std::string token = AddUserAndToken();
  telephony_->FailNext(
      grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "number not in STAGING_ALLOWED_NUMBERS"));
  absl::StatusOr<http::ClientResponse> r = Interaction("%2B15551234567", token);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->body, R"({"detail":"number not in STAGING_ALLOWED_NUMBERS"})");
  telephony_->FailNext(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "daily spend cap reached"));
  r = Interaction("%2B15551234567", token);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->body, R"({"detail":"daily spend cap reached"})");
  telephony_->FailNext(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "speak_text is too long"));
  r = Interaction("%2B15551234567", token);
  EXPECT_EQ(r->status, 422);
  EXPECT_EQ(r->body, R"({"detail":[{"loc":["body"],"msg":"speak_text is too long","type":"value_error"}]})");

  telephony_->Down();
  r = Interaction("%2B15551234567", token);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, R"({"detail":"Telephony service unavailable"})");
  r = Status(kCallId, token);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, R"({"detail":"Telephony service unavailable"})");
}

TEST_F(CallApiIntegrationTest, OpenApiDocumentIsServedWithoutAuth) {
  Start();
  absl::StatusOr<http::ClientResponse> r = client_.Get(base_ + "/openapi.json");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("content-type"), "application/json");
  json::value doc = json::parse(r->body);
  EXPECT_TRUE(doc.at("paths").as_object().contains("/api/v1/interaction/{number}"));
}

TEST_F(CallApiIntegrationTest, WithoutSecretKeyTheApiAnswers503) {
  Start({{"SECRET_KEY", ""}});
  ASSERT_EQ(ApiUser("add", "alice", std::string(kPassword) + "\n"), 0);
  absl::StatusOr<http::ClientResponse> r = RequestToken("alice", kPassword);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, R"({"detail":"Call API not configured"})");
  EXPECT_EQ(client_.Get(base_ + "/openapi.json")->status, 200);
}

// --- the real protectogram-edge binary ---------------------------------------------------------------------

std::string EdgeBinary() {
  const char* dir = std::getenv("PROTECTOGRAM_BIN_DIR");
  return dir != nullptr && *dir != '\0' ? protectogram::testing::BinaryPath("protectogram-edge")
                                        : EDGE_BINARY;
}

// The shell pipes `stdin_text` into `protectogram-edge api-user <verb> <name>`.
struct CliResult {
  int code = -1;
  std::string out, err;
};
CliResult RunCli(const std::string& database_url, const std::string& verb, const std::string& name,
                 const std::string& stdin_text) {
  protectogram::testing::ChildProcess child(
      "/bin/sh", {"-c", "printf '%s' \"$CLI_STDIN\" | \"$EDGE\" api-user \"$VERB\" \"$NAME\""},
      {{"EDGE", EdgeBinary()},
       {"CLI_STDIN", stdin_text},
       {"VERB", verb},
       {"NAME", name},
       {"DATABASE_URL", database_url},
       {"BCRYPT_COST", "4"}});
  std::optional<int> code = child.WaitExit(std::chrono::seconds(20));
  return {code.value_or(-1), child.Stdout(), child.Stderr()};
}

TEST_F(CallApiIntegrationTest, TheBinaryAddsAndRemovesUsers) {
  Start();
  const std::string url = db_url_for_role("protectogram_edge");
  CliResult r = RunCli(url, "add", "bob", "s3cret pass\n");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "api user bob added\n");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(RequestToken("bob", "s3cret pass")->status, 200) << "the server verifies the CLI's bcrypt hash";

  r = RunCli(url, "add", "bob", "other\n");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "error: api user bob already exists\n");
  r = RunCli(url, "add", "carol", "");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "error: the password (the first line of stdin) is empty\n");
  r = RunCli(url, "remove", "bob", "");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "api user bob removed\n");
  r = RunCli(url, "remove", "bob", "");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "error: no api user named bob\n");
  r = RunCli("postgresql://protectogram_edge@127.0.0.1:1/nowhere", "add", "dave", "pw\n");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(CallApiIntegrationTest, TheBinaryServesTheApiAndNeverLogsItsSecrets) {
  const int port = protectogram::testing::FreePort();
  ASSERT_EQ(ApiUser("add", "alice", std::string(kPassword) + "\n"), 0);
  protectogram::testing::ChildProcess edge(EdgeBinary(), {},
                                           {{"APP_ENV", "dev"},
                                            {"DATABASE_URL", db_url_for_role("protectogram_edge")},
                                            {"HTTP_PORT", std::to_string(port)},
                                            {"TELEPHONY_ADDR", telephony_->address()},
                                            {"SECRET_KEY", kSecret},
                                            {"LOG_LEVEL", "debug"}});
  const std::string base = absl::StrCat("http://127.0.0.1:", port);
  bool live = false;
  for (int i = 0; i < 400 && !live; ++i) {
    live = protectogram::testing::HttpGet(port, "/health/live") == 200;
    if (!live) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(live) << edge.Output();
  absl::StatusOr<http::ClientResponse> token =
      client_.PostForm(base + "/api/v1/token", {{"username", "alice"}, {"password", kPassword}});
  ASSERT_TRUE(token.ok()) << token.status();
  ASSERT_EQ(token->status, 200) << token->body << edge.Output();
  const std::string access(json::parse(token->body).at("access_token").as_string());
  absl::StatusOr<http::ClientResponse> placed =
      client_.Post(base + "/api/v1/interaction/%2B15551234567", "application/json", "", Bearer(access));
  ASSERT_TRUE(placed.ok());
  EXPECT_EQ(placed->status, 200) << placed->body;
  ExpectUnauthorized(client_.Get(base + "/api/v1/status/" + std::string(kCallId), Bearer(access + "x")),
                     "Could not validate credentials", "tampered");
  EXPECT_EQ(client_.Get(base + "/openapi.json")->status, 200);
  edge.Signal(SIGTERM);
  ASSERT_TRUE(edge.WaitExit(std::chrono::seconds(10)).has_value());
  const std::string logs = edge.Output();
  EXPECT_NE(logs.find("call api: call placed"), std::string::npos) << logs;
  EXPECT_EQ(logs.find(kSecret), std::string::npos) << "SECRET_KEY reached the logs";
  EXPECT_EQ(logs.find(kPassword), std::string::npos) << "a password reached the logs";
  EXPECT_EQ(logs.find(access), std::string::npos) << "a token reached the logs";
  EXPECT_EQ(logs.find("+15551234567"), std::string::npos) << "an unmasked number reached the logs";
}

}  // namespace
}  // namespace protectogram::edge
