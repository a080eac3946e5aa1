// The inbox on edge.inbox_events and incident.inbox_events: one row per event however often it arrives, one
// delivery per row, redelivery until acknowledged, batched stores.
#include "libs/jobs/inbox.h"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <map>
#include <mutex>
#include <thread>

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
  ASSERT_TRUE(WaitFor([&] { return inbox_->Get(first->id)->status == "delivered"; }, absl::Seconds(5)));

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
  ASSERT_TRUE(WaitFor([&] { return inbox_->Get(e->id)->status == "delivered"; }, absl::Seconds(5)));
  EXPECT_EQ(inbox_->Get(e->id)->attempts, 4);
  relay->Stop();
}

TEST_F(InboxTest, APermanentFailureMarksTheEventIgnored) {
  std::unique_ptr<InboxRelay> relay =
      StartRelay(/*fail_first=*/100, absl::InvalidArgumentError("unknown chat"));
  absl::StatusOr<StoredEvent> e = inbox_->Store(Update(10));
  ASSERT_TRUE(e.ok());
  relay->Wake();
  ASSERT_TRUE(WaitFor([&] { return inbox_->Get(e->id)->status == "ignored"; }, absl::Seconds(5)));
  EXPECT_NE(inbox_->Get(e->id)->last_error.find("unknown chat"), std::string::npos);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM edge.inbox_events WHERE processed_at IS NOT NULL"), 1);
  relay->Stop();
  // An admin replay delivers it again.
  std::unique_ptr<InboxRelay> healthy = StartRelay();
  ASSERT_TRUE(inbox_->Replay(e->id).ok());
  healthy->Wake();
  ASSERT_TRUE(WaitFor([&] { return inbox_->Get(e->id)->status == "delivered"; }, absl::Seconds(5)));
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

}  // namespace
}  // namespace protectogram::jobs::testing
