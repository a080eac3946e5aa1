#include "edge/translate.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "edge/routes.h"
#include "edge/webhooks.h"
#include "google/protobuf/timestamp.pb.h"
#include "libs/providers/telegram/telegram.h"
#include "libs/providers/telnyx/telnyx.h"
#include "libs/providers/twilio/twilio.h"
#include "libs/providers/whatsapp/whatsapp.h"

namespace protectogram::edge {
namespace {

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {
    rest += 1000000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rest * 1000));
}

absl::Status Unparseable(const jobs::InboxMessage& message, const absl::Status& status) {
  return absl::InvalidArgumentError(
      absl::StrCat("stored ", message.provider, " event does not parse: ", std::string(status.message())));
}

// A parsed chat or call event as the ForwardEvent carrying it; the parse error as Unparseable.
absl::StatusOr<ForwardEvent> Chat(const jobs::InboxMessage& message,
                                  absl::StatusOr<common::v1::ChatEvent> event) {
  if (!event.ok()) return Unparseable(message, event.status());
  ForwardEvent out;
  out.chat = *std::move(event);
  return out;
}
absl::StatusOr<ForwardEvent> Call(const jobs::InboxMessage& message,
                                  absl::StatusOr<common::v1::CallEvent> event) {
  if (!event.ok()) return Unparseable(message, event.status());
  ForwardEvent out;
  out.call = *std::move(event);
  return out;
}

}  // namespace

std::string_view TargetLabel(ForwardEvent::Target target) {
  switch (target) {
    case ForwardEvent::Target::kIncident:
      return "incident";
    case ForwardEvent::Target::kTelephony:
      return "telephony";
  }
  return "unknown";
}

std::string EventKey(int64_t inbox_id) { return absl::StrCat("edge:", inbox_id); }

absl::StatusOr<ForwardEvent> TranslateInboxEvent(const jobs::InboxMessage& message) {
  const WebhookRoute* route = WebhookRouteOfInboxProvider(message.provider);
  if (route == nullptr || route->translate == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("no service takes events of provider ", message.provider));
  }
  absl::StatusOr<ForwardEvent> out = route->translate(message);
  if (!out.ok()) return out.status();
  out->target = route->target;
  if (out->target == ForwardEvent::Target::kIncident) {
    out->chat.set_event_key(EventKey(message.id));
    SetTimestamp(message.received_at, out->chat.mutable_received_at());
  } else {
    out->call.set_event_key(EventKey(message.id));
    SetTimestamp(message.received_at, out->call.mutable_received_at());
  }
  return out;
}

absl::StatusOr<ForwardEvent> TranslateTelegram(const jobs::InboxMessage& message) {
  const std::string bot_id = message.provider.substr(sizeof(kTelegramProviderPrefix) - 1);
  return Chat(message, providers::telegram::ParseUpdate(bot_id, message.payload));
}

absl::StatusOr<ForwardEvent> TranslateTwilioWhatsApp(const jobs::InboxMessage& message) {
  absl::StatusOr<providers::FormParams> params =
      TwilioParams(message.payload, message.payload_json.has_value());
  if (!params.ok()) return Unparseable(message, params.status());
  return Chat(message, providers::twilio::ParseWhatsAppInbound(*params));
}

absl::StatusOr<ForwardEvent> TranslateWhatsApp(const jobs::InboxMessage& message) {
  absl::StatusOr<std::vector<common::v1::ChatEvent>> events =
      providers::whatsapp::ParseWebhook(message.payload);
  if (!events.ok()) return Unparseable(message, events.status());
  for (common::v1::ChatEvent& event : *events) {
    if (event.provider_event_id() == message.provider_event_id) return Chat(message, std::move(event));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("stored whatsapp body has no message ", message.provider_event_id));
}

absl::StatusOr<ForwardEvent> TranslateTelnyx(const jobs::InboxMessage& message) {
  return Call(message, providers::telnyx::ParseEvent(message.payload));
}

absl::StatusOr<ForwardEvent> TranslateTwilioVoice(const jobs::InboxMessage& message) {
  absl::StatusOr<providers::FormParams> params =
      TwilioParams(message.payload, message.payload_json.has_value());
  if (!params.ok()) return Unparseable(message, params.status());
  return Call(message, providers::twilio::ParseVoiceCallback(*params));
}

}  // namespace protectogram::edge
