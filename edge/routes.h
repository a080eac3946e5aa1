// The webhook route table: one entry per webhook the edge takes, saying all the edge knows about it. The
// checks and parsers an entry names live in webhooks.h (pure: verify, parse, inbox rows) and translate.h
// (stored row -> typed event); everything else is driven by the table:
//   - the router (edge.cc): each entry is registered under its method and path (or prefix) with its body
//     limit and head check, and a handler that runs its accept check, stores the rows and answers;
//   - the metrics and log lines: the entry's label is the `provider` of webhook_accepted_total and
//     webhook_rejected_total, also for what the server refuses itself once a head named the entry's path
//     (405, 413, ...);
//   - the relay: a stored row is translated by the entry whose inbox provider it has, and delivered to the
//     entry's target service (translate.h, forwarder.h).
//
// Adding a webhook is adding one entry to WebhookRoutes() (routes.cc), with its checks in webhooks.h and its
// translation in translate.h; see docs/edge.md ("The route table").
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "edge/config.h"
#include "edge/translate.h"
#include "edge/webhooks.h"
#include "libs/http/server.h"
#include "libs/jobs/inbox.h"

namespace protectogram::edge {

// What a route's checks are given.
struct WebhookCall {
  const EdgeConfig& config;
  const http::Request& request;  // in a precheck, the head alone (no body yet)
  absl::Time now;                // for signed timestamps (Telnyx's window)
};

struct WebhookRoute {
  // How a stored webhook is answered: {"ok":true} ({"ok":true,"duplicate":true} when every row was there
  // already), or an empty TwiML document (Twilio wants TwiML back from voice and messaging webhooks).
  enum class Reply { kJson, kTwiml };

  std::string_view method;  // "POST", "GET"
  // The exact path, or with `prefix` a path prefix ("/webhook/" + bot id); the route label in the HTTP
  // metrics either way. Every entry of one path has the same `label`.
  std::string_view path;
  bool prefix = false;
  // The `provider` label of the edge's metrics and log lines: "telegram", "telnyx", "twilio_voice", ...
  std::string_view label;
  // The inbox provider of the rows the route stores ("telnyx"), or with `inbox_prefix` its prefix
  // ("telegram:" + the bot id). Empty for a route that stores nothing.
  std::string_view inbox_provider;
  bool inbox_prefix = false;
  // The route's body limit in the configuration; nullptr: the server's.
  size_t EdgeConfig::*body_limit = nullptr;
  // The checks that need no body, run on the head before the body is read; nullptr: none.
  absl::Status (*precheck)(const WebhookCall& head) = nullptr;
  // A route that stores: the rows to store, or a refusal (Reject); and how a stored request is answered.
  absl::StatusOr<std::vector<InboxRecord>> (*accept)(const WebhookCall& call) = nullptr;
  Reply reply = Reply::kJson;
  // A route that answers without storing anything (the WhatsApp subscription check): its answer, or a
  // refusal (Reject). Exactly one of accept and answer is set.
  absl::StatusOr<http::Response> (*answer)(const WebhookCall& call) = nullptr;
  // For the rows the route stores: the typed event of a stored row (translate.h), and the service it goes to.
  absl::StatusOr<ForwardEvent> (*translate)(const jobs::InboxMessage& row) = nullptr;
  ForwardEvent::Target target = ForwardEvent::Target::kIncident;
};

// Every webhook route, in the order the router registers them (and their metrics are created).
std::span<const WebhookRoute> WebhookRoutes();

// The first entry registered under this route label (http::Router::Match::label: a path or prefix), or
// nullptr for a path that is not a webhook's.
const WebhookRoute* WebhookRouteOfLabel(std::string_view route_label);
// The first entry that stores rows of this inbox provider ("telnyx", "telegram:alpha"), or nullptr.
const WebhookRoute* WebhookRouteOfInboxProvider(std::string_view provider);

}  // namespace protectogram::edge
