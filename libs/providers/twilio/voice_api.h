// Twilio Programmable Voice REST API, outbound: the Calls resource paths, the create-call form, the TwiML of
// our prompt, and the reading and classification of Twilio's answers. Pure functions, no I/O (the telephony
// service's TwilioProvider sends; FakeTwilioVoice in fake_voice_api.h answers like Twilio on loopback).
//
// Protocol facts relied on (sources: twilio.com/docs/voice/api/call-resource (create, read with filters,
// update); twilio.com/docs/voice/twiml/gather, /twiml/say, /twiml/say/text-speech (Polly voices);
// twilio.com/docs/voice/answering-machine-detection; twilio.com/docs/usage/requests-to-twilio (Basic auth);
// twilio.com/docs/api/errors/{20003,20404,21205,21211,21214,21217,21220,32018} and warning 13521;
// twilio/twilio-python twilio/rest/api/v2010/account/call/__init__.py (the list filters are sent as the
// parameter names "StartTime>" / "StartTime<", i.e. "StartTime>=2024-01-31" on the wire, and a list of
// StatusCallbackEvent values as the parameter repeated); see docs/providers.md):
// - Create: POST {base}/2010-04-01/Accounts/{AccountSid}/Calls.json, HTTP Basic auth AccountSid:AuthToken,
//   form fields To, From, Twiml (inline TwiML, at most 4000 characters: error 32018) or Url, StatusCallback,
//   StatusCallbackEvent (repeated; initiated, ringing, answered, completed; without it only "completed" is
//   posted), StatusCallbackMethod, Timeout (seconds to ring, at most 600), MachineDetection "Enable".
//   Answer 201 with the call resource {"sid":"CA...","status":"queued","to","from","date_created":
//   "Tue, 31 Aug 2010 20:36:28 +0000" (RFC 2822),"start_time" (empty until dialled),...}.
// - Errors: {"code":21211,"message":"...","more_info":"https://www.twilio.com/docs/errors/21211",
//   "status":400}. 20003 authenticate (401), 20404 not found (404), 21211 invalid To number, 21214 To number
//   cannot be reached, 21217 the number does not appear to be valid, 21205 invalid URL, 21220 invalid call
//   state (the call is not in progress), 20429 too many requests (429).
// - Read: GET .../Calls.json?To=..&From=..&Status=..&StartTime>=YYYY-MM-DD (UTC)&PageSize=N answers
//   {"calls":[resource,...],"page":0,"page_size":50,"next_page_uri":null | "/2010-04-01/...",...}.
// - Update: POST .../Calls/{CallSid}.json Status=completed hangs the call up whatever state it is in
//   (canceled only stops a queued or ringing one); a call that has ended answers 21220 (or 20404).
// - TwiML: <Gather input="dtmf" numDigits action method timeout finishOnKey> with nested <Say language
//   voice>: digits pressed while the prompt plays count; when the gather times out with no digits Twilio
//   goes on to the next verb (so repeated <Gather>s repeat the prompt); with digits it posts Digits to the
//   action URL and runs the TwiML answered there. Gather cannot restrict which keys count: numDigits="1"
//   takes any key, and the service checks the digit. finishOnKey (default '#') ends a gather early with what
//   was typed; finishOnKey="" disables it, so '#' can itself be an answer. <Say loop="N"> repeats the text.
//   Polly voices take at most 3000 characters of text (warning 13521).
// - Voices: Polly.Tatyana (ru-RU), Polly.Joanna (en-US), Polly.Marlene (de-DE), Polly.Lucia (es-ES),
//   Polly.Celine (fr-FR); without `voice` Twilio picks its default for the language.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace protectogram::providers::twilio {

inline constexpr char kDefaultApiBaseUrl[] = "https://api.twilio.com";
inline constexpr size_t kMaxTwimlLength = 4000;  // characters (code points), error 32018
inline constexpr size_t kMaxSayLength = 3000;    // characters of a Polly <Say>, warning 13521
inline constexpr int kMinRingTimeoutSecs = 5;    // ours: shorter rings reach nobody
inline constexpr int kMaxRingTimeoutSecs = 600;  // Twilio's maximum Timeout

// Form fields in order, a name repeated for each of its values (StatusCallbackEvent): encode with
// http::FormEncode(const std::vector<std::pair<...>>&).
using FormFields = std::vector<std::pair<std::string, std::string>>;

// "/2010-04-01/Accounts/<account_sid>/Calls.json" (the sid percent-encoded).
std::string CallsPath(std::string_view account_sid);
// "/2010-04-01/Accounts/<account_sid>/Calls/<call_sid>.json" (both percent-encoded).
std::string CallPath(std::string_view account_sid, std::string_view call_sid);

struct ListCallsFilter {
  std::string to;                                     // "" = any
  std::string from;                                   // "" = any
  std::string status;                                 // "" = any
  std::optional<absl::CivilDay> started_on_or_after;  // StartTime>= (UTC date)
  int page_size = 50;                                 // 1..1000
};
// The query of a read, in this order: To, From, Status, "StartTime>" (a date, YYYY-MM-DD), PageSize; unset
// filters left out. Encode with http::FormEncode and append to CallsPath after '?'.
FormFields ListCallsQuery(const ListCallsFilter& filter);

// "Basic " + base64(account_sid ":" auth_token), the Authorization header value.
std::string BasicAuthHeader(std::string_view account_sid, std::string_view auth_token);

struct CreateCall {
  std::string to;    // the callee, +E.164
  std::string from;  // our Twilio number, +E.164
  std::string twiml;
  std::string status_callback;  // "" = none
  // The events posted to status_callback (when it is set).
  std::vector<std::string> status_callback_events = {"initiated", "ringing", "answered", "completed"};
  int timeout_secs = 25;  // ring time
  bool machine_detection = false;
};
// To, From, Twiml, StatusCallback, StatusCallbackMethod=POST, StatusCallbackEvent (each event), Timeout,
// MachineDetection=Enable (when asked), in this order; StatusCallback* only with a status_callback.
// INVALID_ARGUMENT if to, from or twiml is empty, twiml is over kMaxTwimlLength characters, timeout_secs is
// outside kMinRingTimeoutSecs..kMaxRingTimeoutSecs, or an event is not one of Twilio's four.
absl::StatusOr<FormFields> BuildCreateCallForm(const CreateCall& call);

// The Polly voice we use for a language (exact tag, case-insensitive): see above; "" for any other language
// (Twilio's default voice for it).
std::string_view VoiceForLanguage(std::string_view language);

struct PromptTwiml {
  std::string text;      // said as plain text (XML-escaped here)
  std::string language;  // "ru-RU"; "" leaves the attribute out
  std::string voice;     // "Polly.Tatyana"; "" leaves it out
  // The keys that answer; any one key ends the gather (numDigits="1"). With '#' among them finishOnKey is
  // disabled so that '#' is delivered as the answer.
  std::string valid_digits = "1";
  int repeats = 3;              // times the prompt is said, each followed by gather_timeout_secs of waiting
  int gather_timeout_secs = 5;  // silence after each prompt before moving on
  std::string action_url;       // where Twilio posts Digits (XML-escaped here)
};
// <?xml version="1.0" encoding="UTF-8"?><Response>{<Gather input="dtmf" numDigits="1" timeout=".."
// action=".." method="POST"[ finishOnKey=""]><Say[ language=".."][ voice=".."]>TEXT</Say></Gather>} x
// repeats<Hangup/></Response>. When that would be over kMaxTwimlLength, one <Gather> with <Say loop="N">
// instead (the prompt repeats with no pause between). INVALID_ARGUMENT if text is empty, not valid UTF-8,
// holds a control character XML 1.0 cannot carry, or is over kMaxSayLength characters; action_url is empty;
// valid_digits is empty or has characters other than 0-9 * #; repeats is outside 1..10; gather_timeout_secs
// is outside 1..60; or even the short form is over kMaxTwimlLength.
absl::StatusOr<std::string> BuildPromptTwiml(const PromptTwiml& prompt);

// `s` with & < > " ' replaced by their XML entities.
std::string XmlEscape(std::string_view s);

// A call resource (the answer to create, get and update; an element of a list).
struct CallResource {
  std::string sid;  // "CA..."
  std::string
      status;  // queued, initiated, ringing, in-progress, completed, busy, failed, no-answer, canceled
  std::string to;
  std::string from;
  std::optional<absl::Time> date_created;  // nullopt when absent or null
  std::optional<absl::Time> start_time;    // nullopt until the call is dialled
  std::string answered_by;                 // with MachineDetection, once known
};
// INVALID_ARGUMENT ("malformed JSON", "call must be a JSON object", "sid is required", "date_created must be
// an RFC 2822 date", ...) for anything else.
absl::StatusOr<CallResource> ParseCallResource(std::string_view body);

struct CallList {
  std::vector<CallResource> calls;
  std::string next_page_uri;  // "" on the last page; else a path + query under the API base URL
};
// The answer to a read (list). INVALID_ARGUMENT if it is not a JSON object with a "calls" array of call
// resources (as ParseCallResource reads them).
absl::StatusOr<CallList> ParseCallList(std::string_view body);

struct ErrorResponse {
  int64_t code = 0;  // Twilio's error code; 0 when absent
  std::string message;
  std::string more_info;
  int64_t status = 0;  // the HTTP status the body names; 0 when absent
};
// INVALID_ARGUMENT if the body is not a JSON object (a gateway's page) or a field has the wrong type.
absl::StatusOr<ErrorResponse> ParseErrorResponse(std::string_view body);

// A low-cardinality reason label for a refused request (the telephony service's WithFailureReason):
//   401, 403                              "unauthorized"
//   429, or code 20429                    "rate_limited"
//   4xx with code 21211, 21214 or 21217   "invalid_number"
//   other 4xx                             "refused"
//   5xx                                   "server_error"
//   2xx                                   "ok"
//   anything else                         "other"
std::string_view ClassifyError(int http_status, int64_t code);

}  // namespace protectogram::providers::twilio
