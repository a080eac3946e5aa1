#include "services/notification/notification_grpc.h"

#include "libs/kernel/rpc.h"

namespace protectogram::notification {

grpc::Status NotificationGrpc::Send(grpc::ServerContext* context, const v1::SendRequest* request,
                                    v1::SendResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kNone, "");
  absl::StatusOr<SendResult> result = service_.Send(*request);
  if (!result.ok()) return kernel::ToGrpcStatus(result.status());
  response->set_duplicate(result->duplicate);
  response->set_message_id(request->idempotency_key());
  return grpc::Status::OK;
}

grpc::Status NotificationGrpc::Edit(grpc::ServerContext* context, const v1::EditRequest* request,
                                    v1::EditResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kNone, "");
  absl::StatusOr<bool> duplicate = service_.Edit(*request);
  if (!duplicate.ok()) return kernel::ToGrpcStatus(duplicate.status());
  response->set_duplicate(*duplicate);
  return grpc::Status::OK;
}

grpc::Status NotificationGrpc::AnswerCallback(grpc::ServerContext* context,
                                              const v1::AnswerCallbackRequest* request,
                                              v1::AnswerCallbackResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kNone, "");
  absl::StatusOr<bool> duplicate = service_.AnswerCallback(*request);
  if (!duplicate.ok()) return kernel::ToGrpcStatus(duplicate.status());
  response->set_duplicate(*duplicate);
  return grpc::Status::OK;
}

grpc::Status NotificationGrpc::GetDelivery(grpc::ServerContext* context,
                                           const v1::GetDeliveryRequest* request,
                                           v1::GetDeliveryResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kNone, "");
  absl::StatusOr<v1::Delivery> delivery = service_.GetDelivery(request->idempotency_key());
  if (!delivery.ok()) return kernel::ToGrpcStatus(delivery.status());
  *response->mutable_delivery() = *std::move(delivery);
  return grpc::Status::OK;
}

grpc::Status NotificationAdminGrpc::ListDeliveries(grpc::ServerContext* context,
                                                   const v1::ListDeliveriesRequest* request,
                                                   v1::ListDeliveriesResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
  if (!scope.ok()) return scope.status();
  absl::StatusOr<std::vector<v1::Delivery>> list = service_.ListDeliveries(*request);
  if (!list.ok()) return kernel::ToGrpcStatus(list.status());
  for (v1::Delivery& d : *list) *response->add_deliveries() = std::move(d);
  return grpc::Status::OK;
}

grpc::Status NotificationAdminGrpc::ListDeadLetters(grpc::ServerContext* context,
                                                    const v1::ListDeadLettersRequest* request,
                                                    v1::ListDeadLettersResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
  if (!scope.ok()) return scope.status();
  absl::StatusOr<std::vector<v1::Delivery>> list = service_.ListDeadLetters(request->limit());
  if (!list.ok()) return kernel::ToGrpcStatus(list.status());
  for (v1::Delivery& d : *list) *response->add_deliveries() = std::move(d);
  return grpc::Status::OK;
}

grpc::Status NotificationAdminGrpc::Redrive(grpc::ServerContext* context, const v1::RedriveRequest* request,
                                            v1::RedriveResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
  if (!scope.ok()) return scope.status();
  absl::StatusOr<int64_t> count = service_.Redrive(*request);
  if (!count.ok()) return kernel::ToGrpcStatus(count.status());
  response->set_redriven(*count);
  return grpc::Status::OK;
}

grpc::Status NotificationAdminGrpc::ListBots(grpc::ServerContext* context, const v1::ListBotsRequest*,
                                             v1::ListBotsResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
  if (!scope.ok()) return scope.status();
  for (v1::Bot& bot : service_.ListBots()) *response->add_bots() = std::move(bot);
  return grpc::Status::OK;
}

grpc::Status NotificationAdminGrpc::SetWebhooks(grpc::ServerContext* context,
                                                const v1::SetWebhooksRequest* request,
                                                v1::SetWebhooksResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
  if (!scope.ok()) return scope.status();
  for (v1::SetWebhookResult& r : service_.SetWebhooks(request->drop_pending_updates())) {
    *response->add_results() = std::move(r);
  }
  return grpc::Status::OK;
}

}  // namespace protectogram::notification
