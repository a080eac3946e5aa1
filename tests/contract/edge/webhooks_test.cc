// The edge's webhook contract, route by route, on literal requests through its router, with a real Postgres
// (tests/support harness) behind it: what is accepted is stored once and answered 200; what is refused gets
// its status, a short JSON body and a counter, and nothing is stored. Signatures are literal values computed
// independently (fixtures.h).
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "boost/json.hpp"
#include "edge/edge.h"
#include "libs/crypto/encoding.h"
#include "libs/pg/query.h"
#include "libs/providers/telnyx/telnyx.h"
#include "libs/providers/twilio/twilio.h"
#include "libs/providers/whatsapp/whatsapp.h"
#include "tests/contract/edge/edge_test_util.h"
#include "tests/contract/edge/fixtures.h"
#include "tests/support/pg_harness.h"

namespace protectogram::edge::testing {
namespace {

constexpr pg::Query kRows{"test_rows", R"sql(
SELECT id, provider, provider_event_id, payload, payload_json IS NOT NULL AS has_json, headers::text AS headers,
       status, last_error
  FROM edge.inbox_events ORDER BY id)sql"};

struct Row {
  int64_t id;
  std::string provider, event_id, payload;
  bool has_json;
  std::string headers, status, last_error;
};

class EdgeContractTest : public test::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    StartEdge(AllProvidersEnv());
  }
  void TearDown() override {
    edge_.reset();
    PgTest::TearDown();
  }

  void StartEdge(const std::map<std::string, std::string>& env,
                 kernel::AppEnv app_env = kernel::AppEnv::kDev) {
    edge_.reset();
    metrics_ = std::make_unique<kernel::MetricsRegistry>();
    EdgeOptions options;
    options.config = ConfigFrom(env, app_env);
    options.database_url = db_url_for_role("protectogram_edge");
    options.port = 0;
    options.listen_address = "127.0.0.1";
    options.metrics = metrics_.get();
    options.run_relay = false;
    options.now = [this] { return now_; };
    absl::StatusOr<std::unique_ptr<Edge>> edge = Edge::Create(std::move(options));
    ASSERT_TRUE(edge.ok()) << edge.status();
    edge_ = *std::move(edge);
    ASSERT_TRUE(edge_->Start().ok());
  }

  http::Response Handle(const http::Request& request, std::string* route = nullptr) {
    return edge_->Handle(request, route);
  }

  std::vector<Row> Rows() {
    absl::StatusOr<pg::Result> r = pool().Execute(kRows);
    EXPECT_TRUE(r.ok()) << r.status();
    std::vector<Row> rows;
    if (!r.ok()) return rows;
    for (const pg::Row& row : *r) {
      rows.push_back({row.Get<int64_t>("id"), row.Get<std::string>("provider"),
                      row.Get<std::string>("provider_event_id"), row.Get<std::string>("payload"),
                      row.Get<bool>("has_json"), row.Get<std::string>("headers"),
                      row.Get<std::string>("status"),
                      row.GetOptional<std::string>("last_error").value_or("")});
    }
    return rows;
  }

  double Rejected(const std::string& provider, const std::string& reason) {
    return MetricValue(*metrics_,
                       "webhook_rejected_total{provider=\"" + provider + "\",reason=\"" + reason + "\"}");
  }

  // Checks a refusal: status, JSON body {"error": reason, "message": ...}, the counter, nothing stored.
  void ExpectRefused(const http::Request& request, int status, const std::string& provider,
                     const std::string& reason) {
    const double before = Rejected(provider, reason);
    http::Response response = Handle(request);
    EXPECT_EQ(response.status, status) << response.body;
    EXPECT_EQ(response.content_type, "application/json");
    boost::system::error_code ec;
    boost::json::value body = boost::json::parse(response.body, ec);
    ASSERT_FALSE(ec) << response.body;
    EXPECT_EQ(body.at("error").as_string(), reason) << response.body;
    EXPECT_FALSE(body.at("message").as_string().empty());
    EXPECT_EQ(Rejected(provider, reason), before + 1);
    EXPECT_TRUE(Rows().empty()) << "a refused webhook must store nothing";
  }

  absl::Time now_ = absl::FromUnixSeconds(1700000010);
  std::unique_ptr<kernel::MetricsRegistry> metrics_;
  std::unique_ptr<Edge> edge_;
};

// ---- Telegram -------------------------------------------------------------------------------------------

TEST_F(EdgeContractTest, TelegramDefaultBotWithQuerySecretIsStoredByteForByte) {
  std::string route;
  http::Response response =
      Handle(Post(std::string("/telegram/webhook?secret=") + kMainSecret, {}, kTelegramUpdate), &route);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, R"({"ok":true})");
  EXPECT_EQ(route, "/telegram/webhook");
  std::vector<Row> rows = Rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].provider, "telegram:main");
  EXPECT_EQ(rows[0].event_id, "815000001");
  EXPECT_EQ(rows[0].payload, kTelegramUpdate);
  EXPECT_TRUE(rows[0].has_json);
  EXPECT_EQ(rows[0].status, "received");
  // The secret is never kept.
  EXPECT_EQ(rows[0].headers.find(kMainSecret), std::string::npos);
  EXPECT_EQ(MetricValue(*metrics_, R"(webhook_accepted_total{provider="telegram",outcome="stored"})"), 1);
}

TEST_F(EdgeContractTest, TelegramDefaultBotTakesTheSecretHeaderToo) {
  http::Response response =
      Handle(Post("/telegram/webhook", {{"X-Telegram-Bot-Api-Secret-Token", kMainSecret}}, kTelegramUpdate));
  EXPECT_EQ(response.status, 200);
  ASSERT_EQ(Rows().size(), 1u);
}

TEST_F(EdgeContractTest, TelegramBotRouteWithHeader) {
  std::string route;
  http::Response response = Handle(
      Post("/webhook/alpha", {{"X-Telegram-Bot-Api-Secret-Token", kAlphaSecret}}, kTelegramCallback), &route);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(route, "/webhook/");
  std::vector<Row> rows = Rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].provider, "telegram:alpha");
  EXPECT_EQ(rows[0].event_id, "815000002");
  // The default bot is reachable by id as well.
  EXPECT_EQ(Handle(Post("/webhook/main", {{"X-Telegram-Bot-Api-Secret-Token", kMainSecret}}, kTelegramUpdate))
                .status,
            200);
  EXPECT_EQ(Rows().size(), 2u);
}

TEST_F(EdgeContractTest, TelegramDuplicateIsAnswered200AndCounted) {
  const std::string target = std::string("/telegram/webhook?secret=") + kMainSecret;
  ASSERT_EQ(Handle(Post(target, {}, kTelegramUpdate)).status, 200);
  http::Response again = Handle(Post(target, {}, kTelegramUpdate));
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, R"({"ok":true,"duplicate":true})");
  EXPECT_EQ(Rows().size(), 1u);
  EXPECT_EQ(MetricValue(*metrics_, "duplicate_inbox_dropped_total"), 1);
  EXPECT_EQ(MetricValue(*metrics_, R"(webhook_accepted_total{provider="telegram",outcome="duplicate"})"), 1);
  // The same update_id for another bot is another event.
  EXPECT_EQ(
      Handle(Post("/webhook/alpha", {{"X-Telegram-Bot-Api-Secret-Token", kAlphaSecret}}, kTelegramUpdate))
          .status,
      200);
  EXPECT_EQ(Rows().size(), 2u);
}

TEST_F(EdgeContractTest, TelegramBadOrMissingSecretIs403) {
  ExpectRefused(Post("/telegram/webhook?secret=wrong-secret", {}, kTelegramUpdate), 403, "telegram",
                "bad_signature");
  ExpectRefused(Post("/telegram/webhook", {}, kTelegramUpdate), 403, "telegram", "missing_signature");
  ExpectRefused(Post("/webhook/alpha", {{"X-Telegram-Bot-Api-Secret-Token", kMainSecret}}, kTelegramUpdate),
                403, "telegram", "bad_signature");
  ExpectRefused(Post("/webhook/alpha", {}, kTelegramUpdate), 403, "telegram", "missing_signature");
  // A prefix of the secret is not the secret.
  ExpectRefused(
      Post("/webhook/alpha", {{"X-Telegram-Bot-Api-Secret-Token", "alpha-webhook-secret"}}, kTelegramUpdate),
      403, "telegram", "bad_signature");
}

TEST_F(EdgeContractTest, TelegramUnknownBotIs404) {
  ExpectRefused(Post("/webhook/beta", {{"X-Telegram-Bot-Api-Secret-Token", kAlphaSecret}}, kTelegramUpdate),
                404, "telegram", "unknown_bot");
  ExpectRefused(Post("/webhook/", {{"X-Telegram-Bot-Api-Secret-Token", kAlphaSecret}}, kTelegramUpdate), 404,
                "telegram", "unknown_bot");
  ExpectRefused(
      Post("/webhook/alpha/x", {{"X-Telegram-Bot-Api-Secret-Token", kAlphaSecret}}, kTelegramUpdate), 404,
      "telegram", "unknown_bot");
}

TEST_F(EdgeContractTest, TelegramMalformedBodyOrMissingUpdateIdIs400) {
  const std::string target = std::string("/telegram/webhook?secret=") + kMainSecret;
  ExpectRefused(Post(target, {}, R"({"update_id":815000001,"message":)"), 400, "telegram", "malformed");
  ExpectRefused(Post(target, {}, "[1,2]"), 400, "telegram", "malformed");
  ExpectRefused(Post(target, {}, R"({"message":{"text":"hi"}})"), 400, "telegram", "missing_id");
  ExpectRefused(Post(target, {}, R"({"update_id":"abc"})"), 400, "telegram", "malformed");
  ExpectRefused(Post(target, {}, std::string("{\"update_id\":1}\0", 16)), 400, "telegram", "malformed");
}

TEST_F(EdgeContractTest, WrongMethodIs405WithAllow) {
  std::string route;
  http::Response response = Handle(MakeRequest("GET", "/telegram/webhook"), &route);
  EXPECT_EQ(response.status, 405);
  ASSERT_EQ(response.headers.size(), 1u);
  EXPECT_EQ(response.headers[0].first, "Allow");
  EXPECT_EQ(response.headers[0].second, "POST");
  EXPECT_EQ(Handle(MakeRequest("PUT", "/telnyx/webhook")).status, 405);
  EXPECT_EQ(Handle(MakeRequest("DELETE", "/whatsapp/webhook")).status, 405);
  EXPECT_EQ(Handle(MakeRequest("POST", "/nowhere")).status, 404);
}

TEST_F(EdgeContractTest, StagingStoresChatsOffTheAllowlistAsIgnored) {
  std::map<std::string, std::string> env = AllProvidersEnv();
  env["STAGING_ALLOWED_CHATS"] = "123456789, -1001234567890";
  StartEdge(env, kernel::AppEnv::kStaging);
  const std::string target = std::string("/telegram/webhook?secret=") + kMainSecret;
  // Chat 123456789 is allowed; the callback's chat 555000111 is not.
  EXPECT_EQ(Handle(Post(target, {}, kTelegramUpdate)).status, 200);
  EXPECT_EQ(Handle(Post(target, {}, kTelegramCallback)).status, 200);
  std::vector<Row> rows = Rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].status, "received");
  EXPECT_EQ(rows[1].status, "ignored");
  EXPECT_EQ(rows[1].last_error, "staging: chat not in STAGING_ALLOWED_CHATS");
  EXPECT_EQ(MetricValue(*metrics_, R"(webhook_accepted_total{provider="telegram",outcome="ignored"})"), 1);
  // A repeat of the ignored one is a duplicate, still ignored.
  EXPECT_EQ(Handle(Post(target, {}, kTelegramCallback)).body, R"({"ok":true,"duplicate":true})");
  EXPECT_EQ(Rows()[1].status, "ignored");
}

// ---- Telnyx ---------------------------------------------------------------------------------------------

http::Request TelnyxRequest(std::string body = kTelnyxBody, std::string signature = kTelnyxSignature,
                            std::string timestamp = kTelnyxTimestamp) {
  std::map<std::string, std::string> headers;
  if (!signature.empty()) headers["Telnyx-Signature-Ed25519"] = signature;
  if (!timestamp.empty()) headers["Telnyx-Timestamp"] = timestamp;
  return Post("/telnyx/webhook", headers, std::move(body));
}

TEST_F(EdgeContractTest, TelnyxSignedWithRfc8032Test1IsStored) {
  http::Response response = Handle(TelnyxRequest());
  EXPECT_EQ(response.status, 200) << response.body;
  std::vector<Row> rows = Rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].provider, "telnyx");
  EXPECT_EQ(rows[0].event_id, kTelnyxEventId);
  EXPECT_EQ(rows[0].payload, kTelnyxBody);
  // The signature headers are kept for audit.
  EXPECT_NE(rows[0].headers.find(kTelnyxSignature), std::string::npos) << rows[0].headers;
  EXPECT_NE(rows[0].headers.find(kTelnyxTimestamp), std::string::npos) << rows[0].headers;
  // Telnyx retries the same event: one row.
  EXPECT_EQ(Handle(TelnyxRequest()).status, 200);
  EXPECT_EQ(Rows().size(), 1u);
}

TEST_F(EdgeContractTest, TelnyxOutsideTheWindowIsAReplay) {
  now_ = absl::FromUnixSeconds(1700000000 + 301);
  ExpectRefused(TelnyxRequest(), 403, "telnyx", "replay");
  now_ = absl::FromUnixSeconds(1700000000 - 301);
  ExpectRefused(TelnyxRequest(), 403, "telnyx", "replay");
  now_ = absl::FromUnixSeconds(1700000000 + 300);
  EXPECT_EQ(Handle(TelnyxRequest()).status, 200);
}

TEST_F(EdgeContractTest, TelnyxBadOrMissingSignatureIs403) {
  std::string tampered = kTelnyxBody;
  tampered.replace(tampered.find(R"("digits":"1")"), 12, R"("digits":"2")");
  ExpectRefused(TelnyxRequest(tampered), 403, "telnyx", "bad_signature");
  ExpectRefused(TelnyxRequest(kTelnyxBody, kTelnyxSignature, "1700000001"), 403, "telnyx", "bad_signature");
  ExpectRefused(TelnyxRequest(kTelnyxBody, "not-base64!"), 403, "telnyx", "bad_signature");
  ExpectRefused(TelnyxRequest(kTelnyxBody, ""), 403, "telnyx", "missing_signature");
  ExpectRefused(TelnyxRequest(kTelnyxBody, kTelnyxSignature, ""), 403, "telnyx", "missing_signature");
}

TEST_F(EdgeContractTest, TelnyxSignedButMalformedIs400) {
  const std::string seed = *crypto::HexDecode(kRfc8032Test1Seed);
  const std::string no_id = R"({"data":{"event_type":"call.hangup","payload":{}}})";
  ExpectRefused(TelnyxRequest(no_id, *providers::telnyx::SignWebhook(seed, kTelnyxTimestamp, no_id)), 400,
                "telnyx", "missing_id");
  const std::string not_json = "data=1";
  ExpectRefused(TelnyxRequest(not_json, *providers::telnyx::SignWebhook(seed, kTelnyxTimestamp, not_json)),
                400, "telnyx", "malformed");
}

// ---- Twilio ---------------------------------------------------------------------------------------------

http::Request TwilioRequest(std::string target, std::string body, std::string signature,
                            std::string content_type = "application/x-www-form-urlencoded") {
  std::map<std::string, std::string> headers{{"Content-Type", content_type}};
  if (!signature.empty()) headers["X-Twilio-Signature"] = signature;
  return MakeRequest("POST", std::move(target), headers, std::move(body));
}

TEST_F(EdgeContractTest, TwilioVoiceSignedFormIsStoredAndAnsweredWithTwiml) {
  http::Response response = Handle(TwilioRequest("/twilio/voice", kTwilioVoiceBody, kTwilioVoiceSignature));
  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.content_type, "text/xml; charset=utf-8");
  EXPECT_EQ(response.body, R"(<?xml version="1.0" encoding="UTF-8"?><Response/>)");
  std::vector<Row> rows = Rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].provider, "twilio:voice");
  EXPECT_EQ(rows[0].event_id, "CA0001:completed");
  EXPECT_EQ(rows[0].payload, kTwilioVoiceBody);
  EXPECT_FALSE(rows[0].has_json);
}

TEST_F(EdgeContractTest, TwilioBodySha256VariantIsVerifiedOverTheUrl) {
  const std::string target = std::string("/twilio/voice?bodySHA256=") + kTwilioJsonBodySha256;
  http::Response response =
      Handle(TwilioRequest(target, kTwilioJsonBody, kTwilioJsonSignature, "application/json"));
  EXPECT_EQ(response.status, 200) << response.body;
  std::vector<Row> rows = Rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].event_id, "CA0002:ringing");
  EXPECT_TRUE(rows[0].has_json);
  // Another body under the same URL and signature does not match its hash.
  const double before = Rejected("twilio_voice", "bad_signature");
  EXPECT_EQ(Handle(TwilioRequest(target, R"({"CallSid":"CA0003","CallStatus":"ringing"})",
                                 kTwilioJsonSignature, "application/json"))
                .status,
            403);
  EXPECT_EQ(Rejected("twilio_voice", "bad_signature"), before + 1);
  EXPECT_EQ(Rows().size(), 1u);
}

TEST_F(EdgeContractTest, TwilioWhatsAppSignedFormIsStored) {
  http::Response response =
      Handle(TwilioRequest("/twilio/whatsapp", kTwilioWhatsAppBody, kTwilioWhatsAppSignature));
  EXPECT_EQ(response.status, 200) << response.body;
  std::vector<Row> rows = Rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].provider, "twilio:whatsapp");
  EXPECT_EQ(rows[0].event_id, "SM0001");
}

TEST_F(EdgeContractTest, TwilioBadOrMissingSignatureIs403) {
  // The voice signature does not cover the WhatsApp URL, nor a changed parameter.
  ExpectRefused(TwilioRequest("/twilio/whatsapp", kTwilioWhatsAppBody, kTwilioVoiceSignature), 403,
                "twilio_whatsapp", "bad_signature");
  std::string changed = kTwilioVoiceBody;
  changed.replace(changed.find("CallDuration=17"), 15, "CallDuration=18");
  ExpectRefused(TwilioRequest("/twilio/voice", changed, kTwilioVoiceSignature), 403, "twilio_voice",
                "bad_signature");
  ExpectRefused(TwilioRequest("/twilio/voice", kTwilioVoiceBody, ""), 403, "twilio_voice",
                "missing_signature");
  // The signature covers the query too.
  ExpectRefused(TwilioRequest("/twilio/voice?x=1", kTwilioVoiceBody, kTwilioVoiceSignature), 403,
                "twilio_voice", "bad_signature");
}

TEST_F(EdgeContractTest, TwilioMalformedFormOrMissingSidIs400) {
  const std::string url = std::string(kPublicBaseUrl) + "/twilio/voice";
  // A signature of the right shape (base64 of 20 bytes) gets as far as the form.
  ExpectRefused(TwilioRequest("/twilio/voice", "CallSid=%ZZ", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="), 400,
                "twilio_voice", "malformed");
  // One that is not even an HMAC-SHA1 is refused before the form is parsed.
  ExpectRefused(TwilioRequest("/twilio/voice", "CallSid=%ZZ", "c2lnbmF0dXJl"), 403, "twilio_voice",
                "bad_signature");
  const std::string no_sid = "CallStatus=completed&From=%2B15550001111";
  ExpectRefused(TwilioRequest("/twilio/voice", no_sid,
                              providers::twilio::ComputeSignature(kTwilioAuthToken, url,
                                                                  *providers::ParseForm(no_sid))),
                400, "twilio_voice", "missing_id");
  const std::string wa_url = std::string(kPublicBaseUrl) + "/twilio/whatsapp";
  const std::string no_message_sid = "From=whatsapp%3A%2B79990001234&Body=hi";
  ExpectRefused(TwilioRequest("/twilio/whatsapp", no_message_sid,
                              providers::twilio::ComputeSignature(kTwilioAuthToken, wa_url,
                                                                  *providers::ParseForm(no_message_sid))),
                400, "twilio_whatsapp", "missing_id");
}

// ---- WhatsApp Cloud API ---------------------------------------------------------------------------------

TEST_F(EdgeContractTest, WhatsAppVerificationAnswersTheChallenge) {
  http::Response ok = Handle(MakeRequest(
      "GET", "/whatsapp/webhook?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock"));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "1158201444");
  EXPECT_EQ(ok.content_type, "text/plain; charset=utf-8");
  ExpectRefused(
      MakeRequest("GET",
                  "/whatsapp/webhook?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=nope"),
      403, "whatsapp", "bad_verify_token");
  ExpectRefused(MakeRequest("GET",
                            "/whatsapp/webhook?hub.mode=unsubscribe&hub.challenge=1&hub.verify_token="
                            "meatyhamhock"),
                400, "whatsapp", "malformed");
}

TEST_F(EdgeContractTest, WhatsAppSignedMessageIsStoredPerMessage) {
  http::Response response =
      Handle(Post("/whatsapp/webhook", {{"X-Hub-Signature-256", kWhatsAppSignature}}, kWhatsAppBody));
  EXPECT_EQ(response.status, 200) << response.body;
  std::vector<Row> rows = Rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].provider, "whatsapp");
  EXPECT_EQ(rows[0].event_id, kWhatsAppMessageId);
  EXPECT_EQ(rows[0].status, "received");
}

TEST_F(EdgeContractTest, WhatsAppReceiptsAreStoredAsIgnored) {
  http::Response response = Handle(
      Post("/whatsapp/webhook", {{"X-Hub-Signature-256", kWhatsAppReceiptSignature}}, kWhatsAppReceiptBody));
  EXPECT_EQ(response.status, 200) << response.body;
  std::vector<Row> rows = Rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].event_id, std::string("body:") + kWhatsAppReceiptSha256);
  EXPECT_EQ(rows[0].status, "ignored");
}

TEST_F(EdgeContractTest, AWhatsAppMessageIdInTheReceiptsKeySpaceIsRefused) {
  // Found by fuzz_edge_whatsapp: a message keyed "body:..." could be dropped as a receipt's duplicate.
  std::string body = kWhatsAppBody;
  body.replace(body.find(kWhatsAppMessageId), std::string(kWhatsAppMessageId).size(), "body:abc");
  ExpectRefused(
      Post("/whatsapp/webhook",
           {{"X-Hub-Signature-256", providers::whatsapp::ComputeSignatureHeader(kWhatsAppAppSecret, body)}},
           body),
      400, "whatsapp", "malformed");
}

TEST_F(EdgeContractTest, WhatsAppBadOrMissingSignatureIs403) {
  ExpectRefused(
      Post("/whatsapp/webhook", {{"X-Hub-Signature-256", kWhatsAppReceiptSignature}}, kWhatsAppBody), 403,
      "whatsapp", "bad_signature");
  ExpectRefused(Post("/whatsapp/webhook", {{"X-Hub-Signature-256", "sha1=abc"}}, kWhatsAppBody), 403,
                "whatsapp", "bad_signature");
  ExpectRefused(Post("/whatsapp/webhook", {}, kWhatsAppBody), 403, "whatsapp", "missing_signature");
}

// ---- Configuration and the basics -----------------------------------------------------------------------

TEST_F(EdgeContractTest, UnconfiguredProvidersAnswer404NotConfiguredInDev) {
  StartEdge({});
  ExpectRefused(Post("/telegram/webhook?secret=x", {}, kTelegramUpdate), 404, "telegram", "not_configured");
  ExpectRefused(TelnyxRequest(), 404, "telnyx", "not_configured");
  ExpectRefused(TwilioRequest("/twilio/voice", kTwilioVoiceBody, kTwilioVoiceSignature), 404, "twilio_voice",
                "not_configured");
  ExpectRefused(TwilioRequest("/twilio/whatsapp", kTwilioWhatsAppBody, kTwilioWhatsAppSignature), 404,
                "twilio_whatsapp", "not_configured");
  ExpectRefused(Post("/whatsapp/webhook", {{"X-Hub-Signature-256", kWhatsAppSignature}}, kWhatsAppBody), 404,
                "whatsapp", "not_configured");
  ExpectRefused(MakeRequest("GET", "/whatsapp/webhook?hub.mode=subscribe&hub.challenge=1&hub.verify_token=x"),
                404, "whatsapp", "not_configured");
}

TEST_F(EdgeContractTest, HealthAndMetrics) {
  http::Response health = Handle(MakeRequest("GET", "/health"));
  EXPECT_EQ(health.status, 200);
  // No readiness probe has run: nothing is known of Postgres or the services yet.
  EXPECT_EQ(health.body,
            R"({"status":"ok","version":"0.1.0","postgres":"unknown","services":{"incident":"UNKNOWN",)"
            R"("notification":"UNKNOWN","telephony":"UNKNOWN"}})");
  EXPECT_EQ(Handle(MakeRequest("GET", "/health/live")).body, R"({"status":"ok"})");
  EXPECT_EQ(Handle(MakeRequest("GET", "/health/ready")).status, 200);  // no Readiness given: always ready
  Handle(Post("/telegram/webhook?secret=wrong", {}, kTelegramUpdate));
  http::Response metrics = Handle(MakeRequest("GET", "/metrics"));
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find(R"(webhook_rejected_total{provider="telegram",reason="bad_signature"} 1)"),
            std::string::npos);
  // METRICS_ENABLED=false: no /metrics.
  std::map<std::string, std::string> env = AllProvidersEnv();
  edge_.reset();
  EdgeOptions options;
  options.config = ConfigFrom(env);
  options.database_url = db_url_for_role("protectogram_edge");
  options.port = 0;
  options.metrics_enabled = false;
  options.metrics = metrics_.get();
  options.run_relay = false;
  edge_ = *Edge::Create(std::move(options));
  EXPECT_EQ(Handle(MakeRequest("GET", "/metrics")).status, 404);
}

// ---- Hostile but signed: nothing genuine is lost to a 500 -----------------------------------------------

TEST_F(EdgeContractTest, TelegramSecretInQueryAndHeaderMustAgreeAndAppearOnce) {
  const std::string target = std::string("/telegram/webhook?secret=") + kMainSecret;
  ExpectRefused(Post(target, {{"X-Telegram-Bot-Api-Secret-Token", "another-secret"}}, kTelegramUpdate), 403,
                "telegram", "bad_signature");
  ExpectRefused(Post(target + "&secret=" + kMainSecret, {}, kTelegramUpdate), 400, "telegram", "malformed");
  ExpectRefused(Post(target + "&secret=x", {}, kTelegramUpdate), 400, "telegram", "malformed");
  // Both, agreeing: accepted.
  EXPECT_EQ(Handle(Post(target, {{"X-Telegram-Bot-Api-Secret-Token", kMainSecret}}, kTelegramUpdate)).status,
            200);
}

TEST_F(EdgeContractTest, AContentTypeOutsideAsciiIsKeptPercentEncoded) {
  // 0xFF is outside every signature: Postgres must still take the row (headers is jsonb).
  const std::string odd_type = "application/json; charset=\xff\x01%";
  http::Request telnyx = TelnyxRequest();
  telnyx.headers["content-type"] = odd_type;
  http::Response response = Handle(telnyx);
  ASSERT_EQ(response.status, 200) << response.body;
  http::Request whatsapp =
      Post("/whatsapp/webhook", {{"X-Hub-Signature-256", kWhatsAppSignature}}, kWhatsAppBody);
  whatsapp.headers["content-type"] = odd_type;
  ASSERT_EQ(Handle(whatsapp).status, 200);
  http::Request twilio = TwilioRequest("/twilio/voice", kTwilioVoiceBody, kTwilioVoiceSignature, odd_type);
  ASSERT_EQ(Handle(twilio).status, 200);
  std::vector<Row> rows = Rows();
  ASSERT_EQ(rows.size(), 3u);
  for (const Row& row : rows) {
    EXPECT_NE(row.headers.find("charset=%FF%01%25"), std::string::npos) << row.headers;
  }
}

TEST_F(EdgeContractTest, KeptHeadersAreAlwaysAsciiJson) {
  http::Request request;
  request.headers["content-type"] = std::string("a\0b\x7f\xc3\xa9\\\"", 8);
  std::optional<std::string> kept = KeptHeaders(request, {"content-type", "x-absent"});
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(*kept, R"({"content-type":"a%00b%7F%C3%A9\\\""})");
  for (char c : *kept) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << *kept;
  EXPECT_FALSE(KeptHeaders(http::Request{}, {"content-type"}).has_value());
}

TEST_F(EdgeContractTest, SignedBodiesPostgresCouldNotStoreAreRefusedWith400) {
  // Invalid UTF-8 (payload is text), a lone surrogate (not interoperable JSON, RFC 8259 §8.2), and NUL: every
  // one signed correctly, every one a 400 that a retry will not change, nothing stored.
  const std::string invalid_utf8 =
      R"({"object":"whatsapp_business_account","entry":[],"x":")" + std::string("\xff") + R"("})";
  const std::string lone_surrogate = R"({"object":"whatsapp_business_account","entry":[],"x":"\ud800"})";
  const std::string nul = std::string(R"({"object":"whatsapp_business_account","entry":[],"x":")") +
                          std::string(1, '\0') + R"("})";
  for (const std::string& body : {invalid_utf8, lone_surrogate, nul}) {
    ExpectRefused(
        Post("/whatsapp/webhook",
             {{"X-Hub-Signature-256", providers::whatsapp::ComputeSignatureHeader(kWhatsAppAppSecret, body)}},
             body),
        400, "whatsapp", "malformed");
  }
  const std::string telegram_surrogate = R"({"update_id":815000009,"message":{"text":"\udc00"}})";
  ExpectRefused(Post(std::string("/telegram/webhook?secret=") + kMainSecret, {}, telegram_surrogate), 400,
                "telegram", "malformed");
}

TEST_F(EdgeContractTest, AnEscapedNulIsStoredRawWithoutItsJsonCopy) {
  // jsonb refuses \u0000 but the body is valid JSON, UTF-8 and signed: stored raw, payload_json NULL.
  const std::string body = R"({"update_id":815000010,"message":{"text":"a\u0000b"}})";
  ASSERT_EQ(Handle(Post(std::string("/telegram/webhook?secret=") + kMainSecret, {}, body)).status, 200);
  std::vector<Row> rows = Rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].payload, body);
  EXPECT_FALSE(rows[0].has_json);
}

TEST_F(EdgeContractTest, EventIdsThatCannotBeKeysAreRefused) {
  const std::string seed = *crypto::HexDecode(kRfc8032Test1Seed);
  for (const std::string& id :
       {std::string(R"(\u0001abc)"), std::string(R"(a\u007fb)"), std::string(201, 'x')}) {
    const std::string body =
        R"({"data":{"record_type":"event","event_type":"call.hangup","id":")" + id +
        R"(","occurred_at":"2023-11-14T22:13:20Z","payload":{"call_control_id":"v3:1","hangup_cause":"normal_clearing"}}})";
    ExpectRefused(TelnyxRequest(body, *providers::telnyx::SignWebhook(seed, kTelnyxTimestamp, body)), 400,
                  "telnyx", "malformed");
  }
  EXPECT_TRUE(CheckStorableEventId("5b1c8f4e-0b7c-4a3e-9d52-7c1f0e2a9b10").ok());
  EXPECT_FALSE(CheckStorableEventId("").ok());
}

TEST_F(EdgeContractTest, ATwilioFormWithTooManyFieldsIsRefusedBeforeItIsParsed) {
  std::string many;
  for (size_t i = 0; i < kTwilioMaxFormFields; ++i) many += "a&";
  ExpectRefused(TwilioRequest("/twilio/voice", many, "AAAAAAAAAAAAAAAAAAAAAAAAAAA="), 400, "twilio_voice",
                "malformed");
  // Just under the cap it is parsed (and then refused for what it is: unsigned).
  std::string fewer;
  for (size_t i = 0; i + 1 < kTwilioMaxFormFields; ++i) fewer += "a&";
  ExpectRefused(TwilioRequest("/twilio/voice", fewer, "AAAAAAAAAAAAAAAAAAAAAAAAAAA="), 403, "twilio_voice",
                "bad_signature");
}

TEST_F(EdgeContractTest, PrechecksRefuseFromTheHeadAlone) {
  // What the server runs before reading a body: the request here has none.
  const EdgeConfig& config = edge_->config();
  http::Request head = Post(std::string("/telegram/webhook?secret=") + kMainSecret, {}, "");
  EXPECT_TRUE(PrecheckTelegram(config, "main", head, /*query_secret=*/true).ok());
  EXPECT_EQ(
      RejectReasonOf(PrecheckTelegram(config, "main", Post("/telegram/webhook?secret=no", {}, ""), true)),
      RejectReason::kBadSignature);
  EXPECT_EQ(RejectReasonOf(PrecheckTelegram(config, "nobot", Post("/webhook/nobot", {}, ""), false)),
            RejectReason::kUnknownBot);
  // Telnyx: the headers and the window, no signature check yet.
  EXPECT_TRUE(PrecheckTelnyx(config, TelnyxRequest(""), now_).ok());
  EXPECT_EQ(RejectReasonOf(PrecheckTelnyx(config, TelnyxRequest("", ""), now_)),
            RejectReason::kMissingSignature);
  EXPECT_EQ(RejectReasonOf(PrecheckTelnyx(config, TelnyxRequest(""), now_ + absl::Seconds(400))),
            RejectReason::kReplay);
  // Twilio: the shape of the signature; for bodySHA256 the whole signature (it covers the URL alone).
  EXPECT_TRUE(PrecheckTwilio(config, TwilioRequest("/twilio/voice", "", kTwilioVoiceSignature)).ok());
  EXPECT_EQ(RejectReasonOf(PrecheckTwilio(config, TwilioRequest("/twilio/voice", "", "short"))),
            RejectReason::kBadSignature);
  const std::string sha_target = std::string("/twilio/voice?bodySHA256=") + kTwilioJsonBodySha256;
  EXPECT_TRUE(PrecheckTwilio(config, TwilioRequest(sha_target, "", kTwilioJsonSignature)).ok());
  EXPECT_EQ(RejectReasonOf(PrecheckTwilio(config, TwilioRequest(sha_target, "", kTwilioVoiceSignature))),
            RejectReason::kBadSignature);
  // WhatsApp: sha256= and 64 hex digits.
  EXPECT_TRUE(
      PrecheckWhatsApp(config, Post("/whatsapp/webhook", {{"X-Hub-Signature-256", kWhatsAppSignature}}, ""))
          .ok());
  EXPECT_EQ(RejectReasonOf(PrecheckWhatsApp(
                config, Post("/whatsapp/webhook", {{"X-Hub-Signature-256", "sha256=zz"}}, ""))),
            RejectReason::kBadSignature);
  EXPECT_EQ(RejectReasonOf(PrecheckWhatsApp(config, Post("/whatsapp/webhook", {}, ""))),
            RejectReason::kMissingSignature);
}

}  // namespace
}  // namespace protectogram::edge::testing
