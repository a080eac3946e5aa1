// A fixed-size pool of Postgres connections, safe behind a transaction-mode pooler (PgBouncer, Supavisor):
// every statement is an unnamed PQexecParams statement and nothing relies on session state.
//
//   auto pool = pg::Pool::Create({.url = database_url, .size = db_pool_size});
//   auto rows = (*pool)->Execute(kFindUser, {telegram_id});           // one autocommit statement
//   auto txn = (*pool)->Begin();                                       // BEGIN ... ROLLBACK unless Commit()
//   if (!txn.ok()) return txn.status();
//   if (auto r = txn->Execute(kClaim, {now}); !r.ok()) return r.status();
//   return txn->Commit();
//
// Connections are opened lazily. An idle connection is checked before use and replaced if the server closed
// it (restart, failover, idle timeout). Failed connects back off exponentially with jitter (capped), and
// calls made during the back-off fail fast with UNAVAILABLE instead of waiting; the pool recovers by itself
// once Postgres is back. A statement that outlives `statement_timeout` (client-side, so it also works through
// a pooler) returns DEADLINE_EXCEEDED and its connection is dropped. Pool is thread-safe; a Transaction is
// used by one thread at a time. The Pool must outlive its Transactions.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/pg/connection.h"
#include "libs/pg/params.h"
#include "libs/pg/query.h"
#include "libs/pg/result.h"

namespace protectogram::pg {

struct PoolOptions {
  std::string url;                                    // DATABASE_URL in any form NormalizeDatabaseUrl accepts
  int size = 4;                                       // DB_POOL_SIZE: connections at most
  absl::Duration acquire_timeout = absl::Seconds(5);  // waiting for a free connection
  absl::Duration connect_timeout = absl::Seconds(5);  // unless the URL sets connect_timeout
  absl::Duration statement_timeout = absl::Seconds(30);  // client-side; absl::ZeroDuration() for none
  absl::Duration ping_timeout = absl::Seconds(2);        // Ping's whole budget after connecting
  absl::Duration reconnect_backoff_initial = absl::Milliseconds(100);
  absl::Duration reconnect_backoff_max = absl::Seconds(5);
  std::string application_name = "protectogram";
};

enum class IsolationLevel { kReadCommitted, kRepeatableRead, kSerializable };

class Pool;

// A transaction on one pooled connection. Rolls back in its destructor unless Commit() or Rollback() ran.
// After a failed statement the server has aborted the transaction: later statements fail and Commit()
// returns ABORTED. Move-only.
class Transaction {
 public:
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&& other) noexcept;
  ~Transaction();

  // Errors as Connection::Execute; FAILED_PRECONDITION once the transaction has ended.
  absl::StatusOr<Result> Execute(const Query& query, const Params& params = {});
  // Several statements without parameters (migrations).
  absl::Status ExecuteScript(const Query& script);
  // ABORTED if the server rolled back instead (an earlier statement failed, or a serialization failure at
  // commit); UNAVAILABLE if the connection was lost (the outcome is then unknown). The transaction ends
  // either way.
  absl::Status Commit();
  absl::Status Rollback();
  bool active() const { return conn_ != nullptr; }

 private:
  friend class Pool;
  Transaction(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
  void Finish();

  Pool* pool_ = nullptr;
  std::unique_ptr<Connection> conn_;
};

class Pool {
 public:
  // INVALID_ARGUMENT for a malformed URL or a size below 1. Does not connect.
  static absl::StatusOr<std::unique_ptr<Pool>> Create(PoolOptions options);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // One statement in its own implicit transaction (autocommit).
  // RESOURCE_EXHAUSTED if no connection frees up within acquire_timeout; UNAVAILABLE if Postgres cannot be
  // reached (or is in reconnect back-off); otherwise the errors of Connection::Execute.
  absl::StatusOr<Result> Execute(const Query& query, const Params& params = {});
  // BEGIN on a pooled connection. Errors as Execute.
  absl::StatusOr<Transaction> Begin(IsolationLevel level = IsolationLevel::kReadCommitted);
  // Readiness: OK if a `SELECT 1` answers within ping_timeout (plus connect_timeout if a connection had to be
  // opened), UNAVAILABLE otherwise. Never blocks longer than that.
  absl::Status Ping();

  int size() const { return options_.size; }
  const PoolOptions& options() const { return options_; }

 private:
  friend class Transaction;
  explicit Pool(PoolOptions options) : options_(std::move(options)) {}
  absl::StatusOr<std::unique_ptr<Connection>> Acquire(absl::Duration wait);
  void Release(std::unique_ptr<Connection> conn);
  absl::Time StatementDeadline() const;

  const PoolOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_ ABSL_GUARDED_BY(mu_);
  int leased_ ABSL_GUARDED_BY(mu_) = 0;            // connections handed out or being opened
  int connect_failures_ ABSL_GUARDED_BY(mu_) = 0;  // consecutive
  absl::Time next_connect_at_ = absl::InfinitePast();
  std::string last_connect_error_;
  absl::BitGen bitgen_;
};

// NOTIFY `channel` with `payload` (SELECT pg_notify($1, $2)). Through a transaction it is delivered at
// commit.
absl::Status Notify(Pool& pool, std::string_view channel, std::string_view payload);
absl::Status Notify(Transaction& txn, std::string_view channel, std::string_view payload);

}  // namespace protectogram::pg
