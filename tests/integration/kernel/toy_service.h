// Implementations of the toy services, used in-process by the tests and by kernel_toy_service.
#pragma once

#include <atomic>
#include <string>

#include "tests/integration/kernel/toy.grpc.pb.h"

namespace protectogram::kerneltest {

class ToyService final : public v1::ToyService::Service {
 public:
  grpc::Status Echo(grpc::ServerContext* context, const v1::EchoRequest* request,
                    v1::EchoResponse* response) override;
  grpc::Status Sleep(grpc::ServerContext* context, const v1::SleepRequest* request,
                     v1::SleepResponse* response) override;
  grpc::Status Fail(grpc::ServerContext* context, const v1::FailRequest* request,
                    v1::FailResponse* response) override;

  std::atomic<int> sleeps_started{0};
  std::atomic<int> sleeps_finished{0};
};

class ToyAdminService final : public v1::ToyAdminService::Service {
 public:
  explicit ToyAdminService(std::string admin_token) : admin_token_(std::move(admin_token)) {}
  grpc::Status Whoami(grpc::ServerContext* context, const v1::WhoamiRequest* request,
                      v1::WhoamiResponse* response) override;

 private:
  const std::string admin_token_;
};

}  // namespace protectogram::kerneltest
