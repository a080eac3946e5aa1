// kernel_toy_service: a ServiceHost-based process for the kernel's process-level tests (exit codes, config
// errors, ready/stopped lines, SIGTERM drain). Not shipped.
#include <cstdlib>

#include "libs/kernel/host.h"
#include "tests/integration/kernel/toy_service.h"

int main(int argc, char** argv) {
  using namespace protectogram;
  auto host = kernel::ServiceHost::CreateOrExit(argc, argv, {"toy", 50099, std::nullopt, 9199});
  kerneltest::ToyService toy;
  kerneltest::ToyAdminService admin(host->config().admin_token);
  host->SetReadinessProbe([] {
    return std::getenv("TOY_NOT_READY") != nullptr ? absl::UnavailableError("TOY_NOT_READY is set")
                                                   : absl::OkStatus();
  });
  host->AddGrpcService(&toy);
  host->AddGrpcService(&admin);
  return host->Run();
}
