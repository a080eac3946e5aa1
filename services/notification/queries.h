// The notification service's own statements on its schema (the outbox's are in libs/jobs/queries.h). Every
// delivery is a row of notification.outbox_messages whose payload_json is an Outgoing (outgoing.h).
#pragma once

#include "libs/pg/query.h"

namespace protectogram::notification::queries {

#define PROTECTOGRAM_DELIVERY_COLUMNS                                                                \
  "id, idempotency_key, channel, payload_json::text AS payload_json, status, attempts, last_error, " \
  "receipt::text AS receipt, (extract(epoch FROM created_at) * 1000000)::bigint AS created_us, "     \
  "(extract(epoch FROM updated_at) * 1000000)::bigint AS updated_us"

// Whether the stored request under key $1 is the request $2 (jsonb equality: key order does not matter).
inline constexpr pg::Query kSameRequest{"notification_same_request", R"sql(
SELECT (payload_json -> 'request') = $2::jsonb AS same
  FROM notification.outbox_messages WHERE idempotency_key = $1)sql"};

// Deliveries newest first: $1 chat ('' = any), $2 status ('' = any), $3/$4 created after/before (us, NULL =
// open), $5 limit. Outcome reports are bookkeeping, not deliveries.
inline constexpr pg::Query kListDeliveries{
    "notification_list_deliveries",
    "SELECT " PROTECTOGRAM_DELIVERY_COLUMNS
    "  FROM notification.outbox_messages"
    " WHERE channel <> 'report:incident'"
    "   AND ($1 = '' OR payload_json ->> 'chat' = $1)"
    "   AND ($2 = '' OR status = $2)"
    "   AND ($3::bigint IS NULL OR created_at > timestamptz 'epoch' + $3::bigint * interval '1 microsecond')"
    "   AND ($4::bigint IS NULL OR created_at < timestamptz 'epoch' + $4::bigint * interval '1 microsecond')"
    " ORDER BY id DESC LIMIT $5"};

inline constexpr pg::Query kListDeadLetters{"notification_list_dead_letters",
                                            "SELECT " PROTECTOGRAM_DELIVERY_COLUMNS
                                            "  FROM notification.outbox_messages"
                                            " WHERE status = 'dead' AND channel <> 'report:incident'"
                                            " ORDER BY updated_at DESC, id DESC LIMIT $1"};

#undef PROTECTOGRAM_DELIVERY_COLUMNS

// Whether an edit of the message $1 accepted after edit $2 (a higher id) has already been applied: then edit
// $2 is stale and is dropped rather than applied over it.
inline constexpr pg::Query kLaterEditApplied{"notification_later_edit_applied", R"sql(
SELECT EXISTS (SELECT 1 FROM notification.outbox_messages
                WHERE payload_json ->> 'target' = $1 AND id > $2 AND status = 'sent'
                  AND payload_json ->> 'kind' = 'DELIVERY_KIND_EDIT') AS later)sql"};

// Serializes dead-letter alert decisions across replicas (transaction-scoped: safe behind a pooler).
inline constexpr pg::Query kLockDeadLetterAlert{
    "notification_lock_dead_letter_alert",
    "SELECT pg_advisory_xact_lock(hashtext('notification.dead_letter_alert'))"};

// Dead letters in the last $1 us (operator alerts and reports excluded), and whether an alert was already
// queued in that window.
inline constexpr pg::Query kDeadLetterWindow{"notification_dead_letter_window", R"sql(
SELECT (SELECT count(*) FROM notification.outbox_messages
         WHERE status = 'dead' AND updated_at > now() - $1::bigint * interval '1 microsecond'
           AND channel <> 'report:incident'
           AND payload_json ->> 'kind' <> 'DELIVERY_KIND_OPERATOR_ALERT') AS dead,
       EXISTS (SELECT 1 FROM notification.outbox_messages
                WHERE starts_with(idempotency_key, 'dead-letter-alert:')
                  AND created_at > now() - $1::bigint * interval '1 microsecond') AS alerted)sql"};

inline constexpr pg::Query kCountDeadLetters{"notification_count_dead_letters",
                                             "SELECT count(*) AS dead FROM notification.outbox_messages"
                                             " WHERE status = 'dead' AND channel <> 'report:incident'"};

// $1 bot id, $2 username, $3 Telegram's id of the bot.
inline constexpr pg::Query kUpsertBot{"notification_upsert_bot", R"sql(
INSERT INTO notification.bots (bot_id, username, telegram_id) VALUES ($1, $2, $3)
ON CONFLICT (bot_id) DO UPDATE SET username = EXCLUDED.username, telegram_id = EXCLUDED.telegram_id,
                                   learned_at = now())sql"};

inline constexpr pg::Query kListBots{"notification_list_bots",
                                     "SELECT bot_id, username FROM notification.bots"};

}  // namespace protectogram::notification::queries
