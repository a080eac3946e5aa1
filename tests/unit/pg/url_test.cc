#include "libs/pg/url.h"

#include <gtest/gtest.h>

namespace protectogram::pg {
namespace {

struct UrlCase {
  const char* in;
  const char* want;
};

class NormalizeTest : public ::testing::TestWithParam<UrlCase> {};

TEST_P(NormalizeTest, Normalizes) {
  absl::StatusOr<std::string> got = NormalizeDatabaseUrl(GetParam().in);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, GetParam().want);
}

INSTANTIATE_TEST_SUITE_P(
    Forms, NormalizeTest,
    ::testing::Values(
        UrlCase{"postgresql://u:p@db.example:5432/app", "postgresql://u:p@db.example:5432/app"},
        UrlCase{"postgres://u:p@db.example:5432/app", "postgresql://u:p@db.example:5432/app"},
        UrlCase{"postgresql+asyncpg://u:p@db.example:5432/app", "postgresql://u:p@db.example:5432/app"},
        UrlCase{"postgresql+psycopg://u@h/app?sslmode=require", "postgresql://u@h/app?sslmode=require"},
        UrlCase{"postgresql+psycopg2://u@h/app", "postgresql://u@h/app"},
        UrlCase{"POSTGRESQL+ASYNCPG://u@h/app", "postgresql://u@h/app"},
        UrlCase{"  postgres://u@h/app \n", "postgresql://u@h/app"},
        // asyncpg's ssl= becomes sslmode=; driver-only options are dropped.
        UrlCase{"postgresql+asyncpg://u@h/app?ssl=require", "postgresql://u@h/app?sslmode=require"},
        UrlCase{"postgresql+asyncpg://u@h/app?ssl=true&application_name=x",
                "postgresql://u@h/app?application_name=x&sslmode=require"},
        UrlCase{"postgresql+asyncpg://u@h/app?sslmode=verify-full&ssl=true",
                "postgresql://u@h/app?sslmode=verify-full"},
        UrlCase{"postgresql+asyncpg://u@h/app?prepared_statement_cache_size=0&connect_timeout=3",
                "postgresql://u@h/app?connect_timeout=3"},
        UrlCase{"postgres://u:p%40ss@h/app", "postgresql://u:p%40ss@h/app"},
        UrlCase{"postgresql://", "postgresql://"},
        // libpq keyword/value strings pass through.
        UrlCase{"host=127.0.0.1 port=5432 dbname=app user=u", "host=127.0.0.1 port=5432 dbname=app user=u"},
        UrlCase{"dbname='my app' connect_timeout=2", "dbname='my app' connect_timeout=2"}));

TEST(NormalizeDatabaseUrl, RejectsOtherSchemes) {
  absl::StatusOr<std::string> got = NormalizeDatabaseUrl("mysql://u:p@h/app");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(got.status().message().find("mysql"), absl::string_view::npos);
}

TEST(NormalizeDatabaseUrl, RejectsEmpty) {
  EXPECT_EQ(NormalizeDatabaseUrl("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NormalizeDatabaseUrl("   ").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(NormalizeDatabaseUrl, RejectsUnknownOptionWithoutLeakingPassword) {
  absl::StatusOr<std::string> got = NormalizeDatabaseUrl("postgresql://u:s3cret@h/app?bogus=1");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(got.status().message().find("s3cret"), absl::string_view::npos) << got.status();
  EXPECT_NE(got.status().message().find("bogus"), absl::string_view::npos) << got.status();
}

TEST(NormalizeDatabaseUrl, RejectsBadKeywordString) {
  EXPECT_EQ(NormalizeDatabaseUrl("host=h nonsense").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NormalizeDatabaseUrl("hostx=h").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RedactDatabaseUrl, HidesPasswords) {
  EXPECT_EQ(RedactDatabaseUrl("postgresql://u:s3cret@h:5432/app"), "postgresql://u:****@h:5432/app");
  EXPECT_EQ(RedactDatabaseUrl("postgresql://u@h/app"), "postgresql://u@h/app");
  EXPECT_EQ(RedactDatabaseUrl("postgresql://u@h/app?password=x&sslmode=require"),
            "postgresql://u@h/app?password=****&sslmode=require");
  const std::string kv = RedactDatabaseUrl("host=h password=s3cret dbname=app");
  EXPECT_EQ(kv.find("s3cret"), std::string::npos) << kv;
  EXPECT_NE(kv.find("password=****"), std::string::npos) << kv;
}

}  // namespace
}  // namespace protectogram::pg
