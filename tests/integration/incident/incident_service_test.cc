// IncidentService on a real Postgres with its real job worker, inbox and outbox relay, and recording fakes of
// the notification and telephony services (Downstream): the panic's commands and their keys, exactly once in
// effect; a service down (the commands wait in the outbox and go out once, later); duplicate and unknown
// events; the admin API's refusals; the acknowledgement race; a corrupt state refused whole; the auditor.
// The same flow across real processes is tests/e2e/incident.
#include "services/incident/incident_service.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/jobs/inbox.h"
#include "libs/jobs/job_store.h"
#include "libs/jobs/outbox.h"
#include "libs/jobs/worker.h"
#include "libs/kernel/metrics.h"
#include "libs/pg/query.h"
#include "tests/support/pg_harness.h"

namespace protectogram::incident {
namespace {

namespace nv1 = notification::v1;
namespace tv1 = telephony::v1;

// What the fake notification and telephony services were asked, by idempotency key (a repeat is counted).
struct Recorder {
  std::mutex mu;
  std::map<std::string, nv1::SendRequest> sends;
  std::map<std::string, int> send_count;
  std::vector<nv1::EditRequest> edits;
  std::vector<nv1::AnswerCallbackRequest> answers;
  std::vector<tv1::PlaceCallRequest> calls;
  std::vector<std::string> hangup_all;
  int notification_down = 0;  // the next N sends fail with UNAVAILABLE
  absl::Status place_call_answer = absl::OkStatus();

  std::vector<nv1::SendRequest> SendsTo(const std::string& chat) {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<nv1::SendRequest> out;
    for (const auto& [k, s] : sends) {
      if (s.chat_id() == chat) out.push_back(s);
    }
    return out;
  }
};

int64_t Count(pg::Pool& pool, const std::string& sql) {
  absl::StatusOr<pg::Result> r = pool.Execute(pg::Query{"count", sql.c_str()});
  EXPECT_TRUE(r.ok()) << r.status() << " " << sql;
  return r.ok() ? r->front().Get<int64_t>("n") : -1;
}

class IncidentServiceTest : public test::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    config_.panic.reminder_interval = absl::Seconds(60);
    config_.audit_grace = absl::ZeroDuration();
    config_.bot_usernames["main"] = "test_bot";
  }

  void Start() {
    pool_ = *pg::Pool::Create({.url = db_url_for_role("protectogram_incident"), .size = 16});
    job_store_ = *jobs::JobStore::Create(*pool_, {.table = "incident.scheduled_actions"});
    worker_ = *jobs::Worker::Create(*pool_, {.table = "incident.scheduled_actions",
                                             .listen_url = db_url_for_role("protectogram_incident"),
                                             .threads = 2,
                                             .rescan_interval = absl::Seconds(1),
                                             .metrics = &metrics_});
    outbox_ = *jobs::Outbox::Create(*pool_, {.table = "incident.outbox_messages"});
    relay_ = *jobs::OutboxRelay::Create(*pool_, {.table = "incident.outbox_messages",
                                                 .listen_url = db_url_for_role("protectogram_incident"),
                                                 .threads = 4,
                                                 .retry = jobs::RetryPolicy::Fixed({absl::Milliseconds(50)}),
                                                 .max_attempts = 1000,
                                                 .rescan_interval = absl::Seconds(1),
                                                 .metrics = &metrics_});
    inbox_ = *jobs::Inbox::Create(*pool_, {.table = "incident.inbox_events", .metrics = &metrics_});
    Recorder* rec = &rec_;
    Downstream downstream{.send =
                              [rec](const nv1::SendRequest& r) {
                                std::lock_guard<std::mutex> lock(rec->mu);
                                if (rec->notification_down > 0) {
                                  --rec->notification_down;
                                  return absl::UnavailableError("notification is down");
                                }
                                rec->sends[r.idempotency_key()] = r;
                                ++rec->send_count[r.idempotency_key()];
                                return absl::OkStatus();
                              },
                          .edit =
                              [rec](const nv1::EditRequest& r) {
                                std::lock_guard<std::mutex> lock(rec->mu);
                                rec->edits.push_back(r);
                                return absl::OkStatus();
                              },
                          .answer_callback =
                              [rec](const nv1::AnswerCallbackRequest& r) {
                                std::lock_guard<std::mutex> lock(rec->mu);
                                rec->answers.push_back(r);
                                return absl::OkStatus();
                              },
                          .place_call =
                              [rec](const tv1::PlaceCallRequest& r) {
                                std::lock_guard<std::mutex> lock(rec->mu);
                                rec->calls.push_back(r);
                                return rec->place_call_answer;
                              },
                          .hangup = [](const tv1::HangupRequest&) { return absl::OkStatus(); },
                          .hangup_all =
                              [rec](const tv1::HangupAllRequest& r) {
                                std::lock_guard<std::mutex> lock(rec->mu);
                                rec->hangup_all.push_back(r.correlation_id());
                                return absl::OkStatus();
                              },
                          .bot_username = nullptr};
    store_ = std::make_unique<Store>(*pool_);
    service_ = std::make_unique<IncidentService>(*store_, *job_store_, *outbox_, std::move(downstream),
                                                 config_, metrics_);
    service_->RegisterJobs(*worker_);
    service_->RegisterChannels(*relay_);
    jobs::Worker* worker = worker_.get();
    jobs::OutboxRelay* relay = relay_.get();
    service_->SetWake([worker] { worker->Wake(); }, [relay] { relay->Wake(); });
    ASSERT_TRUE(worker_->Start().ok());
    ASSERT_TRUE(relay_->Start().ok());
  }

  void TearDown() override {
    if (worker_) worker_->Stop();
    if (relay_) relay_->Stop();
    service_.reset();
    PgTest::TearDown();
  }

  // A registered user (telegram id = chat id).
  int64_t AddUser(const std::string& name, int64_t telegram_id) {
    absl::StatusOr<pg::Result> r = pool_->Execute(
        pg::Query{"add_user",
                  "INSERT INTO incident.users (telegram_id, display_name, phone_e164, chat_id, registered_at)"
                  " VALUES ($1, $2, $3, $4, now()) RETURNING id"},
        {telegram_id, name, absl::StrCat("+7999", telegram_id), absl::StrCat(telegram_id)});
    EXPECT_TRUE(r.ok()) << r.status();
    return r->front().Get<int64_t>("id");
  }
  int64_t AddLink(int64_t traveler, int64_t guardian, int priority) {
    absl::StatusOr<pg::Result> r = pool_->Execute(
        pg::Query{"add_link",
                  "INSERT INTO incident.member_links (traveler_user_id, watcher_user_id, call_priority)"
                  " VALUES ($1, $2, $3) RETURNING id"},
        {traveler, guardian, priority});
    EXPECT_TRUE(r.ok()) << r.status();
    return r->front().Get<int64_t>("id");
  }
  // Traveler 1001 «Анна» with guardians 2001 «Иван», 2002 «Мария», 2003 «Пётр».
  void AddFamily() {
    traveler_ = AddUser("Анна", 1001);
    for (int i = 0; i < 3; ++i) {
      guardians_.push_back(AddUser(std::vector<std::string>{"Иван", "Мария", "Пётр"}[i], 2001 + i));
      links_.push_back(AddLink(traveler_, guardians_.back(), i));
    }
  }

  // Delivers one chat event through the inbox, as the gRPC adapter does.
  absl::StatusOr<bool> Deliver(const common::v1::ChatEvent& event) {
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(event, &json);
    AfterCommit after;
    absl::StatusOr<bool> r = inbox_->ReceiveOnce(
        {.provider = "edge", .provider_event_id = event.event_key(), .payload = json, .payload_json = json},
        [&](pg::Transaction& txn) { return service_->OnChatEvent(txn, event, after); });
    if (r.ok() && *r) service_->Finish(after);
    return r;
  }
  common::v1::ChatEvent Text(int64_t from, const std::string& text, const std::string& command = "") {
    common::v1::ChatEvent e;
    e.set_event_key(absl::StrCat("edge:", ++event_id_));
    e.set_bot_id("main");
    e.set_chat_id(absl::StrCat(from));
    e.mutable_from()->set_id(absl::StrCat(from));
    e.mutable_from()->set_language_code("ru");
    e.mutable_text()->set_text(text);
    e.mutable_text()->set_command(command);
    return e;
  }
  common::v1::ChatEvent Button(int64_t from, const std::string& data) {
    common::v1::ChatEvent e;
    e.set_event_key(absl::StrCat("edge:", ++event_id_));
    e.set_bot_id("main");
    e.set_chat_id(absl::StrCat(from));
    e.mutable_from()->set_id(absl::StrCat(from));
    e.mutable_button()->set_callback_id(absl::StrCat("cb-", event_id_));
    e.mutable_button()->set_data(data);
    return e;
  }
  absl::StatusOr<bool> CallOutcome(const std::string& attempt_key, const std::string& outcome,
                                   const std::string& digit = "") {
    v1::OnCallOutcomeRequest r;
    r.set_event_key("call:" + attempt_key);
    r.set_attempt_key(attempt_key);
    r.set_outcome(outcome);
    r.set_digit(digit);
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(r, &json);
    AfterCommit after;
    absl::StatusOr<bool> applied = inbox_->ReceiveOnce(
        {.provider = "telephony", .provider_event_id = r.event_key(), .payload = json, .payload_json = json},
        [&](pg::Transaction& txn) { return service_->OnCallOutcome(txn, r, after); });
    if (applied.ok() && *applied) service_->Finish(after);
    return applied;
  }

  int64_t Panic() {
    EXPECT_TRUE(Deliver(Text(1001, "/panic", "panic")).ok());
    absl::StatusOr<std::vector<v1::Incident>> list = service_->ListIncidents({});
    EXPECT_TRUE(list.ok() && !list->empty());
    return list.ok() && !list->empty() ? list->front().id() : 0;
  }

  static bool WaitFor(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return done();
  }

  double Metric(const std::string& name) {
    const std::string text = metrics_.Expose();
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      if (absl::StartsWith(line, name + " ")) {
        double v = 0;
        (void)absl::SimpleAtod(line.substr(name.size() + 1), &v);
        return v;
      }
    }
    return 0;
  }

  IncidentConfig config_;
  kernel::MetricsRegistry metrics_;
  Recorder rec_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<jobs::JobStore> job_store_;
  std::unique_ptr<jobs::Worker> worker_;
  std::unique_ptr<jobs::Outbox> outbox_;
  std::unique_ptr<jobs::OutboxRelay> relay_;
  std::unique_ptr<jobs::Inbox> inbox_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<IncidentService> service_;
  int64_t traveler_ = 0;
  std::vector<int64_t> guardians_, links_;
  int event_id_ = 0;
};

TEST_F(IncidentServiceTest, APanicQueuesEveryAlertTheConfirmationAndTheFirstCallOnce) {
  Start();
  AddFamily();
  const int64_t id = Panic();
  ASSERT_GT(id, 0);
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(rec_.mu);
    return rec_.sends.size() >= 4 && rec_.calls.size() == 1;
  }));
  for (int i = 0; i < 3; ++i) {
    std::vector<nv1::SendRequest> sent = rec_.SendsTo(absl::StrCat(2001 + i));
    ASSERT_EQ(sent.size(), 1u) << i;
    EXPECT_EQ(sent[0].template_id(), "panic.alert");
    EXPECT_EQ(sent[0].params().at("name"), "Анна");
    EXPECT_EQ(sent[0].priority(), nv1::PRIORITY_ALERT);
    ASSERT_EQ(sent[0].buttons_size(), 1);
    EXPECT_EQ(sent[0].buttons(0).text(), "Я беру ответственность");
    EXPECT_EQ(sent[0].buttons(0).data(), absl::StrCat("ack:", id));
    EXPECT_EQ(sent[0].report_to().service(), "incident");
  }
  std::vector<nv1::SendRequest> traveler = rec_.SendsTo("1001");
  ASSERT_EQ(traveler.size(), 1u);
  EXPECT_EQ(traveler[0].template_id(), "panic.traveler_confirmation");
  EXPECT_EQ(traveler[0].buttons(0).text(), "Отменить тревогу");
  {
    std::lock_guard<std::mutex> lock(rec_.mu);
    EXPECT_EQ(rec_.calls[0].to_e164(), "+79992001");
    EXPECT_EQ(rec_.calls[0].attempt_key(), absl::StrCat("incident:", id, ":call:1"));
    EXPECT_EQ(rec_.calls[0].correlation_id(), absl::StrCat("incident:", id));
    EXPECT_EQ(rec_.calls[0].ring_timeout_sec(), 25);
    EXPECT_EQ(rec_.calls[0].language(), "ru-RU");
    EXPECT_EQ(rec_.calls[0].speak_text(), "Тревога! Срочно свяжитесь с Анна. Нажмите 1, чтобы подтвердить.");
  }
  EXPECT_EQ(Metric("panic_incidents_started_total"), 1);
  // A second press shows the active incident with its cancel button and opens nothing.
  ASSERT_TRUE(Deliver(Text(1001, "/panic", "panic")).ok());
  ASSERT_TRUE(WaitFor([&] { return rec_.SendsTo("1001").size() == 2; }));
  EXPECT_EQ(Count(*pool_, "SELECT count(*) AS n FROM incident.incidents"), 1);
  bool shown = false;
  for (const auto& s : rec_.SendsTo("1001")) shown |= s.template_id() == "panic.already_active";
  EXPECT_TRUE(shown);
  EXPECT_EQ(Metric("panic_incidents_started_total"), 1);
}

TEST_F(IncidentServiceTest, TheMenuButtonRaisesTheAlarmAndStopsItsSpinner) {
  Start();
  AddFamily();
  common::v1::ChatEvent press = Button(1001, "menu:panic");
  ASSERT_TRUE(Deliver(press).ok());
  EXPECT_EQ(Count(*pool_, "SELECT count(*) AS n FROM incident.incidents WHERE status = 'active'"), 1);
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(rec_.mu);
    for (const auto& a : rec_.answers) {
      if (a.callback_query_id() == press.button().callback_id()) return true;
    }
    return false;
  }));
}

TEST_F(IncidentServiceTest, NotificationDownTheAlertsWaitAndGoOutOnce) {
  rec_.notification_down = 12;
  Start();
  AddFamily();
  ASSERT_GT(Panic(), 0);
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(rec_.mu);
    return rec_.notification_down == 0 && rec_.sends.size() >= 4;
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::lock_guard<std::mutex> lock(rec_.mu);
  for (const auto& [key, n] : rec_.send_count) EXPECT_EQ(n, 1) << key;
  EXPECT_EQ(rec_.sends.size(), 4u);
}

TEST_F(IncidentServiceTest, ARepeatedEventIsADuplicateAndChangesNothing) {
  Start();
  AddFamily();
  common::v1::ChatEvent panic = Text(1001, "/panic", "panic");
  ASSERT_TRUE(*Deliver(panic));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(*Deliver(panic));
  EXPECT_EQ(Count(*pool_, "SELECT count(*) AS n FROM incident.incidents"), 1);
  EXPECT_EQ(Count(*pool_, "SELECT count(*) AS n FROM incident.timeline WHERE what = 'panic'"), 1);
}

TEST_F(IncidentServiceTest, OutcomesOfCallsThatAreNotOursAreAcknowledgedAndIgnored) {
  Start();
  AddFamily();
  const int64_t id = Panic();
  const std::string before = service_->GetIncident(id)->state_json();
  EXPECT_TRUE(CallOutcome("incident:999999:call:1", "digit_pressed", "1").ok());
  EXPECT_TRUE(CallOutcome("something-else", "no_answer").ok());
  EXPECT_TRUE(CallOutcome(absl::StrCat("incident:", id, ":call:7"), "digit_pressed", "1").ok());
  EXPECT_EQ(service_->GetIncident(id)->state_json(), before);
  EXPECT_EQ(service_->GetIncident(id)->status(), v1::INCIDENT_STATUS_ACTIVE);
}

TEST_F(IncidentServiceTest, TheFirstOfManySimultaneousAcksWinsAlone) {
  Start();
  AddFamily();
  const int64_t id = Panic();
  std::vector<common::v1::ChatEvent> presses;  // built first: each has its own event key and callback
  for (int i = 0; i < 9; ++i) presses.push_back(Button(2001 + i % 3, absl::StrCat("ack:", id)));
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int i = 0; i < 9; ++i) {
    threads.emplace_back([&, i] {
      if (!Deliver(presses[static_cast<size_t>(i)]).ok()) ++failed;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  absl::StatusOr<v1::Incident> inc = service_->GetIncident(id);
  ASSERT_TRUE(inc.ok());
  EXPECT_EQ(inc->status(), v1::INCIDENT_STATUS_ACKNOWLEDGED);
  EXPECT_EQ(Metric("panic_acknowledged_total"), 1);
  EXPECT_EQ(Count(*pool_, "SELECT count(*) AS n FROM incident.timeline WHERE what = 'acknowledged'"), 1);
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(rec_.mu);
    return rec_.answers.size() == 9 && rec_.hangup_all.size() == 1;
  }));
  int thanks = 0, already = 0;
  for (const auto& a : rec_.answers) {
    thanks += a.template_id() == "panic.ack_thanks";
    already += a.template_id() == "panic.already_acknowledged";
  }
  EXPECT_EQ(thanks, 1);
  EXPECT_EQ(already, 8);
  // No timer is left.
  EXPECT_EQ(Count(*pool_, absl::StrCat(
                              "SELECT count(*) AS n FROM incident.scheduled_actions WHERE incident_id = ", id,
                              " AND state = 'pending'")),
            0);
}

TEST_F(IncidentServiceTest, ACorruptStateIsRefusedWholeNothingHalfStored) {
  Start();
  AddFamily();
  const int64_t id = Panic();
  ASSERT_TRUE(
      pool_->Execute(pg::Query{"corrupt", "UPDATE incident.incidents SET state_json = '{\"x\":1}'"}).ok());
  const int64_t timeline = Count(*pool_, "SELECT count(*) AS n FROM incident.timeline");
  absl::StatusOr<bool> r = Deliver(Button(2001, absl::StrCat("ack:", id)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_EQ(Count(*pool_, "SELECT count(*) AS n FROM incident.timeline"), timeline);
  EXPECT_EQ(Count(*pool_, "SELECT count(*) AS n FROM incident.incidents WHERE status = 'active'"), 1);
}

TEST_F(IncidentServiceTest, TheAdminApiRefusesClearly) {
  Start();
  AddFamily();
  const int64_t lonely = AddUser("Одинокий", 3001);
  EXPECT_EQ(service_->GetIncident(424242).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(service_->CancelIncident(424242, "").status().code(), absl::StatusCode::kNotFound);
  v1::TriggerTestPanicRequest both;
  both.set_traveler_user_id(traveler_);
  both.set_telegram_id(1001);
  EXPECT_EQ(service_->TriggerTestPanic(both).status().code(), absl::StatusCode::kInvalidArgument);
  v1::TriggerTestPanicRequest unknown;
  unknown.set_telegram_id(987654);
  EXPECT_EQ(service_->TriggerTestPanic(unknown).status().code(), absl::StatusCode::kNotFound);
  v1::TriggerTestPanicRequest no_guardians;
  no_guardians.set_traveler_user_id(lonely);
  EXPECT_EQ(service_->TriggerTestPanic(no_guardians).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Count(*pool_, "SELECT count(*) AS n FROM incident.incidents"), 0);

  v1::SetLinkPolicyRequest bad;
  bad.set_link_id(links_[0]);
  bad.set_ring_timeout_sec(2);
  EXPECT_EQ(service_->SetLinkPolicy(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad.clear_ring_timeout_sec();
  bad.set_max_retries(11);
  EXPECT_EQ(service_->SetLinkPolicy(bad).status().code(), absl::StatusCode::kInvalidArgument);
  v1::SetLinkPolicyRequest missing;
  missing.set_link_id(999999);
  missing.set_calls_enabled(false);
  EXPECT_EQ(service_->SetLinkPolicy(missing).status().code(), absl::StatusCode::kNotFound);
  v1::SetLinkPolicyRequest good;
  good.set_link_id(links_[0]);
  good.set_calls_enabled(false);
  absl::StatusOr<v1::Link> link = service_->SetLinkPolicy(good);
  ASSERT_TRUE(link.ok()) << link.status();
  EXPECT_FALSE(link->calls_enabled());
  EXPECT_EQ(link->ring_timeout_sec(), 25);  // unset fields keep their value

  // The test panic now skips the guardian without calls; cancelling twice is refused the second time.
  v1::TriggerTestPanicRequest test;
  test.set_telegram_id(1001);
  absl::StatusOr<PanicResult> started = service_->TriggerTestPanic(test);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_TRUE(service_->GetIncident(started->incident_id)->is_test());
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(rec_.mu);
    return rec_.calls.size() == 1;
  }));
  EXPECT_EQ(rec_.calls[0].to_e164(), "+79992002");
  EXPECT_TRUE(service_->TriggerTestPanic(test)->already_active);
  EXPECT_TRUE(service_->CancelIncident(started->incident_id, "drill over").ok());
  EXPECT_EQ(service_->CancelIncident(started->incident_id, "again").status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Phones are masked in the user list.
  absl::StatusOr<std::vector<v1::User>> users = service_->ListUsers(0);
  ASSERT_TRUE(users.ok());
  for (const auto& u : *users) EXPECT_TRUE(absl::StrContains(u.phone_masked(), "****")) << u.phone_masked();
}

TEST_F(IncidentServiceTest, ATelephonyRefusalIsTakenNotADeadLetter) {
  rec_.place_call_answer = absl::FailedPreconditionError("spend cap");
  Start();
  AddFamily();
  ASSERT_GT(Panic(), 0);
  ASSERT_TRUE(WaitFor([&] {
    return Count(*pool_,
                 "SELECT count(*) AS n FROM incident.outbox_messages WHERE channel = 'telephony.place_call' "
                 "AND "
                 "status = 'sent'") == 1;
  }));
  EXPECT_EQ(Count(*pool_, "SELECT count(*) AS n FROM incident.outbox_messages WHERE status = 'dead'"), 0);
}

TEST_F(IncidentServiceTest, TheAuditorRepairsAnOpenIncidentLeftWithNothingPending) {
  Start();
  AddFamily();
  const int64_t id = Panic();
  absl::StatusOr<int> none = service_->AuditOnce();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, 0);
  ASSERT_TRUE(pool_->Execute(pg::Query{"lose", "DELETE FROM incident.scheduled_actions"}).ok());
  absl::StatusOr<int> repaired = service_->AuditOnce();
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  EXPECT_EQ(*repaired, 1);
  EXPECT_EQ(Metric("incident_invariant_repairs_total"), 1);
  EXPECT_GE(Count(*pool_, absl::StrCat(
                              "SELECT count(*) AS n FROM incident.scheduled_actions WHERE incident_id = ", id,
                              " AND state = 'pending'")),
            2);  // the next reminder and the live call's deadline
  EXPECT_EQ(Count(*pool_, "SELECT count(*) AS n FROM incident.timeline WHERE what = 'repaired'"), 1);
  EXPECT_EQ(*service_->AuditOnce(), 0);
}

TEST_F(IncidentServiceTest, RegistrationAndAnInviteThroughTheConversation) {
  Start();
  const int64_t anna = 5001, ivan = 5002;
  ASSERT_TRUE(Deliver(Text(anna, "/start", "start")).ok());
  common::v1::ChatEvent contact;
  contact.set_event_key("edge:contact-1");
  contact.set_bot_id("main");
  contact.set_chat_id(absl::StrCat(anna));
  contact.mutable_from()->set_id(absl::StrCat(anna));
  contact.mutable_from()->set_first_name("Анна");
  contact.mutable_contact()->set_phone_number("79990005001");
  contact.mutable_contact()->set_user_id(absl::StrCat(anna));
  ASSERT_TRUE(Deliver(contact).ok());
  EXPECT_EQ(Count(*pool_, "SELECT count(*) AS n FROM incident.users WHERE phone_e164 = '+79990005001'"), 1);
  ASSERT_TRUE(Deliver(Text(anna, "/invite", "invite")).ok());
  ASSERT_TRUE(WaitFor([&] { return rec_.SendsTo(absl::StrCat(anna)).size() == 3; }));
  std::string link;
  for (const auto& s : rec_.SendsTo(absl::StrCat(anna))) {
    if (s.template_id() == "invite.link") link = s.params().at("link");
  }
  ASSERT_TRUE(absl::StartsWith(link, "https://t.me/test_bot?start=")) << link;
  const std::string token = link.substr(link.size() - 16);
  common::v1::ChatEvent open = Text(ivan, "/start " + token, "start");
  open.mutable_text()->set_command_args(token);
  ASSERT_TRUE(Deliver(open).ok());
  common::v1::ChatEvent ivan_contact = contact;
  ivan_contact.set_event_key("edge:contact-2");
  ivan_contact.set_chat_id(absl::StrCat(ivan));
  ivan_contact.mutable_from()->set_id(absl::StrCat(ivan));
  ivan_contact.mutable_from()->set_first_name("Иван");
  ivan_contact.mutable_contact()->set_phone_number("79990005002");
  ivan_contact.mutable_contact()->set_user_id(absl::StrCat(ivan));
  ASSERT_TRUE(Deliver(ivan_contact).ok());
  EXPECT_EQ(Count(*pool_, "SELECT count(*) AS n FROM incident.member_links WHERE status = 'active'"), 1);
  EXPECT_EQ(Count(*pool_, "SELECT count(*) AS n FROM incident.invites WHERE uses = 1"), 1);
  // The same link again, by someone else: used.
  common::v1::ChatEvent again = Text(5003, "/start " + token, "start");
  again.mutable_text()->set_command_args(token);
  ASSERT_TRUE(Deliver(again).ok());
  ASSERT_TRUE(WaitFor([&] { return !rec_.SendsTo("5003").empty(); }));
  EXPECT_EQ(rec_.SendsTo("5003")[0].template_id(), "invite.used");
}

}  // namespace
}  // namespace protectogram::incident
