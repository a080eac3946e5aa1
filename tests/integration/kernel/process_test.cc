// kernel_toy_service as a real process: command line, config errors, ready/stopped lines, SIGTERM drain.
#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <sstream>
#include <thread>

#include "tests/integration/kernel/test_support.h"
#include "tests/integration/kernel/toy.grpc.pb.h"

namespace protectogram::kerneltest {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

const std::string kBinary = KERNEL_TOY_SERVICE_BINARY;

std::map<std::string, std::string> RunEnv(std::map<std::string, std::string> extra = {}) {
  std::map<std::string, std::string> env = {
      {"GRPC_PORT", "0"}, {"METRICS_PORT", "0"}, {"SHUTDOWN_GRACE_MS", "3000"}};
  for (auto& [k, v] : extra) env[k] = v;
  return env;
}

boost::json::object ParseLine(const std::string& line) {
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(line, ec);
  if (ec || !value.is_object()) return {};
  return value.as_object();
}

int64_t IntField(const boost::json::object& line, const char* key) {
  return line.contains(key) ? std::stoll(std::string(line.at(key).as_string())) : -1;
}

TEST(ProcessTest, UnknownArgumentExits2WithOneLine) {
  Child child(kBinary, {"--port=5"}, RunEnv());
  EXPECT_EQ(child.WaitExit(5s), 2);
  EXPECT_EQ(child.Stderr(),
            "kernel_toy_service: unknown argument \"--port=5\" (only --help, --version and --check-config "
            "are accepted; settings "
            "come from the environment)\n");
  EXPECT_EQ(child.Stdout(), "");
}

TEST(ProcessTest, HelpAndVersionExit0) {
  Child version(kBinary, {"--version"}, {});
  EXPECT_EQ(version.WaitExit(5s), 0);
  EXPECT_EQ(version.Stdout(), "kernel_toy_service 0.1.0\n");
  Child help(kBinary, {"--help"}, {});
  EXPECT_EQ(help.WaitExit(5s), 0);
  EXPECT_THAT(help.Stdout(), HasSubstr("Usage: kernel_toy_service [--help] [--version]"));
}

TEST(ProcessTest, ConfigErrorExits2WithOneLine) {
  Child missing(kBinary, {}, {{"APP_ENV", "prod"}});
  EXPECT_EQ(missing.WaitExit(5s), 2);
  EXPECT_EQ(missing.Stderr(), "config error: ADMIN_TOKEN is required; DATABASE_URL is required\n");
  EXPECT_EQ(missing.Stdout(), "");

  Child bad_port(kBinary, {}, {{"GRPC_PORT", "abc"}});
  EXPECT_EQ(bad_port.WaitExit(5s), 2);
  EXPECT_EQ(bad_port.Stderr(), "config error: GRPC_PORT must be a port number, got \"abc\"\n");
}

TEST(ProcessTest, SigtermDrainsInFlightCallAndExits0) {
  Child child(kBinary, {}, RunEnv({{"ADMIN_TOKEN", "process-admin-token-42"}}));
  std::string ready_line = child.WaitForLine("\"msg\":\"ready\"", 10s);
  ASSERT_FALSE(ready_line.empty()) << child.Stdout() << child.Stderr();
  boost::json::object ready = ParseLine(ready_line);
  const int64_t grpc_port = IntField(ready, "grpc_port");
  const int64_t metrics_port = IntField(ready, "metrics_port");
  ASSERT_GT(grpc_port, 0);
  ASSERT_GT(metrics_port, 0);
  EXPECT_GE(IntField(ready, "startup_ms"), 0);
  EXPECT_LT(IntField(ready, "startup_ms"), 10000);

  // The process's own /metrics passes promtool.
  HttpResult metrics = HttpGet(static_cast<int>(metrics_port), "/metrics");
  ASSERT_EQ(metrics.status, 200);
  int exit_code = 0;
  std::optional<std::string> lint = Promtool(metrics.body, &exit_code);
  if (lint.has_value()) {
    EXPECT_EQ(*lint, "") << metrics.body;
  }

  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(grpc_port), grpc::InsecureChannelCredentials());
  auto stub = v1::ToyService::NewStub(channel);
  grpc::Status slow_status;
  std::thread slow([&] {
    grpc::ClientContext context;
    v1::SleepRequest request;
    request.set_millis(800);
    v1::SleepResponse response;
    slow_status = stub->Sleep(&context, request, &response);
  });
  ASSERT_FALSE(child.WaitForLine("sleep started", 5s).empty());
  const auto sent = std::chrono::steady_clock::now();
  child.Signal(SIGTERM);
  std::optional<int> code = child.WaitExit(5s);
  const auto took = std::chrono::steady_clock::now() - sent;
  slow.join();
  ASSERT_EQ(code, 0) << child.Stdout() << child.Stderr();
  EXPECT_TRUE(slow_status.ok()) << slow_status.error_message();
  EXPECT_LT(took, 3s);

  std::string out = child.Stdout();
  EXPECT_THAT(out, HasSubstr("\"msg\":\"stopping\""));
  EXPECT_THAT(out, HasSubstr("\"reason\":\"SIGTERM\""));
  EXPECT_THAT(out, HasSubstr("\"msg\":\"sleep finished\""));
  EXPECT_THAT(out, HasSubstr("\"msg\":\"stopped\""));
  EXPECT_EQ(out.find("process-admin-token-42"), std::string::npos);
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    boost::json::object object = ParseLine(line);
    EXPECT_FALSE(object.empty()) << "not a JSON line: " << line;
    EXPECT_EQ(object["service"], "toy") << line;
  }
  EXPECT_EQ(child.Stderr(), "");
}

TEST(ProcessTest, SecondSignalExitsAtOnce) {
  Child child(kBinary, {}, RunEnv({{"SHUTDOWN_GRACE_MS", "10000"}}));
  std::string ready_line = child.WaitForLine("\"msg\":\"ready\"", 10s);
  ASSERT_FALSE(ready_line.empty());
  const int64_t grpc_port = IntField(ParseLine(ready_line), "grpc_port");
  auto stub = v1::ToyService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(grpc_port), grpc::InsecureChannelCredentials()));
  std::thread stuck([&] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    v1::SleepRequest request;
    request.set_millis(8000);
    request.set_ignore_cancel(true);
    v1::SleepResponse response;
    stub->Sleep(&context, request, &response);
  });
  ASSERT_FALSE(child.WaitForLine("sleep started", 5s).empty());
  child.Signal(SIGINT);
  ASSERT_FALSE(child.WaitForLine("\"msg\":\"stopping\"", 5s).empty());
  const auto sent = std::chrono::steady_clock::now();
  child.Signal(SIGINT);
  EXPECT_EQ(child.WaitExit(5s), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - sent, 2s);
  EXPECT_THAT(child.Stdout(), HasSubstr("second signal during shutdown"));
  stuck.join();
}

TEST(ProcessTest, DrainThatOverrunsTheGraceIsCutShort) {
  Child child(kBinary, {}, RunEnv({{"SHUTDOWN_GRACE_MS", "200"}}));
  std::string ready_line = child.WaitForLine("\"msg\":\"ready\"", 10s);
  ASSERT_FALSE(ready_line.empty());
  const int64_t grpc_port = IntField(ParseLine(ready_line), "grpc_port");
  auto stub = v1::ToyService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(grpc_port), grpc::InsecureChannelCredentials()));
  std::thread stuck([&] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    v1::SleepRequest request;
    request.set_millis(8000);
    request.set_ignore_cancel(true);  // a handler that never looks at cancellation
    v1::SleepResponse response;
    stub->Sleep(&context, request, &response);
  });
  ASSERT_FALSE(child.WaitForLine("sleep started", 5s).empty());
  const auto sent = std::chrono::steady_clock::now();
  child.Signal(SIGTERM);
  EXPECT_EQ(child.WaitExit(6s), 1);
  const auto took = std::chrono::steady_clock::now() - sent;
  EXPECT_GE(took, 2s);
  EXPECT_LT(took, 4s);
  EXPECT_THAT(child.Stdout(), HasSubstr("shutdown overran its grace"));
  stuck.join();
}

}  // namespace
}  // namespace protectogram::kerneltest
