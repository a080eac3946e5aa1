// protectogram-telephony: places calls through the configured providers and follows their events
// (gRPC :50053, metrics :9103).
#include "libs/kernel/host.h"
#include "services/common/durable_runtime.h"
#include "services/telephony/telephony_grpc.h"

int main(int argc, char** argv) {
  using namespace protectogram;
  auto host = kernel::ServiceHost::CreateOrExit(argc, argv, kernel::TelephonyDefaults());
  auto runtime = services::DurableRuntime::CreateOrExit(
      *host, {.job_table = "telephony.jobs", .outbox_table = "", .inbox_table = "telephony.inbox_events"});
  telephony::TelephonyGrpc api(*runtime);
  host->AddGrpcService(&api);
  return host->Run();
}
