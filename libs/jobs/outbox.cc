#include "libs/jobs/outbox.h"

#include <algorithm>
#include <cstdlib>
#include <exception>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "libs/jobs/internal/metrics.h"
#include "libs/jobs/queries.h"
#include "libs/kernel/log.h"

namespace protectogram::jobs {
namespace {

using internal::DurationMicros;

constexpr size_t kMaxErrorLength = 2000;
constexpr int kMaxPruneRounds = 100;

OutboxMessage MessageFromRow(const pg::Row& row) {
  OutboxMessage m;
  m.id = row.Get<int64_t>("id");
  m.channel = row.Get<std::string>("channel");
  m.idempotency_key = row.Get<std::string>("idempotency_key");
  m.payload_json = row.Get<std::string>("payload_json");
  m.status = ParseOutboxStatus(row.Get<std::string>("status")).value_or(OutboxStatus::kPending);
  m.attempts = row.Get<int32_t>("attempts");
  m.next_attempt_at = absl::FromUnixMicros(row.Get<int64_t>("next_attempt_us"));
  m.last_error = row.GetOptional<std::string>("last_error").value_or("");
  m.incident_id = row.GetOptional<int64_t>("incident_id");
  m.created_at = absl::FromUnixMicros(row.Get<int64_t>("created_us"));
  m.updated_at = absl::FromUnixMicros(row.Get<int64_t>("updated_us"));
  m.priority = row.Get<int32_t>("priority");
  m.receipt_json = row.GetOptional<std::string>("receipt").value_or("");
  return m;
}

std::string ErrorText(const absl::Status& status) {
  std::string error = status.ToString();
  if (error.size() > kMaxErrorLength) error.resize(kMaxErrorLength);
  return error;
}

std::optional<std::string> ReceiptParam(const std::string& receipt) {
  if (receipt.empty()) return std::nullopt;
  return receipt;
}

// A transaction's outcome worth another try: a dropped connection, a serialization failure or deadlock.
// A pool with no free connection in time (RESOURCE_EXHAUSTED) counts too: an outcome already carried out must
// not be left unrecorded because the process is busy.
bool Transient(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable || s.code() == absl::StatusCode::kAborted ||
         s.code() == absl::StatusCode::kResourceExhausted || s.code() == absl::StatusCode::kDeadlineExceeded;
}

double UniformUnit() {
  thread_local absl::BitGen gen;
  return absl::Uniform(gen, 0.0, 1.0);
}

}  // namespace

std::string OutboxChannel(std::string_view table) { return absl::StrCat("outbox:", std::string(table)); }

// ---- Outbox ---------------------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Outbox>> Outbox::Create(pg::Pool& pool, OutboxOptions options) {
  if (absl::Status s = internal::ValidateTableName(options.table); !s.ok()) return s;
  return std::unique_ptr<Outbox>(new Outbox(pool, std::move(options)));
}

Outbox::Outbox(pg::Pool& pool, OutboxOptions options)
    : pool_(pool),
      table_(options.table),
      channel_(OutboxChannel(options.table)),
      notify_(options.notify),
      enqueue_(queries::kOutboxEnqueue, table_),
      by_key_(queries::kOutboxByKey, table_),
      list_dead_(queries::kOutboxListDead, table_),
      redrive_(queries::kOutboxRedrive, table_),
      redrive_all_(queries::kOutboxRedriveAll, table_),
      count_(queries::kOutboxCount, table_) {}

template <typename Db>
absl::StatusOr<bool> Outbox::EnqueueOn(Db& db, const OutboxCommand& command) {
  if (command.channel.empty()) return absl::InvalidArgumentError("outbox command channel is empty");
  if (command.idempotency_key.empty()) return absl::InvalidArgumentError("outbox idempotency key is empty");
  std::vector<int64_t> costs(command.pace_costs.begin(), command.pace_costs.end());
  absl::StatusOr<pg::Result> r = db.Execute(
      enqueue_, {command.channel, command.idempotency_key, command.payload_json, command.incident_id,
                 channel_, notify_, command.priority, command.pace_keys, costs});
  if (!r.ok()) return r.status();
  return !r->empty();
}

absl::StatusOr<bool> Outbox::Enqueue(pg::Transaction& txn, const OutboxCommand& command) {
  return EnqueueOn(txn, command);
}
absl::StatusOr<bool> Outbox::Enqueue(const OutboxCommand& command) { return EnqueueOn(pool_, command); }

absl::StatusOr<OutboxMessage> Outbox::Get(std::string_view idempotency_key) {
  absl::StatusOr<pg::Result> r = pool_.Execute(by_key_, {idempotency_key});
  if (!r.ok()) return r.status();
  if (r->empty()) {
    return absl::NotFoundError(absl::StrCat("no outbox message with key ", std::string(idempotency_key)));
  }
  return MessageFromRow(r->front());
}

absl::StatusOr<std::vector<OutboxMessage>> Outbox::ListDead(int limit) {
  absl::StatusOr<pg::Result> r = pool_.Execute(list_dead_, {std::clamp(limit, 1, 1000)});
  if (!r.ok()) return r.status();
  std::vector<OutboxMessage> out;
  for (const pg::Row& row : *r) out.push_back(MessageFromRow(row));
  return out;
}

absl::StatusOr<OutboxMessage> Outbox::Redrive(int64_t id) {
  absl::StatusOr<pg::Result> r = pool_.Execute(redrive_, {id, channel_});
  if (!r.ok()) return r.status();
  if (r->empty()) return absl::NotFoundError(absl::StrCat("no dead outbox message with id ", id));
  return MessageFromRow(r->front());
}

absl::StatusOr<int64_t> Outbox::RedriveAll(std::string_view channel_prefix, int limit) {
  absl::StatusOr<pg::Result> r = pool_.Execute(redrive_all_, {channel_, channel_prefix, std::max(limit, 1)});
  if (!r.ok()) return r.status();
  return r->front().Get<int64_t>("redriven");
}

absl::StatusOr<OutboxCounts> Outbox::Count() {
  absl::StatusOr<pg::Result> r = pool_.Execute(count_);
  if (!r.ok()) return r.status();
  const pg::Row row = r->front();
  return OutboxCounts{row.Get<int64_t>("due"), row.Get<int64_t>("waiting"), row.Get<int64_t>("dead")};
}

// ---- OutboxRelay ----------------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<OutboxRelay>> OutboxRelay::Create(pg::Pool& pool, OutboxRelayOptions options) {
  if (absl::Status s =
          internal::ValidateQueueOptions("outbox relay", options.table, options.threads, options.batch_size);
      !s.ok()) {
    return s;
  }
  if (!options.pace_table.empty()) {
    if (absl::Status s = internal::ValidateTableName(options.pace_table); !s.ok()) return s;
  }
  return std::unique_ptr<OutboxRelay>(new OutboxRelay(pool, std::move(options)));
}

OutboxRelay::OutboxRelay(pg::Pool& pool, OutboxRelayOptions options)
    : pool_(pool),
      options_(std::move(options)),
      table_(options_.table),
      channel_(OutboxChannel(table_)),
      metrics_(options_.metrics != nullptr ? *options_.metrics : kernel::DefaultMetrics()),
      claim_(queries::kOutboxClaim, table_),
      mark_sent_(queries::kOutboxMarkSent, table_),
      mark_sent_one_(queries::kOutboxMarkSentOne, table_),
      fail_(queries::kOutboxFail, table_),
      save_receipt_(queries::kOutboxSaveReceipt, table_),
      release_(queries::kOutboxRelease, table_),
      prune_(queries::kOutboxPrune, table_),
      paced_candidates_(queries::kOutboxPacedCandidates, table_),
      paced_apply_(queries::kOutboxPacedApply, table_) {
  if (!options_.pace_table.empty()) {
    pace_lock_ = internal::BoundQuery(queries::kOutboxPaceLock, options_.pace_table);
    pace_store_ = internal::BoundQuery(queries::kOutboxPaceStore, options_.pace_table);
    pace_late_start_ = internal::BoundQuery(queries::kOutboxPaceLateStart, options_.pace_table);
  }
  internal::OutboxSentMetric(metrics_);
  internal::OutboxFailedMetric(metrics_);
  internal::EngineOps<OutboxMessage> ops;
  const bool paced = !options_.pace_table.empty() && !options_.pace_limits.empty();
  if (paced) {
    ops.claim = [this](int limit) { return ClaimPaced(limit); };
  } else {
    ops.claim = [this](int limit) { return Claim(limit); };
  }
  ops.process = [this](OutboxMessage& m) { return Process(m); };
  ops.complete = [this](std::vector<OutboxMessage>& m) { return MarkSent(m); };
  ops.release = [this](std::vector<OutboxMessage>& m) { return Release(m); };
  ops.periodic = {{"prune", options_.prune_interval, [this] { return Prune(); }}};
  engine_ = std::make_unique<internal::Engine<OutboxMessage>>(
      internal::EngineOptions{.name = table_,
                              .listen_url = options_.listen_url,
                              .channel = channel_,
                              .threads = options_.threads,
                              .batch_size = options_.batch_size,
                              .rescan_interval = options_.rescan_interval,
                              .clock = options_.clock,
                              .claim_for_idle_only = options_.claim_for_idle_only},
      std::move(ops));
}

OutboxRelay::~OutboxRelay() { Stop(); }

void OutboxRelay::RegisterSender(std::string channel, OutboxSender sender, OutboxChannelOptions options) {
  if (started_) {
    kernel::LogError("outbox: RegisterSender after Start", {{"queue", table_}, {"channel", channel}});
    std::abort();
  }
  channels_[std::move(channel)] = Channel{std::move(sender), options.retry.value_or(options_.retry),
                                          options.max_attempts.value_or(options_.max_attempts),
                                          std::move(options.finalizer), std::move(options.finalize_if)};
}

absl::Status OutboxRelay::Start() {
  if (started_) return absl::FailedPreconditionError("outbox relay: already started");
  started_ = true;
  return engine_->Start();
}

void OutboxRelay::Stop() { engine_->Stop(); }

void OutboxRelay::Wake() { engine_->Wake(); }

absl::StatusOr<internal::ClaimBatch<OutboxMessage>> OutboxRelay::Claim(int limit) {
  absl::StatusOr<pg::Result> r = pool_.Execute(claim_, {limit, DurationMicros(options_.lease)});
  if (!r.ok()) return r.status();
  return ClaimedBatch(*r, limit);
}

absl::StatusOr<internal::ClaimBatch<OutboxMessage>> OutboxRelay::ClaimedBatch(const pg::Result& r,
                                                                              int limit) {
  const absl::Time local = absl::Now();
  return internal::DecodeClaim<OutboxMessage>(
      r, limit,
      [local](const pg::Row& row, absl::Time db_now) {
        OutboxMessage m;
        m.id = row.Get<int64_t>("id");
        m.channel = row.Get<std::string>("channel");
        m.idempotency_key = row.Get<std::string>("idempotency_key");
        m.payload_json = row.Get<std::string>("payload_json");
        m.status = OutboxStatus::kPending;
        m.attempts = row.Get<int32_t>("attempts");
        m.incident_id = row.GetOptional<int64_t>("incident_id");
        m.priority = row.Get<int32_t>("priority");
        m.receipt_json = row.GetOptional<std::string>("receipt").value_or("");
        m.created_at = absl::FromUnixMicros(row.Get<int64_t>("created_us"));
        m.due_at = absl::FromUnixMicros(row.Get<int64_t>("due_us"));
        m.lease_token = row.Get<int64_t>("lease_token");
        m.next_attempt_at = absl::FromUnixMicros(m.lease_token);
        m.claimed_at = db_now;
        m.claimed_local = local;
        return m;
      },
      // The highest priority first, then in order of writing.
      [](const OutboxMessage& a, const OutboxMessage& b) {
        return a.priority != b.priority ? a.priority > b.priority : a.id < b.id;
      });
}

// Candidates are read 4x the limit deep, so that messages held back by their buckets do not starve the
// batch; every candidate not claimed is either deferred to when its buckets allow it or left as it was.
absl::StatusOr<internal::ClaimBatch<OutboxMessage>> OutboxRelay::ClaimPaced(int limit) {
  absl::StatusOr<pg::Transaction> txn = pool_.Begin();
  if (!txn.ok()) return txn.status();
  const int depth = limit * 4;
  absl::StatusOr<pg::Result> rows = txn->Execute(paced_candidates_, {depth});
  if (!rows.ok()) return rows.status();
  std::vector<PaceCandidate> candidates;
  absl::Time now = absl::InfinitePast();
  for (const pg::Row& row : *rows) {
    now = absl::FromUnixMicros(row.Get<int64_t>("now_us"));
    const int64_t id = row.Get<int64_t>("id");
    if (candidates.empty() || candidates.back().id != id) candidates.push_back({.id = id});
    if (std::optional<std::string> key = row.GetOptional<std::string>("key"); key.has_value()) {
      candidates.back().keys.push_back(*key);
      candidates.back().costs.push_back(static_cast<int>(row.Get<int32_t>("cost")));
    }
  }
  std::map<std::string, absl::Time> tats;
  if (const std::vector<std::string> keys = LimitedKeys(candidates, options_.pace_limits); !keys.empty()) {
    absl::StatusOr<pg::Result> locked = txn->Execute(pace_lock_, {keys});
    if (!locked.ok()) return locked.status();
    for (const pg::Row& row : *locked) {
      if (std::optional<int64_t> us = row.GetOptional<int64_t>("tat_us"); us.has_value()) {
        tats[row.Get<std::string>("key")] = absl::FromUnixMicros(*us);
      }
    }
  }
  const PacePlan plan = PlanPacedClaim(candidates, tats, options_.pace_limits, now, limit);
  std::vector<int64_t> chosen, deferred, deferred_at;
  for (size_t i : plan.chosen) chosen.push_back(candidates[i].id);
  for (const auto& [i, at] : plan.deferred) {
    deferred.push_back(candidates[i].id);
    deferred_at.push_back(absl::ToUnixMicros(at));
  }
  absl::StatusOr<pg::Result> claimed =
      txn->Execute(paced_apply_, {depth, chosen, DurationMicros(options_.lease), deferred, deferred_at});
  if (!claimed.ok()) return claimed.status();
  // The local time that goes with the apply's database time (the commit below may take a while).
  const absl::Time local_at_apply = absl::Now();
  if (!plan.tats.empty()) {
    std::vector<std::string> keys;
    std::vector<int64_t> values;
    for (const auto& [key, tat] : plan.tats) {
      keys.push_back(key);
      values.push_back(absl::ToUnixMicros(tat));
    }
    if (absl::StatusOr<pg::Result> stored = txn->Execute(pace_store_, {keys, values}); !stored.ok()) {
      return stored.status();
    }
  }
  if (absl::Status s = txn->Commit(); !s.ok()) return s;
  absl::StatusOr<internal::ClaimBatch<OutboxMessage>> batch = ClaimedBatch(*claimed, depth);
  if (!batch.ok()) return batch;
  std::map<int64_t, const PaceCandidate*> by_id;
  for (size_t i : plan.chosen) by_id[candidates[i].id] = &candidates[i];
  for (OutboxMessage& m : batch->items) {
    auto it = by_id.find(m.id);
    if (it == by_id.end()) continue;
    m.paced_at = now;
    m.claimed_local = local_at_apply;
    for (size_t k = 0; k < it->second->keys.size(); ++k) {
      if (!options_.pace_limits.For(it->second->keys[k]).has_value()) continue;
      m.pace_keys.push_back(it->second->keys[k]);
      m.pace_costs.push_back(k < it->second->costs.size() ? it->second->costs[k] : 1);
    }
  }
  // The apply's scan ran on the snapshot before its own updates: it saw the deferred messages as due, so
  // their new times are added here. Due rows it did not get were locked by another relay: look again soon.
  for (const auto& [i, at] : plan.deferred) {
    batch->outcome.next_due = std::min(batch->outcome.next_due.value_or(absl::InfiniteFuture()), at);
  }
  const int64_t seen = static_cast<int64_t>(candidates.size());
  batch->outcome.skipped_locked = seen < depth && claimed->front().Get<int64_t>("visible_due") > seen;
  return batch;
}

absl::Status OutboxRelay::SaveProgress(OutboxMessage& message, std::string receipt_json) {
  absl::StatusOr<pg::Result> r =
      pool_.Execute(save_receipt_, {message.id, message.lease_token, receipt_json});
  if (!r.ok()) return r.status();
  if (r->empty()) {
    return absl::AbortedError(absl::StrCat("outbox message ", message.idempotency_key, " is no longer held"));
  }
  message.receipt_json = std::move(receipt_json);
  return absl::OkStatus();
}

void OutboxRelay::RepaceLateStart(const OutboxMessage& message) {
  // The claim paced this message as if it went at `paced_at`; one that starts noticeably later (a slow commit,
  // a busy machine) tells its buckets when it really went.
  constexpr absl::Duration kLateStart = absl::Milliseconds(2);
  const absl::Time start = message.claimed_at + (absl::Now() - message.claimed_local);  // database clock
  if (start - message.paced_at <= kLateStart) return;
  std::vector<std::string> keys;
  std::vector<int64_t> draws;
  for (size_t k = 0; k < message.pace_keys.size(); ++k) {
    const std::optional<PaceLimit> limit = options_.pace_limits.For(message.pace_keys[k]);
    if (!limit.has_value()) continue;
    keys.push_back(message.pace_keys[k]);
    draws.push_back(DurationMicros(message.pace_costs[k] * limit->interval));
  }
  if (keys.empty()) return;
  if (absl::StatusOr<pg::Result> r = pool_.Execute(pace_late_start_, {keys, draws}); !r.ok()) {
    kernel::LogWarn(
        "outbox: recording a late start in the pace failed",
        {{"queue", table_}, {"key", message.idempotency_key}, {"error", std::string(r.status().message())}});
  }
}

bool OutboxRelay::Process(OutboxMessage& message) {
  if (!message.pace_keys.empty()) RepaceLateStart(message);
  auto it = channels_.find(message.channel);
  absl::Status status;
  if (it == channels_.end()) {
    status =
        absl::FailedPreconditionError(absl::StrCat("no sender registered for channel ", message.channel));
  } else {
    try {
      status = it->second.sender(message);
    } catch (const std::exception& e) {
      status = absl::InternalError(absl::StrCat("sender threw: ", e.what()));
    } catch (...) {
      status = absl::InternalError("sender threw a non-standard exception");
    }
  }
  if (status.ok() || status.code() == absl::StatusCode::kAlreadyExists) {
    internal::OutboxSentMetric(metrics_).WithLabels({message.channel}).Inc();
    if (it != channels_.end() && it->second.finalizer) {
      if (!it->second.finalize_if || it->second.finalize_if(message, absl::OkStatus())) {
        Finalize(it->second, message, absl::OkStatus());
      } else {
        MarkSentNow(message);
      }
      return false;
    }
    return true;
  }
  const RetryPolicy& retry = it != channels_.end() ? it->second.retry : options_.retry;
  const int max_attempts = it != channels_.end() ? it->second.max_attempts : options_.max_attempts;
  const std::string error = ErrorText(status);
  internal::OutboxFailedMetric(metrics_).WithLabels({message.channel, FailureReasonOf(status)}).Inc();
  if (IsThrottled(status)) {
    Fail(message, "pending", RetryAfterOf(status).value_or(absl::ZeroDuration()), error, /*counts=*/false);
  } else if (IsPermanentError(status) || message.attempts >= max_attempts) {
    kernel::LogWarn("outbox: message is dead", {{"queue", table_},
                                                {"channel", message.channel},
                                                {"key", message.idempotency_key},
                                                {"attempts", message.attempts},
                                                {"incident_id", message.incident_id.value_or(0)},
                                                {"error", error}});
    if (it != channels_.end() && it->second.finalizer &&
        (!it->second.finalize_if || it->second.finalize_if(message, status))) {
      Finalize(it->second, message, status);
    } else {
      Fail(message, "dead", absl::ZeroDuration(), error, /*counts=*/true);
    }
  } else {
    const absl::Duration delay = RetryAfterOf(status).value_or(retry.Delay(message.attempts, UniformUnit()));
    Fail(message, "pending", delay, error, /*counts=*/true);
    kernel::LogInfo("outbox: send failed; retrying", {{"queue", table_},
                                                      {"channel", message.channel},
                                                      {"key", message.idempotency_key},
                                                      {"attempts", message.attempts},
                                                      {"retry_in_ms", absl::ToInt64Milliseconds(delay)},
                                                      {"incident_id", message.incident_id.value_or(0)},
                                                      {"error", error}});
  }
  return false;
}

void OutboxRelay::Finalize(const Channel& channel, OutboxMessage& message, const absl::Status& outcome) {
  constexpr int kAttempts = 3;
  absl::Status last;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    absl::StatusOr<pg::Transaction> txn = pool_.Begin();
    if (!txn.ok()) {
      last = txn.status();
      if (Transient(last)) continue;
      break;
    }
    absl::StatusOr<pg::Result> r =
        outcome.ok() ? txn->Execute(mark_sent_one_,
                                    {message.id, message.lease_token, ReceiptParam(message.receipt_json)})
                     : txn->Execute(fail_, {message.id, message.lease_token, "dead", int64_t{0},
                                            ErrorText(outcome), false});
    if (!r.ok()) {
      last = r.status();
      if (Transient(last)) continue;
      break;
    }
    if (r->empty()) return;  // the lease was lost meanwhile: whoever holds the message now records it
    if (absl::Status s = channel.finalizer(*txn, message, outcome); !s.ok()) {
      last = s;
      if (Transient(last)) continue;
      break;
    }
    last = txn->Commit();
    if (last.ok()) {
      engine_->Wake();  // the finalizer may have queued a message of this outbox (a fallback, a report)
      return;
    }
    if (!Transient(last)) break;
  }
  kernel::LogError("outbox: recording a final outcome failed; the message is tried again after its lease",
                   {{"queue", table_},
                    {"channel", message.channel},
                    {"key", message.idempotency_key},
                    {"sent", outcome.ok()},
                    {"error", std::string(last.message())}});
}

void OutboxRelay::MarkSentNow(OutboxMessage& message) {
  constexpr int kAttempts = 3;
  absl::Status last;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    absl::StatusOr<pg::Result> r =
        pool_.Execute(mark_sent_one_, {message.id, message.lease_token, ReceiptParam(message.receipt_json)});
    if (r.ok()) return;
    last = r.status();
    if (!Transient(last)) break;
  }
  kernel::LogError(
      "outbox: marking a sent message failed; it is sent again after its lease",
      {{"queue", table_}, {"key", message.idempotency_key}, {"error", std::string(last.message())}});
}

void OutboxRelay::Fail(OutboxMessage& message, std::string_view status, absl::Duration delay,
                       const std::string& error, bool counts) {
  absl::StatusOr<pg::Result> r =
      pool_.Execute(fail_, {message.id, message.lease_token, status, DurationMicros(delay), error, !counts});
  if (!r.ok()) {
    kernel::LogWarn(
        "outbox: recording a failed send failed; it is retried after its lease",
        {{"queue", table_}, {"key", message.idempotency_key}, {"error", std::string(r.status().message())}});
    return;
  }
  if (status == "pending" && !r->empty()) {
    engine_->DueAt(absl::FromUnixMicros(r->front().Get<int64_t>("next_attempt_us")));
  }
}

absl::Status OutboxRelay::MarkSent(std::vector<OutboxMessage>& messages) {
  std::vector<int64_t> ids;
  std::vector<std::optional<std::string>> receipts;
  ids.reserve(messages.size());
  receipts.reserve(messages.size());
  for (const OutboxMessage& m : messages) {
    ids.push_back(m.id);
    receipts.push_back(ReceiptParam(m.receipt_json));
  }
  return pool_.Execute(mark_sent_, {ids, internal::ArrayLiteral(receipts)}).status();
}

absl::Status OutboxRelay::Release(std::vector<OutboxMessage>& messages) {
  std::vector<int64_t> ids, tokens;
  for (const OutboxMessage& m : messages) {
    ids.push_back(m.id);
    tokens.push_back(m.lease_token);
  }
  return pool_.Execute(release_, {ids, tokens, channel_}).status();
}

bool OutboxRelay::Prune() {
  for (int round = 0; round < kMaxPruneRounds && !engine_->stopping(); ++round) {
    absl::StatusOr<pg::Result> r =
        pool_.Execute(prune_, {DurationMicros(options_.keep_sent), options_.prune_batch});
    if (!r.ok() || r->affected_rows() < options_.prune_batch) break;
  }
  return false;
}

}  // namespace protectogram::jobs
