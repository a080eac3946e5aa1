// Whether the services the edge depends on answer: grpc.health.v1.Health/Check("") on each, all at once,
// each with a short deadline. Part of the edge's readiness probe, which the kernel's Readiness runs on its
// own thread about once a second and caches, so a storm of /health/ready probes never fans out to the
// services.
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
    std::string name;  // "incident", for the message
    std::shared_ptr<grpc::Channel> channel;
  };
  ServiceHealth(std::vector<Target> targets, absl::Duration timeout);

  // OK when every service answers SERVING within the timeout; UNAVAILABLE naming the others
  // ("incident: UNAVAILABLE: ...; telephony: NOT_SERVING") otherwise. Takes at most about `timeout`.
  absl::Status Check() const;

 private:
  struct Stubbed {
    std::string name;
    std::unique_ptr<grpc::health::v1::Health::Stub> stub;
  };
  std::vector<Stubbed> targets_;
  const absl::Duration timeout_;
};

}  // namespace protectogram::edge
