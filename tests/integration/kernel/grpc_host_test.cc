// GrpcHost on loopback with the toy services and a real gRPC client: Health following readiness, reflection,
// admin auth, correlation ids, call metrics, bounded graceful shutdown.
#include "libs/kernel/grpc_host.h"

#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "libs/kernel/log.h"
#include "libs/kernel/rpc.h"
#include "tests/integration/kernel/test_support.h"
#include "tests/integration/kernel/toy_service.h"

namespace protectogram::kernel {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using ::testing::Not;

constexpr char kToy[] = "protectogram.kerneltest.v1.ToyService";
constexpr char kToyAdmin[] = "protectogram.kerneltest.v1.ToyAdminService";
constexpr char kAdminToken[] = "test-admin-token-0123";

bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout = absl::Seconds(3)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return condition();
}

class GrpcHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    readiness_.SetProbe(
        [this] { return ready_.load() ? absl::OkStatus() : absl::UnavailableError("postgres unreachable"); },
        absl::Milliseconds(20));
    readiness_.Start();
    GrpcHostOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    options.readiness = &readiness_;
    options.metrics = &registry_;
    host_ = std::make_unique<GrpcHost>(options);
    host_->AddService(&toy_);
    host_->AddService(&admin_);
    ASSERT_TRUE(host_->Start().ok());
    ASSERT_GT(host_->port(), 0);
    channel_ = NewChannel();
    toy_stub_ = kerneltest::v1::ToyService::NewStub(channel_);
    admin_stub_ = kerneltest::v1::ToyAdminService::NewStub(channel_);
    health_stub_ = Health::NewStub(channel_);
  }
  void TearDown() override {
    host_->Shutdown(absl::Now() + absl::Seconds(1));
    readiness_.Stop();
  }

  std::shared_ptr<grpc::Channel> NewChannel() {
    return grpc::CreateChannel("127.0.0.1:" + std::to_string(host_->port()),
                               grpc::InsecureChannelCredentials());
  }

  grpc::Status Check(const std::string& service, HealthCheckResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    HealthCheckRequest request;
    request.set_service(service);
    return health_stub_->Check(&context, request, response);
  }

  HealthCheckResponse::ServingStatus StatusOf(const std::string& service) {
    HealthCheckResponse response;
    grpc::Status status = Check(service, &response);
    return status.ok() ? response.status() : HealthCheckResponse::UNKNOWN;
  }

  grpc::Status Whoami(const std::optional<std::string>& authorization) {
    grpc::ClientContext context;
    if (authorization.has_value()) context.AddMetadata("authorization", *authorization);
    kerneltest::v1::WhoamiResponse response;
    return admin_stub_->Whoami(&context, {}, &response);
  }

  std::atomic<bool> ready_{true};
  Readiness readiness_;
  MetricsRegistry registry_;
  kerneltest::ToyService toy_;
  kerneltest::ToyAdminService admin_{kAdminToken};
  std::unique_ptr<GrpcHost> host_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<kerneltest::v1::ToyService::Stub> toy_stub_;
  std::unique_ptr<kerneltest::v1::ToyAdminService::Stub> admin_stub_;
  std::unique_ptr<Health::Stub> health_stub_;
};

TEST_F(GrpcHostTest, HealthCheckFollowsReadiness) {
  EXPECT_THAT(host_->service_names(), IsSupersetOf({std::string(kToy), std::string(kToyAdmin)}));
  EXPECT_EQ(StatusOf(""), HealthCheckResponse::SERVING);
  EXPECT_EQ(StatusOf(kToy), HealthCheckResponse::SERVING);
  EXPECT_EQ(StatusOf(kToyAdmin), HealthCheckResponse::SERVING);

  ready_ = false;
  EXPECT_TRUE(WaitUntil([&] { return StatusOf("") == HealthCheckResponse::NOT_SERVING; }));
  EXPECT_EQ(StatusOf(kToy), HealthCheckResponse::NOT_SERVING);

  ready_ = true;
  EXPECT_TRUE(WaitUntil([&] { return StatusOf("") == HealthCheckResponse::SERVING; }));
  EXPECT_EQ(StatusOf(kToyAdmin), HealthCheckResponse::SERVING);

  HealthCheckResponse response;
  EXPECT_EQ(Check("no.such.Service", &response).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcHostTest, HealthWatchStreamsChanges) {
  grpc::ClientContext context;
  HealthCheckRequest request;
  request.set_service(kToy);
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader = health_stub_->Watch(&context, request);
  HealthCheckResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  ready_ = false;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  ready_ = true;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  context.TryCancel();
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(GrpcHostTest, HealthWatchEndsAtShutdown) {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader = health_stub_->Watch(&context, {});
  HealthCheckResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  const absl::Time start = absl::Now();
  std::thread shutdown([&] { host_->Shutdown(absl::Now() + absl::Seconds(5)); });
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(reader->Read(&response));
  reader->Finish();
  shutdown.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2)) << "a watcher must not hold up shutdown";
}

TEST_F(GrpcHostTest, ReflectionListsServicesAndHealthIsCallableThroughIt) {
  kerneltest::ReflectionClient client(channel_, REFLECTION_DESCRIPTOR_SET);
  absl::StatusOr<std::vector<std::string>> services = client.ListServices();
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_THAT(*services,
              IsSupersetOf({std::string(kToy), std::string(kToyAdmin), std::string("grpc.health.v1.Health"),
                            std::string("grpc.reflection.v1alpha.ServerReflection")}));

  // Only what reflection told us: no generated Health code on this path.
  ASSERT_TRUE(client.LoadSymbol("grpc.health.v1.Health").ok());
  absl::StatusOr<std::string> reply = client.CallUnary("grpc.health.v1.Health/Check");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "status: SERVING");
  ASSERT_TRUE(client.LoadSymbol(kToy).ok());
  reply = client.CallUnary(std::string(kToy) + "/Echo", [](google::protobuf::Message* request) {
    request->GetReflection()->SetString(request, request->GetDescriptor()->FindFieldByName("text"), "hi");
  });
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_THAT(*reply, HasSubstr("text: \"hi\""));
}

// buf curl is the grpcurl stand-in operators use (docs/operations.md); it is installed by
// scripts/install-deps.sh under tools/node_modules. Skipped when it (or node) is not there.
TEST_F(GrpcHostTest, BufCurlListsAndChecksHealth) {
  const char* source_dir = std::getenv("PROTECTOGRAM_SOURCE_DIR");
  const std::string buf =
      std::string(source_dir != nullptr ? source_dir : ".") + "/tools/node_modules/.bin/buf";
  if (access(buf.c_str(), X_OK) != 0 || std::system("command -v node >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "buf not installed at " << buf;
  }
  auto run = [](const std::string& command) {
    std::string output;
    FILE* pipe = popen((command + " 2>&1").c_str(), "r");
    char chunk[1024];
    while (size_t n = fread(chunk, 1, sizeof(chunk), pipe)) output.append(chunk, n);
    int status = pclose(pipe);
    return std::make_pair(status, output);
  };
  const std::string base = "http://127.0.0.1:" + std::to_string(host_->port());
  auto [list_status, methods] =
      run(buf + " curl --protocol grpc --http2-prior-knowledge --list-methods " + base);
  ASSERT_EQ(list_status, 0) << methods;
  EXPECT_THAT(methods, HasSubstr("grpc.health.v1.Health/Check"));
  EXPECT_THAT(methods, HasSubstr(std::string(kToy) + "/Echo"));
  auto [check_status, check] =
      run(buf + " curl --protocol grpc --http2-prior-knowledge " + base + "/grpc.health.v1.Health/Check");
  ASSERT_EQ(check_status, 0) << check;
  EXPECT_THAT(check, HasSubstr("\"status\": \"SERVING\""));
}

TEST_F(GrpcHostTest, AdminAuth) {
  EXPECT_TRUE(Whoami("Bearer " + std::string(kAdminToken)).ok());
  EXPECT_TRUE(Whoami("bearer " + std::string(kAdminToken)).ok());
  EXPECT_EQ(Whoami(std::nullopt).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Whoami("Bearer wrong-token").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Whoami("Bearer " + std::string(kAdminToken) + "x").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Whoami("Basic " + std::string(kAdminToken)).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Whoami(std::string(kAdminToken)).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Whoami("Bearer ").error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // The client helper adds the header.
  grpc::ClientContext context;
  PrepareClientContext(&context, kAdminToken);
  kerneltest::v1::WhoamiResponse response;
  EXPECT_TRUE(admin_stub_->Whoami(&context, {}, &response).ok());
  EXPECT_EQ(response.name(), "admin");
}

TEST_F(GrpcHostTest, EmptyAdminTokenLetsNobodyIn) {
  kerneltest::ToyAdminService unset("");
  GrpcHost host(GrpcHostOptions{.address = "127.0.0.1", .metrics = &registry_});
  host.AddService(&unset);
  ASSERT_TRUE(host.Start().ok());
  auto stub = kerneltest::v1::ToyAdminService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(host.port()), grpc::InsecureChannelCredentials()));
  for (const char* header : {"Bearer ", "Bearer x", ""}) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", header);
    kerneltest::v1::WhoamiResponse response;
    EXPECT_EQ(stub->Whoami(&context, {}, &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  host.Shutdown(absl::Now());
}

TEST_F(GrpcHostTest, CorrelationIdIsUsedAndEchoed) {
  std::string logs;
  CaptureLogsForTest(&logs);
  {
    grpc::ClientContext context;
    context.AddMetadata("x-correlation-id", "corr-from-client-1");
    kerneltest::v1::EchoRequest request;
    request.set_text("hello");
    kerneltest::v1::EchoResponse response;
    ASSERT_TRUE(toy_stub_->Echo(&context, request, &response).ok());
    EXPECT_EQ(response.correlation_id(), "corr-from-client-1");
    auto echoed = context.GetServerInitialMetadata().find("x-correlation-id");
    ASSERT_NE(echoed, context.GetServerInitialMetadata().end());
    EXPECT_EQ(std::string(echoed->second.data(), echoed->second.size()), "corr-from-client-1");
  }
  CaptureLogsForTest(nullptr);
  EXPECT_THAT(logs, HasSubstr("\"msg\":\"echo\",\"correlation_id\":\"corr-from-client-1\""));

  // None, or an unusable one: the server makes one, uses it and echoes it.
  for (const char* sent : {"", "bad id with spaces"}) {
    grpc::ClientContext context;
    if (*sent != '\0') context.AddMetadata("x-correlation-id", sent);
    kerneltest::v1::EchoResponse response;
    ASSERT_TRUE(toy_stub_->Echo(&context, {}, &response).ok());
    EXPECT_EQ(response.correlation_id().size(), 32u);
    auto echoed = context.GetServerInitialMetadata().find("x-correlation-id");
    ASSERT_NE(echoed, context.GetServerInitialMetadata().end());
    EXPECT_EQ(std::string(echoed->second.data(), echoed->second.size()), response.correlation_id());
  }

  // The client helper forwards the current id.
  CorrelationScope scope("outer-request-7");
  grpc::ClientContext context;
  PrepareClientContext(&context);
  kerneltest::v1::EchoResponse response;
  ASSERT_TRUE(toy_stub_->Echo(&context, {}, &response).ok());
  EXPECT_EQ(response.correlation_id(), "outer-request-7");
}

TEST_F(GrpcHostTest, CallsAreCountedAndTimed) {
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext context;
    kerneltest::v1::EchoResponse response;
    ASSERT_TRUE(toy_stub_->Echo(&context, {}, &response).ok());
  }
  EXPECT_EQ(Whoami(std::nullopt).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  {
    grpc::ClientContext context;
    kerneltest::v1::FailRequest request;
    request.set_code(static_cast<int>(absl::StatusCode::kFailedPrecondition));
    kerneltest::v1::FailResponse response;
    EXPECT_EQ(toy_stub_->Fail(&context, request, &response).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
  }
  std::string text = registry_.Expose();
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{service=\"protectogram.kerneltest.v1.ToyService\","
                              "method=\"Echo\",code=\"OK\"} 2\n"));
  EXPECT_THAT(text,
              HasSubstr("grpc_server_handled_total{service=\"protectogram.kerneltest.v1.ToyAdminService\","
                        "method=\"Whoami\",code=\"UNAUTHENTICATED\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{service=\"protectogram.kerneltest.v1.ToyService\","
                              "method=\"Fail\",code=\"FAILED_PRECONDITION\"} 1\n"));
  EXPECT_THAT(
      text, HasSubstr("grpc_server_handling_seconds_count{service=\"protectogram.kerneltest.v1.ToyService\","
                      "method=\"Echo\"} 2\n"));
  int exit_code = 0;
  std::optional<std::string> lint = kerneltest::Promtool(text, &exit_code);
  if (lint.has_value()) {
    EXPECT_EQ(exit_code, 0) << *lint;
    EXPECT_EQ(*lint, "");
  }
}

TEST_F(GrpcHostTest, SecondHostOnTheSamePortFails) {
  GrpcHost second(GrpcHostOptions{.address = "127.0.0.1", .port = host_->port(), .metrics = &registry_});
  absl::Status status = second.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_EQ(second.Start().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(GrpcHostTest, ShutdownDrainsInFlightCallsAndRefusesNewOnes) {
  grpc::Status slow_status;
  std::thread slow([&] {
    grpc::ClientContext context;
    kerneltest::v1::SleepRequest request;
    request.set_millis(600);
    kerneltest::v1::SleepResponse response;
    slow_status = toy_stub_->Sleep(&context, request, &response);
  });
  ASSERT_TRUE(WaitUntil([&] { return toy_.sleeps_started.load() == 1; }));

  const absl::Time start = absl::Now();
  std::thread shutdown([&] { host_->Shutdown(start + absl::Seconds(3)); });
  absl::SleepFor(absl::Milliseconds(150));
  {
    // A new connection is refused while the slow call is still running.
    auto stub = kerneltest::v1::ToyService::NewStub(NewChannel());
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    kerneltest::v1::EchoResponse response;
    grpc::Status status = stub->Echo(&context, {}, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  }
  EXPECT_EQ(toy_.sleeps_finished.load(), 0);
  slow.join();
  shutdown.join();
  const absl::Duration took = absl::Now() - start;
  EXPECT_TRUE(slow_status.ok()) << slow_status.error_message();
  EXPECT_EQ(toy_.sleeps_finished.load(), 1);
  EXPECT_LT(took, absl::Seconds(2));
  EXPECT_GE(took, absl::Milliseconds(300));
}

TEST_F(GrpcHostTest, ShutdownCancelsCallsThatOutliveTheGrace) {
  grpc::Status slow_status;
  std::thread slow([&] {
    grpc::ClientContext context;
    kerneltest::v1::SleepRequest request;
    request.set_millis(10000);
    kerneltest::v1::SleepResponse response;
    slow_status = toy_stub_->Sleep(&context, request, &response);
  });
  ASSERT_TRUE(WaitUntil([&] { return toy_.sleeps_started.load() == 1; }));
  const absl::Time start = absl::Now();
  host_->Shutdown(start + absl::Milliseconds(300));
  const absl::Duration took = absl::Now() - start;
  slow.join();
  EXPECT_FALSE(slow_status.ok());
  EXPECT_EQ(toy_.sleeps_finished.load(), 0);
  EXPECT_GE(took, absl::Milliseconds(250));
  EXPECT_LT(took, absl::Milliseconds(1500));
}

}  // namespace
}  // namespace protectogram::kernel
