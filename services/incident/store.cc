#include "services/incident/store.h"

#include <google/protobuf/util/time_util.h>

#include <boost/json.hpp>

#include "absl/strings/str_cat.h"
#include "libs/kernel/log.h"
#include "services/incident/queries.h"

namespace protectogram::incident {
namespace {

UserRow ToUser(const pg::Row& row) {
  return UserRow{.id = row.Get<int64_t>("id"),
                 .telegram_id = row.GetOptional<int64_t>("telegram_id").value_or(0),
                 .name = row.Get<std::string>("display_name"),
                 .phone_e164 = row.Get<std::string>("phone"),
                 .locale = row.Get<std::string>("locale"),
                 .bot_id = row.Get<std::string>("bot_id"),
                 .chat_id = row.Get<std::string>("chat_id"),
                 .registered = row.Get<bool>("registered")};
}

core::Guardian ToGuardian(const pg::Row& row) {
  return core::Guardian{
      .person = core::Person{.user_id = row.Get<int64_t>("watcher_user_id"),
                             .name = row.Get<std::string>("display_name"),
                             .phone_e164 = row.Get<std::string>("phone"),
                             .bot_id = row.Get<std::string>("bot_id"),
                             .chat_id = row.Get<std::string>("chat_id"),
                             .locale = row.Get<std::string>("locale")},
      .link_id = row.Get<int64_t>("link_id"),
      .call_priority = row.Get<int32_t>("call_priority"),
      .telegram_enabled = row.Get<bool>("telegram_enabled"),
      .calls_enabled = row.Get<bool>("calls_enabled"),
      .policy = core::Policy{.ring_timeout = absl::Seconds(row.Get<int32_t>("ring_timeout_sec")),
                             .max_retries = row.Get<int32_t>("max_retries"),
                             .retry_backoff = absl::Seconds(row.Get<int32_t>("retry_backoff_sec"))}};
}

v1::Link ToLink(const pg::Row& row) {
  v1::Link l;
  l.set_id(row.Get<int64_t>("id"));
  l.set_traveler_user_id(row.Get<int64_t>("traveler_user_id"));
  l.set_watcher_user_id(row.Get<int64_t>("watcher_user_id"));
  l.set_watcher_name(row.Get<std::string>("watcher_name"));
  l.set_status(row.Get<std::string>("status"));
  l.set_call_priority(row.Get<int32_t>("call_priority"));
  l.set_ring_timeout_sec(row.Get<int32_t>("ring_timeout_sec"));
  l.set_max_retries(row.Get<int32_t>("max_retries"));
  l.set_retry_backoff_sec(row.Get<int32_t>("retry_backoff_sec"));
  l.set_telegram_enabled(row.Get<bool>("telegram_enabled"));
  l.set_calls_enabled(row.Get<bool>("calls_enabled"));
  return l;
}

void SetTime(google::protobuf::Timestamp* ts, int64_t us) {
  *ts = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(us);
}

v1::IncidentStatus ToProtoStatus(std::string_view status) {
  if (status == "active") return v1::INCIDENT_STATUS_ACTIVE;
  if (status == "acknowledged") return v1::INCIDENT_STATUS_ACKNOWLEDGED;
  if (status == "canceled") return v1::INCIDENT_STATUS_CANCELED;
  if (status == "escalated") return v1::INCIDENT_STATUS_ESCALATED;
  return v1::INCIDENT_STATUS_UNSPECIFIED;
}

// The status column's value of a status filter ("" = any).
std::string StatusColumn(v1::IncidentStatus status) {
  switch (status) {
    case v1::INCIDENT_STATUS_ACTIVE:
      return "active";
    case v1::INCIDENT_STATUS_ACKNOWLEDGED:
      return "acknowledged";
    case v1::INCIDENT_STATUS_CANCELED:
      return "canceled";
    case v1::INCIDENT_STATUS_ESCALATED:
      return "escalated";
    default:
      return "";
  }
}

v1::Incident ToIncident(const pg::Row& row, bool with_state) {
  v1::Incident i;
  i.set_id(row.Get<int64_t>("id"));
  i.set_traveler_user_id(row.Get<int64_t>("traveler_user_id"));
  i.set_traveler_name(row.Get<std::string>("traveler_name"));
  i.set_status(ToProtoStatus(row.Get<std::string>("status")));
  i.set_is_test(row.Get<bool>("is_test"));
  SetTime(i.mutable_created_at(), row.Get<int64_t>("created_us"));
  if (std::optional<int64_t> ended = row.GetOptional<int64_t>("ended_us"))
    SetTime(i.mutable_ended_at(), *ended);
  i.set_acknowledged_by_user_id(row.Get<int64_t>("acknowledged_by"));
  i.set_acknowledged_by_name(row.Get<std::string>("ack_name"));
  i.set_total_ring_sec(row.Get<int32_t>("total_ring_sec"));
  i.set_correlation_id(row.Get<std::string>("correlation_id"));
  const std::string state = row.Get<std::string>("state");
  if (absl::StatusOr<core::Incident> inc = core::FromJson(state); inc.ok()) {
    i.set_round(inc->round);
    i.set_calls_placed(static_cast<int32_t>(inc->calls.size()));
  }
  if (with_state) i.set_state_json(state);
  return i;
}

// The first row's bigint `column`, or nullopt for no row.
absl::StatusOr<std::optional<int64_t>> FirstId(absl::StatusOr<pg::Result> r, std::string_view column = "id") {
  if (!r.ok()) return r.status();
  if (r->empty()) return std::optional<int64_t>();
  return std::optional<int64_t>(r->front().Get<int64_t>(column));
}

// The `id` column of every row.
absl::StatusOr<std::vector<int64_t>> Ids(absl::StatusOr<pg::Result> r) {
  if (!r.ok()) return r.status();
  std::vector<int64_t> ids;
  for (const pg::Row& row : *r) ids.push_back(row.Get<int64_t>("id"));
  return ids;
}

absl::StatusOr<std::optional<UserRow>> FirstUser(absl::StatusOr<pg::Result> r) {
  if (!r.ok()) return r.status();
  if (r->empty()) return std::optional<UserRow>();
  return std::optional<UserRow>(ToUser(r->front()));
}

std::string DetailJson(const std::map<std::string, std::string>& detail) {
  boost::json::object o;
  for (const auto& [k, v] : detail) o[k] = v;
  return boost::json::serialize(o);
}

}  // namespace

core::Person UserRow::person() const {
  return core::Person{.user_id = id,
                      .name = name,
                      .phone_e164 = phone_e164,
                      .bot_id = bot_id,
                      .chat_id = chat_id,
                      .locale = locale};
}

// ---- Conversations ---------------------------------------------------------------------------------------

absl::StatusOr<std::string> Store::LockConversation(pg::Transaction& txn, const std::string& bot_id,
                                                    const std::string& chat_id) {
  absl::StatusOr<pg::Result> r = txn.Execute(queries::kLockConversation, {bot_id, chat_id});
  if (!r.ok()) return r.status();
  return r->front().Get<std::string>("state");
}

absl::Status Store::SaveConversation(pg::Transaction& txn, const std::string& bot_id,
                                     const std::string& chat_id, const std::string& state_json) {
  return txn.Execute(queries::kSaveConversation, {bot_id, chat_id, state_json}).status();
}

// ---- Users and links -------------------------------------------------------------------------------------

absl::StatusOr<std::optional<UserRow>> Store::UserById(pg::Transaction& txn, int64_t id) {
  return FirstUser(txn.Execute(queries::kUserById, {id}));
}

absl::StatusOr<std::optional<UserRow>> Store::UserByTelegramId(pg::Transaction& txn, int64_t telegram_id) {
  return FirstUser(txn.Execute(queries::kUserByTelegramId, {telegram_id}));
}

absl::StatusOr<int64_t> Store::UpsertUser(pg::Transaction& txn, int64_t telegram_id, const std::string& name,
                                          const std::string& phone_e164, const std::string& locale,
                                          const std::string& bot_id, const std::string& chat_id) {
  absl::StatusOr<pg::Result> r =
      txn.Execute(queries::kUpsertUser, {telegram_id, name, phone_e164, locale, bot_id, chat_id});
  if (!r.ok()) return r.status();
  return r->front().Get<int64_t>("id");
}

absl::StatusOr<std::vector<core::Guardian>> Store::GuardiansOf(pg::Transaction& txn,
                                                               int64_t traveler_user_id) {
  absl::StatusOr<pg::Result> r = txn.Execute(queries::kGuardiansOf, {traveler_user_id});
  if (!r.ok()) return r.status();
  std::vector<core::Guardian> out;
  for (const pg::Row& row : *r) out.push_back(ToGuardian(row));
  return out;
}

absl::StatusOr<bool> Store::IsGuardian(pg::Transaction& txn, int64_t traveler_user_id,
                                       int64_t guardian_user_id) {
  absl::StatusOr<pg::Result> r = txn.Execute(queries::kIsGuardian, {traveler_user_id, guardian_user_id});
  if (!r.ok()) return r.status();
  return r->front().Get<bool>("yes");
}

absl::StatusOr<int64_t> Store::UpsertLink(pg::Transaction& txn, int64_t traveler_user_id,
                                          int64_t guardian_user_id, const core::Policy& p) {
  absl::StatusOr<std::optional<int64_t>> id = FirstId(txn.Execute(
      queries::kUpsertLink, {traveler_user_id, guardian_user_id, absl::ToInt64Seconds(p.ring_timeout),
                             p.max_retries, absl::ToInt64Seconds(p.retry_backoff)}));
  if (!id.ok()) return id.status();
  return id->value_or(0);
}

absl::Status Store::SetLinkPriority(pg::Transaction& txn, int64_t link_id, int priority) {
  return txn.Execute(queries::kSetLinkPriority, {link_id, priority}).status();
}

absl::StatusOr<std::optional<int64_t>> Store::RemoveLink(pg::Transaction& txn, int64_t link_id,
                                                         int64_t traveler_user_id) {
  return FirstId(txn.Execute(queries::kRemoveLink, {link_id, traveler_user_id}), "watcher_user_id");
}

// ---- Invites ---------------------------------------------------------------------------------------------

absl::Status Store::InsertInvite(pg::Transaction& txn, const std::string& token, int64_t traveler_user_id,
                                 absl::Duration ttl) {
  return txn.Execute(queries::kInsertInvite, {token, traveler_user_id, absl::ToInt64Seconds(ttl)}).status();
}

absl::StatusOr<std::optional<InviteRow>> Store::InviteByToken(pg::Transaction& txn,
                                                              const std::string& token) {
  absl::StatusOr<pg::Result> r = txn.Execute(queries::kInviteByToken, {token});
  if (!r.ok()) return r.status();
  if (r->empty()) return std::optional<InviteRow>();
  const pg::Row& row = r->front();
  return std::optional<InviteRow>(InviteRow{.token = token,
                                            .traveler_user_id = row.Get<int64_t>("traveler_user_id"),
                                            .traveler_name = row.Get<std::string>("traveler_name"),
                                            .expired = row.Get<bool>("expired"),
                                            .used = row.Get<bool>("used")});
}

absl::StatusOr<std::optional<int64_t>> Store::UseInvite(pg::Transaction& txn, const std::string& token,
                                                        int64_t guardian_user_id) {
  return FirstId(txn.Execute(queries::kUseInvite, {token, guardian_user_id}), "traveler_user_id");
}

// ---- Incidents -------------------------------------------------------------------------------------------

absl::StatusOr<std::optional<int64_t>> Store::InsertIncident(pg::Transaction& txn, int64_t traveler_user_id,
                                                             bool is_test) {
  return FirstId(txn.Execute(queries::kInsertIncident, {traveler_user_id, is_test}));
}

absl::StatusOr<std::optional<int64_t>> Store::ActiveIncidentOf(pg::Transaction& txn,
                                                               int64_t traveler_user_id) {
  return FirstId(txn.Execute(queries::kActiveIncidentOf, {traveler_user_id}));
}

absl::StatusOr<std::optional<int64_t>> Store::OpenIncidentOf(pg::Transaction& txn, int64_t traveler_user_id) {
  return FirstId(txn.Execute(queries::kOpenIncidentOf, {traveler_user_id}));
}

absl::StatusOr<std::optional<std::string>> Store::LockIncident(pg::Transaction& txn, int64_t id) {
  absl::StatusOr<pg::Result> r = txn.Execute(queries::kLockIncident, {id});
  if (!r.ok()) return r.status();
  if (r->empty()) return std::optional<std::string>();
  return std::optional<std::string>(r->front().Get<std::string>("state"));
}

absl::StatusOr<absl::Duration> Store::SaveIncident(pg::Transaction& txn, const core::Incident& inc) {
  absl::StatusOr<std::optional<int64_t>> age_us =
      FirstId(txn.Execute(queries::kSaveIncident,
                          {inc.id, core::ToJson(inc), std::string(core::StatusName(inc.status)),
                           inc.correlation_id(), inc.acknowledged_by, absl::ToInt64Seconds(inc.ring_used)}),
              "age_us");
  if (!age_us.ok()) return age_us.status();
  if (!age_us->has_value()) return absl::NotFoundError(absl::StrCat("no incident ", inc.id));
  return absl::Microseconds(**age_us);
}

absl::StatusOr<std::optional<absl::Duration>> Store::FirstAlert(pg::Transaction& txn, int64_t id) {
  absl::StatusOr<std::optional<int64_t>> age_us = FirstId(txn.Execute(queries::kFirstAlert, {id}), "age_us");
  if (!age_us.ok()) return age_us.status();
  if (!age_us->has_value()) return std::optional<absl::Duration>();
  return std::optional<absl::Duration>(absl::Microseconds(**age_us));
}

absl::Status Store::AddTimeline(pg::Transaction& txn, int64_t id, const std::string& correlation_id,
                                const std::vector<core::TimelineEntry>& entries) {
  if (entries.empty()) return absl::OkStatus();
  std::vector<std::string> actors, whats, details;
  for (const core::TimelineEntry& e : entries) {
    actors.push_back(e.actor);
    whats.push_back(e.what);
    details.push_back(DetailJson(e.detail));
  }
  return txn.Execute(queries::kInsertTimeline, {id, correlation_id, actors, whats, details}).status();
}

absl::Status Store::DropPendingCalls(pg::Transaction& txn, int64_t id) {
  return txn.Execute(queries::kDropPendingCalls, {id}).status();
}

absl::StatusOr<std::vector<int64_t>> Store::OrphanIncidents(pg::Transaction& txn, absl::Duration grace) {
  return Ids(txn.Execute(queries::kOrphanIncidents, {absl::ToInt64Microseconds(grace)}));
}

absl::StatusOr<std::vector<int64_t>> Store::OrphanIncidents(absl::Duration grace) {
  return Ids(pool_.Execute(queries::kOrphanIncidents, {absl::ToInt64Microseconds(grace)}));
}

// ---- Test calls ------------------------------------------------------------------------------------------

absl::Status Store::InsertTestCall(pg::Transaction& txn, const std::string& attempt_key, int64_t link_id) {
  return txn.Execute(queries::kInsertTestCall, {attempt_key, link_id}).status();
}

absl::StatusOr<std::optional<TestCallLink>> Store::FinishTestCall(pg::Transaction& txn,
                                                                  const std::string& attempt_key,
                                                                  const std::string& outcome) {
  absl::StatusOr<pg::Result> r = txn.Execute(queries::kFinishTestCall, {attempt_key, outcome});
  if (!r.ok()) return r.status();
  if (r->empty()) return std::optional<TestCallLink>();
  return std::optional<TestCallLink>(
      TestCallLink{.traveler_user_id = r->front().Get<int64_t>("traveler_user_id"),
                   .guardian_user_id = r->front().Get<int64_t>("watcher_user_id")});
}

// ---- Admin views -----------------------------------------------------------------------------------------

absl::StatusOr<std::vector<v1::Incident>> Store::ListIncidents(v1::IncidentStatus status,
                                                               int64_t traveler_user_id, int limit) {
  absl::StatusOr<pg::Result> rows =
      pool_.Execute(queries::kListIncidents, {StatusColumn(status), traveler_user_id, limit});
  if (!rows.ok()) return rows.status();
  std::vector<v1::Incident> out;
  for (const pg::Row& row : *rows) out.push_back(ToIncident(row, false));
  return out;
}

absl::StatusOr<std::optional<v1::Incident>> Store::GetIncident(int64_t id) {
  absl::StatusOr<pg::Result> rows = pool_.Execute(queries::kGetIncident, {id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<v1::Incident>();
  v1::Incident incident = ToIncident(rows->front(), true);
  absl::StatusOr<pg::Result> timeline = pool_.Execute(queries::kTimeline, {id});
  if (!timeline.ok()) return timeline.status();
  for (const pg::Row& row : *timeline) {
    v1::TimelineEntry* e = incident.add_timeline();
    SetTime(e->mutable_at(), row.Get<int64_t>("at_us"));
    e->set_actor(row.Get<std::string>("actor"));
    e->set_what(row.Get<std::string>("what"));
    e->set_detail_json(row.Get<std::string>("detail"));
    e->set_correlation_id(row.Get<std::string>("correlation_id"));
  }
  return std::optional<v1::Incident>(std::move(incident));
}

absl::StatusOr<std::optional<int64_t>> Store::UserIdByTelegramId(int64_t telegram_id) {
  return FirstId(pool_.Execute(queries::kUserByTelegramId, {telegram_id}));
}

absl::StatusOr<std::vector<v1::User>> Store::ListUsers(int limit) {
  absl::StatusOr<pg::Result> rows = pool_.Execute(queries::kListUsers, {limit});
  if (!rows.ok()) return rows.status();
  std::vector<v1::User> out;
  for (const pg::Row& row : *rows) {
    const UserRow user = ToUser(row);
    v1::User u;
    u.set_id(user.id);
    u.set_telegram_id(user.telegram_id);
    u.set_display_name(user.name);
    u.set_phone_masked(kernel::MaskPhone(user.phone_e164));
    u.set_locale(user.locale);
    SetTime(u.mutable_created_at(), row.Get<int64_t>("created_us"));
    u.set_registered(user.registered);
    out.push_back(std::move(u));
  }
  return out;
}

absl::StatusOr<std::vector<v1::Link>> Store::ListLinks(int64_t traveler_user_id) {
  absl::StatusOr<pg::Result> rows = pool_.Execute(queries::kListLinks, {traveler_user_id});
  if (!rows.ok()) return rows.status();
  std::vector<v1::Link> out;
  for (const pg::Row& row : *rows) out.push_back(ToLink(row));
  return out;
}

absl::StatusOr<std::optional<v1::Link>> Store::SetLinkPolicy(const v1::SetLinkPolicyRequest& r) {
  auto opt_int = [](bool has, int32_t v) { return has ? std::optional<int64_t>(v) : std::nullopt; };
  auto opt_bool = [](bool has, bool v) { return has ? std::optional<bool>(v) : std::nullopt; };
  absl::StatusOr<pg::Result> rows = pool_.Execute(
      queries::kSetLinkPolicy, {r.link_id(), opt_int(r.has_ring_timeout_sec(), r.ring_timeout_sec()),
                                opt_int(r.has_max_retries(), r.max_retries()),
                                opt_int(r.has_retry_backoff_sec(), r.retry_backoff_sec()),
                                opt_bool(r.has_telegram_enabled(), r.telegram_enabled()),
                                opt_bool(r.has_calls_enabled(), r.calls_enabled()),
                                opt_int(r.has_call_priority(), r.call_priority())});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<v1::Link>();
  return std::optional<v1::Link>(ToLink(rows->front()));
}

}  // namespace protectogram::incident
