// The outbox: a command to another service (or a provider) written in the same transaction as the state
// change that causes it, and sent after commit by a relay until the receiver acknowledges: exactly once in
// effect, because every command carries an idempotency key the receiver stores under a unique constraint
// (receiver.h).
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
// Metric: outbox_sent_total{channel,result} (result: sent, duplicate, retry, dead).
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
#include "libs/jobs/retry.h"
#include "libs/kernel/metrics.h"
#include "libs/pg/pool.h"

namespace protectogram::jobs {

struct OutboxCommand {
  std::string channel;          // which sender: "notification.send", "telephony.place_call", "telegram:<bot>"
  std::string idempotency_key;  // unique per table; enqueueing an existing key is a no-op
  std::string payload_json = "{}";
  std::optional<int64_t> incident_id;
};

struct OutboxMessage {
  int64_t id = 0;
  std::string channel;
  std::string idempotency_key;
  std::string payload_json;
  std::string status;  // pending | sent | dead
  int attempts = 0;    // sends so far, the current one included
  std::optional<int64_t> incident_id;
  std::string last_error;
  absl::Time created_at = absl::InfinitePast();
  absl::Time next_attempt_at = absl::InfinitePast();
  // Set on a claimed message.
  absl::Time due_at = absl::InfinitePast();
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
  internal::BoundQuery enqueue_, by_key_, list_dead_, redrive_, count_;
};

// Sends one message; see the file comment for what the returned status means.
using OutboxSender = std::function<absl::Status(const OutboxMessage& message)>;

struct OutboxChannelOptions {
  std::optional<RetryPolicy> retry;  // default: OutboxRelayOptions::retry
  std::optional<int> max_attempts;   // default: OutboxRelayOptions::max_attempts
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

 private:
  struct Channel {
    OutboxSender sender;
    RetryPolicy retry;
    int max_attempts;
  };
  OutboxRelay(pg::Pool& pool, OutboxRelayOptions options);
  absl::StatusOr<internal::ClaimBatch<OutboxMessage>> Claim(int limit);
  bool Process(OutboxMessage& message);
  absl::Status MarkSent(std::vector<OutboxMessage>& messages);
  absl::Status Release(std::vector<OutboxMessage>& messages);
  bool Prune();
  void Fail(OutboxMessage& message, std::string_view status, absl::Duration delay, const std::string& error);

  pg::Pool& pool_;
  OutboxRelayOptions options_;
  const std::string table_;
  const std::string channel_;
  kernel::MetricsRegistry& metrics_;
  std::map<std::string, Channel, std::less<>> channels_;
  std::unique_ptr<internal::Engine<OutboxMessage>> engine_;
  bool started_ = false;
  internal::BoundQuery claim_, mark_sent_, fail_, release_, prune_;
};

}  // namespace protectogram::jobs
