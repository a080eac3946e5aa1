// Telnyx Call Control v2 commands we send: request paths and JSON bodies, the answers (a dial's call ids, the
// error body) and what an error status means; plus the webhook envelope Telnyx sends, built for the Telnyx
// fake and tests. Pure functions, no I/O.
//
// Facts (team-telnyx/telnyx-python src/telnyx/types/call_dial_params.py, types/calls/action_*_params.py;
// developers.telnyx.com/docs/voice/programmable-voice/sending-commands; see docs/providers.md):
// - POST https://api.telnyx.com/v2/calls (dial): connection_id, from (+E.164), to, webhook_url, command_id,
//   client_state (must be valid base64; echoed in every later webhook), timeout_secs 5..600 (on expiry Telnyx
//   hangs up with hangup_cause "timeout"). Authorization: Bearer <TELNYX_API_KEY>.
// - POST /v2/calls/{call_control_id}/actions/gather_using_speak: payload (<= 3000 chars), voice, language
//   (ru-RU; ignored for AWS Polly voices, which carry their own), minimum_digits >= 1, maximum_digits <= 128,
//   valid_digits, timeout_millis, command_id, client_state.
// - POST /v2/calls/{call_control_id}/actions/hangup: command_id, client_state.
// - command_id makes a command idempotent: Telnyx ignores a repeat with the same command_id for the same call
//   (for dial: any other dial with the same command_id), so retries after a crash never ring twice.
// - answering_machine_detection on dial: "detect" (also "detect_beep", "detect_words", "greeting_end",
//   "premium", "disabled"); the result arrives as call.machine.detection.ended {result: human, machine,
//   not_sure}. gather_using_speak maximum_tries: how many times the prompt is played while no digit comes
//   (Telnyx's default 3); timeout_millis: the wait for a digit after each playback (default 60000).
// - Answers: a dial 200 {"data":{"call_control_id","call_leg_id","call_session_id","is_alive":false,
//   "record_type":"call"}}; an action 200 {"data":{"result":"ok"}}; an error 4xx/5xx
//   {"errors":[{"code":"10015","title":"Bad Request","detail":"...","source":{...}}]} (code as text).
//   Codes seen (developers.telnyx.com/docs/errors): 10004 Missing required parameter, 10005 Resource not
//   found, 10007 Unexpected error, 10009 Authentication failed (401), 10010 Authorization failed (403),
//   10011 Too many requests (429), 10015 Bad Request, 10016 Phone number must be in +E.164 format; 90018
//   Call has already ended (422, a command on a call that is over).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace protectogram::providers::telnyx {

// "/v2/calls".
std::string DialPath();
// "/v2/calls/<call_control_id, percent-encoded>/actions/<action>".
std::string ActionPath(std::string_view call_control_id, std::string_view action);

struct DialRequest {
  std::string connection_id;
  std::string from;  // our number, +E.164
  std::string to;    // the callee, +E.164
  std::string command_id;
  std::string client_state;  // raw; sent base64-encoded
  int timeout_secs = 25;
  std::string webhook_url;                  // optional: per-call webhook URL
  std::string answering_machine_detection;  // "detect", ...; "" = left out (Telnyx: disabled)
};
// {"connection_id":..,"from":..,"to":..,"timeout_secs":..,"command_id":..,"client_state":"<base64>",
//  "webhook_url":..,"answering_machine_detection":..}; empty optional fields are left out. INVALID_ARGUMENT if connection_id, from or to is
// empty, or timeout_secs is outside 5..600.
absl::StatusOr<std::string> BuildDialBody(const DialRequest& request);

struct GatherUsingSpeakRequest {
  std::string payload;                      // the text to speak
  std::string voice = "AWS.Polly.Tatyana";  // a ru-RU Polly voice
  std::string language = "ru-RU";
  int minimum_digits = 1;
  int maximum_digits = 1;
  std::string valid_digits = "0123456789*#";
  int timeout_millis = 0;  // 0: Telnyx's default
  int maximum_tries = 0;   // 0: Telnyx's default (3)
  std::string command_id;
  std::string client_state;  // raw; sent base64-encoded
};
// The gather_using_speak body. INVALID_ARGUMENT if payload is empty or longer than 3000 characters (UTF-8
// code points), voice is empty, minimum_digits < 1, maximum_digits > 128 or < minimum_digits, valid_digits is
// empty or has characters other than 0-9 * #, or timeout_millis or maximum_tries is negative.
absl::StatusOr<std::string> BuildGatherUsingSpeakBody(const GatherUsingSpeakRequest& request);

struct HangupRequest {
  std::string command_id;
  std::string client_state;  // raw; sent base64-encoded
};
// {"command_id":..,"client_state":..} with empty fields left out ("{}" when both are empty).
std::string BuildHangupBody(const HangupRequest& request);

// --- answers ---

struct DialResponse {
  std::string call_control_id;
  std::string call_leg_id;
  std::string call_session_id;
};
// The ids of a placed call from a 2xx dial answer. INVALID_ARGUMENT for malformed JSON, a missing or
// non-object data, a missing or empty data.call_control_id, or an id of the wrong type.
absl::StatusOr<DialResponse> ParseDialResponse(std::string_view body);

// One entry of an error answer's "errors" (code as text, also when sent as a number).
struct ApiError {
  std::string code;
  std::string title;
  std::string detail;
};
// The first error of {"errors":[...]}; nullopt when the body has none (not JSON, a gateway's HTML page).
std::optional<ApiError> FirstError(std::string_view body);
// A short text for logs and statuses: "HTTP 422: 90018 Call has already ended: <detail>" (the detail cut at
// 200 bytes), or "HTTP 502" when the body carries no Telnyx error. Never the body itself.
std::string ParseErrorResponse(int http_status, std::string_view body);

inline constexpr char kCallEndedErrorCode[] = "90018";
// A command refused because the call is over (422 with code 90018): for hangup, the wanted outcome.
bool IsCallEndedError(int http_status, std::string_view body);

// The failure reason label of an error status: "unauthorized" (401, 403), "rate_limited" (429), "refused"
// (any other 4xx, 422 included), "server_error" (5xx), "unexpected_status" (anything else but 2xx),
// "ok" (2xx).
std::string_view ClassifyCommandError(int http_status);

// --- webhooks (what Telnyx sends; for the fake and tests) ---

// occurred_at, start_time and end_time as Telnyx writes them: RFC 3339 UTC with microseconds,
// "2018-02-02T22:25:27.521992Z".
std::string FormatEventTime(absl::Time t);

struct WebhookEnvelope {
  std::string event_type;  // "call.answered"
  std::string event_id;    // data.id, the dedup key
  absl::Time occurred_at;
  std::string payload_json;  // the text of a JSON object: call_control_id, client_state, ...
  int attempt = 1;           // meta.attempt: 1, then 2, ... for Telnyx's redeliveries
  std::string delivered_to;  // meta.delivered_to; "" = left out
};
// {"data":{"record_type":"event","event_type":..,"id":..,"occurred_at":..,"payload":{..}},
//  "meta":{"attempt":..,"delivered_to":..}}. INVALID_ARGUMENT if event_type or event_id is empty or
// payload_json is not a JSON object.
absl::StatusOr<std::string> BuildWebhookBody(const WebhookEnvelope& webhook);

}  // namespace protectogram::providers::telnyx
