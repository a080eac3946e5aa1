#include "edge/inbox_writer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "edge/queries.h"
#include "libs/kernel/log.h"
#include "libs/pg/status.h"

namespace protectogram::edge {
namespace {

kernel::MetricsRegistry& Registry(const InboxWriterOptions& options) {
  return options.metrics != nullptr ? *options.metrics : kernel::DefaultMetrics();
}

// Whether a commit stored a row the relay must forward.
bool ForwardsAny(const std::vector<std::string_view>& ignore_reasons,
                 const std::vector<jobs::StoredEvent>& stored) {
  for (size_t i = 0; i < ignore_reasons.size() && i < stored.size(); ++i) {
    if (!stored[i].duplicate && ignore_reasons[i].empty()) return true;
  }
  return false;
}

}  // namespace

InboxWriter::InboxWriter(pg::Pool& pool, jobs::Inbox& inbox, InboxWriterOptions options)
    : pool_(pool),
      inbox_(inbox),
      options_(std::move(options)),
      batch_rows_(Registry(options_)
                      .AddHistogram("edge_ingest_batch_rows", "Webhooks stored per commit by the edge.", {},
                                    {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024})
                      .WithLabels(std::vector<std::string>{})),
      commit_seconds_(
          Registry(options_)
              .AddHistogram("edge_ingest_commit_seconds", "Time to store and commit one batch of webhooks.")
              .WithLabels(std::vector<std::string>{})),
      writers_(std::max(options_.writers, 1)),
      eager_rows_(std::max<size_t>(options_.max_batch / 8, 1)),
      commit_errors_(Registry(options_)
                         .AddCounter("edge_ingest_errors_total",
                                     "Batches of webhooks the edge could not store (answered 503).")
                         .WithLabels(std::vector<std::string>{})) {}

InboxWriter::~InboxWriter() { Stop(); }

void InboxWriter::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return;
  started_ = true;
  for (int i = 0; i < writers_; ++i) threads_.emplace_back([this] { Loop(); });
}

void InboxWriter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_ || stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

absl::StatusOr<std::vector<jobs::StoredEvent>> InboxWriter::Store(std::vector<InboxRecord> records) {
  if (records.empty()) return std::vector<jobs::StoredEvent>();
  auto pending = std::make_unique<Pending>();
  pending->records = std::move(records);
  std::future<Outcome> outcome = pending->promise.get_future();
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_ || stopping_) return absl::UnavailableError("inbox writer is not running");
    queued_rows_ += pending->records.size();
    queue_.push_back(std::move(pending));
    // Wake a writer only when it has something to do now (see CanCommitLocked); otherwise the writer that is
    // committing takes this row with the next batch as soon as it is done.
    wake = CanCommitLocked();
  }
  if (wake) cv_.notify_one();
  if (outcome.wait_for(absl::ToChronoNanoseconds(options_.wait_timeout)) != std::future_status::ready) {
    return absl::DeadlineExceededError(
        absl::StrCat("webhook not stored within ", absl::FormatDuration(options_.wait_timeout)));
  }
  return outcome.get();
}

bool InboxWriter::CanCommitLocked() const {
  if (queue_.empty() || in_flight_ >= writers_) return false;
  // No commit running: go now (lowest latency). One running: start another only for a backlog, so that rows
  // arriving during a commit gather into the next batch instead of trickling out in commits of one.
  return in_flight_ == 0 || queued_rows_ >= eager_rows_;
}

void InboxWriter::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || CanCommitLocked(); });
    if (queue_.empty()) return;  // stopping, and everything queued is stored (or being stored)
    // (When stopping, whatever is queued goes now.)
    // Everything waiting, up to max_batch rows (a caller's rows are never split).
    std::vector<std::unique_ptr<Pending>> batch;
    size_t rows = 0;
    while (!queue_.empty() &&
           (batch.empty() || rows + queue_.front()->records.size() <= options_.max_batch)) {
      rows += queue_.front()->records.size();
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    queued_rows_ -= rows;
    ++in_flight_;
    // A backlog beyond this batch: let another writer commit beside this one.
    if (CanCommitLocked()) cv_.notify_one();
    lock.unlock();
    Commit(batch);
    lock.lock();
    --in_flight_;
    // What gathered meanwhile is this writer's next batch (the loop takes it without waiting).
  }
}

void InboxWriter::Commit(std::vector<std::unique_ptr<Pending>>& batch) {
  // The events move into the statement's arrays (no copy of the payloads); the reasons stay with the records.
  std::vector<jobs::InboxEvent> events;
  std::vector<std::string_view> ignore_reasons;
  for (auto& pending : batch) {
    for (InboxRecord& record : pending->records) {
      events.push_back(std::move(record.event));
      ignore_reasons.push_back(record.ignore_reason);
    }
  }
  const absl::Time started = absl::Now();
  absl::StatusOr<std::vector<jobs::StoredEvent>> stored = StoreEvents(events, ignore_reasons);
  commit_seconds_.ObserveDuration(absl::Now() - started);
  batch_rows_.Observe(static_cast<double>(events.size()));

  if (stored.ok()) {
    size_t next = 0;
    for (auto& pending : batch) {
      const size_t n = pending->records.size();
      pending->promise.set_value(
          std::vector<jobs::StoredEvent>(stored->begin() + static_cast<std::ptrdiff_t>(next),
                                         stored->begin() + static_cast<std::ptrdiff_t>(next + n)));
      next += n;
    }
    if (options_.on_stored && ForwardsAny(ignore_reasons, *stored)) options_.on_stored();
    return;
  }
  if (!pg::IsRowError(stored.status())) {
    // Postgres is down or slow: nothing of the batch is stored (or its outcome is unknown); 503 for all.
    commit_errors_.Inc();
    for (auto& pending : batch) pending->promise.set_value(stored.status());
    return;
  }
  // One row spoiled the statement: store each caller's rows on their own, so the others are not refused.
  size_t k = 0;
  for (auto& pending : batch) {
    for (InboxRecord& record : pending->records) record.event = std::move(events[k++]);
  }
  bool forward = false;
  for (auto& pending : batch) {
    Outcome outcome = StoreAlone(pending->records);
    if (outcome.ok()) {
      std::vector<std::string_view> reasons;
      for (const InboxRecord& r : pending->records) reasons.push_back(r.ignore_reason);
      forward = forward || ForwardsAny(reasons, *outcome);
    }
    pending->promise.set_value(std::move(outcome));
  }
  if (forward && options_.on_stored) options_.on_stored();
}

absl::StatusOr<std::vector<jobs::StoredEvent>> InboxWriter::StoreEvents(
    const std::vector<jobs::InboxEvent>& events, const std::vector<std::string_view>& ignore_reasons) {
  bool any_ignored = false;
  for (std::string_view reason : ignore_reasons) any_ignored = any_ignored || !reason.empty();
  if (!any_ignored) return inbox_.StoreBatch(events);  // one statement, committed on return

  absl::StatusOr<pg::Transaction> txn = pool_.Begin();
  if (!txn.ok()) return txn.status();
  absl::StatusOr<std::vector<jobs::StoredEvent>> stored = inbox_.StoreBatch(*txn, events);
  if (!stored.ok()) return stored.status();
  std::vector<int64_t> ids;
  std::vector<std::string> reasons;
  for (size_t i = 0; i < events.size(); ++i) {
    if (!ignore_reasons[i].empty() && !(*stored)[i].duplicate) {
      ids.push_back((*stored)[i].id);
      reasons.emplace_back(ignore_reasons[i]);
    }
  }
  if (!ids.empty()) {
    if (absl::StatusOr<pg::Result> r = txn->Execute(queries::kMarkIgnored, {ids, reasons}); !r.ok()) {
      return r.status();
    }
  }
  if (absl::Status committed = txn->Commit(); !committed.ok()) return committed;
  return stored;
}

InboxWriter::Outcome InboxWriter::StoreAlone(const std::vector<InboxRecord>& records) {
  std::vector<jobs::InboxEvent> events;
  std::vector<std::string_view> reasons;
  for (const InboxRecord& r : records) {
    events.push_back(r.event);
    reasons.push_back(r.ignore_reason);
  }
  Outcome outcome = StoreEvents(events, reasons);
  if (outcome.ok() || !pg::IsRowError(outcome.status())) return outcome;
  // Postgres refuses the row: most likely payload_json (jsonb is stricter than JSON parsers, e.g. about
  // unpaired surrogates). The raw payload is what matters; store it without the parsed copy.
  for (jobs::InboxEvent& e : events) e.payload_json.reset();
  Outcome retried = StoreEvents(events, reasons);
  if (!retried.ok()) {
    kernel::LogError("edge: a webhook cannot be stored",
                     {{"provider", records.front().event.provider},
                      {"provider_event_id", records.front().event.provider_event_id},
                      {"error", std::string(retried.status().message())}});
  }
  return retried;
}

}  // namespace protectogram::edge
