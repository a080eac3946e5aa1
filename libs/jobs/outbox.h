// The outbox: a command to another service (or a provider) written in the same transaction as the state
// change that causes it, and sent after commit by a relay until the receiver acknowledges: exactly once in
// effect, because every command carries an idempotency key the receiver stores under a unique constraint
// (its inbox: Inbox::ReceiveOnce in inbox.h; or a unique key of the table its effect writes).
//
// Writer (any transaction):
//   auto outbox = jobs::Outbox::Create(pool, {.table = "incident.outbox_messages"});
//   (*outbox)->Enqueue(*txn, {.channel = "notification.send", .idempotency_key = "incident:42:alert:7",
//                             .payload_json = request_json});
//   txn->Commit();  // the relay is woken by NOTIFY at commit (and relay.Wake() in this process)
//
// Relay (one per process that owns the table; any number of replicas):
//   auto relay = jobs::OutboxRelay::Create(pool, {.table = "incident.outbox_messages", .listen_url = url});
//   (*relay)->RegisterSender("notification.send", [&](const jobs::OutboxMessage& m) {
//     return notification_client.Send(m.idempotency_key, m.payload_json);   // absl::Status
//   });
//   (*relay)->Start();
//
// A sender returns OK (or ALREADY_EXISTS: the receiver had it) when the receiver acknowledged; the message is
// then `sent`. A permanent error (retry.h) makes it `dead` at once; any other error (UNAVAILABLE, a timeout)
// is retried with back-off, and after max_attempts sends it is `dead` (ListDead / Redrive, the admin RPCs).
// A relay that crashes between the receiver's acknowledgement and marking the message sent sends it again
// after the lease: the receiver's idempotency key makes that a no-op. Messages are sent in parallel and
// retried independently: no ordering between them is promised.
//
// For provider channels (docs/durable-work.md, "Priority, pacing, receipts"):
//   - priority: among due messages the higher priority is claimed first;
//   - pacing: with OutboxRelayOptions::pace_table and pace_limits, a message draws from the rate-limit
//     buckets named by its pace_keys (pacing.h), in the claim's transaction: every replica shares the limit;
//   - Throttled (retry.h): the receiver said "wait" (a 429); retried after its delay, not counted as an attempt;
//   - receipts: a sender sets message.receipt_json (provider message ids), stored with `sent`; SaveProgress
//     records a partly done send (parts of a split text) that a retry resumes from;
//   - a finalizer: the channel's OutboxFinalizer runs in the transaction that marks the message sent or dead,
//     so what follows from the outcome (a report to the requester, a fallback, an alert) is written exactly
//     once with it. Such a channel's messages are marked one by one, at once, never batched.
// Metrics: outbox_sent_total{channel}, outbox_failed_total{channel,reason} (reason: FailureReasonOf, or
// "duplicate" is counted as sent), outbox_dead_total{channel}.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/jobs/clock.h"
#include "libs/jobs/internal/engine.h"
#include "libs/jobs/internal/sql.h"
#include "libs/jobs/pacing.h"
#include "libs/jobs/retry.h"
#include "libs/jobs/states.h"
#include "libs/kernel/metrics.h"
#include "libs/pg/pool.h"

namespace protectogram::jobs {

struct OutboxCommand {
  std::string channel;          // which sender: "notification.send", "telephony.place_call", "telegram:<bot>"
  std::string idempotency_key;  // unique per table; enqueueing an existing key is a no-op
  std::string payload_json = "{}";
  std::optional<int64_t> incident_id;
  int priority = 0;                    // higher goes first
  std::vector<std::string> pace_keys;  // rate-limit buckets (pacing.h); empty: not paced
  std::vector<int> pace_costs;         // parallel to pace_keys; missing entries cost 1
};

struct OutboxMessage {
  int64_t id = 0;
  std::string channel;
  std::string idempotency_key;
  std::string payload_json;
  OutboxStatus status = OutboxStatus::kPending;
  int attempts = 0;  // sends so far, the current one included
  std::optional<int64_t> incident_id;
  std::string last_error;
  absl::Time created_at = absl::InfinitePast();
  absl::Time next_attempt_at = absl::InfinitePast();
  absl::Time updated_at = absl::InfinitePast();
  int priority = 0;
  // What the receiver answered (JSON), or a partly done send's progress; "" when none. A sender sets it on
  // success and it is stored with `sent`.
  std::string receipt_json;
  // Set on a message claimed by a paced relay: the limited buckets it drew from, and what from each.
  std::vector<std::string> pace_keys;
  std::vector<int> pace_costs;
  absl::Time paced_at = absl::InfinitePast();  // the plan's now (database clock)
  // Set on a claimed message: when it was due, the claim's database time and local time, the lease.
  absl::Time due_at = absl::InfinitePast();
  absl::Time claimed_at = absl::InfinitePast();
  absl::Time claimed_local = absl::InfinitePast();
  int64_t lease_token = 0;
};

struct OutboxCounts {
  int64_t due = 0;      // pending and due now
  int64_t waiting = 0;  // pending, waiting for a retry (or being sent)
  int64_t dead = 0;
};

struct OutboxOptions {
  std::string table;   // "incident.outbox_messages"
  bool notify = true;  // NOTIFY the relays at commit (false: call OutboxRelay::Wake yourself)
};

// The NOTIFY channel of an outbox table ("outbox:<table>").
std::string OutboxChannel(std::string_view table);

class Outbox {
 public:
  // INVALID_ARGUMENT for a malformed table name. The pool must outlive the outbox.
  static absl::StatusOr<std::unique_ptr<Outbox>> Create(pg::Pool& pool, OutboxOptions options);

  // Writes the command in the caller's transaction. Returns true if it was written, false if a command with
  // this idempotency key exists already (nothing changes). INVALID_ARGUMENT for an empty channel or key or a
  // payload that is not JSON; errors of pg otherwise.
  absl::StatusOr<bool> Enqueue(pg::Transaction& txn, const OutboxCommand& command);
  // The same in its own statement (for commands not tied to a state change).
  absl::StatusOr<bool> Enqueue(const OutboxCommand& command);

  // NOT_FOUND if no message has this key.
  absl::StatusOr<OutboxMessage> Get(std::string_view idempotency_key);
  // Dead messages, most recent first (limit clamped to 1..1000).
  absl::StatusOr<std::vector<OutboxMessage>> ListDead(int limit = 100);
  // A dead message back to pending, due now, attempts reset. NOT_FOUND if no dead message has this id.
  absl::StatusOr<OutboxMessage> Redrive(int64_t id);
  // Every dead message whose channel starts with `channel_prefix` ("" = all), at most `limit`; returns how many.
  absl::StatusOr<int64_t> RedriveAll(std::string_view channel_prefix = "", int limit = 10000);
  absl::StatusOr<OutboxCounts> Count();

  const std::string& table() const { return table_; }

 private:
  Outbox(pg::Pool& pool, OutboxOptions options);
  template <typename Db>
  absl::StatusOr<bool> EnqueueOn(Db& db, const OutboxCommand& command);

  pg::Pool& pool_;
  const std::string table_;
  const std::string channel_;
  const bool notify_;
  internal::BoundQuery enqueue_, by_key_, list_dead_, redrive_, redrive_all_, count_;
};

// Sends one message; see the file comment for what the returned status means. It may set
// message.receipt_json on success.
using OutboxSender = std::function<absl::Status(OutboxMessage& message)>;
// Runs in the transaction that records a message's final outcome: OK = sent, an error = dead with it. An
// error from the finalizer rolls the outcome back (the message is tried again after its lease).
using OutboxFinalizer = std::function<absl::Status(pg::Transaction& txn, const OutboxMessage& message,
                                                   const absl::Status& outcome)>;

struct OutboxChannelOptions {
  std::optional<RetryPolicy> retry;  // default: OutboxRelayOptions::retry
  std::optional<int> max_attempts;   // default: OutboxRelayOptions::max_attempts
  OutboxFinalizer finalizer;         // none: outcomes are recorded in batches
  // With a finalizer: whether this outcome needs it. When it answers false the outcome is recorded at once in
  // one statement (no transaction), which is most sends of a channel whose finalizer rarely has work.
  std::function<bool(const OutboxMessage& message, const absl::Status& outcome)> finalize_if;
};

struct OutboxRelayOptions {
  std::string table;       // "incident.outbox_messages"
  std::string listen_url;  // DATABASE_DIRECT_URL if set, else DATABASE_URL; "" = no LISTEN
  int threads = 2;         // parallel sends
  int batch_size = 16;
  // A message being sent is hidden from other relays this long; senders must time out well within it.
  absl::Duration lease = absl::Seconds(30);
  RetryPolicy retry = RetryPolicy::Exponential(absl::Seconds(1), absl::Minutes(1));
  int max_attempts = 25;
  absl::Duration rescan_interval = absl::Seconds(30);
  absl::Duration keep_sent = absl::Hours(1);  // sent rows (and their keys) are kept this long
  absl::Duration prune_interval = absl::Minutes(1);
  int prune_batch = 1000;
  // Pacing (pacing.h): the bucket table ("notification.outbox_pace", shape of 0009) and the limits by key
  // prefix. Without a table, or with no limits, the claim is a single statement and pace keys are ignored.
  std::string pace_table;
  PaceLimits pace_limits;
  // Claim only as many messages as there are idle senders, so that a claimed message is sent at once rather
  // than waiting in the relay's queue (pacing decided at claim time then holds at the receiver).
  bool claim_for_idle_only = false;
  kernel::MetricsRegistry* metrics = nullptr;  // nullptr: kernel::DefaultMetrics()
  Clock* clock = nullptr;
};

class OutboxRelay {
 public:
  // INVALID_ARGUMENT for a malformed table name or threads/batch_size < 1.
  static absl::StatusOr<std::unique_ptr<OutboxRelay>> Create(pg::Pool& pool, OutboxRelayOptions options);
  ~OutboxRelay();  // Stop()
  OutboxRelay(const OutboxRelay&) = delete;
  OutboxRelay& operator=(const OutboxRelay&) = delete;

  // The sender for a channel; before Start only (aborts otherwise). A message of a channel without a sender
  // is retried (another replica may have it) and goes dead after max_attempts.
  void RegisterSender(std::string channel, OutboxSender sender, OutboxChannelOptions options = {});
  // INVALID_ARGUMENT for a malformed listen_url; FAILED_PRECONDITION if started twice.
  absl::Status Start();
  // Finishes sends in flight, gives claimed unsent messages back, joins. Idempotent.
  void Stop();
  // A command was just committed in this process: send it now.
  void Wake();
  // From a sender: records `receipt_json` as the claimed message's progress, so that a retry after a failure
  // or a crash resumes from it (message.receipt_json is updated too). ABORTED when the lease was lost.
  absl::Status SaveProgress(OutboxMessage& message, std::string receipt_json);

 private:
  struct Channel {
    OutboxSender sender;
    RetryPolicy retry;
    int max_attempts;
    OutboxFinalizer finalizer;
    std::function<bool(const OutboxMessage&, const absl::Status&)> finalize_if;
  };
  OutboxRelay(pg::Pool& pool, OutboxRelayOptions options);
  absl::StatusOr<internal::ClaimBatch<OutboxMessage>> Claim(int limit);
  absl::StatusOr<internal::ClaimBatch<OutboxMessage>> ClaimPaced(int limit);
  absl::StatusOr<internal::ClaimBatch<OutboxMessage>> ClaimedBatch(const pg::Result& r, int limit);
  bool Process(OutboxMessage& message);
  // The final outcome of a channel with a finalizer, in one transaction (retried on a transient error).
  void Finalize(const Channel& channel, OutboxMessage& message, const absl::Status& outcome);
  // A sent message of such a channel whose outcome needs no finalizer: one statement, at once.
  void MarkSentNow(OutboxMessage& message);
  absl::Status MarkSent(std::vector<OutboxMessage>& messages);
  absl::Status Release(std::vector<OutboxMessage>& messages);
  bool Prune();
  void Fail(OutboxMessage& message, std::string_view status, absl::Duration delay, const std::string& error,
            bool counts);
  // A paced message whose send starts later than its claim planned moves its buckets on to start + cost * T,
  // so the next message of the bucket keeps its distance from when this one really went.
  void RepaceLateStart(const OutboxMessage& message);

  pg::Pool& pool_;
  OutboxRelayOptions options_;
  const std::string table_;
  const std::string channel_;
  kernel::MetricsRegistry& metrics_;
  std::map<std::string, Channel, std::less<>> channels_;
  std::unique_ptr<internal::Engine<OutboxMessage>> engine_;
  bool started_ = false;
  internal::BoundQuery claim_, mark_sent_, mark_sent_one_, fail_, save_receipt_, release_, prune_,
      paced_candidates_, paced_apply_, pace_lock_, pace_store_, pace_late_start_;
};

}  // namespace protectogram::jobs
