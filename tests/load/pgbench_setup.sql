-- Tables for the pgbench baselines; created in the benchmark database only.
DROP TABLE IF EXISTS bench_inbox;
CREATE TABLE bench_inbox(id bigserial primary key, provider text, provider_event_id text,
  received_at timestamptz default now(), payload jsonb, unique(provider, provider_event_id));
DROP TABLE IF EXISTS bench_jobs;
CREATE TABLE bench_jobs(id bigserial primary key, state text not null default 'pending',
  run_at timestamptz not null default now(), updated_at timestamptz not null default now());
CREATE INDEX bench_jobs_due ON bench_jobs(run_at) WHERE state = 'pending';
INSERT INTO bench_jobs(run_at) SELECT now() - interval '1 second' FROM generate_series(1, 400000);
VACUUM ANALYZE bench_jobs;
