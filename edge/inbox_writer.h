// The group-commit writer: every accepted webhook is durably stored in edge.inbox_events before the edge
// answers, and many webhooks share one commit.
//
// Handler threads call Store(), which queues the rows and blocks. A writer thread takes everything waiting
// (up to max_batch rows), stores it with one multi-row INSERT ... ON CONFLICT DO NOTHING RETURNING
// (jobs::Inbox::StoreBatch) in its own autocommit statement, and wakes every caller of the batch with its
// rows' outcome. When no commit is running, a row is committed at once (no timer, no linger). While one
// commit runs, new rows gather into the next batch, which the same writer takes as soon as it is done; a
// second writer (up to `writers`) starts a concurrent commit only when max_batch/8 rows are waiting, so
// under load batches grow with the commit time instead of being split into commits of one. A batch with
// rows to be stored as ignored runs in a transaction (insert, mark ignored, commit).
//
// Errors. A row error (pg::IsRowError: one row Postgres refuses, bad data or a violated constraint) must not
// sink the rows that share its commit: each caller's rows are then stored on their own, and a row refused
// again is retried without payload_json (the raw payload is what matters). Any other error (Postgres
// unreachable, a timeout) fails the whole batch: every caller gets it (UNAVAILABLE/DEADLINE_EXCEEDED, ...)
// and answers 503, so the provider retries.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "edge/webhooks.h"
#include "libs/jobs/inbox.h"
#include "libs/kernel/metrics.h"
#include "libs/pg/pool.h"

namespace protectogram::edge {

struct InboxWriterOptions {
  int writers = 2;
  size_t max_batch = 256;  // rows per commit
  // How long Store waits for its commit before giving up with DEADLINE_EXCEEDED (the row may still be
  // committed: the provider's retry is then a duplicate, answered 200).
  absl::Duration wait_timeout = absl::Seconds(6);
  kernel::MetricsRegistry* metrics = nullptr;  // nullptr: DefaultMetrics()
  // Called after a commit that stored at least one row to forward (the relay's Wake). Must not block.
  std::function<void()> on_stored;
};

class InboxWriter {
 public:
  // `pool` and `inbox` must outlive the writer. The pool needs one connection per writer.
  InboxWriter(pg::Pool& pool, jobs::Inbox& inbox, InboxWriterOptions options);
  ~InboxWriter();  // Stop()
  InboxWriter(const InboxWriter&) = delete;
  InboxWriter& operator=(const InboxWriter&) = delete;

  void Start();
  // Stores what is queued, then joins the writers. Later Store calls get UNAVAILABLE.
  void Stop();

  // Stores the rows (durably, committed) and returns each one's outcome in order: its row id and whether it
  // was there already. Errors: UNAVAILABLE (Postgres unreachable, or the writer stopped), DEADLINE_EXCEEDED
  // (no commit within wait_timeout or the statement timeout), a row error (pg::IsRowError) for rows Postgres
  // refuses even alone. Thread-safe; blocks the calling thread.
  absl::StatusOr<std::vector<jobs::StoredEvent>> Store(std::vector<InboxRecord> records);

 private:
  using Outcome = absl::StatusOr<std::vector<jobs::StoredEvent>>;
  struct Pending {
    std::vector<InboxRecord> records;
    std::promise<Outcome> promise;
  };

  void Loop();
  bool CanCommitLocked() const;
  void Commit(std::vector<std::unique_ptr<Pending>>& batch);
  // Stores events in one statement (one transaction when some are to be ignored: a non-empty reason).
  absl::StatusOr<std::vector<jobs::StoredEvent>> StoreEvents(
      const std::vector<jobs::InboxEvent>& events, const std::vector<std::string_view>& ignore_reasons);
  // The rows of one caller on their own; then without payload_json if Postgres still refuses them.
  Outcome StoreAlone(const std::vector<InboxRecord>& records);

  pg::Pool& pool_;
  jobs::Inbox& inbox_;
  const InboxWriterOptions options_;
  kernel::HistogramChild& batch_rows_;
  kernel::HistogramChild& commit_seconds_;
  const int writers_;
  const size_t eager_rows_;  // queued rows that start a second concurrent commit
  kernel::CounterChild& commit_errors_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Pending>> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_rows_ ABSL_GUARDED_BY(mu_) = 0;  // rows in queue_
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;       // commits running
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace protectogram::edge
