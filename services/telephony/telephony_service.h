// The telephony service's logic: places calls, follows them through provider events, reports each call's
// outcome once (docs/telephony.md). The gRPC adapter (telephony_grpc.h) only translates.
//
// A call's life, every step durable:
//   PlaceCall        guardrails, then the row and a `telephony.dial` job in one transaction;
//   dial job         (1) marks the dial started (commit), (2) asks the provider, (3) records the answer and
//                    arms the ring deadline, or fails over to the next provider with the same attempt;
//                    a crash between (1) and (3) reruns the job after its lease, and the rerun knows an
//                    earlier dial may have reached the provider (provider.h: dial keys, FindEarlierDial);
//   provider events  each received once (the inbox), matched to its call, decided by call_machine.h;
//                    prompts and hangups are `telephony.command` jobs written with the decision;
//   ring deadline    a `telephony.ring_deadline` job: no answer by then is no_answer, whatever got lost;
//   the outcome      written with the decision that makes it, once (call_attempts.outcome), and sent to the
//                    requester through the outbox (IncidentService.OnCallOutcome).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/jobs/job_store.h"
#include "libs/jobs/outbox.h"
#include "libs/jobs/worker.h"
#include "libs/kernel/metrics.h"
#include "protectogram/common/v1/events.pb.h"
#include "protectogram/incident/v1/incident.pb.h"
#include "protectogram/telephony/v1/telephony.pb.h"
#include "services/telephony/config.h"
#include "services/telephony/provider.h"
#include "services/telephony/store.h"

namespace protectogram::telephony {

inline constexpr char kDialJob[] = "telephony.dial";
inline constexpr char kCommandJob[] = "telephony.command";
inline constexpr char kRingDeadlineJob[] = "telephony.ring_deadline";
inline constexpr char kReportIncidentChannel[] = "report:incident";

// Delivers one outcome to the incident service (a gRPC call in main; a fake in tests).
using CallOutcomeReporter = std::function<absl::Status(const incident::v1::OnCallOutcomeRequest&)>;

// The providers of this process by name, in no particular order (the order is each call's).
class ProviderSet {
 public:
  void Add(std::unique_ptr<TelephonyProvider> provider);
  // Not owned: for tests that keep their fake.
  void AddUnowned(TelephonyProvider* provider);
  TelephonyProvider* Find(std::string_view name) const;
  const std::vector<TelephonyProvider*>& all() const { return all_; }

 private:
  std::vector<std::unique_ptr<TelephonyProvider>> owned_;
  std::vector<TelephonyProvider*> all_;
};

// The provider-side idempotency key of one attempt at one provider (Telnyx command_id, ARI channelId): a
// UUID-shaped digest of (attempt key, provider, position in the failover order), the same on every retry.
std::string DialKey(std::string_view attempt_key, std::string_view provider, int index);

// "telnyx", "twilio", "ari" for the event's provider; "" for others.
std::string_view ProviderName(common::v1::Provider provider);

// What to do once the transaction of a decision committed: count outcomes, wake the worker and the relay.
struct AfterCommit {
  std::vector<Outcome> outcomes;
  bool wake_worker = false;
  bool wake_relay = false;
  void Clear() { *this = AfterCommit(); }
};

struct PlaceResult {
  bool duplicate = false;
  CallRow call;
};

class TelephonyService {
 public:
  TelephonyService(Store& store, jobs::JobStore& jobs, jobs::Outbox& outbox, const ProviderSet& providers,
                   CallOutcomeReporter report_incident, const TelephonyConfig& config,
                   kernel::MetricsRegistry& metrics);

  // The job kinds and the outbox channel; before the worker and relay start.
  void RegisterJobs(jobs::Worker& worker);
  void RegisterChannels(jobs::OutboxRelay& relay);
  void SetWake(std::function<void()> wake_worker, std::function<void()> wake_relay);

  // See proto/protectogram/telephony/v1/telephony.proto for each call's contract. A refusal by a guardrail
  // is returned as the error (with the call recorded as failed and its outcome reported).
  absl::StatusOr<PlaceResult> PlaceCall(const v1::PlaceCallRequest& request);
  // The effect of one provider event, inside the inbox's transaction (the caller receives it once). UNAVAILABLE
  // for an event whose call is not known yet (a webhook faster than the dial's answer): the sender retries.
  absl::Status ApplyEvent(pg::Transaction& txn, const common::v1::CallEvent& event, AfterCommit& after);
  void Finish(const AfterCommit& after);
  // Hangup one call: true when it was live.
  absl::StatusOr<std::pair<bool, CallRow>> Hangup(const std::string& attempt_key, const std::string& call_id);
  absl::StatusOr<int> HangupAll(const std::string& correlation_id);
  absl::StatusOr<CallRow> GetCall(const std::string& attempt_key, const std::string& call_id);
  absl::StatusOr<std::vector<CallRow>> ListCalls(const CallFilter& filter);
  absl::StatusOr<std::vector<HistoryEntry>> History(const CallRow& call);

  const TelephonyConfig& config() const { return config_; }

 private:
  struct Step;
  absl::Status RunDial(jobs::JobContext& ctx);
  absl::Status RunCommand(jobs::JobContext& ctx);
  absl::Status RunRingDeadline(jobs::JobContext& ctx);
  // Applies `input` to the locked `call` and writes everything that follows from it.
  absl::Status Apply(pg::Transaction& txn, CallRow& call, const CallInput& input, const Step& step,
                     AfterCommit& after);
  absl::Status ScheduleCommand(pg::Transaction& txn, const CallRow& call, std::string_view action,
                               std::string_view provider, std::string_view provider_call_id);
  absl::Status ReportOutcome(pg::Transaction& txn, const CallRow& call, Outcome outcome,
                             const std::string& detail, const common::v1::CallEvent* event);
  absl::Status DeliverReport(const jobs::OutboxMessage& message);
  absl::StatusOr<std::string> ResolveKey(const std::string& attempt_key, const std::string& call_id);

  Store& store_;
  jobs::JobStore& jobs_;
  jobs::Outbox& outbox_;
  const ProviderSet& providers_;
  CallOutcomeReporter report_incident_;
  const TelephonyConfig& config_;
  kernel::Counter& attempts_total_;
  kernel::Counter& provider_errors_;
  kernel::Histogram& dial_seconds_;
  std::function<void()> wake_worker_ = [] {};
  std::function<void()> wake_relay_ = [] {};
};

}  // namespace protectogram::telephony
