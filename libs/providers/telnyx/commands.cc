#include "libs/providers/telnyx/commands.h"

#include <boost/json.hpp>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "libs/crypto/encoding.h"
#include "libs/providers/common/json_reader.h"

namespace protectogram::providers::telnyx {
namespace {

namespace json = boost::json;

bool IsUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// Call control ids look like "v3:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BquLDgw": ':' is allowed in a
// path segment (RFC 3986 pchar) and kept; anything else outside the unreserved set is percent-encoded.
std::string EncodePathSegment(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (IsUnreserved(static_cast<char>(c)) || c == ':') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

void PutOptional(json::object& o, std::string_view key, const std::string& value) {
  if (!value.empty()) o[json::string_view(key.data(), key.size())] = value;
}

// At most `max` bytes of UTF-8 text, never cutting a character in two.
std::string CutUtf8(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return std::string(s.substr(0, end)) + "...";
}

}  // namespace

std::string DialPath() { return "/v2/calls"; }

std::string ActionPath(std::string_view call_control_id, std::string_view action) {
  return "/v2/calls/" + EncodePathSegment(call_control_id) + "/actions/" + EncodePathSegment(action);
}

absl::StatusOr<std::string> BuildDialBody(const DialRequest& request) {
  if (request.connection_id.empty()) return absl::InvalidArgumentError("dial: connection_id is required");
  if (request.from.empty()) return absl::InvalidArgumentError("dial: from is required");
  if (request.to.empty()) return absl::InvalidArgumentError("dial: to is required");
  if (request.timeout_secs < 5 || request.timeout_secs > 600) {
    return absl::InvalidArgumentError("dial: timeout_secs must be 5..600");
  }
  json::object o;
  o["connection_id"] = request.connection_id;
  o["from"] = request.from;
  o["to"] = request.to;
  o["timeout_secs"] = request.timeout_secs;
  PutOptional(o, "command_id", request.command_id);
  if (!request.client_state.empty()) o["client_state"] = crypto::Base64Encode(request.client_state);
  PutOptional(o, "webhook_url", request.webhook_url);
  PutOptional(o, "answering_machine_detection", request.answering_machine_detection);
  return json::serialize(o);
}

absl::StatusOr<std::string> BuildGatherUsingSpeakBody(const GatherUsingSpeakRequest& request) {
  const size_t length = CodePoints(request.payload);
  if (length == 0 || length > 3000)
    return absl::InvalidArgumentError("gather: payload must be 1..3000 characters");
  if (request.voice.empty()) return absl::InvalidArgumentError("gather: voice is required");
  if (request.minimum_digits < 1) return absl::InvalidArgumentError("gather: minimum_digits must be >= 1");
  if (request.maximum_digits > 128 || request.maximum_digits < request.minimum_digits) {
    return absl::InvalidArgumentError("gather: maximum_digits must be minimum_digits..128");
  }
  if (request.valid_digits.empty() ||
      request.valid_digits.find_first_not_of("0123456789*#") != std::string::npos) {
    return absl::InvalidArgumentError("gather: valid_digits must be some of 0-9 * #");
  }
  if (request.timeout_millis < 0) return absl::InvalidArgumentError("gather: timeout_millis must be >= 0");
  if (request.maximum_tries < 0) return absl::InvalidArgumentError("gather: maximum_tries must be >= 0");
  json::object o;
  o["payload"] = request.payload;
  o["voice"] = request.voice;
  PutOptional(o, "language", request.language);
  o["minimum_digits"] = request.minimum_digits;
  o["maximum_digits"] = request.maximum_digits;
  o["valid_digits"] = request.valid_digits;
  if (request.timeout_millis > 0) o["timeout_millis"] = request.timeout_millis;
  if (request.maximum_tries > 0) o["maximum_tries"] = request.maximum_tries;
  PutOptional(o, "command_id", request.command_id);
  if (!request.client_state.empty()) o["client_state"] = crypto::Base64Encode(request.client_state);
  return json::serialize(o);
}

std::string BuildHangupBody(const HangupRequest& request) {
  json::object o;
  PutOptional(o, "command_id", request.command_id);
  if (!request.client_state.empty()) o["client_state"] = crypto::Base64Encode(request.client_state);
  return json::serialize(o);
}

absl::StatusOr<DialResponse> ParseDialResponse(std::string_view body) {
  absl::StatusOr<json::object> root = ParseJsonObject(body, "dial answer");
  if (!root.ok()) return root.status();
  JsonReader r;
  const json::object* data = r.Object(&*root, "data", "data");
  r.Require(data != nullptr, "data");
  DialResponse out;
  std::optional<std::string> id = r.String(data, "call_control_id", "data.call_control_id");
  out.call_leg_id = r.String(data, "call_leg_id", "data.call_leg_id").value_or("");
  out.call_session_id = r.String(data, "call_session_id", "data.call_session_id").value_or("");
  if (data != nullptr) r.Require(id.has_value() && !id->empty(), "data.call_control_id");
  if (!r.ok()) return r.status();
  out.call_control_id = std::move(*id);
  return out;
}

std::optional<ApiError> FirstError(std::string_view body) {
  absl::StatusOr<json::object> root = ParseJsonObject(body, "error answer");
  if (!root.ok()) return std::nullopt;
  JsonReader r;
  const json::array* errors = r.Array(&*root, "errors", "errors");
  if (errors == nullptr || errors->empty() || !errors->front().is_object()) return std::nullopt;
  const json::object* first = &errors->front().get_object();
  ApiError out;
  out.code = r.Id(first, "code", "errors[0].code").value_or("");
  out.title = r.String(first, "title", "errors[0].title").value_or("");
  out.detail = r.String(first, "detail", "errors[0].detail").value_or("");
  return out;
}

std::string ParseErrorResponse(int http_status, std::string_view body) {
  std::string text = "HTTP " + std::to_string(http_status);
  std::optional<ApiError> error = FirstError(body);
  if (!error.has_value()) return text;
  std::string what = error->code;
  if (!error->title.empty()) what += (what.empty() ? "" : " ") + CutUtf8(error->title, 100);
  if (!error->detail.empty()) what += (what.empty() ? "" : ": ") + CutUtf8(error->detail, 200);
  return what.empty() ? text : text + ": " + what;
}

bool IsCallEndedError(int http_status, std::string_view body) {
  if (http_status != 422) return false;
  std::optional<ApiError> error = FirstError(body);
  return error.has_value() && error->code == kCallEndedErrorCode;
}

std::string_view ClassifyCommandError(int http_status) {
  if (http_status >= 200 && http_status < 300) return "ok";
  if (http_status == 401 || http_status == 403) return "unauthorized";
  if (http_status == 429) return "rate_limited";
  if (http_status >= 400 && http_status < 500) return "refused";
  if (http_status >= 500 && http_status < 600) return "server_error";
  return "unexpected_status";
}

std::string FormatEventTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

absl::StatusOr<std::string> BuildWebhookBody(const WebhookEnvelope& webhook) {
  if (webhook.event_type.empty()) return absl::InvalidArgumentError("webhook: event_type is required");
  if (webhook.event_id.empty()) return absl::InvalidArgumentError("webhook: event_id is required");
  absl::StatusOr<json::object> payload = ParseJsonObject(webhook.payload_json, "webhook payload");
  if (!payload.ok()) return absl::InvalidArgumentError("webhook: payload must be a JSON object");
  json::object data;
  data["record_type"] = "event";
  data["event_type"] = webhook.event_type;
  data["id"] = webhook.event_id;
  data["occurred_at"] = FormatEventTime(webhook.occurred_at);
  data["payload"] = std::move(*payload);
  json::object meta;
  meta["attempt"] = webhook.attempt;
  PutOptional(meta, "delivered_to", webhook.delivered_to);
  json::object o;
  o["data"] = std::move(data);
  o["meta"] = std::move(meta);
  return json::serialize(o);
}

}  // namespace protectogram::providers::telnyx
