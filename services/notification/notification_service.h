// NotificationService: every outbound chat message of the product, exactly once in effect (docs/notification.md).
//
// The logic lives here, with no kernel and no environment: it is built from its store, the outbox, the
// provider senders (ChatSender), the incident reporter, its typed config and a clock; main.cc wires it and
// notification_grpc.{h,cc} maps protos and Status codes onto it.
//
// A request (Send, Edit, AnswerCallback) is checked and built into an Outgoing (outgoing.h) — a bad request is
// INVALID_ARGUMENT with nothing stored — and written to notification.outbox_messages under its idempotency key
// (a repeat, even racing the first, finds the key and sends nothing). The outbox relay claims due rows by
// priority and pace (the buckets live in Postgres, so replicas share the limits) and calls Deliver, which
// replays the built provider requests, resuming a split text after the last part sent. The outcome is
// recorded with Finalize in one transaction: the report to report_to, the fallback message, the operators'
// alert when dead letters pile up.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "libs/jobs/clock.h"
#include "libs/jobs/outbox.h"
#include "libs/kernel/metrics.h"
#include "protectogram/incident/v1/incident.pb.h"
#include "protectogram/notification/v1/notification.pb.h"
#include "services/notification/catalog.h"
#include "services/notification/chat_sender.h"
#include "services/notification/config.h"
#include "services/notification/outgoing.h"
#include "services/notification/store.h"

namespace protectogram::notification {

// Sends a delivery outcome to the incident service (IncidentService.OnDeliveryOutcome).
using IncidentReporter = std::function<absl::Status(const incident::v1::OnDeliveryOutcomeRequest&)>;

struct Senders {
  std::map<std::string, ChatSender*> telegram;  // by bot id
  ChatSender* whatsapp = nullptr;               // nullptr: WhatsApp is not configured
};

struct SendResult {
  bool duplicate = false;
  int64_t id = 0;
};

class NotificationService {
 public:
  NotificationService(Store& store, jobs::Outbox& outbox, Senders senders, IncidentReporter report_incident,
                      const NotificationConfig& config, kernel::MetricsRegistry& metrics,
                      jobs::Clock& clock = jobs::DefaultClock());

  // The service's outbox channels: one per bot, WhatsApp, the incident reports. Before relay.Start().
  void RegisterChannels(jobs::OutboxRelay& relay);

  // See proto/protectogram/notification/v1/notification.proto for each call's contract.
  absl::StatusOr<SendResult> Send(const v1::SendRequest& request);
  absl::StatusOr<bool> Edit(const v1::EditRequest& request);  // true: a duplicate
  absl::StatusOr<bool> AnswerCallback(const v1::AnswerCallbackRequest& request);
  absl::StatusOr<v1::Delivery> GetDelivery(const std::string& key);
  absl::StatusOr<std::vector<v1::Delivery>> ListDeliveries(const v1::ListDeliveriesRequest& request);
  absl::StatusOr<std::vector<v1::Delivery>> ListDeadLetters(int limit);
  absl::StatusOr<int64_t> Redrive(const v1::RedriveRequest& request);
  std::vector<v1::Bot> ListBots();
  std::vector<v1::SetWebhookResult> SetWebhooks(bool drop_pending_updates);

  // getMe for every bot whose username is not known yet; true when all are known. Called at start and then
  // retried with back-off by main's background thread until it returns true.
  bool LearnBots();
  // The bot's username ("" until learned).
  std::string BotUsername(const std::string& bot_id);
  // Refreshes the dead_letters gauge.
  void SampleGauges();

  // Called after a row was committed in this process (the relay's Wake).
  void SetWake(std::function<void()> wake) { wake_ = std::move(wake); }

 private:
  absl::StatusOr<bool> Enqueue(const std::string& key, const Outgoing& outgoing);
  ChatSender* SenderFor(const Outgoing& outgoing) const;
  absl::Status Deliver(jobs::OutboxRelay& relay, jobs::OutboxMessage& message);
  absl::Status DeliverEdit(const Outgoing& edit, jobs::OutboxMessage& message, ChatSender& sender);
  absl::Status Finalize(pg::Transaction& txn, const jobs::OutboxMessage& message,
                        const absl::Status& outcome);
  absl::Status MaybeAlertDeadLetters(pg::Transaction& txn);
  absl::Status ReportIncident(const jobs::OutboxMessage& message);
  v1::Delivery ToDelivery(const StoredDelivery& row, bool mask_phone) const;

  Store& store_;
  jobs::Outbox& outbox_;
  Senders senders_;
  IncidentReporter report_incident_;
  const NotificationConfig& config_;
  jobs::Clock& clock_;
  const Catalog& catalog_;
  Recipients recipients_;
  std::function<void()> wake_ = [] {};
  kernel::Gauge& dead_letters_;
  kernel::Histogram& latency_;

  absl::Mutex mu_;
  std::map<std::string, std::string> usernames_ ABSL_GUARDED_BY(mu_);
};

}  // namespace protectogram::notification
