// Shared pieces of the jobs integration tests: a fixture on a fresh migrated database, polling helpers.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/kernel/metrics.h"
#include "libs/pg/pool.h"
#include "tests/support/pg_harness.h"

namespace protectogram::jobs::testing {

inline constexpr char kJobs[] = "incident.scheduled_actions";
inline constexpr char kOutbox[] = "incident.outbox_messages";

class JobsTest : public test::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    auto pool = pg::Pool::Create({.url = db_url(), .size = 16});
    ASSERT_TRUE(pool.ok()) << pool.status();
    big_pool_ = *std::move(pool);
  }
  void TearDown() override {
    big_pool_.reset();
    PgTest::TearDown();
  }

  // A pool of 16 superuser connections on this test's database.
  pg::Pool& db() { return *big_pool_; }

  void Exec(const std::string& sql) {
    absl::StatusOr<pg::Result> r = db().Execute(pg::Query{"test_exec", sql.c_str()});
    ASSERT_TRUE(r.ok()) << sql << ": " << r.status();
  }
  int64_t QueryInt(const std::string& sql) {
    absl::StatusOr<pg::Result> r = db().Execute(pg::Query{"test_query", sql.c_str()});
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status();
    if (!r.ok() || r->empty() || r->front().IsNull(0)) return -1;
    return r->front().Get<int64_t>(0);
  }
  std::string QueryText(const std::string& sql) {
    absl::StatusOr<pg::Result> r = db().Execute(pg::Query{"test_query", sql.c_str()});
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status();
    if (!r.ok() || r->empty() || r->front().IsNull(0)) return "";
    return r->front().Get<std::string>(0);
  }

  // Polls `done` every 10 ms until it holds or `timeout` passes; returns whether it held.
  static bool WaitFor(const std::function<bool()>& done, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
  }

  kernel::MetricsRegistry metrics_;

 private:
  std::unique_ptr<pg::Pool> big_pool_;
};

// The value of one counter child ("" label values for an unlabeled counter).
inline double CounterValue(kernel::Counter& counter, std::initializer_list<std::string_view> labels) {
  return counter.WithLabels(labels).Value();
}

}  // namespace protectogram::jobs::testing
