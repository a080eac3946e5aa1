// The notification service's gRPC API (proto/protectogram/notification/v1/notification.proto).
// Send arrives with the notification-delivery issue; until then it answers UNIMPLEMENTED, so a sender's
// outbox keeps the command and retries rather than losing it.
#pragma once

#include "protectogram/notification/v1/notification.grpc.pb.h"
#include "services/common/durable_runtime.h"

namespace protectogram::notification {

class NotificationGrpc final : public v1::NotificationService::Service {
 public:
  explicit NotificationGrpc(services::DurableRuntime& runtime) : runtime_(runtime) {}

  grpc::Status Send(grpc::ServerContext* context, const v1::SendRequest* request,
                    v1::SendResponse* response) override;

 private:
  [[maybe_unused]] services::DurableRuntime& runtime_;
};

}  // namespace protectogram::notification
