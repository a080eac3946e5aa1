// kernel::ServiceChannel on loopback: a service that was down for a while is reached again within about a
// second of coming back (the reconnect back-off is capped at 1 s; gRPC's default grows to two minutes); a
// target naming two replicas spreads calls over both (round_robin) and goes on through the other when one
// stops.
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
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

// grpc.health.v1.Health that answers SERVING and counts the checks it answered.
class CountingHealth final : public grpc::health::v1::Health::Service {
 public:
  grpc::Status Check(grpc::ServerContext*, const grpc::health::v1::HealthCheckRequest*,
                     grpc::health::v1::HealthCheckResponse* response) override {
    ++checks;
    response->set_status(grpc::health::v1::HealthCheckResponse::SERVING);
    return grpc::Status::OK;
  }
  std::atomic<int> checks{0};
};

std::unique_ptr<grpc::Server> StartHealthServer(CountingHealth* health, int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  builder.RegisterService(health);
  return builder.BuildAndStart();
}

grpc::Status CheckHealth(grpc::health::v1::Health::Stub& stub, absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub.Check(&context, request, &response);
  if (status.ok() && response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "not serving");
  }
  return status;
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

// Two replicas behind one target, as a headless Service's DNS name or Fly's .internal name resolves (here an
// explicit ipv4: list): calls go to both, and once one stops they all go to the other, none failing.
TEST(ServiceChannelTest, SpreadsCallsOverEveryReplicaAndSkipsOneThatStopped) {
  CountingHealth a, b;
  int port_a = 0, port_b = 0;
  std::unique_ptr<grpc::Server> server_a = StartHealthServer(&a, &port_a);
  std::unique_ptr<grpc::Server> server_b = StartHealthServer(&b, &port_b);
  ASSERT_NE(server_a, nullptr);
  ASSERT_NE(server_b, nullptr);
  ASSERT_GT(port_a, 0);
  ASSERT_GT(port_b, 0);
  std::shared_ptr<grpc::Channel> channel =
      ServiceChannel(absl::StrCat("ipv4:127.0.0.1:", port_a, ",127.0.0.1:", port_b));
  std::unique_ptr<grpc::health::v1::Health::Stub> stub = grpc::health::v1::Health::NewStub(channel);

  // round_robin connects to every address; until both are connected the first calls may all go to one.
  ASSERT_TRUE(channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(5))));
  const absl::Time until = absl::Now() + absl::Seconds(5);
  int calls = 0;
  while ((a.checks.load() == 0 || b.checks.load() == 0) && absl::Now() < until) {
    ASSERT_TRUE(CheckHealth(*stub, absl::Seconds(2)).ok());
    ++calls;
  }
  ASSERT_GT(a.checks.load(), 0) << "after " << calls << " calls";
  ASSERT_GT(b.checks.load(), 0) << "after " << calls << " calls";
  // Both connected: the next calls alternate.
  const int a_before = a.checks.load(), b_before = b.checks.load();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(CheckHealth(*stub, absl::Seconds(2)).ok()) << i;
  EXPECT_EQ(a.checks.load() - a_before, 10);
  EXPECT_EQ(b.checks.load() - b_before, 10);

  // A stops (its GOAWAY and the closed connection take it out of the rotation; the client sees them a moment
  // later, as it would a replica's restart): every call goes through, on B.
  server_a->Shutdown(absl::ToChronoTime(absl::Now() + absl::Milliseconds(200)));
  server_a.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const int a_stopped = a.checks.load(), b_stopped = b.checks.load();
  for (int i = 0; i < 20; ++i) {
    const grpc::Status status = CheckHealth(*stub, absl::Seconds(2));
    EXPECT_TRUE(status.ok()) << i << ": " << status.error_code() << " " << status.error_message();
  }
  EXPECT_EQ(a.checks.load(), a_stopped);
  EXPECT_EQ(b.checks.load() - b_stopped, 20);
  server_b->Shutdown(absl::ToChronoTime(absl::Now() + absl::Milliseconds(200)));
}

}  // namespace
}  // namespace protectogram::kernel
