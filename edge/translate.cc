#include "edge/translate.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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

}  // namespace

std::string EventKey(int64_t inbox_id) { return absl::StrCat("edge:", inbox_id); }

absl::StatusOr<ForwardEvent> TranslateInboxEvent(const jobs::InboxMessage& message) {
  ForwardEvent out;
  const std::string& provider = message.provider;
  if (absl::StartsWith(provider, kTelegramProviderPrefix)) {
    const std::string bot_id = provider.substr(sizeof(kTelegramProviderPrefix) - 1);
    absl::StatusOr<common::v1::ChatEvent> event = providers::telegram::ParseUpdate(bot_id, message.payload);
    if (!event.ok()) return Unparseable(message, event.status());
    out.chat = *std::move(event);
  } else if (provider == kTwilioWhatsAppProvider) {
    absl::StatusOr<providers::FormParams> params =
        TwilioParams(message.payload, message.payload_json.has_value());
    if (!params.ok()) return Unparseable(message, params.status());
    absl::StatusOr<common::v1::ChatEvent> event = providers::twilio::ParseWhatsAppInbound(*params);
    if (!event.ok()) return Unparseable(message, event.status());
    out.chat = *std::move(event);
  } else if (provider == kWhatsAppProvider) {
    absl::StatusOr<std::vector<common::v1::ChatEvent>> events =
        providers::whatsapp::ParseWebhook(message.payload);
    if (!events.ok()) return Unparseable(message, events.status());
    bool found = false;
    for (common::v1::ChatEvent& event : *events) {
      if (event.provider_event_id() == message.provider_event_id) {
        out.chat = std::move(event);
        found = true;
        break;
      }
    }
    if (!found) {
      return absl::InvalidArgumentError(
          absl::StrCat("stored whatsapp body has no message ", message.provider_event_id));
    }
  } else if (provider == kTelnyxProvider) {
    absl::StatusOr<common::v1::CallEvent> event = providers::telnyx::ParseEvent(message.payload);
    if (!event.ok()) return Unparseable(message, event.status());
    out.target = ForwardEvent::Target::kTelephony;
    out.call = *std::move(event);
  } else if (provider == kTwilioVoiceProvider) {
    absl::StatusOr<providers::FormParams> params =
        TwilioParams(message.payload, message.payload_json.has_value());
    if (!params.ok()) return Unparseable(message, params.status());
    absl::StatusOr<common::v1::CallEvent> event = providers::twilio::ParseVoiceCallback(*params);
    if (!event.ok()) return Unparseable(message, event.status());
    out.target = ForwardEvent::Target::kTelephony;
    out.call = *std::move(event);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("no service takes events of provider ", provider));
  }

  if (out.target == ForwardEvent::Target::kIncident) {
    out.chat.set_event_key(EventKey(message.id));
    SetTimestamp(message.received_at, out.chat.mutable_received_at());
  } else {
    out.call.set_event_key(EventKey(message.id));
    SetTimestamp(message.received_at, out.call.mutable_received_at());
  }
  return out;
}

}  // namespace protectogram::edge
