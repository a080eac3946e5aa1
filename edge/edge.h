// The edge: the only door from the outside. Shaped like Beast's server: the http::Server's listener and
// sessions read requests and hand them to a Router, whose webhook routes (one per entry of the route table,
// routes.h) call the pure checks of webhooks.h, store what they accept through the group-commit InboxWriter,
// and answer. Behind them an InboxRelay delivers every stored row to its service (Forwarder), until the
// service has it.
//
//   POST /telegram/webhook?secret=...   bot "main"           -> incident  (HandleChatEvent)
//   POST /webhook/<bot_id>              X-Telegram-Bot-Api-Secret-Token
//   POST /telnyx/webhook                Ed25519, 300 s window -> telephony (HandleCallEvent)
//   POST /twilio/voice                  X-Twilio-Signature    -> telephony
//   POST /twilio/whatsapp               X-Twilio-Signature    -> incident
//   GET  /whatsapp/webhook              hub.challenge
//   POST /whatsapp/webhook              X-Hub-Signature-256   -> incident
//   GET  /health, /health/live, /health/ready, /metrics (when enabled)
//        (ready: Postgres answers; /health also reports each service's health check, cached by the probe)
//   (and, through EdgeOptions::extra_routes, the REST call API, call_api.h, and the admin routes, admin_api.h)
//
// The answer to a webhook says only whether it is stored: 200 once it is committed (or was there already),
// whatever the service does next; 503 if it could not be stored (the provider retries); 4xx for what is
// refused (nothing stored). See docs/edge.md.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "edge/config.h"
#include "edge/forwarder.h"
#include "edge/inbox_writer.h"
#include "edge/routes.h"
#include "edge/service_health.h"
#include "libs/http/server.h"
#include "libs/jobs/inbox.h"
#include "libs/kernel/metrics.h"
#include "libs/kernel/readiness.h"
#include "libs/pg/pool.h"

namespace protectogram::edge {

struct EdgeOptions {
  EdgeConfig config;
  std::string database_url;  // DATABASE_URL (the protectogram_edge role)
  int db_pool_size = 4;      // DB_POOL_SIZE: the relay's and readiness' pool (the writers have their own)
  std::string listen_address = "0.0.0.0";
  uint16_t port = 8080;  // HTTP_PORT; 0 picks a free one (see port())
  bool metrics_enabled = true;
  kernel::MetricsRegistry* metrics = nullptr;    // nullptr: DefaultMetrics()
  const kernel::Readiness* readiness = nullptr;  // what /health/ready reports; nullptr: always ready
  std::function<absl::Time()> now;               // for the Telnyx window; empty: absl::Now
  bool run_relay = true;                         // false: store only (tests of the routes)
  absl::Duration relay_rescan_interval = absl::Seconds(5);
  // More routes (the REST call API, edge/call_api.h; the admin routes, edge/admin_api.h), added to the router
  // after the webhooks.
  std::function<void(http::Router&)> extra_routes;
};

// The HTTP server's limits from the edge's configuration.
http::ParserLimits ServerLimits(const EdgeConfig& config);

class Edge {
 public:
  // INVALID_ARGUMENT for a malformed database URL. Connects nothing yet.
  static absl::StatusOr<std::unique_ptr<Edge>> Create(EdgeOptions options);
  ~Edge();  // Stop()
  Edge(const Edge&) = delete;
  Edge& operator=(const Edge&) = delete;

  // Starts the writers, the relay and the HTTP server. UNAVAILABLE if the port cannot be bound.
  absl::Status Start();
  // Stops taking connections and lets in-flight requests finish until `deadline`, then stops the writers
  // (after storing what is queued) and the relay. Safe to call more than once.
  void Stop(absl::Time deadline = absl::Now() + absl::Seconds(5));
  uint16_t port() const;

  // The readiness probe: OK when Postgres answers a ping, which is all the edge needs to accept webhooks
  // (what it accepts while a service is down waits in the inbox). On the way it asks the three services'
  // health checks, in parallel with the ping, and keeps their answers for GET /health and edge_service_up;
  // they never fail it. Takes about ready_timeout at worst.
  absl::Status CheckReady();

  // What the last CheckReady found: "ok" / "unavailable" for Postgres and each service's status by name
  // ("SERVING", "NOT_SERVING", "UNAVAILABLE"); "unknown" and "UNKNOWN" before the first probe.
  struct Dependencies {
    std::string postgres;
    std::vector<std::pair<std::string, std::string>> services;  // incident, notification, telephony
  };
  Dependencies dependencies() const;

  // Answers a request as the server would (route, head checks, handler), without a socket: for tests.
  http::Response Handle(const http::Request& request, std::string* route = nullptr) const;
  const EdgeConfig& config() const { return options_.config; }

 private:
  explicit Edge(EdgeOptions options);
  http::Router BuildRouter();
  // Registers the route table's entry `index` (routes.h): its body limit, head check and handler.
  void AddWebhookRoute(http::Router& router, size_t index);
  // Stores what a check accepted and answers; or answers its refusal.
  http::Response Ingest(size_t index, const http::Request& request,
                        absl::StatusOr<std::vector<InboxRecord>> verdict);
  http::Response Refuse(const WebhookRoute& route, const http::Request& request, const absl::Status& status);
  void Observe(std::string_view route, int status, std::chrono::nanoseconds elapsed);
  void ObserveRefusal(std::string_view route, const http::Refusal& refusal, std::string_view client);
  absl::Time Now() const { return options_.now ? options_.now() : absl::Now(); }

  const EdgeOptions options_;
  kernel::MetricsRegistry& metrics_;
  kernel::Counter& rejected_;
  kernel::Counter& accepted_;
  enum class Outcome { kStored, kDuplicate, kIgnored };
  // webhook_accepted_total's children of each route table entry, by Outcome.
  std::vector<std::array<kernel::CounterChild*, 3>> accepted_children_;
  std::function<void(std::string_view, int, std::chrono::nanoseconds)> http_observer_;

  std::unique_ptr<pg::Pool> pool_;         // relay, readiness
  std::unique_ptr<pg::Pool> ingest_pool_;  // the writers: one connection each
  std::unique_ptr<jobs::Inbox> inbox_;
  std::unique_ptr<InboxWriter> writer_;
  std::shared_ptr<grpc::Channel> incident_channel_, telephony_channel_, notification_channel_;
  std::unique_ptr<Forwarder> forwarder_;
  std::unique_ptr<ServiceHealth> service_health_;
  kernel::Gauge& service_up_;  // edge_service_up{service}
  mutable std::mutex dependencies_mu_;
  Dependencies dependencies_;  // guarded by dependencies_mu_
  std::unique_ptr<jobs::InboxRelay> relay_;
  std::unique_ptr<http::Router> router_;
  std::unique_ptr<http::Server> server_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace protectogram::edge
