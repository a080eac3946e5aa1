#include "tests/integration/kernel/toy_service.h"

#include <chrono>
#include <thread>

#include "absl/status/status.h"
#include "libs/kernel/log.h"
#include "libs/kernel/rpc.h"

namespace protectogram::kerneltest {

grpc::Status ToyService::Echo(grpc::ServerContext* context, const v1::EchoRequest* request,
                              v1::EchoResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kNone, "");
  kernel::LogInfo("echo", {{"text", request->text()}});
  response->set_text(request->text());
  response->set_correlation_id(kernel::CurrentCorrelationId());
  return grpc::Status::OK;
}

grpc::Status ToyService::Sleep(grpc::ServerContext* context, const v1::SleepRequest* request,
                               v1::SleepResponse*) {
  kernel::RpcScope scope(context, kernel::Auth::kNone, "");
  ++sleeps_started;
  kernel::LogInfo("sleep started", {{"millis", request->millis()}});
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(request->millis());
  while (std::chrono::steady_clock::now() < until) {
    if (!request->ignore_cancel() && context->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled while sleeping");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ++sleeps_finished;
  kernel::LogInfo("sleep finished");
  return grpc::Status::OK;
}

grpc::Status ToyService::Fail(grpc::ServerContext* context, const v1::FailRequest* request,
                              v1::FailResponse*) {
  kernel::RpcScope scope(context, kernel::Auth::kNone, "");
  return kernel::ToGrpcStatus(
      absl::Status(static_cast<absl::StatusCode>(request->code()), request->message()));
}

grpc::Status ToyAdminService::Whoami(grpc::ServerContext* context, const v1::WhoamiRequest*,
                                     v1::WhoamiResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
  if (!scope.ok()) return scope.status();
  response->set_name("admin");
  return grpc::Status::OK;
}

}  // namespace protectogram::kerneltest
