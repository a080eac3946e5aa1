// protectogram-incident: conversations, incidents and the call cascade (gRPC :50051, metrics :9101).
#include "libs/kernel/host.h"
#include "services/common/durable_runtime.h"
#include "services/incident/incident_grpc.h"

int main(int argc, char** argv) {
  using namespace protectogram;
  auto host = kernel::ServiceHost::CreateOrExit(argc, argv, kernel::IncidentDefaults());
  auto runtime = services::DurableRuntime::CreateOrExit(*host, {.job_table = "incident.scheduled_actions",
                                                                .outbox_table = "incident.outbox_messages",
                                                                .inbox_table = "incident.inbox_events"});
  incident::IncidentGrpc api(*runtime);
  host->AddGrpcService(&api);
  return host->Run();
}
