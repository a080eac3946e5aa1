#include "services/telephony/call_machine.h"

#include <array>
#include <utility>

namespace protectogram::telephony {
namespace {

using common::v1::CallEventType;

constexpr std::array<std::pair<CallState, std::string_view>, 9> kStateNames = {{
    {CallState::kPending, "pending"},
    {CallState::kDialing, "dialing"},
    {CallState::kRinging, "ringing"},
    {CallState::kAnswered, "answered"},
    {CallState::kCompleted, "completed"},
    {CallState::kNoAnswer, "no_answer"},
    {CallState::kBusy, "busy"},
    {CallState::kFailed, "failed"},
    {CallState::kCanceled, "canceled"},
}};

constexpr std::array<std::pair<Outcome, std::string_view>, 7> kOutcomeNames = {{
    {Outcome::kDigitPressed, "digit_pressed"},
    {Outcome::kAnsweredNoDigit, "answered_no_digit"},
    {Outcome::kMachine, "machine"},
    {Outcome::kNoAnswer, "no_answer"},
    {Outcome::kBusy, "busy"},
    {Outcome::kFailed, "failed"},
    {Outcome::kCanceled, "canceled"},
}};

// The order the state only moves forward in; every end state ranks last.
int Rank(CallState s) { return IsTerminal(s) ? 4 : static_cast<int>(s); }

Decision Unchanged(const CallFacts& call, std::string why) {
  Decision d;
  d.next = call;
  d.ignored = std::move(why);
  return d;
}

// Ends the call with `state`, deciding `outcome` unless one was decided before.
void End(Decision& d, CallState state, Outcome outcome, std::string detail = {}) {
  d.next.state = state;
  d.set_ended_at = true;
  if (!d.next.outcome.has_value()) {
    d.next.outcome = outcome;
    d.decided = outcome;
    d.outcome_detail = std::move(detail);
  }
}

// Decides an outcome that ends the conversation while the call is still up: we hang up.
void DecideWhileUp(Decision& d, Outcome outcome, std::string detail = {}) {
  d.next.outcome = outcome;
  d.decided = outcome;
  d.outcome_detail = std::move(detail);
  d.actions.push_back(Action::kHangup);
}

Decision OnDialAccepted(const CallFacts& call) {
  // The provider answered after we gave up on the call (a hangup request raced the dial): end it there.
  if (IsTerminal(call.state)) {
    Decision d = Unchanged(call, "dial accepted after the call ended: hung up");
    d.actions.push_back(Action::kHangup);
    return d;
  }
  Decision d;
  d.next = call;
  if (Rank(call.state) < Rank(CallState::kDialing)) d.next.state = CallState::kDialing;
  d.actions.push_back(Action::kArmRingDeadline);
  return d;
}

Decision OnDialFailed(const CallFacts& call, const DialFailed& failed) {
  if (IsTerminal(call.state)) return Unchanged(call, "dial failed after the call ended");
  Decision d;
  d.next = call;
  d.failure_reason = failed.reason;
  if (call.has_next_provider) {
    d.next.state = CallState::kDialing;
    d.actions.push_back(Action::kDialNext);
    return d;
  }
  End(d, CallState::kFailed, Outcome::kFailed, failed.reason);
  return d;
}

Decision OnAnswered(const CallFacts& call, const ProviderEvent& event) {
  if (call.answered || Rank(call.state) >= Rank(CallState::kAnswered)) {
    return Unchanged(call, "already answered");
  }
  Decision d;
  d.next = call;
  d.next.state = CallState::kAnswered;
  d.next.answered = true;
  d.set_answered_at = true;
  // Twilio says who answered in the answer itself (AnsweredBy).
  if (IsMachineResult(event.status)) {
    d.next.machine = true;
    if (!call.outcome.has_value()) DecideWhileUp(d, Outcome::kMachine);
    return d;
  }
  if (!call.outcome.has_value()) d.actions.push_back(Action::kPrompt);
  return d;
}

Decision OnMachineDetection(const CallFacts& call, const ProviderEvent& event) {
  if (!IsMachineResult(event.status)) return Unchanged(call, "a person answered (" + event.status + ")");
  if (call.machine) return Unchanged(call, "machine already known");
  Decision d;
  d.next = call;
  d.next.machine = true;
  if (IsTerminal(call.state) || call.outcome.has_value()) {
    d.ignored = "machine detected after the outcome";
    return d;
  }
  DecideWhileUp(d, Outcome::kMachine);
  return d;
}

Decision OnDigits(const CallFacts& call, const ProviderEvent& event) {
  const bool gather_ended = event.type == common::v1::CALL_EVENT_TYPE_GATHER_ENDED;
  if (call.outcome.has_value()) return Unchanged(call, "outcome already decided");
  if (IsTerminal(call.state)) return Unchanged(call, "call already ended");
  const std::string digit = event.digits.empty() ? "" : event.digits.substr(0, 1);
  const bool valid = !digit.empty() && call.valid_digits.find(digit) != std::string::npos;
  Decision d;
  d.next = call;
  if (!event.digits.empty()) d.next.digits = event.digits;
  // A digit means someone picked up, even if the answer event is late.
  if (!call.answered) {
    d.next.answered = true;
    d.set_answered_at = true;
  }
  if (Rank(d.next.state) < Rank(CallState::kAnswered)) d.next.state = CallState::kAnswered;
  if (valid) {
    DecideWhileUp(d, Outcome::kDigitPressed, digit);
    return d;
  }
  // A gather that ended without a valid digit (timeout, invalid, all tries used): nobody acknowledged. A
  // gather ended by the hangup or by AMD is followed by those events, which decide.
  if (gather_ended && event.status != "call_hangup" && event.status != "cancelled_amd" &&
      event.status != "cancelled") {
    DecideWhileUp(d, Outcome::kAnsweredNoDigit);
    return d;
  }
  if (!gather_ended) d.ignored = "digit " + digit + " is not one of " + call.valid_digits;
  return d;
}

Decision OnHangup(const CallFacts& call, const ProviderEvent& event) {
  if (IsTerminal(call.state)) return Unchanged(call, "call already ended");
  Decision d;
  d.next = call;
  if (call.answered) {
    End(d, CallState::kCompleted, Outcome::kAnsweredNoDigit);
    return d;
  }
  if (call.outcome.has_value()) {
    // Decided while up (a digit before the answer event, a machine) and now over.
    End(d, CallState::kCompleted, *call.outcome);
    return d;
  }
  const HangupVerdict verdict = VerdictOfUnansweredHangup(event.hangup_cause);
  if (verdict.outcome == Outcome::kFailed) d.failure_reason = event.hangup_cause;
  End(d, verdict.state, verdict.outcome, verdict.outcome == Outcome::kFailed ? event.hangup_cause : "");
  return d;
}

Decision OnProviderEvent(const CallFacts& call, const ProviderEvent& event) {
  switch (event.type) {
    case common::v1::CALL_EVENT_TYPE_INITIATED:
      if (IsTerminal(call.state)) return Unchanged(call, "call already ended");
      if (Rank(call.state) >= Rank(CallState::kDialing)) return Unchanged(call, "already dialing");
      {
        Decision d;
        d.next = call;
        d.next.state = CallState::kDialing;
        return d;
      }
    case common::v1::CALL_EVENT_TYPE_RINGING:
      if (IsTerminal(call.state)) return Unchanged(call, "call already ended");
      if (Rank(call.state) >= Rank(CallState::kRinging))
        return Unchanged(call, "stale: already past ringing");
      {
        Decision d;
        d.next = call;
        d.next.state = CallState::kRinging;
        return d;
      }
    case common::v1::CALL_EVENT_TYPE_ANSWERED:
      if (IsTerminal(call.state)) return Unchanged(call, "call already ended");
      return OnAnswered(call, event);
    case common::v1::CALL_EVENT_TYPE_MACHINE_DETECTION_ENDED:
      return OnMachineDetection(call, event);
    case common::v1::CALL_EVENT_TYPE_DTMF:
    case common::v1::CALL_EVENT_TYPE_GATHER_ENDED:
      return OnDigits(call, event);
    case common::v1::CALL_EVENT_TYPE_HANGUP:
      return OnHangup(call, event);
    default:
      return Unchanged(call, "event not acted on");
  }
}

Decision OnRingDeadline(const CallFacts& call) {
  if (IsTerminal(call.state)) return Unchanged(call, "call already ended");
  if (call.answered) return Unchanged(call, "answered before the deadline");
  Decision d;
  d.next = call;
  End(d, CallState::kNoAnswer, Outcome::kNoAnswer);
  d.actions.push_back(Action::kHangup);
  return d;
}

Decision OnCancel(const CallFacts& call) {
  if (IsTerminal(call.state)) return Unchanged(call, "call already ended");
  Decision d;
  d.next = call;
  const bool dialed = Rank(call.state) >= Rank(CallState::kDialing);
  End(d, CallState::kCanceled, Outcome::kCanceled);
  if (dialed) d.actions.push_back(Action::kHangup);
  return d;
}

Decision OnRefused(const CallFacts& call, const Refused& refused) {
  if (IsTerminal(call.state)) return Unchanged(call, "call already ended");
  Decision d;
  d.next = call;
  d.failure_reason = refused.reason;
  End(d, CallState::kFailed, Outcome::kFailed, refused.reason);
  return d;
}

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace

std::string_view Name(CallState state) {
  for (const auto& [s, name] : kStateNames) {
    if (s == state) return name;
  }
  return "pending";
}

std::optional<CallState> ParseCallState(std::string_view name) {
  for (const auto& [s, n] : kStateNames) {
    if (n == name) return s;
  }
  return std::nullopt;
}

v1::CallState ToProto(CallState state) { return static_cast<v1::CallState>(static_cast<int>(state) + 1); }

std::optional<CallState> FromProto(v1::CallState state) {
  const int n = static_cast<int>(state);
  if (n < 1 || n > static_cast<int>(kStateNames.size())) return std::nullopt;
  return static_cast<CallState>(n - 1);
}

bool IsTerminal(CallState state) {
  return static_cast<int>(state) >= static_cast<int>(CallState::kCompleted);
}

std::string_view Name(Outcome outcome) {
  for (const auto& [o, name] : kOutcomeNames) {
    if (o == outcome) return name;
  }
  return "failed";
}

std::optional<Outcome> ParseOutcome(std::string_view name) {
  for (const auto& [o, n] : kOutcomeNames) {
    if (n == name) return o;
  }
  return std::nullopt;
}

bool IsMachineResult(std::string_view result) {
  return result == "machine" || result == "fax" || result.starts_with("machine_");
}

HangupVerdict VerdictOfUnansweredHangup(std::string_view cause) {
  if (cause == "user_busy" || cause == "busy" || cause == "call_rejected") {
    return {CallState::kBusy, Outcome::kBusy};
  }
  if (cause == "timeout" || cause == "no_answer" || cause == "no-answer" || cause == "normal_clearing" ||
      cause == "completed") {
    return {CallState::kNoAnswer, Outcome::kNoAnswer};
  }
  if (cause == "originator_cancel" || cause == "canceled") return {CallState::kCanceled, Outcome::kCanceled};
  return {CallState::kFailed, Outcome::kFailed};
}

Decision Decide(const CallFacts& call, const CallInput& input) {
  return std::visit(Overloaded{
                        [&](const DialAccepted&) { return OnDialAccepted(call); },
                        [&](const DialFailed& f) { return OnDialFailed(call, f); },
                        [&](const ProviderEvent& e) { return OnProviderEvent(call, e); },
                        [&](const RingDeadline&) { return OnRingDeadline(call); },
                        [&](const CancelRequested&) { return OnCancel(call); },
                        [&](const Refused& r) { return OnRefused(call, r); },
                    },
                    input);
}

}  // namespace protectogram::telephony
