// SQL helpers for the durable-work library. Every statement lives in libs/jobs/queries.h as a template whose
// only placeholder is {table}: the table a service passes at construction ("incident.scheduled_actions"). The
// name is validated (lower-case identifiers, optionally schema-qualified) and substituted once, when the
// store is built; every value is a $n parameter.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/pg/query.h"

namespace protectogram::jobs::internal {

// OK for "name" or "schema.name" where each part matches [a-z_][a-z0-9_]{0,62}; INVALID_ARGUMENT otherwise.
absl::Status ValidateTableName(std::string_view table);

// A statement rendered for one table; owns its SQL text.
class BoundQuery {
 public:
  BoundQuery() = default;
  // `tmpl` must outlive the BoundQuery (queries.h constants do).
  BoundQuery(const pg::Query& tmpl, std::string_view table);
  pg::Query query() const { return pg::Query{name_, sql_.c_str()}; }
  operator pg::Query() const { return query(); }  // NOLINT(google-explicit-constructor)

 private:
  const char* name_ = "";
  std::string sql_;
};

// A Postgres array literal with NULL elements ({"a",NULL,"b"}), for `$n::text[]` / `$n::jsonb[]`.
std::string ArrayLiteral(const std::vector<std::optional<std::string>>& values);

// Microseconds since the Unix epoch: how times travel to and from SQL exactly
// ("timestamptz 'epoch' + $n * interval '1 microsecond'" / "(extract(epoch FROM t) * 1000000)::bigint").
inline int64_t DurationMicros(absl::Duration d) { return absl::ToInt64Microseconds(d); }

}  // namespace protectogram::jobs::internal
