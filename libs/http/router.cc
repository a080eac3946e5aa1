#include <algorithm>
#include <exception>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "boost/json.hpp"
#include "libs/http/server.h"
#include "libs/kernel/log.h"

namespace protectogram::http {

std::string_view Request::Header(std::string_view name) const {
  auto it = headers.find(std::string(name));
  return it == headers.end() ? std::string_view() : std::string_view(it->second);
}

std::string_view Request::QueryParam(std::string_view name) const {
  auto it = query.find(std::string(name));  // multimap::find returns the first of equal keys
  return it == query.end() ? std::string_view() : std::string_view(it->second);
}

Response Response::Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

Response Response::Text(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

Response Response::Error(int status, std::string_view code, std::string_view message) {
  boost::json::object o;
  o["error"] = boost::json::string_view(code.data(), code.size());
  o["message"] = boost::json::string_view(message.data(), message.size());
  return Json(status, boost::json::serialize(o));
}

void Router::Add(std::string method, std::string path, Handler handler, RouteOptions options) {
  routes_.push_back(Route{std::move(method), std::move(path), false, std::move(handler), std::move(options)});
}

void Router::AddPrefix(std::string method, std::string prefix, Handler handler, RouteOptions options) {
  routes_.push_back(
      Route{std::move(method), std::move(prefix), true, std::move(handler), std::move(options)});
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  // Candidates for this path, best first: exact routes, then prefixes from longest to shortest.
  std::vector<const Route*> candidates;
  for (const Route& r : routes_) {
    if (!r.prefix && r.path == path) candidates.push_back(&r);
  }
  std::vector<const Route*> prefixes;
  for (const Route& r : routes_) {
    if (r.prefix && path.substr(0, r.path.size()) == r.path) prefixes.push_back(&r);
  }
  std::stable_sort(prefixes.begin(), prefixes.end(),
                   [](const Route* a, const Route* b) { return a->path.size() > b->path.size(); });
  candidates.insert(candidates.end(), prefixes.begin(), prefixes.end());

  Match match;
  if (candidates.empty()) {
    match.label = std::string(kRouteUnmatched);
    match.refusal = Response::Error(404, "not_found", "no route for " + std::string(path.substr(0, 256)));
    return match;
  }
  // HEAD is GET without the body (RFC 9110 §9.3.2).
  const std::string_view wanted = method == "HEAD" ? std::string_view("GET") : method;
  for (const Route* r : candidates) {
    if (r->method != wanted) continue;
    match.route = r;
    match.label = r->path;
    return match;
  }
  // The path is known but not for this method.
  match.label = candidates.front()->path;
  std::set<std::string> methods;
  for (const Route* r : candidates) {
    methods.insert(r->method);
    if (r->method == "GET") methods.insert("HEAD");
  }
  match.refusal =
      Response::Error(405, "method_not_allowed", std::string(method.substr(0, 32)) + " not allowed");
  match.refusal.headers.emplace_back("Allow", absl::StrJoin(methods, ", "));
  return match;
}

Response Router::Run(const Route& route, const Request& request) {
  try {
    return route.handler(request);
  } catch (const std::exception& e) {
    kernel::LogError("http handler threw", {{"route", route.path}, {"error", e.what()}});
  } catch (...) {
    kernel::LogError("http handler threw", {{"route", route.path}, {"error", "unknown exception"}});
  }
  return Response::Error(500, "internal", "internal error");
}

Response Router::Dispatch(const Request& request, std::string* route_label) const {
  Match match = Find(request.method, request.path);
  if (route_label != nullptr) *route_label = match.label;
  if (match.route == nullptr) return std::move(match.refusal);
  return Run(*match.route, request);
}

}  // namespace protectogram::http
