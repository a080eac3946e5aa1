#include "services/incident/incident_grpc.h"

#include "libs/kernel/log.h"
#include "libs/kernel/rpc.h"

namespace protectogram::incident {

grpc::Status IncidentGrpc::HandleChatEvent(grpc::ServerContext* context,
                                           const v1::HandleChatEventRequest* request,
                                           v1::HandleChatEventResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kNone, "");
  const common::v1::ChatEvent& event = request->event();
  absl::StatusOr<bool> applied = runtime_.ReceiveOnce("edge", event.event_key(), event);
  if (!applied.ok()) return kernel::ToGrpcStatus(applied.status());
  response->set_duplicate(!*applied);
  kernel::LogInfo(*applied ? "chat event received" : "chat event repeated",
                  {{"event_key", event.event_key()},
                   {"provider_event_id", event.provider_event_id()},
                   {"bot_id", event.bot_id()}});
  return grpc::Status::OK;
}

grpc::Status IncidentGrpc::OnCallOutcome(grpc::ServerContext* context,
                                         const v1::OnCallOutcomeRequest* request,
                                         v1::OnCallOutcomeResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kNone, "");
  absl::StatusOr<bool> applied = runtime_.ReceiveOnce("telephony", request->event_key(), *request);
  if (!applied.ok()) return kernel::ToGrpcStatus(applied.status());
  response->set_duplicate(!*applied);
  kernel::LogInfo(*applied ? "call outcome received" : "call outcome repeated",
                  {{"event_key", request->event_key()}, {"attempt_key", request->attempt_key()}});
  return grpc::Status::OK;
}

grpc::Status IncidentGrpc::OnDeliveryOutcome(grpc::ServerContext* context,
                                             const v1::OnDeliveryOutcomeRequest* request,
                                             v1::OnDeliveryOutcomeResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kNone, "");
  absl::StatusOr<bool> applied = runtime_.ReceiveOnce("notification", request->event_key(), *request);
  if (!applied.ok()) return kernel::ToGrpcStatus(applied.status());
  response->set_duplicate(!*applied);
  kernel::LogInfo(*applied ? "delivery outcome received" : "delivery outcome repeated",
                  {{"event_key", request->event_key()},
                   {"report_key", request->report_key()},
                   {"delivered", request->delivered()},
                   {"reason", request->reason()}});
  return grpc::Status::OK;
}

}  // namespace protectogram::incident
