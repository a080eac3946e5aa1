#include "edge/service_health.h"

#include <grpcpp/client_context.h>

#include <condition_variable>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace protectogram::edge {

ServiceHealth::ServiceHealth(std::vector<Target> targets, absl::Duration timeout) : timeout_(timeout) {
  for (Target& t : targets) {
    targets_.push_back({std::move(t.name), grpc::health::v1::Health::NewStub(std::move(t.channel))});
  }
}

absl::Status ServiceHealth::Check() const {
  struct Call {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status;
    bool done = false;
  };
  std::vector<std::unique_ptr<Call>> calls;
  std::mutex mu;
  std::condition_variable cv;
  const auto deadline = absl::ToChronoTime(absl::Now() + timeout_);
  for (const Stubbed& target : targets_) {
    auto call = std::make_unique<Call>();
    call->context.set_deadline(deadline);
    Call* c = call.get();
    target.stub->async()->Check(&c->context, &c->request, &c->response, [c, &mu, &cv](grpc::Status status) {
      std::lock_guard<std::mutex> lock(mu);
      c->status = std::move(status);
      c->done = true;
      cv.notify_all();
    });
    calls.push_back(std::move(call));
  }
  // Every call ends by its deadline (gRPC guarantees the callback), so this wait is bounded.
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] {
    for (const auto& c : calls) {
      if (!c->done) return false;
    }
    return true;
  });
  std::vector<std::string> problems;
  for (size_t i = 0; i < calls.size(); ++i) {
    const Call& c = *calls[i];
    if (!c.status.ok()) {
      problems.push_back(absl::StrCat(targets_[i].name, ": ", c.status.error_message()));
    } else if (c.response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
      problems.push_back(absl::StrCat(targets_[i].name, ": not serving"));
    }
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrJoin(problems, "; "));
}

}  // namespace protectogram::edge
