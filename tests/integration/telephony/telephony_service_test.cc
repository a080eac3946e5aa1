// TelephonyService on a real Postgres with its real job worker, inbox and outbox relay, and scripted providers
// (services/telephony/fake_provider.h) in place of the network: placing, following and ending calls, failover,
// guardrails, and the outcome reported exactly once. The provider APIs themselves are exercised over HTTP by
// tests/integration/providers and tests/e2e/telephony.
#include "services/telephony/telephony_service.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "libs/jobs/inbox.h"
#include "libs/jobs/job_store.h"
#include "libs/jobs/outbox.h"
#include "libs/jobs/worker.h"
#include "libs/kernel/metrics.h"
#include "services/telephony/fake_provider.h"
#include "services/telephony/telephony_grpc.h"
#include "tests/support/pg_harness.h"

namespace protectogram::telephony {
namespace {

using common::v1::CallEventType;

class TelephonyServiceTest : public test::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    config_.providers = {"telnyx", "twilio"};
    config_.ring_grace = absl::Milliseconds(200);
    config_.job_lease = absl::Seconds(3);
    config_.caps = SpendCaps{.calls_per_hour = 100,
                             .calls_per_day = 100,
                             .ring_minutes_per_hour = 1000,
                             .ring_minutes_per_day = 1000};
  }

  void Start() {
    pool_ = *pg::Pool::Create({.url = db_url(), .size = 16});
    job_store_ = *jobs::JobStore::Create(*pool_, {.table = "telephony.jobs"});
    worker_ = *jobs::Worker::Create(*pool_, {.table = "telephony.jobs",
                                             .listen_url = db_url(),
                                             .threads = 4,
                                             .batch_size = 4,
                                             .lease = config_.job_lease,
                                             .rescan_interval = absl::Seconds(1),
                                             .metrics = &metrics_});
    outbox_ = *jobs::Outbox::Create(*pool_, {.table = "telephony.outbox_messages"});
    relay_ = *jobs::OutboxRelay::Create(*pool_, {.table = "telephony.outbox_messages",
                                                 .listen_url = db_url(),
                                                 .retry = jobs::RetryPolicy::Fixed({absl::Milliseconds(50)}),
                                                 .rescan_interval = absl::Seconds(1),
                                                 .metrics = &metrics_});
    inbox_ = *jobs::Inbox::Create(*pool_, {.table = "telephony.inbox_events", .metrics = &metrics_});
    store_ = std::make_unique<Store>(*pool_);
    providers_.AddUnowned(&telnyx_);
    providers_.AddUnowned(&twilio_);
    service_ = std::make_unique<TelephonyService>(
        *store_, *job_store_, *outbox_, providers_,
        [this](const incident::v1::OnCallOutcomeRequest& r) {
          std::lock_guard<std::mutex> lock(mu_);
          if (incident_down_ > 0) {
            --incident_down_;
            return absl::UnavailableError("incident is down");
          }
          if (reports_by_key_.count(r.event_key()) == 0) reports_.push_back(r);
          reports_by_key_[r.event_key()] += 1;
          return absl::OkStatus();
        },
        config_, metrics_);
    service_->RegisterJobs(*worker_);
    service_->RegisterChannels(*relay_);
    jobs::Worker* worker = worker_.get();
    jobs::OutboxRelay* relay = relay_.get();
    service_->SetWake([worker] { worker->Wake(); }, [relay] { relay->Wake(); });
    ASSERT_TRUE(worker_->Start().ok());
    ASSERT_TRUE(relay_->Start().ok());
    receive_ = [this](std::string_view source, std::string_view key, const common::v1::CallEvent& event,
                      const jobs::Inbox::Effect& effect) {
      std::string json;
      (void)google::protobuf::util::MessageToJsonString(event, &json);
      return inbox_->ReceiveOnce({.provider = std::string(source),
                                  .provider_event_id = std::string(key),
                                  .payload = json,
                                  .payload_json = json},
                                 effect);
    };
  }

  void TearDown() override {
    if (worker_) worker_->Stop();
    if (relay_) relay_->Stop();
    service_.reset();
    PgTest::TearDown();
  }

  v1::PlaceCallRequest Request(const std::string& key, const std::string& to = "+15550001111") {
    v1::PlaceCallRequest r;
    r.set_attempt_key(key);
    r.set_to_e164(to);
    r.set_speak_text("Alert for Anna. Press 1 to take it.");
    r.set_language("en");
    r.set_incident_id("42");
    r.mutable_report_to()->set_service("incident");
    r.mutable_report_to()->set_key("alert:7:" + key);
    return r;
  }

  absl::StatusOr<bool> Deliver(const std::string& provider_event_id, common::v1::Provider provider,
                               CallEventType type, const std::string& call_id,
                               const std::string& client_state, std::string digits = "",
                               std::string status = "", std::string cause = "") {
    common::v1::CallEvent e;
    e.set_event_key("edge:" + provider_event_id);
    e.set_provider(provider);
    e.set_provider_event_id(provider_event_id);
    e.set_type(type);
    e.set_provider_event_type(common::v1::CallEventType_Name(type));
    e.set_call_id(call_id);
    e.set_client_state(client_state);
    e.set_digits(digits);
    e.set_status(status);
    e.set_hangup_cause(cause);
    e.mutable_occurred_at()->set_seconds(absl::ToUnixSeconds(absl::Now()));
    return ReceiveCallEvent(receive_, *service_, "edge", e);
  }

  static bool WaitFor(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return done();
  }

  CallRow Call(const std::string& key) {
    absl::StatusOr<CallRow> c = service_->GetCall(key, "");
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : CallRow{};
  }
  bool WaitForState(const std::string& key, CallState state, absl::Duration timeout = absl::Seconds(10)) {
    return WaitFor([&] { return Call(key).state == state; }, timeout);
  }
  // The call once its dial was accepted.
  CallRow WaitDialed(const std::string& key) {
    EXPECT_TRUE(WaitFor([&] { return !Call(key).provider_call_id.empty(); })) << key;
    return Call(key);
  }
  std::vector<incident::v1::OnCallOutcomeRequest> Reports() {
    std::lock_guard<std::mutex> lock(mu_);
    return reports_;
  }
  int ReportCount(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    return reports_by_key_.count("call:" + key) ? reports_by_key_["call:" + key] : 0;
  }
  std::optional<incident::v1::OnCallOutcomeRequest> WaitReport(const std::string& key) {
    std::optional<incident::v1::OnCallOutcomeRequest> found;
    WaitFor([&] {
      for (const auto& r : Reports()) {
        if (r.attempt_key() == key) found = r;
      }
      return found.has_value();
    });
    return found;
  }
  double Counter(const std::string& result) {
    std::string text = metrics_.Expose();
    std::string needle = "call_attempts_total{result=\"" + result + "\"} ";
    size_t at = text.find(needle);
    return at == std::string::npos ? 0 : std::stod(text.substr(at + needle.size()));
  }
  int CommandsOf(FakeProvider& p, const std::string& kind, const std::string& key) {
    int n = 0;
    for (const auto& c : p.Commands()) n += c.kind == kind && c.attempt_key == key;
    return n;
  }

  TelephonyConfig config_;
  kernel::MetricsRegistry metrics_;
  FakeProvider telnyx_{"telnyx", common::v1::PROVIDER_TELNYX, /*idempotent=*/true};
  FakeProvider twilio_{"twilio", common::v1::PROVIDER_TWILIO, /*idempotent=*/false};
  ProviderSet providers_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<jobs::JobStore> job_store_;
  std::unique_ptr<jobs::Worker> worker_;
  std::unique_ptr<jobs::Outbox> outbox_;
  std::unique_ptr<jobs::OutboxRelay> relay_;
  std::unique_ptr<jobs::Inbox> inbox_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<TelephonyService> service_;
  EventReceiver receive_;
  std::mutex mu_;
  std::vector<incident::v1::OnCallOutcomeRequest> reports_;
  std::map<std::string, int> reports_by_key_;
  int incident_down_ = 0;  // the next reports fail as if the incident service were down
};

TEST_F(TelephonyServiceTest, AnsweredWithOneIsReportedOnce) {
  Start();
  absl::StatusOr<PlaceResult> placed = service_->PlaceCall(Request("a1"));
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_FALSE(placed->duplicate);
  EXPECT_EQ(placed->call.call_id.size(), 36u);
  const CallRow dialed = WaitDialed("a1");
  EXPECT_EQ(dialed.provider, "telnyx");
  EXPECT_EQ(dialed.state, CallState::kDialing);
  EXPECT_EQ(telnyx_.PlacedCount("+15550001111"), 1);
  const std::string id = dialed.provider_call_id;
  const auto P = common::v1::PROVIDER_TELNYX;

  ASSERT_TRUE(*Deliver("e1", P, common::v1::CALL_EVENT_TYPE_INITIATED, id, "a1"));
  ASSERT_TRUE(*Deliver("e2", P, common::v1::CALL_EVENT_TYPE_ANSWERED, id, "a1"));
  EXPECT_TRUE(WaitFor([&] { return CommandsOf(telnyx_, "prompt", "a1") == 1; }));
  // The same webhook twice, and a late "ringing": nothing changes.
  EXPECT_FALSE(*Deliver("e2", P, common::v1::CALL_EVENT_TYPE_ANSWERED, id, "a1"));
  ASSERT_TRUE(*Deliver("e0", P, common::v1::CALL_EVENT_TYPE_RINGING, id, "a1"));
  EXPECT_EQ(Call("a1").state, CallState::kAnswered);
  ASSERT_TRUE(*Deliver("e3", P, common::v1::CALL_EVENT_TYPE_GATHER_ENDED, id, "a1", "1", "valid"));
  ASSERT_TRUE(*Deliver("e3b", P, common::v1::CALL_EVENT_TYPE_DTMF, id, "a1", "1"));
  std::optional<incident::v1::OnCallOutcomeRequest> report = WaitReport("a1");
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->outcome(), "digit_pressed");
  EXPECT_EQ(report->digit(), "1");
  EXPECT_EQ(report->report_key(), "alert:7:a1");
  EXPECT_EQ(report->call_id(), placed->call.call_id);
  EXPECT_EQ(report->event().provider_event_id(), "e3");
  EXPECT_TRUE(WaitFor([&] { return CommandsOf(telnyx_, "hangup", "a1") == 1; }));
  ASSERT_TRUE(*Deliver("e4", P, common::v1::CALL_EVENT_TYPE_HANGUP, id, "a1", "", "", "normal_clearing"));
  const CallRow done = Call("a1");
  EXPECT_EQ(done.state, CallState::kCompleted);
  EXPECT_EQ(done.outcome, Outcome::kDigitPressed);
  EXPECT_EQ(done.digits, "1");
  EXPECT_TRUE(done.answered_at.has_value());
  EXPECT_TRUE(done.ended_at.has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(ReportCount("a1"), 1);
  EXPECT_EQ(Counter("digit_pressed"), 1);
  EXPECT_EQ(telnyx_.PlacedTotal(), 1);

  absl::StatusOr<std::vector<HistoryEntry>> history = service_->History(done);
  ASSERT_TRUE(history.ok());
  std::vector<std::string> kinds;
  for (const auto& h : *history) kinds.push_back(h.kind);
  EXPECT_GE(kinds.size(), 8u);
  EXPECT_EQ(kinds.front(), "placed");
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "dial_accepted"), kinds.end());
}

TEST_F(TelephonyServiceTest, RepeatedPlaceCallRingsOnce) {
  Start();
  ASSERT_TRUE(service_->PlaceCall(Request("dup")).ok());
  absl::StatusOr<PlaceResult> again = service_->PlaceCall(Request("dup"));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->duplicate);
  WaitDialed("dup");
  absl::StatusOr<PlaceResult> third = service_->PlaceCall(Request("dup"));
  EXPECT_TRUE(third->duplicate);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(telnyx_.PlacedTotal(), 1);
  EXPECT_EQ(CommandsOf(telnyx_, "dial", "dup"), 1);
}

TEST_F(TelephonyServiceTest, RefusedDialGoesToTheNextProviderWithTheSameAttempt) {
  Start();
  telnyx_.ScriptDial(FakeProvider::DialScript::kRefuse);
  ASSERT_TRUE(service_->PlaceCall(Request("fo")).ok());
  const CallRow dialed = WaitDialed("fo");
  EXPECT_EQ(dialed.provider, "twilio");
  EXPECT_EQ(dialed.provider_index, 1);
  EXPECT_NE(dialed.failure_reason.find("telnyx: refused"), std::string::npos) << dialed.failure_reason;
  EXPECT_EQ(telnyx_.PlacedTotal(), 0);
  EXPECT_EQ(twilio_.PlacedCount("+15550001111"), 1);
  // Twilio's events drive it from here.
  const auto T = common::v1::PROVIDER_TWILIO;
  ASSERT_TRUE(
      *Deliver("t1", T, common::v1::CALL_EVENT_TYPE_ANSWERED, dialed.provider_call_id, "", "", "human"));
  ASSERT_TRUE(*Deliver("t2", T, common::v1::CALL_EVENT_TYPE_GATHER_ENDED, dialed.provider_call_id, "", "1"));
  std::optional<incident::v1::OnCallOutcomeRequest> report = WaitReport("fo");
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->outcome(), "digit_pressed");
  EXPECT_EQ(report->provider(), "twilio");
}

TEST_F(TelephonyServiceTest, EveryProviderFailingIsAFailedOutcome) {
  Start();
  telnyx_.ScriptDial(FakeProvider::DialScript::kFailTransient);
  twilio_.ScriptDial(FakeProvider::DialScript::kRefuse);
  ASSERT_TRUE(service_->PlaceCall(Request("allfail")).ok());
  ASSERT_TRUE(WaitForState("allfail", CallState::kFailed));
  std::optional<incident::v1::OnCallOutcomeRequest> report = WaitReport("allfail");
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->outcome(), "failed");
  EXPECT_EQ(report->reason(), "refused");
  EXPECT_NE(Call("allfail").failure_reason.find("telnyx: unavailable; twilio: refused"), std::string::npos)
      << Call("allfail").failure_reason;
}

TEST_F(TelephonyServiceTest, ALateCallOfAProviderWeLeftIsHungUp) {
  Start();
  // Telnyx places the call but its answer is lost: we fail over to Twilio; when Telnyx's webhook shows the
  // call exists, it is hung up, and the attempt goes on at Twilio.
  telnyx_.ScriptDial(FakeProvider::DialScript::kPlaceButLoseReply);
  ASSERT_TRUE(service_->PlaceCall(Request("stray")).ok());
  const CallRow dialed = WaitDialed("stray");
  ASSERT_EQ(dialed.provider, "twilio");
  ASSERT_TRUE(*Deliver("s1", common::v1::PROVIDER_TELNYX, common::v1::CALL_EVENT_TYPE_ANSWERED,
                       "telnyx-call-1", "stray"));
  EXPECT_TRUE(WaitFor([&] {
    for (const auto& c : telnyx_.Commands()) {
      if (c.kind == "hangup" && c.provider_call_id == "telnyx-call-1") return true;
    }
    return false;
  }));
  const CallRow after = Call("stray");
  EXPECT_EQ(after.provider, "twilio");
  EXPECT_EQ(after.state, CallState::kDialing);
  EXPECT_FALSE(after.outcome.has_value());
}

TEST_F(TelephonyServiceTest, MachineIsNotAnswered) {
  Start();
  ASSERT_TRUE(service_->PlaceCall(Request("m")).ok());
  const std::string id = WaitDialed("m").provider_call_id;
  const auto P = common::v1::PROVIDER_TELNYX;
  ASSERT_TRUE(*Deliver("m1", P, common::v1::CALL_EVENT_TYPE_ANSWERED, id, "m"));
  ASSERT_TRUE(*Deliver("m2", P, common::v1::CALL_EVENT_TYPE_MACHINE_DETECTION_ENDED, id, "m", "", "machine"));
  ASSERT_TRUE(*Deliver("m3", P, common::v1::CALL_EVENT_TYPE_HANGUP, id, "m", "", "", "normal_clearing"));
  std::optional<incident::v1::OnCallOutcomeRequest> report = WaitReport("m");
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->outcome(), "machine");
  EXPECT_TRUE(report->machine_detected());
  EXPECT_TRUE(Call("m").machine_detected);
  EXPECT_TRUE(WaitFor([&] { return CommandsOf(telnyx_, "hangup", "m") == 1; }));
}

TEST_F(TelephonyServiceTest, NoAnswerAtTheRingDeadlineEvenWithoutAHangupEvent) {
  Start();
  v1::PlaceCallRequest r = Request("na");
  r.set_ring_timeout_sec(5);  // the shortest Telnyx allows; the deadline is 5 s + 200 ms
  ASSERT_TRUE(service_->PlaceCall(r).ok());
  const std::string id = WaitDialed("na").provider_call_id;
  ASSERT_TRUE(*Deliver("n1", common::v1::PROVIDER_TELNYX, common::v1::CALL_EVENT_TYPE_RINGING, id, "na"));
  ASSERT_TRUE(WaitForState("na", CallState::kNoAnswer, absl::Seconds(12)));
  std::optional<incident::v1::OnCallOutcomeRequest> report = WaitReport("na");
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->outcome(), "no_answer");
  EXPECT_TRUE(WaitFor([&] { return CommandsOf(telnyx_, "hangup", "na") == 1; }));
  // The provider's own hangup arrives later: nothing changes.
  ASSERT_TRUE(*Deliver("n2", common::v1::PROVIDER_TELNYX, common::v1::CALL_EVENT_TYPE_HANGUP, id, "na", "",
                       "", "timeout"));
  EXPECT_EQ(Call("na").state, CallState::kNoAnswer);
  EXPECT_EQ(ReportCount("na"), 1);
}

TEST_F(TelephonyServiceTest, HangupAllEndsEveryLiveCallOfTheIncident) {
  Start();
  for (const char* key : {"h1", "h2", "h3"}) ASSERT_TRUE(service_->PlaceCall(Request(key)).ok());
  v1::PlaceCallRequest other = Request("h-other");
  other.set_incident_id("43");
  ASSERT_TRUE(service_->PlaceCall(other).ok());
  for (const char* key : {"h1", "h2", "h3", "h-other"}) WaitDialed(key);
  // h3 already finished.
  const std::string id3 = Call("h3").provider_call_id;
  ASSERT_TRUE(*Deliver("h3a", common::v1::PROVIDER_TELNYX, common::v1::CALL_EVENT_TYPE_HANGUP, id3, "h3", "",
                       "", "user_busy"));
  absl::StatusOr<int> ended = service_->HangupAll("incident:42");
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(*ended, 2);
  EXPECT_EQ(Call("h1").state, CallState::kCanceled);
  EXPECT_EQ(Call("h2").state, CallState::kCanceled);
  EXPECT_EQ(Call("h3").state, CallState::kBusy);
  EXPECT_EQ(Call("h-other").state, CallState::kDialing);
  EXPECT_TRUE(WaitFor(
      [&] { return CommandsOf(telnyx_, "hangup", "h1") + CommandsOf(telnyx_, "hangup", "h2") == 2; }));
  EXPECT_TRUE(WaitFor([&] { return Reports().size() == 3; }));
  EXPECT_EQ(WaitReport("h1")->outcome(), "canceled");
  EXPECT_EQ(WaitReport("h3")->outcome(), "busy");
  EXPECT_EQ(*service_->HangupAll("incident:42"), 0);
}

TEST_F(TelephonyServiceTest, SpendCapRefusesAndTellsTheRequester) {
  config_.caps.calls_per_hour = 2;
  Start();
  ASSERT_TRUE(service_->PlaceCall(Request("c1")).ok());
  ASSERT_TRUE(service_->PlaceCall(Request("c2")).ok());
  absl::StatusOr<PlaceResult> third = service_->PlaceCall(Request("c3"));
  ASSERT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(third.status().message().find("calls_per_hour"), std::string_view::npos);
  std::optional<incident::v1::OnCallOutcomeRequest> report = WaitReport("c3");
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->outcome(), "failed");
  EXPECT_EQ(report->reason(), "spend_cap:calls_per_hour");
  // The refused call is recorded, not billable, and a retry of it is a duplicate (not a second refusal).
  EXPECT_EQ(Call("c3").state, CallState::kFailed);
  absl::StatusOr<PlaceResult> retry = service_->PlaceCall(Request("c3"));
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->duplicate);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(telnyx_.PlacedTotal(), 2);
}

TEST_F(TelephonyServiceTest, RingMinutesCapCountsLiveCallsAtTheirRingTimeout) {
  config_.caps.ring_minutes_per_hour = 1;  // 60 s: two calls of 25 s fit, a third does not
  Start();
  ASSERT_TRUE(service_->PlaceCall(Request("r1")).ok());
  ASSERT_TRUE(service_->PlaceCall(Request("r2")).ok());
  absl::StatusOr<PlaceResult> third = service_->PlaceCall(Request("r3"));
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(third.status().message().find("ring_minutes_per_hour"), std::string_view::npos);
}

TEST_F(TelephonyServiceTest, StagingCallsOnlyTheAllowlist) {
  config_.app_env = kernel::AppEnv::kStaging;
  config_.staging_allowed_numbers = {"+15550001111"};
  Start();
  ASSERT_TRUE(service_->PlaceCall(Request("ok", "+15550001111")).ok());
  absl::StatusOr<PlaceResult> refused = service_->PlaceCall(Request("no", "+15550002222"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  std::optional<incident::v1::OnCallOutcomeRequest> report = WaitReport("no");
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->reason(), "staging_not_allowed");
  EXPECT_EQ(telnyx_.PlacedCount("+15550002222"), 0);
}

TEST_F(TelephonyServiceTest, BadRequestsAreRefused) {
  Start();
  v1::PlaceCallRequest no_key = Request("");
  EXPECT_EQ(service_->PlaceCall(no_key).status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<PlaceResult> bad_number = service_->PlaceCall(Request("bad", "8-800-555-35-35"));
  EXPECT_EQ(bad_number.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WaitReport("bad")->reason(), "invalid_number");
  v1::PlaceCallRequest bad_digits = Request("digits");
  bad_digits.set_valid_digits("1x");
  EXPECT_EQ(service_->PlaceCall(bad_digits).status().code(), absl::StatusCode::kInvalidArgument);
  v1::PlaceCallRequest bad_report = Request("report");
  bad_report.mutable_report_to()->set_service("billing");
  EXPECT_EQ(service_->PlaceCall(bad_report).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->GetCall("", "not-a-uuid").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(service_->GetCall("", "00000000-0000-4000-8000-000000000000").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(service_->GetCall("missing", "").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(service_->Hangup("missing", "").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TelephonyServiceTest, AnEventBeforeItsCallIsKnownIsRetriedNotLost) {
  Start();
  absl::StatusOr<bool> early =
      Deliver("u1", common::v1::PROVIDER_TWILIO, common::v1::CALL_EVENT_TYPE_RINGING, "CA-unknown", "");
  EXPECT_EQ(early.status().code(), absl::StatusCode::kUnavailable);
  // Not recorded: the sender's retry applies it.
  absl::StatusOr<pg::Result> rows =
      pool().Execute(pg::Query{"count_inbox", "SELECT count(*) FROM telephony.inbox_events"});
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->front().Get<int64_t>(0), 0);

  // One that still matches nothing after 10 minutes is nobody's: recorded, dropped, not retried forever.
  common::v1::CallEvent old;
  old.set_event_key("edge:old");
  old.set_provider(common::v1::PROVIDER_TWILIO);
  old.set_provider_event_id("old");
  old.set_type(common::v1::CALL_EVENT_TYPE_RINGING);
  old.set_call_id("CA-nobody");
  old.mutable_occurred_at()->set_seconds(absl::ToUnixSeconds(absl::Now() - absl::Minutes(11)));
  absl::StatusOr<bool> dropped = ReceiveCallEvent(receive_, *service_, "edge", old);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_TRUE(*dropped);
}

// A process that dies between "decided to dial" and "provider accepted" (its Dial never returns) is replaced
// by another (a second service and worker on the same database): after the job's lease the new one reruns the
// dial, knowing an earlier dial may have reached the provider, and the phone rings once.
class CrashMidDialTest : public TelephonyServiceTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(CrashMidDialTest, TheRerunRingsThePhoneOnce) {
  config_.providers = {GetParam()};
  FakeProvider& provider = GetParam() == "telnyx" ? telnyx_ : twilio_;
  provider.ScriptDial(FakeProvider::DialScript::kPlaceAndHang);
  Start();
  ASSERT_TRUE(service_->PlaceCall(Request("crash")).ok());
  ASSERT_TRUE(WaitFor([&] { return provider.PlacedTotal() == 1; }));
  // "Restart": a second worker on the same job table (the first one's Dial is stuck, as if its process died).
  auto pool = *pg::Pool::Create({.url = db_url(), .size = 8});
  auto job_store = *jobs::JobStore::Create(*pool, {.table = "telephony.jobs"});
  auto outbox = *jobs::Outbox::Create(*pool, {.table = "telephony.outbox_messages"});
  Store store(*pool);
  TelephonyService restarted(store, *job_store, *outbox, providers_, nullptr, config_, metrics_);
  auto worker = *jobs::Worker::Create(*pool, {.table = "telephony.jobs",
                                              .listen_url = db_url(),
                                              .threads = 2,
                                              .lease = config_.job_lease,
                                              .rescan_interval = absl::Milliseconds(200),
                                              .reclaim_interval = absl::Milliseconds(200),
                                              .metrics = &metrics_});
  restarted.RegisterJobs(*worker);
  ASSERT_TRUE(worker->Start().ok());
  const CallRow dialed = WaitDialed("crash");
  worker->Stop();
  provider.ReleaseHung();
  EXPECT_EQ(dialed.provider, GetParam());
  EXPECT_EQ(dialed.provider_call_id, GetParam() + "-call-1");
  EXPECT_EQ(provider.PlacedTotal(), 1);
  // Telnyx (a dial key) was asked again and ignored it; Twilio (none) was searched, not dialed again.
  EXPECT_EQ(CommandsOf(provider, "dial", "crash"), GetParam() == "telnyx" ? 2 : 1);
  EXPECT_EQ(CommandsOf(provider, "find", "crash"), 1);
}

INSTANTIATE_TEST_SUITE_P(Providers, CrashMidDialTest, ::testing::Values("telnyx", "twilio"));

// The incident service is down when the outcome is decided: the outbox keeps the report and delivers it once
// the service is back, once.
TEST_F(TelephonyServiceTest, AnOutcomeWaitsOutTheRequesterBeingDown) {
  incident_down_ = 3;
  Start();
  ASSERT_TRUE(service_->PlaceCall(Request("down")).ok());
  const std::string id = WaitDialed("down").provider_call_id;
  ASSERT_TRUE(*Deliver("d1", common::v1::PROVIDER_TELNYX, common::v1::CALL_EVENT_TYPE_HANGUP, id, "down", "",
                       "", "user_busy"));
  std::optional<incident::v1::OnCallOutcomeRequest> report = WaitReport("down");
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->outcome(), "busy");
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(incident_down_, 0);  // it was tried while down, and again
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(ReportCount("down"), 1);
}

// Postgres unreachable: PlaceCall and events are refused as UNAVAILABLE (the caller retries), nothing half-done.
TEST_F(TelephonyServiceTest, PostgresDownRefusesWithUnavailable) {
  Start();
  auto dead = *pg::Pool::Create({.url = "postgresql://127.0.0.1:1/none", .size = 1});
  Store store(*dead);
  TelephonyService cut_off(store, *job_store_, *outbox_, providers_, nullptr, config_, metrics_);
  absl::StatusOr<PlaceResult> placed = cut_off.PlaceCall(Request("nodb"));
  EXPECT_EQ(placed.status().code(), absl::StatusCode::kUnavailable) << placed.status();
  EXPECT_EQ(service_->GetCall("nodb", "").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(telnyx_.PlacedTotal(), 0);
}

TEST_F(TelephonyServiceTest, HangupOfOneCall) {
  Start();
  absl::StatusOr<PlaceResult> placed = service_->PlaceCall(Request("one"));
  WaitDialed("one");
  absl::StatusOr<std::pair<bool, CallRow>> done = service_->Hangup("", placed->call.call_id);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_TRUE(done->first);
  EXPECT_EQ(done->second.state, CallState::kCanceled);
  EXPECT_TRUE(WaitFor([&] { return CommandsOf(telnyx_, "hangup", "one") == 1; }));
  absl::StatusOr<std::pair<bool, CallRow>> again = service_->Hangup("one", "");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->first);
  EXPECT_EQ(WaitReport("one")->outcome(), "canceled");
}

}  // namespace
}  // namespace protectogram::telephony
