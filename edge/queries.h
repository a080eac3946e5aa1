// The edge's own statements on its schema (the inbox's are in libs/jobs/queries.h).
#pragma once

#include "libs/pg/query.h"

namespace protectogram::edge::queries {

// Marks freshly stored rows as ignored (processed, never forwarded), in the transaction that stored them.
// Arrays: $1 row ids, $2 reasons (last_error).
inline constexpr pg::Query kMarkIgnored{"edge_inbox_mark_ignored", R"sql(
UPDATE edge.inbox_events AS e
   SET status = 'ignored', processed_at = now(), last_error = i.reason
  FROM unnest($1::bigint[], $2::text[]) AS i(id, reason)
 WHERE e.id = i.id AND e.status = 'received')sql"};

}  // namespace protectogram::edge::queries
