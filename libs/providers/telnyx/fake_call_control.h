// A Telnyx Call Control v2 API on loopback, for integration tests and the local simulator: it takes the
// commands the telephony service sends the way api.telnyx.com does (commands.h lists the facts), plays each
// call from a per-number script (or lets a person play it: kInteractive), and posts the call's webhooks,
// signed like Telnyx's, to a webhook URL.
//
//   auto telnyx = FakeTelnyx::Start({.webhook_url = "http://127.0.0.1:8081/telnyx/webhook",
//                                    .time_scale = 0.01});
//   (*telnyx)->Script("+79990001234", CallScript::NoAnswer());
//   ... TelnyxProvider{{.api_base_url = (*telnyx)->base_url(), .api_key = kFakeApiKey, ...}}.Dial(...)
//   (*telnyx)->WaitFor([](const FakeTelnyx::View& v) { return v.calls.size() == 1; }, absl::Seconds(5));
//
// Routes (Authorization: Bearer <api_key> on every one, else 401 10009 "Authentication failed"):
// - POST /v2/calls (dial): connection_id, from, to required (422 10004), to/from +E.164 or sip: (422 10016),
//   timeout_secs 5..600 (default 30), client_state base64 (422 10015). Answer {"data":{"call_control_id",
//   "call_leg_id","call_session_id","is_alive":false,"record_type":"call"}}. A dial whose command_id an
//   earlier dial used is answered with that dial's call and places nothing (Telnyx ignores it).
// - POST /v2/calls/{call_control_id}/actions/{gather_using_speak|speak|hangup|answer}: {"data":
//   {"result":"ok"}}; a command whose command_id this call already took is answered the same and ignored;
//   a call that is over (or was never placed) is 422 90018 "Call has already ended"; an unknown action 404.
//   gather_using_speak and speak need payload and voice (422 10004) and an answered call (422 10015 on a
//   ringing one: the fake's choice, Telnyx's exact answer is not documented). client_state on a command
//   replaces the call's (echoed in every later webhook), as Telnyx does.
//
// A call's life (the numbers' scripts, CallScript), its webhooks in this order:
//   call.initiated (direction "outgoing", state "parked") at once;
//   call.answered after answer_after (a call still ringing at its timeout_secs ends instead with call.hangup
//   hangup_cause "timeout");
//   call.machine.detection.ended {result human | machine} amd_after later, when the dial asked for AMD;
//   on gather_using_speak: call.gather.ended {digits, status valid (invalid if the digit is not in
//   valid_digits)} press_after later, or {digits "", status timeout} after timeout_millis x maximum_tries
//   (Telnyx's defaults 60000 x 3) for kNoDigit, kMachine and kInteractive (unless PressDigit comes first);
//   on speak: call.speak.started, then call.speak.ended {status completed} speak_time later;
//   call.hangup {hangup_cause, hangup_source, start_time, end_time}: normal_clearing/caller on our hangup
//   (originator_cancel while ringing), user_busy/callee for kBusy, timeout/caller for kNoAnswer,
//   normal_clearing/callee for EndCall, call_rejected/callee for Decline.
// kInteractive (CallScript::Interactive()): a person plays the callee through the fake's methods, no timers
// for them: the call rings (after call.initiated) until Answer (call.answered, then AMD human amd_after later
// when asked for), Decline (call.hangup call_rejected/callee) or its timeout_secs (call.hangup
// timeout/caller); an answered call's gather_using_speak waits for PressDigit (call.gather.ended {digits,
// status valid | invalid} at once) or its timeout_millis x maximum_tries (status timeout); EndCall hangs up
// as the callee at any time. Answer and Decline also take a scripted call that is still ringing, and
// PressDigit any gather in progress (it ends it at once, before the scripted press or timeout).
// Call::spoken keeps the payload of every gather_using_speak and speak the call took (what the callee
// heard); Call::gathering says a gather waits for a digit.
// Each webhook: JSON as commands.h BuildWebhookBody makes it, headers telnyx-signature-ed25519 and
// telnyx-timestamp (SignWebhook over "<timestamp>|<body>" with signing_seed). A call's webhooks are posted
// one at a time in order; a delivery the receiver does not answer 2xx is retried after each of
// webhook_retry_delays with meta.attempt 2, 3, ... (Telnyx redelivers failed webhooks too; its schedule is
// not published), then given up. Every attempt is recorded (Webhooks()).
//
// Deviations on purpose: calls are outbound only ("answer" on a ringing call answers it at once, for the
// simulator); no media, no bridging, no recordings; gather_using_speak takes one digit at once (no
// inter-digit timing) and sends no call.dtmf.received; retrieving a call (GET) is not served.
//
// Time: every simulated call delay (answer_after, press_after, ring times, AMD, gather and speak times,
// webhook redelivery delays) is multiplied by FakeTelnyxOptions::time_scale, so tests run a 25 s ring in
// 250 ms. HTTP answer delays (kSlowDial) are real time: they test the client's deadline.
//
// Threading: handlers run on the server's handler pool; one timer thread plays the calls; delivery_threads
// post webhooks (one call's webhooks never in parallel). Every method is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace protectogram::http {
class Server;
}  // namespace protectogram::http

namespace protectogram::providers::telnyx {

inline constexpr char kFakeApiKey[] = "KEY0FAKE0TELNYX";
// The default signing seed, hex: the RFC 8032 §7.1 TEST 1 seed (the contract tests' key), and base64 of its
// raw public key, which is TELNYX_PUBLIC_KEY against the fake (ParsePublicKey accepts it).
inline constexpr char kFakeSigningSeedHex[] =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
inline constexpr char kFakePublicKey[] = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
// The 32 bytes of kFakeSigningSeedHex.
std::string FakeSigningSeed();
// base64 of the raw public key of a 32-byte seed (for a seed other than the default). INVALID_ARGUMENT if
// the seed is not 32 bytes.
absl::StatusOr<std::string> PublicKeyForSeed(std::string_view seed);

enum class CallOutcome {
  kPressDigit,            // answers; presses `digit` when prompted
  kNoDigit,               // answers; presses nothing (the gather times out)
  kMachine,               // a voicemail answers: AMD says machine; presses nothing
  kNoAnswer,              // rings until ring_time or the dial's timeout_secs: call.hangup timeout
  kBusy,                  // call.hangup user_busy after ring_time (0: 1 s)
  kRejectDial,            // the dial is answered reject_status with a Telnyx error body; no call
  kSlowDial,              // the call is placed at once, the dial answered after dial_delay; then kPressDigit
  kDropDial,              // the connection is closed without an answer; no call
  kDropDialAfterPlacing,  // the call is placed, then the connection is closed; then kPressDigit
  kInteractive,           // rings until Answer, Decline or timeout_secs; gathers wait for PressDigit
};

// How calls to one number go. Delays are simulated time (scaled by time_scale) unless noted.
struct CallScript {
  CallOutcome outcome = CallOutcome::kPressDigit;
  std::string digit = "1";
  absl::Duration answer_after = absl::Seconds(2);  // from the dial to call.answered
  absl::Duration press_after = absl::Seconds(3);   // from gather_using_speak to the digit
  // kNoAnswer: how long it rings before call.hangup timeout (0, or longer than timeout_secs: timeout_secs);
  // kBusy: how long until call.hangup user_busy (0: 1 s).
  absl::Duration ring_time = absl::ZeroDuration();
  int reject_status = 422;                           // kRejectDial
  absl::Duration dial_delay = absl::ZeroDuration();  // kSlowDial; real time
  bool duplicate_webhooks = false;                   // every webhook is posted twice (same body)
  // The call ends by itself right after its last step (the callee hangs up after the gather, the voicemail
  // after AMD) and its call.hangup is posted before that step's webhook (call.gather.ended,
  // call.machine.detection.ended); for kNoAnswer and kBusy, call.hangup is posted before call.initiated.
  bool reorder = false;

  static CallScript PressDigit(std::string digit = "1");
  static CallScript NoDigit();
  static CallScript Machine();
  static CallScript NoAnswer(absl::Duration ring_time = absl::ZeroDuration());
  static CallScript Busy(absl::Duration ring_time = absl::ZeroDuration());
  static CallScript RejectDial(int http_status);
  static CallScript SlowDial(absl::Duration delay);
  static CallScript DropDial();
  static CallScript DropDialAfterPlacing();
  static CallScript Interactive();
};

struct FakeTelnyxOptions {
  std::string api_key = kFakeApiKey;  // the only Bearer key taken
  // Where a call's webhooks go unless its dial names a webhook_url; "" = nowhere (recorded as not sent).
  std::string webhook_url;
  std::string signing_seed;  // 32 bytes; "" = FakeSigningSeed()
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: an ephemeral port (see base_url())
  int handler_threads = 8;
  int delivery_threads = 2;
  double time_scale = 1.0;                       // simulated time per real time; tests use ~0.01
  CallScript default_script;                     // numbers without a Script
  absl::Duration amd_after = absl::Seconds(1);   // from call.answered to call.machine.detection.ended
  absl::Duration speak_time = absl::Seconds(2);  // from call.speak.started to call.speak.ended
  // After a failed webhook delivery (not 2xx, or no answer): one more attempt after each delay, in order.
  std::vector<absl::Duration> webhook_retry_delays = {absl::Seconds(1), absl::Seconds(5), absl::Seconds(15)};
  std::chrono::milliseconds webhook_timeout{2000};  // one delivery attempt; real time
  // Event times and the signature timestamp; absl::Now when unset. Called from many threads at once.
  std::function<absl::Time()> clock;
};

class FakeTelnyx {
 public:
  struct Command {
    absl::Time received_at;
    std::string action;  // "dial", "gather_using_speak", "speak", "hangup", "answer", or as in the path
    std::string call_control_id;  // the call commanded; for a dial the call placed or repeated ("" none)
    std::string command_id;
    std::string client_state;  // as sent (base64)
    std::string to;            // dial
    std::string body_json;     // as received
    bool authorized = false;   // the Bearer key was right
    bool duplicate = false;    // its command_id was taken before: answered, ignored
    bool placed = false;       // a dial that placed a call
    int status = 0;            // the HTTP status answered; 0 when the connection was dropped
    std::string error_code;    // the Telnyx error code answered; "" on success
    bool finished = false;     // `answered` is known
    bool answered = false;     // the whole answer reached the client
  };

  enum class CallState { kRinging, kAnswered, kEnded };

  struct Call {
    std::string call_control_id;
    std::string call_leg_id;
    std::string call_session_id;
    std::string connection_id;
    std::string from;
    std::string to;
    std::string command_id;    // the dial's
    std::string client_state;  // the latest, base64 as sent
    std::string webhook_url;   // where its webhooks go
    std::string answering_machine_detection;
    int timeout_secs = 30;
    CallScript script;
    CallState state = CallState::kRinging;
    // The payload of every gather_using_speak and speak the call took, in order: what the callee heard.
    std::vector<std::string> spoken;
    bool gathering = false;    // a gather_using_speak is in progress, waiting for a digit
    std::string hangup_cause;  // once ended
    std::string hangup_source;
    absl::Time placed_at;
    std::optional<absl::Time> answered_at;
    std::optional<absl::Time> ended_at;
  };

  // One delivery attempt of one webhook.
  struct Webhook {
    std::string event_type;
    std::string event_id;  // data.id: the same on every attempt and on the scripted duplicate
    std::string call_control_id;
    std::string url;
    std::string body;        // as signed and sent
    int attempt = 1;         // meta.attempt
    bool duplicate = false;  // the scripted second copy
    int status = 0;          // what the receiver answered; 0: no answer (`error` says why)
    std::string error;
    absl::Time sent_at;
  };

  // What WaitFor's predicate sees, under the fake's lock.
  struct View {
    const std::vector<Command>& commands;
    const std::vector<Call>& calls;
    const std::vector<Webhook>& webhooks;
  };

  // Binds options.address:options.port and starts serving. UNAVAILABLE if the port cannot be bound;
  // INVALID_ARGUMENT for a signing seed that is not 32 bytes, an empty api_key, or a time_scale <= 0.
  static absl::StatusOr<std::unique_ptr<FakeTelnyx>> Start(FakeTelnyxOptions options);
  ~FakeTelnyx();  // Stops.
  FakeTelnyx(const FakeTelnyx&) = delete;
  FakeTelnyx& operator=(const FakeTelnyx&) = delete;

  // "http://127.0.0.1:<port>": TelnyxConfig::api_base_url.
  std::string base_url() const;
  uint16_t port() const;
  // base64 of the public key webhooks are signed for (TELNYX_PUBLIC_KEY).
  std::string public_key() const;

  // How later dials to `to_e164` go (calls placed already keep their script).
  void Script(std::string_view to_e164, CallScript script);
  void ClearScripts();
  // The callee hangs up now (call.hangup `hangup_cause`, hangup_source callee). False if the call is not
  // live.
  bool EndCall(std::string_view call_control_id, std::string_view hangup_cause = "normal_clearing");
  // The callee of a ringing call picks up: call.answered (and AMD human amd_after later when the dial asked
  // for it). False if the call is unknown or not ringing.
  bool Answer(std::string_view call_control_id);
  // The callee rejects a ringing call: call.hangup call_rejected, hangup_source callee. False if the call is
  // unknown or not ringing.
  bool Decline(std::string_view call_control_id);
  // The callee presses `digit` (the key or keys, as call.gather.ended reports them) while a gather is in
  // progress: call.gather.ended {digits, status valid, or invalid when a key is not in the gather's
  // valid_digits} at once. False (and nothing happens) if the call is unknown, not answered, no gather is in
  // progress, or `digit` is empty.
  bool PressDigit(std::string_view call_control_id, std::string_view digit);

  // Every command so far, in arrival order; the dials among them.
  std::vector<Command> Commands() const;
  std::vector<Command> Dials() const;
  // How many calls were placed to `to_e164` (a repeated dial places none: it counts once).
  size_t DialCountFor(std::string_view to_e164) const;
  // Every call placed, in order; one by id.
  std::vector<Call> Calls() const;
  std::optional<Call> FindCall(std::string_view call_control_id) const;
  // Every delivery attempt, in order; those of one call.
  std::vector<Webhook> Webhooks() const;
  std::vector<Webhook> WebhooksFor(std::string_view call_control_id) const;

  // True once `done(view)` holds (checked on every change); false after `timeout`. `done` runs under the
  // fake's lock: it must not call the fake.
  bool WaitFor(const std::function<bool(const View&)>& done, absl::Duration timeout) const;
  // True once at least `count` commands have arrived and all are finished; false after `timeout`.
  bool WaitForCommands(size_t count, absl::Duration timeout) const;

  // Stops serving and playing calls: webhooks not yet posted and slow answers still waiting are dropped.
  // Safe to call more than once.
  void Stop();

 private:
  struct State;
  FakeTelnyx() = default;

  std::shared_ptr<State> state_;  // shared with the handlers and their completion callbacks
  std::unique_ptr<http::Server> server_;
};

}  // namespace protectogram::providers::telnyx
