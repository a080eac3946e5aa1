#include "libs/providers/telnyx/telnyx.h"

#include <boost/json.hpp>
#include <cctype>
#include <optional>

#include "libs/crypto/ed25519.h"
#include "libs/crypto/encoding.h"
#include "libs/providers/common/error.h"
#include "libs/providers/common/json_reader.h"
#include "libs/providers/common/text.h"

namespace protectogram::providers::telnyx {
namespace {

namespace json = boost::json;
using common::v1::CallEvent;

// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4): SEQUENCE { SEQUENCE { OID 1.3.101.112 },
// BIT STRING (33 bytes, 0 unused bits) }, followed by the 32 key bytes.
constexpr std::string_view kSpkiPrefix("\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00", 12);

absl::Status BadKey() {
  return WithProviderError(absl::InvalidArgumentError("malformed public key"), ProviderError::kBadKey);
}
absl::Status MalformedHeader(std::string_view which) {
  return WithProviderError(absl::InvalidArgumentError("malformed " + std::string(which) + " header"),
                           ProviderError::kMalformedSignature);
}

common::v1::CallEventType MapType(std::string_view event_type) {
  using common::v1::CallEventType;
  if (event_type == "call.initiated") return common::v1::CALL_EVENT_TYPE_INITIATED;
  if (event_type == "call.answered") return common::v1::CALL_EVENT_TYPE_ANSWERED;
  if (event_type == "call.dtmf.received") return common::v1::CALL_EVENT_TYPE_DTMF;
  if (event_type == "call.gather.ended") return common::v1::CALL_EVENT_TYPE_GATHER_ENDED;
  if (event_type == "call.speak.ended") return common::v1::CALL_EVENT_TYPE_SPEAK_ENDED;
  if (event_type == "call.hangup") return common::v1::CALL_EVENT_TYPE_HANGUP;
  if (event_type == "call.machine.detection.ended" || event_type == "call.machine.premium.detection.ended") {
    return common::v1::CALL_EVENT_TYPE_MACHINE_DETECTION_ENDED;
  }
  return common::v1::CALL_EVENT_TYPE_OTHER;
}

// RFC 3339 ("2018-02-02T22:25:27.521992Z", or with a numeric offset).
std::optional<absl::Time> ParseRfc3339(const std::string& text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) return std::nullopt;
  return t;
}

}  // namespace

absl::StatusOr<std::string> ParsePublicKey(std::string_view public_key_b64) {
  absl::StatusOr<std::string> der = crypto::Base64Decode(public_key_b64);
  if (!der.ok()) return BadKey();
  if (der->size() == crypto::kEd25519KeySize) return *der;
  if (der->size() == kSpkiPrefix.size() + crypto::kEd25519KeySize && der->starts_with(kSpkiPrefix)) {
    return der->substr(kSpkiPrefix.size());
  }
  return BadKey();
}

absl::Status CheckWebhookHeaders(std::string_view public_key_b64, std::string_view signature_b64_header,
                                 std::string_view timestamp_header, absl::Time now,
                                 absl::Duration tolerance) {
  absl::StatusOr<std::string> key = ParsePublicKey(public_key_b64);
  if (!key.ok()) return key.status();
  if (signature_b64_header.empty()) {
    return WithProviderError(absl::PermissionDeniedError("missing signature"),
                             ProviderError::kMissingSignature);
  }
  if (timestamp_header.empty()) {
    return WithProviderError(absl::PermissionDeniedError("missing timestamp"),
                             ProviderError::kMissingSignature);
  }
  absl::StatusOr<std::string> signature = crypto::Base64Decode(signature_b64_header);
  if (!signature.ok() || signature->size() != crypto::kEd25519SignatureSize) {
    return MalformedHeader("signature");
  }
  // Unix seconds: digits only (no sign, no spaces), at most 18 of them so the value fits int64.
  if (timestamp_header.size() > 18) return MalformedHeader("timestamp");
  int64_t seconds = 0;
  for (char c : timestamp_header) {
    if (c < '0' || c > '9') return MalformedHeader("timestamp");
    seconds = seconds * 10 + (c - '0');
  }
  // The window first: a replay is refused without spending a signature check on it.
  if (absl::AbsDuration(now - absl::FromUnixSeconds(seconds)) > tolerance) {
    return WithProviderError(absl::PermissionDeniedError("timestamp outside window"), ProviderError::kReplay);
  }
  return absl::OkStatus();
}

absl::Status VerifyWebhook(std::string_view public_key_b64, std::string_view signature_b64_header,
                           std::string_view timestamp_header, std::string_view raw_body, absl::Time now,
                           absl::Duration tolerance) {
  if (absl::Status headers =
          CheckWebhookHeaders(public_key_b64, signature_b64_header, timestamp_header, now, tolerance);
      !headers.ok()) {
    return headers;
  }
  absl::StatusOr<std::string> key = ParsePublicKey(public_key_b64);
  absl::StatusOr<std::string> signature = crypto::Base64Decode(signature_b64_header);
  if (!key.ok() || !signature.ok()) return absl::InternalError("checked above");
  std::string signed_bytes;
  signed_bytes.reserve(timestamp_header.size() + 1 + raw_body.size());
  signed_bytes.append(timestamp_header).append("|").append(raw_body);
  absl::Status verified = crypto::Ed25519Verify(*key, signed_bytes, *signature);
  if (verified.code() == absl::StatusCode::kPermissionDenied)
    return WithProviderError(absl::PermissionDeniedError("bad signature"), ProviderError::kBadSignature);
  return verified;
}

absl::StatusOr<std::string> SignWebhook(std::string_view seed, std::string_view timestamp_header,
                                        std::string_view raw_body) {
  std::string signed_bytes;
  signed_bytes.append(timestamp_header).append("|").append(raw_body);
  absl::StatusOr<std::string> signature = crypto::Ed25519Sign(seed, signed_bytes);
  if (!signature.ok()) return signature.status();
  return crypto::Base64Encode(*signature);
}

namespace {

// ParseEvent, with the reason of a missing data.id attached (ParseEvent attaches the others).
absl::StatusOr<CallEvent> ParseEventFields(std::string_view body) {
  absl::StatusOr<json::object> envelope = ParseJsonObject(body, "webhook");
  if (!envelope.ok()) return envelope.status();
  JsonReader r;
  const json::object* data = r.Object(&*envelope, "data", "data");
  r.Require(data != nullptr, "data");
  auto id = r.String(data, "id", "data.id");
  auto event_type = r.String(data, "event_type", "data.event_type");
  auto occurred_at = r.String(data, "occurred_at", "data.occurred_at");
  const json::object* payload = r.Object(data, "payload", "data.payload");
  if (!r.ok()) return r.status();
  // The reader holds no error yet: a missing data.id is its first, and what it returns below.
  const bool missing_id = !id.has_value() || id->empty();
  r.Require(!missing_id, "data.id");
  r.Require(event_type.has_value() && !event_type->empty(), "data.event_type");

  CallEvent e;
  e.set_provider(common::v1::PROVIDER_TELNYX);
  e.set_provider_event_id(id.value_or(""));
  e.set_provider_event_type(event_type.value_or(""));
  e.set_type(MapType(e.provider_event_type()));
  if (occurred_at) {
    std::optional<absl::Time> t = ParseRfc3339(*occurred_at);
    if (!t) return absl::InvalidArgumentError("data.occurred_at must be an RFC 3339 time");
    SetTimestamp(*t, e.mutable_occurred_at());
  }

  if (auto v = r.String(payload, "call_control_id", "data.payload.call_control_id")) e.set_call_id(*v);
  if (auto v = r.String(payload, "call_session_id", "data.payload.call_session_id"))
    e.set_call_session_id(*v);
  if (auto v = r.String(payload, "from", "data.payload.from")) e.set_from(*v);
  if (auto v = r.String(payload, "to", "data.payload.to")) e.set_to(*v);
  if (auto v = r.String(payload, "hangup_cause", "data.payload.hangup_cause")) e.set_hangup_cause(*v);
  if (auto v = r.String(payload, "client_state", "data.payload.client_state"); v && !v->empty()) {
    absl::StatusOr<std::string> decoded = crypto::Base64Decode(*v);
    if (!decoded.ok() || !IsValidUtf8(*decoded)) {
      return absl::InvalidArgumentError("data.payload.client_state must be base64 of UTF-8 text");
    }
    e.set_client_state(*decoded);
  }
  // One digit for call.dtmf.received, the gathered digits for call.gather.ended.
  if (auto v = r.String(payload, "digits", "data.payload.digits")) {
    e.set_digits(*v);
  } else if (auto d = r.String(payload, "digit", "data.payload.digit")) {
    e.set_digits(*d);
  }
  // Gather/speak status, or the answering machine detection result.
  if (auto v = r.String(payload, "status", "data.payload.status")) {
    e.set_status(*v);
  } else if (auto res = r.String(payload, "result", "data.payload.result")) {
    e.set_status(*res);
  }
  auto start_time = r.String(payload, "start_time", "data.payload.start_time");
  auto end_time = r.String(payload, "end_time", "data.payload.end_time");
  if (!r.ok()) return missing_id ? WithProviderError(r.status(), ProviderError::kMissingId) : r.status();
  if (e.type() == common::v1::CALL_EVENT_TYPE_HANGUP && start_time && end_time) {
    std::optional<absl::Time> start = ParseRfc3339(*start_time);
    std::optional<absl::Time> end = ParseRfc3339(*end_time);
    // Best effort: a duration we cannot compute is left at 0 rather than refusing a genuine hangup.
    if (start && end && *end >= *start && *end - *start < absl::Hours(24 * 365)) {
      e.set_duration_sec(static_cast<int32_t>(absl::ToInt64Seconds(*end - *start)));
    }
  }
  return e;
}

}  // namespace

absl::StatusOr<CallEvent> ParseEvent(std::string_view body) {
  absl::StatusOr<CallEvent> event = ParseEventFields(body);
  if (!event.ok()) return WithProviderErrorIfNone(event.status(), ProviderError::kMalformed);
  return event;
}

}  // namespace protectogram::providers::telnyx
