#include "edge/admin_api.h"

#include <boost/json.hpp>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "edge/call_api.h"
#include "libs/crypto/constant_time.h"
#include "libs/kernel/log.h"
#include "libs/kernel/rpc.h"

namespace protectogram::edge {
namespace {

namespace json = boost::json;
namespace iv1 = incident::v1;

constexpr char kShape[] = R"(the body must be a JSON object with "traveler_user_id" or "telegram_id")";

// The field's value: nullopt when absent or null; INVALID_ARGUMENT when it is not a positive integer.
absl::StatusOr<std::optional<int64_t>> PositiveInteger(const json::object& object, std::string_view name) {
  const json::value* v = object.if_contains(json::string_view(name.data(), name.size()));
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (v->is_int64() && v->get_int64() > 0) return v->get_int64();
  return absl::InvalidArgumentError(absl::StrCat(std::string(name), " must be a positive integer"));
}

}  // namespace

absl::StatusOr<iv1::TriggerTestPanicRequest> ParseTriggerPanicTest(std::string_view body) {
  boost::system::error_code ec;
  json::value value = json::parse(json::string_view(body.data(), body.size()), ec);
  if (ec)
    return absl::InvalidArgumentError(absl::StrCat("the body is not JSON (", ec.message(), "); ", kShape));
  if (!value.is_object()) return absl::InvalidArgumentError(kShape);
  const json::object& object = value.as_object();
  absl::StatusOr<std::optional<int64_t>> traveler = PositiveInteger(object, "traveler_user_id");
  if (!traveler.ok()) return traveler.status();
  absl::StatusOr<std::optional<int64_t>> telegram = PositiveInteger(object, "telegram_id");
  if (!telegram.ok()) return telegram.status();
  if (traveler->has_value() && telegram->has_value()) {
    return absl::InvalidArgumentError("give traveler_user_id or telegram_id, not both");
  }
  if (!traveler->has_value() && !telegram->has_value()) return absl::InvalidArgumentError(kShape);
  iv1::TriggerTestPanicRequest request;
  if (traveler->has_value()) request.set_traveler_user_id(**traveler);
  if (telegram->has_value()) request.set_telegram_id(**telegram);
  return request;
}

std::string TriggerPanicTestJson(const iv1::TriggerTestPanicResponse& response) {
  json::object body;
  body["incident_id"] = response.incident_id();
  body["already_active"] = response.already_active();
  return json::serialize(body);
}

http::Response IncidentAdminError(const absl::Status& status) {
  const std::string message(status.message());
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return Detail(404, message.empty() ? "Not found" : message);
    case absl::StatusCode::kFailedPrecondition:
      return Detail(409, message.empty() ? "Conflict" : message);
    case absl::StatusCode::kInvalidArgument:
      return Detail(422, message.empty() ? "Invalid request" : message);
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded: {
      http::Response r = Detail(503, "Incident service unavailable");
      r.headers.emplace_back("Retry-After", "5");
      return r;
    }
    default:
      return Detail(502, "Incident service error");
  }
}

AdminApi::AdminApi(Options options)
    : options_(std::move(options)), incident_(iv1::IncidentAdminService::NewStub(options_.incident)) {}

std::unique_ptr<AdminApi> AdminApi::Create(std::string admin_token, const std::string& incident_addr) {
  Options options;
  options.admin_token = std::move(admin_token);
  options.incident = kernel::ServiceChannel(incident_addr);
  return std::make_unique<AdminApi>(std::move(options));
}

void AdminApi::AddRoutes(http::Router& router) {
  http::RouteOptions limits;
  limits.body_limit = kAdminBodyLimit;
  router.Add(
      "POST", kTriggerPanicTestPath, [this](const http::Request& r) { return TriggerPanicTest(r); }, limits);
}

std::optional<http::Response> AdminApi::Authorize(const http::Request& request) {
  const std::optional<std::string> token = BearerToken(request.Header("authorization"));
  std::string_view reason;
  if (!token.has_value()) {
    reason = "missing";
  } else if (!crypto::ConstantTimeEquals(*token, options_.admin_token)) {
    reason = "wrong_token";
  } else {
    return std::nullopt;
  }
  // Never the presented value.
  kernel::LogWarn("edge: admin request refused",
                  {{"path", request.path}, {"reason", reason}, {"remote", request.remote_address}});
  http::Response r = Detail(401, reason == "missing" ? "Not authenticated" : "Invalid admin token");
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

http::Response AdminApi::TriggerPanicTest(const http::Request& request) {
  if (!enabled()) return Detail(404, "Not Found");
  // The caller's X-Correlation-Id when valid, else a new one: on the log lines, the call to the incident
  // service and the answer.
  const std::string presented(request.Header("x-correlation-id"));
  const std::string correlation_id =
      kernel::IsValidCorrelationId(presented) ? presented : kernel::NewCorrelationId();
  kernel::CorrelationScope correlation(correlation_id);
  http::Response response = TriggerPanicTestInScope(request);
  response.headers.emplace_back("X-Correlation-Id", correlation_id);
  return response;
}

http::Response AdminApi::TriggerPanicTestInScope(const http::Request& request) {
  if (std::optional<http::Response> refused = Authorize(request)) return *std::move(refused);
  absl::StatusOr<iv1::TriggerTestPanicRequest> parsed = ParseTriggerPanicTest(request.body);
  if (!parsed.ok()) return Detail(422, std::string(parsed.status().message()));

  iv1::TriggerTestPanicResponse answer;
  const absl::Status status =
      kernel::CallService(*incident_, &iv1::IncidentAdminService::Stub::TriggerTestPanic, *parsed, &answer,
                          options_.incident_timeout, options_.admin_token);
  if (!status.ok()) {
    const bool refused = status.code() == absl::StatusCode::kNotFound ||
                         status.code() == absl::StatusCode::kFailedPrecondition ||
                         status.code() == absl::StatusCode::kInvalidArgument;
    (refused ? kernel::LogInfo : kernel::LogWarn)("edge: test panic not triggered",
                                                  {{"traveler_user_id", parsed->traveler_user_id()},
                                                   {"telegram_id", parsed->telegram_id()},
                                                   {"code", absl::StatusCodeToString(status.code())},
                                                   {"error", std::string(status.message())}});
    return IncidentAdminError(status);
  }
  kernel::LogInfo("edge: test panic triggered", {{"traveler_user_id", parsed->traveler_user_id()},
                                                 {"telegram_id", parsed->telegram_id()},
                                                 {"incident_id", answer.incident_id()},
                                                 {"already_active", answer.already_active()}});
  return http::Response::Json(200, TriggerPanicTestJson(answer));
}

}  // namespace protectogram::edge
