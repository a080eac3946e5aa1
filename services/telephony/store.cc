#include "services/telephony/store.h"

#include <algorithm>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "services/telephony/queries.h"

namespace protectogram::telephony {
namespace {

std::optional<absl::Time> Micros(const pg::Row& row, std::string_view column) {
  std::optional<int64_t> us = row.GetOptional<int64_t>(column);
  if (!us.has_value()) return std::nullopt;
  return absl::FromUnixMicros(*us);
}

CallRow ToCall(const pg::Row& row) {
  CallRow c;
  c.id = row.Get<int64_t>("id");
  c.call_id = row.Get<std::string>("call_id");
  c.attempt_key = row.Get<std::string>("attempt_key");
  c.incident_id = row.Get<int64_t>("incident_id");
  c.attempt_number = row.Get<int32_t>("attempt_no");
  c.to_e164 = row.Get<std::string>("to_e164");
  c.provider = row.Get<std::string>("provider");
  c.provider_call_id = row.Get<std::string>("provider_call_id");
  c.state = ParseCallState(row.Get<std::string>("state")).value_or(CallState::kFailed);
  c.digits = row.Get<std::string>("digits");
  c.duration_sec = row.Get<int32_t>("duration_sec");
  c.failure_reason = row.Get<std::string>("failure_reason");
  c.correlation_id = row.Get<std::string>("correlation_id");
  c.report_service = row.Get<std::string>("report_service");
  c.report_key = row.Get<std::string>("report_key");
  c.requested_by = row.Get<std::string>("requested_by");
  c.speak_text = row.Get<std::string>("speak_text");
  c.language = row.Get<std::string>("language");
  c.valid_digits = row.Get<std::string>("valid_digits");
  c.prompt_repeats = row.Get<int32_t>("prompt_repeats");
  c.ring_timeout_sec = row.Get<int32_t>("ring_timeout_sec");
  c.caller_id = row.Get<std::string>("caller_id");
  c.dialplan_context = row.Get<std::string>("dialplan_context");
  c.dialplan_extension = row.Get<std::string>("dialplan_extension");
  c.dialplan_priority = row.Get<int32_t>("dialplan_priority");
  const std::string providers = row.GetOptional<std::string>("providers").value_or("");
  if (!providers.empty()) c.providers = absl::StrSplit(providers, ',');
  c.provider_index = row.Get<int32_t>("provider_index");
  c.dial_key = row.Get<std::string>("dial_key");
  c.machine_detected = row.Get<bool>("machine_detected");
  c.outcome = ParseOutcome(row.Get<std::string>("outcome"));
  c.created_at = Micros(row, "created_at_us");
  c.dialed_at = Micros(row, "dialed_at_us");
  c.answered_at = Micros(row, "answered_at_us");
  c.ended_at = Micros(row, "ended_at_us");
  c.dial_started_at = Micros(row, "dial_started_at_us");
  return c;
}

}  // namespace

CallFacts CallRow::Facts() const {
  return CallFacts{.state = state,
                   .answered = answered_at.has_value(),
                   .machine = machine_detected,
                   .digits = digits,
                   .outcome = outcome,
                   .valid_digits = valid_digits,
                   .has_next_provider = provider_index + 1 < static_cast<int>(providers.size())};
}

absl::StatusOr<std::optional<CallRow>> Store::Insert(pg::Transaction& txn, const CallRow& c) {
  absl::StatusOr<pg::Result> r =
      txn.Execute(queries::kInsertCall,
                  {c.attempt_key, c.incident_id, c.attempt_number, c.to_e164, c.correlation_id,
                   c.report_service, c.report_key, c.requested_by, c.speak_text, c.language, c.valid_digits,
                   c.prompt_repeats, c.ring_timeout_sec, c.caller_id, c.dialplan_context,
                   c.dialplan_extension, c.dialplan_priority, absl::StrJoin(c.providers, ",")});
  if (!r.ok()) return r.status();
  if (r->empty()) return std::optional<CallRow>();
  return std::optional<CallRow>(ToCall(r->front()));
}

absl::Status Store::LockSpend(pg::Transaction& txn) { return txn.Execute(queries::kLockSpend).status(); }

absl::StatusOr<bool> Store::LockCorrelation(pg::Transaction& txn, const std::string& correlation_id,
                                            bool close) {
  if (absl::Status s = txn.Execute(queries::kLockCorrelation, {correlation_id}).status(); !s.ok()) return s;
  if (close) {
    if (absl::Status s = txn.Execute(queries::kCloseCorrelation, {correlation_id}).status(); !s.ok())
      return s;
    return true;
  }
  absl::StatusOr<pg::Result> r = txn.Execute(queries::kCorrelationClosed, {correlation_id});
  if (!r.ok()) return r.status();
  return r->front().Get<bool>("closed");
}

absl::StatusOr<SpendSoFar> Store::Spend(pg::Transaction& txn, int64_t except) {
  absl::StatusOr<pg::Result> r = txn.Execute(queries::kSpend, {except});
  if (!r.ok()) return r.status();
  const pg::Row& row = r->front();
  return SpendSoFar{.calls_hour = row.Get<int64_t>("calls_hour"),
                    .calls_day = row.Get<int64_t>("calls_day"),
                    .ring_seconds_hour = row.Get<int64_t>("ring_hour"),
                    .ring_seconds_day = row.Get<int64_t>("ring_day")};
}

absl::StatusOr<CallRow> Store::Lock(pg::Transaction& txn, const std::string& attempt_key) {
  absl::StatusOr<pg::Result> r = txn.Execute(queries::kLockCallByKey, {attempt_key});
  if (!r.ok()) return r.status();
  if (r->empty()) return absl::NotFoundError("no call with attempt key " + attempt_key);
  return ToCall(r->front());
}

absl::StatusOr<std::optional<CallRow>> Store::LockForEvent(pg::Transaction& txn, const std::string& provider,
                                                           const std::string& provider_call_id,
                                                           const std::string& client_state) {
  absl::StatusOr<pg::Result> r =
      txn.Execute(queries::kLockCallForEvent, {client_state, provider, provider_call_id});
  if (!r.ok()) return r.status();
  if (r->empty()) return std::optional<CallRow>();
  return std::optional<CallRow>(ToCall(r->front()));
}

absl::Status Store::UpdateWithHistory(pg::Transaction& txn, const CallRow& c, const CallUpdate& u,
                                      const std::string& source, const std::string& kind, CallState before,
                                      const std::string& detail_json) {
  return txn
      .Execute(queries::kUpdateCallWithHistory,
               {c.attempt_key, std::string(Name(c.state)), c.provider, c.provider_call_id, c.digits,
                c.machine_detected, c.outcome.has_value() ? std::string(Name(*c.outcome)) : std::string(),
                c.failure_reason, c.provider_index, c.dial_key, u.dial_started, u.clear_dial_start,
                u.answered, u.ended, u.not_billable, source, kind, std::string(Name(before)),
                detail_json.empty() ? std::string("{}") : detail_json})
      .status();
}

absl::Status Store::AddHistory(pg::Transaction& txn, int64_t attempt_id, const std::string& source,
                               const std::string& kind, CallState before, CallState after,
                               const std::string& detail_json) {
  return txn
      .Execute(queries::kAddHistory,
               {attempt_id, source, kind, std::string(Name(before)), std::string(Name(after)),
                detail_json.empty() ? std::string("{}") : detail_json})
      .status();
}

absl::StatusOr<std::vector<std::string>> Store::LockLiveCallsOf(pg::Transaction& txn,
                                                                const std::string& correlation_id) {
  absl::StatusOr<pg::Result> r = txn.Execute(queries::kLiveCallsOf, {correlation_id});
  if (!r.ok()) return r.status();
  std::vector<std::string> keys;
  for (const pg::Row& row : *r) keys.push_back(row.Get<std::string>("attempt_key"));
  return keys;
}

absl::StatusOr<CallRow> Store::Get(const std::string& attempt_key) {
  absl::StatusOr<pg::Result> r = pool_.Execute(queries::kCallByKey, {attempt_key});
  if (!r.ok()) return r.status();
  if (r->empty()) return absl::NotFoundError("no call with attempt key " + attempt_key);
  return ToCall(r->front());
}

absl::StatusOr<CallRow> Store::GetById(const std::string& call_id) {
  absl::StatusOr<pg::Result> r = pool_.Execute(queries::kCallById, {call_id});
  if (!r.ok()) {
    // Not a UUID: no such call.
    if (r.status().code() == absl::StatusCode::kInvalidArgument)
      return absl::NotFoundError("no call " + call_id);
    return r.status();
  }
  if (r->empty()) return absl::NotFoundError("no call " + call_id);
  return ToCall(r->front());
}

absl::StatusOr<std::vector<CallRow>> Store::List(const CallFilter& f) {
  std::optional<int64_t> after;
  if (f.created_after.has_value()) after = absl::ToUnixMicros(*f.created_after);
  absl::StatusOr<pg::Result> r =
      pool_.Execute(queries::kListCalls, {f.state.has_value() ? std::string(Name(*f.state)) : std::string(),
                                          f.correlation_id, f.to_e164, after, std::clamp(f.limit, 1, 500)});
  if (!r.ok()) return r.status();
  std::vector<CallRow> out;
  for (const pg::Row& row : *r) out.push_back(ToCall(row));
  return out;
}

absl::StatusOr<std::vector<HistoryEntry>> Store::History(int64_t attempt_id) {
  absl::StatusOr<pg::Result> r = pool_.Execute(queries::kHistory, {attempt_id});
  if (!r.ok()) return r.status();
  std::vector<HistoryEntry> out;
  for (const pg::Row& row : *r) {
    out.push_back(HistoryEntry{.at = absl::FromUnixMicros(row.Get<int64_t>("at_us")),
                               .source = row.Get<std::string>("source"),
                               .kind = row.Get<std::string>("kind"),
                               .state_before = row.Get<std::string>("state_before"),
                               .state_after = row.Get<std::string>("state_after"),
                               .detail_json = row.Get<std::string>("detail")});
  }
  return out;
}

}  // namespace protectogram::telephony
