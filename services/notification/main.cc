// protectogram-notification: every outbound chat message, through a durable outbox (gRPC :50052, metrics
// :9102).
#include "libs/kernel/host.h"
#include "services/common/durable_runtime.h"
#include "services/notification/notification_grpc.h"

int main(int argc, char** argv) {
  using namespace protectogram;
  auto host = kernel::ServiceHost::CreateOrExit(argc, argv, kernel::NotificationDefaults());
  auto runtime = services::DurableRuntime::CreateOrExit(
      *host,
      {.job_table = "notification.jobs", .outbox_table = "notification.outbox_messages", .inbox_table = ""});
  notification::NotificationGrpc api(*runtime);
  host->AddGrpcService(&api);
  return host->Run();
}
