// The call state machine, as pure code: a call's facts and one input (a provider event, the dial's answer,
// our ring deadline, a hangup request) give the call's next facts, the outcome when this input decides it,
// and what to do next (prompt, hang up, try the next provider, arm the ring deadline). The service around it
// (telephony_service.h) loads the row, applies the decision in one transaction and does the I/O.
//
// The rules that make a call safe to follow from provider events that come late, twice and out of order:
//   - the state only moves forward (pending < dialing < ringing < answered < any end state); a terminal state
//     never changes, so a late "ringing" after "answered", or a second hangup, changes nothing;
//   - the outcome is decided once: the first input that decides it wins, and it is what the requester hears;
//     later inputs are kept in the history only;
//   - an answering machine is never "answered" for the requester: a machine result (Telnyx AMD, Twilio
//     AnsweredBy) decides `machine` and hangs up, even though the provider calls the call answered;
//   - a digit decides `digit_pressed` only when it is one of the valid digits; an answer without one, when
//     the prompt has run out or the callee hangs up, is `answered_no_digit`.
// docs/telephony.md has the table of every state, input and outcome.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protectogram/common/v1/events.pb.h"
#include "protectogram/telephony/v1/telephony.pb.h"

namespace protectogram::telephony {

enum class CallState {
  kPending,
  kDialing,
  kRinging,
  kAnswered,
  kCompleted,
  kNoAnswer,
  kBusy,
  kFailed,
  kCanceled
};

// "pending", "dialing", ... as stored in call_attempts.state.
std::string_view Name(CallState state);
std::optional<CallState> ParseCallState(std::string_view name);
v1::CallState ToProto(CallState state);
std::optional<CallState> FromProto(v1::CallState state);
bool IsTerminal(CallState state);
// A call that can still ring or talk: pending, dialing, ringing, answered.
inline bool IsLive(CallState state) { return !IsTerminal(state); }

enum class Outcome { kDigitPressed, kAnsweredNoDigit, kMachine, kNoAnswer, kBusy, kFailed, kCanceled };

// "digit_pressed", "answered_no_digit", "machine", "no_answer", "busy", "failed", "canceled": the outcome's
// name in call_attempts.outcome, OnCallOutcome and call_attempts_total{result}.
std::string_view Name(Outcome outcome);
std::optional<Outcome> ParseOutcome(std::string_view name);

// What the machine needs to know of a call.
struct CallFacts {
  CallState state = CallState::kPending;
  bool answered = false;  // answered_at is set
  bool machine = false;
  std::string digits;
  std::optional<Outcome> outcome;
  std::string valid_digits = "1";
  // Another provider is configured after the current one (TELEPHONY_PROVIDERS).
  bool has_next_provider = false;
};

// The current provider took the dial request.
struct DialAccepted {};
// The current provider could not place the call (an error, a timeout, a refusal).
struct DialFailed {
  std::string reason;  // low-cardinality: "refused", "timeout", "unavailable", ...
};
// An event of the call's current provider.
struct ProviderEvent {
  common::v1::CallEventType type = common::v1::CALL_EVENT_TYPE_OTHER;
  std::string digits;
  std::string status;        // gather status, AMD result, Twilio AnsweredBy
  std::string hangup_cause;  // Telnyx hangup_cause, Twilio CallStatus, ARI cause name
};
// Our own ring deadline passed (ring timeout + grace) with no answer.
struct RingDeadline {};
// Hangup / HangupAll.
struct CancelRequested {};
// A guardrail refused the call before it was dialed.
struct Refused {
  std::string reason;  // "spend_cap:calls_per_hour", "staging_not_allowed", "invalid_number", ...
};

using CallInput =
    std::variant<DialAccepted, DialFailed, ProviderEvent, RingDeadline, CancelRequested, Refused>;

enum class Action {
  kArmRingDeadline,  // schedule RingDeadline at ring timeout + grace
  kPrompt,           // say the prompt and gather a digit (provider.StartPrompt)
  kHangup,           // end the call at the provider
  kDialNext,         // the same attempt through the next provider
};

struct Decision {
  CallFacts next;
  // Set when this input decided the outcome (it had none before): report it.
  std::optional<Outcome> decided;
  std::string outcome_detail;  // digit_pressed: the digit; failed: the reason
  std::string failure_reason;  // when the call failed (or a provider failed over): why
  bool set_answered_at = false;
  bool set_ended_at = false;
  std::vector<Action> actions;
  // Why nothing changed, for the history ("stale: call already completed"); "" when something did.
  std::string ignored;
};

// The next step of a call. Never fails: an input that does not apply is `ignored` with the reason.
Decision Decide(const CallFacts& call, const CallInput& input);

// Whether an AMD result or Twilio AnsweredBy says a machine answered ("machine", "machine_start",
// "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"). "human", "not_sure", "unknown" and
// "" are not a machine: a person may be there, and only a pressed digit acknowledges anyway.
bool IsMachineResult(std::string_view result);

// The end state and outcome a hangup cause gives a call that was never answered:
//   user_busy, busy, call_rejected           -> busy
//   timeout, no_answer, no-answer            -> no_answer
//   originator_cancel, canceled              -> canceled
//   anything else (not_found, failed, ...)   -> failed (reason = the cause)
struct HangupVerdict {
  CallState state;
  Outcome outcome;
};
HangupVerdict VerdictOfUnansweredHangup(std::string_view cause);

}  // namespace protectogram::telephony
