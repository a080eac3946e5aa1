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
    names_.push_back(t.name);
    targets_.push_back({std::move(t.name), grpc::health::v1::Health::NewStub(std::move(t.channel))});
  }
}

std::vector<ServiceHealth::Result> ServiceHealth::CheckEach() const {
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
  std::vector<Result> results;
  for (size_t i = 0; i < calls.size(); ++i) {
    const Call& c = *calls[i];
    Result& r = results.emplace_back();
    r.name = targets_[i].name;
    if (!c.status.ok()) {
      r.status = "UNAVAILABLE";
      r.error = c.status.error_message().empty() ? absl::StrCat("gRPC status code ", c.status.error_code())
                                                 : c.status.error_message();
    } else {
      r.status = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(c.response.status());
    }
  }
  return results;
}

absl::Status ServiceHealth::Check() const {
  std::vector<std::string> problems;
  for (const Result& r : CheckEach()) {
    if (!r.error.empty()) {
      problems.push_back(absl::StrCat(r.name, ": ", r.error));
    } else if (!r.serving()) {
      problems.push_back(absl::StrCat(r.name, ": not serving"));
    }
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrJoin(problems, "; "));
}

}  // namespace protectogram::edge
