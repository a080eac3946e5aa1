#include "libs/pg/status.h"

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace protectogram::pg {

absl::StatusCode StatusCodeForSqlState(std::string_view sqlstate, std::string_view message) {
  using absl::StatusCode;
  if (sqlstate.size() != 5) return StatusCode::kUnavailable;
  const std::string_view cls = sqlstate.substr(0, 2);
  if (sqlstate == "23505") return StatusCode::kAlreadyExists;
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03") return StatusCode::kAborted;
  if (cls == "08" || sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03" ||
      sqlstate == "53300") {
    return StatusCode::kUnavailable;
  }
  if (sqlstate == "57014") {
    // The server uses the same SQLSTATE for both; only the message tells a timeout from a cancel request.
    return message.find("statement timeout") != std::string_view::npos ? StatusCode::kDeadlineExceeded
                                                                       : StatusCode::kCancelled;
  }
  if (sqlstate == "23503" || sqlstate == "23514" || sqlstate == "23502" || sqlstate == "23P01") {
    return StatusCode::kFailedPrecondition;
  }
  if (cls == "22") return StatusCode::kInvalidArgument;
  if (sqlstate == "42501") return StatusCode::kPermissionDenied;
  if (cls == "53") return StatusCode::kResourceExhausted;
  return StatusCode::kInternal;
}

absl::Status StatusFromSqlState(std::string_view sqlstate, std::string_view message,
                                std::string_view query_name) {
  const absl::StatusCode code = StatusCodeForSqlState(sqlstate, message);
  std::string text = absl::StrCat(std::string(query_name), ": ", std::string(message));
  if (sqlstate.empty()) return absl::Status(code, text);
  absl::StrAppend(&text, " (SQLSTATE ", std::string(sqlstate), ")");
  absl::Status status(code, text);
  status.SetPayload(kSqlStatePayloadUrl, absl::Cord(std::string(sqlstate)));
  return status;
}

std::string SqlState(const absl::Status& status) {
  if (status.ok()) return "";
  auto payload = status.GetPayload(kSqlStatePayloadUrl);
  return payload.has_value() ? std::string(*payload) : "";
}

bool IsUniqueViolation(const absl::Status& status) { return SqlState(status) == "23505"; }
bool IsForeignKeyViolation(const absl::Status& status) { return SqlState(status) == "23503"; }
bool IsCheckViolation(const absl::Status& status) { return SqlState(status) == "23514"; }
bool IsSerializationFailure(const absl::Status& status) {
  const std::string state = SqlState(status);
  return state == "40001" || state == "40P01";
}
bool IsConnectionError(const absl::Status& status) { return status.code() == absl::StatusCode::kUnavailable; }
bool IsRowError(const absl::Status& status) {
  // By code, so that it holds for the library's client-side errors too (a value that does not convert).
  return status.code() == absl::StatusCode::kInvalidArgument ||
         status.code() == absl::StatusCode::kFailedPrecondition ||
         status.code() == absl::StatusCode::kOutOfRange;
}

}  // namespace protectogram::pg
