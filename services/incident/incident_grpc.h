// The incident service's gRPC API (proto/protectogram/incident/v1/incident.proto): a thin adapter over
// IncidentService. HandleChatEvent, OnCallOutcome and OnDeliveryOutcome record each delivered event exactly
// once in the service inbox and apply it in the same transaction (DurableRuntime::ReceiveOnce's effect); a
// repeat answers duplicate=true and changes nothing. IncidentAdminService needs the admin token.
#pragma once

#include <string>

#include "protectogram/incident/v1/incident.grpc.pb.h"
#include "services/common/durable_runtime.h"
#include "services/incident/incident_service.h"

namespace protectogram::incident {

class IncidentGrpc final : public v1::IncidentService::Service {
 public:
  IncidentGrpc(services::DurableRuntime& runtime, IncidentService& service)
      : runtime_(runtime), service_(service) {}

  // INVALID_ARGUMENT without event.event_key; UNAVAILABLE when Postgres is down (the edge's relay retries).
  grpc::Status HandleChatEvent(grpc::ServerContext* context, const v1::HandleChatEventRequest* request,
                               v1::HandleChatEventResponse* response) override;
  // INVALID_ARGUMENT without event_key.
  grpc::Status OnCallOutcome(grpc::ServerContext* context, const v1::OnCallOutcomeRequest* request,
                             v1::OnCallOutcomeResponse* response) override;
  // The final outcome of a message sent with report_to "incident" (an alert); INVALID_ARGUMENT without
  // event_key.
  grpc::Status OnDeliveryOutcome(grpc::ServerContext* context, const v1::OnDeliveryOutcomeRequest* request,
                                 v1::OnDeliveryOutcomeResponse* response) override;

 private:
  services::DurableRuntime& runtime_;
  IncidentService& service_;
};

class IncidentAdminGrpc final : public v1::IncidentAdminService::Service {
 public:
  IncidentAdminGrpc(IncidentService& service, std::string admin_token)
      : service_(service), admin_token_(std::move(admin_token)) {}

  grpc::Status ListIncidents(grpc::ServerContext* context, const v1::ListIncidentsRequest* request,
                             v1::ListIncidentsResponse* response) override;
  grpc::Status GetIncident(grpc::ServerContext* context, const v1::GetIncidentRequest* request,
                           v1::GetIncidentResponse* response) override;
  grpc::Status CancelIncident(grpc::ServerContext* context, const v1::CancelIncidentRequest* request,
                              v1::CancelIncidentResponse* response) override;
  grpc::Status TriggerTestPanic(grpc::ServerContext* context, const v1::TriggerTestPanicRequest* request,
                                v1::TriggerTestPanicResponse* response) override;
  grpc::Status ListUsers(grpc::ServerContext* context, const v1::ListUsersRequest* request,
                         v1::ListUsersResponse* response) override;
  grpc::Status ListLinks(grpc::ServerContext* context, const v1::ListLinksRequest* request,
                         v1::ListLinksResponse* response) override;
  grpc::Status SetLinkPolicy(grpc::ServerContext* context, const v1::SetLinkPolicyRequest* request,
                             v1::SetLinkPolicyResponse* response) override;

 private:
  IncidentService& service_;
  const std::string admin_token_;
};

}  // namespace protectogram::incident
