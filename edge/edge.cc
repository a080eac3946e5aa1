#include "edge/edge.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/kernel/config.h"
#include "libs/kernel/log.h"
#include "libs/kernel/ops_http.h"
#include "libs/kernel/rpc.h"
#include "libs/pg/status.h"

namespace protectogram::edge {
namespace {

constexpr char kInboxTable[] = "edge.inbox_events";
// The services the edge forwards to, as GET /health and edge_service_up name them.
constexpr const char* kServiceNames[] = {"incident", "notification", "telephony"};
// An empty TwiML document: Twilio wants TwiML back from voice and messaging webhooks; this one says nothing
// more (no reply message; the call's next step comes from the telephony service).
constexpr char kEmptyTwiml[] = R"(<?xml version="1.0" encoding="UTF-8"?><Response/>)";

// Raises this thread's nice value by `nice` (Linux: per thread). Never fails the caller.
bool LowerThreadPriority(int nice) {
  if (nice <= 0) return false;
  const id_t tid = static_cast<id_t>(::syscall(SYS_gettid));
  errno = 0;
  const int current = ::getpriority(PRIO_PROCESS, tid);
  if (errno != 0) return false;
  return ::setpriority(PRIO_PROCESS, tid, std::min(current + nice, 19)) == 0;
}

}  // namespace

http::ParserLimits ServerLimits(const EdgeConfig& config) {
  http::ParserLimits limits;
  limits.request_line = config.request_line_limit_bytes;
  limits.field_line = config.header_field_limit_bytes;
  limits.header_total = config.header_limit_bytes;
  limits.field_count = config.header_count_limit;
  limits.chunk_line = config.chunk_line_limit_bytes;
  limits.chunk_overhead = config.chunk_overhead_limit_bytes;
  limits.trailer_total = config.trailer_limit_bytes;
  limits.body = config.body_limit_bytes;
  return limits;
}

absl::StatusOr<std::unique_ptr<Edge>> Edge::Create(EdgeOptions options) {
  std::unique_ptr<Edge> edge(new Edge(std::move(options)));
  const EdgeConfig& config = edge->options_.config;

  pg::PoolOptions pool_options;
  pool_options.url = edge->options_.database_url;
  pool_options.size = edge->options_.db_pool_size;
  pool_options.ping_timeout = config.ready_timeout;
  pool_options.application_name = "protectogram-edge";
  absl::StatusOr<std::unique_ptr<pg::Pool>> pool = pg::Pool::Create(pool_options);
  if (!pool.ok()) return pool.status();
  edge->pool_ = *std::move(pool);

  // The writers' own pool: a webhook never waits behind the relay for a connection, and a slow database
  // costs a webhook at most store_timeout before it is answered 503.
  pg::PoolOptions ingest_options;
  ingest_options.url = edge->options_.database_url;
  ingest_options.size = config.ingest_writers;
  ingest_options.acquire_timeout = config.store_timeout;
  ingest_options.connect_timeout = absl::Seconds(2);
  ingest_options.statement_timeout = config.store_timeout;
  ingest_options.reconnect_backoff_max = absl::Seconds(1);
  ingest_options.application_name = "protectogram-edge-ingest";
  absl::StatusOr<std::unique_ptr<pg::Pool>> ingest_pool = pg::Pool::Create(ingest_options);
  if (!ingest_pool.ok()) return ingest_pool.status();
  edge->ingest_pool_ = *std::move(ingest_pool);

  absl::StatusOr<std::unique_ptr<jobs::Inbox>> inbox =
      jobs::Inbox::Create(*edge->ingest_pool_, {.table = kInboxTable, .metrics = &edge->metrics_});
  if (!inbox.ok()) return inbox.status();
  edge->inbox_ = *std::move(inbox);

  edge->incident_channel_ = kernel::ServiceChannel(config.incident_addr);
  edge->telephony_channel_ = kernel::ServiceChannel(config.telephony_addr);
  edge->notification_channel_ = kernel::ServiceChannel(config.notification_addr);
  edge->forwarder_ = std::make_unique<Forwarder>(edge->incident_channel_, edge->telephony_channel_,
                                                 config.forward_timeout, &edge->metrics_);
  edge->service_health_ = std::make_unique<ServiceHealth>(
      std::vector<ServiceHealth::Target>{{kServiceNames[0], edge->incident_channel_},
                                         {kServiceNames[1], edge->notification_channel_},
                                         {kServiceNames[2], edge->telephony_channel_}},
      config.ready_timeout);

  if (edge->options_.run_relay && config.relay_threads > 0) {
    jobs::InboxRelayOptions relay_options;
    relay_options.table = kInboxTable;
    relay_options.threads = config.relay_threads;
    relay_options.batch_size = 64;
    relay_options.lease = config.forward_timeout + absl::Seconds(25);
    relay_options.retry = jobs::RetryPolicy::Exponential(absl::Milliseconds(250), config.forward_retry_max);
    relay_options.rescan_interval = edge->options_.relay_rescan_interval;
    relay_options.metrics = &edge->metrics_;
    Forwarder* forwarder = edge->forwarder_.get();
    const int nice = config.relay_nice;
    absl::StatusOr<std::unique_ptr<jobs::InboxRelay>> relay = jobs::InboxRelay::Create(
        *edge->pool_, std::move(relay_options), [forwarder, nice](const jobs::InboxMessage& message) {
          // The relay's threads (claims, deliveries, completions) yield the CPU to storing webhooks.
          thread_local const bool lowered = LowerThreadPriority(nice);
          (void)lowered;
          return forwarder->Deliver(message);
        });
    if (!relay.ok()) return relay.status();
    edge->relay_ = *std::move(relay);
  }

  InboxWriterOptions writer_options;
  writer_options.writers = config.ingest_writers;
  writer_options.max_batch = static_cast<size_t>(config.ingest_batch_max);
  writer_options.wait_timeout = config.store_timeout + absl::Seconds(1);
  writer_options.metrics = &edge->metrics_;
  jobs::InboxRelay* relay = edge->relay_.get();
  if (relay != nullptr) writer_options.on_stored = [relay] { relay->Wake(); };
  edge->writer_ =
      std::make_unique<InboxWriter>(*edge->ingest_pool_, *edge->inbox_, std::move(writer_options));

  http::Router router = edge->BuildRouter();
  edge->router_ = std::make_unique<http::Router>(router);
  http::ServerOptions server_options;
  server_options.address = edge->options_.listen_address;
  server_options.port = edge->options_.port;
  server_options.threads = config.io_threads;
  server_options.handler_threads = config.handler_threads;
  server_options.limits = ServerLimits(config);
  server_options.header_timeout = absl::ToChronoMilliseconds(config.header_timeout);
  server_options.read_timeout = absl::ToChronoMilliseconds(config.read_timeout);
  server_options.idle_timeout = absl::ToChronoMilliseconds(config.idle_timeout);
  server_options.max_connections = config.max_connections;
  server_options.max_connections_per_client = config.max_connections_per_client;
  server_options.client_address_header = config.client_ip_header;
  Edge* self = edge.get();
  server_options.observer = [self](std::string_view route, int status, std::chrono::nanoseconds elapsed) {
    self->Observe(route, status, elapsed);
  };
  server_options.refusal_observer = [self](std::string_view route, const http::Refusal& refusal,
                                           std::string_view client) {
    self->ObserveRefusal(route, refusal, client);
  };
  edge->server_ = std::make_unique<http::Server>(std::move(server_options), std::move(router));
  return edge;
}

Edge::Edge(EdgeOptions options)
    : options_(std::move(options)),
      metrics_(options_.metrics != nullptr ? *options_.metrics : kernel::DefaultMetrics()),
      rejected_(
          metrics_.AddCounter("webhook_rejected_total",
                              "Webhook requests the edge refused or could not store, by provider and reason.",
                              {"provider", "reason"})),
      accepted_(
          metrics_.AddCounter("webhook_accepted_total",
                              "Webhook events the edge answered 200 for, by provider and outcome (stored, "
                              "duplicate, ignored).",
                              {"provider", "outcome"})),
      http_observer_(kernel::HttpMetricsObserver(metrics_)),
      service_up_(
          metrics_.AddGauge("edge_service_up",
                            "1 when the service answered the edge's last gRPC health check with SERVING, "
                            "else 0 (checked about once a second, with the readiness probe).",
                            {"service"})) {
  dependencies_.postgres = "unknown";
  for (const char* name : kServiceNames) {
    dependencies_.services.emplace_back(name, "UNKNOWN");
    service_up_.WithLabels({name}).Set(0);  // exposed from the start
  }
  // Looked up once: the hot path only increments.
  for (const WebhookRoute& route : WebhookRoutes()) {
    auto& row = accepted_children_.emplace_back();
    row[static_cast<size_t>(Outcome::kStored)] = &accepted_.WithLabels({route.label, "stored"});
    row[static_cast<size_t>(Outcome::kDuplicate)] = &accepted_.WithLabels({route.label, "duplicate"});
    row[static_cast<size_t>(Outcome::kIgnored)] = &accepted_.WithLabels({route.label, "ignored"});
  }
}

Edge::~Edge() { Stop(); }

absl::Status Edge::Start() {
  if (started_) return absl::FailedPreconditionError("edge already started");
  started_ = true;
  writer_->Start();
  if (relay_ != nullptr) {
    if (absl::Status s = relay_->Start(); !s.ok()) return s;
  }
  if (absl::Status s = server_->Start(); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("HTTP_PORT ", options_.port, ": ", std::string(s.message())));
  }
  const EdgeConfig& config = options_.config;
  for (const std::string& warning : config.warnings) {
    kernel::LogWarn("edge: provider not fully configured; its webhooks answer 404", {{"problem", warning}});
  }
  kernel::LogInfo("edge: listening", {{"http_port", static_cast<int>(server_->port())},
                                      {"telegram_bots", static_cast<int64_t>(config.bots.bots().size())},
                                      {"telnyx", config.telnyx_configured()},
                                      {"twilio", config.twilio_configured()},
                                      {"whatsapp", config.whatsapp_configured()},
                                      {"handler_threads", config.handler_threads},
                                      {"ingest_writers", config.ingest_writers}});
  return absl::OkStatus();
}

void Edge::Stop(absl::Time deadline) {
  if (!started_ || stopped_) return;
  stopped_ = true;
  // In-flight webhooks finish (their handlers wait on the writers), then the writers store what is queued,
  // then the relay gives back what it claimed but did not start.
  const absl::Duration left = std::max(deadline - absl::Now(), absl::ZeroDuration());
  server_->Stop(absl::ToChronoMilliseconds(left));
  writer_->Stop();
  if (relay_ != nullptr) relay_->Stop();
}

uint16_t Edge::port() const { return server_->port(); }

absl::Status Edge::CheckReady() {
  // Both at once: the probe takes about ready_timeout at worst.
  std::future<std::vector<ServiceHealth::Result>> checks =
      std::async(std::launch::async, [this] { return service_health_->CheckEach(); });
  const absl::Status db = pool_->Ping();
  const std::vector<ServiceHealth::Result> services = checks.get();

  Dependencies now;
  now.postgres = db.ok() ? "ok" : "unavailable";
  for (const ServiceHealth::Result& r : services) {
    now.services.emplace_back(r.name, r.status);
    service_up_.WithLabels({r.name}).Set(r.serving() ? 1 : 0);
  }
  Dependencies before;
  {
    std::lock_guard<std::mutex> lock(dependencies_mu_);
    before = std::exchange(dependencies_, now);
  }
  // A service's reachability no longer moves readiness (whose changes the kernel logs), so its changes are
  // logged here.
  for (size_t i = 0; i < services.size(); ++i) {
    const ServiceHealth::Result& r = services[i];
    const bool known = i < before.services.size() && before.services[i].second != "UNKNOWN";
    const bool was_serving = known && before.services[i].second == "SERVING";
    if (r.serving() && known && !was_serving) {
      kernel::LogInfo("edge: service is serving again", {{"upstream", r.name}});
    } else if (!r.serving() && (!known || was_serving)) {
      kernel::LogWarn("edge: service is not serving; its events wait in the inbox",
                      {{"upstream", r.name}, {"status", r.status}, {"error", r.error}});
    }
  }
  if (db.ok()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("postgres: ", std::string(db.message())));
}

Edge::Dependencies Edge::dependencies() const {
  std::lock_guard<std::mutex> lock(dependencies_mu_);
  return dependencies_;
}

http::Response Edge::Handle(const http::Request& request, std::string* route) const {
  // As the server runs a request: the route, its head checks, then its handler.
  http::Router::Match match = router_->Find(request.method, request.path);
  if (route != nullptr) *route = match.label;
  if (match.route == nullptr) return std::move(match.refusal);
  if (match.route->options.precheck) {
    if (std::optional<http::Response> refused = match.route->options.precheck(request))
      return *std::move(refused);
  }
  return http::Router::Run(*match.route, request);
}

http::Router Edge::BuildRouter() {
  http::Router router;
  // Operations: liveness, readiness, metrics, version.
  kernel::AddOpsRoutes(router, &metrics_, options_.readiness, options_.metrics_enabled);
  // The version, and what the last readiness probe found (no call to anything here).
  router.Add("GET", "/health", [this](const http::Request&) {
    const Dependencies deps = dependencies();
    std::string body = absl::StrCat(R"({"status":"ok","version":")", std::string(kernel::Version()),
                                    R"(","postgres":")", deps.postgres, R"(","services":{)");
    for (size_t i = 0; i < deps.services.size(); ++i) {
      absl::StrAppend(&body, i == 0 ? "" : ",", "\"", deps.services[i].first, "\":\"",
                      deps.services[i].second, "\"");
    }
    body += "}}";
    return http::Response::Json(200, std::move(body));
  });

  // The webhooks: one route per entry of the route table (routes.h).
  for (size_t i = 0; i < WebhookRoutes().size(); ++i) AddWebhookRoute(router, i);

  // Routes that are neither operations nor webhooks are added here, each group by a function of its own file
  // (as AddOpsRoutes). Their paths must not be a webhook's: a route label of the table counts as a webhook's
  // in webhook_rejected_total.
  if (options_.extra_routes) options_.extra_routes(router);
  return router;
}

void Edge::AddWebhookRoute(http::Router& router, size_t index) {
  const WebhookRoute& route = WebhookRoutes()[index];
  // The provider's body limit, and the checks that need no body run on the head.
  http::RouteOptions route_options;
  if (route.body_limit != nullptr) route_options.body_limit = options_.config.*route.body_limit;
  if (route.precheck != nullptr) {
    route_options.precheck = [this, &route](const http::Request& head) -> std::optional<http::Response> {
      absl::Status checked = route.precheck({.config = options_.config, .request = head, .now = Now()});
      if (checked.ok()) return std::nullopt;
      return Refuse(route, head, checked);
    };
  }
  http::Handler handler = [this, index, &route](const http::Request& request) {
    const WebhookCall call{.config = options_.config, .request = request, .now = Now()};
    if (route.accept != nullptr) return Ingest(index, request, route.accept(call));
    absl::StatusOr<http::Response> answer = route.answer(call);
    if (!answer.ok()) return Refuse(route, request, answer.status());
    return *std::move(answer);
  };
  if (route.prefix) {
    router.AddPrefix(std::string(route.method), std::string(route.path), std::move(handler),
                     std::move(route_options));
  } else {
    router.Add(std::string(route.method), std::string(route.path), std::move(handler),
               std::move(route_options));
  }
}

http::Response Edge::Ingest(size_t index, const http::Request& request,
                            absl::StatusOr<std::vector<InboxRecord>> verdict) {
  const WebhookRoute& route = WebhookRoutes()[index];
  if (!verdict.ok()) return Refuse(route, request, verdict.status());
  std::vector<bool> ignored;
  for (const InboxRecord& r : *verdict) ignored.push_back(!r.ignore_reason.empty());
  const std::string first_key = verdict->front().event.provider_event_id;
  absl::StatusOr<std::vector<jobs::StoredEvent>> stored = writer_->Store(*std::move(verdict));
  const std::string_view provider = route.label;
  if (!stored.ok()) {
    // A row Postgres refuses even alone fails on every retry (500); anything else may pass on one (503).
    const bool row_error = pg::IsRowError(stored.status());
    rejected_.WithLabels({provider, row_error ? "store_failed" : "store_unavailable"}).Inc();
    kernel::LogWarn("edge: webhook not stored", {{"provider", provider},
                                                 {"provider_event_id", first_key},
                                                 {"code", absl::StatusCodeToString(stored.status().code())},
                                                 {"error", std::string(stored.status().message())}});
    if (row_error) return http::Response::Error(500, "store_failed", "the event could not be stored");
    http::Response response =
        http::Response::Error(503, "store_unavailable", "the event could not be stored now; retry later");
    response.headers.emplace_back("Retry-After", "5");
    return response;
  }
  bool all_duplicates = true;
  for (size_t i = 0; i < stored->size(); ++i) {
    const jobs::StoredEvent& s = (*stored)[i];
    all_duplicates = all_duplicates && s.duplicate;
    const Outcome outcome =
        s.duplicate ? Outcome::kDuplicate : (ignored[i] ? Outcome::kIgnored : Outcome::kStored);
    accepted_children_[index][static_cast<size_t>(outcome)]->Inc();
  }
  if (route.reply == WebhookRoute::Reply::kTwiml) {
    http::Response response;
    response.status = 200;
    response.content_type = "text/xml; charset=utf-8";
    response.body = kEmptyTwiml;
    return response;
  }
  return http::Response::Json(200, all_duplicates ? R"({"ok":true,"duplicate":true})" : R"({"ok":true})");
}

http::Response Edge::Refuse(const WebhookRoute& route, const http::Request& request,
                            const absl::Status& status) {
  const RejectReason reason = RejectReasonOf(status).value_or(RejectReason::kMalformed);
  const int http_status = HttpStatusOf(reason);
  const std::string_view provider = route.label;
  const std::string_view label = ReasonLabel(reason);
  rejected_.WithLabels({provider, label}).Inc();
  // Never the target: /telegram/webhook carries its secret in the query.
  (http_status == 403 ? kernel::LogWarn : kernel::LogInfo)(
      "edge: webhook refused",
      {{"provider", provider},
       {"reason", label},
       {"status", http_status},
       {"message", std::string(status.message())},
       {"path", request.path.size() > 64 ? request.path.substr(0, 64) : request.path},
       {"remote", request.remote_address}});
  return http::Response::Error(http_status, label, std::string(status.message()));
}

void Edge::Observe(std::string_view route, int status, std::chrono::nanoseconds elapsed) {
  http_observer_(route, status, elapsed);
  if (status != 405) return;
  if (const WebhookRoute* webhook = WebhookRouteOfLabel(route); webhook != nullptr) {
    rejected_.WithLabels({webhook->label, "method_not_allowed"}).Inc();
    kernel::LogInfo("edge: webhook refused",
                    {{"provider", webhook->label}, {"reason", "method_not_allowed"}, {"status", 405}});
  }
}

void Edge::ObserveRefusal(std::string_view route, const http::Refusal& refusal, std::string_view client) {
  // A refusal after the head named a webhook route counts for its provider; before that, for "unknown".
  const WebhookRoute* webhook = WebhookRouteOfLabel(route);
  const std::string_view provider = webhook != nullptr ? webhook->label : std::string_view("unknown");
  const std::string_view reason = http::RefusalLabel(refusal.reason);
  rejected_.WithLabels({provider, reason}).Inc();
  kernel::LogInfo("edge: request refused by the server", {{"provider", provider},
                                                          {"reason", reason},
                                                          {"status", http::RefusalStatus(refusal.reason)},
                                                          {"message", refusal.message},
                                                          {"remote", client}});
}

}  // namespace protectogram::edge
