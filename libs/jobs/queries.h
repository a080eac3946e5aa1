// Every statement of the durable-work library. {table} is the only placeholder: the service's table,
// validated and substituted once when a store is built (internal::BoundQuery); all values are $n parameters.
// Times cross the wire as microseconds since the Unix epoch (bigint), so they round-trip exactly:
//   timestamptz 'epoch' + $n::bigint * interval '1 microsecond'   and
//   (extract(epoch FROM t) * 1000000)::bigint
// NOTIFY payloads carry the due time the same way ("" = due now).
#pragma once

#include "libs/pg/query.h"

namespace protectogram::jobs::queries {

// ---- Durable jobs ({table}: incident.scheduled_actions, notification.jobs, telephony.jobs) ----------------

// A job is *announced* (pg_notify in the same statement, so at commit) when it is due within the notify
// margin ($margin) or sooner than every pending job due after that margin: then no worker's timer can already
// cover it. Otherwise the earlier job a worker is waiting for wakes it, and its next claim sees this one.
// The margin covers a caller's transaction that commits a little after its INSERT.

// $1 kind, $2 key, $3 incident_id, $4 run_at (us, NULL = now + $5), $5 delay (us), $6 max_attempts,
// $7 payload jsonb (NULL = {}), $8 channel, $9 margin (us).
inline constexpr pg::Query kScheduleJob{"jobs_schedule", R"sql(
WITH ins AS (
  INSERT INTO {table} (action_type, job_key, incident_id, run_at, max_attempts, payload_json)
  VALUES ($1, $2, $3::bigint,
          COALESCE(timestamptz 'epoch' + $4::bigint * interval '1 microsecond',
                   statement_timestamp() + $5::bigint * interval '1 microsecond'),
          $6::integer, COALESCE($7::jsonb, '{}'::jsonb))
  ON CONFLICT (job_key) DO NOTHING
  RETURNING id, run_at),
woke AS MATERIALIZED (
  SELECT pg_notify($8, ((extract(epoch FROM ins.run_at) * 1000000)::bigint)::text)
    FROM ins
   WHERE ins.run_at <= statement_timestamp() + $9::bigint * interval '1 microsecond'
      OR ins.run_at < (SELECT COALESCE(min(p.run_at), 'infinity') FROM {table} p
                        WHERE p.state = 'pending'
                          AND p.run_at > statement_timestamp() + $9::bigint * interval '1 microsecond'))
SELECT ins.id, (SELECT count(*) FROM woke) AS notified FROM ins)sql"};

// The id of an existing job (after a no-op schedule). $1 key.
inline constexpr pg::Query kJobIdByKey{"jobs_id_by_key", "SELECT id FROM {table} WHERE job_key = $1"};

// Many jobs in one statement; one notification for the earliest. Arrays: $1 kinds, $2 keys, $3 incident ids,
// $4 run_at (us or NULL), $5 delays (us), $6 max_attempts, $7 payloads (jsonb or NULL);
// $8 channel, $9 margin.
inline constexpr pg::Query kScheduleJobs{"jobs_schedule_batch", R"sql(
WITH ins AS (
  INSERT INTO {table} (action_type, job_key, incident_id, run_at, max_attempts, payload_json)
  SELECT i.kind, i.job_key, i.incident_id,
         COALESCE(timestamptz 'epoch' + i.run_at_us * interval '1 microsecond',
                  statement_timestamp() + i.delay_us * interval '1 microsecond'),
         i.max_attempts, COALESCE(i.payload, '{}'::jsonb)
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::integer[], $7::jsonb[])
         AS i(kind, job_key, incident_id, run_at_us, delay_us, max_attempts, payload)
  ON CONFLICT (job_key) DO NOTHING
  RETURNING run_at),
first AS MATERIALIZED (SELECT min(run_at) AS run_at, count(*) AS inserted FROM ins),
woke AS MATERIALIZED (
  SELECT pg_notify($8, ((extract(epoch FROM first.run_at) * 1000000)::bigint)::text)
    FROM first
   WHERE first.inserted > 0
     AND (first.run_at <= statement_timestamp() + $9::bigint * interval '1 microsecond'
          OR first.run_at < (SELECT COALESCE(min(p.run_at), 'infinity') FROM {table} p
                              WHERE p.state = 'pending'
                                AND p.run_at > statement_timestamp() + $9::bigint * interval '1 microsecond')))
SELECT first.inserted, (SELECT count(*) FROM woke) AS notified FROM first)sql"};

// Claims up to $1 due jobs for $2 us (the lease), and reports what the worker needs to sleep well: the
// database's now, the next future due time, and how many due rows its snapshot saw (more than it claimed
// while the batch was not full = some were locked by another session). Always one row at least; job
// columns are NULL when nothing was claimed.
inline constexpr pg::Query kClaimJobs{"jobs_claim_due", R"sql(
WITH due AS (
  SELECT id FROM {table}
   WHERE state = 'pending' AND run_at <= now()
   ORDER BY run_at
   LIMIT $1
   FOR UPDATE SKIP LOCKED),
claimed AS (
  UPDATE {table} AS j
     SET state = 'running', attempts = j.attempts + 1,
         lease_until = now() + $2::bigint * interval '1 microsecond', updated_at = now()
    FROM due
   WHERE j.id = due.id
  RETURNING j.id, j.action_type, j.job_key, j.incident_id,
            (extract(epoch FROM j.run_at) * 1000000)::bigint AS run_at_us,
            j.attempts, j.max_attempts, j.payload_json::text AS payload_json,
            (extract(epoch FROM j.lease_until) * 1000000)::bigint AS lease_token),
meta AS (
  SELECT (extract(epoch FROM now()) * 1000000)::bigint AS db_now_us,
         (SELECT (extract(epoch FROM min(p.run_at)) * 1000000)::bigint FROM {table} p
           WHERE p.state = 'pending' AND p.run_at > now()) AS next_due_us,
         (SELECT count(*) FROM (SELECT 1 FROM {table} v WHERE v.state = 'pending' AND v.run_at <= now()
                                LIMIT $1 + 1) d) AS visible_due)
SELECT meta.db_now_us, meta.next_due_us, meta.visible_due, claimed.*
  FROM meta LEFT JOIN claimed ON true)sql"};

// Marks finished jobs done. $1 ids, $2 lease tokens (the claim's lease_until, us): a job whose lease was
// lost (reclaimed by another worker, cancelled) is left alone.
inline constexpr pg::Query kCompleteJobs{"jobs_complete", R"sql(
UPDATE {table} AS j
   SET state = 'done', lease_until = NULL, updated_at = now()
  FROM unnest($1::bigint[], $2::bigint[]) AS c(id, lease_token)
 WHERE j.id = ANY($1::bigint[]) AND j.id = c.id AND j.state = 'running'
   AND j.lease_until = timestamptz 'epoch' + c.lease_token * interval '1 microsecond')sql"};

// One job, inside the handler's own transaction. $1 id, $2 lease token.
inline constexpr pg::Query kCompleteJob{"jobs_complete_in_txn", R"sql(
UPDATE {table} SET state = 'done', lease_until = NULL, updated_at = now()
 WHERE id = $1 AND state = 'running'
   AND lease_until = timestamptz 'epoch' + $2::bigint * interval '1 microsecond')sql"};

// Back to the queue (retry, reschedule) or dead. $1 id, $2 lease token, $3 new state ('pending' | 'dead'),
// $4 run_at (us) or NULL, $5 delay (us) or NULL (both NULL: keep run_at), $6 reset attempts, $7 last_error,
// $8 channel, $9 margin (us).
inline constexpr pg::Query kRequeueJob{"jobs_requeue", R"sql(
WITH upd AS (
  UPDATE {table}
     SET state = $3,
         run_at = COALESCE(timestamptz 'epoch' + $4::bigint * interval '1 microsecond',
                           statement_timestamp() + $5::bigint * interval '1 microsecond', run_at),
         attempts = CASE WHEN $6::boolean THEN 0 ELSE attempts END,
         lease_until = NULL, last_error = $7, updated_at = now()
   WHERE id = $1 AND state = 'running'
     AND lease_until = timestamptz 'epoch' + $2::bigint * interval '1 microsecond'
  RETURNING state, run_at),
woke AS MATERIALIZED (
  SELECT pg_notify($8, ((extract(epoch FROM upd.run_at) * 1000000)::bigint)::text)
    FROM upd
   WHERE upd.state = 'pending'
     AND (upd.run_at <= statement_timestamp() + $9::bigint * interval '1 microsecond'
          OR upd.run_at < (SELECT COALESCE(min(p.run_at), 'infinity') FROM {table} p
                            WHERE p.state = 'pending'
                              AND p.run_at > statement_timestamp() + $9::bigint * interval '1 microsecond')))
SELECT upd.state, (extract(epoch FROM upd.run_at) * 1000000)::bigint AS run_at_us,
       (SELECT count(*) FROM woke) AS notified
  FROM upd)sql"};

// Gives claimed but unstarted jobs back (a worker stopping), as if never claimed. $1 ids, $2 lease tokens,
// $3 channel.
inline constexpr pg::Query kReleaseJobs{"jobs_release", R"sql(
WITH upd AS (
  UPDATE {table} AS j
     SET state = 'pending', attempts = greatest(j.attempts - 1, 0), lease_until = NULL, updated_at = now()
    FROM unnest($1::bigint[], $2::bigint[]) AS c(id, lease_token)
   WHERE j.id = ANY($1::bigint[]) AND j.id = c.id AND j.state = 'running'
     AND j.lease_until = timestamptz 'epoch' + c.lease_token * interval '1 microsecond'
  RETURNING j.id),
woke AS MATERIALIZED (SELECT pg_notify($3, '') WHERE EXISTS (SELECT 1 FROM upd))
SELECT (SELECT count(*) FROM upd) AS released, (SELECT count(*) FROM woke) AS notified)sql"};

// Jobs whose worker died (lease passed): back to pending, or dead when that was the last attempt.
// $1 limit, $2 channel. One row per reclaimed job.
inline constexpr pg::Query kReclaimExpired{"jobs_reclaim_expired", R"sql(
WITH expired AS (
  SELECT id FROM {table}
   WHERE state = 'running' AND lease_until <= now()
   ORDER BY lease_until
   LIMIT $1
   FOR UPDATE SKIP LOCKED),
upd AS (
  UPDATE {table} AS j
     SET state = CASE WHEN j.attempts >= j.max_attempts THEN 'dead' ELSE 'pending' END,
         lease_until = NULL, updated_at = now(),
         last_error = 'lease expired: the worker running it stopped or stalled'
    FROM expired
   WHERE j.id = expired.id
  RETURNING j.state, j.action_type),
woke AS MATERIALIZED (SELECT pg_notify($2, '') WHERE EXISTS (SELECT 1 FROM upd WHERE state = 'pending'))
SELECT upd.state, upd.action_type, (SELECT count(*) FROM woke) AS notified FROM upd)sql"};

// A running job keeps its lease longer. $1 id, $2 lease token, $3 lease (us). Returns the new token.
inline constexpr pg::Query kExtendLease{"jobs_extend_lease", R"sql(
UPDATE {table} SET lease_until = now() + $3::bigint * interval '1 microsecond', updated_at = now()
 WHERE id = $1 AND state = 'running'
   AND lease_until = timestamptz 'epoch' + $2::bigint * interval '1 microsecond'
RETURNING (extract(epoch FROM lease_until) * 1000000)::bigint AS lease_token)sql"};

// Deletes done jobs finished more than $1 us ago, at most $2 per statement.
inline constexpr pg::Query kPruneDone{"jobs_prune_done", R"sql(
DELETE FROM {table}
 WHERE id IN (SELECT id FROM {table}
               WHERE state = 'done' AND updated_at < now() - $1::bigint * interval '1 microsecond'
               ORDER BY updated_at
               LIMIT $2))sql"};

// Cancels pending and running work (a running handler finishes, but its outcome is dropped). $1 key.
inline constexpr pg::Query kCancelJob{
    "jobs_cancel", "DELETE FROM {table} WHERE job_key = $1 AND state IN ('pending', 'running')"};

// $1 LIKE pattern with an escaped prefix ('incident:42:%').
inline constexpr pg::Query kCancelPrefix{"jobs_cancel_prefix", R"sql(
DELETE FROM {table} WHERE job_key LIKE $1 ESCAPE '\' AND state IN ('pending', 'running'))sql"};

#define PROTECTOGRAM_JOB_COLUMNS                                                                         \
  "id, action_type, job_key, incident_id, (extract(epoch FROM run_at) * 1000000)::bigint AS run_at_us, " \
  "state, attempts, max_attempts, last_error, payload_json::text AS payload_json, "                      \
  "(extract(epoch FROM updated_at) * 1000000)::bigint AS updated_at_us"

inline constexpr pg::Query kJobByKey{"jobs_by_key",
                                     "SELECT " PROTECTOGRAM_JOB_COLUMNS " FROM {table} WHERE job_key = $1"};
inline constexpr pg::Query kJobById{"jobs_by_id",
                                    "SELECT " PROTECTOGRAM_JOB_COLUMNS " FROM {table} WHERE id = $1"};
// $1 limit.
inline constexpr pg::Query kListDeadJobs{
    "jobs_list_dead", "SELECT " PROTECTOGRAM_JOB_COLUMNS
                      " FROM {table} WHERE state = 'dead' ORDER BY updated_at DESC, id DESC LIMIT $1"};

// A dead job back in the queue, due now, attempts reset. $1 id, $2 channel.
inline constexpr pg::Query kRedriveJob{"jobs_redrive", R"sql(
WITH upd AS (
  UPDATE {table}
     SET state = 'pending', attempts = 0, run_at = now(), lease_until = NULL, updated_at = now()
   WHERE id = $1 AND state = 'dead'
  RETURNING )sql" PROTECTOGRAM_JOB_COLUMNS R"sql(),
woke AS MATERIALIZED (SELECT pg_notify($2, '') WHERE EXISTS (SELECT 1 FROM upd))
SELECT upd.*, (SELECT count(*) FROM woke) AS notified FROM upd)sql"};

#undef PROTECTOGRAM_JOB_COLUMNS

inline constexpr pg::Query kCountJobs{"jobs_count", R"sql(
SELECT count(*) FILTER (WHERE state = 'pending' AND run_at <= now()) AS due,
       count(*) FILTER (WHERE state = 'pending' AND run_at > now()) AS pending,
       count(*) FILTER (WHERE state = 'running') AS running,
       count(*) FILTER (WHERE state = 'dead') AS dead
  FROM {table}
 WHERE state <> 'done')sql"};

// Due and not claimed (the jobs_due gauge).
inline constexpr pg::Query kCountDue{
    "jobs_count_due", "SELECT count(*) AS due FROM {table} WHERE state = 'pending' AND run_at <= now()"};

// ---- Outbox ({table}: incident.outbox_messages, notification.outbox_messages) ----------------------------

// $1 channel, $2 idempotency key, $3 payload jsonb (NULL = {}), $4 incident_id, $5 notify channel,
// $6 notify (bool), $7 priority, $8 pace keys text[], $9 pace costs int[]. No row when the key exists already.
inline constexpr pg::Query kOutboxEnqueue{"outbox_enqueue", R"sql(
WITH ins AS (
  INSERT INTO {table} (channel, idempotency_key, payload_json, incident_id, priority, pace_keys, pace_costs)
  VALUES ($1, $2, COALESCE($3::jsonb, '{}'::jsonb), $4::bigint, $7::smallint, $8::text[], $9::int[])
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING id),
woke AS MATERIALIZED (SELECT pg_notify($5, '') WHERE $6::boolean AND EXISTS (SELECT 1 FROM ins))
SELECT ins.id, (SELECT count(*) FROM woke) AS notified FROM ins)sql"};

// What a claim returns for each message, and the claim's view of the queue (for the relay's wake-ups).
#define PROTECTOGRAM_OUTBOX_CLAIMED_COLUMNS                                                \
  "o.id, o.channel, o.idempotency_key, o.payload_json::text AS payload_json, o.attempts, " \
  "o.incident_id, o.priority, o.receipt::text AS receipt, "                                \
  "(extract(epoch FROM due.next_attempt_at) * 1000000)::bigint AS due_us, "                \
  "(extract(epoch FROM o.next_attempt_at) * 1000000)::bigint AS lease_token, "             \
  "(extract(epoch FROM o.created_at) * 1000000)::bigint AS created_us"
#define PROTECTOGRAM_OUTBOX_CLAIM_META                                                       \
  "meta AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS db_now_us, " \
  "(SELECT (extract(epoch FROM min(p.next_attempt_at)) * 1000000)::bigint FROM {table} p "   \
  "WHERE p.status = 'pending' AND p.next_attempt_at > now()) AS next_due_us, "               \
  "(SELECT count(*) FROM (SELECT 1 FROM {table} v WHERE v.status = 'pending' "               \
  "AND v.next_attempt_at <= now() LIMIT $1 + 1) d) AS visible_due) "                         \
  "SELECT meta.db_now_us, meta.next_due_us, meta.visible_due, claimed.* FROM meta LEFT JOIN claimed ON true"

// Claims up to $1 due messages, the highest priority first. The lease is next_attempt_at itself (now + $2 us):
// another relay skips the message until then, and a relay that dies leaves it due again when the lease passes.
inline constexpr pg::Query kOutboxClaim{
    "outbox_claim_due",
    "WITH due AS ("
    "  SELECT id, next_attempt_at FROM {table}"
    "   WHERE status = 'pending' AND next_attempt_at <= now()"
    "   ORDER BY priority DESC, next_attempt_at, id"
    "   LIMIT $1"
    "   FOR UPDATE SKIP LOCKED),"
    "claimed AS ("
    "  UPDATE {table} AS o"
    "     SET attempts = o.attempts + 1,"
    "         next_attempt_at = now() + $2::bigint * interval '1 microsecond',"
    "         updated_at = now()"
    "    FROM due"
    "   WHERE o.id = due.id"
    "  RETURNING " PROTECTOGRAM_OUTBOX_CLAIMED_COLUMNS "), " PROTECTOGRAM_OUTBOX_CLAIM_META};

// A paced claim, in one transaction (OutboxRelay::ClaimPaced):
// 1. Locks up to $1 due messages, the highest priority first, one row per (message, pace key) with the
//    key's cost; the transaction's clock_timestamp() is the plan's now.
inline constexpr pg::Query kOutboxPacedCandidates{"outbox_paced_candidates", R"sql(
WITH due AS (
  SELECT id, priority, next_attempt_at, pace_keys, pace_costs FROM {table}
   WHERE status = 'pending' AND next_attempt_at <= now()
   ORDER BY priority DESC, next_attempt_at, id
   LIMIT $1
   FOR UPDATE SKIP LOCKED)
SELECT due.id, k.key, coalesce(due.pace_costs[k.ord], 1) AS cost,
       (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS now_us
  FROM due LEFT JOIN LATERAL unnest(due.pace_keys) WITH ORDINALITY AS k(key, ord) ON true
 ORDER BY due.priority DESC, due.next_attempt_at, due.id, k.ord)sql"};

// 2. ({table}: the pace table) Locks the buckets $1 (sorted, so two claims never deadlock), creating missing
//    ones idle, and reads their TATs.
inline constexpr pg::Query kOutboxPaceLock{"outbox_pace_lock", R"sql(
INSERT INTO {table} (key, tat)
SELECT k, '-infinity' FROM unnest($1::text[]) AS k ORDER BY k
ON CONFLICT (key) DO UPDATE SET tat = {table}.tat
RETURNING key, CASE WHEN tat = '-infinity' THEN NULL
                    ELSE (extract(epoch FROM tat) * 1000000)::bigint END AS tat_us)sql"};

// 3. Claims the chosen messages $2 (lease $3 us) and moves the deferred ones $4 to their times $5 (us).
inline constexpr pg::Query kOutboxPacedApply{"outbox_paced_apply",
                                             "WITH deferred AS ("
                                             "  UPDATE {table} AS o"
                                             "     SET next_attempt_at = timestamptz 'epoch' + d.at_us * "
                                             "interval '1 microsecond'"
                                             "    FROM unnest($4::bigint[], $5::bigint[]) AS d(id, at_us)"
                                             "   WHERE o.id = d.id"
                                             "  RETURNING o.id),"
                                             "due AS (SELECT id, next_attempt_at FROM {table}"
                                             "         WHERE id = ANY($2::bigint[])),"
                                             "claimed AS ("
                                             "  UPDATE {table} AS o"
                                             "     SET attempts = o.attempts + 1,"
                                             "         next_attempt_at = clock_timestamp() + $3::bigint * "
                                             "interval '1 microsecond',"
                                             "         updated_at = now()"
                                             "    FROM due"
                                             "   WHERE o.id = due.id"
                                             "  RETURNING " PROTECTOGRAM_OUTBOX_CLAIMED_COLUMNS
                                             "), " PROTECTOGRAM_OUTBOX_CLAIM_META};

// 4. ({table}: the pace table) The buckets' new TATs: $1 keys, $2 TATs (us). Never moves a bucket back.
inline constexpr pg::Query kOutboxPaceStore{"outbox_pace_store", R"sql(
UPDATE {table} AS p SET tat = greatest(p.tat, timestamptz 'epoch' + n.tat_us * interval '1 microsecond')
  FROM unnest($1::text[], $2::bigint[]) AS n(key, tat_us)
 WHERE p.key = n.key)sql"};

// ({table}: the pace table) A send that starts later than planned: its buckets $1 move on to at least the
// moment this statement runs (after any wait for a claim holding them) plus $2 us each.
inline constexpr pg::Query kOutboxPaceLateStart{"outbox_pace_late_start", R"sql(
UPDATE {table} AS p SET tat = greatest(p.tat, clock_timestamp() + n.add_us * interval '1 microsecond')
  FROM unnest($1::text[], $2::bigint[]) AS n(key, add_us)
 WHERE p.key = n.key)sql"};

#undef PROTECTOGRAM_OUTBOX_CLAIMED_COLUMNS
#undef PROTECTOGRAM_OUTBOX_CLAIM_META

// Acknowledged by the receiver: $1 ids, $2 receipts (jsonb text or NULL, parallel to the ids). next_attempt_at
// becomes the time sent (what pruning looks at). Returns the rows marked.
inline constexpr pg::Query kOutboxMarkSent{"outbox_mark_sent", R"sql(
UPDATE {table} AS o
   SET status = 'sent', next_attempt_at = now(), last_error = NULL, updated_at = now(),
       receipt = coalesce(r.receipt::jsonb, o.receipt)
  FROM unnest($1::bigint[], $2::text[]) AS r(id, receipt)
 WHERE o.id = r.id AND o.status = 'pending'
RETURNING o.id)sql"};

// One claimed message acknowledged, inside the transaction of its finalizer: $1 id, $2 lease token, $3 receipt.
inline constexpr pg::Query kOutboxMarkSentOne{"outbox_mark_sent_one", R"sql(
UPDATE {table}
   SET status = 'sent', next_attempt_at = now(), last_error = NULL, updated_at = now(),
       receipt = coalesce($3::jsonb, receipt)
 WHERE id = $1 AND status = 'pending'
   AND next_attempt_at = timestamptz 'epoch' + $2::bigint * interval '1 microsecond'
RETURNING id)sql"};

// A failed send: $3 'pending' (retry after $4 us) or 'dead'. $1 id, $2 lease token, $5 last_error, $6 the
// attempt does not count (throttled).
inline constexpr pg::Query kOutboxFail{"outbox_fail", R"sql(
UPDATE {table}
   SET status = $3, next_attempt_at = now() + $4::bigint * interval '1 microsecond', last_error = $5,
       attempts = CASE WHEN $6::boolean THEN greatest(attempts - 1, 0) ELSE attempts END,
       updated_at = now()
 WHERE id = $1 AND status = 'pending'
   AND next_attempt_at = timestamptz 'epoch' + $2::bigint * interval '1 microsecond'
RETURNING (extract(epoch FROM next_attempt_at) * 1000000)::bigint AS next_attempt_us)sql"};

// A claimed message's progress (what a retry resumes from): $1 id, $2 lease token, $3 receipt jsonb.
inline constexpr pg::Query kOutboxSaveReceipt{"outbox_save_receipt", R"sql(
UPDATE {table} SET receipt = $3::jsonb, updated_at = now()
 WHERE id = $1 AND status = 'pending'
   AND next_attempt_at = timestamptz 'epoch' + $2::bigint * interval '1 microsecond'
RETURNING id)sql"};

// Claimed but unsent messages back, due now. $1 ids, $2 lease tokens, $3 channel.
inline constexpr pg::Query kOutboxRelease{"outbox_release", R"sql(
WITH upd AS (
  UPDATE {table} AS o
     SET attempts = greatest(o.attempts - 1, 0), next_attempt_at = now(), updated_at = now()
    FROM unnest($1::bigint[], $2::bigint[]) AS c(id, lease_token)
   WHERE o.id = ANY($1::bigint[]) AND o.id = c.id AND o.status = 'pending'
     AND o.next_attempt_at = timestamptz 'epoch' + c.lease_token * interval '1 microsecond'
  RETURNING o.id),
woke AS MATERIALIZED (SELECT pg_notify($3, '') WHERE EXISTS (SELECT 1 FROM upd))
SELECT (SELECT count(*) FROM upd) AS released, (SELECT count(*) FROM woke) AS notified)sql"};

// Deletes sent messages older than $1 us, at most $2.
inline constexpr pg::Query kOutboxPrune{"outbox_prune_sent", R"sql(
DELETE FROM {table}
 WHERE id IN (SELECT id FROM {table}
               WHERE status = 'sent' AND next_attempt_at < now() - $1::bigint * interval '1 microsecond'
               ORDER BY next_attempt_at
               LIMIT $2))sql"};

#define PROTECTOGRAM_OUTBOX_COLUMNS                                                                       \
  "id, channel, idempotency_key, payload_json::text AS payload_json, status, attempts, "                  \
  "(extract(epoch FROM next_attempt_at) * 1000000)::bigint AS next_attempt_us, last_error, incident_id, " \
  "(extract(epoch FROM created_at) * 1000000)::bigint AS created_us, "                                    \
  "(extract(epoch FROM updated_at) * 1000000)::bigint AS updated_us, priority, receipt::text AS receipt"

inline constexpr pg::Query kOutboxByKey{
    "outbox_by_key", "SELECT " PROTECTOGRAM_OUTBOX_COLUMNS " FROM {table} WHERE idempotency_key = $1"};
inline constexpr pg::Query kOutboxListDead{
    "outbox_list_dead", "SELECT " PROTECTOGRAM_OUTBOX_COLUMNS
                        " FROM {table} WHERE status = 'dead' ORDER BY updated_at DESC, id DESC LIMIT $1"};
// $1 id, $2 channel.
inline constexpr pg::Query kOutboxRedrive{"outbox_redrive", R"sql(
WITH upd AS (
  UPDATE {table} SET status = 'pending', attempts = 0, next_attempt_at = now(), updated_at = now()
   WHERE id = $1 AND status = 'dead'
  RETURNING )sql" PROTECTOGRAM_OUTBOX_COLUMNS R"sql(),
woke AS MATERIALIZED (SELECT pg_notify($2, '') WHERE EXISTS (SELECT 1 FROM upd))
SELECT upd.*, (SELECT count(*) FROM woke) AS notified FROM upd)sql"};
// Every dead message (of channels starting with $2, '' = all) back to pending, at most $3. $1 notify channel.
inline constexpr pg::Query kOutboxRedriveAll{"outbox_redrive_all", R"sql(
WITH upd AS (
  UPDATE {table} SET status = 'pending', attempts = 0, next_attempt_at = now(), updated_at = now()
   WHERE id IN (SELECT id FROM {table}
                 WHERE status = 'dead' AND starts_with(channel, $2)
                 ORDER BY id LIMIT $3)
  RETURNING id),
woke AS MATERIALIZED (SELECT pg_notify($1, '') WHERE EXISTS (SELECT 1 FROM upd))
SELECT (SELECT count(*) FROM upd) AS redriven, (SELECT count(*) FROM woke) AS notified)sql"};

#undef PROTECTOGRAM_OUTBOX_COLUMNS

inline constexpr pg::Query kOutboxCount{"outbox_count", R"sql(
SELECT count(*) FILTER (WHERE status = 'pending' AND next_attempt_at <= now()) AS due,
       count(*) FILTER (WHERE status = 'pending' AND next_attempt_at > now()) AS waiting,
       count(*) FILTER (WHERE status = 'dead') AS dead
  FROM {table}
 WHERE status <> 'sent')sql"};

// ---- Inbox ({table}: edge.inbox_events, incident.inbox_events) -------------------------------------------

// $1 provider, $2 provider event id, $3 raw payload, $4 payload jsonb or NULL, $5 headers jsonb or NULL,
// $6 handled now (bool: stored by its consumer in the transaction that processes it). No row for a duplicate.
inline constexpr pg::Query kInboxStore{"inbox_store", R"sql(
INSERT INTO {table} (provider, provider_event_id, payload, payload_json, headers, status, delivered_at,
                     processed_at)
VALUES ($1, $2, $3, $4::jsonb, COALESCE($5::jsonb, '{}'::jsonb),
        CASE WHEN $6::boolean THEN 'delivered' ELSE 'received' END,
        CASE WHEN $6::boolean THEN now() END, CASE WHEN $6::boolean THEN now() END)
ON CONFLICT (provider, provider_event_id) DO NOTHING
RETURNING id)sql"};

// $1 provider, $2 provider event id.
inline constexpr pg::Query kInboxIdByKey{
    "inbox_id_by_key", "SELECT id FROM {table} WHERE provider = $1 AND provider_event_id = $2"};

// Many events in one statement: arrays $1 providers, $2 event ids, $3 payloads, $4 payload jsonb (or NULL),
// $5 headers jsonb (or NULL). Returns the inserted rows; duplicates are absent.
inline constexpr pg::Query kInboxStoreBatch{"inbox_store_batch", R"sql(
INSERT INTO {table} (provider, provider_event_id, payload, payload_json, headers)
SELECT i.provider, i.event_id, i.payload, i.payload_json, COALESCE(i.headers, '{}'::jsonb)
  FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[])
       AS i(provider, event_id, payload, payload_json, headers)
ON CONFLICT (provider, provider_event_id) DO NOTHING
RETURNING id, provider, provider_event_id)sql"};

// Ids of existing events. Arrays $1 providers, $2 event ids.
inline constexpr pg::Query kInboxIdsByKeys{"inbox_ids_by_keys", R"sql(
SELECT t.id, t.provider, t.provider_event_id
  FROM {table} t
  JOIN unnest($1::text[], $2::text[]) AS k(provider, event_id)
    ON t.provider = k.provider AND t.provider_event_id = k.event_id)sql"};

// Claims up to $1 undelivered events (lease: next_attempt_at = now + $2 us), like kOutboxClaim.
inline constexpr pg::Query kInboxClaim{"inbox_claim_due", R"sql(
WITH due AS (
  SELECT id, next_attempt_at FROM {table}
   WHERE status = 'received' AND next_attempt_at <= now()
   ORDER BY next_attempt_at
   LIMIT $1
   FOR UPDATE SKIP LOCKED),
claimed AS (
  UPDATE {table} AS e
     SET attempts = e.attempts + 1, next_attempt_at = now() + $2::bigint * interval '1 microsecond'
    FROM due
   WHERE e.id = due.id
  RETURNING e.id, e.provider, e.provider_event_id, e.payload, e.payload_json::text AS payload_json,
            e.headers::text AS headers, e.attempts,
            (extract(epoch FROM e.received_at) * 1000000)::bigint AS received_us,
            (extract(epoch FROM due.next_attempt_at) * 1000000)::bigint AS due_us,
            (extract(epoch FROM e.next_attempt_at) * 1000000)::bigint AS lease_token),
meta AS (
  SELECT (extract(epoch FROM now()) * 1000000)::bigint AS db_now_us,
         (SELECT (extract(epoch FROM min(p.next_attempt_at)) * 1000000)::bigint FROM {table} p
           WHERE p.status = 'received' AND p.next_attempt_at > now()) AS next_due_us,
         (SELECT count(*) FROM (SELECT 1 FROM {table} v
                                 WHERE v.status = 'received' AND v.next_attempt_at <= now()
                                 LIMIT $1 + 1) d) AS visible_due)
SELECT meta.db_now_us, meta.next_due_us, meta.visible_due, claimed.*
  FROM meta LEFT JOIN claimed ON true)sql"};

// Acknowledged by the consumer. $1 ids.
inline constexpr pg::Query kInboxMarkDelivered{"inbox_mark_delivered", R"sql(
UPDATE {table}
   SET status = 'delivered', delivered_at = now(), processed_at = now(), last_error = NULL
 WHERE id = ANY($1::bigint[]) AND status = 'received')sql"};

// A failed delivery: $3 'received' (retry after $4 us) or 'ignored' (permanent: processed, not delivered).
// $1 id, $2 lease token, $5 last_error.
inline constexpr pg::Query kInboxFail{"inbox_fail", R"sql(
UPDATE {table}
   SET status = $3, next_attempt_at = now() + $4::bigint * interval '1 microsecond', last_error = $5,
       processed_at = CASE WHEN $3 = 'ignored' THEN now() END
 WHERE id = $1 AND status = 'received'
   AND next_attempt_at = timestamptz 'epoch' + $2::bigint * interval '1 microsecond'
RETURNING (extract(epoch FROM next_attempt_at) * 1000000)::bigint AS next_attempt_us)sql"};

// $1 ids, $2 lease tokens.
inline constexpr pg::Query kInboxRelease{"inbox_release", R"sql(
UPDATE {table} AS e
   SET attempts = greatest(e.attempts - 1, 0), next_attempt_at = now()
  FROM unnest($1::bigint[], $2::bigint[]) AS c(id, lease_token)
 WHERE e.id = ANY($1::bigint[]) AND e.id = c.id AND e.status = 'received'
   AND e.next_attempt_at = timestamptz 'epoch' + c.lease_token * interval '1 microsecond')sql"};

// Delivers one event again (admin replay). $1 id.
inline constexpr pg::Query kInboxReplay{"inbox_replay", R"sql(
UPDATE {table}
   SET status = 'received', attempts = 0, next_attempt_at = now(), delivered_at = NULL, processed_at = NULL,
       last_error = NULL
 WHERE id = $1
RETURNING id)sql"};

// The consumer processed an event it stored itself. $1 id.
inline constexpr pg::Query kInboxMarkProcessed{"inbox_mark_processed", R"sql(
UPDATE {table}
   SET status = 'delivered', delivered_at = COALESCE(delivered_at, now()), processed_at = now(),
       last_error = NULL
 WHERE id = $1)sql"};

inline constexpr pg::Query kInboxById{"inbox_by_id", R"sql(
SELECT id, provider, provider_event_id, payload, payload_json::text AS payload_json, headers::text AS headers,
       status, attempts, last_error, (extract(epoch FROM received_at) * 1000000)::bigint AS received_us
  FROM {table} WHERE id = $1)sql"};

}  // namespace protectogram::jobs::queries
