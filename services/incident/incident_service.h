// IncidentService: the conversation, the incidents and their cascade (docs/incident.md).
//
// The decisions are pure and live elsewhere: conversation::Decide (what a chat event means) and the panic core
// core::Start / core::Apply (what an incident does next). This class does their I/O: each event runs in ONE
// transaction — the inbox record (DurableRuntime::ReceiveOnce), the locked state, the new state, the timeline
// rows, the timers (incident.scheduled_actions) and the commands to the other services (incident.outbox_messages)
// commit together, so a crash at any point either did all of it or none of it. The outbox relay then calls the
// notification and telephony services (Downstream), retrying until each command is acknowledged; the commands
// carry idempotency keys, so a repeat is harmless.
//
// Events: chat events from the edge (OnChatEvent), call outcomes from telephony (OnCallOutcome), delivery
// outcomes from notification (OnDeliveryOutcome), timers (the job kind "incident.timer"), the auditor
// (AuditOnce), and the admin API.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/jobs/clock.h"
#include "libs/jobs/job_store.h"
#include "libs/jobs/outbox.h"
#include "libs/jobs/worker.h"
#include "libs/kernel/metrics.h"
#include "libs/pg/pool.h"
#include "protectogram/common/v1/events.pb.h"
#include "protectogram/incident/v1/incident.pb.h"
#include "protectogram/notification/v1/notification.pb.h"
#include "protectogram/telephony/v1/telephony.pb.h"
#include "services/incident/config.h"
#include "services/incident/core/incident_core.h"
#include "services/incident/store.h"

namespace protectogram::incident {

// The other services, as the outbox relay calls them (main.cc: gRPC stubs; tests: fakes). Each answers OK
// (or ALREADY_EXISTS) when the command was taken; any other error is retried.
struct Downstream {
  std::function<absl::Status(const notification::v1::SendRequest&)> send;
  std::function<absl::Status(const notification::v1::EditRequest&)> edit;
  std::function<absl::Status(const notification::v1::AnswerCallbackRequest&)> answer_callback;
  std::function<absl::Status(const telephony::v1::PlaceCallRequest&)> place_call;
  std::function<absl::Status(const telephony::v1::HangupRequest&)> hangup;
  std::function<absl::Status(const telephony::v1::HangupAllRequest&)> hangup_all;
  // The Telegram username of a bot ("" when unknown); asked only for bots without TG_BOT_USERNAME_<ID>.
  std::function<std::string(const std::string& bot_id)> bot_username;
};

// What to do once the transaction has committed: metrics and wake-ups are not undone by a rollback, so they
// wait for the commit.
struct AfterCommit {
  int started = 0, acknowledged = 0, canceled = 0, repaired = 0;
  std::vector<double> ack_seconds, first_alert_seconds;
  bool wake_relay = false, wake_worker = false;
};

struct PanicResult {
  int64_t incident_id = 0;
  bool already_active = false;
};

class IncidentService {
 public:
  IncidentService(Store& store, jobs::JobStore& jobs, jobs::Outbox& outbox, Downstream downstream,
                  const IncidentConfig& config, kernel::MetricsRegistry& metrics,
                  jobs::Clock& clock = jobs::DefaultClock());

  // The timer kind, and the outbox channels to notification and telephony. Before Start.
  void RegisterJobs(jobs::Worker& worker);
  void RegisterChannels(jobs::OutboxRelay& relay);
  void SetWake(std::function<void()> wake_worker, std::function<void()> wake_relay);

  // Inbox effects: each runs inside the transaction that records the event, and fills `after`.
  absl::Status OnChatEvent(pg::Transaction& txn, const common::v1::ChatEvent& event, AfterCommit& after);
  absl::Status OnCallOutcome(pg::Transaction& txn, const v1::OnCallOutcomeRequest& outcome,
                             AfterCommit& after);
  absl::Status OnDeliveryOutcome(pg::Transaction& txn, const v1::OnDeliveryOutcomeRequest& outcome,
                                 AfterCommit& after);
  // Counts and wakes once an effect's transaction has committed.
  void Finish(const AfterCommit& after);

  // One pass of the invariant auditor: every active incident with nothing pending is repaired (its next step
  // scheduled), counted in incident_invariant_repairs_total, logged and reported to the operators' chat.
  // Returns how many were repaired.
  absl::StatusOr<int> AuditOnce();

  // The admin API (proto/protectogram/incident/v1/incident.proto, IncidentAdminService).
  absl::StatusOr<std::vector<v1::Incident>> ListIncidents(const v1::ListIncidentsRequest& request);
  absl::StatusOr<v1::Incident> GetIncident(int64_t id);
  absl::StatusOr<v1::Incident> CancelIncident(int64_t id, const std::string& reason);
  absl::StatusOr<PanicResult> TriggerTestPanic(const v1::TriggerTestPanicRequest& request);
  absl::StatusOr<std::vector<v1::User>> ListUsers(int limit);
  absl::StatusOr<std::vector<v1::Link>> ListLinks(int64_t traveler_user_id);
  absl::StatusOr<v1::Link> SetLinkPolicy(const v1::SetLinkPolicyRequest& request);

 private:
  struct ChatTurn;

  // Opens an incident for the traveler (or finds the active one) and runs core::Start, in `txn`.
  // FAILED_PRECONDITION when the traveler has no guardian; NOT_FOUND for an unknown traveler.
  absl::StatusOr<PanicResult> StartPanic(pg::Transaction& txn, int64_t traveler_user_id, bool is_test,
                                         AfterCommit& after);
  // Locks the incident, applies the event, saves and carries out the commands. NOT_FOUND for an unknown id.
  absl::StatusOr<core::Incident> ApplyEvent(pg::Transaction& txn, int64_t incident_id,
                                            const core::Event& event, AfterCommit& after);
  absl::Status SaveAndExecute(pg::Transaction& txn, const core::Incident& before,
                              const core::Incident& after_state, const std::vector<core::Command>& commands,
                              AfterCommit& after);
  absl::Status Execute(pg::Transaction& txn, const core::Incident& incident,
                       const std::vector<core::Command>& commands, AfterCommit& after);
  absl::Status Enqueue(pg::Transaction& txn, std::string channel, std::string key,
                       const google::protobuf::Message& request, int64_t incident_id, int priority,
                       AfterCommit& after);
  absl::Status EnqueueMessage(pg::Transaction& txn, const core::SendMessage& message, int64_t incident_id,
                              notification::v1::SendRequest keyboard, AfterCommit& after);
  absl::Status EnqueueAnswer(pg::Transaction& txn, const core::AnswerCallback& answer, int64_t incident_id,
                             AfterCommit& after);
  absl::Status RunTimer(jobs::JobContext& context);

  // The conversation's actions, carried out in the chat event's transaction.
  absl::Status RunChatActions(pg::Transaction& txn, ChatTurn& turn, AfterCommit& after);
  absl::Status Reply(pg::Transaction& txn, ChatTurn& turn, const std::string& template_id,
                     std::map<std::string, std::string> params, notification::v1::SendRequest request,
                     AfterCommit& after);
  absl::Status MessageUser(pg::Transaction& txn, int64_t user_id, const std::string& key,
                           const std::string& template_id, std::map<std::string, std::string> params,
                           AfterCommit& after);
  std::string BotUsername(const std::string& bot_id);
  absl::Time Now() const;

  Store& store_;
  jobs::JobStore& jobs_;
  jobs::Outbox& outbox_;
  Downstream downstream_;
  const IncidentConfig& config_;
  jobs::Clock& clock_;
  std::function<void()> wake_worker_ = [] {};
  std::function<void()> wake_relay_ = [] {};

  kernel::Counter& started_;
  kernel::Counter& acknowledged_;
  kernel::Counter& canceled_;
  kernel::Counter& repairs_;
  kernel::Histogram& first_alert_;
  kernel::Histogram& ack_latency_;
};

}  // namespace protectogram::incident
