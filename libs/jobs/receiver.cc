#include "libs/jobs/receiver.h"

#include "absl/strings/str_cat.h"
#include "libs/jobs/queries.h"

namespace protectogram::jobs {
namespace {

constexpr int kMaxAttempts = 3;

absl::StatusOr<bool> Record(pg::Transaction& txn, const pg::Query& query, std::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError("idempotency key is empty");
  absl::StatusOr<pg::Result> r = txn.Execute(query, {key});
  if (!r.ok()) return r.status();
  return !r->empty();
}

}  // namespace

absl::StatusOr<bool> RecordOnce(pg::Transaction& txn, std::string_view table, std::string_view key) {
  if (absl::Status s = internal::ValidateTableName(table); !s.ok()) return s;
  const internal::BoundQuery query(queries::kRecordOnce, table);
  return Record(txn, query, key);
}

absl::StatusOr<std::unique_ptr<IdempotentReceiver>> IdempotentReceiver::Create(pg::Pool& pool,
                                                                               std::string_view table) {
  if (absl::Status s = internal::ValidateTableName(table); !s.ok()) return s;
  return std::unique_ptr<IdempotentReceiver>(new IdempotentReceiver(pool, table));
}

IdempotentReceiver::IdempotentReceiver(pg::Pool& pool, std::string_view table)
    : pool_(pool),
      table_(table),
      record_(queries::kRecordOnce, table_),
      prune_(queries::kPruneReceived, table_) {}

absl::StatusOr<bool> IdempotentReceiver::RecordOnce(pg::Transaction& txn, std::string_view key) {
  return Record(txn, record_, key);
}

absl::StatusOr<bool> IdempotentReceiver::Apply(std::string_view key, const Effect& effect) {
  if (key.empty()) return absl::InvalidArgumentError("idempotency key is empty");
  absl::Status last;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    absl::StatusOr<pg::Transaction> txn = pool_.Begin();
    if (!txn.ok()) return txn.status();
    absl::StatusOr<bool> first = Record(*txn, record_, key);
    if (!first.ok()) {
      last = first.status();
      if (last.code() == absl::StatusCode::kAborted) continue;
      return last;
    }
    if (!*first) {
      (void)txn->Rollback();
      return false;
    }
    if (absl::Status s = effect(*txn); !s.ok()) {
      if (s.code() == absl::StatusCode::kAborted && txn->active()) {
        last = s;
        continue;  // the destructor rolls back
      }
      return s;
    }
    last = txn->Commit();
    if (last.ok()) return true;
    if (last.code() != absl::StatusCode::kAborted) return last;
  }
  return last;
}

absl::StatusOr<int64_t> IdempotentReceiver::Prune(absl::Duration older_than, int limit) {
  absl::StatusOr<pg::Result> r = pool_.Execute(prune_, {internal::DurationMicros(older_than), limit});
  if (!r.ok()) return r.status();
  return r->affected_rows();
}

}  // namespace protectogram::jobs
