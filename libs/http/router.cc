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

void Router::Add(std::string method, std::string path, Handler handler) {
  routes_.push_back(Route{std::move(method), std::move(path), false, std::move(handler)});
}

void Router::AddPrefix(std::string method, std::string prefix, Handler handler) {
  routes_.push_back(Route{std::move(method), std::move(prefix), true, std::move(handler)});
}

Response Router::Dispatch(const Request& request, std::string* route_label) const {
  // Candidates for this path, best first: exact routes, then prefixes from longest to shortest.
  std::vector<const Route*> candidates;
  for (const Route& r : routes_) {
    if (!r.prefix && r.path == request.path) candidates.push_back(&r);
  }
  std::vector<const Route*> prefixes;
  for (const Route& r : routes_) {
    if (r.prefix && request.path.compare(0, r.path.size(), r.path) == 0) prefixes.push_back(&r);
  }
  std::stable_sort(prefixes.begin(), prefixes.end(),
                   [](const Route* a, const Route* b) { return a->path.size() > b->path.size(); });
  candidates.insert(candidates.end(), prefixes.begin(), prefixes.end());

  std::string scratch;
  std::string& label = route_label != nullptr ? *route_label : scratch;
  if (candidates.empty()) {
    label = std::string(kRouteUnmatched);
    return Response::Error(404, "not_found", "no route for " + request.path);
  }
  for (const Route* r : candidates) {
    if (r->method != request.method) continue;
    label = r->path;
    try {
      return r->handler(request);
    } catch (const std::exception& e) {
      kernel::LogError("http handler threw", {{"route", r->path}, {"error", e.what()}});
    } catch (...) {
      kernel::LogError("http handler threw", {{"route", r->path}, {"error", "unknown exception"}});
    }
    return Response::Error(500, "internal", "internal error");
  }
  // The path is known but not for this method.
  label = candidates.front()->path;
  std::set<std::string> methods;
  for (const Route* r : candidates) methods.insert(r->method);
  Response response = Response::Error(405, "method_not_allowed", request.method + " not allowed");
  response.headers.emplace_back("Allow", absl::StrJoin(methods, ", "));
  return response;
}

}  // namespace protectogram::http
