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
  m.status = row.Get<std::string>("status");
  m.attempts = row.Get<int32_t>("attempts");
  m.next_attempt_at = absl::FromUnixMicros(row.Get<int64_t>("next_attempt_us"));
  m.last_error = row.GetOptional<std::string>("last_error").value_or("");
  m.incident_id = row.GetOptional<int64_t>("incident_id");
  m.created_at = absl::FromUnixMicros(row.Get<int64_t>("created_us"));
  return m;
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
      count_(queries::kOutboxCount, table_) {}

template <typename Db>
absl::StatusOr<bool> Outbox::EnqueueOn(Db& db, const OutboxCommand& command) {
  if (command.channel.empty()) return absl::InvalidArgumentError("outbox command channel is empty");
  if (command.idempotency_key.empty()) return absl::InvalidArgumentError("outbox idempotency key is empty");
  absl::StatusOr<pg::Result> r =
      db.Execute(enqueue_, {command.channel, command.idempotency_key, command.payload_json,
                            command.incident_id, channel_, notify_});
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

absl::StatusOr<OutboxCounts> Outbox::Count() {
  absl::StatusOr<pg::Result> r = pool_.Execute(count_);
  if (!r.ok()) return r.status();
  const pg::Row row = r->front();
  return OutboxCounts{row.Get<int64_t>("due"), row.Get<int64_t>("waiting"), row.Get<int64_t>("dead")};
}

// ---- OutboxRelay ----------------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<OutboxRelay>> OutboxRelay::Create(pg::Pool& pool, OutboxRelayOptions options) {
  if (absl::Status s = internal::ValidateTableName(options.table); !s.ok()) return s;
  if (options.threads < 1 || options.batch_size < 1) {
    return absl::InvalidArgumentError("outbox relay: threads and batch_size must be at least 1");
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
      fail_(queries::kOutboxFail, table_),
      release_(queries::kOutboxRelease, table_),
      prune_(queries::kOutboxPrune, table_) {
  internal::OutboxSentMetric(metrics_);
  internal::EngineOps<OutboxMessage> ops;
  ops.claim = [this](int limit) { return Claim(limit); };
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
                              .clock = options_.clock},
      std::move(ops));
}

OutboxRelay::~OutboxRelay() { Stop(); }

void OutboxRelay::RegisterSender(std::string channel, OutboxSender sender, OutboxChannelOptions options) {
  if (started_) {
    kernel::LogError("outbox: RegisterSender after Start", {{"queue", table_}, {"channel", channel}});
    std::abort();
  }
  channels_[std::move(channel)] = Channel{std::move(sender), options.retry.value_or(options_.retry),
                                          options.max_attempts.value_or(options_.max_attempts)};
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
  internal::ClaimBatch<OutboxMessage> batch;
  const pg::Row meta = r->front();
  batch.outcome.db_now = absl::FromUnixMicros(meta.Get<int64_t>("db_now_us"));
  if (std::optional<int64_t> next = meta.GetOptional<int64_t>("next_due_us"); next.has_value()) {
    batch.outcome.next_due = absl::FromUnixMicros(*next);
  }
  for (const pg::Row& row : *r) {
    if (row.IsNull("id")) continue;
    OutboxMessage m;
    m.id = row.Get<int64_t>("id");
    m.channel = row.Get<std::string>("channel");
    m.idempotency_key = row.Get<std::string>("idempotency_key");
    m.payload_json = row.Get<std::string>("payload_json");
    m.status = "pending";
    m.attempts = row.Get<int32_t>("attempts");
    m.incident_id = row.GetOptional<int64_t>("incident_id");
    m.created_at = absl::FromUnixMicros(row.Get<int64_t>("created_us"));
    m.due_at = absl::FromUnixMicros(row.Get<int64_t>("due_us"));
    m.lease_token = row.Get<int64_t>("lease_token");
    m.next_attempt_at = absl::FromUnixMicros(m.lease_token);
    batch.items.push_back(std::move(m));
  }
  std::sort(batch.items.begin(), batch.items.end(),
            [](const OutboxMessage& a, const OutboxMessage& b) { return a.id < b.id; });
  const int64_t claimed = static_cast<int64_t>(batch.items.size());
  batch.outcome.skipped_locked = claimed < limit && meta.Get<int64_t>("visible_due") > claimed;
  return batch;
}

bool OutboxRelay::Process(OutboxMessage& message) {
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
  auto& counter = internal::OutboxSentMetric(metrics_);
  if (status.ok() || status.code() == absl::StatusCode::kAlreadyExists) {
    counter.WithLabels({message.channel, status.ok() ? "sent" : "duplicate"}).Inc();
    return true;
  }
  const RetryPolicy& retry = it != channels_.end() ? it->second.retry : options_.retry;
  const int max_attempts = it != channels_.end() ? it->second.max_attempts : options_.max_attempts;
  std::string error = status.ToString();
  if (error.size() > kMaxErrorLength) error.resize(kMaxErrorLength);
  if (IsPermanentError(status) || message.attempts >= max_attempts) {
    counter.WithLabels({message.channel, "dead"}).Inc();
    Fail(message, "dead", absl::ZeroDuration(), error);
    kernel::LogWarn("outbox: message is dead", {{"queue", table_},
                                                {"channel", message.channel},
                                                {"key", message.idempotency_key},
                                                {"attempts", message.attempts},
                                                {"incident_id", message.incident_id.value_or(0)},
                                                {"error", error}});
  } else {
    const absl::Duration delay = RetryAfterOf(status).value_or(retry.Delay(message.attempts, UniformUnit()));
    counter.WithLabels({message.channel, "retry"}).Inc();
    Fail(message, "pending", delay, error);
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

void OutboxRelay::Fail(OutboxMessage& message, std::string_view status, absl::Duration delay,
                       const std::string& error) {
  absl::StatusOr<pg::Result> r =
      pool_.Execute(fail_, {message.id, message.lease_token, status, DurationMicros(delay), error});
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
  ids.reserve(messages.size());
  for (const OutboxMessage& m : messages) ids.push_back(m.id);
  return pool_.Execute(mark_sent_, {ids}).status();
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
