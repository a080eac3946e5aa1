// A named SQL statement, userver style. Declare each statement once, next to its store:
//   constexpr pg::Query kClaimDue{"claim_due_actions", "UPDATE ... WHERE ... RETURNING ..."};
// The name appears in every error status and log line about the statement; the SQL uses $1, $2, ...
// placeholders and is never built from strings at run time.
#pragma once

namespace protectogram::pg {

struct Query {
  const char* name;
  const char* sql;
};

}  // namespace protectogram::pg
