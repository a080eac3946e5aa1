// The telephony service's statements on its schema (the outbox's and the jobs' are in libs/jobs/queries.h).
// Every call is a row of telephony.call_attempts keyed by attempt_key; its history is telephony.call_events.
#pragma once

#include "libs/pg/query.h"

namespace protectogram::telephony::queries {

#define PROTECTOGRAM_US(col) "(extract(epoch FROM " col ") * 1000000)::bigint AS " col "_us"
#define PROTECTOGRAM_CALL_COLUMNS \
  "id, call_id::text AS call_id, attempt_key, coalesce(incident_id, 0) AS incident_id, attempt_no, " \
  "to_e164, " \
  "coalesce(provider, '') AS provider, coalesce(provider_call_id, '') AS provider_call_id, state, "          \
  "coalesce(dtmf_received, '') AS digits, coalesce(duration_sec, 0) AS duration_sec, "                       \
  "coalesce(failure_reason, '') AS failure_reason, correlation_id, report_service, report_key, "             \
  "requested_by, speak_text, language, valid_digits, prompt_repeats, ring_timeout_sec, caller_id, "          \
  "dialplan_context, dialplan_extension, dialplan_priority, array_to_string(providers, ',') AS providers, "   \
  "provider_index, dial_key, machine_detected, coalesce(outcome, '') AS outcome, " PROTECTOGRAM_US(          \
      "created_at") ", " PROTECTOGRAM_US("dialed_at") ", " PROTECTOGRAM_US("answered_at") ", " PROTECTOGRAM_US( \
      "ended_at") ", " PROTECTOGRAM_US("dial_started_at")

// A new call: $1 attempt_key .. see Store::Insert for the order. Nothing when the key exists.
inline constexpr pg::Query kInsertCall{
    "telephony_insert_call",
    "INSERT INTO telephony.call_attempts (attempt_key, incident_id, attempt_no, "
    "to_e164, correlation_id, report_service, report_key, requested_by, "
    "speak_text, language, valid_digits, prompt_repeats, ring_timeout_sec, "
    "caller_id, dialplan_context, dialplan_extension, dialplan_priority, "
    "providers) "
    "VALUES ($1, NULLIF($2::bigint, 0), $3, $4, $5, $6, $7, $8, $9, $10, $11, "
    "$12, $13, $14, $15, $16, $17, string_to_array(NULLIF($18, ''), ',')) "
    "ON CONFLICT (attempt_key) DO NOTHING "
    "RETURNING " PROTECTOGRAM_CALL_COLUMNS};

inline constexpr pg::Query kCallByKey{"telephony_call_by_key",
                                      "SELECT " PROTECTOGRAM_CALL_COLUMNS
                                      " FROM telephony.call_attempts WHERE attempt_key = $1"};
inline constexpr pg::Query kLockCallByKey{"telephony_lock_call_by_key",
                                          "SELECT " PROTECTOGRAM_CALL_COLUMNS
                                          " FROM telephony.call_attempts WHERE attempt_key = $1 FOR UPDATE"};
inline constexpr pg::Query kCallById{"telephony_call_by_id",
                                     "SELECT " PROTECTOGRAM_CALL_COLUMNS
                                     " FROM telephony.call_attempts WHERE call_id = $1::uuid"};

// The call an event belongs to, locked: by our attempt key echoed back (Telnyx client_state, ARI appArgs), else
// by the provider's call id, else (ARI) by our channel id. Three index lookups, not one OR over the table:
// each branch is planned with its parameters (unnamed statements), so an empty one costs nothing.
inline constexpr pg::Query kLockCallForEvent{"telephony_lock_call_for_event",
                                             "SELECT " PROTECTOGRAM_CALL_COLUMNS
                                             " FROM telephony.call_attempts WHERE id = ("
                                             "SELECT id FROM ("
                                             "  SELECT id, 0 AS rank FROM telephony.call_attempts"
                                             "   WHERE $1 <> '' AND attempt_key = $1"
                                             "  UNION ALL SELECT id, 1 FROM telephony.call_attempts"
                                             "   WHERE $3 <> '' AND provider = $2 AND provider_call_id = $3"
                                             "  UNION ALL SELECT id, 2 FROM telephony.call_attempts"
                                             "   WHERE $3 <> '' AND dial_key = $3) found"
                                             " ORDER BY rank LIMIT 1) FOR UPDATE"};

// Writes back what a decision changed ($1 attempt_key, $2 state, ...: Store::UpdateWithHistory) and adds the
// decision's history entry in the same statement: $16 source, $17 kind, $18 state before, $19 detail (the
// state after is $2).
inline constexpr pg::Query kUpdateCallWithHistory{"telephony_update_call_with_history", R"sql(
WITH updated AS (
UPDATE telephony.call_attempts SET
  state = $2, provider = NULLIF($3, ''), provider_call_id = NULLIF($4, ''), dtmf_received = NULLIF($5, ''),
  machine_detected = $6, outcome = NULLIF($7, ''), failure_reason = NULLIF($8, ''), provider_index = $9,
  dial_key = $10,
  dial_started_at = CASE WHEN $11 THEN coalesce(dial_started_at, now()) WHEN $12 THEN NULL ELSE dial_started_at END,
  dialed_at = CASE WHEN $11 THEN coalesce(dialed_at, now()) ELSE dialed_at END,
  answered_at = CASE WHEN $13 THEN coalesce(answered_at, now()) ELSE answered_at END,
  ended_at = CASE WHEN $14 THEN coalesce(ended_at, now()) ELSE ended_at END,
  outcome_at = CASE WHEN $7 <> '' THEN coalesce(outcome_at, now()) ELSE outcome_at END,
  billable = billable AND NOT $15,
  result = NULLIF($7, ''),
  duration_sec = CASE WHEN $14 AND ended_at IS NULL
                      THEN coalesce(extract(epoch FROM now() - answered_at)::int, 0) ELSE duration_sec END,
  updated_at = now()
 WHERE attempt_key = $1
RETURNING id)
INSERT INTO telephony.call_events (attempt_id, source, kind, state_before, state_after, detail)
SELECT id, $16, $17, $18, $2, $19::jsonb FROM updated)sql"};

inline constexpr pg::Query kAddHistory{"telephony_add_history", R"sql(
INSERT INTO telephony.call_events (attempt_id, source, kind, state_before, state_after, detail)
VALUES ($1, $2, $3, $4, $5, $6::jsonb))sql"};

inline constexpr pg::Query kHistory{"telephony_history",
                                    "SELECT " PROTECTOGRAM_US("at") ", source, kind, state_before, state_after, "
                                    "detail::text AS detail FROM telephony.call_events WHERE attempt_id = $1 "
                                    "ORDER BY id"};

// Serializes the spend-cap check and the insert of every new call (transaction-scoped: pooler-safe).
inline constexpr pg::Query kLockSpend{"telephony_lock_spend",
                                      "SELECT pg_advisory_xact_lock(hashtext('telephony.spend'))"};

// HangupAll closes its correlation for good ($1): PlaceCall and HangupAll of one correlation take this lock in
// turn, so a call whose PlaceCall races past HangupAll is either hung up by it or refused after it.
inline constexpr pg::Query kLockCorrelation{
    "telephony_lock_correlation", "SELECT pg_advisory_xact_lock(hashtext('telephony.correlation:' || $1))"};
inline constexpr pg::Query kCloseCorrelation{"telephony_close_correlation", R"sql(
INSERT INTO telephony.closed_correlations (correlation_id) VALUES ($1) ON CONFLICT DO NOTHING)sql"};
inline constexpr pg::Query kCorrelationClosed{"telephony_correlation_closed", R"sql(
SELECT EXISTS (SELECT 1 FROM telephony.closed_correlations WHERE correlation_id = $1) AS closed)sql"};

// What billable calls other than $1 spent in the last hour and day: an ended call its time from dial to
// hangup, a live one its whole ring timeout.
inline constexpr pg::Query kSpend{"telephony_spend", R"sql(
SELECT count(*) FILTER (WHERE created_at > now() - interval '1 hour') AS calls_hour,
       count(*) AS calls_day,
       coalesce(sum(ring_s) FILTER (WHERE created_at > now() - interval '1 hour'), 0)::bigint AS ring_hour,
       coalesce(sum(ring_s), 0)::bigint AS ring_day
  FROM (SELECT created_at,
               CASE WHEN ended_at IS NOT NULL
                    THEN greatest(0, extract(epoch FROM ended_at - coalesce(dialed_at, ended_at)))::bigint
                    ELSE ring_timeout_sec END AS ring_s
          FROM telephony.call_attempts
         WHERE billable AND created_at > now() - interval '1 day' AND id <> $1) recent)sql"};

// The live calls of a correlation, locked, for HangupAll.
inline constexpr pg::Query kLiveCallsOf{"telephony_live_calls_of", R"sql(
SELECT attempt_key FROM telephony.call_attempts
 WHERE correlation_id = $1 AND state IN ('pending', 'dialing', 'ringing', 'answered')
 ORDER BY id FOR UPDATE)sql"};

// Calls newest first: $1 state ('' any), $2 correlation ('' any), $3 number ('' any), $4 created after (us,
// NULL open), $5 limit.
inline constexpr pg::Query kListCalls{"telephony_list_calls",
                                      "SELECT " PROTECTOGRAM_CALL_COLUMNS
                                      " FROM telephony.call_attempts"
                                      " WHERE ($1 = '' OR state = $1) AND ($2 = '' OR correlation_id = $2)"
                                      "   AND ($3 = '' OR to_e164 = $3)"
                                      "   AND ($4::bigint IS NULL OR created_at > timestamptz 'epoch' + "
                                      "$4::bigint * interval '1 microsecond')"
                                      " ORDER BY id DESC LIMIT $5"};

#undef PROTECTOGRAM_CALL_COLUMNS
#undef PROTECTOGRAM_US

}  // namespace protectogram::telephony::queries
