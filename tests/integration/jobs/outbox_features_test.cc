// The outbox's features for provider channels, on a real Postgres: priority, pacing shared by two relays,
// throttling that does not count as an attempt, receipts and saved progress, finalizers in the outcome's
// transaction, redriving every dead message.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <vector>

#include "libs/jobs/internal/metrics.h"
#include "libs/jobs/outbox.h"
#include "libs/jobs/retry.h"
#include "tests/integration/jobs/jobs_test_util.h"

namespace protectogram::jobs::testing {
namespace {

constexpr pg::Query kRecordOutcome{"test_record_outcome",
                                   "INSERT INTO outcomes (key, sent, error) VALUES ($1, $2, $3)"};

class OutboxFeaturesTest : public JobsTest {
 protected:
  void SetUp() override {
    JobsTest::SetUp();
    Exec("CREATE TABLE outcomes (key text NOT NULL, sent boolean NOT NULL, error text)");
    outbox_ = *Outbox::Create(db(), {.table = kOutbox});
  }

  OutboxRelayOptions Options(int threads = 2) {
    return OutboxRelayOptions{.table = kOutbox,
                              .listen_url = db_url(),
                              .threads = threads,
                              .batch_size = 8,
                              .lease = absl::Seconds(2),
                              .retry = RetryPolicy::Fixed({absl::Milliseconds(20)}),
                              .metrics = &metrics_};
  }

  void Enqueue(const std::string& key, int priority = 0, std::vector<std::string> pace_keys = {}) {
    absl::StatusOr<bool> created = outbox_->Enqueue({.channel = "provider",
                                                     .idempotency_key = key,
                                                     .priority = priority,
                                                     .pace_keys = std::move(pace_keys)});
    ASSERT_TRUE(created.ok()) << created.status();
    ASSERT_TRUE(*created);
  }
  OutboxStatus Status(const std::string& key) { return outbox_->Get(key)->status; }

  kernel::MetricsRegistry metrics_;
  std::unique_ptr<Outbox> outbox_;
};

TEST_F(OutboxFeaturesTest, HigherPriorityIsSentFirst) {
  for (int i = 0; i < 5; ++i) Enqueue("routine:" + std::to_string(i));
  Enqueue("alert", /*priority=*/10);
  OutboxRelayOptions options = Options(/*threads=*/1);
  options.batch_size = 1;
  auto relay = *OutboxRelay::Create(db(), options);
  std::mutex mu;
  std::vector<std::string> order;
  relay->RegisterSender("provider", [&](OutboxMessage& m) {
    std::lock_guard<std::mutex> lock(mu);
    order.push_back(m.idempotency_key);
    return absl::OkStatus();
  });
  ASSERT_TRUE(relay->Start().ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        return order.size() == 6;
      },
      absl::Seconds(10)));
  relay->Stop();
  EXPECT_EQ(order.front(), "alert");
  EXPECT_EQ(order[1], "routine:0");
  EXPECT_EQ(order.back(), "routine:4");
}

TEST_F(OutboxFeaturesTest, ThrottledIsRetriedAfterItsDelayWithoutCountingAnAttempt) {
  OutboxRelayOptions options = Options();
  options.max_attempts = 2;
  auto relay = *OutboxRelay::Create(db(), options);
  std::atomic<int> calls{0};
  std::mutex mu;
  std::vector<absl::Time> times;
  relay->RegisterSender("provider", [&](OutboxMessage&) {
    {
      std::lock_guard<std::mutex> lock(mu);
      times.push_back(absl::Now());
    }
    if (calls.fetch_add(1) < 4) {
      return WithFailureReason(Throttled(absl::ResourceExhaustedError("429"), absl::Milliseconds(150)),
                               "rate_limited");
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(relay->Start().ok());
  Enqueue("k");
  ASSERT_TRUE(WaitFor([&] { return Status("k") == OutboxStatus::kSent; }, absl::Seconds(10)));
  relay->Stop();
  EXPECT_EQ(calls.load(), 5);  // four 429s with max_attempts 2, and still not dead
  EXPECT_EQ(outbox_->Get("k")->attempts, 1);
  for (size_t i = 1; i < times.size(); ++i) EXPECT_GE(times[i] - times[i - 1], absl::Milliseconds(140));
  EXPECT_EQ(internal::OutboxFailedMetric(metrics_).WithLabels({"provider", "rate_limited"}).Value(), 4);
  EXPECT_EQ(internal::OutboxSentMetric(metrics_).WithLabels({"provider"}).Value(), 1);
}

TEST_F(OutboxFeaturesTest, ReceiptsAreStoredAndProgressIsResumedAfterAFailure) {
  auto relay = *OutboxRelay::Create(db(), Options());
  std::mutex mu;
  std::vector<std::string> seen_receipts;
  OutboxRelay* r = relay.get();
  relay->RegisterSender("provider", [&](OutboxMessage& m) {
    {
      std::lock_guard<std::mutex> lock(mu);
      seen_receipts.push_back(m.receipt_json);
    }
    if (m.receipt_json.empty()) {
      if (absl::Status s = r->SaveProgress(m, R"({"parts":[11]})"); !s.ok()) return s;
      return absl::UnavailableError("part 2 failed");
    }
    m.receipt_json = R"({"parts":[11,12]})";
    return absl::OkStatus();
  });
  ASSERT_TRUE(relay->Start().ok());
  Enqueue("split");
  ASSERT_TRUE(WaitFor([&] { return Status("split") == OutboxStatus::kSent; }, absl::Seconds(10)));
  relay->Stop();
  ASSERT_EQ(seen_receipts.size(), 2u);
  EXPECT_EQ(seen_receipts[0], "");
  EXPECT_EQ(seen_receipts[1], R"({"parts": [11]})");  // jsonb's text form
  EXPECT_EQ(outbox_->Get("split")->receipt_json, R"({"parts": [11, 12]})");
}

TEST_F(OutboxFeaturesTest, AFinalizerRunsInTheOutcomesTransactionAndItsFailureUndoesTheOutcome) {
  auto relay = *OutboxRelay::Create(db(), Options());
  std::atomic<int> finalizer_failures{1};
  OutboxChannelOptions channel;
  channel.max_attempts = 1;
  channel.finalizer = [&](pg::Transaction& txn, const OutboxMessage& m, const absl::Status& outcome) {
    if (m.idempotency_key == "flaky" && finalizer_failures.fetch_sub(1) > 0) {
      return absl::InternalError("finalizer failed");
    }
    return txn
        .Execute(kRecordOutcome,
                 {m.idempotency_key, outcome.ok(),
                  outcome.ok() ? std::optional<std::string>() : std::string(outcome.message())})
        .status();
  };
  std::atomic<int> flaky_sends{0};
  relay->RegisterSender(
      "provider",
      [&](OutboxMessage& m) {
        if (m.idempotency_key == "blocked") return Permanent(absl::PermissionDeniedError("bot was blocked"));
        if (m.idempotency_key == "flaky") ++flaky_sends;
        return absl::OkStatus();
      },
      channel);
  ASSERT_TRUE(relay->Start().ok());
  Enqueue("ok");
  Enqueue("blocked");
  Enqueue("flaky");
  ASSERT_TRUE(
      WaitFor([&] { return Status("ok") == OutboxStatus::kSent && Status("blocked") == OutboxStatus::kDead; },
              absl::Seconds(10)));
  // The failed finalizer left "flaky" pending: it is sent again after its lease, and then recorded once.
  ASSERT_TRUE(WaitFor([&] { return Status("flaky") == OutboxStatus::kSent; }, absl::Seconds(10)));
  relay->Stop();
  EXPECT_EQ(flaky_sends.load(), 2);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM outcomes"), 3);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM outcomes WHERE key = 'ok' AND sent"), 1);
  EXPECT_EQ(QueryText("SELECT error FROM outcomes WHERE key = 'blocked' AND NOT sent"), "bot was blocked");
  EXPECT_EQ(QueryInt("SELECT count(*) FROM outcomes WHERE key = 'flaky' AND sent"), 1);
}

TEST_F(OutboxFeaturesTest, TwoRelaysShareOnePaceInPostgres) {
  constexpr absl::Duration kChatInterval = absl::Milliseconds(200);
  constexpr absl::Duration kBotInterval = absl::Milliseconds(25);
  constexpr int kChats = 4;
  constexpr int kPerChat = 6;
  std::mutex mu;
  std::map<std::string, std::vector<absl::Time>> sent;  // by chat, and "bot"
  int by_relay[2] = {0, 0};
  auto make_relay = [&](int id) {
    OutboxRelayOptions options = Options(/*threads=*/4);
    options.pace_table = "incident.outbox_pace";
    options.claim_for_idle_only = true;
    EXPECT_TRUE(options.pace_limits.Add("chat:", {.interval = kChatInterval, .burst = 1}).ok());
    EXPECT_TRUE(options.pace_limits.Add("bot:", {.interval = kBotInterval, .burst = 1}).ok());
    auto relay = *OutboxRelay::Create(db(), options);
    relay->RegisterSender("provider", [&, id](OutboxMessage& m) {
      const absl::Time now = absl::Now();
      std::lock_guard<std::mutex> lock(mu);
      sent[m.payload_json].push_back(now);
      sent["bot"].push_back(now);
      ++by_relay[id];
      return absl::OkStatus();
    });
    return relay;
  };
  auto a = make_relay(0);
  auto b = make_relay(1);
  for (int i = 0; i < kPerChat; ++i) {
    for (int c = 0; c < kChats; ++c) {
      const std::string chat = "chat:" + std::to_string(c);
      ASSERT_TRUE(outbox_
                      ->Enqueue({.channel = "provider",
                                 .idempotency_key = absl::StrCat("m", i, "-", c),
                                 .payload_json = absl::StrCat("\"", chat, "\""),
                                 .pace_keys = {"bot:main", chat}})
                      .ok());
    }
  }
  ASSERT_TRUE(a->Start().ok());
  ASSERT_TRUE(b->Start().ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        return sent["bot"].size() == kChats * kPerChat;
      },
      absl::Seconds(20)));
  a->Stop();
  b->Stop();
  // What the receiver sees may be a few milliseconds closer together than the claims that allowed it.
  const absl::Duration jitter = absl::Milliseconds(15);
  std::lock_guard<std::mutex> lock(mu);
  for (const auto& [key, times] : sent) {
    std::vector<absl::Time> t = times;
    std::sort(t.begin(), t.end());
    const absl::Duration interval = key == "bot" ? kBotInterval : kChatInterval;
    for (size_t i = 1; i < t.size(); ++i) EXPECT_GE(t[i] - t[i - 1], interval - jitter) << key << " #" << i;
  }
  // Both relays did part of the work: the pace held across them, not within one.
  EXPECT_GT(by_relay[0], 0);
  EXPECT_GT(by_relay[1], 0);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM incident.outbox_pace"), kChats + 1);
}

TEST_F(OutboxFeaturesTest, RedriveAllPutsEveryDeadMessageOfAChannelBack) {
  for (const char* key : {"a", "b", "c"}) Enqueue(key);
  ASSERT_TRUE(outbox_->Enqueue({.channel = "other", .idempotency_key = "d"}).ok());
  Exec("UPDATE incident.outbox_messages SET status = 'dead'");
  EXPECT_EQ(*outbox_->RedriveAll("prov"), 3);
  EXPECT_EQ(Status("a"), OutboxStatus::kPending);
  EXPECT_EQ(Status("d"), OutboxStatus::kDead);
  EXPECT_EQ(*outbox_->RedriveAll(), 1);
  EXPECT_EQ(Status("d"), OutboxStatus::kPending);
}

}  // namespace
}  // namespace protectogram::jobs::testing
