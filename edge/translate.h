// From a stored inbox row to the typed event its service takes. The row is the source of truth: the relay
// re-parses the raw payload it stored, so what is delivered is exactly what was accepted, on every attempt.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "libs/jobs/inbox.h"
#include "protectogram/common/v1/events.pb.h"

namespace protectogram::edge {

struct ForwardEvent {
  enum class Target { kIncident, kTelephony };
  Target target = Target::kIncident;
  common::v1::ChatEvent chat;  // for kIncident (IncidentService.HandleChatEvent)
  common::v1::CallEvent call;  // for kTelephony (TelephonyService.HandleCallEvent)
};

// "incident", "telephony": the `service` label of the forwarder's metrics.
std::string_view TargetLabel(ForwardEvent::Target target);

// "edge:<id>": the idempotency key the services store the event under.
std::string EventKey(int64_t inbox_id);

// The event for a stored row, by the route table entry (edge/routes.h) that stores rows of its provider: the
// entry's translation, to the entry's target service, with event_key = EventKey(row id) and received_at =
// the row's received_at. INVALID_ARGUMENT for a provider no entry stores, or from the translation: permanent,
// the row is ignored.
absl::StatusOr<ForwardEvent> TranslateInboxEvent(const jobs::InboxMessage& message);

// The translations the route table names, one per inbox provider: the row's payload parsed again, into the
// event's `chat` (incident) or `call` (telephony); TranslateInboxEvent sets the rest. INVALID_ARGUMENT for a
// payload that does not parse.
//   telegram:<bot>   -> ChatEvent (telegram::ParseUpdate for <bot>)
//   twilio:whatsapp  -> ChatEvent (twilio::ParseWhatsAppInbound)
//   whatsapp         -> ChatEvent, the message of the body with the row's id (INVALID_ARGUMENT without it)
//   telnyx           -> CallEvent (telnyx::ParseEvent)
//   twilio:voice     -> CallEvent (twilio::ParseVoiceCallback)
absl::StatusOr<ForwardEvent> TranslateTelegram(const jobs::InboxMessage& message);
absl::StatusOr<ForwardEvent> TranslateTwilioWhatsApp(const jobs::InboxMessage& message);
absl::StatusOr<ForwardEvent> TranslateWhatsApp(const jobs::InboxMessage& message);
absl::StatusOr<ForwardEvent> TranslateTelnyx(const jobs::InboxMessage& message);
absl::StatusOr<ForwardEvent> TranslateTwilioVoice(const jobs::InboxMessage& message);

}  // namespace protectogram::edge
