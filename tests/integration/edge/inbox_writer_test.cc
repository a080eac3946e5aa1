// The group-commit writer against the harness Postgres: outcomes in order, duplicates within and across
// batches, rows stored as ignored, a row Postgres refuses, and many concurrent callers sharing commits.
#include "edge/inbox_writer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "libs/pg/query.h"
#include "tests/contract/edge/edge_test_util.h"
#include "tests/support/pg_harness.h"

namespace protectogram::edge::testing {
namespace {

constexpr pg::Query kRows{"test_rows", R"sql(
SELECT provider_event_id, status, payload_json IS NULL AS no_json, coalesce(last_error, '') AS last_error
  FROM edge.inbox_events ORDER BY id)sql"};

InboxRecord Record(std::string id, std::optional<std::string> json = R"({"update_id":1})",
                   std::string ignore_reason = "") {
  InboxRecord r;
  r.event.provider = "telegram:main";
  r.event.provider_event_id = std::move(id);
  r.event.payload = json.value_or("raw");
  r.event.payload_json = std::move(json);
  r.ignore_reason = std::move(ignore_reason);
  return r;
}

class InboxWriterTest : public test::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    pool_ = *pg::Pool::Create({.url = db_url_for_role("protectogram_edge"), .size = 2});
    inbox_ = *jobs::Inbox::Create(*pool_, {.table = "edge.inbox_events", .metrics = &metrics_});
    writer_ = std::make_unique<InboxWriter>(
        *pool_, *inbox_,
        InboxWriterOptions{
            .writers = 2, .max_batch = 64, .metrics = &metrics_, .on_stored = [this] { ++wakes_; }});
    writer_->Start();
  }
  void TearDown() override {
    writer_.reset();
    inbox_.reset();
    pool_.reset();
    PgTest::TearDown();
  }

  struct Row {
    std::string id, status;
    bool no_json;
    std::string last_error;
  };
  std::vector<Row> Rows() {
    std::vector<Row> rows;
    absl::StatusOr<pg::Result> result = pool().Execute(kRows);
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return rows;
    for (const pg::Row& r : *result) {
      rows.push_back({r.Get<std::string>(0), r.Get<std::string>(1), r.Get<bool>(2), r.Get<std::string>(3)});
    }
    return rows;
  }

  kernel::MetricsRegistry metrics_;
  std::unique_ptr<pg::Pool> pool_;
  std::unique_ptr<jobs::Inbox> inbox_;
  std::unique_ptr<InboxWriter> writer_;
  std::atomic<int> wakes_{0};
};

TEST_F(InboxWriterTest, OutcomesComeBackInOrderWithDuplicates) {
  absl::StatusOr<std::vector<jobs::StoredEvent>> first =
      writer_->Store({Record("1"), Record("2"), Record("1")});
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 3u);
  EXPECT_FALSE((*first)[0].duplicate);
  EXPECT_FALSE((*first)[1].duplicate);
  EXPECT_TRUE((*first)[2].duplicate);
  EXPECT_EQ((*first)[2].id, (*first)[0].id);
  absl::StatusOr<std::vector<jobs::StoredEvent>> again = writer_->Store({Record("2")});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE((*again)[0].duplicate);
  EXPECT_EQ((*again)[0].id, (*first)[1].id);
  EXPECT_EQ(Rows().size(), 2u);
  EXPECT_EQ(wakes_.load(), 1) << "only a commit that stored something new wakes the relay";
}

TEST_F(InboxWriterTest, IgnoredRowsAreStoredAsIgnoredAndDoNotWakeTheRelay) {
  ASSERT_TRUE(writer_->Store({Record("9", R"({"update_id":9})", "staging: not allowed")}).ok());
  std::vector<Row> rows = Rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].status, "ignored");
  EXPECT_EQ(rows[0].last_error, "staging: not allowed");
  EXPECT_EQ(wakes_.load(), 0);
}

TEST_F(InboxWriterTest, ARowJsonbRefusesIsStoredWithoutItsParsedCopy) {
  // Valid JSON to many parsers, not to jsonb (an unpaired surrogate).
  absl::StatusOr<std::vector<jobs::StoredEvent>> stored =
      writer_->Store({Record("bad", R"({"text":"\ud800"})"), Record("good")});
  ASSERT_TRUE(stored.ok()) << stored.status();
  std::vector<Row> rows = Rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(rows[0].no_json);
  EXPECT_EQ(rows[0].status, "received");
}

TEST_F(InboxWriterTest, ConcurrentCallersShareCommits) {
  constexpr int kThreads = 32, kEach = 25;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        if (writer_->Store({Record(std::to_string(t * 1000 + i))}).ok()) ++ok;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kEach);
  EXPECT_EQ(Rows().size(), static_cast<size_t>(kThreads * kEach));
  const double commits = MetricValue(metrics_, "edge_ingest_batch_rows_count");
  EXPECT_EQ(MetricValue(metrics_, "edge_ingest_batch_rows_sum"), kThreads * kEach);
  EXPECT_LT(commits, kThreads * kEach) << "32 callers at once must share commits";
}

TEST_F(InboxWriterTest, AfterStopStoreIsUnavailable) {
  writer_->Stop();
  EXPECT_EQ(writer_->Store({Record("1")}).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(writer_->Store({}).ok());
}

TEST_F(InboxWriterTest, PostgresDownIsUnavailableForTheWholeBatch) {
  ASSERT_TRUE(writer_->Store({Record("1")}).ok());
  ASSERT_TRUE(cluster().Stop().ok());
  absl::StatusOr<std::vector<jobs::StoredEvent>> down = writer_->Store({Record("2")});
  EXPECT_FALSE(down.ok());
  EXPECT_TRUE(down.status().code() == absl::StatusCode::kUnavailable ||
              down.status().code() == absl::StatusCode::kDeadlineExceeded)
      << down.status();
  EXPECT_EQ(MetricValue(metrics_, "edge_ingest_errors_total"), 1);
  ASSERT_TRUE(cluster().Start().ok());
}

}  // namespace
}  // namespace protectogram::edge::testing
