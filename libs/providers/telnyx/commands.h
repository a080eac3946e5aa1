// Telnyx Call Control v2 commands we send: request paths and JSON bodies. Pure functions, no I/O.
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
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

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
  std::string webhook_url;  // optional: per-call webhook URL
};
// {"connection_id":..,"from":..,"to":..,"timeout_secs":..,"command_id":..,"client_state":"<base64>",
//  "webhook_url":..}; empty optional fields are left out. INVALID_ARGUMENT if connection_id, from or to is
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
  std::string command_id;
  std::string client_state;  // raw; sent base64-encoded
};
// The gather_using_speak body. INVALID_ARGUMENT if payload is empty or longer than 3000 characters (UTF-8
// code points), voice is empty, minimum_digits < 1, maximum_digits > 128 or < minimum_digits, valid_digits is
// empty or has characters other than 0-9 * #, or timeout_millis is negative.
absl::StatusOr<std::string> BuildGatherUsingSpeakBody(const GatherUsingSpeakRequest& request);

struct HangupRequest {
  std::string command_id;
  std::string client_state;  // raw; sent base64-encoded
};
// {"command_id":..,"client_state":..} with empty fields left out ("{}" when both are empty).
std::string BuildHangupBody(const HangupRequest& request);

}  // namespace protectogram::providers::telnyx
