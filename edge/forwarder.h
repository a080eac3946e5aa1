// Delivers stored webhooks to their services over gRPC: the inbox relay's deliver function.
//
// Each delivery re-parses the stored row (TranslateInboxEvent), then calls the service its route table entry
// names (edge/routes.h), IncidentService.HandleChatEvent or TelephonyService.HandleCallEvent, with a
// deadline, the correlation id "edge-<row id>" and event_key "edge:<row id>" (the service's idempotency key).
// What the relay does with the result (libs/jobs/retry.h): OK / ALREADY_EXISTS -> delivered;
// INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE, or a row that does not parse -> ignored for good (logged);
// anything else (UNAVAILABLE, DEADLINE_EXCEEDED, ...) -> retried with back-off until the service takes it.
#pragma once

#include <grpcpp/channel.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "libs/jobs/inbox.h"
#include "libs/kernel/metrics.h"
#include "protectogram/incident/v1/incident.grpc.pb.h"
#include "protectogram/telephony/v1/telephony.grpc.pb.h"

namespace protectogram::edge {

class Forwarder {
 public:
  Forwarder(std::shared_ptr<grpc::Channel> incident, std::shared_ptr<grpc::Channel> telephony,
            absl::Duration timeout, kernel::MetricsRegistry* metrics = nullptr);

  // One delivery attempt; see the file comment for what the status means.
  absl::Status Deliver(const jobs::InboxMessage& message);

 private:
  std::unique_ptr<incident::v1::IncidentService::Stub> incident_;
  std::unique_ptr<telephony::v1::TelephonyService::Stub> telephony_;
  const absl::Duration timeout_;
  kernel::Counter& forwarded_;
  kernel::Histogram& duration_;
};

}  // namespace protectogram::edge
