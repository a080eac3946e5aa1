#include "libs/jobs/inbox.h"

#include <algorithm>
#include <exception>
#include <unordered_map>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "libs/jobs/internal/metrics.h"
#include "libs/jobs/queries.h"
#include "libs/kernel/log.h"

namespace protectogram::jobs {
namespace {

using internal::DurationMicros;

constexpr size_t kMaxErrorLength = 2000;
// Transactions of ReceiveOnce that lose a serialization race or a deadlock (ABORTED) are tried this often.
constexpr int kReceiveAttempts = 3;

absl::Status ValidateEvent(const InboxEvent& event) {
  if (event.provider.empty()) return absl::InvalidArgumentError("inbox event provider is empty");
  if (event.provider_event_id.empty()) return absl::InvalidArgumentError("inbox event id is empty");
  return absl::OkStatus();
}

// provider and event id joined by a byte neither contains in practice, for hashing.
std::string EventKey(std::string_view provider, std::string_view event_id) {
  return absl::StrCat(std::string(provider), std::string(1, '\0'), std::string(event_id));
}

double UniformUnit() {
  thread_local absl::BitGen gen;
  return absl::Uniform(gen, 0.0, 1.0);
}

}  // namespace

// ---- Inbox ----------------------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Inbox>> Inbox::Create(pg::Pool& pool, InboxOptions options) {
  if (absl::Status s = internal::ValidateTableName(options.table); !s.ok()) return s;
  return std::unique_ptr<Inbox>(new Inbox(pool, std::move(options)));
}

Inbox::Inbox(pg::Pool& pool, InboxOptions options)
    : pool_(pool),
      table_(options.table),
      duplicates_(internal::DuplicateInboxMetric(options.metrics != nullptr ? *options.metrics
                                                                            : kernel::DefaultMetrics())),
      store_(queries::kInboxStore, table_),
      id_by_key_(queries::kInboxIdByKey, table_),
      store_batch_(queries::kInboxStoreBatch, table_),
      ids_by_keys_(queries::kInboxIdsByKeys, table_),
      mark_delivered_(queries::kInboxMarkDelivered, table_),
      mark_processed_(queries::kInboxMarkProcessed, table_),
      replay_(queries::kInboxReplay, table_),
      by_id_(queries::kInboxById, table_) {}

template <typename Db>
absl::StatusOr<StoredEvent> Inbox::StoreOn(Db& db, const InboxEvent& event, bool handled) {
  if (absl::Status s = ValidateEvent(event); !s.ok()) return s;
  absl::StatusOr<pg::Result> r = db.Execute(store_, {event.provider, event.provider_event_id, event.payload,
                                                     event.payload_json, event.headers_json, handled});
  if (!r.ok()) return r.status();
  if (!r->empty()) return StoredEvent{r->front().Get<int64_t>("id"), false};
  duplicates_.Inc();
  // A new statement sees the row that made ours a duplicate, even if it committed while we waited on it.
  absl::StatusOr<pg::Result> existing = db.Execute(id_by_key_, {event.provider, event.provider_event_id});
  if (!existing.ok()) return existing.status();
  return StoredEvent{existing->empty() ? 0 : existing->front().Get<int64_t>("id"), true};
}

template <typename Db>
absl::StatusOr<std::vector<StoredEvent>> Inbox::StoreBatchOn(Db& db, const std::vector<InboxEvent>& events) {
  std::vector<StoredEvent> out(events.size());
  if (events.empty()) return out;
  // First occurrence of each key within the batch; later ones are duplicates of it.
  std::unordered_map<std::string, size_t> first;
  first.reserve(events.size());
  std::vector<size_t> first_of(events.size());
  std::vector<std::optional<std::string>> providers, ids, payloads, jsons, headers;
  for (size_t i = 0; i < events.size(); ++i) {
    const InboxEvent& e = events[i];
    if (absl::Status s = ValidateEvent(e); !s.ok()) return s;
    auto [it, inserted] = first.emplace(EventKey(e.provider, e.provider_event_id), i);
    first_of[i] = it->second;
    if (!inserted) continue;
    providers.emplace_back(e.provider);
    ids.emplace_back(e.provider_event_id);
    payloads.emplace_back(e.payload);
    jsons.push_back(e.payload_json);
    headers.push_back(e.headers_json);
  }
  using internal::ArrayLiteral;
  absl::StatusOr<pg::Result> r =
      db.Execute(store_batch_, {ArrayLiteral(providers), ArrayLiteral(ids), ArrayLiteral(payloads),
                                ArrayLiteral(jsons), ArrayLiteral(headers)});
  if (!r.ok()) return r.status();
  std::unordered_map<std::string, int64_t> stored;
  stored.reserve(r->size());
  for (const pg::Row& row : *r) {
    stored.emplace(EventKey(row.GetView(1), row.GetView(2)), row.Get<int64_t>(0));
  }
  // Rows that were there already: look their ids up (only when there are any).
  std::vector<std::optional<std::string>> dup_providers, dup_ids;
  for (const auto& [key, index] : first) {
    if (!stored.contains(key)) {
      dup_providers.emplace_back(events[index].provider);
      dup_ids.emplace_back(events[index].provider_event_id);
    }
  }
  std::unordered_map<std::string, int64_t> existing;
  if (!dup_providers.empty()) {
    absl::StatusOr<pg::Result> found =
        db.Execute(ids_by_keys_, {ArrayLiteral(dup_providers), ArrayLiteral(dup_ids)});
    if (!found.ok()) return found.status();
    for (const pg::Row& row : *found) {
      existing.emplace(EventKey(row.GetView(1), row.GetView(2)), row.Get<int64_t>(0));
    }
  }
  int64_t duplicates = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const std::string key = EventKey(events[i].provider, events[i].provider_event_id);
    if (auto it = stored.find(key); it != stored.end()) {
      out[i] = StoredEvent{it->second, first_of[i] != i};
    } else {
      auto ex = existing.find(key);
      out[i] = StoredEvent{ex != existing.end() ? ex->second : 0, true};
    }
    if (out[i].duplicate) ++duplicates;
  }
  if (duplicates > 0) duplicates_.Inc(static_cast<double>(duplicates));
  return out;
}

absl::StatusOr<StoredEvent> Inbox::Store(const InboxEvent& event) { return StoreOn(pool_, event, false); }
absl::StatusOr<StoredEvent> Inbox::Store(pg::Transaction& txn, const InboxEvent& event, bool handled) {
  return StoreOn(txn, event, handled);
}

absl::StatusOr<bool> Inbox::ReceiveOnce(const InboxEvent& event, const Effect& effect) {
  if (absl::Status s = ValidateEvent(event); !s.ok()) return s;
  absl::Status last;
  for (int attempt = 0; attempt < kReceiveAttempts; ++attempt) {
    absl::StatusOr<pg::Transaction> txn = pool_.Begin();
    if (!txn.ok()) return txn.status();
    absl::StatusOr<StoredEvent> stored = StoreOn(*txn, event, /*handled=*/true);
    if (!stored.ok()) {
      last = stored.status();
      if (last.code() == absl::StatusCode::kAborted) continue;  // the destructor rolls back
      return last;
    }
    if (stored->duplicate) {
      (void)txn->Rollback();  // nothing to change
      return false;
    }
    if (effect) {
      if (absl::Status s = effect(*txn); !s.ok()) {
        // Retry only a transaction that lost a race and is still ours to roll back.
        if (s.code() == absl::StatusCode::kAborted && txn->active()) {
          last = s;
          continue;  // the destructor rolls back
        }
        return s;
      }
    }
    last = txn->Commit();
    if (last.ok()) return true;
    // UNAVAILABLE: the outcome is unknown; the sender's retry answers false if this one committed.
    if (last.code() != absl::StatusCode::kAborted) return last;
  }
  return last;
}

absl::StatusOr<std::vector<StoredEvent>> Inbox::StoreBatch(const std::vector<InboxEvent>& events) {
  return StoreBatchOn(pool_, events);
}
absl::StatusOr<std::vector<StoredEvent>> Inbox::StoreBatch(pg::Transaction& txn,
                                                           const std::vector<InboxEvent>& events) {
  return StoreBatchOn(txn, events);
}

absl::Status Inbox::MarkDelivered(const std::vector<int64_t>& ids) {
  if (ids.empty()) return absl::OkStatus();
  return pool_.Execute(mark_delivered_, {ids}).status();
}

absl::Status Inbox::MarkProcessed(pg::Transaction& txn, int64_t id) {
  return txn.Execute(mark_processed_, {id}).status();
}

absl::Status Inbox::Replay(int64_t id) {
  absl::StatusOr<pg::Result> r = pool_.Execute(replay_, {id});
  if (!r.ok()) return r.status();
  if (r->empty()) return absl::NotFoundError(absl::StrCat("no inbox event with id ", id));
  return absl::OkStatus();
}

absl::StatusOr<InboxMessage> Inbox::Get(int64_t id) {
  absl::StatusOr<pg::Result> r = pool_.Execute(by_id_, {id});
  if (!r.ok()) return r.status();
  if (r->empty()) return absl::NotFoundError(absl::StrCat("no inbox event with id ", id));
  const pg::Row row = r->front();
  InboxMessage m;
  m.id = row.Get<int64_t>("id");
  m.provider = row.Get<std::string>("provider");
  m.provider_event_id = row.Get<std::string>("provider_event_id");
  m.payload = row.Get<std::string>("payload");
  m.payload_json = row.GetOptional<std::string>("payload_json");
  m.headers_json = row.Get<std::string>("headers");
  m.status = ParseInboxStatus(row.Get<std::string>("status")).value_or(InboxStatus::kReceived);
  m.attempts = row.Get<int32_t>("attempts");
  m.last_error = row.GetOptional<std::string>("last_error").value_or("");
  m.received_at = absl::FromUnixMicros(row.Get<int64_t>("received_us"));
  return m;
}

// ---- InboxRelay -----------------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<InboxRelay>> InboxRelay::Create(pg::Pool& pool, InboxRelayOptions options,
                                                               InboxDeliverFn deliver) {
  if (absl::Status s =
          internal::ValidateQueueOptions("inbox relay", options.table, options.threads, options.batch_size);
      !s.ok()) {
    return s;
  }
  if (!deliver) return absl::InvalidArgumentError("inbox relay: deliver function is empty");
  return std::unique_ptr<InboxRelay>(new InboxRelay(pool, std::move(options), std::move(deliver)));
}

InboxRelay::InboxRelay(pg::Pool& pool, InboxRelayOptions options, InboxDeliverFn deliver)
    : pool_(pool),
      options_(std::move(options)),
      table_(options_.table),
      deliver_(std::move(deliver)),
      metrics_(options_.metrics != nullptr ? *options_.metrics : kernel::DefaultMetrics()),
      claim_(queries::kInboxClaim, table_),
      mark_delivered_(queries::kInboxMarkDelivered, table_),
      fail_(queries::kInboxFail, table_),
      release_(queries::kInboxRelease, table_) {
  internal::InboxDeliveredMetric(metrics_);
  internal::EngineOps<InboxMessage> ops;
  ops.claim = [this](int limit) { return Claim(limit); };
  ops.process = [this](InboxMessage& e) { return Process(e); };
  ops.complete = [this](std::vector<InboxMessage>& e) { return MarkDelivered(e); };
  ops.release = [this](std::vector<InboxMessage>& e) { return Release(e); };
  engine_ = std::make_unique<internal::Engine<InboxMessage>>(
      internal::EngineOptions{.name = table_,
                              .listen_url = options_.listen_url,
                              .channel = absl::StrCat("inbox:", table_),
                              .threads = options_.threads,
                              .batch_size = options_.batch_size,
                              .rescan_interval = options_.rescan_interval,
                              .clock = options_.clock},
      std::move(ops));
}

InboxRelay::~InboxRelay() { Stop(); }

absl::Status InboxRelay::Start() { return engine_->Start(); }
void InboxRelay::Stop() { engine_->Stop(); }
void InboxRelay::Wake() { engine_->Wake(); }

absl::StatusOr<internal::ClaimBatch<InboxMessage>> InboxRelay::Claim(int limit) {
  absl::StatusOr<pg::Result> r = pool_.Execute(claim_, {limit, DurationMicros(options_.lease)});
  if (!r.ok()) return r.status();
  return internal::DecodeClaim<InboxMessage>(
      *r, limit,
      [](const pg::Row& row, absl::Time) {
        InboxMessage m;
        m.id = row.Get<int64_t>("id");
        m.provider = row.Get<std::string>("provider");
        m.provider_event_id = row.Get<std::string>("provider_event_id");
        m.payload = row.Get<std::string>("payload");
        m.payload_json = row.GetOptional<std::string>("payload_json");
        m.headers_json = row.Get<std::string>("headers");
        m.status = InboxStatus::kReceived;
        m.attempts = row.Get<int32_t>("attempts");
        m.received_at = absl::FromUnixMicros(row.Get<int64_t>("received_us"));
        m.due_at = absl::FromUnixMicros(row.Get<int64_t>("due_us"));
        m.lease_token = row.Get<int64_t>("lease_token");
        return m;
      },
      [](const InboxMessage& a, const InboxMessage& b) { return a.id < b.id; });
}

bool InboxRelay::Process(InboxMessage& event) {
  absl::Status status;
  try {
    status = deliver_(event);
  } catch (const std::exception& e) {
    status = absl::InternalError(absl::StrCat("deliver threw: ", e.what()));
  } catch (...) {
    status = absl::InternalError("deliver threw a non-standard exception");
  }
  auto& counter = internal::InboxDeliveredMetric(metrics_);
  if (status.ok() || status.code() == absl::StatusCode::kAlreadyExists) {
    counter.WithLabels({table_, "delivered"}).Inc();
    return true;
  }
  std::string error = status.ToString();
  if (error.size() > kMaxErrorLength) error.resize(kMaxErrorLength);
  const bool give_up =
      IsPermanentError(status) || (options_.max_attempts > 0 && event.attempts >= options_.max_attempts);
  const absl::Duration delay =
      give_up ? absl::ZeroDuration()
              : RetryAfterOf(status).value_or(options_.retry.Delay(event.attempts, UniformUnit()));
  counter.WithLabels({table_, give_up ? "ignored" : "retry"}).Inc();
  absl::StatusOr<pg::Result> r = pool_.Execute(
      fail_, {event.id, event.lease_token, give_up ? "ignored" : "received", DurationMicros(delay), error});
  if (!r.ok()) {
    kernel::LogWarn(
        "inbox: recording a failed delivery failed; it is retried after its lease",
        {{"queue", table_}, {"event_id", event.id}, {"error", std::string(r.status().message())}});
  } else if (!give_up && !r->empty()) {
    engine_->DueAt(absl::FromUnixMicros(r->front().Get<int64_t>("next_attempt_us")));
  }
  (give_up ? kernel::LogWarn : kernel::LogInfo)(
      give_up ? "inbox: event not delivered; giving up" : "inbox: delivery failed; retrying",
      {{"queue", table_},
       {"provider", event.provider},
       {"event_id", event.id},
       {"attempts", event.attempts},
       {"retry_in_ms", absl::ToInt64Milliseconds(delay)},
       {"error", error}});
  return false;
}

absl::Status InboxRelay::MarkDelivered(std::vector<InboxMessage>& events) {
  std::vector<int64_t> ids;
  ids.reserve(events.size());
  for (const InboxMessage& e : events) ids.push_back(e.id);
  return pool_.Execute(mark_delivered_, {ids}).status();
}

absl::Status InboxRelay::Release(std::vector<InboxMessage>& events) {
  std::vector<int64_t> ids, tokens;
  for (const InboxMessage& e : events) {
    ids.push_back(e.id);
    tokens.push_back(e.lease_token);
  }
  return pool_.Execute(release_, {ids, tokens}).status();
}

}  // namespace protectogram::jobs
