#include "tools/sim/console_http.h"

#include <boost/json.hpp>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tools/sim/console_assets.h"

namespace protectogram::sim {
namespace {

namespace json = boost::json;

constexpr size_t kBodyLimit = 16 << 10;

std::string ContentType(absl::string_view path) {
  if (absl::EndsWith(path, ".html")) return "text/html; charset=utf-8";
  if (absl::EndsWith(path, ".js")) return "text/javascript; charset=utf-8";
  if (absl::EndsWith(path, ".css")) return "text/css; charset=utf-8";
  return "application/octet-stream";
}

int HttpStatus(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:
      return 409;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

http::Response Answer(const absl::Status& s) {
  if (s.ok()) return http::Response::Json(200, R"({"ok":true})");
  return http::Response::Json(
      HttpStatus(s), json::serialize(json::object{{"ok", false}, {"error", std::string(s.message())}}));
}

// The body as a JSON object; an empty body is {}.
absl::StatusOr<json::object> Body(const http::Request& request) {
  if (request.body.empty()) return json::object{};
  boost::system::error_code ec;
  json::value v = json::parse(request.body, ec);
  if (ec || !v.is_object()) return absl::InvalidArgumentError("the body is not a JSON object");
  return std::move(v.as_object());
}

absl::StatusOr<std::string> StringField(const json::object& body, std::string_view name) {
  const json::value* v = body.if_contains(name);
  if (v == nullptr || !v->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", std::string(name), "\" (a string) is required"));
  }
  return std::string(v->as_string());
}

// "/api/<kind>/<id>/<action>" -> {id, action}; ids may hold ':' (Telnyx call ids do), never '/'.
bool SplitAction(absl::string_view path, absl::string_view prefix, std::string* id, std::string* action) {
  if (!absl::StartsWith(path, prefix)) return false;
  std::vector<std::string> parts = absl::StrSplit(path.substr(prefix.size()), '/');
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) return false;
  *id = parts[0];
  *action = parts[1];
  return true;
}

http::Response PersonAction(Sandbox& sandbox, const http::Request& request) {
  std::string key, action;
  if (!SplitAction(absl::string_view(request.path), "/api/people/", &key, &action)) {
    return Answer(absl::NotFoundError("use /api/people/<key>/<text|contact|button|phone>"));
  }
  absl::StatusOr<json::object> body = Body(request);
  if (!body.ok()) return Answer(body.status());
  if (action == "text") {
    absl::StatusOr<std::string> text = StringField(*body, "text");
    return Answer(text.ok() ? sandbox.SendText(key, *text) : text.status());
  }
  if (action == "contact") return Answer(sandbox.ShareContact(key));
  if (action == "button") {
    absl::StatusOr<std::string> data = StringField(*body, "data");
    if (!data.ok()) return Answer(data.status());
    const json::value* id = body->if_contains("message_id");
    if (id == nullptr || !id->is_int64()) {
      return Answer(absl::InvalidArgumentError("\"message_id\" (a number) is required"));
    }
    return Answer(sandbox.PressButton(key, id->as_int64(), *data));
  }
  if (action == "phone") {
    absl::StatusOr<std::string> mode = StringField(*body, "mode");
    return Answer(mode.ok() ? sandbox.SetPhoneMode(key, *mode) : mode.status());
  }
  return Answer(
      absl::NotFoundError(absl::StrCat("no action \"", action, "\" (text, contact, button, phone)")));
}

http::Response CallAction(Sandbox& sandbox, const http::Request& request) {
  std::string id, action;
  if (!SplitAction(absl::string_view(request.path), "/api/calls/", &id, &action)) {
    return Answer(absl::NotFoundError("use /api/calls/<id>/<answer|decline|hangup|digit>"));
  }
  if (action == "answer") return Answer(sandbox.AnswerCall(id));
  if (action == "decline") return Answer(sandbox.DeclineCall(id));
  if (action == "hangup") return Answer(sandbox.HangupCall(id));
  if (action == "digit") {
    absl::StatusOr<json::object> body = Body(request);
    if (!body.ok()) return Answer(body.status());
    absl::StatusOr<std::string> digit = StringField(*body, "digit");
    return Answer(digit.ok() ? sandbox.PressDigit(id, *digit) : digit.status());
  }
  return Answer(
      absl::NotFoundError(absl::StrCat("no action \"", action, "\" (answer, decline, hangup, digit)")));
}

}  // namespace

http::Router ConsoleRouter(Sandbox& sandbox) {
  http::Router router;
  for (const ConsoleAsset& asset : ConsoleAssets()) {
    http::Handler serve = [asset](const http::Request&) {
      http::Response r;
      r.content_type = ContentType(absl::string_view(asset.path.data(), asset.path.size()));
      r.body = std::string(asset.bytes);
      r.headers.emplace_back("Cache-Control", "no-cache");
      return r;
    };
    if (asset.path == "/index.html") router.Add("GET", "/", serve);
    router.Add("GET", std::string(asset.path), serve);
  }
  router.Add("GET", "/api/state", [&sandbox](const http::Request&) {
    http::Response r = http::Response::Json(200, sandbox.StateJson());
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  });
  router.Add("GET", "/health", [&sandbox](const http::Request&) {
    return http::Response::Json(
        sandbox.ready() ? 200 : 503,
        json::serialize(json::object{{"ready", sandbox.ready()}, {"status", sandbox.status()}}));
  });
  router.AddPrefix("POST", "/api/people/",
                   [&sandbox](const http::Request& r) { return PersonAction(sandbox, r); },
                   {.body_limit = kBodyLimit});
  router.AddPrefix("POST", "/api/calls/",
                   [&sandbox](const http::Request& r) { return CallAction(sandbox, r); },
                   {.body_limit = kBodyLimit});
  return router;
}

}  // namespace protectogram::sim
