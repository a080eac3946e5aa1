#include "libs/kernel/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

namespace protectogram::kernel {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitLogging("testsvc", "debug");
    CaptureLogsForTest(&captured_);
    ClearSecretsForTest();
  }
  void TearDown() override {
    CaptureLogsForTest(nullptr);
    ClearSecretsForTest();
    InitLogging("testsvc", "info");
  }
  std::string captured_;
};

TEST(MaskTest, PhoneAndEmail) {
  EXPECT_EQ(MaskPhone("+79991234567"), "+7999****567");
  EXPECT_EQ(MaskPhone("+1555"), "****");
  EXPECT_EQ(MaskEmail("mikhail@mail.ru"), "m***@mail.ru");
  EXPECT_EQ(MaskEmail("not-an-email"), "***");
}

TEST_F(LogTest, LinesAreJsonWithTheContractFields) {
  {
    CorrelationScope scope("corr-1");
    LogInfo("hello \"world\"\n\ttab \x01", {{"incident_id", "42"}, {"count", 3}, {"ok", true}});
  }
  LogWarn("no correlation");
  std::vector<std::string> lines = Lines(captured_);
  ASSERT_EQ(lines.size(), 2u);
  for (const std::string& line : lines) {
    boost::system::error_code ec;
    boost::json::value value = boost::json::parse(line, ec);
    ASSERT_FALSE(ec) << line;
    const boost::json::object& object = value.as_object();
    for (const char* key : {"ts", "level", "service", "msg", "correlation_id"}) {
      ASSERT_TRUE(object.contains(key)) << key << " in " << line;
      EXPECT_TRUE(object.at(key).is_string());
    }
    EXPECT_EQ(object.at("service").as_string(), "testsvc");
    // 2026-11-24T07:19:08.123Z
    EXPECT_EQ(object.at("ts").as_string().size(), 24u) << line;
  }
  boost::json::object first = boost::json::parse(lines[0]).as_object();
  EXPECT_EQ(first.at("level").as_string(), "info");
  EXPECT_EQ(first.at("msg").as_string(), "hello \"world\"\n\ttab \x01");
  EXPECT_EQ(first.at("correlation_id").as_string(), "corr-1");
  EXPECT_EQ(first.at("incident_id").as_string(), "42");
  EXPECT_EQ(first.at("count").as_string(), "3");
  EXPECT_EQ(first.at("ok").as_string(), "true");
  boost::json::object second = boost::json::parse(lines[1]).as_object();
  EXPECT_EQ(second.at("level").as_string(), "warn");
  EXPECT_EQ(second.at("correlation_id").as_string(), "");
}

TEST_F(LogTest, FieldsCannotShadowFixedKeys) {
  LogInfo("m", {{"service", "grpc.health.v1.Health"}, {"msg", "x"}});
  boost::json::object line = boost::json::parse(Lines(captured_)[0]).as_object();
  EXPECT_EQ(line.at("service").as_string(), "testsvc");
  EXPECT_EQ(line.at("field_service").as_string(), "grpc.health.v1.Health");
  EXPECT_EQ(line.at("msg").as_string(), "m");
  EXPECT_EQ(line.at("field_msg").as_string(), "x");
}

TEST_F(LogTest, LevelFiltering) {
  InitLogging("testsvc", "warn");
  LogDebug("d");
  LogInfo("i");
  LogWarn("w");
  LogError("e");
  std::vector<std::string> lines = Lines(captured_);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("\"msg\":\"w\""));
  EXPECT_THAT(lines[1], HasSubstr("\"msg\":\"e\""));
  EXPECT_FALSE(InitLogging("testsvc", "chatty"));  // unknown: false, and info
  LogDebug("d2");
  LogInfo("i2");
  EXPECT_EQ(Lines(captured_).size(), 3u);
}

TEST_F(LogTest, RegisteredSecretNeverReachesALine) {
  RegisterSecret("tok-SECRET-123456");
  LogInfo("calling with tok-SECRET-123456 now", {{"header", "X-Token: tok-SECRET-123456"}, {"url", "a"}});
  EXPECT_THAT(captured_, Not(HasSubstr("tok-SECRET-123456")));
  boost::json::object line = boost::json::parse(Lines(captured_)[0]).as_object();
  EXPECT_EQ(line.at("msg").as_string(), "calling with [redacted] now");
  EXPECT_EQ(line.at("header").as_string(), "X-Token: [redacted]");
}

TEST_F(LogTest, SecretPatternsAreRedactedWithoutRegistration) {
  LogInfo("auth",
          {{"authorization", "Bearer eyJhbGciOi.payload.sig"},
           {"dsn", "postgresql://svc:hunter2hunter2@db:5432/p"},
           {"url", "https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage"}});
  EXPECT_THAT(captured_, Not(HasSubstr("eyJhbGciOi")));
  EXPECT_THAT(captured_, Not(HasSubstr("hunter2")));
  EXPECT_THAT(captured_, Not(HasSubstr("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw")));
}

TEST(RedactSecretsTest, Patterns) {
  ClearSecretsForTest();
  EXPECT_EQ(RedactSecrets("Authorization: Bearer abc.DEF-123_~+/="), "Authorization: Bearer [redacted]");
  EXPECT_EQ(RedactSecrets("authorization: bearer  xyz"), "authorization: bearer  [redacted]");
  EXPECT_EQ(RedactSecrets("postgresql://user:pw@host:5432/db"), "postgresql://user:[redacted]@host:5432/db");
  EXPECT_EQ(RedactSecrets("postgresql://user@host/db"), "postgresql://user@host/db");
  EXPECT_EQ(RedactSecrets("host=db password=s3cr3t dbname=x"), "host=db password=[redacted] dbname=x");
  EXPECT_EQ(RedactSecrets("bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe"), "bot[redacted]/getMe");
  // Ordinary text is left alone.
  EXPECT_EQ(RedactSecrets("incident 42 opened at 12:30:00 for +7999****567"),
            "incident 42 opened at 12:30:00 for +7999****567");
  EXPECT_EQ(RedactSecrets("the bearer of bad news"), "the bearer [redacted] bad news");
  EXPECT_EQ(RedactSecrets("https://example.org/a?b=c"), "https://example.org/a?b=c");
}

TEST(RedactSecretsTest, RegisteredSecrets) {
  ClearSecretsForTest();
  RegisterSecret("abc");  // too short to register: would garble every line
  EXPECT_EQ(RedactSecrets("abcabc"), "abcabc");
  RegisterSecret("sekret-1");
  RegisterSecret("sekret-1-longer");
  EXPECT_EQ(RedactSecrets("x sekret-1-longer y sekret-1 z"), "x [redacted] y [redacted] z");
  ClearSecretsForTest();
  EXPECT_EQ(RedactSecrets("sekret-1"), "sekret-1");
}

TEST_F(LogTest, ConcurrentLoggingKeepsLinesWhole) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      CorrelationScope scope("thread-" + std::to_string(t));
      for (int i = 0; i < 50; ++i) LogInfo("line", {{"i", i}});
    });
  }
  for (auto& thread : threads) thread.join();
  std::vector<std::string> lines = Lines(captured_);
  ASSERT_EQ(lines.size(), 200u);
  for (const std::string& line : lines) {
    boost::system::error_code ec;
    boost::json::parse(line, ec);
    EXPECT_FALSE(ec) << line;
  }
}

TEST(CorrelationTest, ScopesNestAndRestore) {
  EXPECT_EQ(CurrentCorrelationId(), "");
  {
    CorrelationScope outer("a");
    {
      CorrelationScope inner("b");
      EXPECT_EQ(CurrentCorrelationId(), "b");
    }
    EXPECT_EQ(CurrentCorrelationId(), "a");
  }
  EXPECT_EQ(CurrentCorrelationId(), "");
  std::string id = NewCorrelationId();
  EXPECT_EQ(id.size(), 32u);
  EXPECT_NE(id, NewCorrelationId());
}

}  // namespace
}  // namespace protectogram::kernel
