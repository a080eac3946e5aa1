// One libpq connection. Services use Pool (which owns these); Listener and the migrator use it directly.
// Not thread-safe: one user at a time.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/pg/params.h"
#include "libs/pg/query.h"
#include "libs/pg/result.h"

struct pg_conn;  // libpq's PGconn

namespace protectogram::pg {

namespace internal {
// A libpq error message on one line, whitespace runs collapsed ("unknown libpq error" if empty).
std::string OneLine(const char* message);
}  // namespace internal

struct ConnectOptions {
  // Used unless the connection string sets connect_timeout itself. libpq's minimum is 2 s.
  absl::Duration connect_timeout = absl::Seconds(5);
  std::string application_name = "protectogram";
};

class Connection {
 public:
  // Opens a connection. `url` is any form NormalizeDatabaseUrl accepts.
  // INVALID_ARGUMENT for a malformed URL; UNAVAILABLE if the server cannot be reached or refuses the login
  // (unknown database or role, authentication) within the connect timeout. Messages never contain a password.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(std::string_view url,
                                                          const ConnectOptions& options = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement with text parameters (unnamed statement, extended protocol).
  // Errors: the SQLSTATE mapping of status.h; UNAVAILABLE when the connection is lost; DEADLINE_EXCEEDED if
  // no answer arrives by `deadline` (the connection is then broken and must be dropped).
  absl::StatusOr<Result> Execute(const Query& query, const Params& params = {},
                                 absl::Time deadline = absl::InfiniteFuture());
  // Runs several ';'-separated statements without parameters (simple protocol), e.g. a migration file.
  // Same errors as Execute.
  absl::Status ExecuteScript(const Query& script, absl::Time deadline = absl::InfiniteFuture());

  // False once the connection is known to be lost or was abandoned after a timeout.
  bool healthy() const;
  // True inside a transaction block (also an aborted one).
  bool in_transaction() const;
  // For an idle connection: reads whatever the server sent meanwhile (a shutdown message, EOF) without
  // blocking, and returns whether the connection is still usable.
  bool CheckIdle();
  // Quotes an identifier (LISTEN channel names cannot be parameters).
  std::string QuoteIdentifier(std::string_view identifier);

  int socket() const;
  pg_conn* raw() { return conn_; }

 private:
  explicit Connection(pg_conn* conn) : conn_(conn) {}
  static void ReceiveNotice(void* self, const pg_result* notice);
  absl::StatusOr<Result> Run(const Query& query, const Params* params, absl::Time deadline);
  // Waits until the socket is readable (or writable); false on timeout.
  bool WaitSocket(bool for_write, absl::Time deadline);
  absl::Status ConnectionLost(const Query& query);

  pg_conn* conn_;
  bool abandoned_ = false;
};

}  // namespace protectogram::pg
