// kernel::ServiceChannel on loopback: a service that was down for a while is reached again within about a
// second of coming back (the reconnect back-off is capped at 1 s; gRPC's default grows to two minutes).
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/kernel/rpc.h"
#include "tests/integration/kernel/toy_service.h"

namespace protectogram::kernel {
namespace {

// A plain gRPC server (no GrpcHost: it refuses SO_REUSEPORT, and nothing of it matters here) on `address`.
std::unique_ptr<grpc::Server> StartServer(const std::string& address, kerneltest::ToyService* service,
                                          int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), port);
  builder.RegisterService(service);
  return builder.BuildAndStart();
}

grpc::Status Echo(kerneltest::v1::ToyService::Stub& stub, absl::Duration timeout, bool wait_for_ready) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  context.set_wait_for_ready(wait_for_ready);
  kerneltest::v1::EchoRequest request;
  request.set_text("ping");
  kerneltest::v1::EchoResponse response;
  return stub.Echo(&context, request, &response);
}

TEST(ServiceChannelTest, ReachesARestartedServiceWithinAboutASecond) {
  kerneltest::ToyService toy;
  int port = 0;
  std::unique_ptr<grpc::Server> server = StartServer("127.0.0.1:0", &toy, &port);
  ASSERT_NE(server, nullptr);
  ASSERT_GT(port, 0);
  const std::string address = absl::StrCat("127.0.0.1:", port);
  std::shared_ptr<grpc::Channel> channel = ServiceChannel(address);
  std::unique_ptr<kerneltest::v1::ToyService::Stub> stub = kerneltest::v1::ToyService::NewStub(channel);
  ASSERT_TRUE(Echo(*stub, absl::Seconds(5), false).ok());

  // The service goes away, and its port refuses connections for a while, as while a service restarts.
  // Callers wait for it meanwhile (wait_for_ready calls of 200 ms, one after another), so the channel tries
  // to connect as often as its back-off lets it, and the back-off grows as far as it may. gRPC's default
  // (1 s, x1.6, +-20 %) tries about 1, 2.6, 5.2 and 9.3 s after the loss: 6.2 s down, the next try is well
  // over 1.5 s away (measured with grpc::CreateChannel: 2.7 to 3.6 s). Capped at 1 s (+-20 %), there is a
  // try at least every 1.2 s.
  server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Milliseconds(200)));
  server.reset();
  EXPECT_EQ(Echo(*stub, absl::Seconds(2), false).error_code(), grpc::StatusCode::UNAVAILABLE);
  const absl::Time back = absl::Now() + absl::Milliseconds(6200);
  while (absl::Now() < back) {
    EXPECT_EQ(Echo(*stub, absl::Milliseconds(200), true).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  }

  // Back on the same port: a call that waits for the channel to be ready gets through within 1.5 s (the
  // longest back-off, 1.2 s, plus a connection on loopback), bounded by its deadline rather than slept out.
  int again = 0;
  server = StartServer(address, &toy, &again);
  ASSERT_NE(server, nullptr) << "port " << port << " could not be bound again";
  ASSERT_EQ(again, port);
  const absl::Time restarted = absl::Now();
  const grpc::Status status = Echo(*stub, absl::Milliseconds(1500), true);
  const absl::Duration took = absl::Now() - restarted;
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message() << " after " << took;
  EXPECT_LT(took, absl::Milliseconds(1500));
  server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Milliseconds(200)));
}

}  // namespace
}  // namespace protectogram::kernel
