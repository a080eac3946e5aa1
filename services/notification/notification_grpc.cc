#include "services/notification/notification_grpc.h"

#include "libs/kernel/rpc.h"

namespace protectogram::notification {

grpc::Status NotificationGrpc::Send(grpc::ServerContext* context, const v1::SendRequest*, v1::SendResponse*) {
  kernel::RpcScope scope(context, kernel::Auth::kNone, "");
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "sending messages is not available yet");
}

}  // namespace protectogram::notification
