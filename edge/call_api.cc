#include "edge/call_api.h"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "edge/openapi.h"
#include "libs/crypto/bcrypt.h"
#include "libs/crypto/random.h"
#include "libs/http/form.h"
#include "libs/kernel/log.h"
#include "libs/kernel/rpc.h"

namespace protectogram::edge {
namespace {

namespace json = boost::json;
namespace tv1 = telephony::v1;

constexpr char kInteractionPrefix[] = "/api/v1/interaction/";
constexpr char kStatusPrefix[] = "/api/v1/status/";
constexpr char kCallsPrefix[] = "/api/v1/calls/";
constexpr size_t kBodyLimit = 64 * 1024;
constexpr size_t kMaxFieldChars = 50;
constexpr size_t kMaxMessageChars = 1000;
constexpr size_t kMaxLanguageChars = 35;
constexpr size_t kMaxIdempotencyKey = 128;
constexpr int kMaxPriority = 10;
constexpr int kMaxTimeoutSec = 600;
// Verified against when a token names no known user, so that a wrong user name costs as much time as a wrong
// password (cost 12, like the hashes AddApiUser makes).
constexpr char kTimingHash[] = "$2b$12$KahS5noKO3V.ueBRqP4FSePdylc8gLc8IeBoWNBi4l4ecSSoyt8.6";

json::string_view J(std::string_view s) { return json::string_view(s.data(), s.size()); }
std::string S(json::string_view s) { return std::string(s.data(), s.size()); }

// Characters as pydantic counts them: Unicode code points of the UTF-8 text.
size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

FieldError Missing(std::vector<std::string> loc) {
  return {std::move(loc), "field required", "value_error.missing", {}};
}

FieldError LimitError(std::vector<std::string> loc, std::string msg, std::string type, int64_t limit) {
  FieldError e{std::move(loc), std::move(msg), std::move(type), {}};
  e.ctx["limit_value"] = limit;
  return e;
}

// The body's fields, read pydantic v1's way: absent or null -> the default stays; strings accept strings
// (and integers, as text); integers accept integers, integral numbers and decimal strings.
class BodyReader {
 public:
  BodyReader(const json::object& object, std::vector<FieldError>* errors)
      : object_(object), errors_(errors) {}

  // Returns true when the field was given (non-null) and valid.
  bool String(std::string_view name, size_t min_chars, size_t max_chars, std::string* out,
              bool required = false) {
    const json::value* v = object_.if_contains(J(name));
    if (v == nullptr) {
      if (required) errors_->push_back(Missing({"body", std::string(name)}));
      return false;
    }
    if (v->is_null()) {
      if (required) {
        errors_->push_back(
            {{"body", std::string(name)}, "none is not an allowed value", "type_error.none.not_allowed", {}});
      }
      return false;
    }
    std::string text;
    if (v->is_string()) {
      text = S(v->get_string());
    } else if (v->is_int64()) {
      text = std::to_string(v->get_int64());
    } else if (v->is_uint64()) {
      text = std::to_string(v->get_uint64());
    } else {
      errors_->push_back({{"body", std::string(name)}, "str type expected", "type_error.str", {}});
      return false;
    }
    const size_t chars = CodePoints(text);
    if (chars < min_chars) {
      errors_->push_back(LimitError({"body", std::string(name)},
                                    absl::StrCat("ensure this value has at least ", min_chars, " characters"),
                                    "value_error.any_str.min_length", static_cast<int64_t>(min_chars)));
      return false;
    }
    if (chars > max_chars) {
      errors_->push_back(LimitError({"body", std::string(name)},
                                    absl::StrCat("ensure this value has at most ", max_chars, " characters"),
                                    "value_error.any_str.max_length", static_cast<int64_t>(max_chars)));
      return false;
    }
    *out = std::move(text);
    return true;
  }

  // An integer with `min` <= v <= `max`; with `exclusive_min`, `min` < v.
  void Int(std::string_view name, int64_t min, bool exclusive_min, int64_t max, int* out) {
    const json::value* v = object_.if_contains(J(name));
    if (v == nullptr || v->is_null()) return;
    std::optional<int64_t> value;
    if (v->is_int64()) {
      value = v->get_int64();
    } else if (v->is_uint64()) {
      value = v->get_uint64() > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX
                                                                 : static_cast<int64_t>(v->get_uint64());
    } else if (v->is_double()) {
      const double d = v->get_double();
      if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < 9e15) value = static_cast<int64_t>(d);
    } else if (v->is_string()) {
      int64_t parsed = 0;
      if (absl::SimpleAtoi(std::string(S(v->get_string())), &parsed)) value = parsed;
    }
    if (!value.has_value()) {
      errors_->push_back(
          {{"body", std::string(name)}, "value is not a valid integer", "type_error.integer", {}});
      return;
    }
    if (exclusive_min && *value <= min) {
      errors_->push_back(LimitError({"body", std::string(name)},
                                    absl::StrCat("ensure this value is greater than ", min),
                                    "value_error.number.not_gt", min));
      return;
    }
    if (!exclusive_min && *value < min) {
      errors_->push_back(LimitError({"body", std::string(name)},
                                    absl::StrCat("ensure this value is greater than or equal to ", min),
                                    "value_error.number.not_ge", min));
      return;
    }
    if (*value > max) {
      errors_->push_back(LimitError({"body", std::string(name)},
                                    absl::StrCat("ensure this value is less than or equal to ", max),
                                    "value_error.number.not_le", max));
      return;
    }
    *out = static_cast<int>(*value);
  }

 private:
  const json::object& object_;
  std::vector<FieldError>* errors_;
};

FieldError NotE164(std::vector<std::string> loc) {
  return {
      std::move(loc), "value is not a valid E.164 phone number (+ and 8 to 15 digits)", "value_error", {}};
}

OriginateRequest Defaults(const CallApiConfig& config) {
  OriginateRequest r;
  r.context = config.default_context;
  r.extension = config.default_extension;
  r.priority = config.default_priority;
  r.timeout_sec = config.default_timeout_sec;
  r.caller_id = config.default_caller_id;
  return r;
}

// Parses `body` as the call's JSON object into `request`. `required`: an empty body is an error (POST
// /api/v1/calls), else it means every default. `with_number`: phone_number is a required field.
void ParseBody(std::string_view body, bool required, bool with_number, OriginateRequest* request,
               std::vector<FieldError>* errors) {
  const bool blank = std::all_of(body.begin(), body.end(), [](char c) { return absl::ascii_isspace(c); });
  if (blank) {
    if (required) errors->push_back(Missing({"body"}));
    return;
  }
  boost::system::error_code ec;
  json::value value = json::parse(J(body), ec);
  if (ec) {
    errors->push_back({{"body"}, "Invalid JSON: " + ec.message(), "value_error.jsondecode", {}});
    return;
  }
  if (value.is_null()) {
    if (required) errors->push_back(Missing({"body"}));
    return;
  }
  if (!value.is_object()) {
    errors->push_back({{"body"}, "value is not a valid dict", "type_error.dict", {}});
    return;
  }
  BodyReader reader(value.as_object(), errors);
  if (with_number) {
    const size_t before = errors->size();
    if (reader.String("phone_number", 0, SIZE_MAX, &request->phone_number, /*required=*/true) &&
        !IsE164(request->phone_number)) {
      errors->push_back(NotE164({"body", "phone_number"}));
    }
    if (errors->size() != before) request->phone_number.clear();
  }
  reader.String("context", 1, kMaxFieldChars, &request->context);
  reader.String("extension", 1, kMaxFieldChars, &request->extension);
  reader.Int("priority", 1, false, kMaxPriority, &request->priority);
  reader.Int("timeout", 0, true, kMaxTimeoutSec, &request->timeout_sec);
  reader.String("caller_id", 1, kMaxFieldChars, &request->caller_id);
  reader.String("message", 0, kMaxMessageChars, &request->message);
  reader.String("language", 0, kMaxLanguageChars, &request->language);
}

ParsedOriginate Finish(OriginateRequest request, std::vector<FieldError> errors) {
  ParsedOriginate parsed;
  if (errors.empty()) {
    parsed.request = std::move(request);
  } else {
    parsed.errors = std::move(errors);
  }
  return parsed;
}

void SetTimestamp(const google::protobuf::Timestamp& ts, json::object& out, std::string_view key) {
  if (ts.seconds() == 0 && ts.nanos() == 0) {
    out[J(key)] = nullptr;
    return;
  }
  out[J(key)] = IsoTime(absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos()));
}

bool HasTime(const google::protobuf::Timestamp& ts) { return ts.seconds() != 0 || ts.nanos() != 0; }

// The one path segment after `prefix`, or nullopt (FastAPI's 404 "Not Found") when it is empty or has more
// segments.
std::optional<std::string> Segment(const http::Request& request, std::string_view prefix) {
  std::string rest = request.path.substr(std::min(request.path.size(), prefix.size()));
  if (rest.empty() || rest.find('/') != std::string::npos) return std::nullopt;
  return rest;
}

// absl::StripAsciiWhitespace takes absl::string_view, which is not std::string_view here.
std::string_view Trim(std::string_view s) {
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool VisibleAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

}  // namespace

absl::StatusOr<RateLimit> ParseRateLimit(std::string_view text) {
  const std::string trimmed = absl::AsciiStrToLower(absl::StripAsciiWhitespace(std::string(text)));
  const absl::Status bad = absl::InvalidArgumentError("must be like 30/minute (or 0 for no limit)");
  if (trimmed == "0") return RateLimit{.count = 0, .period = absl::Minutes(1)};
  std::string count_text, unit;
  if (size_t slash = trimmed.find('/'); slash != std::string::npos) {
    count_text = trimmed.substr(0, slash);
    unit = trimmed.substr(slash + 1);
  } else if (size_t per = trimmed.find(" per "); per != std::string::npos) {
    count_text = trimmed.substr(0, per);
    unit = trimmed.substr(per + 5);
  } else {
    return bad;
  }
  count_text = std::string(absl::StripAsciiWhitespace(count_text));
  unit = std::string(absl::StripAsciiWhitespace(unit));
  int64_t count = 0;
  if (!absl::SimpleAtoi(count_text, &count) || count < 0 || count > 1'000'000) return bad;
  if (unit.size() > 1 && unit.back() == 's') unit.pop_back();
  absl::Duration period;
  if (unit == "second" || unit == "s" || unit == "sec") {
    period = absl::Seconds(1);
  } else if (unit == "minute" || unit == "m" || unit == "min") {
    period = absl::Minutes(1);
  } else if (unit == "hour" || unit == "h") {
    period = absl::Hours(1);
  } else if (unit == "day" || unit == "d") {
    period = absl::Hours(24);
  } else {
    return bad;
  }
  return RateLimit{.count = count, .period = period};
}

absl::StatusOr<CallApiConfig> LoadCallApiConfig(const kernel::Env& env, kernel::AppEnv app_env) {
  kernel::ConfigReader reader(env);
  CallApiConfig config;
  if (app_env == kernel::AppEnv::kDev) {
    config.secret_key = reader.OptionalSecret("SECRET_KEY", "");
  } else {
    config.secret_key = reader.RequiredSecret("SECRET_KEY");
    if (!config.secret_key.empty() && config.secret_key.size() < 32) {
      reader.AddError(absl::StrCat("SECRET_KEY must be at least 32 characters in ",
                                   std::string(kernel::AppEnvName(app_env)), " (e.g. openssl rand -hex 32)"));
    }
  }
  config.enabled = !config.secret_key.empty();
  config.jwt_issuer = reader.Optional("JWT_ISSUER", "");
  config.jwt_audience = reader.Optional("JWT_AUDIENCE", "");
  config.access_token_expire = absl::Minutes(reader.Int("ACCESS_TOKEN_EXPIRE_MINUTES", 30, 1, 43200));
  if (std::optional<std::string> raw = env.Get("CALL_API_RATE_LIMIT"); raw.has_value()) {
    absl::StatusOr<RateLimit> limit = ParseRateLimit(*raw);
    if (limit.ok()) {
      config.rate_limit = *limit;
    } else {
      reader.AddError(absl::StrCat("CALL_API_RATE_LIMIT ", std::string(limit.status().message()), ", got \"",
                                   *raw, "\""));
    }
  }
  config.default_context = reader.Optional("DEFAULT_CONTEXT", config.default_context);
  config.default_extension = reader.Optional("DEFAULT_EXTENSION", config.default_extension);
  config.default_priority =
      static_cast<int>(reader.Int("DEFAULT_PRIORITY", config.default_priority, 1, kMaxPriority));
  config.default_timeout_sec =
      static_cast<int>(reader.Int("DEFAULT_TIMEOUT", config.default_timeout_sec, 1, kMaxTimeoutSec));
  config.default_caller_id = reader.Optional("DEFAULT_CALLER_ID", "");
  config.telephony_timeout =
      reader.Milliseconds("CALL_API_TELEPHONY_TIMEOUT_MS", config.telephony_timeout, absl::Seconds(60));
  if (config.telephony_timeout <= absl::ZeroDuration()) {
    reader.AddError("CALL_API_TELEPHONY_TIMEOUT_MS must be more than 0");
  }
  if (absl::Status s = reader.Finish(); !s.ok()) return s;
  return config;
}

std::string ValidationErrorJson(const std::vector<FieldError>& errors) {
  json::array detail;
  for (const FieldError& e : errors) {
    json::object o;
    json::array loc;
    for (const std::string& l : e.loc) loc.emplace_back(J(l));
    o["loc"] = std::move(loc);
    o["msg"] = J(e.msg);
    o["type"] = J(e.type);
    if (!e.ctx.empty()) o["ctx"] = e.ctx;
    detail.emplace_back(std::move(o));
  }
  json::object body;
  body["detail"] = std::move(detail);
  return json::serialize(body);
}

http::Response ValidationError(const std::vector<FieldError>& errors) {
  return http::Response::Json(422, ValidationErrorJson(errors));
}

http::Response Detail(int status, std::string_view detail) {
  json::object body;
  body["detail"] = J(detail);
  return http::Response::Json(status, json::serialize(body));
}

ParsedOriginate ParseInteraction(std::string_view number, std::string_view body,
                                 const CallApiConfig& config) {
  OriginateRequest request = Defaults(config);
  std::vector<FieldError> errors;
  if (IsE164(number)) {
    request.phone_number = std::string(number);
  } else {
    errors.push_back(NotE164({"path", "number"}));
  }
  ParseBody(body, /*required=*/false, /*with_number=*/false, &request, &errors);
  return Finish(std::move(request), std::move(errors));
}

ParsedOriginate ParseCreateCall(std::string_view body, const CallApiConfig& config) {
  OriginateRequest request = Defaults(config);
  std::vector<FieldError> errors;
  ParseBody(body, /*required=*/true, /*with_number=*/true, &request, &errors);
  return Finish(std::move(request), std::move(errors));
}

ParsedTokenForm ParseTokenForm(std::string_view content_type, std::string_view body) {
  // FastAPI reads a form only from a form content type; anything else leaves every field missing.
  const std::string type = absl::AsciiStrToLower(std::string(content_type.substr(0, content_type.find(';'))));
  std::multimap<std::string, std::string> fields;
  if (absl::StripAsciiWhitespace(type) == "application/x-www-form-urlencoded")
    fields = http::FormDecode(body);
  auto first = [&](const char* name) -> std::optional<std::string> {
    auto it = fields.find(name);
    if (it == fields.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
  ParsedTokenForm parsed;
  if (std::optional<std::string> grant = first("grant_type"); grant.has_value() && *grant != "password") {
    FieldError e{
        {"body", "grant_type"}, "string does not match regex \"password\"", "value_error.str.regex", {}};
    e.ctx["pattern"] = "password";
    parsed.errors.push_back(std::move(e));
  }
  std::optional<std::string> username = first("username");
  std::optional<std::string> password = first("password");
  if (!username.has_value()) parsed.errors.push_back(Missing({"body", "username"}));
  if (!password.has_value()) parsed.errors.push_back(Missing({"body", "password"}));
  if (parsed.errors.empty()) parsed.form = TokenForm{*std::move(username), *std::move(password)};
  return parsed;
}

std::optional<std::string> BearerToken(std::string_view authorization) {
  const std::string_view trimmed = Trim(authorization);
  if (trimmed.empty()) return std::nullopt;
  const size_t space = trimmed.find(' ');
  const std::string scheme = absl::AsciiStrToLower(std::string(trimmed.substr(0, space)));
  if (scheme != "bearer") return std::nullopt;
  if (space == std::string_view::npos) return std::string();
  return std::string(Trim(trimmed.substr(space + 1)));
}

absl::StatusOr<std::string> IssueToken(std::string_view username, const CallApiConfig& config,
                                       absl::Time now) {
  crypto::JwtClaims claims;
  claims.subject = std::string(username);
  claims.issued_at = now;
  claims.expires_at = now + config.access_token_expire;
  claims.issuer = config.jwt_issuer;
  claims.audience = config.jwt_audience;
  return crypto::SignJwtHs256(claims, config.secret_key);
}

absl::StatusOr<crypto::JwtClaims> CheckToken(std::string_view token, const CallApiConfig& config,
                                             absl::Time now) {
  if (token.empty()) return absl::UnauthenticatedError("malformed token");
  crypto::JwtVerifyOptions options;
  options.now = now;
  options.leeway = config.jwt_leeway;
  options.issuer = config.jwt_issuer;
  options.audience = config.jwt_audience;
  return crypto::VerifyJwtHs256(token, config.secret_key, options);
}

ApiCallStatus MapCallStatus(const tv1::Call& call) {
  ApiCallStatus s;
  std::optional<std::string> reason;
  if (!call.failure_reason().empty()) reason = call.failure_reason();
  switch (call.state()) {
    case tv1::CALL_STATE_UNSPECIFIED:
    case tv1::CALL_STATE_PENDING:
      s.status = "pending";
      s.active = true;
      break;
    case tv1::CALL_STATE_DIALING:
      s.status = "dialing";
      s.active = true;
      break;
    case tv1::CALL_STATE_RINGING:
      s.status = "ringing";
      s.active = true;
      break;
    case tv1::CALL_STATE_ANSWERED:
      s.status = "answered";
      s.active = true;
      break;
    case tv1::CALL_STATE_COMPLETED:
      s.status = "completed";
      break;
    case tv1::CALL_STATE_NO_ANSWER:
      s.status = "failed";
      if (!reason) reason = "no_answer";
      break;
    case tv1::CALL_STATE_BUSY:
      s.status = "failed";
      if (!reason) reason = "busy";
      break;
    case tv1::CALL_STATE_CANCELED:
      s.status = "failed";
      if (!reason) reason = "canceled";
      break;
    case tv1::CALL_STATE_FAILED:
    default:
      s.status = "failed";
      if (!reason) reason = call.outcome().empty() ? "failed" : call.outcome();
      break;
  }
  s.failure_reason = std::move(reason);
  return s;
}

std::string IsoTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6S+00:00", t, absl::UTCTimeZone());
}

std::string OriginateResponseJson(const tv1::PlaceCallResponse& response, std::string_view phone_number,
                                  absl::Time now) {
  const tv1::Call& call = response.call();
  ApiCallStatus status = MapCallStatus(call);
  // ivr-call-api answers "dialing" once the originate is accepted; a repeat answers the call as it is.
  if (status.status == "pending") status.status = "dialing";
  const bool success = status.status != "failed";
  json::object o;
  o["success"] = success;
  o["call_id"] = J(response.call_id().empty() ? call.call_id() : response.call_id());
  o["phone_number"] = J(phone_number);
  o["message"] = success ? "Call initiated" : "Error originating call";
  o["channel"] = J(call.provider_call_id());
  o["status"] = J(status.status);
  o["created_at"] = IsoTime(HasTime(call.created_at()) ? absl::FromUnixSeconds(call.created_at().seconds()) +
                                                             absl::Nanoseconds(call.created_at().nanos())
                                                       : now);
  if (!success) o["error"] = J(status.failure_reason.value_or("failed"));
  return json::serialize(o);
}

std::string CallStatusJson(const tv1::Call& call) {
  const ApiCallStatus status = MapCallStatus(call);
  json::object o;
  o["call_id"] = J(call.call_id());
  o["phone_number"] = J(call.to_e164());
  o["status"] = J(status.status);
  o["channel"] = J(call.provider_call_id());
  o["context"] = J(call.dialplan().context());
  o["extension"] = J(call.dialplan().extension());
  o["caller_id"] = J(call.caller_id());
  SetTimestamp(call.created_at(), o, "created_at");
  SetTimestamp(call.dialed_at(), o, "dialed_at");
  SetTimestamp(call.answered_at(), o, "answered_at");
  SetTimestamp(call.ended_at(), o, "ended_at");
  if (HasTime(call.ended_at()) || call.duration_sec() > 0) {
    o["duration"] = call.duration_sec();
  } else {
    o["duration"] = nullptr;
  }
  if (status.failure_reason.has_value()) {
    o["failure_reason"] = J(*status.failure_reason);
  } else {
    o["failure_reason"] = nullptr;
  }
  o["attempt_number"] = call.attempt_number() > 0 ? call.attempt_number() : 1;
  o["is_active"] = status.active;
  o["is_completed"] = !status.active;
  return json::serialize(o);
}

std::string NewUuid() {
  absl::StatusOr<std::string> id = crypto::NewUuid();
  // The kernel's CSPRNG does not fail in practice; a weak id would be worse than stopping.
  if (!id.ok()) {
    kernel::LogError("call api: no random bytes for a call id",
                     {{"error", std::string(id.status().message())}});
    std::abort();
  }
  return *std::move(id);
}

http::Response TelephonyError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return ValidationError({{{"body"}, std::string(status.message()), "value_error", {}}});
    case absl::StatusCode::kPermissionDenied:
      return Detail(403, std::string(status.message()));
    case absl::StatusCode::kResourceExhausted:
      return Detail(429, std::string(status.message()));
    case absl::StatusCode::kNotFound:
      return Detail(404, "Call not found");
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded: {
      http::Response r = Detail(503, "Telephony service unavailable");
      r.headers.emplace_back("Retry-After", "5");
      return r;
    }
    default:
      return Detail(502, "Telephony service error");
  }
}

RateLimiter::RateLimiter(RateLimit limit, std::function<absl::Time()> now)
    : limit_(limit), now_(now ? std::move(now) : std::function<absl::Time()>([] { return absl::Now(); })) {}

std::optional<absl::Duration> RateLimiter::Take(std::string_view key) {
  if (!limit_.enabled()) return std::nullopt;
  const absl::Time now = now_();
  const double capacity = static_cast<double>(limit_.count);
  const double per_second = capacity / absl::ToDoubleSeconds(limit_.period);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) it = buckets_.emplace(std::string(key), Bucket{capacity, now}).first;
  Bucket& b = it->second;
  if (now > b.updated) {
    b.tokens = std::min(capacity, b.tokens + absl::ToDoubleSeconds(now - b.updated) * per_second);
    b.updated = now;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return std::nullopt;
  }
  return absl::Seconds((1.0 - b.tokens) / per_second);
}

CallApi::CallApi(Options options)
    : options_(std::move(options)),
      users_(*options_.users_pool),
      telephony_(tv1::TelephonyService::NewStub(options_.telephony)),
      limiter_(options_.config.rate_limit, options_.now),
      originations_(
          (options_.metrics != nullptr ? *options_.metrics : kernel::DefaultMetrics())
              .AddCounter("call_api_originations_total",
                          "Calls asked for through the REST call API, by outcome (placed, duplicate, "
                          "invalid, rate_limited, refused, unavailable, error).",
                          {"outcome"})),
      auth_failures_((options_.metrics != nullptr ? *options_.metrics : kernel::DefaultMetrics())
                         .AddCounter("call_api_auth_failures_total",
                                     "Requests of the REST call API refused 401, by reason (missing, "
                                     "invalid_token, unknown_user, wrong_password).",
                                     {"reason"})),
      bcrypt_slots_(
          static_cast<std::ptrdiff_t>(std::clamp(std::thread::hardware_concurrency() / 2, 1u, 8u))) {}

absl::StatusOr<std::unique_ptr<CallApi>> CallApi::Create(CallApiConfig config,
                                                         const std::string& database_url,
                                                         const std::string& telephony_addr,
                                                         kernel::MetricsRegistry* metrics) {
  pg::PoolOptions pool_options;
  pool_options.url = database_url;
  pool_options.size = 2;
  pool_options.acquire_timeout = absl::Seconds(2);
  pool_options.connect_timeout = absl::Seconds(2);
  pool_options.statement_timeout = absl::Seconds(2);
  pool_options.reconnect_backoff_max = absl::Seconds(1);
  pool_options.application_name = "protectogram-edge-api";
  absl::StatusOr<std::unique_ptr<pg::Pool>> pool = pg::Pool::Create(std::move(pool_options));
  if (!pool.ok()) return pool.status();
  Options options;
  options.config = std::move(config);
  options.users_pool = pool->get();
  options.telephony = kernel::ServiceChannel(telephony_addr);
  options.metrics = metrics;
  auto api = std::make_unique<CallApi>(std::move(options));
  api->own_pool_ = *std::move(pool);
  return api;
}

void CallApi::AddRoutes(http::Router& router) {
  http::RouteOptions limits;
  limits.body_limit = kBodyLimit;
  router.Add("GET", "/openapi.json", [](const http::Request&) {
    return http::Response::Json(200, std::string(CallApiOpenApiJson()));
  });
  router.Add(
      "POST", "/api/v1/token", [this](const http::Request& r) { return Token(r); }, limits);
  router.AddPrefix(
      "POST", kInteractionPrefix, [this](const http::Request& r) { return Interaction(r); }, limits);
  router.Add(
      "POST", "/api/v1/calls", [this](const http::Request& r) { return CreateCall(r); }, limits);
  router.AddPrefix(
      "GET", kCallsPrefix, [this](const http::Request& r) { return GetStatus(r, kCallsPrefix); }, limits);
  router.AddPrefix(
      "GET", kStatusPrefix, [this](const http::Request& r) { return GetStatus(r, kStatusPrefix); }, limits);
}

http::Response CallApi::RefuseAuth(std::string_view reason, std::string_view detail) {
  auth_failures_.WithLabels({reason}).Inc();
  kernel::LogInfo("call api: request refused", {{"status", 401}, {"reason", reason}});
  http::Response r = Detail(401, detail);
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

std::optional<http::Response> CallApi::Authenticate(const http::Request& request, std::string* username) {
  std::optional<std::string> token = BearerToken(request.Header("authorization"));
  if (!token.has_value()) return RefuseAuth("missing", "Not authenticated");
  absl::StatusOr<crypto::JwtClaims> claims = CheckToken(*token, options_.config, Now());
  if (!claims.ok()) {
    kernel::LogDebug("call api: token refused", {{"why", std::string(claims.status().message())}});
    return RefuseAuth("invalid_token", "Could not validate credentials");
  }
  absl::StatusOr<ApiUser> user = users_.Find(claims->subject);
  if (!user.ok() && user.status().code() == absl::StatusCode::kNotFound) {
    return RefuseAuth("unknown_user", "Could not validate credentials");
  }
  if (!user.ok()) {
    kernel::LogWarn("call api: users unavailable", {{"error", std::string(user.status().message())}});
    http::Response r = Detail(503, "Service temporarily unavailable");
    r.headers.emplace_back("Retry-After", "5");
    return r;
  }
  // A token issued before its user was (re)created belongs to a removed user of the same name.
  if (claims->issued_at + options_.config.jwt_leeway <
      absl::FromUnixSeconds(absl::ToUnixSeconds(user->created_at))) {
    return RefuseAuth("unknown_user", "Could not validate credentials");
  }
  *username = user->username;
  return std::nullopt;
}

http::Response CallApi::Token(const http::Request& request) {
  if (!options_.config.enabled) return Detail(503, "Call API not configured");
  ParsedTokenForm parsed = ParseTokenForm(request.Header("content-type"), request.body);
  if (!parsed.form.has_value()) return ValidationError(parsed.errors);
  absl::StatusOr<ApiUser> user = users_.Find(parsed.form->username);
  if (!user.ok() && user.status().code() != absl::StatusCode::kNotFound) {
    kernel::LogWarn("call api: users unavailable", {{"error", std::string(user.status().message())}});
    http::Response r = Detail(503, "Service temporarily unavailable");
    r.headers.emplace_back("Retry-After", "5");
    return r;
  }
  bool match = false;
  {
    // bcrypt is ~0.25 s of CPU at cost 12: a few at a time, so a flood of logins cannot take every core.
    bcrypt_slots_.acquire();
    absl::StatusOr<bool> verified = crypto::BcryptVerify(
        parsed.form->password, user.ok() ? std::string_view(user->password_hash) : kTimingHash);
    bcrypt_slots_.release();
    match = user.ok() && verified.ok() && *verified;
  }
  if (!match) {
    http::Response r =
        RefuseAuth(user.ok() ? "wrong_password" : "unknown_user", "Incorrect username or password");
    return r;
  }
  absl::StatusOr<std::string> token = IssueToken(user->username, options_.config, Now());
  if (!token.ok()) return Detail(500, "Internal server error");
  kernel::LogInfo("call api: token issued", {{"user", user->username}});
  json::object body;
  body["access_token"] = J(*token);
  body["token_type"] = "bearer";
  http::Response r = http::Response::Json(200, json::serialize(body));
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

http::Response CallApi::Interaction(const http::Request& request) {
  if (!options_.config.enabled) return Detail(503, "Call API not configured");
  std::optional<std::string> number = Segment(request, kInteractionPrefix);
  if (!number.has_value()) return Detail(404, "Not Found");
  std::string username;
  if (std::optional<http::Response> refused = Authenticate(request, &username)) return *std::move(refused);
  return Originate(request, username, ParseInteraction(*number, request.body, options_.config));
}

http::Response CallApi::CreateCall(const http::Request& request) {
  if (!options_.config.enabled) return Detail(503, "Call API not configured");
  std::string username;
  if (std::optional<http::Response> refused = Authenticate(request, &username)) return *std::move(refused);
  return Originate(request, username, ParseCreateCall(request.body, options_.config));
}

http::Response CallApi::Originate(const http::Request& request, const std::string& username,
                                  ParsedOriginate parsed) {
  const std::string_view idempotency_key = request.Header("idempotency-key");
  if (request.headers.contains("idempotency-key") &&
      (idempotency_key.empty() || idempotency_key.size() > kMaxIdempotencyKey ||
       !VisibleAscii(idempotency_key))) {
    parsed.errors.push_back(
        {{"header", "idempotency-key"}, "must be 1 to 128 visible ASCII characters", "value_error", {}});
  }
  if (!parsed.errors.empty()) {
    originations_.WithLabels({"invalid"}).Inc();
    return ValidationError(parsed.errors);
  }
  const OriginateRequest& call = *parsed.request;
  if (std::optional<absl::Duration> wait = limiter_.Take(username)) {
    originations_.WithLabels({"rate_limited"}).Inc();
    kernel::LogInfo("call api: rate limit exceeded", {{"user", username}});
    http::Response r = Detail(429, "Rate limit exceeded");
    r.headers.emplace_back(
        "Retry-After",
        std::to_string(std::max<int64_t>(1, static_cast<int64_t>(std::ceil(absl::ToDoubleSeconds(*wait))))));
    return r;
  }

  tv1::PlaceCallRequest place;
  place.set_attempt_key(request.headers.contains("idempotency-key")
                            ? absl::StrCat("api:", username, ":", std::string(idempotency_key))
                            : absl::StrCat("api:", NewUuid()));
  place.set_to_e164(call.phone_number);
  place.set_speak_text(call.message);
  place.set_language(call.language);
  place.set_ring_timeout_sec(call.timeout_sec);
  place.set_correlation_id(absl::StrCat("api:", username));
  place.set_caller_id(call.caller_id);
  place.mutable_dialplan()->set_context(call.context);
  place.mutable_dialplan()->set_extension(call.extension);
  place.mutable_dialplan()->set_priority(call.priority);
  place.set_requested_by(absl::StrCat("api:", username));

  grpc::ClientContext context;
  kernel::PrepareClientContext(&context);
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(options_.config.telephony_timeout));
  tv1::PlaceCallResponse placed;
  const absl::Status status = kernel::ToAbslStatus(telephony_->PlaceCall(&context, place, &placed));
  if (!status.ok()) {
    const bool down = status.code() == absl::StatusCode::kUnavailable ||
                      status.code() == absl::StatusCode::kDeadlineExceeded;
    const bool refused = status.code() == absl::StatusCode::kInvalidArgument ||
                         status.code() == absl::StatusCode::kPermissionDenied ||
                         status.code() == absl::StatusCode::kResourceExhausted;
    originations_.WithLabels({down ? "unavailable" : (refused ? "refused" : "error")}).Inc();
    (refused ? kernel::LogInfo : kernel::LogWarn)("call api: call not placed",
                                                  {{"user", username},
                                                   {"to", kernel::MaskPhone(call.phone_number)},
                                                   {"code", absl::StatusCodeToString(status.code())}});
    return TelephonyError(status);
  }
  originations_.WithLabels({placed.duplicate() ? "duplicate" : "placed"}).Inc();
  kernel::LogInfo("call api: call placed", {{"user", username},
                                            {"to", kernel::MaskPhone(call.phone_number)},
                                            {"call_id", placed.call_id()},
                                            {"duplicate", placed.duplicate()}});
  return http::Response::Json(200, OriginateResponseJson(placed, call.phone_number, Now()));
}

http::Response CallApi::GetStatus(const http::Request& request, std::string_view prefix) {
  if (!options_.config.enabled) return Detail(503, "Call API not configured");
  std::optional<std::string> call_id = Segment(request, prefix);
  if (!call_id.has_value()) return Detail(404, "Not Found");
  std::string username;
  if (std::optional<http::Response> refused = Authenticate(request, &username)) return *std::move(refused);
  if (!IsUuid(*call_id)) return Detail(404, "Call not found");

  tv1::GetCallRequest get;
  get.set_call_id(absl::AsciiStrToLower(*call_id));
  grpc::ClientContext context;
  kernel::PrepareClientContext(&context);
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(options_.config.telephony_timeout));
  tv1::GetCallResponse got;
  const absl::Status status = kernel::ToAbslStatus(telephony_->GetCall(&context, get, &got));
  if (!status.ok()) {
    if (status.code() == absl::StatusCode::kNotFound || status.code() == absl::StatusCode::kInvalidArgument) {
      return Detail(404, "Call not found");
    }
    kernel::LogWarn("call api: call not read",
                    {{"user", username}, {"code", absl::StatusCodeToString(status.code())}});
    return TelephonyError(status);
  }
  return http::Response::Json(200, CallStatusJson(got.call()));
}

}  // namespace protectogram::edge
