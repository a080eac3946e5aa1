// Panic v1 across real processes: protectogram-edge, -incident, -notification and -telephony on the harness
// Postgres, with the Telegram Bot API and Telnyx Call Control faked at the network boundary (FakeBotApi takes
// the notification service's sends; FakeTelnyx places calls and posts signed webhooks to the edge). Every
// step is driven by real signed webhooks: Telegram updates to /webhook/main, Telnyx events to /telnyx/webhook.
// Ring times are scaled down by the Telnyx fake (time_scale 0.02: a 25 s ring in 0.5 s); backoffs, reminders,
// leases shortened through configuration (the fixture's and each test's incident_env_), never slept through.
//
// Tests that act while a call rings run the fake at time_scale 1: the call then rings for the incident's own
// 25 s, far longer than the test needs it to. So does the ring-cap test, because the incident charges each
// call's wall-clock ringing against the cap: it shortens the ring timeout and the cap instead.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <boost/json.hpp>
#include <latch>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/http/client.h"
#include "libs/kernel/rpc.h"
#include "libs/pg/pool.h"
#include "libs/providers/telegram/fake_bot_api.h"
#include "libs/providers/telnyx/fake_call_control.h"
#include "protectogram/incident/v1/incident.grpc.pb.h"
#include "tests/e2e/incident/panic_fixture.h"

namespace protectogram::incident {
namespace {

using providers::telnyx::CallScript;
using providers::telnyx::FakeTelnyx;
using std::chrono::milliseconds;

constexpr char kAlert[] = "Тревога от Анна!";
constexpr char kReminder[] = "Напоминание: тревога от Анна";

int CountWhat(const v1::Incident& incident, const std::string& what) {
  int n = 0;
  for (const auto& e : incident.timeline()) n += e.what() == what ? 1 : 0;
  return n;
}

// The callback data of an incident's «Я беру ответственность» (core::AckData).
std::string AckData(int64_t incident_id) { return absl::StrCat("ack:", incident_id); }

bool HasWhat(const v1::Incident& incident, const std::string& what) { return CountWhat(incident, what) > 0; }

// The detail_json of the first timeline entry `what` ("" when none).
std::string DetailOf(const v1::Incident& incident, const std::string& what) {
  for (const auto& e : incident.timeline()) {
    if (e.what() == what) return e.detail_json();
  }
  return "";
}

// A script for a guardian who answers at once and presses `digit`.
CallScript QuickPress(const std::string& digit = "1") {
  CallScript s = CallScript::PressDigit(digit);
  s.answer_after = absl::Milliseconds(200);
  s.press_after = absl::Milliseconds(200);
  return s;
}

TEST_F(PanicE2eTest, RegistrationInvitesPanicCallsInOrderAndDtmfAcknowledges) {
  StartAll();
  Family f = RegisterFamily(3);
  // Nobody answers the first guardian; the second presses 1.
  telnyx_->Script(f.guardians[0].phone, CallScript::NoAnswer());
  telnyx_->Script(f.guardians[1].phone, CallScript::PressDigit("1"));
  telnyx_->Script(f.guardians[2].phone, CallScript::PressDigit("1"));

  SendText(f.traveler, "/panic");
  // Every guardian is alerted with the ack button; the traveler is confirmed with the cancel button.
  for (const Member& g : f.guardians) {
    ASSERT_TRUE(WaitForMessage(g.chat, kAlert)) << Dump();
  }
  ASSERT_TRUE(WaitForMessage(f.traveler.chat, "Тревога поднята")) << Dump();
  const int64_t incident_id = ActiveIncidentId(f.traveler);
  ASSERT_GT(incident_id, 0);
  // The second guardian takes it by pressing 1: acknowledged, everyone told, no third call.
  ASSERT_TRUE(WaitForMessage(f.traveler.chat, "Мария берёт ответственность")) << Dump();
  ASSERT_TRUE(WaitForMessage(f.guardians[1].chat, "Вы взяли ответственность")) << Dump();
  EXPECT_TRUE(WaitForMessage(f.guardians[1].chat, f.traveler.phone));
  v1::Incident incident = GetIncident(incident_id);
  EXPECT_EQ(incident.status(), v1::INCIDENT_STATUS_ACKNOWLEDGED);
  EXPECT_EQ(incident.acknowledged_by_name(), "Мария");
  // The calls went in order, one at a time, and stopped at the acknowledgement.
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_EQ(DialedNumbers(), (std::vector<std::string>{f.guardians[0].phone, f.guardians[1].phone}));
  // The other guardians' alerts now say who took it.
  EXPECT_TRUE(WaitForAlertText(f.guardians[0], "Уже взял(а) Мария")) << Dump();
  EXPECT_TRUE(WaitForAlertText(f.guardians[2], "Уже взял(а) Мария")) << Dump();
  // The timeline has it all.
  EXPECT_TRUE(HasWhat(incident, "panic"));
  EXPECT_TRUE(HasWhat(incident, "call_placed"));
  EXPECT_TRUE(HasWhat(incident, "acknowledged"));
  for (const auto& e : incident.timeline())
    EXPECT_EQ(e.correlation_id(), absl::StrCat("incident:", incident_id));
}

// Nobody answers: every guardian is called in order, round after round with the backoff, until the ring cap;
// then the traveler is told. The table is CascadeTableTest.ThreeGuardiansStopAtTheRingCap's (G1 G2 G3 G1 G2 G3
// G1: after 7 calls 35 of the 36 s cap have rung, less than the 2 s a call needs), with the defaults' ring
// 25 s, cap 180 s and minimum ring 10 s divided by 5. The incident charges each call's wall-clock ringing (at
// most its timeout), so these calls ring in real time (time_scale 1): a scaled fake would charge half a second
// a call, and the cap would never be reached (all three rounds would be called: nine calls).
TEST_F(PanicE2eTest, NoAnswerCallsEveryGuardianInOrderRoundAfterRoundUntilTheRingCap) {
  telnyx_time_scale_ = 1.0;
  incident_env_ = {
      {"LINK_DEFAULT_RING_TIMEOUT_SEC", "5"}, {"PANIC_RING_CAP_SEC", "36"}, {"PANIC_MIN_RING_SEC", "2"}};
  StartAll();
  Family f = RegisterFamily(3);
  for (const Member& g : f.guardians) telnyx_->Script(g.phone, CallScript::NoAnswer());

  SendText(f.traveler, "/panic");
  const int64_t incident_id = ActiveIncidentId(f.traveler);
  ASSERT_GT(incident_id, 0);
  ASSERT_TRUE(WaitForMessage(f.traveler.chat, "Никто из хранителей не ответил на звонки", absl::Seconds(90)))
      << Dump();
  const std::string& g1 = f.guardians[0].phone;
  const std::string& g2 = f.guardians[1].phone;
  const std::string& g3 = f.guardians[2].phone;
  EXPECT_EQ(DialedNumbers(), (std::vector<std::string>{g1, g2, g3, g1, g2, g3, g1}));

  // One call at a time, each rung out to its timeout; a round starts only after the backoff.
  const std::vector<FakeTelnyx::Call> calls = telnyx_->Calls();
  ASSERT_EQ(calls.size(), 7u);
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].timeout_secs, 5) << i;
    EXPECT_EQ(calls[i].hangup_cause, "timeout") << i;
    ASSERT_TRUE(calls[i].ended_at.has_value()) << i;
    if (i == 0) continue;
    const absl::Duration gap = calls[i].placed_at - *calls[i - 1].ended_at;
    EXPECT_GE(gap, absl::ZeroDuration()) << "call " << i + 1 << " was placed while call " << i << " rang";
    if (i == 3 || i == 6) {
      EXPECT_GE(gap, absl::Seconds(1)) << "round " << i / 3 << " started before its backoff";
    }
  }

  v1::Incident incident = GetIncident(incident_id);
  EXPECT_EQ(incident.status(), v1::INCIDENT_STATUS_ACTIVE);  // the reminders go on
  EXPECT_EQ(incident.calls_placed(), 7);
  EXPECT_EQ(incident.total_ring_sec(), 35);
  EXPECT_EQ(incident.round(), 2);
  EXPECT_EQ(CountWhat(incident, "call_ended"), 7);
  EXPECT_EQ(CountWhat(incident, "round_started"), 2);
  EXPECT_TRUE(absl::StrContains(DetailOf(incident, "calls_exhausted"), "ring_cap"))
      << DetailOf(incident, "calls_exhausted");
  // No further call, and the traveler is told once.
  std::this_thread::sleep_for(milliseconds(1000));
  EXPECT_EQ(DialedNumbers().size(), 7u);
  EXPECT_EQ(CountMessages(f.traveler.chat, "Никто из хранителей не ответил на звонки"), 1);
}

TEST_F(PanicE2eTest, AckButtonWhileACallRingsHangsItUpAndStopsTheCascade) {
  telnyx_time_scale_ = 1.0;  // the first call rings (25 s) until it is hung up
  StartAll();
  Family f = RegisterFamily(3);
  for (const Member& g : f.guardians) telnyx_->Script(g.phone, CallScript::NoAnswer());

  SendText(f.traveler, "/panic");
  for (const Member& g : f.guardians) ASSERT_TRUE(WaitForMessage(g.chat, kAlert)) << Dump();
  ASSERT_TRUE(telnyx_->WaitFor(
      [](const FakeTelnyx::View& v) {
        return v.calls.size() == 1 && v.calls[0].state == FakeTelnyx::CallState::kRinging;
      },
      absl::Seconds(20)))
      << Dump();
  const std::string call_id = telnyx_->Calls()[0].call_control_id;
  const int64_t incident_id = ActiveIncidentId(f.traveler);
  ASSERT_GT(incident_id, 0);

  // The second guardian takes it with the alert's own button while the first one's phone rings.
  const std::string ack = ButtonData(f.guardians[1].chat, "ack:");
  ASSERT_EQ(ack, absl::StrCat("ack:", incident_id));
  boost::json::object press = Numbered(ButtonUpdate(f.guardians[1], ack));
  ASSERT_EQ(Post(press), 200);

  ASSERT_TRUE(WaitForMessage(f.traveler.chat, "Мария берёт ответственность")) << Dump();
  // The ringing call is hung up at the provider.
  ASSERT_TRUE(telnyx_->WaitFor(
      [&](const FakeTelnyx::View& v) {
        return v.calls.size() == 1 && v.calls[0].state == FakeTelnyx::CallState::kEnded;
      },
      absl::Seconds(10)))
      << Dump();
  bool hung_up = false;
  for (const auto& c : telnyx_->Commands()) hung_up |= c.action == "hangup" && c.call_control_id == call_id;
  EXPECT_TRUE(hung_up);
  // Everyone is told who took it; the presser's button is answered.
  EXPECT_TRUE(WaitForMessage(f.guardians[1].chat, "Вы взяли ответственность")) << Dump();
  EXPECT_TRUE(WaitForAlertText(f.guardians[0], "Уже взял(а) Мария")) << Dump();
  EXPECT_TRUE(WaitForAlertText(f.guardians[2], "Уже взял(а) Мария")) << Dump();
  EXPECT_TRUE(WaitUntil([&] { return !CallbackAnswers(CallbackId(press)).empty(); })) << Dump();
  EXPECT_EQ(CallbackAnswers(CallbackId(press)),
            (std::vector<std::string>{"Спасибо! Анна узнает, что вы взяли ответственность."}));

  v1::Incident incident = GetIncident(incident_id);
  EXPECT_EQ(incident.status(), v1::INCIDENT_STATUS_ACKNOWLEDGED);
  EXPECT_EQ(incident.acknowledged_by_name(), "Мария");
  EXPECT_TRUE(absl::StrContains(DetailOf(incident, "acknowledged"), "button"));
  // No further call.
  std::this_thread::sleep_for(milliseconds(1000));
  EXPECT_EQ(DialedNumbers(), std::vector<std::string>{f.guardians[0].phone});
  EXPECT_EQ(CountMessages(f.traveler.chat, "берёт ответственность"), 1);
}

TEST_F(PanicE2eTest, TwoGuardiansAckingAtTheSameMomentHaveExactlyOneWinner) {
  telnyx_time_scale_ = 1.0;
  StartAll();
  Family f = RegisterFamily(2);
  for (const Member& g : f.guardians) telnyx_->Script(g.phone, CallScript::NoAnswer());
  SendText(f.traveler, "/panic");
  for (const Member& g : f.guardians) ASSERT_TRUE(WaitForMessage(g.chat, kAlert)) << Dump();
  const int64_t incident_id = ActiveIncidentId(f.traveler);
  ASSERT_GT(incident_id, 0);

  const std::string ack = AckData(incident_id);
  std::vector<boost::json::object> presses = {Numbered(ButtonUpdate(f.guardians[0], ack)),
                                              Numbered(ButtonUpdate(f.guardians[1], ack))};
  std::latch go(2);
  int status[2] = {0, 0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      go.arrive_and_wait();
      status[i] = Post(presses[static_cast<size_t>(i)]);
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(status[0], 200);
  ASSERT_EQ(status[1], 200);

  ASSERT_TRUE(WaitForMessage(f.traveler.chat, "берёт ответственность")) << Dump();
  v1::Incident incident = GetIncident(incident_id);
  ASSERT_EQ(incident.status(), v1::INCIDENT_STATUS_ACKNOWLEDGED);
  const std::string winner = incident.acknowledged_by_name();
  ASSERT_TRUE(winner == "Иван" || winner == "Мария") << winner;
  const size_t w = winner == "Иван" ? 0 : 1;
  const size_t l = 1 - w;
  // The loser's press is answered with who took it; the winner is thanked.
  const std::string loser_callback = CallbackId(presses[l]);
  ASSERT_TRUE(WaitUntil([&] { return !CallbackAnswers(loser_callback).empty(); })) << Dump();
  EXPECT_EQ(CallbackAnswers(loser_callback), std::vector<std::string>{"Уже взял(а) " + winner});
  ASSERT_TRUE(WaitUntil([&] { return !CallbackAnswers(CallbackId(presses[w])).empty(); })) << Dump();
  EXPECT_TRUE(absl::StartsWith(CallbackAnswers(CallbackId(presses[w]))[0], "Спасибо!"));
  EXPECT_TRUE(WaitForMessage(f.guardians[w].chat, "Вы взяли ответственность")) << Dump();

  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_EQ(CountMessages(f.traveler.chat, "берёт ответственность"), 1);
  EXPECT_EQ(CountMessages(f.traveler.chat, winner + " берёт ответственность"), 1);
  EXPECT_EQ(CountMessages(f.guardians[l].chat, "Вы взяли ответственность"), 0);
  incident = GetIncident(incident_id);
  EXPECT_EQ(CountWhat(incident, "acknowledged"), 1);
  EXPECT_EQ(Metric("incident0", "panic_acknowledged_total"), 1.0);
}

TEST_F(PanicE2eTest, TravelerCancelsMidCascade) {
  telnyx_time_scale_ = 1.0;
  StartAll();
  Family f = RegisterFamily(2);
  for (const Member& g : f.guardians) telnyx_->Script(g.phone, CallScript::NoAnswer());
  SendText(f.traveler, "/panic");
  ASSERT_TRUE(WaitForMessage(f.traveler.chat, "Тревога поднята")) << Dump();
  for (const Member& g : f.guardians) ASSERT_TRUE(WaitForMessage(g.chat, kAlert)) << Dump();
  ASSERT_TRUE(telnyx_->WaitFor(
      [](const FakeTelnyx::View& v) {
        return v.calls.size() == 1 && v.calls[0].state == FakeTelnyx::CallState::kRinging;
      },
      absl::Seconds(20)))
      << Dump();
  const int64_t incident_id = ActiveIncidentId(f.traveler);
  ASSERT_GT(incident_id, 0);

  // «Отменить тревогу» on the confirmation.
  const std::string cancel = ButtonData(f.traveler.chat, "cancel:");
  ASSERT_EQ(cancel, absl::StrCat("cancel:", incident_id));
  PressButton(f.traveler, cancel);

  ASSERT_TRUE(WaitForMessage(f.traveler.chat, "Тревога отменена")) << Dump();
  for (const Member& g : f.guardians) {
    EXPECT_TRUE(WaitForMessage(g.chat, "Анна отменил(а) тревогу.")) << Dump();
    // The alert loses its button.
    EXPECT_TRUE(WaitUntil([&] {
      auto alert = Alert(g);
      return alert.has_value() && alert->inline_keyboard_json.empty();
    })) << Dump();
  }
  ASSERT_TRUE(telnyx_->WaitFor(
      [](const FakeTelnyx::View& v) { return v.calls[0].state == FakeTelnyx::CallState::kEnded; },
      absl::Seconds(10)))
      << Dump();
  v1::Incident incident = GetIncident(incident_id);
  EXPECT_EQ(incident.status(), v1::INCIDENT_STATUS_CANCELED);
  EXPECT_TRUE(HasWhat(incident, "canceled"));
  std::this_thread::sleep_for(milliseconds(1000));
  EXPECT_EQ(DialedNumbers(), std::vector<std::string>{f.guardians[0].phone});
  EXPECT_EQ(CountMessages(f.traveler.chat, "Тревога отменена"), 1);
  for (const Member& g : f.guardians) EXPECT_EQ(CountMessages(g.chat, "отменил(а) тревогу"), 1);
}

// Telegram redelivers an update it thinks was lost: the same update_id, 20 times, in a row and at once.
TEST_F(PanicE2eTest, TheSameUpdateDeliveredTwentyTimesHasOneEffect) {
  telnyx_time_scale_ = 1.0;
  StartAll();
  Family f = RegisterFamily(2);
  for (const Member& g : f.guardians) telnyx_->Script(g.phone, CallScript::NoAnswer());

  auto deliver_20_times = [&](const boost::json::object& update) {
    for (int i = 0; i < 10; ++i) ASSERT_EQ(Post(update), 200);
    std::latch go(10);
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 10; ++i) {
      threads.emplace_back([&] {
        go.arrive_and_wait();
        ok += Post(update) == 200 ? 1 : 0;
      });
    }
    for (auto& t : threads) t.join();
    ASSERT_EQ(ok.load(), 10);
  };

  deliver_20_times(Numbered(TextUpdate(f.traveler, "/panic")));
  for (const Member& g : f.guardians) ASSERT_TRUE(WaitForMessage(g.chat, kAlert)) << Dump();
  ASSERT_TRUE(WaitForMessage(f.traveler.chat, "Тревога поднята")) << Dump();
  ASSERT_TRUE(
      telnyx_->WaitFor([](const FakeTelnyx::View& v) { return !v.calls.empty(); }, absl::Seconds(20)));
  std::this_thread::sleep_for(milliseconds(1000));
  v1::ListIncidentsRequest list;
  v1::ListIncidentsResponse incidents;
  ASSERT_TRUE(Admin(&v1::IncidentAdminService::Stub::ListIncidents, list, &incidents).ok());
  ASSERT_EQ(incidents.incidents_size(), 1);
  const int64_t incident_id = incidents.incidents(0).id();
  for (const Member& g : f.guardians) EXPECT_EQ(CountMessages(g.chat, kAlert), 1) << g.name;
  EXPECT_EQ(CountMessages(f.traveler.chat, "Тревога поднята"), 1);
  EXPECT_EQ(CountMessages(f.traveler.chat, "Тревога уже поднята"), 0);
  EXPECT_EQ(DialedNumbers(), std::vector<std::string>{f.guardians[0].phone});

  const boost::json::object press = Numbered(ButtonUpdate(f.guardians[1], AckData(incident_id)));
  deliver_20_times(press);
  ASSERT_TRUE(WaitForMessage(f.traveler.chat, "Мария берёт ответственность")) << Dump();
  ASSERT_TRUE(WaitUntil([&] { return !CallbackAnswers(CallbackId(press)).empty(); })) << Dump();
  std::this_thread::sleep_for(milliseconds(1000));
  EXPECT_EQ(CountMessages(f.traveler.chat, "берёт ответственность"), 1);
  EXPECT_EQ(CountMessages(f.guardians[1].chat, "Вы взяли ответственность"), 1);
  EXPECT_EQ(CallbackAnswers(CallbackId(press)).size(), 1u);
  v1::Incident incident = GetIncident(incident_id);
  EXPECT_EQ(incident.status(), v1::INCIDENT_STATUS_ACKNOWLEDGED);
  EXPECT_EQ(CountWhat(incident, "acknowledged"), 1);
  EXPECT_EQ(CountWhat(incident, "panic"), 1);
  EXPECT_EQ(Metric("incident0", "panic_incidents_started_total"), 1.0);
  EXPECT_EQ(Metric("incident0", "panic_acknowledged_total"), 1.0);
}

// Two replicas share Postgres. Replica 0 (the one the edge and telephony talk to) is SIGKILLed during the
// second guardian's call while it holds a claimed timer (a reminder, held up by the test's lock on the
// incident): replica 1 takes the timer over once its lease expires (INCIDENT_JOB_LEASE_MS) and runs it; replica
// 0 comes back on its port, and the cascade continues where it was: no call or message repeated or skipped.
TEST_F(PanicE2eTest, ASecondReplicaTakesOverWhenTheFirstIsKilledMidCascade) {
  telnyx_time_scale_ = 0.1;  // a 25 s ring: 2.5 s
  incident_env_ = {{"INCIDENT_JOB_LEASE_MS", "2000"},
                   {"INCIDENT_RPC_TIMEOUT_MS", "1000"},  // the outbox relay's lease: 3 s
                   {"PANIC_REMINDER_INTERVAL_MS", "1000"}};
  StartAll();
  Family f = RegisterFamily(3);
  telnyx_->Script(f.guardians[0].phone, CallScript::NoAnswer());
  telnyx_->Script(f.guardians[1].phone, CallScript::NoAnswer());
  telnyx_->Script(f.guardians[2].phone, QuickPress());

  SendText(f.traveler, "/panic");
  for (const Member& g : f.guardians) ASSERT_TRUE(WaitForMessage(g.chat, kAlert)) << Dump();
  const int64_t incident_id = ActiveIncidentId(f.traveler);
  ASSERT_GT(incident_id, 0);
  ASSERT_TRUE(
      telnyx_->WaitFor([](const FakeTelnyx::View& v) { return v.calls.size() >= 2; }, absl::Seconds(20)))
      << Dump();

  // Hold the incident: the next reminder is claimed by replica 0 (the only one yet) and waits for the lock.
  static constexpr pg::Query kLock{"e2e_lock_incident",
                                   "SELECT id FROM incident.incidents WHERE id = $1 FOR UPDATE"};
  static constexpr pg::Query kRunning{"e2e_running", R"sql(
SELECT id FROM incident.scheduled_actions WHERE incident_id = $1 AND state = 'running')sql"};
  static constexpr pg::Query kJob{"e2e_job", R"sql(
SELECT state, attempts, coalesce(last_error, '') AS last_error FROM incident.scheduled_actions WHERE id = $1)sql"};
  absl::StatusOr<pg::Transaction> lock = pool().Begin();
  ASSERT_TRUE(lock.ok()) << lock.status();
  ASSERT_TRUE(lock->Execute(kLock, {incident_id}).ok());
  int64_t claimed = 0;
  ASSERT_TRUE(WaitUntil(
      [&] {
        absl::StatusOr<pg::Result> r = pool().Execute(kRunning, {incident_id});
        if (r.ok() && !r->empty()) claimed = r->front().Get<int64_t>("id");
        return claimed != 0;
      },
      absl::Seconds(10)))
      << Dump();
  StartIncident(1, testing::FreePort());
  ASSERT_TRUE(WaitUntil([&] {
    return testing::HttpGet(metrics_ports_["incident1"], "/health/ready") == 200;
  })) << Dump();
  KillIncident(0);
  ASSERT_TRUE(lock->Commit().ok());

  // Alone, replica 1 finds the lease expired and runs the timer again, to completion.
  ASSERT_TRUE(WaitUntil(
      [&] {
        absl::StatusOr<pg::Result> r = pool().Execute(kJob, {claimed});
        return r.ok() && !r->empty() && r->front().Get<std::string>("state") == "done";
      },
      absl::Seconds(15)))
      << Dump();
  absl::StatusOr<pg::Result> job = pool().Execute(kJob, {claimed});
  ASSERT_TRUE(job.ok() && !job->empty());
  EXPECT_GE(job->front().Get<int32_t>("attempts"), 2);
  EXPECT_TRUE(absl::StartsWith(job->front().Get<std::string>("last_error"), "lease expired"));
  EXPECT_GE(Metric("incident1", "jobs_total{kind=\"incident.timer\",result=\"lease_expired\"}").value_or(0),
            1.0);
  // (counted once the handler's transaction has committed: a moment after the row says done)
  EXPECT_TRUE(WaitUntil([&] {
    return Metric("incident1", "jobs_total{kind=\"incident.timer\",result=\"done\"}").value_or(0) >= 1;
  }));
  StartIncident(0);  // on its port again: the edge and telephony retry until it is back

  ASSERT_TRUE(WaitForMessage(f.traveler.chat, "Пётр берёт ответственность", absl::Seconds(40))) << Dump();
  std::this_thread::sleep_for(milliseconds(2000));  // two reminder intervals: nothing more comes

  EXPECT_EQ(DialedNumbers(),
            (std::vector<std::string>{f.guardians[0].phone, f.guardians[1].phone, f.guardians[2].phone}));
  for (const Member& g : f.guardians) EXPECT_EQ(telnyx_->DialCountFor(g.phone), 1u) << g.name;
  v1::Incident incident = GetIncident(incident_id);
  EXPECT_EQ(incident.status(), v1::INCIDENT_STATUS_ACKNOWLEDGED);
  EXPECT_EQ(incident.acknowledged_by_name(), "Пётр");
  EXPECT_EQ(CountWhat(incident, "call_placed"), 3);
  const int reminders = CountWhat(incident, "reminder_sent");
  EXPECT_GE(reminders, 1);
  for (const Member& g : f.guardians) {
    EXPECT_EQ(CountMessages(g.chat, kAlert), 1) << g.name;
    EXPECT_EQ(CountMessages(g.chat, kReminder), reminders) << g.name;
  }
  EXPECT_EQ(CountMessages(f.traveler.chat, "Тревога поднята"), 1);
  EXPECT_EQ(CountMessages(f.traveler.chat, "берёт ответственность"), 1);
  EXPECT_EQ(CountMessages(f.guardians[2].chat, "Вы взяли ответственность"), 1);
}

// Postgres goes down for 2 s while the first guardian's phone rings; the flow completes once it is back.
TEST_F(PanicE2eTest, PostgresRestartedMidCascadeTheFlowCompletes) {
  telnyx_time_scale_ = 1.0;
  incident_env_ = {{"LINK_DEFAULT_RING_TIMEOUT_SEC", "5"}};
  StartAll();
  Family f = RegisterFamily(2);
  telnyx_->Script(f.guardians[0].phone, CallScript::NoAnswer());
  telnyx_->Script(f.guardians[1].phone, QuickPress());

  SendText(f.traveler, "/panic");
  for (const Member& g : f.guardians) ASSERT_TRUE(WaitForMessage(g.chat, kAlert)) << Dump();
  const int64_t incident_id = ActiveIncidentId(f.traveler);
  ASSERT_GT(incident_id, 0);
  ASSERT_TRUE(telnyx_->WaitFor([](const FakeTelnyx::View& v) { return !v.calls.empty(); }, absl::Seconds(20)))
      << Dump();

  // Down from just before the call rings out until after: its hangup webhook finds no database.
  std::this_thread::sleep_for(milliseconds(4000));
  ASSERT_TRUE(cluster().Stop().ok());
  std::this_thread::sleep_for(milliseconds(2000));
  ASSERT_TRUE(cluster().Start().ok());

  ASSERT_TRUE(WaitForMessage(f.traveler.chat, "Мария берёт ответственность", absl::Seconds(60))) << Dump();
  EXPECT_TRUE(WaitForMessage(f.guardians[1].chat, "Вы взяли ответственность")) << Dump();
  EXPECT_TRUE(WaitForAlertText(f.guardians[0], "Уже взял(а) Мария")) << Dump();
  v1::Incident incident = GetIncident(incident_id);
  EXPECT_EQ(incident.status(), v1::INCIDENT_STATUS_ACKNOWLEDGED);
  EXPECT_EQ(incident.acknowledged_by_name(), "Мария");
  EXPECT_EQ(DialedNumbers(), (std::vector<std::string>{f.guardians[0].phone, f.guardians[1].phone}));
  for (const Member& g : f.guardians) EXPECT_EQ(CountMessages(g.chat, kAlert), 1) << g.name;
  EXPECT_EQ(CountMessages(f.traveler.chat, "берёт ответственность"), 1);
}

// Something deletes an active incident's timers: the invariant auditor notices nothing is pending and puts
// the next steps back.
TEST_F(PanicE2eTest, TheAuditorRepairsAnActiveIncidentWithNothingPending) {
  telnyx_time_scale_ = 1.0;  // the first call rings on: nothing else changes the incident meanwhile
  StartAll();
  Family f = RegisterFamily(2);
  for (const Member& g : f.guardians) telnyx_->Script(g.phone, CallScript::NoAnswer());
  SendText(f.traveler, "/panic");
  for (const Member& g : f.guardians) ASSERT_TRUE(WaitForMessage(g.chat, kAlert)) << Dump();
  const int64_t incident_id = ActiveIncidentId(f.traveler);
  ASSERT_GT(incident_id, 0);
  ASSERT_TRUE(telnyx_->WaitFor([](const FakeTelnyx::View& v) { return !v.calls.empty(); }, absl::Seconds(20)))
      << Dump();
  EXPECT_EQ(Metric("incident0", "incident_invariant_repairs_total"), 0.0);

  static constexpr pg::Query kDeletePending{
      "e2e_delete_pending",
      "DELETE FROM incident.scheduled_actions WHERE incident_id = $1 AND state = 'pending'"};
  static constexpr pg::Query kPending{"e2e_pending", R"sql(
SELECT job_key FROM incident.scheduled_actions WHERE incident_id = $1 AND state = 'pending' ORDER BY id)sql"};
  absl::StatusOr<pg::Result> deleted = pool().Execute(kDeletePending, {incident_id});
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_GE(deleted->affected_rows(), 2);  // the first reminder and the call's deadline

  ASSERT_TRUE(WaitUntil([&] { return HasWhat(GetIncident(incident_id), "repaired"); }, absl::Seconds(10)))
      << Dump();
  EXPECT_TRUE(WaitUntil([&] { return Metric("incident0", "incident_invariant_repairs_total") == 1.0; }));
  absl::StatusOr<pg::Result> pending = pool().Execute(kPending, {incident_id});
  ASSERT_TRUE(pending.ok()) << pending.status();
  std::set<std::string> keys;
  for (const pg::Row& row : *pending) keys.insert(row.Get<std::string>("job_key"));
  const std::string prefix = absl::StrCat("incident:", incident_id, ":t:");
  EXPECT_TRUE(keys.contains(prefix + "reminder:1:r1")) << ::testing::PrintToString(keys);
  EXPECT_TRUE(keys.contains(prefix + "call_deadline:1:r1")) << ::testing::PrintToString(keys);
  // Once repaired it stays repaired: one repair, and the incident still takes an acknowledgement.
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_EQ(Metric("incident0", "incident_invariant_repairs_total"), 1.0);
  PressButton(f.guardians[1], AckData(incident_id));
  ASSERT_TRUE(WaitForMessage(f.traveler.chat, "Мария берёт ответственность")) << Dump();
  EXPECT_EQ(CountWhat(GetIncident(incident_id), "repaired"), 1);
}

TEST_F(PanicE2eTest, GuardiansAreRemindedUntilTheAckAndNeverAfter) {
  telnyx_time_scale_ = 1.0;
  incident_env_ = {{"PANIC_REMINDER_INTERVAL_MS", "500"}};
  StartAll();
  Family f = RegisterFamily(2);
  for (const Member& g : f.guardians) telnyx_->Script(g.phone, CallScript::NoAnswer());
  SendText(f.traveler, "/panic");
  for (const Member& g : f.guardians) ASSERT_TRUE(WaitForMessage(g.chat, kAlert)) << Dump();
  const int64_t incident_id = ActiveIncidentId(f.traveler);
  ASSERT_GT(incident_id, 0);
  for (const Member& g : f.guardians) {
    ASSERT_TRUE(WaitUntil([&] { return CountMessages(g.chat, kReminder) >= 3; })) << Dump();
  }
  // A reminder carries the ack button too.
  EXPECT_EQ(ButtonData(f.guardians[0].chat, "ack:"), AckData(incident_id));

  PressButton(f.guardians[0], AckData(incident_id));
  ASSERT_TRUE(WaitForMessage(f.traveler.chat, "Иван берёт ответственность")) << Dump();
  std::this_thread::sleep_for(milliseconds(2000));  // four intervals
  v1::Incident incident = GetIncident(incident_id);
  const int sent = CountWhat(incident, "reminder_sent");
  EXPECT_GE(sent, 3);
  bool after_ack = false, reminded_after_ack = false;
  for (const auto& e : incident.timeline()) {
    after_ack |= e.what() == "acknowledged";
    reminded_after_ack |= after_ack && e.what() == "reminder_sent";
  }
  EXPECT_FALSE(reminded_after_ack);
  for (const Member& g : f.guardians) EXPECT_EQ(CountMessages(g.chat, kReminder), sent) << g.name;
  std::this_thread::sleep_for(milliseconds(1000));
  for (const Member& g : f.guardians) EXPECT_EQ(CountMessages(g.chat, kReminder), sent) << g.name;
}

TEST_F(PanicE2eTest, TheAdminApiOverGrpc) {
  telnyx_time_scale_ = 1.0;
  StartAll();
  Family f = RegisterFamily(3);
  for (const Member& g : f.guardians) telnyx_->Script(g.phone, CallScript::NoAnswer());

  // A wrong token is refused.
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer not-the-admin-token");
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    context.set_wait_for_ready(true);
    v1::ListUsersResponse response;
    EXPECT_EQ(admin_->ListUsers(&context, v1::ListUsersRequest(), &response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }

  // Users, with their phones masked.
  v1::ListUsersResponse users;
  ASSERT_TRUE(Admin(&v1::IncidentAdminService::Stub::ListUsers, v1::ListUsersRequest(), &users).ok());
  ASSERT_EQ(users.users_size(), 4);
  int64_t traveler_id = 0;
  std::vector<Member> everyone = f.guardians;
  everyone.push_back(f.traveler);
  for (const auto& u : users.users()) {
    const Member* m = nullptr;
    for (const Member& e : everyone) {
      if (e.telegram_id == u.telegram_id()) m = &e;
    }
    ASSERT_NE(m, nullptr) << u.ShortDebugString();
    EXPECT_EQ(u.display_name(), m->name);
    EXPECT_TRUE(u.registered());
    EXPECT_EQ(u.phone_masked(), m->phone.substr(0, 5) + "****" + m->phone.substr(m->phone.size() - 3));
    EXPECT_FALSE(absl::StrContains(u.phone_masked(), m->phone.substr(5, 4)));
    if (m == &everyone.back()) traveler_id = u.id();
  }
  ASSERT_NE(traveler_id, 0);

  // The links in call order.
  v1::ListLinksRequest links_request;
  links_request.set_traveler_user_id(traveler_id);
  v1::ListLinksResponse links;
  ASSERT_TRUE(Admin(&v1::IncidentAdminService::Stub::ListLinks, links_request, &links).ok());
  ASSERT_EQ(links.links_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(links.links(i).watcher_name(), f.guardians[static_cast<size_t>(i)].name);
    EXPECT_TRUE(links.links(i).calls_enabled());
    EXPECT_EQ(links.links(i).status(), "active");
  }

  // A test panic: the whole flow, marked as a test.
  v1::TriggerTestPanicRequest trigger;
  trigger.set_telegram_id(f.traveler.telegram_id);
  v1::TriggerTestPanicResponse first;
  ASSERT_TRUE(Admin(&v1::IncidentAdminService::Stub::TriggerTestPanic, trigger, &first).ok());
  EXPECT_FALSE(first.already_active());
  ASSERT_GT(first.incident_id(), 0);
  for (const Member& g : f.guardians) ASSERT_TRUE(WaitForMessage(g.chat, kAlert)) << Dump();
  ASSERT_TRUE(
      telnyx_->WaitFor([](const FakeTelnyx::View& v) { return !v.calls.empty(); }, absl::Seconds(20)));
  EXPECT_EQ(DialedNumbers(), std::vector<std::string>{f.guardians[0].phone});
  EXPECT_TRUE(GetIncident(first.incident_id()).is_test());
  v1::TriggerTestPanicResponse second;
  ASSERT_TRUE(Admin(&v1::IncidentAdminService::Stub::TriggerTestPanic, trigger, &second).ok());
  EXPECT_TRUE(second.already_active());
  EXPECT_EQ(second.incident_id(), first.incident_id());

  // The first guardian is no longer called.
  v1::SetLinkPolicyRequest policy;
  policy.set_link_id(links.links(0).id());
  policy.set_calls_enabled(false);
  v1::SetLinkPolicyResponse changed;
  ASSERT_TRUE(Admin(&v1::IncidentAdminService::Stub::SetLinkPolicy, policy, &changed).ok());
  EXPECT_FALSE(changed.link().calls_enabled());
  EXPECT_TRUE(changed.link().telegram_enabled());

  // An operator cancels the test: the call is hung up, the guardians told.
  v1::CancelIncidentRequest cancel;
  cancel.set_incident_id(first.incident_id());
  cancel.set_reason("e2e");
  v1::CancelIncidentResponse canceled;
  ASSERT_TRUE(Admin(&v1::IncidentAdminService::Stub::CancelIncident, cancel, &canceled).ok());
  EXPECT_EQ(canceled.incident().status(), v1::INCIDENT_STATUS_CANCELED);
  for (const Member& g : f.guardians)
    EXPECT_TRUE(WaitForMessage(g.chat, "Анна отменил(а) тревогу.")) << Dump();
  ASSERT_TRUE(telnyx_->WaitFor(
      [](const FakeTelnyx::View& v) { return v.calls[0].state == FakeTelnyx::CallState::kEnded; },
      absl::Seconds(10)))
      << Dump();
  v1::CancelIncidentResponse again;
  EXPECT_EQ(Admin(&v1::IncidentAdminService::Stub::CancelIncident, cancel, &again).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  // A new incident skips the first guardian's call (still alerting them in Telegram).
  v1::TriggerTestPanicResponse third;
  ASSERT_TRUE(Admin(&v1::IncidentAdminService::Stub::TriggerTestPanic, trigger, &third).ok());
  EXPECT_FALSE(third.already_active());
  EXPECT_NE(third.incident_id(), first.incident_id());
  for (const Member& g : f.guardians) {
    EXPECT_TRUE(WaitUntil([&] { return CountMessages(g.chat, kAlert) == 2; })) << Dump();
  }
  ASSERT_TRUE(
      telnyx_->WaitFor([](const FakeTelnyx::View& v) { return v.calls.size() >= 2; }, absl::Seconds(20)));
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_EQ(DialedNumbers(), (std::vector<std::string>{f.guardians[0].phone, f.guardians[1].phone}));

  v1::ListIncidentsRequest list;
  list.set_status(v1::INCIDENT_STATUS_ACTIVE);
  v1::ListIncidentsResponse active;
  ASSERT_TRUE(Admin(&v1::IncidentAdminService::Stub::ListIncidents, list, &active).ok());
  ASSERT_EQ(active.incidents_size(), 1);
  EXPECT_EQ(active.incidents(0).id(), third.incident_id());
  EXPECT_TRUE(active.incidents(0).is_test());
}

// What the product refuses: a press by someone who is not a guardian of the incident, an invite link used a
// second time, a contact card that is not the sender's own.
TEST_F(PanicE2eTest, BadInputChangesNothing) {
  telnyx_time_scale_ = 1.0;
  StartAll();
  Family f = RegisterFamily(1);
  telnyx_->Script(f.guardians[0].phone, CallScript::NoAnswer());

  // The link Иван accepted, opened by someone else.
  Member olga = NewMember("Ольга");
  SendText(olga, "/start " + last_invite_token_);
  EXPECT_TRUE(WaitForMessage(olga.chat, "уже использована")) << Dump();
  EXPECT_FALSE(HasMessage(olga.chat, "приглашает вас стать хранителем"));

  // A forwarded contact does not register anyone.
  Member sergey = NewMember("Сергей");
  SendText(sergey, "/start");
  ASSERT_TRUE(WaitForMessage(sergey.chat, "поделитесь номером")) << Dump();
  ShareContactOf(sergey, f.guardians[0]);
  EXPECT_TRUE(WaitForMessage(sergey.chat, "Это чужой контакт")) << Dump();

  // A registered stranger presses the alert's buttons.
  Member stranger = NewMember("Пётр");
  Register(stranger);
  SendText(f.traveler, "/panic");
  ASSERT_TRUE(WaitForMessage(f.guardians[0].chat, kAlert)) << Dump();
  const int64_t incident_id = ActiveIncidentId(f.traveler);
  ASSERT_GT(incident_id, 0);
  boost::json::object ack = Numbered(ButtonUpdate(stranger, AckData(incident_id)));
  boost::json::object cancel = Numbered(ButtonUpdate(stranger, absl::StrCat("cancel:", incident_id)));
  ASSERT_EQ(Post(ack), 200);
  ASSERT_EQ(Post(cancel), 200);
  ASSERT_TRUE(WaitUntil([&] {
    return !CallbackAnswers(CallbackId(ack)).empty() && !CallbackAnswers(CallbackId(cancel)).empty();
  })) << Dump();
  EXPECT_EQ(CallbackAnswers(CallbackId(ack)), std::vector<std::string>{"Эта тревога адресована не вам."});
  EXPECT_EQ(CallbackAnswers(CallbackId(cancel)), std::vector<std::string>{"Эта тревога адресована не вам."});

  std::this_thread::sleep_for(milliseconds(500));
  v1::Incident incident = GetIncident(incident_id);
  EXPECT_EQ(incident.status(), v1::INCIDENT_STATUS_ACTIVE);
  EXPECT_FALSE(HasWhat(incident, "acknowledged"));
  EXPECT_FALSE(HasWhat(incident, "canceled"));
  EXPECT_EQ(CountMessages(f.traveler.chat, "берёт ответственность"), 0);
  EXPECT_EQ(CountMessages(f.traveler.chat, "Тревога отменена"), 0);

  v1::ListUsersResponse users;
  ASSERT_TRUE(Admin(&v1::IncidentAdminService::Stub::ListUsers, v1::ListUsersRequest(), &users).ok());
  for (const auto& u : users.users()) {
    if (u.telegram_id() == sergey.telegram_id || u.telegram_id() == olga.telegram_id) {
      EXPECT_FALSE(u.registered()) << u.ShortDebugString();
    }
  }
  v1::ListLinksResponse links;
  ASSERT_TRUE(Admin(&v1::IncidentAdminService::Stub::ListLinks, v1::ListLinksRequest(), &links).ok());
  ASSERT_EQ(links.links_size(), 1);  // Ольга did not become a guardian
  EXPECT_EQ(links.links(0).watcher_name(), "Иван");
}

}  // namespace
}  // namespace protectogram::incident
