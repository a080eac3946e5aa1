#include "services/telephony/telephony_grpc.h"

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "libs/crypto/random.h"
#include "libs/kernel/log.h"
#include "libs/kernel/rpc.h"

namespace protectogram::telephony {
namespace {

using google::protobuf::util::TimeUtil;

void SetTime(const std::optional<absl::Time>& t, google::protobuf::Timestamp* out) {
  if (t.has_value()) *out = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(*t));
}

}  // namespace

v1::Call ToProto(const CallRow& c, bool mask_phone) {
  v1::Call out;
  out.set_call_id(c.call_id);
  out.set_attempt_key(c.attempt_key);
  out.set_to_e164(mask_phone ? kernel::MaskPhone(c.to_e164) : c.to_e164);
  out.set_state(ToProto(c.state));
  out.set_provider(c.provider.empty() ? c.current_provider() : c.provider);
  out.set_provider_call_id(c.provider_call_id);
  out.set_correlation_id(c.correlation_id);
  out.set_attempt_number(c.attempt_number);
  out.set_digits(c.digits);
  out.set_machine_detected(c.machine_detected);
  out.set_failure_reason(c.failure_reason);
  if (c.outcome.has_value()) out.set_outcome(std::string(Name(*c.outcome)));
  SetTime(c.created_at, out.mutable_created_at());
  SetTime(c.dialed_at, out.mutable_dialed_at());
  SetTime(c.answered_at, out.mutable_answered_at());
  SetTime(c.ended_at, out.mutable_ended_at());
  out.set_duration_sec(c.duration_sec);
  out.set_ring_timeout_sec(c.ring_timeout_sec);
  out.set_caller_id(c.caller_id);
  out.mutable_dialplan()->set_context(c.dialplan_context);
  out.mutable_dialplan()->set_extension(c.dialplan_extension);
  out.mutable_dialplan()->set_priority(c.dialplan_priority);
  out.set_requested_by(c.requested_by);
  out.set_incident_id(c.incident_id);
  out.set_language(c.language);
  return out;
}

EventReceiver RuntimeReceiver(services::DurableRuntime& runtime) {
  return [&runtime](std::string_view source, std::string_view key, const common::v1::CallEvent& event,
                    const jobs::Inbox::Effect& effect) {
    return runtime.ReceiveOnce(source, key, event, effect);
  };
}

absl::StatusOr<bool> ReceiveCallEvent(const EventReceiver& receive, TelephonyService& service,
                                      std::string_view source, const common::v1::CallEvent& event) {
  AfterCommit after;
  const std::string& key = event.event_key().empty() ? event.provider_event_id() : event.event_key();
  absl::StatusOr<bool> applied = receive(
      source, key, event, [&](pg::Transaction& txn) { return service.ApplyEvent(txn, event, after); });
  if (applied.ok() && *applied) service.Finish(after);
  return applied;
}

grpc::Status TelephonyGrpc::HandleCallEvent(grpc::ServerContext* context,
                                            const v1::HandleCallEventRequest* request,
                                            v1::HandleCallEventResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kNone, "");
  const common::v1::CallEvent& event = request->event();
  if (event.event_key().empty())
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "event.event_key is required");
  absl::StatusOr<bool> applied = ReceiveCallEvent(receive_, service_, "edge", event);
  if (!applied.ok()) return kernel::ToGrpcStatus(applied.status());
  response->set_duplicate(!*applied);
  return grpc::Status::OK;
}

grpc::Status TelephonyGrpc::PlaceCall(grpc::ServerContext* context, const v1::PlaceCallRequest* request,
                                      v1::PlaceCallResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kNone, "");
  absl::StatusOr<PlaceResult> placed = service_.PlaceCall(*request);
  if (!placed.ok()) return kernel::ToGrpcStatus(placed.status());
  response->set_duplicate(placed->duplicate);
  response->set_call_id(placed->call.call_id);
  *response->mutable_call() = ToProto(placed->call, false);
  return grpc::Status::OK;
}

grpc::Status TelephonyGrpc::Hangup(grpc::ServerContext* context, const v1::HangupRequest* request,
                                   v1::HangupResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kNone, "");
  absl::StatusOr<std::pair<bool, CallRow>> done = service_.Hangup(request->attempt_key(), request->call_id());
  if (!done.ok()) return kernel::ToGrpcStatus(done.status());
  response->set_was_live(done->first);
  *response->mutable_call() = ToProto(done->second, false);
  return grpc::Status::OK;
}

grpc::Status TelephonyGrpc::HangupAll(grpc::ServerContext* context, const v1::HangupAllRequest* request,
                                      v1::HangupAllResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kNone, "");
  absl::StatusOr<int> ended = service_.HangupAll(request->correlation_id());
  if (!ended.ok()) return kernel::ToGrpcStatus(ended.status());
  response->set_ended(*ended);
  return grpc::Status::OK;
}

grpc::Status TelephonyGrpc::GetCall(grpc::ServerContext* context, const v1::GetCallRequest* request,
                                    v1::GetCallResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kNone, "");
  absl::StatusOr<CallRow> call = service_.GetCall(request->attempt_key(), request->call_id());
  if (!call.ok()) return kernel::ToGrpcStatus(call.status());
  *response->mutable_call() = ToProto(*call, false);
  return grpc::Status::OK;
}

grpc::Status TelephonyAdminGrpc::ListCalls(grpc::ServerContext* context, const v1::ListCallsRequest* request,
                                           v1::ListCallsResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
  if (!scope.ok()) return scope.status();
  CallFilter filter{.state = FromProto(request->state()),
                    .correlation_id = request->correlation_id(),
                    .to_e164 = request->to_e164(),
                    .limit = request->limit() == 0 ? 50 : request->limit()};
  if (request->has_created_after()) {
    filter.created_after = absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(request->created_after()));
  }
  absl::StatusOr<std::vector<CallRow>> calls = service_.ListCalls(filter);
  if (!calls.ok()) return kernel::ToGrpcStatus(calls.status());
  for (const CallRow& c : *calls) *response->add_calls() = ToProto(c, true);
  return grpc::Status::OK;
}

grpc::Status TelephonyAdminGrpc::GetCallHistory(grpc::ServerContext* context,
                                                const v1::GetCallHistoryRequest* request,
                                                v1::GetCallHistoryResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
  if (!scope.ok()) return scope.status();
  absl::StatusOr<CallRow> call = service_.GetCall(request->attempt_key(), request->call_id());
  if (!call.ok()) return kernel::ToGrpcStatus(call.status());
  absl::StatusOr<std::vector<HistoryEntry>> history = service_.History(*call);
  if (!history.ok()) return kernel::ToGrpcStatus(history.status());
  *response->mutable_call() = ToProto(*call, true);
  for (const HistoryEntry& h : *history) {
    v1::CallHistoryEntry* e = response->add_history();
    *e->mutable_at() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(h.at));
    e->set_source(h.source);
    e->set_kind(h.kind);
    e->set_state_before(ToProto(ParseCallState(h.state_before).value_or(CallState::kPending)));
    e->set_state_after(ToProto(ParseCallState(h.state_after).value_or(CallState::kPending)));
    e->set_detail_json(h.detail_json);
  }
  return grpc::Status::OK;
}

grpc::Status TelephonyAdminGrpc::PlaceTestCall(grpc::ServerContext* context,
                                               const v1::PlaceTestCallRequest* request,
                                               v1::PlaceTestCallResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
  if (!scope.ok()) return scope.status();
  absl::StatusOr<std::string> token = crypto::RandomHexToken(8);
  if (!token.ok()) return kernel::ToGrpcStatus(token.status());
  v1::PlaceCallRequest place;
  place.set_attempt_key("test:" + *token);
  place.set_to_e164(request->to_e164());
  place.set_speak_text(request->speak_text());
  place.set_language(request->language());
  place.set_ring_timeout_sec(request->ring_timeout_sec());
  place.set_correlation_id("test");
  place.set_requested_by("admin");
  absl::StatusOr<PlaceResult> placed = service_.PlaceCall(place);
  if (!placed.ok()) return kernel::ToGrpcStatus(placed.status());
  *response->mutable_call() = ToProto(placed->call, false);
  return grpc::Status::OK;
}

}  // namespace protectogram::telephony
