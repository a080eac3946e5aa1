-- wrk script for the edge ingest benchmark (tests/load/edge/run.sh): POST /webhook/main with the bot's
-- X-Telegram-Bot-Api-Secret-Token and a Telegram update whose update_id is unique per request, across wrk
-- threads and across runs. Prints one JSON line at the end.
--   EDGE_BENCH_SECRET=... wrk -t2 -c64 -d20s -s tests/load/edge/telegram.lua http://127.0.0.1:18080
local secret = os.getenv("EDGE_BENCH_SECRET") or "bench-webhook-secret"
local next_thread = 0

function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_number", next_thread)
end

function init(args)
  -- update_id = run (time of day, 5 digits) | thread (1 digit) | counter (8 digits): exact in a double.
  base = (os.time() % 100000) * 1e9 + (thread_number or 0) * 1e8
  counter = 0
  headers = {["Content-Type"] = "application/json", ["X-Telegram-Bot-Api-Secret-Token"] = secret}
end

function request()
  counter = counter + 1
  local body = '{"update_id":' .. string.format("%.0f", base + counter) ..
      ',"message":{"message_id":1,"from":{"id":123456789,"is_bot":false,"first_name":"Ivan","language_code":"ru"},' ..
      '"chat":{"id":123456789,"first_name":"Ivan","type":"private"},"date":1700000000,"text":"hello"}}'
  return wrk.format("POST", "/webhook/main", headers, body)
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  local accepted = summary.requests - e.status
  io.write(string.format(
      '{"requests":%d,"accepted":%d,"seconds":%.2f,"accepted_per_s":%.1f,"p50_ms":%.2f,"p90_ms":%.2f,' ..
      '"p99_ms":%.2f,"max_ms":%.2f,"non_2xx":%d,"socket_errors":%d}\n',
      summary.requests, accepted, seconds, accepted / seconds, latency:percentile(50) / 1000,
      latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000, e.status,
      e.connect + e.read + e.write + e.timeout))
end
