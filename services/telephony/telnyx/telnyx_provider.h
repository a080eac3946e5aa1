// TelnyxProvider: Telnyx Call Control v2 behind the telephony service's TelephonyProvider (provider.h), over
// the REST API (libs/providers/telnyx/commands.h holds the protocol facts and the codecs; FakeTelnyx in
// fake_call_control.h answers like Telnyx on loopback). Events arrive as webhooks at the edge (telnyx.h).
//
// How each operation maps:
//   Dial         POST /v2/calls: connection_id, from = DialRequest.caller_id or TelnyxConfig.from_number,
//                to, command_id = dial_key (Telnyx ignores any later dial with the same command_id, so a
//                retried Dial never rings twice — a dial_key is therefore required), client_state =
//                attempt_key (base64; echoed in every webhook of the call), timeout_secs = the ring timeout
//                rounded up and clamped to 5..600, answering_machine_detection = TelnyxConfig.amd,
//                webhook_url = TelnyxConfig.webhook_url. PlacedCall = {call_control_id, call_session_id}.
//   StartPrompt  POST /v2/calls/{call_control_id}/actions/gather_using_speak: the prompt as payload, an AWS
//                Polly voice for its language (VoiceFor), one digit of valid_digits, maximum_tries =
//                repeats, timeout_millis = TelnyxConfig.gather_timeout_millis, command_id = dial_key +
//                ":prompt", client_state = attempt_key.
//   Hangup       POST /v2/calls/{call_control_id}/actions/hangup, command_id = dial_key + ":hangup". A call
//                that is over already answers 422 90018 "Call has already ended": OK.
//
// Errors (provider.h; reasons are ClassifyCommandError's labels):
//   401/403              Permanent, reason unauthorized
//   other 4xx            Permanent, reason refused
//   429                  retried (RESOURCE_EXHAUSTED; Retry-After honoured when sent), reason rate_limited:
//                        waiting helps, unlike the other 4xx
//   5xx, other statuses  retried (UNAVAILABLE), reason server_error / unexpected_status
//   transport            UNAVAILABLE -> "unavailable", DEADLINE_EXCEEDED -> "timeout" (the call may exist: a
//                        repeated Dial with the same dial_key finds it), a malformed or oversized answer ->
//                        "malformed_response" (all retried)
//   a request we cannot build (no number, no dial_key, an empty prompt): Permanent, "invalid_request"
// Error texts carry the HTTP status and Telnyx's first error (code, title, detail) with phone numbers masked;
// the API key only ever goes into the Authorization header.
//
// Thread-safe: the provider holds only its configuration and a reference to the (thread-safe) http::Client.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/http/client.h"
#include "services/telephony/provider.h"

namespace protectogram::telephony {

struct TelnyxConfig {
  std::string api_base_url = "https://api.telnyx.com";
  std::string api_key;        // secret (TELNYX_API_KEY)
  std::string connection_id;  // the Call Control application
  std::string from_number;    // our Telnyx number, +E.164 (DialRequest.caller_id overrides it)
  // Where Telnyx posts the call's webhooks: PUBLIC_BASE_URL + kTelnyxWebhookPath; "" = the connection's own.
  std::string webhook_url;
  absl::Duration timeout = absl::Seconds(5);  // per REST request
  std::string amd = "detect";                 // answering_machine_detection; "" = none
  int gather_timeout_millis = 5000;           // silence after each playback before the prompt repeats
};

// The path on the edge that receives Telnyx webhooks.
inline constexpr char kTelnyxWebhookPath[] = "/telnyx/webhook";

// The voice a prompt in `language` ("ru-RU") is spoken with, and the language sent beside it. Telnyx takes
// AWS Polly voices as "AWS.Polly.<VoiceId>" and ignores `language` for them (the voice carries its own);
// the table (docs.aws.amazon.com/polly/latest/dg/available-voices.html, standard voices): ru-RU Tatyana,
// en-US Joanna, en-GB Amy, de-DE Marlene, es-ES Lucia, fr-FR Celine, it-IT Carla, pt-BR Vitoria, pl-PL Ewa,
// tr-TR Filiz. Matched ignoring case, then by the primary language ("ru", "ru-KZ" -> ru-RU); anything else
// gets en-US Joanna.
struct Voice {
  std::string voice;
  std::string language;
};
Voice VoiceFor(std::string_view language);

class TelnyxProvider final : public TelephonyProvider {
 public:
  // `client` must outlive the provider.
  TelnyxProvider(TelnyxConfig config, http::Client& client);

  // INVALID_ARGUMENT naming the first problem: an empty api_key, connection_id or from_number, an
  // api_base_url or webhook_url that is not http(s)://, a timeout <= 0, gather_timeout_millis < 0. For
  // config checks at start; the message never holds the key.
  static absl::Status CheckConfig(const TelnyxConfig& config);

  std::string_view name() const override { return "telnyx"; }
  common::v1::Provider provider() const override { return common::v1::PROVIDER_TELNYX; }

  absl::StatusOr<PlacedCall> Dial(const DialRequest& request) override;
  absl::Status StartPrompt(const CallRef& call, const Prompt& prompt) override;
  absl::Status Hangup(const CallRef& call) override;

 private:
  // POSTs `body` to `path` under the API key.
  absl::StatusOr<http::ClientResponse> Post(const std::string& path, std::string body) const;

  TelnyxConfig config_;
  http::Client& client_;
};

}  // namespace protectogram::telephony
