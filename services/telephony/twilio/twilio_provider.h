// TwilioProvider: Twilio Programmable Voice behind the telephony service's TelephonyProvider (provider.h),
// over the REST API (libs/providers/twilio/voice_api.h holds the protocol facts and the codecs;
// FakeTwilioVoice in fake_voice_api.h answers like Twilio on loopback).
//
// How each operation maps:
//   Dial             POST /2010-04-01/Accounts/<sid>/Calls.json with inline TwiML (our prompt in <Gather>s:
//                    the callee hears it as soon as the call is answered), StatusCallback for initiated,
//                    ringing, answered and completed, Timeout = the ring timeout (whole seconds rounded up,
//                    clamped to 5..600 rather than refused), MachineDetection Enable (AnsweredBy in the
//                    callbacks). The status callbacks and the gather action go to one
//                    URL per attempt, <public_base_url>/twilio/voice?attempt=<attempt key, percent-encoded>:
//                    the edge checks X-Twilio-Signature over exactly that URL and finds the attempt from it.
//                    PlacedCall.provider_call_id = the CallSid.
//   FindEarlierDial  Twilio has no idempotency key for creating calls, so after a Dial that may have reached
//                    Twilio (a crash or a timeout mid-request) the service asks for "the call that Dial
//                    placed": the newest call To the number, From our number, created no earlier than 5 s
//                    (clock skew) before the earlier Dial started. Found with two reads: StartTime>= that day
//                    (UTC; a call is listed by start time) and Status=queued (a call not yet dialled has no
//                    start time), following next_page_uri for up to 10 pages each. nullopt when there is
//                    none.
//   StartPrompt      OK: the TwiML prompts by itself.
//   Hangup           POST .../Calls/<CallSid>.json Status=completed (ends a call in any live state). A call
//                    that has ended already answers 400 21220 or 404 20404: OK.
//
// Errors (provider.h; reasons are ClassifyError's labels):
//   4xx                  Permanent, reason unauthorized (401/403) / invalid_number (21211, 21214, 21217) /
//                        refused (other)
//   429                  retried (RESOURCE_EXHAUSTED; Retry-After honoured when sent), reason rate_limited
//   5xx, other statuses  retried (UNAVAILABLE), reason server_error / other
//   transport            UNAVAILABLE -> "unavailable", DEADLINE_EXCEEDED -> "timeout", a malformed or
//                        oversized answer -> "malformed_response" (all retried; for Dial the call may exist)
//   a request we cannot build (an empty number, a prompt too long for TwiML): Permanent, "invalid_request"
// Error texts carry the HTTP status, Twilio's code and its message with phone numbers masked; the auth token
// only ever goes into the Authorization header.
//
// Thread-safe: the provider holds only its configuration and a reference to the (thread-safe) http::Client.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/http/client.h"
#include "services/telephony/provider.h"

namespace protectogram::telephony {

struct TwilioConfig {
  std::string api_base_url = "https://api.twilio.com";
  std::string account_sid;  // "AC..."
  std::string auth_token;   // secret
  std::string from_number;  // our Twilio number, +E.164 (DialRequest.caller_id overrides it)
  // Where Twilio reaches the edge ("https://edge.example.org"); callbacks go to
  // <public_base_url>/twilio/voice?attempt=<key>.
  std::string public_base_url;
  absl::Duration timeout = absl::Seconds(5);  // per REST request
  int gather_timeout_secs = 5;                // silence after each prompt before it repeats
};

// The path on the edge that receives Twilio Voice callbacks for attempts.
inline constexpr char kTwilioVoiceCallbackPath[] = "/twilio/voice";

class TwilioProvider final : public TelephonyProvider {
 public:
  // `client` must outlive the provider.
  TwilioProvider(TwilioConfig config, http::Client& client);

  std::string_view name() const override { return "twilio"; }
  common::v1::Provider provider() const override { return common::v1::PROVIDER_TWILIO; }

  absl::StatusOr<PlacedCall> Dial(const DialRequest& request) override;
  absl::StatusOr<std::optional<PlacedCall>> FindEarlierDial(const DialRequest& request) override;
  absl::Status StartPrompt(const CallRef& call, const Prompt& prompt) override;
  absl::Status Hangup(const CallRef& call) override;

  // <public_base_url>/twilio/voice?attempt=<attempt_key, percent-encoded>: the StatusCallback and the gather
  // action of the attempt's call, and the URL the edge verifies signatures over.
  std::string CallbackUrl(std::string_view attempt_key) const;

 private:
  TwilioConfig config_;
  http::Client& client_;
};

}  // namespace protectogram::telephony
