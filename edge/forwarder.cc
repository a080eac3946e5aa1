#include "edge/forwarder.h"

#include <grpcpp/client_context.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "edge/translate.h"
#include "libs/jobs/retry.h"
#include "libs/kernel/log.h"
#include "libs/kernel/rpc.h"

namespace protectogram::edge {
namespace {

std::string_view ResultLabel(const absl::Status& status) {
  if (status.ok() || status.code() == absl::StatusCode::kAlreadyExists) return "delivered";
  if (jobs::IsPermanentError(status)) return "rejected";
  return "retry";
}

}  // namespace

Forwarder::Forwarder(std::shared_ptr<grpc::Channel> incident, std::shared_ptr<grpc::Channel> telephony,
                     absl::Duration timeout, kernel::MetricsRegistry* metrics)
    : incident_(incident::v1::IncidentService::NewStub(std::move(incident))),
      telephony_(telephony::v1::TelephonyService::NewStub(std::move(telephony))),
      timeout_(timeout),
      forwarded_((metrics != nullptr ? *metrics : kernel::DefaultMetrics())
                     .AddCounter("edge_forward_total",
                                 "Deliveries of stored webhooks to their service, by service and result "
                                 "(delivered, retry, rejected).",
                                 {"service", "result"})),
      duration_((metrics != nullptr ? *metrics : kernel::DefaultMetrics())
                    .AddHistogram("edge_forward_duration_seconds", "Time of one delivery call to a service.",
                                  {"service"})) {}

absl::Status Forwarder::Deliver(const jobs::InboxMessage& message) {
  // The same correlation id on every attempt, in the edge's and the service's log lines.
  kernel::CorrelationScope correlation(absl::StrCat("edge-", message.id));
  absl::StatusOr<ForwardEvent> event = TranslateInboxEvent(message);
  if (!event.ok()) {
    kernel::LogWarn("edge: stored event cannot be forwarded; ignoring it",
                    {{"inbox_id", message.id},
                     {"provider", message.provider},
                     {"error", std::string(event.status().message())}});
    forwarded_.WithLabels({"none", "unparseable"}).Inc();
    return jobs::Permanent(event.status());
  }

  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  kernel::PrepareClientContext(&context);
  // The service of the row's route table entry (routes.h), as TranslateInboxEvent set it.
  const bool incident = event->target == ForwardEvent::Target::kIncident;
  const std::string_view service = TargetLabel(event->target);
  const absl::Time started = absl::Now();
  grpc::Status rpc;
  if (incident) {
    incident::v1::HandleChatEventRequest request;
    *request.mutable_event() = std::move(event->chat);
    incident::v1::HandleChatEventResponse response;
    rpc = incident_->HandleChatEvent(&context, request, &response);
  } else {
    telephony::v1::HandleCallEventRequest request;
    *request.mutable_event() = std::move(event->call);
    telephony::v1::HandleCallEventResponse response;
    rpc = telephony_->HandleCallEvent(&context, request, &response);
  }
  duration_.WithLabels({service}).ObserveDuration(absl::Now() - started);
  absl::Status status = kernel::ToAbslStatus(rpc);
  forwarded_.WithLabels({service, ResultLabel(status)}).Inc();
  if (status.ok()) {
    kernel::LogDebug("edge: event forwarded",
                     {{"inbox_id", message.id}, {"service", service}, {"attempts", message.attempts}});
  } else if (jobs::IsPermanentError(status)) {
    kernel::LogWarn("edge: service refused the event; not retrying",
                    {{"inbox_id", message.id},
                     {"service", service},
                     {"code", absl::StatusCodeToString(status.code())},
                     {"error", std::string(status.message())}});
  }
  return status;
}

}  // namespace protectogram::edge
