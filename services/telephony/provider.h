// TelephonyProvider: one voice provider (Telnyx, Twilio, Asterisk ARI) as the telephony service needs it.
// Each implementation lives in its own folder (services/telephony/<name>/) with a fake API beside it in
// libs/providers/<name>/; adding a provider is one folder and one line in providers.cc.
//
// What a status means (the service decides from it, retry.h):
//   OK                       the provider did it (a dial accepted, a hangup taken);
//   Permanent(...)           the provider refused (a 4xx, a bad number, bad credentials): no point retrying
//                            this provider for this call — the attempt goes to the next provider;
//   anything else            unknown or transient (a 5xx, a timeout, a dropped connection). For Dial: the
//                            attempt goes to the next provider too, and a late event of this provider's call
//                            (if it did ring after all) hangs that call up (docs/telephony.md).
// Every error carries a low-cardinality reason (WithFailureReason): "refused", "unauthorized", "timeout",
// "unavailable", "server_error", "malformed_response", ...
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "protectogram/common/v1/events.pb.h"

namespace protectogram::telephony {

struct DialRequest {
  std::string attempt_key;  // ours; echoed back in events (Telnyx client_state, Twilio callback URL, ARI arg)
  // The provider-side idempotency key for this attempt at this provider (stable across retries and
  // restarts): Telnyx command_id, ARI channelId. A UUID-shaped string.
  std::string dial_key;
  std::string to_e164;
  std::string caller_id;     // "" = the provider's configured number
  std::string speak_text;    // the prompt
  std::string language;      // "ru-RU"
  std::string valid_digits;  // "1"
  int prompt_repeats = 3;
  absl::Duration ring_timeout = absl::Seconds(25);
  // The REST API's dialplan target (ARI only); empty context = none.
  std::string dialplan_context;
  std::string dialplan_extension;
  int dialplan_priority = 1;
  // Set when an earlier Dial of this request may have reached the provider (we crashed or timed out
  // mid-request): when it was started. Providers without an idempotency key look for that call first.
  std::optional<absl::Time> earlier_dial_started_at;
};

struct PlacedCall {
  std::string provider_call_id;  // Telnyx call_control_id, Twilio CallSid, ARI channel id
  std::string call_session_id;   // when the provider has one
};

// A live call at one provider.
struct CallRef {
  std::string attempt_key;
  std::string dial_key;
  std::string provider_call_id;
};

// The prompt to play once the callee answered.
struct Prompt {
  std::string speak_text;
  std::string language;
  std::string valid_digits;
  int repeats = 3;
  // ARI with a dialplan target: continue there instead of prompting.
  std::string dialplan_context;
  std::string dialplan_extension;
  int dialplan_priority = 1;
};

// Events a provider receives itself (ARI's WebSocket), rather than through the edge's webhooks.
using CallEventSink = std::function<absl::Status(const common::v1::CallEvent& event)>;

class TelephonyProvider {
 public:
  virtual ~TelephonyProvider() = default;

  // "telnyx", "twilio", "ari": the name in TELEPHONY_PROVIDERS, the call row and the metrics.
  virtual std::string_view name() const = 0;
  virtual common::v1::Provider provider() const = 0;

  // Starts the call; it rings at most once per dial_key when the provider has an idempotency key (Telnyx,
  // ARI). The answer only says the provider took the request: ringing, answer and hangup arrive as events.
  virtual absl::StatusOr<PlacedCall> Dial(const DialRequest& request) = 0;
  // For a provider without an idempotency key (Twilio), called instead of a second Dial when
  // request.earlier_dial_started_at is set: the call the earlier Dial placed, nullopt when it placed none
  // (then the service dials). Providers with a key return nullopt (a repeated Dial is safe).
  virtual absl::StatusOr<std::optional<PlacedCall>> FindEarlierDial(const DialRequest&) {
    return std::nullopt;
  }
  // Once the callee answered: say the prompt and gather one digit (Telnyx gather_using_speak, ARI play +
  // DTMF). Twilio's TwiML did it already: OK.
  virtual absl::Status StartPrompt(const CallRef& call, const Prompt& prompt) = 0;
  // Ends the call. OK when it has ended already (the provider says it is gone).
  virtual absl::Status Hangup(const CallRef& call) = 0;

  // For providers that receive their own events (ARI): start delivering them to `sink` (retried by the
  // provider until the sink answers OK), and stop. Others: no-ops.
  virtual absl::Status StartEvents(CallEventSink) { return absl::OkStatus(); }
  virtual void StopEvents() {}
};

}  // namespace protectogram::telephony
