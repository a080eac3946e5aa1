// The call state machine (services/telephony/call_machine.h): every input in every state, and the orders
// providers really deliver events in: late, twice, out of order.
#include "services/telephony/call_machine.h"

#include <gtest/gtest.h>

#include <vector>

namespace protectogram::telephony {
namespace {

using common::v1::CallEventType;

ProviderEvent Event(CallEventType type, std::string digits = "", std::string status = "",
                    std::string cause = "") {
  return ProviderEvent{.type = type,
                       .digits = std::move(digits),
                       .status = std::move(status),
                       .hangup_cause = std::move(cause)};
}
ProviderEvent Answered(std::string answered_by = "") {
  return Event(common::v1::CALL_EVENT_TYPE_ANSWERED, "", std::move(answered_by));
}
ProviderEvent Ringing() { return Event(common::v1::CALL_EVENT_TYPE_RINGING); }
ProviderEvent Gather(std::string digits, std::string status) {
  return Event(common::v1::CALL_EVENT_TYPE_GATHER_ENDED, std::move(digits), std::move(status));
}
ProviderEvent Dtmf(std::string digit) { return Event(common::v1::CALL_EVENT_TYPE_DTMF, std::move(digit)); }
ProviderEvent Amd(std::string result) {
  return Event(common::v1::CALL_EVENT_TYPE_MACHINE_DETECTION_ENDED, "", std::move(result));
}
ProviderEvent Hangup(std::string cause) {
  return Event(common::v1::CALL_EVENT_TYPE_HANGUP, "", "", std::move(cause));
}

bool Has(const Decision& d, Action a) {
  return std::find(d.actions.begin(), d.actions.end(), a) != d.actions.end();
}

// Runs the inputs in order from a new call; returns every decision.
std::vector<Decision> Play(const std::vector<CallInput>& inputs, CallFacts call = {}) {
  std::vector<Decision> out;
  for (const CallInput& in : inputs) {
    out.push_back(Decide(call, in));
    call = out.back().next;
  }
  return out;
}

std::vector<Outcome> Decided(const std::vector<Decision>& ds) {
  std::vector<Outcome> out;
  for (const Decision& d : ds) {
    if (d.decided.has_value()) out.push_back(*d.decided);
  }
  return out;
}

TEST(CallMachineTest, NamesRoundTrip) {
  for (CallState s : {CallState::kPending, CallState::kDialing, CallState::kRinging, CallState::kAnswered,
                      CallState::kCompleted, CallState::kNoAnswer, CallState::kBusy, CallState::kFailed,
                      CallState::kCanceled}) {
    EXPECT_EQ(ParseCallState(Name(s)), s);
    EXPECT_EQ(FromProto(ToProto(s)), s);
  }
  EXPECT_EQ(ToProto(CallState::kPending), v1::CALL_STATE_PENDING);
  EXPECT_EQ(ToProto(CallState::kCanceled), v1::CALL_STATE_CANCELED);
  EXPECT_FALSE(FromProto(v1::CALL_STATE_UNSPECIFIED).has_value());
  for (Outcome o : {Outcome::kDigitPressed, Outcome::kAnsweredNoDigit, Outcome::kMachine, Outcome::kNoAnswer,
                    Outcome::kBusy, Outcome::kFailed, Outcome::kCanceled}) {
    EXPECT_EQ(ParseOutcome(Name(o)), o);
  }
  EXPECT_EQ(Name(Outcome::kDigitPressed), "digit_pressed");
  EXPECT_FALSE(ParseCallState("ringing ").has_value());
}

TEST(CallMachineTest, AnsweredAndPressedOne) {
  std::vector<Decision> ds = Play({DialAccepted{}, Event(common::v1::CALL_EVENT_TYPE_INITIATED), Ringing(),
                                   Answered(), Gather("1", "valid"), Hangup("normal_clearing")});
  EXPECT_TRUE(Has(ds[0], Action::kArmRingDeadline));
  EXPECT_EQ(ds[0].next.state, CallState::kDialing);
  EXPECT_EQ(ds[2].next.state, CallState::kRinging);
  EXPECT_EQ(ds[3].next.state, CallState::kAnswered);
  EXPECT_TRUE(ds[3].set_answered_at);
  EXPECT_TRUE(Has(ds[3], Action::kPrompt));
  ASSERT_EQ(ds[4].decided, Outcome::kDigitPressed);
  EXPECT_EQ(ds[4].outcome_detail, "1");
  EXPECT_TRUE(Has(ds[4], Action::kHangup));
  EXPECT_EQ(ds[5].next.state, CallState::kCompleted);
  EXPECT_TRUE(ds[5].set_ended_at);
  EXPECT_EQ(Decided(ds), std::vector<Outcome>{Outcome::kDigitPressed});
}

TEST(CallMachineTest, DtmfEventDecidesToo) {
  std::vector<Decision> ds = Play({DialAccepted{}, Answered(), Dtmf("1")});
  EXPECT_EQ(ds[2].decided, Outcome::kDigitPressed);
}

TEST(CallMachineTest, AnotherDigitIsNotAnAcknowledgement) {
  std::vector<Decision> ds = Play({DialAccepted{}, Answered(), Dtmf("5"), Dtmf("1")});
  EXPECT_FALSE(ds[2].decided.has_value());
  EXPECT_FALSE(ds[2].ignored.empty());
  EXPECT_EQ(ds[3].decided, Outcome::kDigitPressed);
  // With other valid digits configured.
  CallFacts call;
  call.valid_digits = "12";
  EXPECT_EQ(Play({Answered(), Dtmf("2")}, call)[1].decided, Outcome::kDigitPressed);
}

TEST(CallMachineTest, GatherTimeoutIsAnsweredNoDigit) {
  for (const char* status : {"timeout", "invalid"}) {
    std::vector<Decision> ds =
        Play({DialAccepted{}, Answered(), Gather("", status), Hangup("normal_clearing")});
    EXPECT_EQ(ds[2].decided, Outcome::kAnsweredNoDigit) << status;
    EXPECT_TRUE(Has(ds[2], Action::kHangup));
    EXPECT_EQ(ds[3].next.state, CallState::kCompleted);
    EXPECT_EQ(Decided(ds).size(), 1u);
  }
}

TEST(CallMachineTest, GatherEndedByHangupLetsTheHangupDecide) {
  std::vector<Decision> ds =
      Play({DialAccepted{}, Answered(), Gather("", "call_hangup"), Hangup("normal_clearing")});
  EXPECT_FALSE(ds[2].decided.has_value());
  EXPECT_EQ(ds[3].decided, Outcome::kAnsweredNoDigit);
  EXPECT_EQ(ds[3].next.state, CallState::kCompleted);
}

TEST(CallMachineTest, MachineIsNotAnswered) {
  // Telnyx: answered, then AMD says machine (the gather is cancelled by AMD).
  std::vector<Decision> ds = Play(
      {DialAccepted{}, Answered(), Amd("machine"), Gather("", "cancelled_amd"), Hangup("normal_clearing")});
  EXPECT_EQ(ds[2].decided, Outcome::kMachine);
  EXPECT_TRUE(ds[2].next.machine);
  EXPECT_TRUE(Has(ds[2], Action::kHangup));
  EXPECT_EQ(Decided(ds), std::vector<Outcome>{Outcome::kMachine});
  EXPECT_EQ(ds[4].next.state, CallState::kCompleted);
}

TEST(CallMachineTest, TwilioAnsweredByMachineDecidesAtTheAnswer) {
  for (const char* by : {"machine_start", "machine_end_beep", "fax"}) {
    std::vector<Decision> ds = Play({DialAccepted{}, Answered(by)});
    EXPECT_EQ(ds[1].decided, Outcome::kMachine) << by;
    EXPECT_FALSE(Has(ds[1], Action::kPrompt));
    EXPECT_TRUE(Has(ds[1], Action::kHangup));
  }
  std::vector<Decision> human = Play({DialAccepted{}, Answered("human")});
  EXPECT_FALSE(human[1].decided.has_value());
  EXPECT_TRUE(Has(human[1], Action::kPrompt));
}

TEST(CallMachineTest, HumanOrUnsureAmdChangesNothing) {
  for (const char* result : {"human", "not_sure", "unknown", ""}) {
    EXPECT_FALSE(IsMachineResult(result)) << result;
    std::vector<Decision> ds = Play({DialAccepted{}, Answered(), Amd(result), Gather("1", "valid")});
    EXPECT_FALSE(ds[2].decided.has_value());
    EXPECT_EQ(ds[3].decided, Outcome::kDigitPressed);
  }
}

TEST(CallMachineTest, MachineAfterTheDigitKeepsTheDigit) {
  std::vector<Decision> ds = Play({Answered(), Gather("1", "valid"), Amd("machine")});
  EXPECT_EQ(Decided(ds), std::vector<Outcome>{Outcome::kDigitPressed});
  EXPECT_TRUE(ds[2].next.machine);  // recorded, not reported
}

TEST(CallMachineTest, UnansweredHangupCauses) {
  struct Case {
    const char* cause;
    CallState state;
    Outcome outcome;
  } cases[] = {
      {"timeout", CallState::kNoAnswer, Outcome::kNoAnswer},
      {"no_answer", CallState::kNoAnswer, Outcome::kNoAnswer},
      {"no-answer", CallState::kNoAnswer, Outcome::kNoAnswer},
      {"user_busy", CallState::kBusy, Outcome::kBusy},
      {"busy", CallState::kBusy, Outcome::kBusy},
      {"call_rejected", CallState::kBusy, Outcome::kBusy},
      {"originator_cancel", CallState::kCanceled, Outcome::kCanceled},
      {"not_found", CallState::kFailed, Outcome::kFailed},
      {"failed", CallState::kFailed, Outcome::kFailed},
  };
  for (const Case& c : cases) {
    std::vector<Decision> ds = Play({DialAccepted{}, Ringing(), Hangup(c.cause)});
    EXPECT_EQ(ds[2].next.state, c.state) << c.cause;
    EXPECT_EQ(ds[2].decided, c.outcome) << c.cause;
    EXPECT_TRUE(ds[2].set_ended_at);
  }
  EXPECT_EQ(Play({DialAccepted{}, Hangup("not_found")})[1].outcome_detail, "not_found");
}

TEST(CallMachineTest, RingDeadlineEndsAnUnansweredCallOnce) {
  std::vector<Decision> ds =
      Play({DialAccepted{}, Ringing(), RingDeadline{}, Hangup("timeout"), RingDeadline{}});
  EXPECT_EQ(ds[2].decided, Outcome::kNoAnswer);
  EXPECT_EQ(ds[2].next.state, CallState::kNoAnswer);
  EXPECT_TRUE(Has(ds[2], Action::kHangup));
  EXPECT_EQ(Decided(ds), std::vector<Outcome>{Outcome::kNoAnswer});
  EXPECT_FALSE(ds[3].ignored.empty());
  // An answered call is not touched by the deadline.
  std::vector<Decision> answered = Play({DialAccepted{}, Answered(), RingDeadline{}});
  EXPECT_FALSE(answered[2].decided.has_value());
  EXPECT_EQ(answered[2].next.state, CallState::kAnswered);
}

TEST(CallMachineTest, StateOnlyMovesForward) {
  // Out of order: ringing and initiated after the answer; a second answer; a hangup twice.
  std::vector<Decision> ds = Play(
      {DialAccepted{}, Answered(), Ringing(), Event(common::v1::CALL_EVENT_TYPE_INITIATED), Answered(),
       Gather("1", "valid"), Hangup("normal_clearing"), Hangup("normal_clearing"), Ringing(), Answered()});
  EXPECT_EQ(ds[2].next.state, CallState::kAnswered);
  EXPECT_EQ(ds[3].next.state, CallState::kAnswered);
  EXPECT_FALSE(Has(ds[4], Action::kPrompt));  // no second prompt
  EXPECT_EQ(ds[7].next.state, CallState::kCompleted);
  EXPECT_EQ(ds[9].next.state, CallState::kCompleted);
  EXPECT_EQ(Decided(ds), std::vector<Outcome>{Outcome::kDigitPressed});
}

TEST(CallMachineTest, HangupBeforeTheGatherStillReportsTheDigitOnce) {
  // Telnyx may deliver call.hangup before call.gather.ended.
  std::vector<Decision> ds =
      Play({DialAccepted{}, Answered(), Hangup("normal_clearing"), Gather("1", "valid")});
  EXPECT_EQ(Decided(ds), std::vector<Outcome>{Outcome::kAnsweredNoDigit});
  EXPECT_FALSE(ds[3].ignored.empty());
}

TEST(CallMachineTest, DigitBeforeTheAnswerEventCountsAsAnswered) {
  std::vector<Decision> ds = Play({DialAccepted{}, Gather("1", "valid"), Answered()});
  EXPECT_EQ(ds[1].decided, Outcome::kDigitPressed);
  EXPECT_TRUE(ds[1].set_answered_at);
  EXPECT_FALSE(Has(ds[2], Action::kPrompt));
}

TEST(CallMachineTest, DialFailureFailsOverOrFails) {
  CallFacts call;
  call.has_next_provider = true;
  Decision over = Decide(call, DialFailed{"timeout"});
  EXPECT_TRUE(Has(over, Action::kDialNext));
  EXPECT_FALSE(over.decided.has_value());
  EXPECT_EQ(over.failure_reason, "timeout");
  EXPECT_EQ(over.next.state, CallState::kDialing);
  call.has_next_provider = false;
  Decision last = Decide(call, DialFailed{"refused"});
  EXPECT_EQ(last.decided, Outcome::kFailed);
  EXPECT_EQ(last.outcome_detail, "refused");
  EXPECT_EQ(last.next.state, CallState::kFailed);
}

TEST(CallMachineTest, CancelEndsALiveCallOnce) {
  // Before dialing: nothing to hang up.
  Decision pending = Decide(CallFacts{}, CancelRequested{});
  EXPECT_EQ(pending.decided, Outcome::kCanceled);
  EXPECT_FALSE(Has(pending, Action::kHangup));
  std::vector<Decision> ds =
      Play({DialAccepted{}, Ringing(), CancelRequested{}, Hangup("originator_cancel"), CancelRequested{}});
  EXPECT_EQ(ds[2].decided, Outcome::kCanceled);
  EXPECT_TRUE(Has(ds[2], Action::kHangup));
  EXPECT_EQ(ds[2].next.state, CallState::kCanceled);
  EXPECT_EQ(Decided(ds), std::vector<Outcome>{Outcome::kCanceled});
  // After the outcome, a cancel changes nothing.
  std::vector<Decision> done =
      Play({Answered(), Gather("1", "valid"), Hangup("normal_clearing"), CancelRequested{}});
  EXPECT_EQ(Decided(done), std::vector<Outcome>{Outcome::kDigitPressed});
  EXPECT_EQ(done[3].next.state, CallState::kCompleted);
}

TEST(CallMachineTest, DialAcceptedAfterCancelHangsUp) {
  std::vector<Decision> ds = Play({CancelRequested{}, DialAccepted{}});
  EXPECT_TRUE(Has(ds[1], Action::kHangup));
  EXPECT_EQ(ds[1].next.state, CallState::kCanceled);
  EXPECT_FALSE(ds[1].decided.has_value());
}

TEST(CallMachineTest, RefusedFailsWithTheReason) {
  Decision d = Decide(CallFacts{}, Refused{"spend_cap:calls_per_hour"});
  EXPECT_EQ(d.decided, Outcome::kFailed);
  EXPECT_EQ(d.outcome_detail, "spend_cap:calls_per_hour");
  EXPECT_EQ(d.next.state, CallState::kFailed);
  EXPECT_TRUE(d.set_ended_at);
}

// Every pair of inputs, in every order, from every state: the outcome is decided at most once and a terminal
// state never changes.
TEST(CallMachineTest, ExhaustivePairsNeverDecideTwiceOrLeaveATerminalState) {
  std::vector<CallInput> inputs = {DialAccepted{},
                                   DialFailed{"x"},
                                   Ringing(),
                                   Answered(),
                                   Answered("machine_start"),
                                   Amd("machine"),
                                   Amd("human"),
                                   Dtmf("1"),
                                   Dtmf("9"),
                                   Gather("1", "valid"),
                                   Gather("", "timeout"),
                                   Gather("", "call_hangup"),
                                   Hangup("normal_clearing"),
                                   Hangup("user_busy"),
                                   Hangup("timeout"),
                                   RingDeadline{},
                                   CancelRequested{},
                                   Refused{"r"}};
  for (bool next_provider : {false, true}) {
    for (size_t a = 0; a < inputs.size(); ++a) {
      for (size_t b = 0; b < inputs.size(); ++b) {
        for (size_t c = 0; c < inputs.size(); ++c) {
          CallFacts call;
          call.has_next_provider = next_provider;
          std::vector<Decision> ds = Play({inputs[a], inputs[b], inputs[c]}, call);
          EXPECT_LE(Decided(ds).size(), 1u) << a << "," << b << "," << c;
          for (size_t i = 1; i < ds.size(); ++i) {
            if (IsTerminal(ds[i - 1].next.state)) {
              EXPECT_EQ(ds[i].next.state, ds[i - 1].next.state) << a << "," << b << "," << c;
            }
          }
          // A decided outcome is always kept.
          for (size_t i = 1; i < ds.size(); ++i) {
            if (ds[i - 1].next.outcome.has_value()) {
              EXPECT_EQ(ds[i].next.outcome, ds[i - 1].next.outcome);
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace protectogram::telephony
