// The panic core (services/incident/core) with a fake clock: the cascade order with the production defaults
// (the table in docs/incident.md), acknowledgement, cancel, reminders, escalation, the ring cap, stale and
// late events, repair, and the state's JSON.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/incident/core/incident_core.h"

namespace protectogram::incident::core {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

Person Traveler() {
  return Person{.user_id = 1, .name = "Анна", .phone_e164 = "+79990000001", .chat_id = "1001"};
}

Guardian MakeGuardian(int64_t user_id, int priority, Policy policy = {}) {
  return Guardian{.person = Person{.user_id = user_id,
                                   .name = absl::StrCat("G", user_id),
                                   .phone_e164 = absl::StrCat("+7999000000", user_id),
                                   .chat_id = absl::StrCat(2000 + user_id)},
                  .link_id = user_id * 10,
                  .call_priority = priority,
                  .policy = policy};
}

std::vector<Guardian> Guardians(int n) {
  std::vector<Guardian> out;
  for (int i = 0; i < n; ++i) out.push_back(MakeGuardian(10 + i, i));
  return out;
}

template <typename T>
std::vector<T> All(const std::vector<Command>& commands) {
  std::vector<T> out;
  for (const Command& c : commands) {
    if (const T* t = std::get_if<T>(&c)) out.push_back(*t);
  }
  return out;
}

template <typename T>
int Count(const std::vector<Command>& commands) {
  return static_cast<int>(All<T>(commands).size());
}

bool HasTimeline(const std::vector<Command>& commands, std::string_view what) {
  for (const TimelineEntry& t : All<TimelineEntry>(commands)) {
    if (t.what == what) return true;
  }
  return false;
}

// One row of the cascade table: when a call is placed, to whom, in which round, for how long.
struct Row {
  int64_t at_sec;
  int64_t guardian;
  int round;
  int64_t ring_sec;
  bool operator==(const Row&) const = default;
};
void PrintTo(const Row& r, std::ostream* os) {
  *os << "{t=" << r.at_sec << " g=" << r.guardian << " r=" << r.round << " ring=" << r.ring_sec << "}";
}

// Runs a whole cascade where nobody answers: each call ends with no_answer at its ring timeout (as telephony
// reports it), each round timer fires at its time. Returns the calls placed, and the time the calls ended.
struct Cascade {
  std::vector<Row> rows;
  int64_t done_at_sec = -1;
  Incident incident;
};
Cascade RunUnanswered(std::vector<Guardian> guardians, Settings settings = {}) {
  Cascade result;
  Started s = Start(7, Traveler(), std::move(guardians), settings, false, kT0);
  Incident& inc = s.incident;
  std::vector<Command> commands = s.commands;
  absl::Time now = kT0;
  for (int step = 0; step < 100 && !inc.calls_done; ++step) {
    std::vector<PlaceCall> calls = All<PlaceCall>(commands);
    std::vector<Schedule> rounds;
    for (const Schedule& sc : All<Schedule>(commands)) {
      if (sc.kind == TimerKind::kNextRound) rounds.push_back(sc);
    }
    if (!calls.empty()) {
      const PlaceCall& call = calls.front();
      result.rows.push_back({absl::ToInt64Seconds(now - kT0), call.guardian_user_id, inc.calls.back().round,
                             absl::ToInt64Seconds(call.ring_timeout)});
      now += call.ring_timeout;
      commands =
          Apply(inc, CallEnded{.attempt_key = call.attempt_key, .outcome = CallOutcome::kNoAnswer}, now);
    } else if (!rounds.empty()) {
      now = rounds.front().at;
      commands = Apply(inc, TimerFired{.kind = TimerKind::kNextRound, .seq = rounds.front().seq}, now);
    } else {
      break;
    }
  }
  if (inc.calls_done) result.done_at_sec = absl::ToInt64Seconds(now - kT0);
  result.incident = inc;
  return result;
}

// --- The cascade table (docs/incident.md) with the defaults: ring 25 s, 2 retries, backoff 60 s, cap 180 s ---

TEST(CascadeTableTest, OneGuardian) {
  Cascade c = RunUnanswered(Guardians(1));
  EXPECT_THAT(c.rows, ElementsAre(Row{0, 10, 0, 25}, Row{85, 10, 1, 25}, Row{170, 10, 2, 25}));
  EXPECT_EQ(c.done_at_sec, 195);
  EXPECT_EQ(c.incident.ring_used, absl::Seconds(75));
}

TEST(CascadeTableTest, TwoGuardians) {
  Cascade c = RunUnanswered(Guardians(2));
  EXPECT_THAT(c.rows, ElementsAre(Row{0, 10, 0, 25}, Row{25, 11, 0, 25}, Row{110, 10, 1, 25},
                                  Row{135, 11, 1, 25}, Row{220, 10, 2, 25}, Row{245, 11, 2, 25}));
  EXPECT_EQ(c.done_at_sec, 270);
  EXPECT_EQ(c.incident.ring_used, absl::Seconds(150));
}

TEST(CascadeTableTest, ThreeGuardiansStopAtTheRingCap) {
  Cascade c = RunUnanswered(Guardians(3));
  // After 7 calls 175 s have rung: 5 s are left, less than the 10 s a call needs.
  EXPECT_THAT(c.rows,
              ElementsAre(Row{0, 10, 0, 25}, Row{25, 11, 0, 25}, Row{50, 12, 0, 25}, Row{135, 10, 1, 25},
                          Row{160, 11, 1, 25}, Row{185, 12, 1, 25}, Row{270, 10, 2, 25}));
  EXPECT_EQ(c.done_at_sec, 295);
  EXPECT_EQ(c.incident.ring_used, absl::Seconds(175));
}

TEST(CascadeTableTest, CallOrderFollowsPriorityNotInsertion) {
  std::vector<Guardian> g = {MakeGuardian(30, 5), MakeGuardian(31, 1), MakeGuardian(32, 3)};
  Cascade c = RunUnanswered(g);
  ASSERT_GE(c.rows.size(), 3u);
  EXPECT_EQ(c.rows[0].guardian, 31);
  EXPECT_EQ(c.rows[1].guardian, 32);
  EXPECT_EQ(c.rows[2].guardian, 30);
}

TEST(CascadeTableTest, PerLinkRetriesAndTheSmallestBackoff) {
  // G10 takes one round only; G11 three, with a 20 s backoff: the second round waits 20 s and calls G11 only.
  std::vector<Guardian> g = {
      MakeGuardian(10, 0, Policy{.max_retries = 0}),
      MakeGuardian(
          11, 1,
          Policy{.ring_timeout = absl::Seconds(15), .max_retries = 2, .retry_backoff = absl::Seconds(20)})};
  Cascade c = RunUnanswered(g);
  EXPECT_THAT(c.rows,
              ElementsAre(Row{0, 10, 0, 25}, Row{25, 11, 0, 15}, Row{60, 11, 1, 15}, Row{95, 11, 2, 15}));
}

TEST(CascadeTableTest, TheRingCapCutsTheLastCall) {
  Settings settings;
  std::vector<Guardian> g = {
      MakeGuardian(10, 0, Policy{.ring_timeout = absl::Seconds(100), .max_retries = 0}),
      MakeGuardian(11, 1, Policy{.ring_timeout = absl::Seconds(100), .max_retries = 0})};
  Cascade c = RunUnanswered(g, settings);
  EXPECT_THAT(c.rows, ElementsAre(Row{0, 10, 0, 100}, Row{100, 11, 0, 80}));
  EXPECT_EQ(c.incident.ring_used, absl::Seconds(180));
}

TEST(CascadeTableTest, ZeroBackoffStartsTheNextRoundAtOnce) {
  std::vector<Guardian> g = {
      MakeGuardian(10, 0, Policy{.max_retries = 1, .retry_backoff = absl::ZeroDuration()})};
  Cascade c = RunUnanswered(g);
  EXPECT_THAT(c.rows, ElementsAre(Row{0, 10, 0, 25}, Row{25, 10, 1, 25}));
}

TEST(CascadeTableTest, GuardiansWithoutCallsOrPhoneAreSkipped) {
  std::vector<Guardian> g = Guardians(3);
  g[0].calls_enabled = false;
  g[1].person.phone_e164 = "";
  Cascade c = RunUnanswered(g);
  ASSERT_FALSE(c.rows.empty());
  for (const Row& r : c.rows) EXPECT_EQ(r.guardian, 12);
}

// --- Start --------------------------------------------------------------------------------------------------

TEST(StartTest, AlertsEveryTelegramGuardianOnceConfirmsAndCallsTheFirst) {
  std::vector<Guardian> g = Guardians(3);
  g[2].telegram_enabled = false;
  Started s = Start(7, Traveler(), g, Settings{}, false, kT0);
  std::vector<SendMessage> sent = All<SendMessage>(s.commands);
  std::vector<std::string> alerts;
  for (const SendMessage& m : sent) {
    if (m.template_id == "panic.alert") {
      alerts.push_back(m.chat_id);
      EXPECT_EQ(m.params.at("name"), "Анна");
      ASSERT_EQ(m.buttons.size(), 1u);
      EXPECT_EQ(m.buttons[0].template_id, "panic.alert.button_ack");
      EXPECT_EQ(m.buttons[0].data, "ack:7");
      EXPECT_TRUE(m.report);
    }
  }
  EXPECT_THAT(alerts, ElementsAre("2010", "2011"));
  EXPECT_THAT(s.incident.alerted, ElementsAre(10, 11));
  const SendMessage* confirmation = nullptr;
  for (const SendMessage& m : sent) {
    if (m.key == ConfirmationKey(7)) confirmation = &m;
  }
  ASSERT_NE(confirmation, nullptr);
  EXPECT_EQ(confirmation->chat_id, "1001");
  EXPECT_EQ(confirmation->template_id, "panic.traveler_confirmation");
  ASSERT_EQ(confirmation->buttons.size(), 1u);
  EXPECT_EQ(confirmation->buttons[0].data, "cancel:7");

  std::vector<PlaceCall> calls = All<PlaceCall>(s.commands);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].guardian_user_id, 10);
  EXPECT_EQ(calls[0].to_e164, "+799900000010");
  EXPECT_EQ(calls[0].attempt_key, "incident:7:call:1");
  EXPECT_EQ(calls[0].template_id, "call.panic_tts");
  EXPECT_EQ(calls[0].params.at("name"), "Анна");
  EXPECT_EQ(calls[0].ring_timeout, absl::Seconds(25));

  bool reminder = false, deadline = false;
  for (const Schedule& sc : All<Schedule>(s.commands)) {
    if (sc.kind == TimerKind::kReminder) {
      reminder = true;
      EXPECT_EQ(sc.seq, 1);
      EXPECT_EQ(sc.at, kT0 + absl::Seconds(120));
      EXPECT_EQ(sc.key.rfind(TimerPrefix(7), 0), 0u) << sc.key;
    }
    if (sc.kind == TimerKind::kCallDeadline) {
      deadline = true;
      EXPECT_EQ(sc.at, kT0 + absl::Seconds(25) + Settings{}.outcome_grace);
    }
  }
  EXPECT_TRUE(reminder);
  EXPECT_TRUE(deadline);
  EXPECT_TRUE(HasTimeline(s.commands, "panic"));
  EXPECT_TRUE(HasTimeline(s.commands, "call_placed"));
}

TEST(StartTest, TellsTheOperatorsWhenTheyHaveAChat) {
  Settings settings;
  settings.operator_chat_id = "-100500";
  Started s = Start(7, Traveler(), Guardians(1), settings, false, kT0);
  bool told = false;
  for (const SendMessage& m : All<SendMessage>(s.commands)) {
    if (m.chat_id == "-100500") {
      told = true;
      EXPECT_EQ(m.template_id, "operator.incident_opened");
      EXPECT_EQ(m.params.at("incident_id"), "7");
    }
  }
  EXPECT_TRUE(told);
}

// --- Calls ending -------------------------------------------------------------------------------------------

class ActiveIncidentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Started s = Start(7, Traveler(), Guardians(3), Settings{}, false, kT0);
    inc_ = s.incident;
  }
  std::vector<Command> End(int call, CallOutcome outcome, absl::Duration after, std::string digit = "") {
    return Apply(inc_, CallEnded{.attempt_key = AttemptKey(7, call), .outcome = outcome, .digit = digit},
                 kT0 + after);
  }
  Incident inc_;
};

TEST_F(ActiveIncidentTest, EveryOutcomeWithoutTheDigitMovesOnAtOnce) {
  for (CallOutcome o : {CallOutcome::kBusy, CallOutcome::kFailed, CallOutcome::kMachine,
                        CallOutcome::kAnsweredNoDigit, CallOutcome::kCanceled, CallOutcome::kNoAnswer}) {
    SetUp();
    std::vector<Command> out = End(1, o, absl::Seconds(3));
    std::vector<PlaceCall> calls = All<PlaceCall>(out);
    ASSERT_EQ(calls.size(), 1u) << CallOutcomeName(o);
    EXPECT_EQ(calls[0].guardian_user_id, 11);
    EXPECT_EQ(inc_.ring_used, absl::Seconds(3)) << "a call is charged what it rang";
  }
}

TEST_F(ActiveIncidentTest, ADigitOtherThanOneIsNotAnAcknowledgement) {
  std::vector<Command> out = End(1, CallOutcome::kDigitPressed, absl::Seconds(9), "5");
  EXPECT_EQ(inc_.status, Status::kActive);
  EXPECT_EQ(Count<PlaceCall>(out), 1);
}

TEST_F(ActiveIncidentTest, DigitOneAcknowledgesAndStopsEverything) {
  End(1, CallOutcome::kNoAnswer, absl::Seconds(25));
  std::vector<Command> out = End(2, CallOutcome::kDigitPressed, absl::Seconds(40), "1");
  EXPECT_EQ(inc_.status, Status::kAcknowledged);
  EXPECT_EQ(inc_.acknowledged_by, 11);
  EXPECT_EQ(inc_.acknowledged_via, "call");
  EXPECT_EQ(Count<PlaceCall>(out), 0);
  EXPECT_EQ(Count<CancelTimers>(out), 1);
  ASSERT_EQ(Count<HangupAll>(out), 1);
  EXPECT_EQ(All<HangupAll>(out)[0].correlation_id, "incident:7");
  std::map<std::string, SendMessage> by_template;
  for (const SendMessage& m : All<SendMessage>(out)) by_template[m.template_id] = m;
  ASSERT_TRUE(by_template.count("panic.acknowledged_traveler"));
  EXPECT_EQ(by_template["panic.acknowledged_traveler"].chat_id, "1001");
  EXPECT_EQ(by_template["panic.acknowledged_traveler"].params.at("guardian"), "G11");
  ASSERT_TRUE(by_template.count("panic.acknowledged_self"));
  EXPECT_EQ(by_template["panic.acknowledged_self"].chat_id, "2011");
  EXPECT_EQ(by_template["panic.acknowledged_self"].params.at("phone"), "+79990000001");
  // Every alert is edited to say who took it, without the button.
  std::vector<std::string> edited;
  for (const EditMessage& e : All<EditMessage>(out)) {
    if (e.template_id == "panic.acknowledged_other") {
      edited.push_back(e.target_key);
      EXPECT_EQ(e.params.at("guardian"), "G11");
      EXPECT_TRUE(e.remove_keyboard);
    }
  }
  EXPECT_THAT(edited, ElementsAre(AlertKey(7, 10), AlertKey(7, 11), AlertKey(7, 12)));
  // Nothing afterwards places a call or sends a reminder.
  EXPECT_THAT(Apply(inc_, TimerFired{.kind = TimerKind::kReminder, .seq = 1}, kT0 + absl::Seconds(120)),
              IsEmpty());
  EXPECT_THAT(End(3, CallOutcome::kNoAnswer, absl::Seconds(50)), IsEmpty());
}

TEST_F(ActiveIncidentTest, ButtonWhileACallRingsHangsItUp) {
  std::vector<Command> out =
      Apply(inc_, AckPressed{.user_id = 12, .callback_id = "cb-1"}, kT0 + absl::Seconds(5));
  EXPECT_EQ(inc_.status, Status::kAcknowledged);
  EXPECT_EQ(inc_.acknowledged_by, 12);
  EXPECT_EQ(Count<HangupAll>(out), 1);
  std::vector<AnswerCallback> answers = All<AnswerCallback>(out);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].callback_id, "cb-1");
  EXPECT_EQ(answers[0].template_id, "panic.ack_thanks");
  // The call's outcome arriving afterwards changes nothing.
  EXPECT_EQ(Count<PlaceCall>(End(1, CallOutcome::kCanceled, absl::Seconds(6))), 0);
}

TEST_F(ActiveIncidentTest, TheSecondPressIsToldWhoWon) {
  Apply(inc_, AckPressed{.user_id = 12, .callback_id = "cb-1"}, kT0 + absl::Seconds(5));
  const std::string before = ToJson(inc_);
  std::vector<Command> out =
      Apply(inc_, AckPressed{.user_id = 10, .callback_id = "cb-2"}, kT0 + absl::Seconds(5));
  EXPECT_EQ(ToJson(inc_), before);
  ASSERT_EQ(out.size(), 1u);
  const AnswerCallback& a = std::get<AnswerCallback>(out[0]);
  EXPECT_EQ(a.template_id, "panic.already_acknowledged");
  EXPECT_EQ(a.params.at("guardian"), "G12");
  // A 1 pressed on a call after that is a late press too.
  EXPECT_THAT(End(1, CallOutcome::kDigitPressed, absl::Seconds(8), "1"), Not(IsEmpty()));
  EXPECT_EQ(inc_.acknowledged_by, 12);
}

TEST_F(ActiveIncidentTest, APressFromSomeoneElseChangesNothing) {
  const std::string before = ToJson(inc_);
  std::vector<Command> out = Apply(inc_, AckPressed{.user_id = 99, .callback_id = "cb-x"}, kT0);
  EXPECT_EQ(ToJson(inc_), before);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::get<AnswerCallback>(out[0]).template_id, "panic.not_your_alert");
  // Not even the traveler can acknowledge their own alarm.
  Apply(inc_, AckPressed{.user_id = 1, .callback_id = "cb-y"}, kT0);
  EXPECT_EQ(inc_.status, Status::kActive);
}

TEST_F(ActiveIncidentTest, CancelStopsEverythingAndTellsTheGuardians) {
  std::vector<Command> out =
      Apply(inc_, CancelRequested{.user_id = 1, .callback_id = "cb-c"}, kT0 + absl::Seconds(7));
  EXPECT_EQ(inc_.status, Status::kCanceled);
  EXPECT_EQ(Count<CancelTimers>(out), 1);
  EXPECT_EQ(Count<HangupAll>(out), 1);
  int told = 0;
  for (const SendMessage& m : All<SendMessage>(out)) {
    if (m.template_id == "panic.canceled_guardian") ++told;
  }
  EXPECT_EQ(told, 3);
  EXPECT_TRUE(HasTimeline(out, "canceled"));
  // Later: no call, no message (the live call's end is only recorded), an ack press is told it is closed.
  std::vector<Command> ended = End(1, CallOutcome::kNoAnswer, absl::Seconds(25));
  EXPECT_EQ(Count<PlaceCall>(ended), 0);
  EXPECT_EQ(Count<SendMessage>(ended), 0);
  EXPECT_EQ(inc_.calls[0].outcome, "no_answer");
  std::vector<Command> late =
      Apply(inc_, AckPressed{.user_id = 10, .callback_id = "cb-z"}, kT0 + absl::Seconds(8));
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(std::get<AnswerCallback>(late[0]).template_id, "panic.alert_closed");
}

TEST_F(ActiveIncidentTest, OnlyTheTravelerOrAnOperatorCancels) {
  Apply(inc_, CancelRequested{.user_id = 10, .callback_id = "cb"}, kT0);
  EXPECT_EQ(inc_.status, Status::kActive);
  Apply(inc_, CancelRequested{.by_operator = true, .reason = "test"}, kT0);
  EXPECT_EQ(inc_.status, Status::kCanceled);
}

TEST_F(ActiveIncidentTest, ADeadlineHangsUpAndMovesOn) {
  std::vector<Command> out =
      Apply(inc_, TimerFired{.kind = TimerKind::kCallDeadline, .seq = 1}, kT0 + absl::Seconds(85));
  ASSERT_EQ(Count<HangupCall>(out), 1);
  EXPECT_EQ(All<HangupCall>(out)[0].attempt_key, AttemptKey(7, 1));
  ASSERT_EQ(Count<PlaceCall>(out), 1);
  EXPECT_EQ(All<PlaceCall>(out)[0].guardian_user_id, 11);
  EXPECT_EQ(inc_.calls[0].outcome, "deadline");
  EXPECT_EQ(inc_.ring_used, absl::Seconds(25));
  // The outcome that was late changes nothing; a late 1 on it still acknowledges.
  EXPECT_THAT(End(1, CallOutcome::kNoAnswer, absl::Seconds(86)), IsEmpty());
  End(1, CallOutcome::kDigitPressed, absl::Seconds(87), "1");
  EXPECT_EQ(inc_.status, Status::kAcknowledged);
  EXPECT_EQ(inc_.acknowledged_by, 10);
}

TEST_F(ActiveIncidentTest, StaleAndForeignEventsChangeNothing) {
  const std::string before = ToJson(inc_);
  EXPECT_THAT(Apply(inc_, TimerFired{.kind = TimerKind::kNextRound, .seq = 1}, kT0), IsEmpty());
  EXPECT_THAT(Apply(inc_, TimerFired{.kind = TimerKind::kReminder, .seq = 2}, kT0), IsEmpty());
  EXPECT_THAT(Apply(inc_, TimerFired{.kind = TimerKind::kCallDeadline, .seq = 5}, kT0), IsEmpty());
  EXPECT_THAT(Apply(inc_, CallEnded{.attempt_key = AttemptKey(8, 1)}, kT0), IsEmpty());
  EXPECT_THAT(Apply(inc_, CallEnded{.attempt_key = "garbage"}, kT0), IsEmpty());
  EXPECT_THAT(Apply(inc_, CallEnded{.attempt_key = AttemptKey(7, 2)}, kT0), IsEmpty());
  EXPECT_EQ(ToJson(inc_), before);
  // A duplicate outcome: the first moves on, the second does nothing.
  EXPECT_EQ(Count<PlaceCall>(End(1, CallOutcome::kBusy, absl::Seconds(2))), 1);
  EXPECT_THAT(End(1, CallOutcome::kBusy, absl::Seconds(2)), IsEmpty());
}

// --- Reminders and escalation ---------------------------------------------------------------------------

TEST(ReminderTest, EveryIntervalToTheAlertedGuardiansThenTheOperators) {
  Settings settings;
  settings.operator_chat_id = "-1";
  std::vector<Guardian> g = Guardians(2);
  g[1].telegram_enabled = false;
  Started s = Start(7, Traveler(), g, settings, false, kT0);
  Incident inc = s.incident;
  int seq = 1;
  absl::Time at = kT0 + absl::Seconds(120);
  int reminders = 0;
  for (; seq < 1000; ++seq) {
    std::vector<Command> out = Apply(inc, TimerFired{.kind = TimerKind::kReminder, .seq = seq}, at);
    if (inc.status == Status::kEscalated) {
      EXPECT_EQ(at, kT0 + absl::Hours(2));
      bool operators = false;
      for (const SendMessage& m : All<SendMessage>(out)) {
        operators |= m.template_id == "operator.incident_escalated" && m.chat_id == "-1";
      }
      EXPECT_TRUE(operators);
      EXPECT_EQ(Count<CancelTimers>(out), 1);
      break;
    }
    std::vector<SendMessage> sent = All<SendMessage>(out);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].chat_id, "2010");
    EXPECT_EQ(sent[0].template_id, "panic.reminder");
    ASSERT_EQ(sent[0].buttons.size(), 1u);
    ++reminders;
    std::vector<Schedule> next = All<Schedule>(out);
    ASSERT_EQ(next.size(), 1u);
    EXPECT_EQ(next[0].seq, seq + 1);
    at = next[0].at;
  }
  EXPECT_EQ(reminders, 59);  // at 2, 4, ..., 118 minutes
  // Escalated: still takes an ack.
  Apply(inc, AckPressed{.user_id = 11}, at + absl::Minutes(1));
  EXPECT_EQ(inc.status, Status::kAcknowledged);
}

// --- Repair ------------------------------------------------------------------------------------------

TEST(RepairTest, PutsTheNextStepsBackUnderNewKeys) {
  Started s = Start(7, Traveler(), Guardians(2), Settings{}, false, kT0);
  Incident inc = s.incident;
  std::vector<Command> out = Apply(inc, Repair{}, kT0 + absl::Seconds(3));
  std::vector<Schedule> sc = All<Schedule>(out);
  ASSERT_EQ(sc.size(), 2u);  // the reminder and the live call's deadline
  for (const Schedule& x : sc) EXPECT_THAT(x.key, ::testing::EndsWith(":r1"));
  EXPECT_EQ(inc.repairs, 1);
  EXPECT_TRUE(HasTimeline(out, "repaired"));
  Apply(inc, CancelRequested{.user_id = 1}, kT0 + absl::Seconds(4));
  EXPECT_THAT(Apply(inc, Repair{}, kT0 + absl::Seconds(5)), IsEmpty());
}

// --- State -------------------------------------------------------------------------------------------

TEST(StateJsonTest, RoundTripsEveryField) {
  Settings settings;
  settings.operator_chat_id = "-5";
  Started s = Start(7, Traveler(), Guardians(3), settings, true, kT0);
  Incident inc = s.incident;
  Apply(inc, CallEnded{.attempt_key = AttemptKey(7, 1), .outcome = CallOutcome::kBusy},
        kT0 + absl::Seconds(4));
  Apply(inc, TimerFired{.kind = TimerKind::kReminder, .seq = 1}, kT0 + absl::Seconds(120));
  Apply(inc, Repair{}, kT0 + absl::Seconds(121));
  const std::string json = ToJson(inc);
  absl::StatusOr<Incident> back = FromJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(ToJson(*back), json);
  EXPECT_EQ(back->calls.size(), 2u);
  EXPECT_TRUE(back->is_test);
  // The reloaded state decides exactly as the original.
  Incident a = inc, b = *back;
  const auto ea = Apply(a, AckPressed{.user_id = 11, .callback_id = "x"}, kT0 + absl::Seconds(130));
  const auto eb = Apply(b, AckPressed{.user_id = 11, .callback_id = "x"}, kT0 + absl::Seconds(130));
  EXPECT_EQ(ToJson(a), ToJson(b));
  EXPECT_EQ(ea.size(), eb.size());
}

TEST(StateJsonTest, RefusesWhatItCouldNotHaveWritten) {
  EXPECT_FALSE(FromJson("").ok());
  EXPECT_FALSE(FromJson("[]").ok());
  EXPECT_FALSE(FromJson(R"({"version":2})").ok());
  Started s = Start(7, Traveler(), Guardians(1), Settings{}, false, kT0);
  std::string json = ToJson(s.incident);
  std::string bad_status = json;
  bad_status.replace(bad_status.find("\"active\""), 8, "\"asleep\"");
  EXPECT_FALSE(FromJson(bad_status).ok());
  std::string no_calls = json;
  no_calls.replace(no_calls.find("\"calls\":"), 8, "\"callz\":");
  EXPECT_FALSE(FromJson(no_calls).ok());
}

TEST(NamesTest, AttemptKeysRoundTrip) {
  EXPECT_EQ(AttemptKey(42, 3), "incident:42:call:3");
  auto parsed = ParseAttemptKey("incident:42:call:3");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->first, 42);
  EXPECT_EQ(parsed->second, 3);
  for (const char* bad : {"", "incident:42:call:", "incident:x:call:1", "incident:42:calls:1",
                          "incident:42:call:1:2", "incident:0:call:1", "incident:4:call:-1", "testcall:1"}) {
    EXPECT_FALSE(ParseAttemptKey(bad).has_value()) << bad;
  }
  EXPECT_EQ(ParseAlertKey(AlertKey(42, 7)), std::make_pair(int64_t{42}, int64_t{7}));
  EXPECT_FALSE(ParseAlertKey("incident:42:call:7").has_value());
  EXPECT_FALSE(ParseAlertKey("incident:42:alert:x").has_value());
  EXPECT_EQ(ParseStatus("escalated"), Status::kEscalated);
  EXPECT_FALSE(ParseStatus("closed").has_value());
  for (CallOutcome o : {CallOutcome::kDigitPressed, CallOutcome::kDeadline, CallOutcome::kBusy}) {
    EXPECT_EQ(ParseCallOutcome(CallOutcomeName(o)), o);
  }
  EXPECT_EQ(ParseTimerKind("next_round"), TimerKind::kNextRound);
  EXPECT_FALSE(ParseTimerKind("nap").has_value());
}

}  // namespace
}  // namespace protectogram::incident::core
