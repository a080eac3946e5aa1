#include "libs/pg/pool.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/kernel/log.h"
#include "libs/pg/queries.h"
#include "libs/pg/url.h"

namespace protectogram::pg {

// ---- Transaction ------------------------------------------------------------------------------------------

Transaction::Transaction(Transaction&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), conn_(std::move(other.conn_)) {}

Transaction& Transaction::operator=(Transaction&& other) noexcept {
  if (this != &other) {
    if (active()) (void)Rollback();
    pool_ = std::exchange(other.pool_, nullptr);
    conn_ = std::move(other.conn_);
  }
  return *this;
}

Transaction::~Transaction() {
  if (active()) {
    if (absl::Status s = Rollback(); !s.ok()) {
      kernel::LogWarn("pg: rollback of an abandoned transaction failed",
                      {{"error", std::string(s.message())}});
    }
  }
}

void Transaction::Finish() {
  if (conn_ != nullptr) pool_->Release(std::move(conn_));
}

absl::StatusOr<Result> Transaction::Execute(const Query& query, const Params& params) {
  if (!active())
    return absl::FailedPreconditionError(absl::StrCat(query.name, ": transaction already ended"));
  return conn_->Execute(query, params, pool_->StatementDeadline());
}

absl::Status Transaction::ExecuteScript(const Query& script) {
  if (!active())
    return absl::FailedPreconditionError(absl::StrCat(script.name, ": transaction already ended"));
  return conn_->ExecuteScript(script, pool_->StatementDeadline());
}

absl::Status Transaction::Commit() {
  if (!active()) return absl::FailedPreconditionError("pg_commit: transaction already ended");
  absl::StatusOr<Result> r = conn_->Execute(queries::kCommit, {}, pool_->StatementDeadline());
  Finish();
  if (!r.ok()) return r.status();
  // COMMIT of a transaction that already failed answers "ROLLBACK" instead of an error.
  if (r->command_status() == "ROLLBACK") {
    return absl::AbortedError("pg_commit: transaction was rolled back because an earlier statement failed");
  }
  return absl::OkStatus();
}

absl::Status Transaction::Rollback() {
  if (!active()) return absl::FailedPreconditionError("pg_rollback: transaction already ended");
  absl::StatusOr<Result> r = conn_->Execute(queries::kRollback, {}, pool_->StatementDeadline());
  Finish();  // the pool drops the connection if the rollback did not leave it idle
  return r.status();
}

// ---- Pool -------------------------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Pool>> Pool::Create(PoolOptions options) {
  if (options.size < 1) return absl::InvalidArgumentError("pg pool size must be at least 1");
  absl::StatusOr<std::string> url = NormalizeDatabaseUrl(options.url);
  if (!url.ok()) return url.status();
  options.url = *std::move(url);
  return std::unique_ptr<Pool>(new Pool(std::move(options)));
}

Pool::~Pool() {
  std::lock_guard<std::mutex> lock(mu_);
  idle_.clear();
}

absl::Time Pool::StatementDeadline() const {
  if (options_.statement_timeout <= absl::ZeroDuration()) return absl::InfiniteFuture();
  return absl::Now() + options_.statement_timeout;
}

absl::StatusOr<std::unique_ptr<Connection>> Pool::Acquire(absl::Duration wait) {
  std::unique_lock<std::mutex> lock(mu_);
  const auto deadline =
      std::chrono::steady_clock::now() + absl::ToChronoMilliseconds(std::min(wait, absl::Hours(24)));
  if (!cv_.wait_until(lock, deadline, [&] { return leased_ < options_.size; })) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "pg pool: no free connection within ", absl::FormatDuration(wait), " (size ", options_.size, ")"));
  }
  ++leased_;
  // Reuse an idle connection if the server has not closed it meanwhile.
  while (!idle_.empty()) {
    std::unique_ptr<Connection> conn = std::move(idle_.back());
    idle_.pop_back();
    lock.unlock();
    if (conn->CheckIdle()) return conn;
    kernel::LogInfo("pg: dropping a pooled connection the server closed");
    conn.reset();
    lock.lock();
  }
  const absl::Time now = absl::Now();
  if (now < next_connect_at_) {
    --leased_;
    cv_.notify_one();
    return absl::UnavailableError(
        absl::StrCat("postgres unreachable (next attempt in ",
                     absl::FormatDuration(absl::Trunc(next_connect_at_ - now, absl::Milliseconds(1))),
                     "): ", last_connect_error_));
  }
  lock.unlock();
  absl::StatusOr<std::unique_ptr<Connection>> conn =
      Connection::Open(options_.url, ConnectOptions{.connect_timeout = options_.connect_timeout,
                                                    .application_name = options_.application_name});
  lock.lock();
  if (!conn.ok()) {
    --leased_;
    cv_.notify_one();
    ++connect_failures_;
    // Exponential back-off with jitter in [0.5, 1] of the step, capped.
    const int exponent = std::min(connect_failures_ - 1, 20);
    const absl::Duration step =
        std::min(options_.reconnect_backoff_max, options_.reconnect_backoff_initial * (1 << exponent));
    next_connect_at_ = absl::Now() + step * absl::Uniform(bitgen_, 0.5, 1.0);
    last_connect_error_ = std::string(conn.status().message());
    if (connect_failures_ == 1) {
      kernel::LogWarn("pg: cannot connect to postgres; backing off", {{"error", last_connect_error_}});
    }
    return conn.status();
  }
  if (connect_failures_ > 0) {
    kernel::LogInfo("pg: connected to postgres again", {{"failed_attempts", connect_failures_}});
  }
  connect_failures_ = 0;
  next_connect_at_ = absl::InfinitePast();
  return conn;
}

void Pool::Release(std::unique_ptr<Connection> conn) {
  // Only a healthy connection outside any transaction goes back; anything else is closed.
  const bool reusable = conn != nullptr && conn->healthy() && !conn->in_transaction();
  std::unique_lock<std::mutex> lock(mu_);
  if (reusable) idle_.push_back(std::move(conn));
  --leased_;
  lock.unlock();
  cv_.notify_one();
  conn.reset();  // PQfinish outside the lock
}

absl::StatusOr<Result> Pool::Execute(const Query& query, const Params& params) {
  absl::StatusOr<std::unique_ptr<Connection>> conn = Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  absl::StatusOr<Result> result = (*conn)->Execute(query, params, StatementDeadline());
  Release(*std::move(conn));
  return result;
}

absl::StatusOr<Transaction> Pool::Begin(IsolationLevel level) {
  absl::StatusOr<std::unique_ptr<Connection>> conn = Acquire(options_.acquire_timeout);
  if (!conn.ok()) return conn.status();
  const Query& begin = level == IsolationLevel::kSerializable     ? queries::kBeginSerializable
                       : level == IsolationLevel::kRepeatableRead ? queries::kBeginRepeatableRead
                                                                  : queries::kBeginReadCommitted;
  absl::StatusOr<Result> r = (*conn)->Execute(begin, {}, StatementDeadline());
  if (!r.ok()) {
    Release(*std::move(conn));
    return r.status();
  }
  return Transaction(this, *std::move(conn));
}

absl::Status Pool::Ping() {
  absl::StatusOr<std::unique_ptr<Connection>> conn = Acquire(options_.ping_timeout);
  if (!conn.ok()) return absl::UnavailableError(std::string(conn.status().message()));
  absl::StatusOr<Result> r = (*conn)->Execute(queries::kPing, {}, absl::Now() + options_.ping_timeout);
  Release(*std::move(conn));
  if (!r.ok()) return absl::UnavailableError(std::string(r.status().message()));
  return absl::OkStatus();
}

absl::Status Notify(Pool& pool, std::string_view channel, std::string_view payload) {
  return pool.Execute(queries::kNotify, {channel, payload}).status();
}

absl::Status Notify(Transaction& txn, std::string_view channel, std::string_view payload) {
  return txn.Execute(queries::kNotify, {channel, payload}).status();
}

}  // namespace protectogram::pg
