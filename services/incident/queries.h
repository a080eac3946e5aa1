// The incident service's statements on its schema (db/migrations/0003, 0012; the inbox's, the jobs' and the
// outbox's are libs/jobs'). Times cross as integer microseconds since the epoch.
#pragma once

#include "libs/pg/query.h"

namespace protectogram::incident::queries {

// --- Conversations -----------------------------------------------------------------------------------

// The chat's state, locked until commit (the row is created on first contact): one event of a chat at a time.
inline constexpr pg::Query kLockConversation{"incident_lock_conversation", R"sql(
INSERT INTO incident.conversations (bot_id, chat_id) VALUES ($1, $2)
ON CONFLICT (bot_id, chat_id) DO UPDATE SET updated_at = incident.conversations.updated_at
RETURNING state_json::text AS state)sql"};

inline constexpr pg::Query kSaveConversation{"incident_save_conversation", R"sql(
UPDATE incident.conversations SET state_json = $3::jsonb, updated_at = now()
 WHERE bot_id = $1 AND chat_id = $2)sql"};

// --- Users, links, invites -----------------------------------------------------------------------------

#define PROTECTOGRAM_USER_COLUMNS                                                                  \
  "u.id, u.telegram_id, u.display_name, coalesce(u.phone_e164, '') AS phone, u.locale, u.bot_id, " \
  "coalesce(u.chat_id, '') AS chat_id, (u.registered_at IS NOT NULL) AS registered, "              \
  "(extract(epoch FROM u.created_at) * 1000000)::bigint AS created_us"

inline constexpr pg::Query kUserByTelegramId{"incident_user_by_telegram_id",
                                             "SELECT " PROTECTOGRAM_USER_COLUMNS
                                             " FROM incident.users u WHERE u.telegram_id = $1"};
inline constexpr pg::Query kUserById{
    "incident_user_by_id", "SELECT " PROTECTOGRAM_USER_COLUMNS " FROM incident.users u WHERE u.id = $1"};
inline constexpr pg::Query kListUsers{"incident_list_users",
                                      "SELECT " PROTECTOGRAM_USER_COLUMNS
                                      " FROM incident.users u ORDER BY u.id DESC LIMIT $1"};

// $1 telegram id, $2 name, $3 phone (E.164), $4 locale, $5 bot, $6 chat. Registers (or re-registers) the user.
inline constexpr pg::Query kUpsertUser{"incident_upsert_user", R"sql(
INSERT INTO incident.users (telegram_id, display_name, phone_e164, locale, bot_id, chat_id, registered_at)
VALUES ($1, $2, $3, $4, $5, $6, now())
ON CONFLICT (telegram_id) DO UPDATE
   SET display_name = EXCLUDED.display_name, phone_e164 = EXCLUDED.phone_e164, locale = EXCLUDED.locale,
       bot_id = EXCLUDED.bot_id, chat_id = EXCLUDED.chat_id,
       registered_at = coalesce(incident.users.registered_at, now()), updated_at = now()
RETURNING id)sql"};

// A traveler's active guardians in call order, with what the cascade needs of each.
inline constexpr pg::Query kGuardiansOf{"incident_guardians_of", R"sql(
SELECT l.id AS link_id, l.watcher_user_id, u.display_name, coalesce(u.phone_e164, '') AS phone,
       coalesce(u.chat_id, '') AS chat_id, u.bot_id, u.locale, l.call_priority, l.ring_timeout_sec,
       l.max_retries, l.retry_backoff_sec, l.telegram_enabled, l.calls_enabled
  FROM incident.member_links l JOIN incident.users u ON u.id = l.watcher_user_id
 WHERE l.traveler_user_id = $1 AND l.status = 'active'
 ORDER BY l.call_priority, l.id)sql"};

#define PROTECTOGRAM_LINK_COLUMNS                                                                            \
  "l.id, l.traveler_user_id, l.watcher_user_id, u.display_name AS watcher_name, l.status, l.call_priority, " \
  "l.ring_timeout_sec, l.max_retries, l.retry_backoff_sec, l.telegram_enabled, l.calls_enabled"

// $1 traveler (0 = every traveler).
inline constexpr pg::Query kListLinks{
    "incident_list_links", "SELECT " PROTECTOGRAM_LINK_COLUMNS
                           "  FROM incident.member_links l"
                           "  JOIN incident.users u ON u.id = l.watcher_user_id"
                           " WHERE ($1 = 0 OR l.traveler_user_id = $1)"
                           " ORDER BY l.traveler_user_id, l.status, l.call_priority, l.id LIMIT 1000"};

// $1 link, then each policy field or NULL to keep it.
inline constexpr pg::Query kSetLinkPolicy{"incident_set_link_policy",
                                          "UPDATE incident.member_links l"
                                          "   SET ring_timeout_sec = coalesce($2, ring_timeout_sec),"
                                          "       max_retries = coalesce($3, max_retries),"
                                          "       retry_backoff_sec = coalesce($4, retry_backoff_sec),"
                                          "       telegram_enabled = coalesce($5, telegram_enabled),"
                                          "       calls_enabled = coalesce($6, calls_enabled),"
                                          "       call_priority = coalesce($7, call_priority),"
                                          "       updated_at = now()"
                                          "  FROM incident.users u"
                                          " WHERE l.id = $1 AND u.id = l.watcher_user_id"
                                          " RETURNING " PROTECTOGRAM_LINK_COLUMNS};

#undef PROTECTOGRAM_USER_COLUMNS
#undef PROTECTOGRAM_LINK_COLUMNS

inline constexpr pg::Query kSetLinkPriority{
    "incident_set_link_priority",
    "UPDATE incident.member_links SET call_priority = $2, updated_at = now() WHERE id = $1"};

// Removes the traveler's ($2) link $1; answers the guardian's user id.
inline constexpr pg::Query kRemoveLink{"incident_remove_link", R"sql(
UPDATE incident.member_links SET status = 'removed', updated_at = now()
 WHERE id = $1 AND traveler_user_id = $2 AND status = 'active'
RETURNING watcher_user_id)sql"};

// $1 traveler, $2 guardian, $3 ring s, $4 retries, $5 backoff s: a new guardian goes last in the call order; a
// removed link comes back.
inline constexpr pg::Query kUpsertLink{"incident_upsert_link", R"sql(
INSERT INTO incident.member_links (traveler_user_id, watcher_user_id, call_priority, ring_timeout_sec,
                                   max_retries, retry_backoff_sec)
VALUES ($1, $2, (SELECT coalesce(max(call_priority) + 1, 0) FROM incident.member_links
                  WHERE traveler_user_id = $1 AND status = 'active'), $3, $4, $5)
ON CONFLICT (traveler_user_id, watcher_user_id) DO UPDATE
   SET status = 'active', call_priority = EXCLUDED.call_priority, updated_at = now()
RETURNING id)sql"};

inline constexpr pg::Query kIsGuardian{"incident_is_guardian", R"sql(
SELECT EXISTS (SELECT 1 FROM incident.member_links
                WHERE traveler_user_id = $1 AND watcher_user_id = $2 AND status = 'active') AS yes)sql"};

// $1 token, $2 traveler, $3 TTL in seconds.
inline constexpr pg::Query kInsertInvite{"incident_insert_invite", R"sql(
INSERT INTO incident.invites (token, traveler_user_id, expires_at)
VALUES ($1, $2, now() + $3::bigint * interval '1 second'))sql"};

inline constexpr pg::Query kInviteByToken{"incident_invite_by_token", R"sql(
SELECT i.token, i.traveler_user_id, u.display_name AS traveler_name, (i.expires_at <= now()) AS expired,
       (i.uses >= i.max_uses) AS used
  FROM incident.invites i JOIN incident.users u ON u.id = i.traveler_user_id
 WHERE i.token = $1)sql"};

// Uses the invite $1 for the guardian $2: one use, before it expires. No row: it was used or expired meanwhile.
inline constexpr pg::Query kUseInvite{"incident_use_invite", R"sql(
UPDATE incident.invites SET uses = uses + 1, used_by_user_id = $2, used_at = now()
 WHERE token = $1 AND uses < max_uses AND expires_at > now()
RETURNING traveler_user_id)sql"};

// --- Incidents ---------------------------------------------------------------------------------------

// A new active incident for the traveler $1 ($2 is_test), or no row when one is active already (the partial
// unique index decides, also between replicas).
inline constexpr pg::Query kInsertIncident{"incident_insert_incident", R"sql(
INSERT INTO incident.incidents (traveler_user_id, is_test) VALUES ($1, $2)
ON CONFLICT (traveler_user_id) WHERE status = 'active' DO NOTHING
RETURNING id)sql"};

inline constexpr pg::Query kActiveIncidentOf{
    "incident_active_incident_of",
    "SELECT id FROM incident.incidents WHERE traveler_user_id = $1 AND status = 'active'"};

// The traveler's open incident (active or escalated): what /cancel ends.
inline constexpr pg::Query kOpenIncidentOf{"incident_open_incident_of", R"sql(
SELECT id FROM incident.incidents
 WHERE traveler_user_id = $1 AND status IN ('active', 'escalated') ORDER BY id DESC LIMIT 1)sql"};

// The incident's state, locked until commit: every event of one incident applies in turn.
inline constexpr pg::Query kLockIncident{
    "incident_lock_incident",
    "SELECT state_json::text AS state FROM incident.incidents WHERE id = $1 FOR UPDATE"};

// $1 id, $2 state, $3 status, $4 correlation id, $5 acknowledged by (0 none), $6 summed ring s.
inline constexpr pg::Query kSaveIncident{"incident_save_incident", R"sql(
UPDATE incident.incidents
   SET state_json = $2::jsonb, status = $3, correlation_id = $4,
       acknowledged_by_user_id = nullif($5::bigint, 0),
       ack_at = CASE WHEN $3 = 'acknowledged' THEN coalesce(ack_at, now()) ELSE ack_at END,
       canceled_at = CASE WHEN $3 = 'canceled' THEN coalesce(canceled_at, now()) ELSE canceled_at END,
       ended_at = CASE WHEN $3 <> 'active' THEN coalesce(ended_at, now()) ELSE ended_at END,
       total_ring_sec = $6, updated_at = now()
 WHERE id = $1
RETURNING (extract(epoch FROM now() - created_at) * 1000000)::bigint AS age_us)sql"};

// The first accepted alert of incident $1: answers the time since the panic, once.
inline constexpr pg::Query kFirstAlert{"incident_first_alert", R"sql(
UPDATE incident.incidents SET first_alert_at = now()
 WHERE id = $1 AND first_alert_at IS NULL
RETURNING (extract(epoch FROM now() - created_at) * 1000000)::bigint AS age_us)sql"};

// Timeline rows of incident $1 (correlation $2), one per element of the arrays $3 actors, $4 whats, $5 details.
inline constexpr pg::Query kInsertTimeline{"incident_insert_timeline", R"sql(
INSERT INTO incident.timeline (incident_id, actor, what, detail_json, correlation_id)
SELECT $1, t.actor, t.what, t.detail::jsonb, $2
  FROM unnest($3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS t(actor, what, detail, n)
 ORDER BY t.n)sql"};

#define PROTECTOGRAM_INCIDENT_COLUMNS                                                                     \
  "i.id, i.traveler_user_id, t.display_name AS traveler_name, i.status, i.is_test, "                      \
  "(extract(epoch FROM i.created_at) * 1000000)::bigint AS created_us, "                                  \
  "(extract(epoch FROM i.ended_at) * 1000000)::bigint AS ended_us, "                                      \
  "coalesce(i.acknowledged_by_user_id, 0) AS acknowledged_by, coalesce(a.display_name, '') AS ack_name, " \
  "i.total_ring_sec, i.correlation_id, i.state_json::text AS state"

// $1 status ('' any), $2 traveler (0 any), $3 limit.
inline constexpr pg::Query kListIncidents{
    "incident_list_incidents", "SELECT " PROTECTOGRAM_INCIDENT_COLUMNS
                               "  FROM incident.incidents i"
                               "  JOIN incident.users t ON t.id = i.traveler_user_id"
                               "  LEFT JOIN incident.users a ON a.id = i.acknowledged_by_user_id"
                               " WHERE ($1 = '' OR i.status = $1) AND ($2 = 0 OR i.traveler_user_id = $2)"
                               " ORDER BY i.id DESC LIMIT $3"};
inline constexpr pg::Query kGetIncident{"incident_get_incident",
                                        "SELECT " PROTECTOGRAM_INCIDENT_COLUMNS
                                        "  FROM incident.incidents i"
                                        "  JOIN incident.users t ON t.id = i.traveler_user_id"
                                        "  LEFT JOIN incident.users a ON a.id = i.acknowledged_by_user_id"
                                        " WHERE i.id = $1"};
#undef PROTECTOGRAM_INCIDENT_COLUMNS

inline constexpr pg::Query kTimeline{"incident_timeline", R"sql(
SELECT (extract(epoch FROM at) * 1000000)::bigint AS at_us, actor, what, detail_json::text AS detail,
       correlation_id
  FROM incident.timeline WHERE incident_id = $1 ORDER BY id)sql"};

// Active incidents with nothing pending or running in incident.scheduled_actions (the auditor), that have not
// changed for $1 us.
inline constexpr pg::Query kOrphanIncidents{"incident_orphan_incidents", R"sql(
SELECT i.id FROM incident.incidents i
 WHERE i.status = 'active' AND i.updated_at < now() - $1::bigint * interval '1 microsecond'
   AND NOT EXISTS (SELECT 1 FROM incident.scheduled_actions s
                    WHERE s.incident_id = i.id AND s.state IN ('pending', 'running'))
 ORDER BY i.id LIMIT 100)sql"};

// Calls of incident $1 still waiting in the outbox: dropped when the incident ends, so that none is placed
// after an ack or a cancel (telephony refuses one that races past this, see HangupAll).
inline constexpr pg::Query kDropPendingCalls{"incident_drop_pending_calls", R"sql(
UPDATE incident.outbox_messages
   SET status = 'dead', last_error = 'dropped: the incident ended before the call was placed', updated_at = now()
 WHERE incident_id = $1 AND channel = 'telephony.place_call' AND status = 'pending'
   AND next_attempt_at <= now())sql"};  // a later next_attempt_at may be a relay's lease: not ours to touch

// --- Test calls ------------------------------------------------------------------------------------------

inline constexpr pg::Query kInsertTestCall{
    "incident_insert_test_call", "INSERT INTO incident.test_calls (attempt_key, link_id) VALUES ($1, $2)"};

// The outcome of test call $1, once: answers the traveler and the guardian of its link.
inline constexpr pg::Query kFinishTestCall{"incident_finish_test_call", R"sql(
UPDATE incident.test_calls c SET outcome = $2
  FROM incident.member_links l
 WHERE c.attempt_key = $1 AND c.outcome IS NULL AND l.id = c.link_id
RETURNING l.traveler_user_id, l.watcher_user_id)sql"};

}  // namespace protectogram::incident::queries
