// The machinery shared by the job Worker, the OutboxRelay and the InboxRelay: claim due rows in batches, run
// them on N threads, complete the finished ones in one statement per batch, and sleep until the next row is
// due, woken early by LISTEN/NOTIFY or an in-process Wake().
//
// Threads:
//   - a dispatcher: waits on the Listener (or a condition variable when there is no LISTEN) with a
//     timeout set to the planner's next wake-up (the nearest known due time or the safety rescan), and
//     turns notifications and passed deadlines into a due hint;
//   - N executors: when there is a due hint and fewer claimed rows are queued than there are executors,
//     one of them claims a batch (one claim in flight at a time); all of them take claimed rows from the
//     queue and process them; rows reported done are completed together (one statement per batch);
//   - a maintenance thread running the periodic tasks (lease reclaim, prune, gauges).
// Stop(): executors finish the row in hand, queued rows that were claimed but not started are released back
// to the table, finished ones are completed, and every thread is joined.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "libs/jobs/clock.h"
#include "libs/jobs/internal/sql.h"
#include "libs/jobs/internal/wake_planner.h"
#include "libs/kernel/log.h"
#include "libs/pg/listener.h"
#include "libs/pg/result.h"

namespace protectogram::jobs::internal {

template <typename Item>
struct ClaimBatch {
  std::vector<Item> items;
  ClaimOutcome outcome;  // full_batch is filled in by the engine
};

// OK, or INVALID_ARGUMENT for a malformed table name or threads/batch_size < 1 (`what` names the queue in
// the message: "outbox relay", "jobs worker", ...). Every queue's Create starts with it.
inline absl::Status ValidateQueueOptions(std::string_view what, std::string_view table, int threads,
                                         int batch_size) {
  if (absl::Status s = ValidateTableName(table); !s.ok()) return s;
  if (threads < 1 || batch_size < 1) {
    return absl::InvalidArgumentError(std::string(what) + ": threads and batch_size must be at least 1");
  }
  return absl::OkStatus();
}

// Reads what every claim statement of libs/jobs/queries.h returns: one row per claimed item plus the claim's
// summary on every row (db_now_us, next_due_us, visible_due; a single row with a NULL id when nothing was
// claimed). `decode(row, db_now)` builds an item; items are sorted by `before`. Due rows the claim did not
// get although it asked for more (visible_due above what it got) were locked by someone else.
template <typename Item, typename Decode, typename Before>
ClaimBatch<Item> DecodeClaim(const pg::Result& rows, int limit, Decode decode, Before before) {
  ClaimBatch<Item> batch;
  const pg::Row meta = rows.front();
  batch.outcome.db_now = absl::FromUnixMicros(meta.Get<int64_t>("db_now_us"));
  if (std::optional<int64_t> next = meta.GetOptional<int64_t>("next_due_us"); next.has_value()) {
    batch.outcome.next_due = absl::FromUnixMicros(*next);
  }
  batch.items.reserve(rows.size());
  for (const pg::Row& row : rows) {
    if (!row.IsNull("id")) batch.items.push_back(decode(row, batch.outcome.db_now));
  }
  std::sort(batch.items.begin(), batch.items.end(), before);
  const int64_t claimed = static_cast<int64_t>(batch.items.size());
  batch.outcome.skipped_locked = claimed < limit && meta.Get<int64_t>("visible_due") > claimed;
  return batch;
}

template <typename Item>
struct EngineOps {
  // Claims up to `limit` due rows (and reports the next due time).
  std::function<absl::StatusOr<ClaimBatch<Item>>(int limit)> claim;
  // Runs one claimed row. Returns true when the row is finished and should be completed in the next batch;
  // false when `process` already recorded the outcome (retry, dead, reschedule, completed in a transaction).
  std::function<bool(Item&)> process;
  // Completes finished rows in one statement.
  std::function<absl::Status(std::vector<Item>&)> complete;
  // Gives claimed but unstarted rows back (Stop).
  std::function<absl::Status(std::vector<Item>&)> release;
  struct Periodic {
    std::string name;
    absl::Duration every;
    // Returns true when it made rows due (e.g. reclaimed expired leases).
    std::function<bool()> run;
  };
  std::vector<Periodic> periodic;
};

struct EngineOptions {
  std::string name;        // for log lines
  std::string listen_url;  // LISTEN connection (DATABASE_DIRECT_URL); "" = no LISTEN
  std::string channel;     // the NOTIFY channel
  int threads = 2;         // executors
  int batch_size = 32;     // rows per claim and per completion statement
  absl::Duration rescan_interval = absl::Seconds(30);
  Clock* clock = nullptr;  // nullptr: DefaultClock()
  // Claim no more rows than there are idle executors (at most batch_size), so that a claimed row starts at
  // once instead of waiting in the queue: for claims whose decision depends on when the row runs (pacing).
  bool claim_for_idle_only = false;
};

template <typename Item>
class Engine {
 public:
  Engine(EngineOptions options, EngineOps<Item> ops)
      : options_(std::move(options)),
        ops_(std::move(ops)),
        clock_(options_.clock != nullptr ? *options_.clock : DefaultClock()),
        planner_(options_.rescan_interval, clock_.Now()) {
    options_.threads = std::max(options_.threads, 1);
    options_.batch_size = std::max(options_.batch_size, 1);
  }
  ~Engine() { Stop(); }
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // INVALID_ARGUMENT for a malformed listen URL; FAILED_PRECONDITION if started before. Does not wait for
  // Postgres: an unreachable database is retried in the background.
  absl::Status Start() {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) return absl::FailedPreconditionError(options_.name + ": already started");
    if (!options_.listen_url.empty()) {
      absl::StatusOr<std::unique_ptr<pg::Listener>> listener = pg::Listener::Create(options_.listen_url);
      if (!listener.ok()) return listener.status();
      listener_ = *std::move(listener);
    }
    started_ = true;
    planner_ = WakePlanner(options_.rescan_interval, clock_.Now());
    dispatcher_ = std::thread([this] { DispatchLoop(); });
    for (int i = 0; i < options_.threads; ++i) executors_.emplace_back([this] { ExecLoop(); });
    maintenance_ = std::thread([this] { MaintenanceLoop(); });
    return absl::OkStatus();
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!started_ || stopped_) return;
      stopping_ = true;
    }
    exec_cv_.notify_all();
    maintenance_cv_.notify_all();
    InterruptDispatcher();
    for (std::thread& t : executors_) t.join();
    dispatcher_.join();
    maintenance_.join();
    std::vector<Item> done;
    std::vector<Item> unstarted;
    {
      std::lock_guard<std::mutex> lock(mu_);
      done = std::move(done_);
      unstarted.assign(std::make_move_iterator(ready_.begin()), std::make_move_iterator(ready_.end()));
      ready_.clear();
      stopped_ = true;
    }
    if (!done.empty()) {
      if (absl::Status s = ops_.complete(done); !s.ok()) {
        kernel::LogWarn("jobs: completing finished rows at stop failed; they run again after their lease",
                        {{"queue", options_.name}, {"error", std::string(s.message())}});
      }
    }
    if (!unstarted.empty()) {
      if (absl::Status s = ops_.release(unstarted); !s.ok()) {
        kernel::LogWarn("jobs: releasing unstarted rows at stop failed; they run after their lease",
                        {{"queue", options_.name}, {"error", std::string(s.message())}});
      }
    }
  }

  // Something may be due now (a row was just written in this process).
  void Wake() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      planner_.Woken();
    }
    exec_cv_.notify_all();
  }

  // A row of this queue becomes due at `db_due` (database clock): this process just wrote it (a retry), so
  // no notification is needed to learn about it.
  void DueAt(absl::Time db_due) {
    bool interrupt = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      planner_.Notified(db_due, clock_.Now());
      interrupt = planner_.NextWake() < dispatcher_deadline_;
    }
    exec_cv_.notify_all();
    if (interrupt) InterruptDispatcher();
  }

  bool stopping() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_;
  }

 private:
  void InterruptDispatcher() {
    if (listener_ != nullptr) {
      listener_->Interrupt();
    } else {
      {
        std::lock_guard<std::mutex> lock(mu_);
        dispatcher_kick_ = true;
      }
      dispatch_cv_.notify_all();
    }
  }

  // Turns a notification payload into a planner event: "<unix micros>" is a due time, anything else "now".
  void HandleNotificationLocked(const pg::Notification& n, absl::Time now) {
    int64_t us = 0;
    if (!n.payload.empty() && absl::SimpleAtoi(n.payload, &us)) {
      planner_.Notified(absl::FromUnixMicros(us), now);
    } else {
      planner_.Woken();
    }
  }

  void DispatchLoop() {
    if (listener_ != nullptr) {
      if (absl::Status s = listener_->Listen(options_.channel); !s.ok()) {
        kernel::LogWarn("jobs: LISTEN failed; retrying in the background",
                        {{"queue", options_.name}, {"error", std::string(s.message())}});
      }
    }
    // The first scan comes after LISTEN, so nothing committed in between is missed.
    Wake();
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      absl::Time now = clock_.Now();
      if (planner_.Tick(now)) exec_cv_.notify_all();
      dispatcher_deadline_ = planner_.NextWake();
      const absl::Duration timeout =
          std::clamp(dispatcher_deadline_ - now, absl::ZeroDuration(), absl::Hours(1));
      if (listener_ != nullptr) {
        lock.unlock();
        absl::StatusOr<pg::Listener::WaitResult> woke = listener_->Wait(timeout);
        lock.lock();
        now = clock_.Now();
        if (woke.ok()) {
          // A (re)connected listener may have missed notifications: scan.
          if (woke->resubscribed) planner_.Woken();
          for (const pg::Notification& n : woke->notifications) HandleNotificationLocked(n, now);
        }
      } else {
        dispatch_cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                              [this] { return stopping_ || dispatcher_kick_; });
        dispatcher_kick_ = false;
      }
    }
  }

  void ExecLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      if (planner_.due() && !planner_.claiming() && static_cast<int>(ready_.size()) < options_.threads &&
          ClaimLimitLocked() > 0) {
        ClaimLocked(lock);
        continue;
      }
      if (!ready_.empty()) {
        Item item = std::move(ready_.front());
        ready_.pop_front();
        ++busy_;
        lock.unlock();
        const bool done = ops_.process(item);
        lock.lock();
        --busy_;
        if (done) {
          done_.push_back(std::move(item));
          if (static_cast<int>(done_.size()) >= options_.batch_size) FlushDoneLocked(lock);
        }
        continue;
      }
      // Nothing to run: complete what finished before sleeping, so leases are not held while idle.
      if (!done_.empty()) {
        FlushDoneLocked(lock);
        continue;
      }
      exec_cv_.wait(lock);
    }
  }

  int ClaimLimitLocked() const {
    if (!options_.claim_for_idle_only) return options_.batch_size;
    const int idle = options_.threads - busy_ - static_cast<int>(ready_.size());
    return std::clamp(idle, 0, options_.batch_size);
  }

  void ClaimLocked(std::unique_lock<std::mutex>& lock) {
    planner_.ClaimStarted();
    const int limit = ClaimLimitLocked();
    lock.unlock();
    const absl::Time sent = clock_.Now();
    absl::StatusOr<ClaimBatch<Item>> batch = ops_.claim(limit);
    const absl::Time received = clock_.Now();
    lock.lock();
    if (batch.ok()) {
      batch->outcome.full_batch = static_cast<int>(batch->items.size()) >= limit;
      planner_.ClaimFinished(batch->outcome, sent, received);
      for (Item& item : batch->items) ready_.push_back(std::move(item));
      claim_failures_ = 0;
    } else {
      planner_.ClaimFailed(received);
      if (claim_failures_++ % 50 == 0) {
        kernel::LogWarn("jobs: claim failed; backing off",
                        {{"queue", options_.name}, {"error", std::string(batch.status().message())}});
      }
    }
    if (!ready_.empty() || planner_.due()) exec_cv_.notify_all();
    if (planner_.NextWake() < dispatcher_deadline_) {
      lock.unlock();
      InterruptDispatcher();
      lock.lock();
    }
  }

  void FlushDoneLocked(std::unique_lock<std::mutex>& lock) {
    std::vector<Item> batch = std::move(done_);
    done_.clear();
    lock.unlock();
    absl::Status s = ops_.complete(batch);
    if (!s.ok()) s = ops_.complete(batch);  // one immediate retry (a dropped pooled connection)
    if (!s.ok()) {
      kernel::LogWarn("jobs: completing a batch failed; its rows run again after their lease",
                      {{"queue", options_.name},
                       {"rows", static_cast<int64_t>(batch.size())},
                       {"error", std::string(s.message())}});
    }
    lock.lock();
  }

  void MaintenanceLoop() {
    std::vector<absl::Time> next(ops_.periodic.size(), clock_.Now());
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      absl::Time now = clock_.Now();
      absl::Time earliest = absl::InfiniteFuture();
      for (size_t i = 0; i < ops_.periodic.size(); ++i) {
        if (now >= next[i]) {
          lock.unlock();
          const bool made_due = ops_.periodic[i].run();
          lock.lock();
          now = clock_.Now();
          next[i] = now + ops_.periodic[i].every;
          if (made_due) {
            planner_.Woken();
            exec_cv_.notify_all();
          }
          if (stopping_) return;
        }
        earliest = std::min(earliest, next[i]);
      }
      const absl::Duration wait = std::clamp(earliest - now, absl::ZeroDuration(), absl::Hours(1));
      maintenance_cv_.wait_for(lock, absl::ToChronoNanoseconds(wait), [this] { return stopping_; });
    }
  }

  EngineOptions options_;
  EngineOps<Item> ops_;
  Clock& clock_;
  std::unique_ptr<pg::Listener> listener_;

  mutable std::mutex mu_;
  std::condition_variable exec_cv_;
  std::condition_variable dispatch_cv_;
  std::condition_variable maintenance_cv_;
  WakePlanner planner_ ABSL_GUARDED_BY(mu_);
  std::deque<Item> ready_ ABSL_GUARDED_BY(mu_);  // claimed, not started
  std::vector<Item> done_ ABSL_GUARDED_BY(mu_);  // finished, not completed
  absl::Time dispatcher_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool dispatcher_kick_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  int claim_failures_ ABSL_GUARDED_BY(mu_) = 0;
  int busy_ ABSL_GUARDED_BY(mu_) = 0;  // executors inside ops_.process

  std::thread dispatcher_;
  std::vector<std::thread> executors_;
  std::thread maintenance_;
};

}  // namespace protectogram::jobs::internal
