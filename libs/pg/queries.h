// The statements this library issues itself.
#pragma once

#include "libs/pg/query.h"

namespace protectogram::pg::queries {

inline constexpr Query kPing{"pg_ping", "SELECT 1"};
inline constexpr Query kBeginReadCommitted{"pg_begin", "BEGIN ISOLATION LEVEL READ COMMITTED"};
inline constexpr Query kBeginRepeatableRead{"pg_begin", "BEGIN ISOLATION LEVEL REPEATABLE READ"};
inline constexpr Query kBeginSerializable{"pg_begin", "BEGIN ISOLATION LEVEL SERIALIZABLE"};
inline constexpr Query kCommit{"pg_commit", "COMMIT"};
inline constexpr Query kRollback{"pg_rollback", "ROLLBACK"};
inline constexpr Query kNotify{"pg_notify", "SELECT pg_notify($1, $2)"};

}  // namespace protectogram::pg::queries
