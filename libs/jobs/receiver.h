// The receiving half of the outbox: a command's idempotency key is stored under a unique constraint in the
// same transaction as the command's effect, so a command delivered twice (a relay that crashed before marking
// it sent, a retried RPC whose answer was lost) changes nothing the second time and is simply acknowledged.
//
//   // In a gRPC handler of the receiving service:
//   auto receiver = jobs::IdempotentReceiver::Create(pool, "notification.received_commands");
//   absl::StatusOr<bool> applied = (*receiver)->Apply(request.idempotency_key(), [&](pg::Transaction& txn) {
//     return store.QueueMessage(txn, request);            // the effect, in the same transaction
//   });
//   if (!applied.ok()) return kernel::ToGrpcStatus(applied.status());   // the sender retries
//   response->set_duplicate(!*applied);                                 // acknowledged either way
//
// The key table has the shape of jobs::ReceivedTableDdl (idempotency_key text PRIMARY KEY, received_at); a
// service adds one to its schema by migration. Where the effect's own table has a unique key (an outbox row's
// idempotency_key, a call attempt's attempt_key, an inbox event), that constraint does the same job.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/jobs/internal/sql.h"
#include "libs/pg/pool.h"

namespace protectogram::jobs {

// Records `key` in `table` inside the caller's transaction. Returns true the first time (apply the effect in
// this transaction), false if the key was recorded before (acknowledge and change nothing). A concurrent
// transaction recording the same key makes this call wait for it: false if it commits, true if it rolls back.
// INVALID_ARGUMENT for a malformed table name or an empty key; errors of pg otherwise.
absl::StatusOr<bool> RecordOnce(pg::Transaction& txn, std::string_view table, std::string_view key);

class IdempotentReceiver {
 public:
  using Effect = std::function<absl::Status(pg::Transaction& txn)>;

  // INVALID_ARGUMENT for a malformed table name. The pool must outlive the receiver.
  static absl::StatusOr<std::unique_ptr<IdempotentReceiver>> Create(pg::Pool& pool, std::string_view table);

  // In one new transaction: records `key`, runs `effect`, commits. Returns true if the effect ran and
  // committed, false if the key had been recorded before (the effect did not run). An error from `effect`
  // is returned and nothing is committed (the key stays unrecorded, so a resend applies it then). A lost
  // serialization race (ABORTED) is retried up to 3 times. UNAVAILABLE from the commit means the outcome is
  // unknown: the sender retries, and the retry reports false if the first one committed.
  absl::StatusOr<bool> Apply(std::string_view key, const Effect& effect);
  // RecordOnce on this receiver's table.
  absl::StatusOr<bool> RecordOnce(pg::Transaction& txn, std::string_view key);
  // Deletes keys recorded more than `older_than` ago (at most `limit`); returns how many. Keep keys longer
  // than any sender retries.
  absl::StatusOr<int64_t> Prune(absl::Duration older_than, int limit = 1000);

 private:
  IdempotentReceiver(pg::Pool& pool, std::string_view table);

  pg::Pool& pool_;
  const std::string table_;
  internal::BoundQuery record_, prune_;
};

}  // namespace protectogram::jobs
