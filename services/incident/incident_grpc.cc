#include "services/incident/incident_grpc.h"

#include "libs/kernel/log.h"
#include "libs/kernel/rpc.h"

namespace protectogram::incident {
namespace {

// Records the event once and applies `apply` in the same transaction; the metrics and wake-ups follow the
// commit. Answers whether it was a repeat.
template <typename Apply>
absl::StatusOr<bool> Receive(services::DurableRuntime& runtime, IncidentService& service,
                             std::string_view source, const std::string& key,
                             const google::protobuf::Message& event, Apply apply) {
  AfterCommit after;
  absl::StatusOr<bool> applied =
      runtime.ReceiveOnce(source, key, event, [&](pg::Transaction& txn) { return apply(txn, after); });
  if (applied.ok() && *applied) service.Finish(after);
  return applied;
}

}  // namespace

grpc::Status IncidentGrpc::HandleChatEvent(grpc::ServerContext* context,
                                           const v1::HandleChatEventRequest* request,
                                           v1::HandleChatEventResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kNone, "");
  const common::v1::ChatEvent& event = request->event();
  absl::StatusOr<bool> applied = Receive(
      runtime_, service_, "edge", event.event_key(), event,
      [&](pg::Transaction& txn, AfterCommit& after) { return service_.OnChatEvent(txn, event, after); });
  if (!applied.ok()) {
    kernel::LogWarn("chat event not applied; the edge retries it",
                    {{"event_key", event.event_key()}, {"error", std::string(applied.status().message())}});
    return kernel::ToGrpcStatus(applied.status());
  }
  response->set_duplicate(!*applied);
  kernel::LogInfo(*applied ? "chat event applied" : "chat event repeated",
                  {{"event_key", event.event_key()},
                   {"provider_event_id", event.provider_event_id()},
                   {"bot_id", event.bot_id()}});
  return grpc::Status::OK;
}

grpc::Status IncidentGrpc::OnCallOutcome(grpc::ServerContext* context,
                                         const v1::OnCallOutcomeRequest* request,
                                         v1::OnCallOutcomeResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kNone, "");
  absl::StatusOr<bool> applied = Receive(
      runtime_, service_, "telephony", request->event_key(), *request,
      [&](pg::Transaction& txn, AfterCommit& after) { return service_.OnCallOutcome(txn, *request, after); });
  if (!applied.ok()) return kernel::ToGrpcStatus(applied.status());
  response->set_duplicate(!*applied);
  kernel::LogInfo(*applied ? "call outcome applied" : "call outcome repeated",
                  {{"event_key", request->event_key()},
                   {"attempt_key", request->attempt_key()},
                   {"outcome", request->outcome()}});
  return grpc::Status::OK;
}

grpc::Status IncidentGrpc::OnDeliveryOutcome(grpc::ServerContext* context,
                                             const v1::OnDeliveryOutcomeRequest* request,
                                             v1::OnDeliveryOutcomeResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kNone, "");
  absl::StatusOr<bool> applied = Receive(runtime_, service_, "notification", request->event_key(), *request,
                                         [&](pg::Transaction& txn, AfterCommit& after) {
                                           return service_.OnDeliveryOutcome(txn, *request, after);
                                         });
  if (!applied.ok()) return kernel::ToGrpcStatus(applied.status());
  response->set_duplicate(!*applied);
  return grpc::Status::OK;
}

// ---- Admin ------------------------------------------------------------------------------------------------

grpc::Status IncidentAdminGrpc::ListIncidents(grpc::ServerContext* context,
                                              const v1::ListIncidentsRequest* request,
                                              v1::ListIncidentsResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
  if (!scope.ok()) return scope.status();
  absl::StatusOr<std::vector<v1::Incident>> list = service_.ListIncidents(*request);
  if (!list.ok()) return kernel::ToGrpcStatus(list.status());
  for (v1::Incident& i : *list) *response->add_incidents() = std::move(i);
  return grpc::Status::OK;
}

grpc::Status IncidentAdminGrpc::GetIncident(grpc::ServerContext* context,
                                            const v1::GetIncidentRequest* request,
                                            v1::GetIncidentResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
  if (!scope.ok()) return scope.status();
  absl::StatusOr<v1::Incident> incident = service_.GetIncident(request->incident_id());
  if (!incident.ok()) return kernel::ToGrpcStatus(incident.status());
  *response->mutable_incident() = *std::move(incident);
  return grpc::Status::OK;
}

grpc::Status IncidentAdminGrpc::CancelIncident(grpc::ServerContext* context,
                                               const v1::CancelIncidentRequest* request,
                                               v1::CancelIncidentResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
  if (!scope.ok()) return scope.status();
  absl::StatusOr<v1::Incident> incident = service_.CancelIncident(request->incident_id(), request->reason());
  if (!incident.ok()) return kernel::ToGrpcStatus(incident.status());
  *response->mutable_incident() = *std::move(incident);
  return grpc::Status::OK;
}

grpc::Status IncidentAdminGrpc::TriggerTestPanic(grpc::ServerContext* context,
                                                 const v1::TriggerTestPanicRequest* request,
                                                 v1::TriggerTestPanicResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
  if (!scope.ok()) return scope.status();
  absl::StatusOr<PanicResult> result = service_.TriggerTestPanic(*request);
  if (!result.ok()) return kernel::ToGrpcStatus(result.status());
  response->set_incident_id(result->incident_id);
  response->set_already_active(result->already_active);
  return grpc::Status::OK;
}

grpc::Status IncidentAdminGrpc::ListUsers(grpc::ServerContext* context, const v1::ListUsersRequest* request,
                                          v1::ListUsersResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
  if (!scope.ok()) return scope.status();
  absl::StatusOr<std::vector<v1::User>> users = service_.ListUsers(request->limit());
  if (!users.ok()) return kernel::ToGrpcStatus(users.status());
  for (v1::User& u : *users) *response->add_users() = std::move(u);
  return grpc::Status::OK;
}

grpc::Status IncidentAdminGrpc::ListLinks(grpc::ServerContext* context, const v1::ListLinksRequest* request,
                                          v1::ListLinksResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
  if (!scope.ok()) return scope.status();
  absl::StatusOr<std::vector<v1::Link>> links = service_.ListLinks(request->traveler_user_id());
  if (!links.ok()) return kernel::ToGrpcStatus(links.status());
  for (v1::Link& l : *links) *response->add_links() = std::move(l);
  return grpc::Status::OK;
}

grpc::Status IncidentAdminGrpc::SetLinkPolicy(grpc::ServerContext* context,
                                              const v1::SetLinkPolicyRequest* request,
                                              v1::SetLinkPolicyResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
  if (!scope.ok()) return scope.status();
  absl::StatusOr<v1::Link> link = service_.SetLinkPolicy(*request);
  if (!link.ok()) return kernel::ToGrpcStatus(link.status());
  *response->mutable_link() = *std::move(link);
  return grpc::Status::OK;
}

}  // namespace protectogram::incident
