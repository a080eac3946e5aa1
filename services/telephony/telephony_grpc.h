// The telephony service's gRPC API (proto/protectogram/telephony/v1/telephony.proto).
// HandleCallEvent records each voice event from the edge exactly once (telephony.inbox_events) and
// acknowledges; a repeat answers duplicate=true. Call state tracking on those events, and PlaceCall, arrive
// with the telephony issue: until then PlaceCall answers UNIMPLEMENTED, so an outbox sending to it keeps the
// command and retries instead of losing it.
#pragma once

#include "protectogram/telephony/v1/telephony.grpc.pb.h"
#include "services/common/durable_runtime.h"

namespace protectogram::telephony {

class TelephonyGrpc final : public v1::TelephonyService::Service {
 public:
  explicit TelephonyGrpc(services::DurableRuntime& runtime) : runtime_(runtime) {}

  // INVALID_ARGUMENT without event.event_key; UNAVAILABLE when Postgres is down.
  grpc::Status HandleCallEvent(grpc::ServerContext* context, const v1::HandleCallEventRequest* request,
                               v1::HandleCallEventResponse* response) override;
  grpc::Status PlaceCall(grpc::ServerContext* context, const v1::PlaceCallRequest* request,
                         v1::PlaceCallResponse* response) override;

 private:
  services::DurableRuntime& runtime_;
};

}  // namespace protectogram::telephony
