// From a stored inbox row to the typed event its service takes. The row is the source of truth: the relay
// re-parses the raw payload it stored, so what is delivered is exactly what was accepted, on every attempt.
#pragma once

#include <string>

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

// "edge:<id>": the idempotency key the services store the event under.
std::string EventKey(int64_t inbox_id);

// The event for a stored row, with event_key = EventKey(row id) and received_at = the row's received_at:
//   telegram:<bot>   -> ChatEvent (telegram::ParseUpdate)               -> incident
//   twilio:whatsapp  -> ChatEvent (twilio::ParseWhatsAppInbound)        -> incident
//   whatsapp         -> ChatEvent, the message with the row's id        -> incident
//   telnyx           -> CallEvent (telnyx::ParseEvent)                  -> telephony
//   twilio:voice     -> CallEvent (twilio::ParseVoiceCallback)          -> telephony
// INVALID_ARGUMENT for an unknown provider, a payload that does not parse, or a WhatsApp body without the
// row's message: permanent, the row is ignored.
absl::StatusOr<ForwardEvent> TranslateInboxEvent(const jobs::InboxMessage& message);

}  // namespace protectogram::edge
