// The incident service's gRPC API (proto/protectogram/incident/v1/incident.proto).
// HandleChatEvent and OnCallOutcome record each delivered event exactly once (the service inbox) and
// acknowledge; a repeat answers duplicate=true and changes nothing. The conversation and the panic flow run
// inside that same transaction (DurableRuntime::ReceiveOnce's effect) as they arrive with their issues.
#pragma once

#include "protectogram/incident/v1/incident.grpc.pb.h"
#include "services/common/durable_runtime.h"

namespace protectogram::incident {

class IncidentGrpc final : public v1::IncidentService::Service {
 public:
  explicit IncidentGrpc(services::DurableRuntime& runtime) : runtime_(runtime) {}

  // INVALID_ARGUMENT without event.event_key; UNAVAILABLE when Postgres is down (the edge's relay retries).
  grpc::Status HandleChatEvent(grpc::ServerContext* context, const v1::HandleChatEventRequest* request,
                               v1::HandleChatEventResponse* response) override;
  // INVALID_ARGUMENT without event_key.
  grpc::Status OnCallOutcome(grpc::ServerContext* context, const v1::OnCallOutcomeRequest* request,
                             v1::OnCallOutcomeResponse* response) override;
  // The final outcome of a message sent with report_to "incident"; recorded once (INVALID_ARGUMENT without
  // event_key). The panic flow acts on it when it arrives.
  grpc::Status OnDeliveryOutcome(grpc::ServerContext* context, const v1::OnDeliveryOutcomeRequest* request,
                                 v1::OnDeliveryOutcomeResponse* response) override;

 private:
  services::DurableRuntime& runtime_;
};

}  // namespace protectogram::incident
