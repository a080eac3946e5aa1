// grpc.health.v1.Health, implemented here from Debian's health.proto so that server reflection can see it
// (gRPC 1.51's built-in health service is invisible to reflection). GrpcHost registers and drives it; it is
// public for tests.
//
// Check: the status of "" (the whole process) or of a registered service name; NOT_FOUND for an unknown name.
// Watch: sends the current status at once and then every change until the client cancels or Shutdown()
// (SERVICE_UNKNOWN for an unknown name, as health.proto asks, and the stream stays open).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"

namespace protectogram::kernel {

class HealthService final : public grpc::health::v1::Health::Service {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

  // The names reported besides "" (which is always known).
  void SetServiceNames(const std::vector<std::string>& names);
  // SERVING or NOT_SERVING for "" and every registered name. Ignored after Shutdown.
  void SetServing(bool serving);
  // NOT_SERVING for good; every Watch stream ends, so server shutdown is not held up by watchers.
  void Shutdown();

  // The status a Check of `service` would return (SERVICE_UNKNOWN for an unknown name).
  ServingStatus StatusOf(const std::string& service) const;

  grpc::Status Check(grpc::ServerContext* context, const grpc::health::v1::HealthCheckRequest* request,
                     grpc::health::v1::HealthCheckResponse* response) override;
  grpc::Status Watch(grpc::ServerContext* context, const grpc::health::v1::HealthCheckRequest* request,
                     grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>* writer) override;

 private:
  ServingStatus StatusOfLocked(const std::string& service) const;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> services_;
  bool serving_ = false;
  bool shut_down_ = false;
  uint64_t version_ = 0;  // bumped on every change, so Watch can wait for one
};

}  // namespace protectogram::kernel
