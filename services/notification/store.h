// The notification service's reads and writes beyond the outbox itself (queries.h): listing deliveries,
// the dead-letter window, edits' order, the bots' usernames.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/jobs/states.h"
#include "libs/pg/pool.h"

namespace protectogram::notification {

// One row of notification.outbox_messages.
struct StoredDelivery {
  int64_t id = 0;
  std::string idempotency_key;
  std::string channel;
  std::string payload_json;
  jobs::OutboxStatus status = jobs::OutboxStatus::kPending;
  int attempts = 0;
  std::string last_error;
  std::string receipt_json;
  absl::Time created_at = absl::InfinitePast();
  absl::Time updated_at = absl::InfinitePast();
};

struct DeliveryFilter {
  std::string chat_id;                       // "" = any
  std::optional<jobs::OutboxStatus> status;  // nullopt = any
  std::optional<absl::Time> created_after, created_before;
  int limit = 100;
};

struct DeadLetterWindow {
  int64_t dead = 0;      // dead letters in the window
  bool alerted = false;  // an alert was already queued in it
};

class Store {
 public:
  explicit Store(pg::Pool& pool) : pool_(pool) {}

  // Whether the request stored under `key` equals `request_json` (NOT_FOUND when there is none).
  absl::StatusOr<bool> SameRequest(const std::string& key, const std::string& request_json);
  absl::StatusOr<std::vector<StoredDelivery>> ListDeliveries(const DeliveryFilter& filter);
  absl::StatusOr<std::vector<StoredDelivery>> ListDeadLetters(int limit);
  absl::StatusOr<bool> LaterEditApplied(const std::string& target_key, int64_t edit_id);
  // In `txn`: takes the alert lock (released at commit) and reads the window.
  absl::StatusOr<DeadLetterWindow> LockDeadLetterWindow(pg::Transaction& txn, absl::Duration window);
  absl::StatusOr<int64_t> CountDeadLetters();
  absl::Status UpsertBot(const std::string& bot_id, const std::string& username, int64_t telegram_id);
  absl::StatusOr<std::map<std::string, std::string>> BotUsernames();

 private:
  pg::Pool& pool_;
};

}  // namespace protectogram::notification
