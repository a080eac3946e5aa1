-- Claim ceiling: claim one due row with FOR UPDATE SKIP LOCKED and mark it done, one per transaction.
UPDATE bench_jobs SET state = 'done', updated_at = now()
 WHERE id = (SELECT id FROM bench_jobs WHERE state = 'pending' AND run_at <= now()
              ORDER BY run_at LIMIT 1 FOR UPDATE SKIP LOCKED);
