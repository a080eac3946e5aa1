// The telephony service's gRPC API (proto/protectogram/telephony/v1/telephony.proto): an adapter only. Events
// from the edge are received once in telephony.inbox_events (DurableRuntime::ReceiveOnce) with their effect
// (TelephonyService::ApplyEvent) in the same transaction; everything else is TelephonyService's.
#pragma once

#include <functional>
#include <string>

#include "protectogram/telephony/v1/telephony.grpc.pb.h"
#include "services/common/durable_runtime.h"
#include "services/telephony/telephony_service.h"

namespace protectogram::telephony {

// A call row as the API shows it; `mask_phone` for admin listings.
v1::Call ToProto(const CallRow& call, bool mask_phone);

// Records an event in the service's inbox under (source, key) and runs the effect in that transaction, once:
// DurableRuntime::ReceiveOnce in the binary.
using EventReceiver = std::function<absl::StatusOr<bool>(std::string_view source, std::string_view key,
                                                         const common::v1::CallEvent& event,
                                                         const jobs::Inbox::Effect& effect)>;
EventReceiver RuntimeReceiver(services::DurableRuntime& runtime);

// Receives one provider event exactly once (source "edge" for webhooks, keyed by event_key; "ari" for ARI's
// own stream, keyed by provider_event_id): the inbox row and the event's effect commit together. True the
// first time.
absl::StatusOr<bool> ReceiveCallEvent(const EventReceiver& receive, TelephonyService& service,
                                      std::string_view source, const common::v1::CallEvent& event);

class TelephonyGrpc final : public v1::TelephonyService::Service {
 public:
  TelephonyGrpc(EventReceiver receive, TelephonyService& service)
      : receive_(std::move(receive)), service_(service) {}

  grpc::Status HandleCallEvent(grpc::ServerContext* context, const v1::HandleCallEventRequest* request,
                               v1::HandleCallEventResponse* response) override;
  grpc::Status PlaceCall(grpc::ServerContext* context, const v1::PlaceCallRequest* request,
                         v1::PlaceCallResponse* response) override;
  grpc::Status Hangup(grpc::ServerContext* context, const v1::HangupRequest* request,
                      v1::HangupResponse* response) override;
  grpc::Status HangupAll(grpc::ServerContext* context, const v1::HangupAllRequest* request,
                         v1::HangupAllResponse* response) override;
  grpc::Status GetCall(grpc::ServerContext* context, const v1::GetCallRequest* request,
                       v1::GetCallResponse* response) override;

 private:
  const EventReceiver receive_;
  TelephonyService& service_;
};

// Every call needs "authorization: Bearer <ADMIN_TOKEN>".
class TelephonyAdminGrpc final : public v1::TelephonyAdminService::Service {
 public:
  TelephonyAdminGrpc(TelephonyService& service, std::string admin_token)
      : service_(service), admin_token_(std::move(admin_token)) {}

  grpc::Status ListCalls(grpc::ServerContext* context, const v1::ListCallsRequest* request,
                         v1::ListCallsResponse* response) override;
  grpc::Status GetCallHistory(grpc::ServerContext* context, const v1::GetCallHistoryRequest* request,
                              v1::GetCallHistoryResponse* response) override;
  grpc::Status PlaceTestCall(grpc::ServerContext* context, const v1::PlaceTestCallRequest* request,
                             v1::PlaceTestCallResponse* response) override;

 private:
  TelephonyService& service_;
  const std::string admin_token_;
};

}  // namespace protectogram::telephony
