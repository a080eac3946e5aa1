#include "libs/kernel/health.h"

#include <chrono>

#include "libs/kernel/rpc.h"

namespace protectogram::kernel {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

void HealthService::SetServiceNames(const std::vector<std::string>& names) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    services_ = std::set<std::string>(names.begin(), names.end());
    ++version_;
  }
  cv_.notify_all();
}

void HealthService::SetServing(bool serving) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_ || serving_ == serving) return;
    serving_ = serving;
    ++version_;
  }
  cv_.notify_all();
}

void HealthService::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    shut_down_ = true;
    serving_ = false;
    ++version_;
  }
  cv_.notify_all();
}

HealthService::ServingStatus HealthService::StatusOf(const std::string& service) const {
  std::lock_guard<std::mutex> lock(mu_);
  return StatusOfLocked(service);
}

HealthService::ServingStatus HealthService::StatusOfLocked(const std::string& service) const {
  if (!service.empty() && services_.count(service) == 0) return HealthCheckResponse::SERVICE_UNKNOWN;
  return serving_ ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
}

grpc::Status HealthService::Check(grpc::ServerContext* context, const HealthCheckRequest* request,
                                  HealthCheckResponse* response) {
  RpcScope scope(context, Auth::kNone, "");
  ServingStatus status = StatusOf(request->service());
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service");
  }
  response->set_status(status);
  return grpc::Status::OK;
}

grpc::Status HealthService::Watch(grpc::ServerContext* context, const HealthCheckRequest* request,
                                  grpc::ServerWriter<HealthCheckResponse>* writer) {
  RpcScope scope(context, Auth::kNone, "");
  std::unique_lock<std::mutex> lock(mu_);
  uint64_t seen_version = 0;
  bool sent_any = false;
  ServingStatus last = HealthCheckResponse::UNKNOWN;
  while (true) {
    ServingStatus status = StatusOfLocked(request->service());
    bool done = shut_down_;
    seen_version = version_;
    if (!sent_any || status != last) {
      lock.unlock();
      HealthCheckResponse response;
      response.set_status(status);
      if (!writer->Write(response)) return grpc::Status::OK;  // the client went away
      sent_any = true;
      last = status;
      lock.lock();
    }
    if (done) return grpc::Status::OK;
    // Wake on a change; check for a cancelled client now and then (cancellation does not notify us).
    cv_.wait_for(lock, std::chrono::milliseconds(200), [&] { return version_ != seen_version; });
    if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled");
  }
}

}  // namespace protectogram::kernel
