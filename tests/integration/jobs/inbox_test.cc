// The inbox on edge.inbox_events and incident.inbox_events: one row per event however often it arrives, one
// delivery per row, redelivery until acknowledged, batched stores; and the receiving side, ReceiveOnce: one
// effect per event however often and however concurrently it arrives, nothing kept when the effect fails,
// lost races retried.
#include "libs/jobs/inbox.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "libs/jobs/internal/metrics.h"
#include "tests/integration/jobs/jobs_test_util.h"

namespace protectogram::jobs::testing {
namespace {

constexpr char kEdgeInbox[] = "edge.inbox_events";

class InboxTest : public JobsTest {
 protected:
  void SetUp() override {
    JobsTest::SetUp();
    inbox_ = *Inbox::Create(db(), {.table = kEdgeInbox, .metrics = &metrics_});
  }

  // A relay whose deliveries are counted per event id; `fail_first` deliveries of each event fail.
  std::unique_ptr<InboxRelay> StartRelay(int fail_first = 0,
                                         absl::Status failure = absl::UnavailableError("down")) {
    auto relay = InboxRelay::Create(
        db(),
        {.table = kEdgeInbox,
         .retry = RetryPolicy::Exponential(absl::Milliseconds(50), absl::Milliseconds(200)),
         .metrics = &metrics_},
        [this, fail_first, failure](const InboxMessage& e) {
          std::lock_guard<std::mutex> lock(mu_);
          if (++attempts_[e.id] <= fail_first) return failure;
          ++delivered_[e.id];
          return absl::OkStatus();
        });
    EXPECT_TRUE(relay.ok()) << relay.status();
    EXPECT_TRUE((*relay)->Start().ok());
    return *std::move(relay);
  }
  int Delivered(int64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    return delivered_[id];
  }
  int TotalDelivered() {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const auto& [id, count] : delivered_) n += count;
    return n;
  }
  double Duplicates() { return internal::DuplicateInboxMetric(metrics_).Value(); }
  static InboxEvent Update(int update_id) {
    const std::string body =
        "{\"update_id\": " + std::to_string(update_id) + ", \"message\": {\"text\": \"hi\"}}";
    return InboxEvent{.provider = "telegram:main",
                      .provider_event_id = std::to_string(update_id),
                      .payload = body,
                      .payload_json = body,
                      .headers_json = R"({"content-type": "application/json"})"};
  }

  std::unique_ptr<Inbox> inbox_;
  std::mutex mu_;
  std::map<int64_t, int> attempts_;
  std::map<int64_t, int> delivered_;
};

TEST_F(InboxTest, ADuplicateIsCountedAndNotDeliveredAgain) {
  std::unique_ptr<InboxRelay> relay = StartRelay();
  absl::StatusOr<StoredEvent> first = inbox_->Store(Update(1));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->duplicate);
  relay->Wake();
  ASSERT_TRUE(WaitFor([&] { return Delivered(first->id) == 1; }, absl::Seconds(5)));
  ASSERT_TRUE(
      WaitFor([&] { return inbox_->Get(first->id)->status == InboxStatus::kDelivered; }, absl::Seconds(5)));

  absl::StatusOr<StoredEvent> again = inbox_->Store(Update(1));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->id, first->id);
  EXPECT_EQ(Duplicates(), 1);
  relay->Wake();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Delivered(first->id), 1);
  absl::StatusOr<InboxMessage> stored = inbox_->Get(first->id);
  EXPECT_EQ(stored->payload, Update(1).payload);  // raw payload kept
  EXPECT_EQ(stored->attempts, 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM edge.inbox_events WHERE processed_at IS NOT NULL"), 1);
  relay->Stop();
}

TEST_F(InboxTest, FiftyConcurrentStoresOfOneEventMakeOneRowAndOneDelivery) {
  std::unique_ptr<pg::Pool> pool = *pg::Pool::Create({.url = db_url(), .size = 50});
  auto inbox = *Inbox::Create(*pool, {.table = kEdgeInbox, .metrics = &metrics_});
  std::unique_ptr<InboxRelay> relay = StartRelay();
  constexpr int kStores = 50;
  std::barrier start(kStores);
  std::vector<absl::StatusOr<StoredEvent>> results(kStores, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kStores; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      results[i] = inbox->Store(Update(77));
      relay->Wake();
    });
  }
  for (std::thread& t : threads) t.join();
  int stored = 0;
  int64_t id = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    if (!r->duplicate) ++stored;
    if (id == 0) id = r->id;
    EXPECT_EQ(r->id, id);
  }
  EXPECT_EQ(stored, 1);
  EXPECT_EQ(Duplicates(), kStores - 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM edge.inbox_events"), 1);
  ASSERT_TRUE(WaitFor([&] { return Delivered(id) == 1; }, absl::Seconds(5)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(TotalDelivered(), 1);
  relay->Stop();
}

TEST_F(InboxTest, BatchedStoreReportsDuplicatesInInputOrder) {
  ASSERT_TRUE(inbox_->Store(Update(5)).ok());
  std::vector<InboxEvent> events;
  for (int i = 0; i < 100; ++i) events.push_back(Update(i));
  events.push_back(Update(7));  // repeated within the batch
  InboxEvent form = {.provider = "twilio", .provider_event_id = "SM1", .payload = "Body=1&From=%2B7999"};
  events.push_back(form);  // not JSON: payload_json stays NULL
  absl::StatusOr<std::vector<StoredEvent>> stored = inbox_->StoreBatch(events);
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_EQ(stored->size(), events.size());
  for (int i = 0; i < 100; ++i) EXPECT_EQ((*stored)[i].duplicate, i == 5) << i;
  EXPECT_TRUE((*stored)[100].duplicate);
  EXPECT_EQ((*stored)[100].id, (*stored)[7].id);
  EXPECT_FALSE((*stored)[101].duplicate);
  EXPECT_GT((*stored)[5].id, 0);
  EXPECT_EQ(Duplicates(), 2);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM edge.inbox_events"), 101);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM edge.inbox_events WHERE payload_json IS NULL"), 1);

  // Every row is delivered once, leftovers included (stored before the relay ran).
  std::unique_ptr<InboxRelay> relay = StartRelay();
  ASSERT_TRUE(WaitFor([&] { return TotalDelivered() == 101; }, absl::Seconds(10)));
  ASSERT_TRUE(WaitFor(
      [&] { return QueryInt("SELECT count(*) FROM edge.inbox_events WHERE status = 'delivered'") == 101; },
      absl::Seconds(5)));
  relay->Stop();
  EXPECT_EQ(TotalDelivered(), 101);
}

TEST_F(InboxTest, FailedDeliveriesAreRetriedUntilAcknowledged) {
  std::unique_ptr<InboxRelay> relay = StartRelay(/*fail_first=*/3);
  absl::StatusOr<StoredEvent> e = inbox_->Store(Update(9));
  ASSERT_TRUE(e.ok());
  relay->Wake();
  ASSERT_TRUE(WaitFor([&] { return Delivered(e->id) == 1; }, absl::Seconds(5)));
  ASSERT_TRUE(
      WaitFor([&] { return inbox_->Get(e->id)->status == InboxStatus::kDelivered; }, absl::Seconds(5)));
  EXPECT_EQ(inbox_->Get(e->id)->attempts, 4);
  relay->Stop();
}

TEST_F(InboxTest, APermanentFailureMarksTheEventIgnored) {
  std::unique_ptr<InboxRelay> relay =
      StartRelay(/*fail_first=*/100, absl::InvalidArgumentError("unknown chat"));
  absl::StatusOr<StoredEvent> e = inbox_->Store(Update(10));
  ASSERT_TRUE(e.ok());
  relay->Wake();
  ASSERT_TRUE(WaitFor([&] { return inbox_->Get(e->id)->status == InboxStatus::kIgnored; }, absl::Seconds(5)));
  EXPECT_NE(inbox_->Get(e->id)->last_error.find("unknown chat"), std::string::npos);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM edge.inbox_events WHERE processed_at IS NOT NULL"), 1);
  relay->Stop();
  // An admin replay delivers it again.
  std::unique_ptr<InboxRelay> healthy = StartRelay();
  ASSERT_TRUE(inbox_->Replay(e->id).ok());
  healthy->Wake();
  ASSERT_TRUE(
      WaitFor([&] { return inbox_->Get(e->id)->status == InboxStatus::kDelivered; }, absl::Seconds(5)));
  EXPECT_EQ(inbox_->Replay(999999).code(), absl::StatusCode::kNotFound);
  healthy->Stop();
}

TEST_F(InboxTest, TheReceivingServiceStoresAndHandlesInOneTransaction) {
  auto incident_inbox = *Inbox::Create(db(), {.table = "incident.inbox_events", .metrics = &metrics_});
  InboxEvent event = Update(11);
  for (int round = 0; round < 2; ++round) {
    absl::StatusOr<pg::Transaction> txn = db().Begin();
    ASSERT_TRUE(txn.ok());
    absl::StatusOr<StoredEvent> stored = incident_inbox->Store(*txn, event, /*handled=*/true);
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(stored->duplicate, round == 1);
    ASSERT_TRUE(txn->Commit().ok());
  }
  EXPECT_EQ(QueryInt("SELECT count(*) FROM incident.inbox_events WHERE status = 'delivered' "
                     "AND processed_at IS NOT NULL AND payload_json IS NOT NULL"),
            1);
  // A store rolled back with its transaction leaves nothing.
  {
    absl::StatusOr<pg::Transaction> txn = db().Begin();
    ASSERT_TRUE(incident_inbox->Store(*txn, Update(12), true).ok());
  }
  EXPECT_EQ(QueryInt("SELECT count(*) FROM incident.inbox_events"), 1);
  EXPECT_EQ(inbox_->Store({.provider = "", .provider_event_id = "x"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      inbox_->Store({.provider = "p", .provider_event_id = "x", .payload_json = "{oops"}).status().code(),
      absl::StatusCode::kInvalidArgument);
}

// ---- ReceiveOnce ----------------------------------------------------------------------------------------

constexpr pg::Query kApplyEffect{"test_apply_effect", R"sql(
INSERT INTO effects (event_id, runs) VALUES ($1, 1)
ON CONFLICT (event_id) DO UPDATE SET runs = effects.runs + 1)sql"};

// A service receiving commands (or delivered events) into incident.inbox_events; the effect counts its runs.
class ReceiveOnceTest : public InboxTest {
 protected:
  void SetUp() override {
    InboxTest::SetUp();
    Exec("CREATE TABLE effects (event_id text PRIMARY KEY, runs integer NOT NULL)");
    service_inbox_ = *Inbox::Create(db(), {.table = "incident.inbox_events", .metrics = &metrics_});
  }
  static InboxEvent Command(const std::string& key) {
    return InboxEvent{.provider = "incident",
                      .provider_event_id = key,
                      .payload = R"({"text":"alert"})",
                      .payload_json = R"({"text":"alert"})"};
  }
  static Inbox::Effect Apply(const std::string& key) {
    return [key](pg::Transaction& txn) { return txn.Execute(kApplyEffect, {key}).status(); };
  }
  // How often the effect of `key` committed; 0 if never.
  int64_t Runs(const std::string& key) {
    return std::max<int64_t>(0, QueryInt("SELECT runs FROM effects WHERE event_id = '" + key + "'"));
  }
  int64_t Stored() { return QueryInt("SELECT count(*) FROM incident.inbox_events"); }

  std::unique_ptr<Inbox> service_inbox_;
};

TEST_F(ReceiveOnceTest, TheFirstReceiptAppliesTheEffectAndARepeatAnswersFalseChangingNothing) {
  absl::StatusOr<bool> first = service_inbox_->ReceiveOnce(Command("cmd:1"), Apply("cmd:1"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(*first);
  int calls = 0;
  absl::StatusOr<bool> again = service_inbox_->ReceiveOnce(Command("cmd:1"), [&](pg::Transaction& txn) {
    ++calls;
    return Apply("cmd:1")(txn);
  });
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(*again);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(Runs("cmd:1"), 1);
  EXPECT_EQ(Duplicates(), 1);
  // Stored as handled: delivered and processed, so no relay ever picks it up.
  EXPECT_EQ(QueryInt("SELECT count(*) FROM incident.inbox_events WHERE provider = 'incident' "
                     "AND provider_event_id = 'cmd:1' AND status = 'delivered' AND processed_at IS NOT NULL "
                     "AND payload_json IS NOT NULL"),
            1);
  // Without an effect, only the event is recorded.
  EXPECT_TRUE(*service_inbox_->ReceiveOnce(Command("cmd:2"), nullptr));
  EXPECT_FALSE(*service_inbox_->ReceiveOnce(Command("cmd:2"), nullptr));
  // No key: refused before anything runs.
  EXPECT_EQ(service_inbox_->ReceiveOnce({.provider = "incident", .provider_event_id = ""}, Apply("x"))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      service_inbox_->ReceiveOnce({.provider = "", .provider_event_id = "x"}, Apply("x")).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Runs("x"), 0);
  EXPECT_EQ(Stored(), 2);
}

TEST_F(ReceiveOnceTest, AnEffectsErrorRollsEverythingBackSoAResendAppliesIt) {
  int calls = 0;
  absl::StatusOr<bool> failed = service_inbox_->ReceiveOnce(Command("cmd:3"), [&](pg::Transaction& txn) {
    ++calls;
    if (absl::Status s = Apply("cmd:3")(txn); !s.ok()) return s;
    return absl::UnavailableError("provider down");
  });
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(calls, 1);  // only ABORTED is retried here; the sender retries the rest
  absl::StatusOr<bool> refused = service_inbox_->ReceiveOnce(
      Command("cmd:3"), [](pg::Transaction&) { return absl::InvalidArgumentError("bad command"); });
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Runs("cmd:3"), 0);
  EXPECT_EQ(Stored(), 0);  // the event is not kept either

  absl::StatusOr<bool> resent = service_inbox_->ReceiveOnce(Command("cmd:3"), Apply("cmd:3"));
  ASSERT_TRUE(resent.ok()) << resent.status();
  EXPECT_TRUE(*resent);
  EXPECT_EQ(Runs("cmd:3"), 1);
  EXPECT_EQ(Stored(), 1);
}

TEST_F(ReceiveOnceTest, ConcurrentReceiptsOfTheSameKeysApplyEachOnce) {
  constexpr int kKeys = 8;
  constexpr int kReceiptsPerKey = 6;
  constexpr int kThreads = kKeys * kReceiptsPerKey;
  std::unique_ptr<pg::Pool> pool = *pg::Pool::Create({.url = db_url(), .size = kThreads});
  auto inbox = *Inbox::Create(*pool, {.table = "incident.inbox_events", .metrics = &metrics_});
  std::barrier start(kThreads);
  std::vector<absl::StatusOr<bool>> results(kThreads, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      const std::string key = "race:" + std::to_string(i % kKeys);
      start.arrive_and_wait();
      results[i] = inbox->ReceiveOnce(Command(key), [&, key](pg::Transaction& txn) {
        // Hold the event's row a while, so the other receipts of the key queue behind it.
        if (auto r = txn.Execute(pg::Query{"test_sleep", "SELECT pg_sleep(0.05)"}); !r.ok())
          return r.status();
        return Apply(key)(txn);
      });
    });
  }
  for (std::thread& t : threads) t.join();
  std::vector<int> applied(kKeys, 0);
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].status();
    if (*results[i]) ++applied[i % kKeys];
  }
  for (int k = 0; k < kKeys; ++k) {
    EXPECT_EQ(applied[k], 1) << "race:" << k;
    EXPECT_EQ(Runs("race:" + std::to_string(k)), 1);
  }
  EXPECT_EQ(Stored(), kKeys);
  EXPECT_EQ(Duplicates(), kThreads - kKeys);
}

TEST_F(ReceiveOnceTest, AReceiptWaitingOnOneThatRollsBackAppliesTheEvent) {
  std::atomic<bool> holding{false};
  absl::StatusOr<bool> failed = absl::UnknownError("not run");
  std::thread first([&] {
    failed = service_inbox_->ReceiveOnce(Command("cmd:5"), [&](pg::Transaction&) {
      holding = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      return absl::UnavailableError("provider down");
    });
  });
  while (!holding) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const absl::Time started = absl::Now();
  absl::StatusOr<bool> second = service_inbox_->ReceiveOnce(Command("cmd:5"), Apply("cmd:5"));
  const absl::Duration waited = absl::Now() - started;
  first.join();
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(*second);
  EXPECT_GE(waited, absl::Milliseconds(200));  // it waited for the first one's outcome
  EXPECT_EQ(Runs("cmd:5"), 1);
  EXPECT_EQ(Stored(), 1);
}

TEST_F(ReceiveOnceTest, ALostDeadlockIsRetriedAndBothReceiptsApply) {
  Exec("CREATE TABLE counters (id integer PRIMARY KEY, n integer NOT NULL)");
  Exec("INSERT INTO counters VALUES (1, 0), (2, 0)");
  constexpr pg::Query kBump{"test_bump", "UPDATE counters SET n = n + 1 WHERE id = $1"};
  std::barrier both_hold_one(2);
  std::atomic<int> attempts{0};
  std::atomic<int> finished{0};
  std::mutex errors_mu;
  std::string errors;  // what the lost attempts saw
  // Bumps `a` then `b`. The first attempt waits until the other receipt holds its first row, so the two
  // cross: Postgres breaks the deadlock (40P01, ABORTED) and the loser's transaction runs again. The retry
  // waits until the winner has finished, so the test does not depend on who gets a freed row first.
  auto crossing = [&](int a, int b) {
    return [&, a, b, first_attempt = std::make_shared<bool>(true)](pg::Transaction& txn) -> absl::Status {
      ++attempts;
      const bool first = *first_attempt;
      *first_attempt = false;
      if (!first) {
        EXPECT_TRUE(WaitFor([&] { return finished.load() > 0; }, absl::Seconds(10)));
      }
      absl::Status s = txn.Execute(kBump, {a}).status();
      if (s.ok() && first) both_hold_one.arrive_and_wait();
      if (s.ok()) s = txn.Execute(kBump, {b}).status();
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(errors_mu);
        errors += std::to_string(a) + (first ? " first: " : " retry: ") + s.ToString() + "\n";
      }
      return s;
    };
  };
  absl::StatusOr<bool> one = absl::UnknownError("not run");
  absl::StatusOr<bool> two = absl::UnknownError("not run");
  std::thread t1([&] {
    one = service_inbox_->ReceiveOnce(Command("cmd:6a"), crossing(1, 2));
    ++finished;
  });
  std::thread t2([&] {
    two = service_inbox_->ReceiveOnce(Command("cmd:6b"), crossing(2, 1));
    ++finished;
  });
  t1.join();
  t2.join();
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_TRUE(*one);
  EXPECT_TRUE(*two);
  EXPECT_EQ(attempts.load(), 3) << errors;  // the loser ran once more
  EXPECT_EQ(QueryInt("SELECT n FROM counters WHERE id = 1"), 2);
  EXPECT_EQ(QueryInt("SELECT n FROM counters WHERE id = 2"), 2);
  EXPECT_EQ(Stored(), 2);
}

TEST_F(ReceiveOnceTest, ARaceLostEveryTimeIsReturnedAfterThreeAttempts) {
  int calls = 0;
  absl::StatusOr<bool> lost = service_inbox_->ReceiveOnce(Command("cmd:7"), [&](pg::Transaction& txn) {
    ++calls;
    if (absl::Status s = Apply("cmd:7")(txn); !s.ok()) return s;
    return absl::AbortedError("could not serialize access");
  });
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(Runs("cmd:7"), 0);
  EXPECT_EQ(Stored(), 0);
  // A race lost once, then won: applied once.
  calls = 0;
  absl::StatusOr<bool> won = service_inbox_->ReceiveOnce(Command("cmd:7"), [&](pg::Transaction& txn) {
    if (absl::Status s = Apply("cmd:7")(txn); !s.ok()) return s;
    return ++calls == 1 ? absl::AbortedError("could not serialize access") : absl::OkStatus();
  });
  ASSERT_TRUE(won.ok()) << won.status();
  EXPECT_TRUE(*won);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(Runs("cmd:7"), 1);
}

}  // namespace
}  // namespace protectogram::jobs::testing
