#include "libs/jobs/internal/sql.h"

#include <gtest/gtest.h>

#include "libs/jobs/job_store.h"
#include "libs/jobs/queries.h"
#include "libs/jobs/schema.h"

namespace protectogram::jobs {
namespace {

TEST(TableNameTest, AcceptsPlainAndQualifiedLowerCaseIdentifiers) {
  EXPECT_TRUE(internal::ValidateTableName("incident.scheduled_actions").ok());
  EXPECT_TRUE(internal::ValidateTableName("jobs").ok());
  EXPECT_TRUE(internal::ValidateTableName("_x.y_1").ok());
  for (const char* bad :
       {"", ".", "a.", ".b", "a.b.c", "Incident.jobs", "a;drop table x", "a b", "1a", "a.\"b\"", "a-b"}) {
    EXPECT_EQ(internal::ValidateTableName(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(internal::ValidateTableName(std::string(64, 'a')).ok());
}

TEST(BoundQueryTest, SubstitutesTheTableEverywhereAndKeepsTheName) {
  internal::BoundQuery q(queries::kCancelPrefix, "incident.scheduled_actions");
  const pg::Query query = q;
  EXPECT_STREQ(query.name, "jobs_cancel_prefix");
  EXPECT_NE(std::string(query.sql).find("DELETE FROM incident.scheduled_actions WHERE"), std::string::npos);
  EXPECT_EQ(std::string(query.sql).find("{table}"), std::string::npos);
  internal::BoundQuery claim(queries::kClaimJobs, "t");
  EXPECT_EQ(std::string(claim.query().sql).find("{table}"), std::string::npos);
}

TEST(ArrayLiteralTest, QuotesEscapesAndNulls) {
  EXPECT_EQ(internal::ArrayLiteral({}), "{}");
  EXPECT_EQ(internal::ArrayLiteral({"a", std::nullopt, "b\"c\\d", ""}), R"({"a",NULL,"b\"c\\d",""})");
  EXPECT_EQ(internal::ArrayLiteral({"{\"k\": [1, 2]}"}), R"({"{\"k\": [1, 2]}"})");
}

TEST(LikePrefixTest, EscapesWildcards) {
  EXPECT_EQ(internal::LikePrefixPattern("incident:42:"), "incident:42:%");
  EXPECT_EQ(internal::LikePrefixPattern("a%b_c\\"), "a\\%b\\_c\\\\%");
}

TEST(SchemaTest, DdlNamesIndexesAfterTheTable) {
  absl::StatusOr<std::string> ddl = JobTableDdl("bench.jobs");
  ASSERT_TRUE(ddl.ok());
  EXPECT_NE(ddl->find("CREATE TABLE bench.jobs ("), std::string::npos);
  EXPECT_NE(ddl->find("CREATE INDEX jobs_due_idx ON bench.jobs (run_at) WHERE state = 'pending'"),
            std::string::npos);
  EXPECT_EQ(JobTableDdl("x; drop").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(OutboxTableDdl("a.outbox").ok());
  EXPECT_TRUE(InboxTableDdl("a.inbox").ok());
  EXPECT_TRUE(PaceTableDdl("a.outbox_pace").ok());
  EXPECT_NE(OutboxTableDdl("a.outbox")->find("pace_keys text[]"), std::string::npos);
}

TEST(ChannelTest, ChannelsFitInAnIdentifier) {
  EXPECT_EQ(JobsChannel("incident.scheduled_actions"), "jobs:incident.scheduled_actions");
  EXPECT_LE(JobsChannel("notification.outbox_messages").size(), 63u);
}

}  // namespace
}  // namespace protectogram::jobs
