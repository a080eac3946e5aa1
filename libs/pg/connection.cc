#include "libs/pg/connection.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "libs/kernel/log.h"
#include "libs/pg/status.h"
#include "libs/pg/url.h"

namespace protectogram::pg {
namespace {

void ClearResult(PGresult* r) { PQclear(r); }

std::string TrimmedError(const char* message) { return internal::OneLine(message); }

}  // namespace

namespace internal {
std::string OneLine(const char* message) {
  // libpq messages span lines ("...failed: Connection refused\n\tIs the server running..."): one line for
  // logs.
  std::string out;
  bool space = false;
  for (const char* c = message != nullptr ? message : ""; *c != '\0'; ++c) {
    if (absl::ascii_isspace(static_cast<unsigned char>(*c))) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(*c);
  }
  return out.empty() ? "unknown libpq error" : out;
}
}  // namespace internal

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(std::string_view url,
                                                             const ConnectOptions& options) {
  absl::StatusOr<std::string> conninfo = NormalizeDatabaseUrl(url);
  if (!conninfo.ok()) return conninfo.status();
  const int64_t timeout_s =
      std::max<int64_t>(2, absl::ToInt64Seconds(absl::Ceil(options.connect_timeout, absl::Seconds(1))));
  const std::string timeout = std::to_string(timeout_s);
  // Defaults first: with expand_dbname the URL's own settings override them.
  const char* keywords[] = {"connect_timeout",
                            "application_name",
                            "keepalives_idle",
                            "keepalives_interval",
                            "keepalives_count",
                            "dbname",
                            nullptr};
  const char* values[] = {
      timeout.c_str(), options.application_name.c_str(), "30", "10", "3", conninfo->c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) return absl::ResourceExhaustedError("pg: out of memory opening a connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = TrimmedError(PQerrorMessage(conn));
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat("connect to ", RedactDatabaseUrl(*conninfo), ": ", message));
  }
  std::unique_ptr<Connection> connection(new Connection(conn));
  PQsetNoticeReceiver(conn, &Connection::ReceiveNotice, connection.get());
  return connection;
}

Connection::~Connection() { PQfinish(conn_); }

void Connection::ReceiveNotice(void* self, const PGresult* notice) {
  // A server ending the session (terminate, shutdown) sends a FATAL error; arriving while the connection is
  // idle, libpq hands it over as a notice. The EOF may come a moment later: mark the connection dead now.
  const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
  const std::string message = internal::OneLine(PQresultErrorMessage(notice));
  if (severity != nullptr &&
      (std::string_view(severity) == "FATAL" || std::string_view(severity) == "PANIC")) {
    static_cast<Connection*>(self)->abandoned_ = true;
    kernel::LogInfo("pg: server is closing the connection", {{"notice", message}});
    return;
  }
  // Everything else ("relation already exists, skipping") goes to the debug log, not stderr.
  kernel::LogDebug("pg: server notice", {{"notice", message}});
}

bool Connection::healthy() const { return !abandoned_ && PQstatus(conn_) == CONNECTION_OK; }

bool Connection::in_transaction() const { return PQtransactionStatus(conn_) != PQTRANS_IDLE; }

int Connection::socket() const { return PQsocket(conn_); }

bool Connection::CheckIdle() {
  if (!healthy() || in_transaction()) return false;
  // A server that ends the session sends an error message, then EOF: read until the socket is quiet, so that
  // the EOF (which marks the connection bad) is seen too.
  pollfd p{PQsocket(conn_), POLLIN, 0};
  for (int reads = 0; reads < 8 && poll(&p, 1, 0) > 0; ++reads) {
    if (!PQconsumeInput(conn_)) return false;
    while (PGnotify* n = PQnotifies(conn_)) PQfreemem(n);
  }
  return healthy();
}

std::string Connection::QuoteIdentifier(std::string_view identifier) {
  char* quoted = PQescapeIdentifier(conn_, identifier.data(), identifier.size());
  if (quoted == nullptr) return "";
  std::string out = quoted;
  PQfreemem(quoted);
  return out;
}

bool Connection::WaitSocket(bool for_write, absl::Time deadline) {
  pollfd p{PQsocket(conn_), static_cast<short>(for_write ? (POLLOUT | POLLIN) : POLLIN), 0};
  while (true) {
    int timeout_ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      timeout_ms = static_cast<int>(std::min<int64_t>(
          absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), 24 * 3600 * 1000));
    }
    const int r = poll(&p, 1, timeout_ms);
    if (r > 0) return true;
    if (r == 0) continue;             // re-check the deadline
    if (errno != EINTR) return true;  // let libpq report the socket error
  }
}

absl::Status Connection::ConnectionLost(const Query& query) {
  return absl::UnavailableError(
      absl::StrCat(query.name, ": connection to postgres lost: ", TrimmedError(PQerrorMessage(conn_))));
}

absl::StatusOr<Result> Connection::Execute(const Query& query, const Params& params, absl::Time deadline) {
  return Run(query, &params, deadline);
}

absl::Status Connection::ExecuteScript(const Query& script, absl::Time deadline) {
  return Run(script, nullptr, deadline).status();
}

absl::StatusOr<Result> Connection::Run(const Query& query, const Params* params, absl::Time deadline) {
  if (!healthy()) {
    return absl::UnavailableError(absl::StrCat(query.name, ": connection to postgres is broken"));
  }
  int sent;
  if (params == nullptr) {
    sent = PQsendQuery(conn_, query.sql);
  } else {
    std::vector<const char*> values(params->size());
    for (size_t i = 0; i < params->size(); ++i) {
      values[i] = params->value(i).has_value() ? params->value(i)->c_str() : nullptr;
    }
    sent = PQsendQueryParams(conn_, query.sql, static_cast<int>(values.size()), nullptr, values.data(),
                             nullptr, nullptr, /*resultFormat=text*/ 0);
  }
  if (!sent) {
    if (PQstatus(conn_) != CONNECTION_OK) return ConnectionLost(query);
    return absl::InternalError(absl::StrCat(query.name, ": ", TrimmedError(PQerrorMessage(conn_))));
  }
  while (true) {
    const int flushed = PQflush(conn_);
    if (flushed == 0) break;
    if (flushed < 0) return ConnectionLost(query);
    if (!WaitSocket(/*for_write=*/true, deadline)) {
      abandoned_ = true;
      return absl::DeadlineExceededError(absl::StrCat(query.name, ": could not send the statement in time"));
    }
    if (!PQconsumeInput(conn_)) return ConnectionLost(query);
  }
  std::shared_ptr<PGresult> last;
  std::shared_ptr<PGresult> error;
  while (true) {
    while (PQisBusy(conn_)) {
      if (!WaitSocket(/*for_write=*/false, deadline)) {
        // The server may still be working; we do not wait for it. Dropping the connection ends the
        // statement's transaction on the server.
        abandoned_ = true;
        return absl::DeadlineExceededError(absl::StrCat(
            query.name, ": no answer from postgres within the statement timeout; connection dropped"));
      }
      if (!PQconsumeInput(conn_)) return ConnectionLost(query);
    }
    PGresult* r = PQgetResult(conn_);
    if (r == nullptr) break;
    std::shared_ptr<PGresult> owned(r, &ClearResult);
    const ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR) {
      if (!error) error = owned;
    } else if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
      abandoned_ = true;  // COPY is not supported; the protocol state is unknown now
      return absl::UnimplementedError(absl::StrCat(query.name, ": COPY is not supported"));
    } else {
      last = owned;
    }
  }
  if (error) {
    const char* sqlstate = PQresultErrorField(error.get(), PG_DIAG_SQLSTATE);
    const char* primary = PQresultErrorField(error.get(), PG_DIAG_MESSAGE_PRIMARY);
    std::string message = primary != nullptr ? primary : TrimmedError(PQresultErrorMessage(error.get()));
    const char* severity = PQresultErrorField(error.get(), PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity != nullptr && std::string_view(severity) != "ERROR")
      abandoned_ = true;  // FATAL: session over
    if (sqlstate == nullptr) {
      // No SQLSTATE: libpq itself gave up (connection lost). A shutdown message (57P01) keeps its SQLSTATE.
      return absl::UnavailableError(absl::StrCat(query.name, ": connection to postgres lost: ", message));
    }
    return StatusFromSqlState(sqlstate, message, query.name);
  }
  return Result(std::move(last), query.name);
}

}  // namespace protectogram::pg
