#include "services/telephony/telephony_grpc.h"

#include "libs/kernel/log.h"
#include "libs/kernel/rpc.h"

namespace protectogram::telephony {

grpc::Status TelephonyGrpc::HandleCallEvent(grpc::ServerContext* context,
                                            const v1::HandleCallEventRequest* request,
                                            v1::HandleCallEventResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kNone, "");
  const common::v1::CallEvent& event = request->event();
  absl::StatusOr<bool> applied = runtime_.ReceiveOnce("edge", event.event_key(), event);
  if (!applied.ok()) return kernel::ToGrpcStatus(applied.status());
  response->set_duplicate(!*applied);
  kernel::LogInfo(*applied ? "call event received" : "call event repeated",
                  {{"event_key", event.event_key()},
                   {"provider_event_id", event.provider_event_id()},
                   {"provider_event_type", event.provider_event_type()}});
  return grpc::Status::OK;
}

grpc::Status TelephonyGrpc::PlaceCall(grpc::ServerContext* context, const v1::PlaceCallRequest*,
                                      v1::PlaceCallResponse*) {
  kernel::RpcScope scope(context, kernel::Auth::kNone, "");
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "placing calls is not available yet");
}

}  // namespace protectogram::telephony
