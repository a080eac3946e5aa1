// SQLSTATE -> absl::Status, in one place. Every error this library returns for a failed statement carries the
// server's SQLSTATE as a status payload, so callers can branch on it without parsing messages:
//   if (pg::IsUniqueViolation(status)) { ... already stored ... }
//
// Mapping (StatusCodeForSqlState):
//   23505 unique_violation                                  -> ALREADY_EXISTS
//   40001 serialization_failure, 40P01 deadlock_detected     -> ABORTED (retry the whole transaction)
//   55P03 lock_not_available (NOWAIT, lock_timeout)          -> ABORTED
//   class 08 (connection exception), 57P01 admin_shutdown,
//   57P02 crash_shutdown, 57P03 cannot_connect_now,
//   53300 too_many_connections                               -> UNAVAILABLE
//   57014 query_canceled: "canceling statement due to statement timeout" -> DEADLINE_EXCEEDED,
//                         any other cancel (pg_cancel_backend, user request) -> CANCELLED
//   23503 foreign_key, 23514 check, 23502 not_null, 23P01 exclusion -> FAILED_PRECONDITION
//   class 22 (data exception: bad input syntax, out of range) -> INVALID_ARGUMENT
//   42501 insufficient_privilege                             -> PERMISSION_DENIED
//   class 53 otherwise (disk full, out of memory)            -> RESOURCE_EXHAUSTED
//   anything else (syntax errors, undefined table, ...)      -> INTERNAL
// A connection that is lost or cannot be opened (no SQLSTATE from the server) is UNAVAILABLE; a statement
// that outlives the client-side statement timeout is DEADLINE_EXCEEDED (the connection is then dropped).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace protectogram::pg {

// The payload type URL under which the SQLSTATE is stored on a status.
inline constexpr char kSqlStatePayloadUrl[] = "type.protectogram.dev/pg.sqlstate";

// The status code for a server error with this SQLSTATE (five characters) and primary message.
absl::StatusCode StatusCodeForSqlState(std::string_view sqlstate, std::string_view message);

// A status with the mapped code, message "<query_name>: <message> (SQLSTATE <sqlstate>)" and the SQLSTATE
// payload. An empty SQLSTATE gives UNAVAILABLE (client-side connection failure) with no payload.
absl::Status StatusFromSqlState(std::string_view sqlstate, std::string_view message,
                                std::string_view query_name);

// The SQLSTATE stored on `status`, or "" if it has none (OK, client-side errors, other libraries' statuses).
std::string SqlState(const absl::Status& status);

bool IsUniqueViolation(const absl::Status& status);      // 23505
bool IsForeignKeyViolation(const absl::Status& status);  // 23503
bool IsCheckViolation(const absl::Status& status);       // 23514
// 40001 or 40P01: the transaction lost a race and may simply be retried.
bool IsSerializationFailure(const absl::Status& status);
// UNAVAILABLE: Postgres unreachable, connection lost, server shutting down. Worth retrying later.
bool IsConnectionError(const absl::Status& status);
// An error about the row rather than the database: the data itself is refused (class 22, data exception ->
// INVALID_ARGUMENT; a violated constraint of class 23 other than unique -> FAILED_PRECONDITION; a value that
// does not fit -> OUT_OF_RANGE). The same statement fails the same way on every retry, so it is not worth
// retrying as it is; every other error (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, ...) may pass on a retry.
bool IsRowError(const absl::Status& status);

}  // namespace protectogram::pg
