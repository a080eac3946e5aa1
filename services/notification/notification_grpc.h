// The notification service's gRPC API (proto/protectogram/notification/v1/notification.proto): a thin adapter
// that maps protos and Status codes onto NotificationService, which holds the logic.
#pragma once

#include <string>

#include "protectogram/notification/v1/notification.grpc.pb.h"
#include "services/notification/notification_service.h"

namespace protectogram::notification {

class NotificationGrpc final : public v1::NotificationService::Service {
 public:
  explicit NotificationGrpc(NotificationService& service) : service_(service) {}

  grpc::Status Send(grpc::ServerContext* context, const v1::SendRequest* request,
                    v1::SendResponse* response) override;
  grpc::Status Edit(grpc::ServerContext* context, const v1::EditRequest* request,
                    v1::EditResponse* response) override;
  grpc::Status AnswerCallback(grpc::ServerContext* context, const v1::AnswerCallbackRequest* request,
                              v1::AnswerCallbackResponse* response) override;
  grpc::Status GetDelivery(grpc::ServerContext* context, const v1::GetDeliveryRequest* request,
                           v1::GetDeliveryResponse* response) override;

 private:
  NotificationService& service_;
};

// Every call needs the admin token.
class NotificationAdminGrpc final : public v1::NotificationAdminService::Service {
 public:
  NotificationAdminGrpc(NotificationService& service, std::string admin_token)
      : service_(service), admin_token_(std::move(admin_token)) {}

  grpc::Status ListDeliveries(grpc::ServerContext* context, const v1::ListDeliveriesRequest* request,
                              v1::ListDeliveriesResponse* response) override;
  grpc::Status ListDeadLetters(grpc::ServerContext* context, const v1::ListDeadLettersRequest* request,
                               v1::ListDeadLettersResponse* response) override;
  grpc::Status Redrive(grpc::ServerContext* context, const v1::RedriveRequest* request,
                       v1::RedriveResponse* response) override;
  grpc::Status ListBots(grpc::ServerContext* context, const v1::ListBotsRequest* request,
                        v1::ListBotsResponse* response) override;
  grpc::Status SetWebhooks(grpc::ServerContext* context, const v1::SetWebhooksRequest* request,
                           v1::SetWebhooksResponse* response) override;

 private:
  NotificationService& service_;
  const std::string admin_token_;
};

}  // namespace protectogram::notification
