// Whether the services the edge forwards to answer: grpc.health.v1.Health/Check("") on each, all at once,
// each with a short deadline. It does not decide the edge's readiness (that is Postgres alone: a webhook
// accepted while a service is down waits in the inbox); the edge runs it with its readiness probe, which the
// kernel's Readiness runs on its own thread about once a second, and keeps the last answer for GET /health
// and the edge_service_up gauge, so a storm of requests never fans out to the services.
#pragma once

#include <grpcpp/channel.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace protectogram::edge {

class ServiceHealth {
 public:
  struct Target {
    std::string name;  // "incident": the key in GET /health and the service label of edge_service_up
    std::shared_ptr<grpc::Channel> channel;
  };
  // What one service answered.
  struct Result {
    std::string name;
    // "SERVING", "NOT_SERVING" (or the other names of HealthCheckResponse.ServingStatus) when it answered;
    // "UNAVAILABLE" when the call failed (nobody listens, the deadline passed, any other error).
    std::string status;
    std::string error;  // the call's error message, or "" when it answered
    bool serving() const { return status == "SERVING"; }
  };
  ServiceHealth(std::vector<Target> targets, absl::Duration timeout);

  // One result per target, in the targets' order. Takes at most about `timeout`.
  std::vector<Result> CheckEach() const;
  // OK when every service answers SERVING; UNAVAILABLE naming the others ("incident: failed to connect ...;
  // telephony: not serving") otherwise.
  absl::Status Check() const;

  const std::vector<std::string>& names() const { return names_; }

 private:
  struct Stubbed {
    std::string name;
    std::unique_ptr<grpc::health::v1::Health::Stub> stub;
  };
  std::vector<Stubbed> targets_;
  std::vector<std::string> names_;
  const absl::Duration timeout_;
};

}  // namespace protectogram::edge
