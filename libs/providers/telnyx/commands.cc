#include "libs/providers/telnyx/commands.h"

#include <boost/json.hpp>

#include "absl/status/status.h"
#include "libs/crypto/encoding.h"

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
  json::object o;
  o["payload"] = request.payload;
  o["voice"] = request.voice;
  PutOptional(o, "language", request.language);
  o["minimum_digits"] = request.minimum_digits;
  o["maximum_digits"] = request.maximum_digits;
  o["valid_digits"] = request.valid_digits;
  if (request.timeout_millis > 0) o["timeout_millis"] = request.timeout_millis;
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

}  // namespace protectogram::providers::telnyx
