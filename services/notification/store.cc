#include "services/notification/store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "services/notification/queries.h"

namespace protectogram::notification {
namespace {

std::vector<StoredDelivery> Deliveries(const pg::Result& r) {
  std::vector<StoredDelivery> out;
  out.reserve(r.size());
  for (const pg::Row& row : r) {
    StoredDelivery d;
    d.id = row.Get<int64_t>("id");
    d.idempotency_key = row.Get<std::string>("idempotency_key");
    d.channel = row.Get<std::string>("channel");
    d.payload_json = row.Get<std::string>("payload_json");
    d.status = jobs::ParseOutboxStatus(row.Get<std::string>("status")).value_or(jobs::OutboxStatus::kPending);
    d.attempts = row.Get<int32_t>("attempts");
    d.last_error = row.GetOptional<std::string>("last_error").value_or("");
    d.receipt_json = row.GetOptional<std::string>("receipt").value_or("");
    d.created_at = absl::FromUnixMicros(row.Get<int64_t>("created_us"));
    d.updated_at = absl::FromUnixMicros(row.Get<int64_t>("updated_us"));
    out.push_back(std::move(d));
  }
  return out;
}

std::optional<int64_t> Micros(const std::optional<absl::Time>& t) {
  if (!t.has_value()) return std::nullopt;
  return absl::ToUnixMicros(*t);
}

}  // namespace

absl::StatusOr<bool> Store::SameRequest(const std::string& key, const std::string& request_json) {
  absl::StatusOr<pg::Result> r = pool_.Execute(queries::kSameRequest, {key, request_json});
  if (!r.ok()) return r.status();
  if (r->empty()) return absl::NotFoundError(absl::StrCat("no delivery with key ", key));
  return r->front().GetOptional<bool>("same").value_or(false);
}

absl::StatusOr<std::vector<StoredDelivery>> Store::ListDeliveries(const DeliveryFilter& f) {
  absl::StatusOr<pg::Result> r =
      pool_.Execute(queries::kListDeliveries,
                    {f.chat_id, f.status.has_value() ? std::string(jobs::Name(*f.status)) : std::string(),
                     Micros(f.created_after), Micros(f.created_before), std::clamp(f.limit, 1, 1000)});
  if (!r.ok()) return r.status();
  return Deliveries(*r);
}

absl::StatusOr<std::vector<StoredDelivery>> Store::ListDeadLetters(int limit) {
  absl::StatusOr<pg::Result> r = pool_.Execute(queries::kListDeadLetters, {std::clamp(limit, 1, 1000)});
  if (!r.ok()) return r.status();
  return Deliveries(*r);
}

absl::StatusOr<bool> Store::LaterEditApplied(const std::string& target_key, int64_t edit_id) {
  absl::StatusOr<pg::Result> r = pool_.Execute(queries::kLaterEditApplied, {target_key, edit_id});
  if (!r.ok()) return r.status();
  return r->front().Get<bool>("later");
}

absl::StatusOr<DeadLetterWindow> Store::LockDeadLetterWindow(pg::Transaction& txn, absl::Duration window) {
  if (absl::StatusOr<pg::Result> lock = txn.Execute(queries::kLockDeadLetterAlert); !lock.ok()) {
    return lock.status();
  }
  absl::StatusOr<pg::Result> r = txn.Execute(queries::kDeadLetterWindow, {absl::ToInt64Microseconds(window)});
  if (!r.ok()) return r.status();
  return DeadLetterWindow{r->front().Get<int64_t>("dead"), r->front().Get<bool>("alerted")};
}

absl::StatusOr<int64_t> Store::CountDeadLetters() {
  absl::StatusOr<pg::Result> r = pool_.Execute(queries::kCountDeadLetters);
  if (!r.ok()) return r.status();
  return r->front().Get<int64_t>("dead");
}

absl::Status Store::UpsertBot(const std::string& bot_id, const std::string& username, int64_t telegram_id) {
  return pool_.Execute(queries::kUpsertBot, {bot_id, username, telegram_id}).status();
}

absl::StatusOr<std::map<std::string, std::string>> Store::BotUsernames() {
  absl::StatusOr<pg::Result> r = pool_.Execute(queries::kListBots);
  if (!r.ok()) return r.status();
  std::map<std::string, std::string> out;
  for (const pg::Row& row : *r) out[row.Get<std::string>("bot_id")] = row.Get<std::string>("username");
  return out;
}

}  // namespace protectogram::notification
