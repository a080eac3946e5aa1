// A Twilio Programmable Voice REST API on loopback, for integration tests and local simulators: it answers
// the Calls resource the way api.twilio.com does (voice_api.h lists the facts), plays each placed call out
// by a script (answered and a digit pressed, no answer, busy, a machine, ...), and posts the status
// callbacks and the <Gather> action to the URLs the call named, signed with X-Twilio-Signature like Twilio
// signs them (twilio.h). It records every request, call and callback.
//
//   auto twilio = FakeTwilioVoice::Start({.account_sid = "AC..", .auth_token = "secret"});
//   (*twilio)->Script("+15550001111", CallScript::NoAnswer());
//   // POST (*twilio)->base_url() + CallsPath("AC..") with BasicAuthHeader("AC..", "secret") ...
//   (*twilio)->WaitFor([](const FakeTwilioVoice::History& h) { return h.calls.size() == 1; }, kWait);
//
// Routes (all under /2010-04-01/Accounts/<AccountSid>/, HTTP Basic auth AccountSid:AuthToken):
// - POST Calls.json (create). Refusals, in this order, with Twilio's error body {"code","message",
//   "more_info","status"}: bad credentials or another account in the path: 401 20003 "Authenticate" (with
//   WWW-Authenticate); no To: 400 21201; no From: 400 21213; neither Twiml nor Url: 400 21205; a To that is
//   not +E.164: 400 21211 "The 'To' number <to> is not a valid phone number."; Twiml over 4000 characters:
//   400 32018; then the destination's script (kRejectCreate). Otherwise 201 with the call resource, status
//   queued.
// - GET Calls.json (read): To, From, Status, StartTime / "StartTime>" / "StartTime<" (dates, YYYY-MM-DD,
//   UTC, compared with the call's start_time: a call not yet dialled has none and does not match), PageSize
//   (default 50), Page. Newest first; next_page_uri when more pages follow.
// - GET Calls/<CallSid>.json (fetch); POST Calls/<CallSid>.json (update): Status=completed ends any live call
//   (a queued or ringing one as canceled, an answered one as completed), Status=canceled ends a queued or
//   ringing one and leaves an answered one alone; a call that has ended: 400 21220 "Call is not in-progress.
//   Cannot redirect."; an unknown CallSid: 404 20404. Other parameters are recorded and ignored.
//
// A placed call (FakeTwilioVoiceDelays sets every pause): queued -> initiated -> ringing, then by script:
//   kPressDigit  in-progress (AnsweredBy human when MachineDetection was asked), then Digits posted to the
//                first <Gather>'s action URL, then completed;
//   kNoDigit     in-progress, then completed once every prompt (each <Say>, loop counted) has played;
//                nothing is posted to the action;
//   kMachine     in-progress with AnsweredBy machine_start (or the script's), then completed;
//   kNoAnswer    no-answer after the ring timeout (the call's Timeout, unless delays.ring_timeout);
//   kBusy, kFailed  busy / failed;
//   kDropCreateAfterPlacing  the call is placed and goes on as script.then, but the create's connection is
//                closed with no answer (what a crash or a timeout mid-request leaves behind).
// Status callbacks go to StatusCallback for the events named in StatusCallbackEvent (only "completed" when
// none is named; "answered" is posted as CallStatus in-progress, "completed" with the final status), form-
// encoded, with CallSid, AccountSid, From, To, Called, Caller, CallStatus, Direction (outbound-api),
// ApiVersion, Timestamp (RFC 2822), CallbackSource (call-progress-events), SequenceNumber (0, 1, ... per
// call), AnsweredBy (when known) and CallDuration (on the final one). The gather posts CallSid, AccountSid,
// From, To, Called, Caller, CallStatus (in-progress), Direction, ApiVersion, Digits, FinishedOnKey. Each is
// signed over the exact URL it goes to; none is retried (Twilio does not retry status callbacks by default);
// with duplicate_callbacks every one is posted twice.
//
// Deviations on purpose: a call given a Url (not Twiml) is never fetched, so it has no gather; AMD is
// synchronous and instant; no SIP or client: addresses; no PageToken paging.
//
// Threading: handlers run on the server's handler pool; each call plays out on its own thread. Every method
// is thread-safe; Stop() (and the destructor) end every call's thread and join it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/providers/common/form.h"

namespace protectogram::http {
class Server;
}  // namespace protectogram::http

namespace protectogram::providers::twilio {

enum class CallOutcome {
  kPressDigit,
  kNoDigit,
  kMachine,
  kNoAnswer,
  kBusy,
  kFailed,
  kRejectCreate,
  kDropCreateAfterPlacing,
};

// "press_digit", "no_digit", "machine", "no_answer", "busy", "failed", "reject_create",
// "drop_create_after_placing".
std::string_view CallOutcomeLabel(CallOutcome outcome);

inline constexpr int kForever = -1;

// What the next `times` calls to a destination do (kForever: all of them).
struct CallScript {
  CallOutcome outcome = CallOutcome::kPressDigit;
  std::string digits = "1";                     // kPressDigit: what is posted as Digits
  std::string answered_by = "machine_start";    // kMachine
  int reject_status = 400;                      // kRejectCreate: the HTTP status
  int64_t reject_code = 21211;                  // kRejectCreate: Twilio's code
  std::string reject_message;                   // kRejectCreate; "" = a message for the code
  CallOutcome then = CallOutcome::kPressDigit;  // kDropCreateAfterPlacing: how the placed call goes on
  int times = kForever;

  static CallScript PressDigit(std::string digits = "1");
  static CallScript NoDigit();
  static CallScript Machine(std::string answered_by = "machine_start");
  static CallScript NoAnswer();
  static CallScript Busy();
  static CallScript Failed();
  static CallScript RejectCreate(int http_status, int64_t code, std::string message = {});
  static CallScript DropCreateAfterPlacing(CallOutcome then = CallOutcome::kPressDigit);
};

// The pauses of a placed call. Small by default (tests); a simulator sets lifelike ones.
struct FakeTwilioVoiceDelays {
  absl::Duration initiated = absl::Milliseconds(10);     // the create's answer -> initiated
  absl::Duration ringing = absl::Milliseconds(10);       // initiated -> ringing
  absl::Duration answer = absl::Milliseconds(20);        // ringing -> in-progress / busy / failed
  absl::Duration press = absl::Milliseconds(20);         // in-progress -> Digits posted (kPressDigit)
  absl::Duration after_digits = absl::Milliseconds(20);  // Digits posted -> completed
  absl::Duration prompt = absl::Milliseconds(20);        // one prompt and its silence (kNoDigit)
  absl::Duration machine = absl::Milliseconds(20);       // kMachine: in-progress -> completed
  std::optional<absl::Duration> ring_timeout;            // kNoAnswer; nullopt: the call's Timeout seconds
};

struct FakeTwilioVoiceOptions {
  std::string account_sid = "AC00000000000000000000000000000000";
  std::string auth_token = "fake-auth-token";
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: an ephemeral port (see base_url())
  int handler_threads = 8;
  FakeTwilioVoiceDelays delays;
  bool duplicate_callbacks = false;                  // post every callback twice
  std::chrono::milliseconds callback_timeout{5000};  // per callback POST
  std::function<absl::Time()> clock;                 // absl::Now when unset
};

class FakeTwilioVoice {
 public:
  // A placed call, as it is now.
  struct Call {
    std::string sid;  // "CA" + 32 hex digits
    std::string to;
    std::string from;
    std::string twiml;  // as given ("" when a Url was)
    std::string url;
    std::string status_callback;
    std::vector<std::string> status_callback_events;
    int timeout_secs = 60;  // Twilio's default
    bool machine_detection = false;
    CallOutcome outcome = CallOutcome::kPressDigit;  // how it plays out (script.then for a dropped create)
    std::string status;       // queued, initiated, ringing, in-progress, completed, ...
    std::string answered_by;  // once answered, with MachineDetection
    absl::Time date_created;
    std::optional<absl::Time> start_time;  // initiated
    std::optional<absl::Time> answered_at;
    std::optional<absl::Time> end_time;
    std::string digits_posted;     // what the gather posted ("" none)
    bool ended_by_api = false;     // an update ended it
    bool create_answered = false;  // the create's 201 got out (false while unknown, and for a dropped one)
    bool played_out = false;       // its thread has finished: the last callback has been posted
  };

  // A request the API received.
  struct Request {
    absl::Time received_at;
    std::string method;
    std::string path;
    std::string kind;   // "create", "list", "fetch", "update", "unknown"
    FormParams params;  // the form (POST) or the query (GET), decoded
    bool authorized = false;
    int status = 0;  // the HTTP status answered; 0 when the connection was dropped
    int64_t error_code = 0;
    std::string call_sid;   // the call created, fetched or updated
    bool finished = false;  // `answered` is known
    bool answered = false;  // the whole answer was written while the client was still connected
  };

  // A callback the fake posted.
  struct Callback {
    absl::Time sent_at;
    std::string call_sid;
    std::string kind;  // "status" or "gather"
    std::string url;
    FormParams params;
    std::string signature;  // X-Twilio-Signature sent
    int http_status = 0;    // the receiver's answer; 0 when it could not be reached
    std::string error;      // the client's error when it could not
  };

  struct History {
    std::vector<Call> calls;  // in creation order
    std::vector<Request> requests;
    std::vector<Callback> callbacks;
  };

  // Binds options.address:options.port and starts serving. UNAVAILABLE if the port cannot be bound;
  // INVALID_ARGUMENT for an empty account_sid or auth_token.
  static absl::StatusOr<std::unique_ptr<FakeTwilioVoice>> Start(FakeTwilioVoiceOptions options);
  ~FakeTwilioVoice();  // Stops.
  FakeTwilioVoice(const FakeTwilioVoice&) = delete;
  FakeTwilioVoice& operator=(const FakeTwilioVoice&) = delete;

  // "http://127.0.0.1:<port>": the API base URL (TwilioConfig::api_base_url).
  std::string base_url() const;
  uint16_t port() const;
  const std::string& account_sid() const;
  const std::string& auth_token() const;

  // Adds a script for `to` (+E.164). Scripts are tried in the order given; the first for the destination
  // with uses left applies (and uses one up). Without one a call answers and presses 1.
  void Script(std::string to, CallScript script);
  void ClearScript();

  std::vector<Call> Calls() const;
  std::optional<Call> FindCall(std::string_view sid) const;
  std::vector<Request> Requests() const;
  std::vector<Request> CreateRequests() const;  // kind "create"
  std::vector<Callback> CallbacksSent() const;
  // True once `done(history)` holds (checked on every change); false after `timeout`. `done` runs under the
  // fake's lock: it must not call the fake.
  bool WaitFor(const std::function<bool(const History&)>& done, absl::Duration timeout) const;
  // True once the call has a final status (completed, busy, failed, no-answer, canceled) and its last
  // callback has been posted.
  bool WaitForCallEnded(std::string_view sid, absl::Duration timeout) const;

  // Stops serving and ends every call's thread (no further callbacks). Safe to call more than once.
  void Stop();

 private:
  struct State;
  FakeTwilioVoice() = default;

  std::shared_ptr<State> state_;  // shared with the handlers and the calls' threads
  std::unique_ptr<http::Server> server_;
};

}  // namespace protectogram::providers::twilio
