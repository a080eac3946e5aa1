#include "libs/pg/status.h"

#include <gtest/gtest.h>

namespace protectogram::pg {
namespace {

struct MappingCase {
  const char* sqlstate;
  const char* message;
  absl::StatusCode want;
};

class SqlStateMappingTest : public ::testing::TestWithParam<MappingCase> {};

TEST_P(SqlStateMappingTest, Maps) {
  const MappingCase& c = GetParam();
  EXPECT_EQ(StatusCodeForSqlState(c.sqlstate, c.message), c.want) << c.sqlstate;
  absl::Status s = StatusFromSqlState(c.sqlstate, c.message, "some_query");
  EXPECT_EQ(s.code(), c.want);
  EXPECT_EQ(SqlState(s), c.sqlstate);
}

INSTANTIATE_TEST_SUITE_P(
    Table, SqlStateMappingTest,
    ::testing::Values(
        MappingCase{"23505", "duplicate key value violates unique constraint",
                    absl::StatusCode::kAlreadyExists},
        MappingCase{"40001", "could not serialize access", absl::StatusCode::kAborted},
        MappingCase{"40P01", "deadlock detected", absl::StatusCode::kAborted},
        MappingCase{"55P03", "could not obtain lock", absl::StatusCode::kAborted},
        MappingCase{"08006", "connection failure", absl::StatusCode::kUnavailable},
        MappingCase{"08001", "unable to connect", absl::StatusCode::kUnavailable},
        MappingCase{"57P01", "terminating connection due to administrator command",
                    absl::StatusCode::kUnavailable},
        MappingCase{"57P02", "crash shutdown", absl::StatusCode::kUnavailable},
        MappingCase{"57P03", "the database system is starting up", absl::StatusCode::kUnavailable},
        MappingCase{"53300", "too many connections", absl::StatusCode::kUnavailable},
        MappingCase{"53100", "could not extend file", absl::StatusCode::kResourceExhausted},
        MappingCase{"57014", "canceling statement due to statement timeout",
                    absl::StatusCode::kDeadlineExceeded},
        MappingCase{"57014", "canceling statement due to user request", absl::StatusCode::kCancelled},
        MappingCase{"23503", "violates foreign key constraint", absl::StatusCode::kFailedPrecondition},
        MappingCase{"23514", "violates check constraint", absl::StatusCode::kFailedPrecondition},
        MappingCase{"23502", "null value in column", absl::StatusCode::kFailedPrecondition},
        MappingCase{"22P02", "invalid input syntax for type bigint", absl::StatusCode::kInvalidArgument},
        MappingCase{"22003", "value out of range", absl::StatusCode::kInvalidArgument},
        MappingCase{"42501", "permission denied for schema edge", absl::StatusCode::kPermissionDenied},
        MappingCase{"42601", "syntax error", absl::StatusCode::kInternal},
        MappingCase{"42P01", "relation does not exist", absl::StatusCode::kInternal},
        MappingCase{"XX000", "internal error", absl::StatusCode::kInternal}));

TEST(StatusFromSqlState, MessageNamesQueryAndSqlState) {
  absl::Status s = StatusFromSqlState("23505", "duplicate key", "insert_user");
  EXPECT_EQ(s.message(), "insert_user: duplicate key (SQLSTATE 23505)");
}

TEST(StatusFromSqlState, NoSqlStateIsUnavailableWithoutPayload) {
  absl::Status s = StatusFromSqlState("", "server closed the connection unexpectedly", "q");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(SqlState(s), "");
}

TEST(Predicates, ReadThePayload) {
  EXPECT_TRUE(IsUniqueViolation(StatusFromSqlState("23505", "m", "q")));
  EXPECT_FALSE(IsUniqueViolation(StatusFromSqlState("23503", "m", "q")));
  EXPECT_TRUE(IsForeignKeyViolation(StatusFromSqlState("23503", "m", "q")));
  EXPECT_TRUE(IsCheckViolation(StatusFromSqlState("23514", "m", "q")));
  EXPECT_TRUE(IsSerializationFailure(StatusFromSqlState("40001", "m", "q")));
  EXPECT_TRUE(IsSerializationFailure(StatusFromSqlState("40P01", "m", "q")));
  EXPECT_FALSE(IsSerializationFailure(StatusFromSqlState("23505", "m", "q")));
  EXPECT_TRUE(IsConnectionError(StatusFromSqlState("57P01", "m", "q")));
  // A status from elsewhere with the same code carries no SQLSTATE.
  EXPECT_FALSE(IsUniqueViolation(absl::AlreadyExistsError("23505")));
  EXPECT_EQ(SqlState(absl::OkStatus()), "");
}

TEST(Predicates, RowErrorsAreTheDataErrorsNotTheTransientOnes) {
  // The row itself is refused: a retry of the same statement fails the same way.
  for (const char* sqlstate : {"22P02", "22003", "22021", "23502", "23503", "23514", "23P01"}) {
    EXPECT_TRUE(IsRowError(StatusFromSqlState(sqlstate, "m", "q"))) << sqlstate;
  }
  // The database, not the row: a retry may pass. A unique violation is ALREADY_EXISTS (the row is there).
  for (const char* sqlstate :
       {"08006", "57P01", "53300", "53100", "40001", "40P01", "55P03", "23505", "42P01"}) {
    EXPECT_FALSE(IsRowError(StatusFromSqlState(sqlstate, "m", "q"))) << sqlstate;
  }
  EXPECT_FALSE(IsRowError(StatusFromSqlState("57014", "canceling statement due to statement timeout", "q")));
  EXPECT_FALSE(IsRowError(StatusFromSqlState("", "server closed the connection unexpectedly", "q")));
  EXPECT_FALSE(IsRowError(absl::DeadlineExceededError("no commit in time")));
  EXPECT_FALSE(IsRowError(absl::OkStatus()));
  // Client-side errors about a value count too.
  EXPECT_TRUE(IsRowError(absl::OutOfRangeError("value does not fit")));
  EXPECT_TRUE(IsRowError(absl::InvalidArgumentError("inbox event id is empty")));
}

}  // namespace
}  // namespace protectogram::pg
