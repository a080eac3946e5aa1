// WhatsApp Cloud API contract: verification challenge, X-Hub-Signature-256 and message parsing, on literal
// bodies shaped per Meta's webhook reference (messages/text, /button, /interactive, statuses).
#include "libs/providers/whatsapp/whatsapp.h"

#include <gtest/gtest.h>

#include "libs/providers/common/error.h"

namespace protectogram::providers::whatsapp {
namespace {

using common::v1::ChatEvent;

constexpr char kAppSecret[] = "whatsapp-app-secret";
constexpr char kTextBody[] =
    R"({"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{)"
    R"("messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":)"
    R"("106540352242922"},"contacts":[{"profile":{"name":"Ivan"},"wa_id":"79990001234"}],"messages":[{"from":)"
    R"("79990001234","id":"wamid.HBgLNzk5OTAwMDEyMzQVAgASGBQzQUI2QkY0RjlGMUI3OTc1RjAwNgA=","timestamp":)"
    R"("1739321024","text":{"body":"да"},"type":"text"}]},"field":"messages"}]}]})";
// Computed independently of our code:
//   printf '%s' "$kTextBody" | openssl dgst -sha256 -hmac 'whatsapp-app-secret'
constexpr char kTextSignature[] = "sha256=bce9d8e2a41fc8e0dd343b45ca67fb4588a5cd5ee7822752d7b49bcf1569716e";

// --- verification (GET) ---

TEST(WhatsAppVerifyTest, ChallengeIsEchoed) {
  absl::StatusOr<std::string> challenge =
      VerifySubscription("subscribe", "meatyhamhock", "1158201444", "meatyhamhock");
  ASSERT_TRUE(challenge.ok());
  EXPECT_EQ(*challenge, "1158201444");
  EXPECT_EQ(*VerifySubscriptionQuery(
                "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock", "meatyhamhock"),
            "1158201444");
}

TEST(WhatsAppVerifyTest, Refusals) {
  absl::StatusOr<std::string> wrong = VerifySubscription("subscribe", "wrong", "1158201444", "meatyhamhock");
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(wrong.status().message(), "bad verify token");
  EXPECT_EQ(VerifySubscription("subscribe", "", "1", "meatyhamhock").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(VerifySubscription("subscribe", "", "1", "").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(VerifySubscription("unsubscribe", "meatyhamhock", "1", "meatyhamhock").status().message(),
            "bad hub.mode");
  EXPECT_EQ(VerifySubscription("subscribe", "meatyhamhock", "", "meatyhamhock").status().message(),
            "missing hub.challenge");
  EXPECT_EQ(VerifySubscriptionQuery("hub.mode=subscribe&hub.challenge=1", "meatyhamhock").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(VerifySubscriptionQuery("hub.mode=%zz", "meatyhamhock").status().code(),
            absl::StatusCode::kInvalidArgument);

  // Each with its reason (libs/providers/common/error.h).
  EXPECT_EQ(ProviderErrorOf(wrong.status()), ProviderError::kBadVerifyToken);
  EXPECT_EQ(ProviderErrorOf(VerifySubscription("unsubscribe", "meatyhamhock", "1", "meatyhamhock").status()),
            ProviderError::kMalformed);
  EXPECT_EQ(ProviderErrorOf(VerifySubscription("subscribe", "meatyhamhock", "", "meatyhamhock").status()),
            ProviderError::kMalformed);
  EXPECT_EQ(ProviderErrorOf(VerifySubscriptionQuery("hub.mode=%zz", "meatyhamhock").status()),
            ProviderError::kMalformed);
}

// --- signature (POST) ---

// Meta's WhatsApp Node.js SDK vector (src/__tests__/utils.test.ts, secret from jest.config.ts).
TEST(WhatsAppSignatureTest, SdkVector) {
  EXPECT_TRUE(VerifySignature("TEST_APP_SECRET",
                              "sha256=0c61947b610d4f45e65f3d680e26027121ec2413e77598bcb6cfc6e0d9888221",
                              "test")
                  .ok());
}

TEST(WhatsAppSignatureTest, GoodSignatureOverRawBody) {
  EXPECT_TRUE(VerifySignature(kAppSecret, kTextSignature, kTextBody).ok());
  EXPECT_EQ(ComputeSignatureHeader(kAppSecret, kTextBody), kTextSignature);
  // Hex case does not matter.
  EXPECT_TRUE(VerifySignature(kAppSecret,
                              "sha256=BCE9D8E2A41FC8E0DD343B45CA67FB4588A5CD5EE7822752D7B49BCF1569716E",
                              kTextBody)
                  .ok());
}

TEST(WhatsAppSignatureTest, Refusals) {
  std::string tampered(kTextBody);
  tampered.replace(tampered.find("да"), std::string("да").size(), "нет");
  absl::Status bad = VerifySignature(kAppSecret, kTextSignature, tampered);
  EXPECT_EQ(bad.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(bad.message(), "bad signature");
  EXPECT_EQ(VerifySignature("other-secret", kTextSignature, kTextBody).message(), "bad signature");
  EXPECT_EQ(VerifySignature("", kTextSignature, kTextBody).message(), "bad signature");
  EXPECT_EQ(VerifySignature(kAppSecret, "", kTextBody).message(), "missing signature");
  EXPECT_EQ(VerifySignature(kAppSecret, "", kTextBody).code(), absl::StatusCode::kPermissionDenied);
  for (const char* malformed : {"bce9d8e2a41fc8e0dd343b45ca67fb4588a5cd5ee7822752d7b49bcf1569716e",
                                "sha1=bce9d8e2a41fc8e0dd343b45ca67fb4588a5cd5ee7822752d7b49bcf1569716e",
                                "sha256=bce9", "sha256=zz", "sha256="}) {
    absl::Status s = VerifySignature(kAppSecret, malformed, kTextBody);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << malformed;
    EXPECT_EQ(s.message(), "malformed signature header");
    EXPECT_EQ(ProviderErrorOf(s), ProviderError::kMalformedSignature) << malformed;
  }
  EXPECT_EQ(ProviderErrorOf(bad), ProviderError::kBadSignature);
  EXPECT_EQ(ProviderErrorOf(VerifySignature("", kTextSignature, kTextBody)), ProviderError::kBadSignature);
  EXPECT_EQ(ProviderErrorOf(VerifySignature(kAppSecret, "", kTextBody)), ProviderError::kMissingSignature);
}

// --- messages ---

std::vector<ChatEvent> MustParse(std::string_view body) {
  absl::StatusOr<std::vector<ChatEvent>> events = ParseWebhook(body);
  EXPECT_TRUE(events.ok()) << events.status() << "\n" << body;
  return events.ok() ? *events : std::vector<ChatEvent>();
}

std::string Envelope(std::string_view messages) {
  return std::string(
             R"({"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{)"
             R"("messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881",)"
             R"("phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Ivan"},)"
             R"("wa_id":"79990001234"}],"messages":[)") +
         std::string(messages) + R"(]},"field":"messages"}]}]})";
}

TEST(WhatsAppParseTest, Text) {
  std::vector<ChatEvent> events = MustParse(kTextBody);
  ASSERT_EQ(events.size(), 1u);
  const ChatEvent& e = events[0];
  EXPECT_EQ(e.provider(), common::v1::PROVIDER_WHATSAPP);
  EXPECT_EQ(e.provider_event_id(), "wamid.HBgLNzk5OTAwMDEyMzQVAgASGBQzQUI2QkY0RjlGMUI3OTc1RjAwNgA=");
  EXPECT_EQ(e.provider_event_type(), "text");
  EXPECT_EQ(e.bot_id(), "106540352242922");
  EXPECT_EQ(e.chat_id(), "+79990001234");
  EXPECT_EQ(e.from().id(), "+79990001234");
  EXPECT_EQ(e.from().first_name(), "Ivan");
  EXPECT_EQ(e.sent_at().seconds(), 1739321024);
  ASSERT_TRUE(e.has_text());
  EXPECT_EQ(e.text().text(), "да");
}

TEST(WhatsAppParseTest, ButtonInteractiveAndMedia) {
  std::vector<ChatEvent> events = MustParse(Envelope(
      R"({"from":"79990001234","id":"wamid.B1","timestamp":"1739321025","type":"button",)"
      R"("button":{"payload":"checkin:ok:17","text":"Да, всё хорошо"},"context":{"from":"15550783881","id":"wamid.T1"}},)"
      R"({"from":"79990001234","id":"wamid.I1","timestamp":"1739321026","type":"interactive",)"
      R"("interactive":{"type":"button_reply","button_reply":{"id":"checkin:help:17","title":"Нужна помощь"}}},)"
      R"({"from":"79990001234","id":"wamid.L1","timestamp":"1739321027","type":"interactive",)"
      R"("interactive":{"type":"list_reply","list_reply":{"id":"row-2","title":"Two","description":"d"}}},)"
      R"({"from":"79990001234","id":"wamid.M1","timestamp":"1739321028","type":"image",)"
      R"("image":{"mime_type":"image/jpeg","sha256":"abc","id":"123"}},)"
      R"({"from":"79990001234","id":"wamid.U1","timestamp":"1739321029","type":"unsupported",)"
      R"("errors":[{"code":131051,"title":"Message type unknown"}]})"));
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].provider_event_type(), "button");
  EXPECT_EQ(events[0].button().data(), "checkin:ok:17");
  EXPECT_EQ(events[0].button().text(), "Да, всё хорошо");
  EXPECT_EQ(events[1].provider_event_type(), "interactive");
  EXPECT_EQ(events[1].button().data(), "checkin:help:17");
  EXPECT_EQ(events[1].button().text(), "Нужна помощь");
  EXPECT_EQ(events[2].button().data(), "row-2");
  ASSERT_TRUE(events[3].has_non_text());
  EXPECT_EQ(events[3].non_text().kind(), "image");
  EXPECT_EQ(events[4].non_text().kind(), "unsupported");
  for (const ChatEvent& e : events) EXPECT_EQ(e.chat_id(), "+79990001234");
}

TEST(WhatsAppParseTest, StatusesAndOtherFieldsGiveNoEvents) {
  EXPECT_TRUE(
      MustParse(R"({"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"value":{)"
                R"("messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881",)"
                R"("phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.S1","status":"delivered",)"
                R"("timestamp":"1739321030","recipient_id":"79990001234"}]},"field":"messages"}]}]})")
          .empty());
  EXPECT_TRUE(MustParse(R"({"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"value":)"
                        R"({"event":"APPROVED"},"field":"message_template_status_update"}]}]})")
                  .empty());
  EXPECT_TRUE(MustParse(R"({"entry":[]})").empty());
}

TEST(WhatsAppParseTest, MalformedIsInvalidArgument) {
  const std::pair<std::string, const char*> kCases[] = {
      {"", "malformed JSON"},
      {"[1]", "webhook must be a JSON object"},
      {R"({"object":"whatsapp_business_account"})", "entry is required"},
      {R"({"entry":{}})", "entry must be an array"},
      {R"({"entry":[1]})", "entry[] must be an object"},
      {R"({"entry":[{"changes":[{"field":"messages","value":{"messages":{}}}]}]})",
       "value.messages must be an array"},
      {Envelope(R"({"from":"1","type":"text","text":{"body":"x"}})"), "messages[].id is required"},
      {Envelope(R"({"id":"wamid.X","type":"text"})"), "messages[].from is required"},
      {Envelope(R"({"id":"wamid.X","from":"1"})"), "messages[].type is required"},
      {Envelope(R"({"id":"wamid.X","from":"1","type":"text","text":{"body":5}})"),
       "messages[].text.body must be a string"},
      {Envelope(R"({"id":"wamid.X","from":"1","type":"text","timestamp":"soon"})"),
       "messages[].timestamp must be Unix seconds"},
  };
  for (const auto& [body, reason] : kCases) {
    absl::StatusOr<std::vector<ChatEvent>> events = ParseWebhook(body);
    EXPECT_EQ(events.status().code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_EQ(events.status().message(), reason) << body;
    // A message without id has the event id missing; everything else is malformed.
    EXPECT_EQ(ProviderErrorOf(events.status()), std::string_view(reason) == "messages[].id is required"
                                                    ? ProviderError::kMissingId
                                                    : ProviderError::kMalformed)
        << body;
  }
}

TEST(WhatsAppParseTest, OnlyAnAbsentMessageIdIsAMissingId) {
  // An empty id is missing too; an id of the wrong type, or an earlier error, is malformed.
  EXPECT_EQ(ProviderErrorOf(ParseWebhook(Envelope(R"({"id":"","from":"1","type":"text"})")).status()),
            ProviderError::kMissingId);
  EXPECT_EQ(ProviderErrorOf(ParseWebhook(Envelope(R"({"id":7,"from":"1","type":"text"})")).status()),
            ProviderError::kMalformed);
  EXPECT_EQ(ProviderErrorOf(ParseWebhook(R"({"entry":[{"changes":[{"field":"messages","value":{)"
                                         R"("metadata":5,"messages":[{"from":"1","type":"text"}]}}]}]})")
                                .status()),
            ProviderError::kMalformed);
}

}  // namespace
}  // namespace protectogram::providers::whatsapp
