// Database URLs as operators write them, turned into what libpq accepts.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace protectogram::pg {

// Normalizes a database URL to a libpq connection string.
//   postgresql+asyncpg://u:p@h:5432/db?ssl=require -> postgresql://u:p@h:5432/db?sslmode=require
//   postgresql+psycopg://..., postgres://..., postgresql://...  -> postgresql://...
//   "host=h port=5432 dbname=db" (libpq keyword/value form)    -> returned unchanged
// Driver-only query parameters of the Python drivers are translated (asyncpg `ssl=` becomes `sslmode=`) or
// dropped (`prepared_statement_cache_size`, `statement_cache_size`); every remaining option must be one libpq
// knows. Surrounding whitespace is ignored.
// Returns INVALID_ARGUMENT for an empty string, another scheme (mysql://...), or a string libpq cannot parse;
// the message never contains the password.
absl::StatusOr<std::string> NormalizeDatabaseUrl(std::string_view url);

// Returns `url` with the password (if any) replaced by "****", for log lines and error messages.
// Works on both URI and keyword/value forms; returns "<unparseable database url>" if it cannot tell.
std::string RedactDatabaseUrl(std::string_view url);

}  // namespace protectogram::pg
