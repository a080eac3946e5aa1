// From stored inbox rows to the typed events the services take, the route table that says which row goes
// where, and the refusal reasons' mapping.
#include "edge/translate.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "edge/routes.h"
#include "edge/webhooks.h"
#include "libs/jobs/retry.h"
#include "tests/contract/edge/fixtures.h"

namespace protectogram::edge {
namespace {

jobs::InboxMessage Stored(int64_t id, std::string provider, std::string event_id, std::string payload,
                          bool json = true) {
  jobs::InboxMessage m;
  m.id = id;
  m.provider = std::move(provider);
  m.provider_event_id = std::move(event_id);
  m.payload = std::move(payload);
  if (json) m.payload_json = m.payload;
  m.received_at = absl::FromUnixMicros(1700000001250000);
  return m;
}

TEST(TranslateTest, TelegramUpdateGoesToIncidentWithTheRowAsKey) {
  absl::StatusOr<ForwardEvent> e =
      TranslateInboxEvent(Stored(42, "telegram:main", "815000001", testing::kTelegramUpdate));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->target, ForwardEvent::Target::kIncident);
  EXPECT_EQ(e->chat.event_key(), "edge:42");
  EXPECT_EQ(e->chat.bot_id(), "main");
  EXPECT_EQ(e->chat.provider_event_id(), "main:815000001");
  EXPECT_EQ(e->chat.chat_id(), "123456789");
  EXPECT_EQ(e->chat.text().command(), "start");
  EXPECT_EQ(e->chat.text().command_args(), "link_ab12");
  EXPECT_EQ(e->chat.received_at().seconds(), 1700000001);
  EXPECT_EQ(e->chat.received_at().nanos(), 250000000);
}

TEST(TranslateTest, OtherBotsKeepTheirId) {
  absl::StatusOr<ForwardEvent> e =
      TranslateInboxEvent(Stored(7, "telegram:alpha", "815000002", testing::kTelegramCallback));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->chat.bot_id(), "alpha");
  EXPECT_EQ(e->chat.button().data(), "ack:77");
  EXPECT_EQ(e->chat.chat_id(), "555000111");
}

TEST(TranslateTest, TelnyxEventGoesToTelephony) {
  absl::StatusOr<ForwardEvent> e =
      TranslateInboxEvent(Stored(9, "telnyx", testing::kTelnyxEventId, testing::kTelnyxBody));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->target, ForwardEvent::Target::kTelephony);
  EXPECT_EQ(e->call.event_key(), "edge:9");
  EXPECT_EQ(e->call.type(), common::v1::CALL_EVENT_TYPE_GATHER_ENDED);
  EXPECT_EQ(e->call.digits(), "1");
  EXPECT_EQ(e->call.client_state(), "attempt:42");
}

TEST(TranslateTest, TwilioVoiceFormAndJsonBodies) {
  absl::StatusOr<ForwardEvent> form =
      TranslateInboxEvent(Stored(10, "twilio:voice", "CA0001:completed", testing::kTwilioVoiceBody, false));
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(form->target, ForwardEvent::Target::kTelephony);
  EXPECT_EQ(form->call.call_id(), "CA0001");
  EXPECT_EQ(form->call.type(), common::v1::CALL_EVENT_TYPE_HANGUP);
  EXPECT_EQ(form->call.duration_sec(), 17);
  absl::StatusOr<ForwardEvent> json =
      TranslateInboxEvent(Stored(11, "twilio:voice", "CA0002:ringing", testing::kTwilioJsonBody, true));
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(json->call.call_id(), "CA0002");
  EXPECT_EQ(json->call.type(), common::v1::CALL_EVENT_TYPE_RINGING);
}

TEST(TranslateTest, WhatsAppRowsPickTheirMessage) {
  absl::StatusOr<ForwardEvent> twilio =
      TranslateInboxEvent(Stored(12, "twilio:whatsapp", "SM0001", testing::kTwilioWhatsAppBody, false));
  ASSERT_TRUE(twilio.ok()) << twilio.status();
  EXPECT_EQ(twilio->target, ForwardEvent::Target::kIncident);
  EXPECT_EQ(twilio->chat.chat_id(), "+79990001234");
  absl::StatusOr<ForwardEvent> cloud =
      TranslateInboxEvent(Stored(13, "whatsapp", testing::kWhatsAppMessageId, testing::kWhatsAppBody));
  ASSERT_TRUE(cloud.ok()) << cloud.status();
  EXPECT_EQ(cloud->chat.provider_event_id(), testing::kWhatsAppMessageId);
  EXPECT_EQ(cloud->chat.text().text(), "1");
  absl::StatusOr<ForwardEvent> missing =
      TranslateInboxEvent(Stored(14, "whatsapp", "wamid.OTHER", testing::kWhatsAppBody));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TranslateTest, WhatCannotBeTranslatedIsPermanent) {
  for (const jobs::InboxMessage& m :
       {Stored(1, "telegram:main", "1", "{not json"), Stored(2, "sms", "x", "{}"),
        Stored(3, "telnyx", "x", R"({"data":{}})")}) {
    absl::StatusOr<ForwardEvent> e = TranslateInboxEvent(m);
    ASSERT_FALSE(e.ok()) << m.provider;
    EXPECT_TRUE(jobs::IsPermanentError(e.status())) << e.status();
  }
}

TEST(RouteTableTest, EveryWebhookOnceWithItsLabelAndService) {
  struct Want {
    std::string method, path;
    bool prefix;
    std::string label, inbox_provider;
    ForwardEvent::Target target;
  };
  using T = ForwardEvent::Target;
  const std::vector<Want> want = {
      {"POST", "/telegram/webhook", false, "telegram", "telegram:", T::kIncident},
      {"POST", "/webhook/", true, "telegram", "telegram:", T::kIncident},
      {"POST", "/telnyx/webhook", false, "telnyx", "telnyx", T::kTelephony},
      {"POST", "/twilio/voice", false, "twilio_voice", "twilio:voice", T::kTelephony},
      {"POST", "/twilio/whatsapp", false, "twilio_whatsapp", "twilio:whatsapp", T::kIncident},
      {"GET", "/whatsapp/webhook", false, "whatsapp", "", T::kIncident},
      {"POST", "/whatsapp/webhook", false, "whatsapp", "whatsapp", T::kIncident},
  };
  ASSERT_EQ(WebhookRoutes().size(), want.size());
  std::map<std::string, std::string> label_of_path;
  std::set<std::pair<std::string, std::string>> routes;
  for (size_t i = 0; i < want.size(); ++i) {
    const WebhookRoute& r = WebhookRoutes()[i];
    SCOPED_TRACE(want[i].path);
    EXPECT_EQ(r.method, want[i].method);
    EXPECT_EQ(r.path, want[i].path);
    EXPECT_EQ(r.prefix, want[i].prefix);
    EXPECT_EQ(r.label, want[i].label);
    EXPECT_EQ(r.inbox_provider, want[i].inbox_provider);
    EXPECT_TRUE(routes.emplace(std::string(r.method), std::string(r.path)).second) << "registered twice";
    // One label per path: what the server refuses on a path counts for that label.
    const auto it = label_of_path.emplace(std::string(r.path), std::string(r.label)).first;
    EXPECT_EQ(it->second, r.label);
    // A route stores (and then its rows are translated and forwarded), or answers by itself.
    EXPECT_NE(r.accept == nullptr, r.answer == nullptr);
    if (r.accept != nullptr) {
      EXPECT_FALSE(r.inbox_provider.empty());
      EXPECT_NE(r.translate, nullptr);
      EXPECT_NE(r.precheck, nullptr);
      EXPECT_NE(r.body_limit, nullptr);
      EXPECT_EQ(r.target, want[i].target);
    } else {
      EXPECT_TRUE(r.inbox_provider.empty());
    }
  }
  // Twilio wants TwiML back; everyone else JSON.
  EXPECT_EQ(WebhookRoutes()[3].reply, WebhookRoute::Reply::kTwiml);
  EXPECT_EQ(WebhookRoutes()[4].reply, WebhookRoute::Reply::kTwiml);
  EXPECT_EQ(WebhookRoutes()[2].reply, WebhookRoute::Reply::kJson);
}

TEST(RouteTableTest, FindsTheRouteOfALabelAndOfAStoredRow) {
  EXPECT_EQ(WebhookRouteOfLabel("/webhook/")->label, "telegram");
  EXPECT_EQ(WebhookRouteOfLabel("/telegram/webhook")->label, "telegram");
  EXPECT_EQ(WebhookRouteOfLabel("/whatsapp/webhook")->label, "whatsapp");
  EXPECT_EQ(WebhookRouteOfLabel("/twilio/voice")->label, "twilio_voice");
  EXPECT_EQ(WebhookRouteOfLabel("/health"), nullptr);
  EXPECT_EQ(WebhookRouteOfLabel("unmatched"), nullptr);
  EXPECT_EQ(WebhookRouteOfLabel("rejected"), nullptr);

  EXPECT_EQ(WebhookRouteOfInboxProvider("telegram:alpha")->label, "telegram");
  EXPECT_EQ(WebhookRouteOfInboxProvider("telegram:main")->target, ForwardEvent::Target::kIncident);
  EXPECT_EQ(WebhookRouteOfInboxProvider("telnyx")->target, ForwardEvent::Target::kTelephony);
  EXPECT_EQ(WebhookRouteOfInboxProvider("twilio:voice")->label, "twilio_voice");
  EXPECT_EQ(WebhookRouteOfInboxProvider("twilio:whatsapp")->label, "twilio_whatsapp");
  EXPECT_EQ(WebhookRouteOfInboxProvider("whatsapp")->label, "whatsapp");
  EXPECT_EQ(WebhookRouteOfInboxProvider("whatsapp")->method, "POST");
  for (const char* unknown : {"", "sms", "telnyx:x", "twilio", "telegram"}) {
    EXPECT_EQ(WebhookRouteOfInboxProvider(unknown), nullptr) << unknown;
  }
}

TEST(RouteTableTest, TheTargetLabelsAreTheServices) {
  EXPECT_EQ(TargetLabel(ForwardEvent::Target::kIncident), "incident");
  EXPECT_EQ(TargetLabel(ForwardEvent::Target::kTelephony), "telephony");
}

TEST(RejectTest, ReasonsRoundTripWithTheirStatus) {
  struct Case {
    RejectReason reason;
    int http;
    absl::StatusCode code;
    const char* label;
  };
  for (const Case& c :
       {Case{RejectReason::kMissingSignature, 403, absl::StatusCode::kPermissionDenied, "missing_signature"},
        Case{RejectReason::kBadSignature, 403, absl::StatusCode::kPermissionDenied, "bad_signature"},
        Case{RejectReason::kReplay, 403, absl::StatusCode::kPermissionDenied, "replay"},
        Case{RejectReason::kBadVerifyToken, 403, absl::StatusCode::kPermissionDenied, "bad_verify_token"},
        Case{RejectReason::kUnknownBot, 404, absl::StatusCode::kNotFound, "unknown_bot"},
        Case{RejectReason::kNotConfigured, 404, absl::StatusCode::kNotFound, "not_configured"},
        Case{RejectReason::kMalformed, 400, absl::StatusCode::kInvalidArgument, "malformed"},
        Case{RejectReason::kMissingId, 400, absl::StatusCode::kInvalidArgument, "missing_id"}}) {
    absl::Status s = Reject(c.reason, "why");
    EXPECT_EQ(s.code(), c.code);
    EXPECT_EQ(s.message(), "why");
    EXPECT_EQ(RejectReasonOf(s), c.reason);
    EXPECT_EQ(HttpStatusOf(c.reason), c.http);
    EXPECT_EQ(ReasonLabel(c.reason), c.label);
  }
  EXPECT_EQ(RejectReasonOf(absl::InvalidArgumentError("plain")), std::nullopt);
}

TEST(JsonPayloadTest, NulEscapesAreKeptOutOfJsonb) {
  EXPECT_EQ(JsonPayload(R"({"a":1})"), std::optional<std::string>(R"({"a":1})"));
  EXPECT_EQ(JsonPayload(R"({"a":"x\u0000y"})"), std::nullopt);
}

}  // namespace
}  // namespace protectogram::edge
