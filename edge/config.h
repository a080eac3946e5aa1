// The edge's own settings, read once from the environment at start (the settings every process shares come
// from kernel::LoadProcessConfig). docs/edge.md lists every variable with its default.
//
// Providers. A provider is "configured" when any of its credential variables is set (for Telnyx and Twilio
// also when TELEPHONY_PROVIDERS names it); Telegram is always expected. What the edge itself needs of each:
//   Telegram   at least one bot: TELEGRAM_BOT_TOKEN + TELEGRAM_WEBHOOK_SECRET (bot "main") and/or
//              TG_TOKEN_<ID> + TG_WEBHOOK_SECRET_<ID>
//   Telnyx     TELNYX_PUBLIC_KEY (base64 Ed25519)
//   Twilio     TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL
//   WhatsApp   WHATSAPP_APP_SECRET and WHATSAPP_VERIFY_TOKEN
// In staging and prod a missing one is a config error naming the variable (the process stops at start);
// staging also needs STAGING_ALLOWED_CHATS. In dev a provider without what the edge needs has its webhook
// routes answer 404 {"error":"not_configured",...}; malformed values are errors in every environment.
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/kernel/config.h"
#include "libs/providers/telegram/telegram.h"

namespace protectogram::edge {

struct EdgeConfig {
  kernel::AppEnv app_env = kernel::AppEnv::kDev;

  // HTTP server limits (docs/edge.md, "Limits"): what one request may make the edge hold, and for how long.
  size_t body_limit_bytes = 1 << 20;              // EDGE_BODY_LIMIT_BYTES: any route -> 413 above
  size_t request_line_limit_bytes = 8 * 1024;     // EDGE_REQUEST_LINE_LIMIT_BYTES -> 414 above
  size_t header_field_limit_bytes = 8 * 1024;     // EDGE_HEADER_FIELD_LIMIT_BYTES: one field -> 431
  size_t header_limit_bytes = 16 * 1024;          // EDGE_HEADER_LIMIT_BYTES: the whole head -> 431
  size_t header_count_limit = 100;                // EDGE_HEADER_COUNT_LIMIT -> 431 above
  size_t chunk_line_limit_bytes = 1024;           // EDGE_CHUNK_LINE_LIMIT_BYTES: size + extensions -> 413
  size_t chunk_overhead_limit_bytes = 64 * 1024;  // EDGE_CHUNK_OVERHEAD_LIMIT_BYTES: framing of a body -> 413
  size_t trailer_limit_bytes = 4 * 1024;          // EDGE_TRAILER_LIMIT_BYTES -> 431 above
  absl::Duration header_timeout = absl::Seconds(5);  // EDGE_HEADER_TIMEOUT_MS: the head -> 408
  absl::Duration read_timeout = absl::Seconds(10);   // EDGE_READ_TIMEOUT_MS: the whole request -> 408
  absl::Duration idle_timeout = absl::Seconds(60);   // EDGE_IDLE_TIMEOUT_MS (keep-alive)
  size_t max_connections = 1024;                     // EDGE_MAX_CONNECTIONS -> 503 and close above
  size_t max_connections_per_client = 128;           // EDGE_MAX_CONNECTIONS_PER_CLIENT -> 429 (0: off)
  std::string client_ip_header;                      // EDGE_CLIENT_IP_HEADER, lower case (e.g. fly-client-ip)
  // Per-route body limits (each at most body_limit_bytes), sized to what each provider sends (docs/edge.md).
  size_t telegram_body_limit_bytes = 256 * 1024;  // EDGE_TELEGRAM_BODY_LIMIT_BYTES
  size_t telnyx_body_limit_bytes = 64 * 1024;     // EDGE_TELNYX_BODY_LIMIT_BYTES
  size_t twilio_body_limit_bytes = 64 * 1024;     // EDGE_TWILIO_BODY_LIMIT_BYTES
  size_t whatsapp_body_limit_bytes = 512 * 1024;  // EDGE_WHATSAPP_BODY_LIMIT_BYTES
  int io_threads = 2;                             // EDGE_IO_THREADS
  int handler_threads = 128;                      // EDGE_HANDLER_THREADS: handlers blocked at once

  // Storing webhooks (the group-commit writer).
  int ingest_writers = 2;                           // EDGE_INGEST_WRITERS: concurrent commits
  int ingest_batch_max = 256;                       // EDGE_INGEST_BATCH_MAX: webhooks per commit
  absl::Duration store_timeout = absl::Seconds(5);  // EDGE_STORE_TIMEOUT_MS: then 503

  // Forwarding to the services.
  std::string incident_addr = "127.0.0.1:50051";         // INCIDENT_ADDR
  std::string notification_addr = "127.0.0.1:50052";     // NOTIFICATION_ADDR
  std::string telephony_addr = "127.0.0.1:50053";        // TELEPHONY_ADDR
  absl::Duration forward_timeout = absl::Seconds(5);     // EDGE_FORWARD_TIMEOUT_MS: one gRPC call
  absl::Duration forward_retry_max = absl::Seconds(15);  // EDGE_FORWARD_RETRY_MAX_MS: back-off cap
  // EDGE_RELAY_THREADS: deliveries in parallel; 0: this replica only stores (another replica's relay
  // forwards).
  int relay_threads = 2;
  // EDGE_RELAY_NICE: added to the relay threads' nice value (0..19), so that storing webhooks comes first
  // when the CPU is short; the relay catches up as soon as it is not.
  int relay_nice = 10;
  absl::Duration ready_timeout = absl::Milliseconds(500);  // EDGE_READY_TIMEOUT_MS: each readiness check

  // Providers ("" = not configured).
  std::string public_base_url;  // PUBLIC_BASE_URL without a trailing '/'
  providers::telegram::BotRegistry bots;
  std::set<std::string> staging_allowed_chats;  // STAGING_ALLOWED_CHATS (used in staging only)
  std::string telnyx_public_key;                // TELNYX_PUBLIC_KEY
  std::string twilio_auth_token;                // TWILIO_AUTH_TOKEN (with PUBLIC_BASE_URL)
  std::string whatsapp_app_secret;              // WHATSAPP_APP_SECRET (with WHATSAPP_VERIFY_TOKEN)
  std::string whatsapp_verify_token;            // WHATSAPP_VERIFY_TOKEN

  // What a dev process is missing to serve a configured provider's webhooks (logged at start).
  std::vector<std::string> warnings;

  bool telegram_configured() const { return !bots.bots().empty(); }
  bool telnyx_configured() const { return !telnyx_public_key.empty(); }
  bool twilio_configured() const { return !twilio_auth_token.empty() && !public_base_url.empty(); }
  bool whatsapp_configured() const { return !whatsapp_app_secret.empty() && !whatsapp_verify_token.empty(); }
  bool staging() const { return app_env == kernel::AppEnv::kStaging; }
};

// Reads EdgeConfig. INVALID_ARGUMENT naming every bad or missing variable (kernel::ConfigReader's format).
// Registers every credential as a secret, so it can never reach a log line.
absl::StatusOr<EdgeConfig> LoadEdgeConfig(const kernel::Env& env, kernel::AppEnv app_env);

}  // namespace protectogram::edge
