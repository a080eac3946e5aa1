-- Durable insert ceiling: one webhook-shaped row per transaction (docs/benchmarks.md).
\set k random(1, 2000000000)
INSERT INTO bench_inbox(provider, provider_event_id, payload) VALUES ('telegram:main', :k::text || '-' || :client_id, '{"update_id": 1, "message": {"text": "hello"}}') ON CONFLICT DO NOTHING;
