// The REST call API's pure parts (edge/call_api.h): configuration, request parsing and FastAPI's 422s,
// tokens and every refusal, status mapping, the response JSON, the rate limiter on a fake clock, the OpenAPI
// document; and the routes that answer without I/O (API off, no token, a bad token).
#include "edge/call_api.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>
#include <string>

#include "edge/openapi.h"
#include "libs/crypto/digest.h"
#include "libs/crypto/encoding.h"
#include "libs/kernel/log.h"

namespace protectogram::edge {
namespace {

namespace json = boost::json;
namespace tv1 = telephony::v1;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);
constexpr char kSecret[] = "unit-test-secret-key-of-32-characters!!";

CallApiConfig Config() {
  CallApiConfig config;
  config.enabled = true;
  config.secret_key = kSecret;
  return config;
}

absl::StatusOr<CallApiConfig> Load(std::map<std::string, std::string> values,
                                   kernel::AppEnv app_env = kernel::AppEnv::kDev) {
  kernel::MapEnv env(values);
  return LoadCallApiConfig(env, app_env);
}

// A token with this header and payload, signed HS256 with `secret` (whatever the header claims).
std::string Forge(std::string_view header, std::string_view payload, std::string_view secret = kSecret) {
  std::string input = crypto::Base64UrlEncode(header) + "." + crypto::Base64UrlEncode(payload);
  return input + "." + crypto::Base64UrlEncode(crypto::HmacSha256(secret, input));
}

std::string Payload(const std::string& extra = "", int64_t iat = 1700000000, int64_t exp = 1700001800) {
  return absl::StrCat(R"({"sub":"alice","iat":)", iat, R"(,"exp":)", exp, extra, "}");
}

// --- configuration ---------------------------------------------------------------------------------------

TEST(CallApiConfigTest, DevWithoutSecretKeyTurnsTheApiOffWithTheContractsDefaults) {
  absl::StatusOr<CallApiConfig> config = Load({});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->enabled);
  EXPECT_EQ(config->access_token_expire, absl::Minutes(30));
  EXPECT_EQ(config->rate_limit.count, 30);
  EXPECT_EQ(config->rate_limit.period, absl::Minutes(1));
  EXPECT_EQ(config->default_context, "default");
  EXPECT_EQ(config->default_extension, "s");
  EXPECT_EQ(config->default_priority, 1);
  EXPECT_EQ(config->default_timeout_sec, 30);
  EXPECT_EQ(config->default_caller_id, "");
  EXPECT_EQ(config->jwt_issuer, "");
  EXPECT_EQ(config->jwt_audience, "");
}

TEST(CallApiConfigTest, ReadsEveryVariableAndRegistersTheSecret) {
  kernel::ClearSecretsForTest();
  absl::StatusOr<CallApiConfig> config = Load({{"SECRET_KEY", "s3cr3t-value"},
                                               {"JWT_ISSUER", "protectogram"},
                                               {"JWT_AUDIENCE", "call-api"},
                                               {"ACCESS_TOKEN_EXPIRE_MINUTES", "5"},
                                               {"CALL_API_RATE_LIMIT", "10/minute"},
                                               {"DEFAULT_CONTEXT", "outbound-ivr"},
                                               {"DEFAULT_EXTENSION", "100"},
                                               {"DEFAULT_PRIORITY", "2"},
                                               {"DEFAULT_TIMEOUT", "45"},
                                               {"DEFAULT_CALLER_ID", "+15550000000"},
                                               {"CALL_API_TELEPHONY_TIMEOUT_MS", "2500"}});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->enabled);
  EXPECT_EQ(config->secret_key, "s3cr3t-value");
  EXPECT_EQ(config->jwt_issuer, "protectogram");
  EXPECT_EQ(config->jwt_audience, "call-api");
  EXPECT_EQ(config->access_token_expire, absl::Minutes(5));
  EXPECT_EQ(config->rate_limit.count, 10);
  EXPECT_EQ(config->default_context, "outbound-ivr");
  EXPECT_EQ(config->default_extension, "100");
  EXPECT_EQ(config->default_priority, 2);
  EXPECT_EQ(config->default_timeout_sec, 45);
  EXPECT_EQ(config->default_caller_id, "+15550000000");
  EXPECT_EQ(config->telephony_timeout, absl::Milliseconds(2500));
  EXPECT_EQ(kernel::RedactSecrets("key s3cr3t-value here"), "key [redacted] here");
  kernel::ClearSecretsForTest();
}

TEST(CallApiConfigTest, StagingAndProdNeedAStrongSecretKey) {
  absl::StatusOr<CallApiConfig> missing = Load({}, kernel::AppEnv::kProd);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("SECRET_KEY is required"), std::string::npos);
  absl::StatusOr<CallApiConfig> weak = Load({{"SECRET_KEY", "short-secret"}}, kernel::AppEnv::kStaging);
  ASSERT_FALSE(weak.ok());
  EXPECT_NE(weak.status().message().find("at least 32 characters"), std::string::npos);
  EXPECT_EQ(weak.status().message().find("short-secret"), std::string::npos) << "never echo a secret";
  EXPECT_TRUE(Load({{"SECRET_KEY", kSecret}}, kernel::AppEnv::kProd).ok());
}

TEST(CallApiConfigTest, MalformedValuesAreErrorsNamingTheirVariable) {
  absl::StatusOr<CallApiConfig> config = Load({{"CALL_API_RATE_LIMIT", "lots"},
                                               {"DEFAULT_PRIORITY", "11"},
                                               {"DEFAULT_TIMEOUT", "30000"},
                                               {"ACCESS_TOKEN_EXPIRE_MINUTES", "0"}});
  ASSERT_FALSE(config.ok());
  const std::string message(config.status().message());
  EXPECT_NE(message.find(R"(CALL_API_RATE_LIMIT must be like 30/minute (or 0 for no limit), got "lots")"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("DEFAULT_PRIORITY"), std::string::npos);
  EXPECT_NE(message.find("DEFAULT_TIMEOUT"), std::string::npos);
  EXPECT_NE(message.find("ACCESS_TOKEN_EXPIRE_MINUTES"), std::string::npos);
}

TEST(RateLimitTest, Parses) {
  struct Case {
    const char* text;
    int64_t count;
    absl::Duration period;
  };
  for (const Case& c : {Case{"10/minute", 10, absl::Minutes(1)}, Case{"5/second", 5, absl::Seconds(1)},
                        Case{"100/hour", 100, absl::Hours(1)}, Case{"1000/day", 1000, absl::Hours(24)},
                        Case{"10 per minute", 10, absl::Minutes(1)}, Case{"3/minutes", 3, absl::Minutes(1)},
                        Case{" 7/M ", 7, absl::Minutes(1)}, Case{"2/s", 2, absl::Seconds(1)}}) {
    absl::StatusOr<RateLimit> limit = ParseRateLimit(c.text);
    ASSERT_TRUE(limit.ok()) << c.text;
    EXPECT_EQ(limit->count, c.count) << c.text;
    EXPECT_EQ(limit->period, c.period) << c.text;
    EXPECT_TRUE(limit->enabled());
  }
  absl::StatusOr<RateLimit> off = ParseRateLimit("0");
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->enabled());
  for (const char* bad : {"", "ten/minute", "10/fortnight", "10", "-1/minute", "10/"}) {
    EXPECT_FALSE(ParseRateLimit(bad).ok()) << bad;
  }
}

// --- the rate limiter ------------------------------------------------------------------------------------

TEST(RateLimiterTest, ABucketPerUserRefillsOverThePeriod) {
  absl::Time now = kNow;
  RateLimiter limiter({.count = 3, .period = absl::Minutes(1)}, [&now] { return now; });
  EXPECT_FALSE(limiter.Take("alice").has_value());
  EXPECT_FALSE(limiter.Take("alice").has_value());
  EXPECT_FALSE(limiter.Take("alice").has_value());
  std::optional<absl::Duration> wait = limiter.Take("alice");
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(absl::ToInt64Seconds(*wait), 20);  // one token every 20 s
  EXPECT_FALSE(limiter.Take("bob").has_value()) << "each user has their own bucket";

  now += absl::Seconds(10);
  wait = limiter.Take("alice");
  ASSERT_TRUE(wait.has_value());
  EXPECT_NEAR(absl::ToDoubleSeconds(*wait), 10, 0.001);
  now += absl::Seconds(10);
  EXPECT_FALSE(limiter.Take("alice").has_value());
  EXPECT_TRUE(limiter.Take("alice").has_value());

  now += absl::Hours(1);  // never more than the bucket holds
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(limiter.Take("alice").has_value()) << i;
  EXPECT_TRUE(limiter.Take("alice").has_value());
}

TEST(RateLimiterTest, ZeroMeansNoLimit) {
  RateLimiter limiter({.count = 0, .period = absl::Minutes(1)}, [] { return kNow; });
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(limiter.Take("alice").has_value());
}

// --- requests ---------------------------------------------------------------------------------------------

TEST(CallApiParseTest, InteractionWithoutBodyTakesEveryDefault) {
  CallApiConfig config = Config();
  config.default_caller_id = "+15550001111";
  for (const char* body : {"", "  ", "null", "{}"}) {
    ParsedOriginate parsed = ParseInteraction("+15551234567", body, config);
    ASSERT_TRUE(parsed.request.has_value()) << body << ValidationErrorJson(parsed.errors);
    EXPECT_EQ(parsed.request->phone_number, "+15551234567");
    EXPECT_EQ(parsed.request->context, "default");
    EXPECT_EQ(parsed.request->extension, "s");
    EXPECT_EQ(parsed.request->priority, 1);
    EXPECT_EQ(parsed.request->timeout_sec, 30);
    EXPECT_EQ(parsed.request->caller_id, "+15550001111");
    EXPECT_EQ(parsed.request->message, "");
    EXPECT_EQ(parsed.request->language, "");
  }
}

TEST(CallApiParseTest, InteractionBodyOverridesTheDefaults) {
  ParsedOriginate parsed =
      ParseInteraction("+79991234567",
                       R"({"context":"ivr","extension":"200","priority":3,"timeout":45,"caller_id":"Clinic",)"
                       R"("message":"Привет","language":"ru-RU","variables":{"x":"ignored"}})",
                       Config());
  ASSERT_TRUE(parsed.request.has_value()) << ValidationErrorJson(parsed.errors);
  EXPECT_EQ(parsed.request->context, "ivr");
  EXPECT_EQ(parsed.request->extension, "200");
  EXPECT_EQ(parsed.request->priority, 3);
  EXPECT_EQ(parsed.request->timeout_sec, 45);
  EXPECT_EQ(parsed.request->caller_id, "Clinic");
  EXPECT_EQ(parsed.request->message, "Привет");
  EXPECT_EQ(parsed.request->language, "ru-RU");
}

TEST(CallApiParseTest, CoercesLikePydantic) {
  ParsedOriginate parsed =
      ParseInteraction("+15551234567", R"({"priority":"4","timeout":20.0,"extension":100})", Config());
  ASSERT_TRUE(parsed.request.has_value()) << ValidationErrorJson(parsed.errors);
  EXPECT_EQ(parsed.request->priority, 4);
  EXPECT_EQ(parsed.request->timeout_sec, 20);
  EXPECT_EQ(parsed.request->extension, "100");
}

TEST(CallApiParseTest, NumberMustBeE164) {
  EXPECT_TRUE(IsE164("+15551234567"));
  EXPECT_TRUE(IsE164("+12345678"));
  EXPECT_TRUE(IsE164("+123456789012345"));
  for (const char* bad : {"15551234567", "+1234567", "+1234567890123456", "+05551234567", "+1555123456a",
                          "+1 555 123 4567", "", "+"}) {
    EXPECT_FALSE(IsE164(bad)) << bad;
  }
  ParsedOriginate parsed = ParseInteraction("5551234", "", Config());
  ASSERT_FALSE(parsed.request.has_value());
  EXPECT_EQ(
      ValidationErrorJson(parsed.errors),
      R"j({"detail":[{"loc":["path","number"],"msg":"value is not a valid E.164 phone number (+ and 8 to )j"
      R"j(15 digits)","type":"value_error"}]})j");
}

TEST(CallApiParseTest, ReportsEveryBadFieldAsFastApiDoes) {
  ParsedOriginate parsed =
      ParseInteraction("nope",
                       R"({"context":"","extension":7.5,"priority":0,"timeout":601,"caller_id":")" +
                           std::string(51, 'x') + R"("})",
                       Config());
  ASSERT_FALSE(parsed.request.has_value());
  EXPECT_EQ(
      ValidationErrorJson(parsed.errors),
      R"({"detail":[)"
      R"j({"loc":["path","number"],"msg":"value is not a valid E.164 phone number (+ and 8 to 15 digits)",)j"
      R"("type":"value_error"},)"
      R"({"loc":["body","context"],"msg":"ensure this value has at least 1 characters",)"
      R"("type":"value_error.any_str.min_length","ctx":{"limit_value":1}},)"
      R"({"loc":["body","extension"],"msg":"str type expected","type":"type_error.str"},)"
      R"({"loc":["body","priority"],"msg":"ensure this value is greater than or equal to 1",)"
      R"("type":"value_error.number.not_ge","ctx":{"limit_value":1}},)"
      R"({"loc":["body","timeout"],"msg":"ensure this value is less than or equal to 600",)"
      R"("type":"value_error.number.not_le","ctx":{"limit_value":600}},)"
      R"({"loc":["body","caller_id"],"msg":"ensure this value has at most 50 characters",)"
      R"("type":"value_error.any_str.max_length","ctx":{"limit_value":50}}]})");
  parsed = ParseInteraction("+15551234567", R"({"timeout":0,"priority":"high"})", Config());
  EXPECT_EQ(ValidationErrorJson(parsed.errors),
            R"({"detail":[{"loc":["body","priority"],"msg":"value is not a valid integer",)"
            R"("type":"type_error.integer"},{"loc":["body","timeout"],"msg":"ensure this value is greater )"
            R"(than 0","type":"value_error.number.not_gt","ctx":{"limit_value":0}}]})");
}

TEST(CallApiParseTest, BodyThatIsNotAJsonObject) {
  ParsedOriginate parsed = ParseInteraction("+15551234567", "[1,2]", Config());
  EXPECT_EQ(ValidationErrorJson(parsed.errors),
            R"({"detail":[{"loc":["body"],"msg":"value is not a valid dict","type":"type_error.dict"}]})");
  parsed = ParseInteraction("+15551234567", "{nope", Config());
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_EQ(parsed.errors[0].type, "value_error.jsondecode");
  EXPECT_EQ(parsed.errors[0].loc, std::vector<std::string>{"body"});
}

TEST(CallApiParseTest, CreateCallNeedsAPhoneNumber) {
  ParsedOriginate parsed = ParseCreateCall(R"({"context":"ivr"})", Config());
  ASSERT_FALSE(parsed.request.has_value());
  EXPECT_EQ(
      ValidationErrorJson(parsed.errors),
      R"({"detail":[{"loc":["body","phone_number"],"msg":"field required","type":"value_error.missing"}]})");
  parsed = ParseCreateCall("", Config());
  EXPECT_EQ(ValidationErrorJson(parsed.errors),
            R"({"detail":[{"loc":["body"],"msg":"field required","type":"value_error.missing"}]})");
  parsed = ParseCreateCall(R"({"phone_number":null})", Config());
  EXPECT_EQ(ValidationErrorJson(parsed.errors),
            R"({"detail":[{"loc":["body","phone_number"],"msg":"none is not an allowed value",)"
            R"("type":"type_error.none.not_allowed"}]})");
  parsed = ParseCreateCall(R"({"phone_number":"+1555"})", Config());
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_EQ(parsed.errors[0].loc, (std::vector<std::string>{"body", "phone_number"}));
  EXPECT_EQ(parsed.errors[0].type, "value_error");

  parsed = ParseCreateCall(R"({"phone_number":"+15551234567","timeout":20,"message":"hi"})", Config());
  ASSERT_TRUE(parsed.request.has_value());
  EXPECT_EQ(parsed.request->phone_number, "+15551234567");
  EXPECT_EQ(parsed.request->timeout_sec, 20);
  EXPECT_EQ(parsed.request->message, "hi");
  EXPECT_EQ(parsed.request->context, "default");
}

TEST(CallApiParseTest, TokenFormIsTheOAuth2PasswordGrant) {
  constexpr char kForm[] = "application/x-www-form-urlencoded";
  ParsedTokenForm parsed = ParseTokenForm(kForm, "username=alice&password=p%40ss+word&grant_type=password");
  ASSERT_TRUE(parsed.form.has_value());
  EXPECT_EQ(parsed.form->username, "alice");
  EXPECT_EQ(parsed.form->password, "p@ss word");
  EXPECT_TRUE(ParseTokenForm("application/x-www-form-urlencoded; charset=utf-8", "username=a&password=b")
                  .form.has_value());

  EXPECT_EQ(
      ValidationErrorJson(ParseTokenForm(kForm, "username=alice").errors),
      R"({"detail":[{"loc":["body","password"],"msg":"field required","type":"value_error.missing"}]})");
  EXPECT_EQ(
      ValidationErrorJson(ParseTokenForm("application/json", R"({"username":"a","password":"b"})").errors),
      R"({"detail":[{"loc":["body","username"],"msg":"field required","type":"value_error.missing"},)"
      R"({"loc":["body","password"],"msg":"field required","type":"value_error.missing"}]})");
  EXPECT_EQ(ValidationErrorJson(
                ParseTokenForm(kForm, "grant_type=client_credentials&username=a&password=b").errors),
            R"({"detail":[{"loc":["body","grant_type"],"msg":"string does not match regex \"password\"",)"
            R"("type":"value_error.str.regex","ctx":{"pattern":"password"}}]})");
  EXPECT_FALSE(ParseTokenForm(kForm, "username=&password=b").form.has_value());
}

// --- tokens -----------------------------------------------------------------------------------------------

TEST(CallApiTokenTest, BearerHeader) {
  EXPECT_EQ(BearerToken("Bearer abc.def.ghi"), "abc.def.ghi");
  EXPECT_EQ(BearerToken("bearer abc"), "abc");
  EXPECT_EQ(BearerToken("Bearer"), "");
  EXPECT_EQ(BearerToken("Bearer "), "");
  EXPECT_EQ(BearerToken(""), std::nullopt);
  EXPECT_EQ(BearerToken("Basic YWxpY2U6cHc="), std::nullopt);
  EXPECT_EQ(BearerToken("Token abc"), std::nullopt);
}

TEST(CallApiTokenTest, IssuedTokenCarriesTheClaimsAndVerifies) {
  CallApiConfig config = Config();
  config.jwt_issuer = "protectogram";
  config.jwt_audience = "call-api";
  absl::StatusOr<std::string> token = IssueToken("alice", config, kNow);
  ASSERT_TRUE(token.ok()) << token.status();
  absl::StatusOr<crypto::JwtClaims> claims = CheckToken(*token, config, kNow + absl::Minutes(29));
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "alice");
  EXPECT_EQ(claims->issued_at, kNow);
  EXPECT_EQ(claims->expires_at, kNow + absl::Minutes(30));
  EXPECT_EQ(claims->issuer, "protectogram");
  EXPECT_EQ(claims->audience, "call-api");
  // The payload is what ivr-call-api issues: sub, iat, exp, iss, aud.
  const std::string payload =
      *crypto::Base64UrlDecode(token->substr(token->find('.') + 1, token->rfind('.') - token->find('.') - 1));
  json::object o = json::parse(payload).as_object();
  EXPECT_EQ(o.at("sub").as_string(), "alice");
  EXPECT_EQ(o.at("iat").as_int64(), 1700000000);
  EXPECT_EQ(o.at("exp").as_int64(), 1700001800);
  EXPECT_EQ(o.at("iss").as_string(), "protectogram");
  EXPECT_EQ(o.at("aud").as_string(), "call-api");
}

TEST(CallApiTokenTest, EveryBadTokenIsRefused) {
  CallApiConfig config = Config();
  const std::string good = Forge(R"({"alg":"HS256","typ":"JWT"})", Payload());
  ASSERT_TRUE(CheckToken(good, config, kNow).ok());

  struct Case {
    const char* what;
    std::string token;
    absl::Time now;
  };
  const std::string none = crypto::Base64UrlEncode(R"({"alg":"none","typ":"JWT"})") + "." +
                           crypto::Base64UrlEncode(Payload()) + ".";
  const std::vector<Case> cases = {
      {"bad signature", Forge(R"({"alg":"HS256"})", Payload(), "another-secret"), kNow},
      {"tampered", good.substr(0, good.size() - 2) + (good.back() == 'A' ? "BB" : "AA"), kNow},
      {"expired", Forge(R"({"alg":"HS256"})", Payload("", 1699990000, 1699999000)), kNow},
      {"not yet valid (nbf)", Forge(R"({"alg":"HS256"})", Payload(R"(,"nbf":1700000600)")), kNow},
      {"issued in the future", Forge(R"({"alg":"HS256"})", Payload("", 1700000600, 1700002400)), kNow},
      {"alg none", none, kNow},
      {"alg none, signed", Forge(R"({"alg":"none"})", Payload()), kNow},
      {"alg HS512", Forge(R"({"alg":"HS512","typ":"JWT"})", Payload()), kNow},
      {"alg RS256", Forge(R"({"alg":"RS256","typ":"JWT"})", Payload()), kNow},
      {"no alg", Forge(R"({"typ":"JWT"})", Payload()), kNow},
      {"no sub", Forge(R"({"alg":"HS256"})", R"({"iat":1700000000,"exp":1700001800})"), kNow},
      {"no exp", Forge(R"({"alg":"HS256"})", R"({"sub":"alice","iat":1700000000})"), kNow},
      {"malformed", "not-a-token", kNow},
      {"empty", "", kNow},
  };
  for (const Case& c : cases) {
    absl::StatusOr<crypto::JwtClaims> claims = CheckToken(c.token, config, c.now);
    EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated) << c.what;
  }
}

TEST(CallApiTokenTest, IssuerAndAudienceAreCheckedWhenConfigured) {
  CallApiConfig config = Config();
  config.jwt_issuer = "protectogram";
  config.jwt_audience = "call-api";
  const auto check = [&](const std::string& extra) {
    return CheckToken(Forge(R"({"alg":"HS256"})", Payload(extra)), config, kNow).status();
  };
  EXPECT_TRUE(check(R"(,"iss":"protectogram","aud":"call-api")").ok());
  EXPECT_TRUE(check(R"(,"iss":"protectogram","aud":["other","call-api"])").ok());
  EXPECT_EQ(check(R"(,"iss":"someone-else","aud":"call-api")").message(), "wrong issuer");
  EXPECT_EQ(check(R"(,"aud":"call-api")").message(), "wrong issuer");
  EXPECT_EQ(check(R"(,"iss":"protectogram","aud":"other")").message(), "wrong audience");
  EXPECT_EQ(check(R"(,"iss":"protectogram")").message(), "wrong audience");
  // Not configured: whatever the token says is accepted, as ivr-call-api did.
  EXPECT_TRUE(
      CheckToken(Forge(R"({"alg":"HS256"})", Payload(R"(,"iss":"x","aud":"y")")), Config(), kNow).ok());
}

TEST(CallApiTokenTest, ASmallClockSkewIsTolerated) {
  CallApiConfig config = Config();
  EXPECT_TRUE(
      CheckToken(Forge(R"({"alg":"HS256"})", Payload("", 1700000005, 1700001800)), config, kNow).ok());
  EXPECT_TRUE(
      CheckToken(Forge(R"({"alg":"HS256"})", Payload("", 1699990000, 1699999995)), config, kNow).ok());
  EXPECT_FALSE(
      CheckToken(Forge(R"({"alg":"HS256"})", Payload("", 1699990000, 1699999980)), config, kNow).ok());
}

// --- calls ------------------------------------------------------------------------------------------------

tv1::Call CallIn(tv1::CallState state, std::string failure_reason = "") {
  tv1::Call call;
  call.set_state(state);
  call.set_failure_reason(std::move(failure_reason));
  return call;
}

TEST(CallApiStatusTest, MapsTelephonyStatesToIvrCallApiStatuses) {
  struct Case {
    tv1::CallState state;
    const char* status;
    bool active;
    std::optional<std::string> reason;
  };
  for (const Case& c : {Case{tv1::CALL_STATE_PENDING, "pending", true, std::nullopt},
                        Case{tv1::CALL_STATE_DIALING, "dialing", true, std::nullopt},
                        Case{tv1::CALL_STATE_RINGING, "ringing", true, std::nullopt},
                        Case{tv1::CALL_STATE_ANSWERED, "answered", true, std::nullopt},
                        Case{tv1::CALL_STATE_COMPLETED, "completed", false, std::nullopt},
                        Case{tv1::CALL_STATE_NO_ANSWER, "failed", false, "no_answer"},
                        Case{tv1::CALL_STATE_BUSY, "failed", false, "busy"},
                        Case{tv1::CALL_STATE_FAILED, "failed", false, "failed"},
                        Case{tv1::CALL_STATE_CANCELED, "failed", false, "canceled"}}) {
    ApiCallStatus s = MapCallStatus(CallIn(c.state));
    EXPECT_EQ(s.status, c.status) << c.state;
    EXPECT_EQ(s.active, c.active) << c.state;
    EXPECT_EQ(s.failure_reason, c.reason) << c.state;
  }
  EXPECT_EQ(MapCallStatus(CallIn(tv1::CALL_STATE_FAILED, "provider_error: 503")).failure_reason,
            "provider_error: 503");
  EXPECT_EQ(MapCallStatus(CallIn(tv1::CALL_STATE_BUSY, "user busy")).failure_reason, "user busy");
}

google::protobuf::Timestamp Ts(int64_t seconds, int32_t nanos = 0) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(seconds);
  ts.set_nanos(nanos);
  return ts;
}

TEST(CallApiStatusTest, StatusJsonHasEveryFieldOfIvrCallApi) {
  tv1::Call call;
  call.set_call_id("6f1c2a8e-8d0b-4c1e-9a53-1f2b3c4d5e6f");
  call.set_to_e164("+15551234567");
  call.set_state(tv1::CALL_STATE_ANSWERED);
  call.set_provider_call_id("v3:abc");
  call.mutable_dialplan()->set_context("ivr");
  call.mutable_dialplan()->set_extension("s");
  call.set_caller_id("+15550000000");
  *call.mutable_created_at() = Ts(1700000000, 123456000);
  *call.mutable_dialed_at() = Ts(1700000001);
  *call.mutable_answered_at() = Ts(1700000010);
  call.set_attempt_number(2);
  EXPECT_EQ(
      CallStatusJson(call),
      R"({"call_id":"6f1c2a8e-8d0b-4c1e-9a53-1f2b3c4d5e6f","phone_number":"+15551234567",)"
      R"("status":"answered","channel":"v3:abc","context":"ivr","extension":"s",)"
      R"("caller_id":"+15550000000","created_at":"2023-11-14T22:13:20.123456+00:00",)"
      R"("dialed_at":"2023-11-14T22:13:21.000000+00:00","answered_at":"2023-11-14T22:13:30.000000+00:00",)"
      R"("ended_at":null,"duration":null,"failure_reason":null,"attempt_number":2,"is_active":true,)"
      R"("is_completed":false})");

  call.set_state(tv1::CALL_STATE_NO_ANSWER);
  call.clear_answered_at();
  *call.mutable_ended_at() = Ts(1700000031);
  call.set_duration_sec(0);
  call.set_attempt_number(0);
  json::object o = json::parse(CallStatusJson(call)).as_object();
  EXPECT_EQ(o.at("status").as_string(), "failed");
  EXPECT_EQ(o.at("failure_reason").as_string(), "no_answer");
  EXPECT_EQ(o.at("duration").as_int64(), 0);
  EXPECT_EQ(o.at("ended_at").as_string(), "2023-11-14T22:13:51.000000+00:00");
  EXPECT_TRUE(o.at("answered_at").is_null());
  EXPECT_EQ(o.at("attempt_number").as_int64(), 1);
  EXPECT_FALSE(o.at("is_active").as_bool());
  EXPECT_TRUE(o.at("is_completed").as_bool());
}

TEST(CallApiStatusTest, OriginateResponse) {
  tv1::PlaceCallResponse placed;
  placed.set_call_id("6f1c2a8e-8d0b-4c1e-9a53-1f2b3c4d5e6f");
  placed.mutable_call()->set_state(tv1::CALL_STATE_PENDING);
  *placed.mutable_call()->mutable_created_at() = Ts(1700000000);
  EXPECT_EQ(
      OriginateResponseJson(placed, "+15551234567", kNow + absl::Hours(1)),
      R"({"success":true,"call_id":"6f1c2a8e-8d0b-4c1e-9a53-1f2b3c4d5e6f","phone_number":"+15551234567",)"
      R"("message":"Call initiated","channel":"","status":"dialing",)"
      R"("created_at":"2023-11-14T22:13:20.000000+00:00"})");

  placed.mutable_call()->set_state(tv1::CALL_STATE_RINGING);
  placed.mutable_call()->set_provider_call_id("chan-1");
  placed.mutable_call()->clear_created_at();
  json::object o = json::parse(OriginateResponseJson(placed, "+15551234567", kNow)).as_object();
  EXPECT_EQ(o.at("status").as_string(), "ringing");
  EXPECT_EQ(o.at("channel").as_string(), "chan-1");
  EXPECT_EQ(o.at("created_at").as_string(), "2023-11-14T22:13:20.000000+00:00");

  // A repeat of a call that had failed says so, as ivr-call-api's failed originate did.
  placed.mutable_call()->set_state(tv1::CALL_STATE_BUSY);
  o = json::parse(OriginateResponseJson(placed, "+15551234567", kNow)).as_object();
  EXPECT_FALSE(o.at("success").as_bool());
  EXPECT_EQ(o.at("status").as_string(), "failed");
  EXPECT_EQ(o.at("error").as_string(), "busy");
}

TEST(CallApiStatusTest, Uuids) {
  EXPECT_TRUE(IsUuid("6f1c2a8e-8d0b-4c1e-9a53-1f2b3c4d5e6f"));
  EXPECT_TRUE(IsUuid("6F1C2A8E-8D0B-4C1E-9A53-1F2B3C4D5E6F"));
  for (const char* bad :
       {"", "42", "6f1c2a8e8d0b4c1e9a531f2b3c4d5e6f", "6f1c2a8e-8d0b-4c1e-9a53-1f2b3c4d5e6g",
        "6f1c2a8e-8d0b-4c1e-9a53-1f2b3c4d5e6f0", "../../etc/passwd"}) {
    EXPECT_FALSE(IsUuid(bad)) << bad;
  }
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string id = NewUuid();
    ASSERT_TRUE(IsUuid(id)) << id;
    EXPECT_EQ(id[14], '4') << id;
    EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(CallApiStatusTest, TelephonyErrorsMapToTheContractsStatuses) {
  http::Response r = TelephonyError(absl::InvalidArgumentError("to_e164 is not E.164"));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body, R"({"detail":[{"loc":["body"],"msg":"to_e164 is not E.164","type":"value_error"}]})");
  r = TelephonyError(absl::PermissionDeniedError("number not in STAGING_ALLOWED_NUMBERS"));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, R"({"detail":"number not in STAGING_ALLOWED_NUMBERS"})");
  r = TelephonyError(absl::ResourceExhaustedError("daily spend cap reached"));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.body, R"({"detail":"daily spend cap reached"})");
  for (const absl::Status& s : {absl::UnavailableError("down"), absl::DeadlineExceededError("slow")}) {
    r = TelephonyError(s);
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.body, R"({"detail":"Telephony service unavailable"})");
  }
  EXPECT_EQ(TelephonyError(absl::NotFoundError("x")).body, R"({"detail":"Call not found"})");
  EXPECT_EQ(TelephonyError(absl::InternalError("x")).status, 502);
}

// --- the OpenAPI document ---------------------------------------------------------------------------------

TEST(CallApiOpenApiTest, IsJsonAndNamesEveryRoute) {
  boost::system::error_code ec;
  json::value doc =
      json::parse(json::string_view(CallApiOpenApiJson().data(), CallApiOpenApiJson().size()), ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(doc.is_object());
  EXPECT_TRUE(doc.at("openapi").as_string().starts_with("3."));
  const json::object& paths = doc.at("paths").as_object();
  const std::vector<std::pair<std::string, std::string>> routes = {{"/api/v1/token", "post"},
                                                                   {"/api/v1/interaction/{number}", "post"},
                                                                   {"/api/v1/calls", "post"},
                                                                   {"/api/v1/calls/{call_id}", "get"},
                                                                   {"/api/v1/status/{call_id}", "get"}};
  for (const auto& [path, method] : routes) {
    ASSERT_TRUE(paths.contains(path)) << path;
    EXPECT_TRUE(paths.at(path).as_object().contains(method)) << path << " " << method;
  }
  EXPECT_EQ(paths.size(), routes.size());
  const json::value& scheme = doc.at("components").at("securitySchemes").at("OAuth2PasswordBearer");
  EXPECT_EQ(scheme.at("type").as_string(), "oauth2");
  EXPECT_EQ(scheme.at("flows").at("password").at("tokenUrl").as_string(), "/api/v1/token");
  // Every $ref points at something the document defines.
  std::vector<const json::value*> stack = {&doc};
  int refs = 0;
  while (!stack.empty()) {
    const json::value* v = stack.back();
    stack.pop_back();
    if (v->is_object()) {
      for (const auto& [key, child] : v->as_object()) {
        if (key == "$ref") {
          ++refs;
          std::string ref(child.as_string());
          ASSERT_TRUE(ref.starts_with("#/components/")) << ref;
          const json::value* target = &doc;
          for (size_t start = 2; start < ref.size();) {
            size_t slash = ref.find('/', start);
            const std::string part =
                ref.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
            ASSERT_TRUE(target->is_object() && target->as_object().contains(part)) << ref;
            target = &target->at(part);
            start = slash == std::string::npos ? ref.size() : slash + 1;
          }
        } else {
          stack.push_back(&child);
        }
      }
    } else if (v->is_array()) {
      for (const json::value& child : v->as_array()) stack.push_back(&child);
    }
  }
  EXPECT_GT(refs, 10);
}

// --- the routes that need no I/O --------------------------------------------------------------------------

class CallApiRoutesTest : public ::testing::Test {
 protected:
  void Build(CallApiConfig config) {
    // Nothing here connects: the pool and the channel are never used by the requests below.
    absl::StatusOr<std::unique_ptr<CallApi>> api =
        CallApi::Create(std::move(config), "postgresql://nobody@127.0.0.1:1/none", "127.0.0.1:1", &metrics_);
    ASSERT_TRUE(api.ok()) << api.status();
    api_ = *std::move(api);
    router_ = http::Router();
    api_->AddRoutes(router_);
  }
  http::Response Send(std::string method, std::string path, std::map<std::string, std::string> headers = {},
                      std::string body = "") {
    http::Request r;
    r.method = std::move(method);
    r.target = path;
    r.path = std::move(path);
    r.headers = std::move(headers);
    r.body = std::move(body);
    return router_.Dispatch(r, nullptr);
  }
  static std::string Header(const http::Response& r, std::string_view name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    return "";
  }

  kernel::MetricsRegistry metrics_;
  std::unique_ptr<CallApi> api_;
  http::Router router_;
};

TEST_F(CallApiRoutesTest, WithoutSecretKeyEveryRouteAnswers503ButTheDocument) {
  Build(CallApiConfig{});
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "/api/v1/token"},
           {"POST", "/api/v1/interaction/+15551234567"},
           {"POST", "/api/v1/calls"},
           {"GET", "/api/v1/calls/6f1c2a8e-8d0b-4c1e-9a53-1f2b3c4d5e6f"},
           {"GET", "/api/v1/status/6f1c2a8e-8d0b-4c1e-9a53-1f2b3c4d5e6f"}}) {
    http::Response r = Send(method, path);
    EXPECT_EQ(r.status, 503) << path;
    EXPECT_EQ(r.body, R"({"detail":"Call API not configured"})") << path;
  }
  http::Response doc = Send("GET", "/openapi.json");
  EXPECT_EQ(doc.status, 200);
  EXPECT_EQ(doc.body, CallApiOpenApiJson());
}

TEST_F(CallApiRoutesTest, NoTokenOrABadTokenIs401WithWwwAuthenticate) {
  Build(Config());
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "/api/v1/interaction/+15551234567"},
           {"POST", "/api/v1/calls"},
           {"GET", "/api/v1/calls/6f1c2a8e-8d0b-4c1e-9a53-1f2b3c4d5e6f"},
           {"GET", "/api/v1/status/not-a-uuid"}}) {
    http::Response r = Send(method, path);
    EXPECT_EQ(r.status, 401) << path;
    EXPECT_EQ(r.body, R"({"detail":"Not authenticated"})") << path;
    EXPECT_EQ(Header(r, "WWW-Authenticate"), "Bearer") << path;
    r = Send(method, path, {{"authorization", "Basic YWxpY2U6cHc="}});
    EXPECT_EQ(r.body, R"({"detail":"Not authenticated"})") << path;
    r = Send(method, path, {{"authorization", "Bearer " + Forge(R"({"alg":"HS256"})", Payload(), "wrong")}});
    EXPECT_EQ(r.status, 401) << path;
    EXPECT_EQ(r.body, R"({"detail":"Could not validate credentials"})") << path;
    EXPECT_EQ(Header(r, "WWW-Authenticate"), "Bearer") << path;
  }
}

TEST_F(CallApiRoutesTest, PathsWithoutTheirSegmentAreNotFound) {
  Build(Config());
  EXPECT_EQ(Send("POST", "/api/v1/interaction/").status, 404);
  EXPECT_EQ(Send("POST", "/api/v1/interaction/+15551234567/x").body, R"({"detail":"Not Found"})");
  EXPECT_EQ(Send("GET", "/api/v1/status/").status, 404);
  EXPECT_EQ(Send("GET", "/api/v1/calls").status, 405);
}

TEST_F(CallApiRoutesTest, TokenFormErrorsAre422BeforeAnyLookup) {
  Build(Config());
  http::Response r = Send("POST", "/api/v1/token", {{"content-type", "application/x-www-form-urlencoded"}},
                          "username=alice");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(
      r.body,
      R"({"detail":[{"loc":["body","password"],"msg":"field required","type":"value_error.missing"}]})");
}

}  // namespace
}  // namespace protectogram::edge
