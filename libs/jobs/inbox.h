// The inbox: every incoming event stored once, keyed by (provider, provider_event_id), with its raw payload.
// The edge stores each webhook before answering 200 (edge.inbox_events) and an InboxRelay delivers it to the
// owning service until acknowledged; a service that receives events stores them in its own inbox
// (incident.inbox_events) in the transaction that processes them, so a redelivery is recognized and dropped.
//
// Edge:
//   auto inbox = jobs::Inbox::Create(pool, {.table = "edge.inbox_events"});
//   absl::StatusOr<jobs::StoredEvent> stored = (*inbox)->Store({.provider = "telegram:" + bot_id,
//       .provider_event_id = update_id, .payload = body, .payload_json = body});
//   if (!stored.ok()) return 503;          // not stored: let the provider retry
//   relay.Wake();                          // deliver it now
//   return 200;                            // stored (or a duplicate): never make the provider retry
//
//   auto relay = jobs::InboxRelay::Create(pool, {.table = "edge.inbox_events"},
//       [&](const jobs::InboxMessage& e) { return ForwardToService(e); });     // absl::Status
//
// Receiving service (the event and its effect in one transaction, exactly once):
//   absl::StatusOr<bool> first = inbox.ReceiveOnce(event, [&](pg::Transaction& txn) {
//     return ApplyEvent(txn, event);           // the effect, in the same transaction
//   });
//   if (!first.ok()) return first.status();    // nothing committed: the sender retries
//   return OK;                                 // applied now (true) or seen before (false): acknowledge
//
// A duplicate is counted in duplicate_inbox_dropped_total and never delivered again. Relay outcomes:
// OK or ALREADY_EXISTS -> delivered; a permanent error (retry.h) -> ignored (processed, not delivered);
// anything else -> retried with back-off, without limit unless max_attempts is set.
#pragma once

#include <cstdint>
#include <functional>
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
#include "libs/jobs/states.h"
#include "libs/kernel/metrics.h"
#include "libs/pg/pool.h"

namespace protectogram::jobs {

struct InboxEvent {
  std::string provider;                     // "telegram:<bot_id>", "telnyx", "twilio", "whatsapp"
  std::string provider_event_id;            // update_id, event id, MessageSid, ...
  std::string payload;                      // the raw body, byte for byte
  std::optional<std::string> payload_json;  // the body when it is JSON (must be valid JSON)
  std::optional<std::string> headers_json;  // a JSON object of the headers worth keeping (never secrets)
};

struct StoredEvent {
  int64_t id = 0;          // the event's row (the existing one for a duplicate; 0 if it vanished meanwhile)
  bool duplicate = false;  // it was there already: do not process it again
};

struct InboxMessage {
  int64_t id = 0;
  std::string provider;
  std::string provider_event_id;
  std::string payload;
  std::optional<std::string> payload_json;
  std::string headers_json;
  InboxStatus status = InboxStatus::kReceived;
  int attempts = 0;  // deliveries so far, the current one included
  std::string last_error;
  absl::Time received_at = absl::InfinitePast();
  // Set on a claimed event.
  absl::Time due_at = absl::InfinitePast();
  int64_t lease_token = 0;
};

struct InboxOptions {
  std::string table;                           // "edge.inbox_events"
  kernel::MetricsRegistry* metrics = nullptr;  // nullptr: kernel::DefaultMetrics()
};

class Inbox {
 public:
  // INVALID_ARGUMENT for a malformed table name. The pool must outlive the inbox.
  static absl::StatusOr<std::unique_ptr<Inbox>> Create(pg::Pool& pool, InboxOptions options);

  // Stores one event (its own statement: durable when this returns OK). INVALID_ARGUMENT for an empty
  // provider or event id, or payload_json/headers_json that are not JSON; errors of pg otherwise.
  absl::StatusOr<StoredEvent> Store(const InboxEvent& event);
  // Stores it inside the caller's transaction. `handled`: the caller processes it in this transaction, so it
  // is stored as delivered and processed (the relay never picks it up).
  absl::StatusOr<StoredEvent> Store(pg::Transaction& txn, const InboxEvent& event, bool handled = false);

  using Effect = std::function<absl::Status(pg::Transaction& txn)>;
  // Receives an event exactly once in effect. In one new transaction: stores `event` as handled, runs
  // `effect` (may be null: only the event is recorded), commits. Returns true if the effect ran and
  // committed, false if (provider, provider_event_id) was stored before (the effect did not run, nothing
  // changes: acknowledge it). A concurrent receipt of the same event waits for the other transaction: false
  // if it commits, true if it rolls back. INVALID_ARGUMENT for an empty provider or event id. An error from
  // `effect` is returned and nothing is committed (the event stays unstored, so a resend applies it then). A
  // lost serialization race or deadlock (ABORTED) is retried up to 3 times. UNAVAILABLE from the commit
  // means the outcome is unknown: the sender retries, and the retry answers false if the first committed.
  absl::StatusOr<bool> ReceiveOnce(const InboxEvent& event, const Effect& effect);
  // Many events in one INSERT ... ON CONFLICT DO NOTHING (one round trip, one commit). Results are in input
  // order; a repeat within the batch is a duplicate of its first occurrence.
  absl::StatusOr<std::vector<StoredEvent>> StoreBatch(const std::vector<InboxEvent>& events);
  absl::StatusOr<std::vector<StoredEvent>> StoreBatch(pg::Transaction& txn,
                                                      const std::vector<InboxEvent>& events);

  // For a consumer that delivered events itself (not through the relay).
  absl::Status MarkDelivered(const std::vector<int64_t>& ids);
  // The caller processed an event it stored (handled=false) itself.
  absl::Status MarkProcessed(pg::Transaction& txn, int64_t id);
  // Delivers an event again (admin replay). NOT_FOUND if there is no such event.
  absl::Status Replay(int64_t id);
  // NOT_FOUND if there is no such event.
  absl::StatusOr<InboxMessage> Get(int64_t id);

  const std::string& table() const { return table_; }

 private:
  Inbox(pg::Pool& pool, InboxOptions options);
  template <typename Db>
  absl::StatusOr<StoredEvent> StoreOn(Db& db, const InboxEvent& event, bool handled);
  template <typename Db>
  absl::StatusOr<std::vector<StoredEvent>> StoreBatchOn(Db& db, const std::vector<InboxEvent>& events);

  pg::Pool& pool_;
  const std::string table_;
  kernel::Counter& duplicates_;
  internal::BoundQuery store_, id_by_key_, store_batch_, ids_by_keys_, mark_delivered_, mark_processed_,
      replay_, by_id_;
};

// Delivers one event to its consumer; see the file comment for what the returned status means.
using InboxDeliverFn = std::function<absl::Status(const InboxMessage& event)>;

struct InboxRelayOptions {
  std::string table;       // "edge.inbox_events"
  std::string listen_url;  // "" (default): no LISTEN; Inbox::Store does not NOTIFY. Wake() after storing.
  int threads = 2;         // parallel deliveries
  int batch_size = 32;
  absl::Duration lease = absl::Seconds(30);  // delivery functions must time out well within it
  RetryPolicy retry = RetryPolicy::Exponential(absl::Milliseconds(500), absl::Seconds(30));
  int max_attempts = 0;  // 0: retry until delivered
  // Finds events stored by other replicas (or left by a crash) without a Wake().
  absl::Duration rescan_interval = absl::Seconds(5);
  kernel::MetricsRegistry* metrics = nullptr;
  Clock* clock = nullptr;
};

class InboxRelay {
 public:
  // INVALID_ARGUMENT for a malformed table name, a null deliver function, or threads/batch_size < 1.
  static absl::StatusOr<std::unique_ptr<InboxRelay>> Create(pg::Pool& pool, InboxRelayOptions options,
                                                            InboxDeliverFn deliver);
  ~InboxRelay();  // Stop()
  InboxRelay(const InboxRelay&) = delete;
  InboxRelay& operator=(const InboxRelay&) = delete;

  absl::Status Start();
  void Stop();
  // An event was just stored in this process: deliver it now.
  void Wake();

 private:
  InboxRelay(pg::Pool& pool, InboxRelayOptions options, InboxDeliverFn deliver);
  absl::StatusOr<internal::ClaimBatch<InboxMessage>> Claim(int limit);
  bool Process(InboxMessage& event);
  absl::Status MarkDelivered(std::vector<InboxMessage>& events);
  absl::Status Release(std::vector<InboxMessage>& events);

  pg::Pool& pool_;
  InboxRelayOptions options_;
  const std::string table_;
  InboxDeliverFn deliver_;
  kernel::MetricsRegistry& metrics_;
  std::unique_ptr<internal::Engine<InboxMessage>> engine_;
  internal::BoundQuery claim_, mark_delivered_, fail_, release_;
};

}  // namespace protectogram::jobs
