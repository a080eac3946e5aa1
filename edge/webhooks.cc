#include "edge/webhooks.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "boost/json.hpp"
#include "libs/crypto/constant_time.h"
#include "libs/crypto/digest.h"
#include "libs/crypto/encoding.h"
#include "libs/providers/common/error.h"
#include "libs/providers/common/text.h"
#include "libs/providers/telegram/telegram.h"
#include "libs/providers/telnyx/telnyx.h"
#include "libs/providers/twilio/twilio.h"
#include "libs/providers/whatsapp/whatsapp.h"

namespace protectogram::edge {
namespace {

constexpr char kReasonPayloadUrl[] = "type.protectogram.dev/edge.reject_reason";
// The inbox key of a WhatsApp body without messages (receipts): "body:<sha256 of the body>".
constexpr char kWhatsAppBodyKeyPrefix[] = "body:";

constexpr RejectReason kAllReasons[] = {
    RejectReason::kMissingSignature, RejectReason::kBadSignature, RejectReason::kReplay,
    RejectReason::kBadVerifyToken,   RejectReason::kUnknownBot,   RejectReason::kNotConfigured,
    RejectReason::kMalformed,        RejectReason::kMissingId,
};

// An error of libs/providers as a refusal, by the reason the library attached to it; `otherwise` for a
// status without one.
absl::Status FromProviderError(const absl::Status& status, RejectReason otherwise) {
  using providers::ProviderError;
  const std::string message(status.message());
  const std::optional<ProviderError> error = providers::ProviderErrorOf(status);
  if (!error.has_value()) return Reject(otherwise, message);
  switch (*error) {
    case ProviderError::kMissingSignature:
      return Reject(RejectReason::kMissingSignature, message);
    case ProviderError::kBadSignature:
    case ProviderError::kMalformedSignature:  // not a signature we could check
      return Reject(RejectReason::kBadSignature, message);
    case ProviderError::kReplay:
      return Reject(RejectReason::kReplay, message);
    case ProviderError::kBadKey:  // ours: the key is configured, but useless
      return Reject(RejectReason::kNotConfigured, "provider key is unusable");
    case ProviderError::kUnknownBot:
      return Reject(RejectReason::kUnknownBot, "unknown bot");
    case ProviderError::kBadVerifyToken:
      return Reject(RejectReason::kBadVerifyToken, message);
    case ProviderError::kMalformed:
      return Reject(RejectReason::kMalformed, message);
    case ProviderError::kMissingId:
      return Reject(RejectReason::kMissingId, message);
  }
  return Reject(otherwise, message);
}

// A failed signature or secret check of libs/providers; a failed parse of libs/providers.
absl::Status FromVerifyError(const absl::Status& status) {
  return FromProviderError(status, RejectReason::kBadSignature);
}
absl::Status FromParseError(const absl::Status& status) {
  return FromProviderError(status, RejectReason::kMalformed);
}

// Refusals the storable checks give, with the route's reason.
absl::Status CheckStorable(std::string_view body) { return CheckStorableBody(body); }

std::string_view RawQuery(const http::Request& request) {
  const size_t q = request.target.find('?');
  return q == std::string::npos ? std::string_view() : std::string_view(request.target).substr(q + 1);
}

bool IsJsonContentType(std::string_view content_type) {
  return content_type.find("json") != std::string_view::npos;
}

// Verifies a Twilio request and returns its parameters.
absl::StatusOr<providers::FormParams> VerifyTwilio(const EdgeConfig& config, const http::Request& request) {
  if (!config.twilio_configured())
    return Reject(RejectReason::kNotConfigured, "twilio webhooks are not configured");
  if (absl::Status s = CheckStorable(request.body); !s.ok()) return s;
  const std::string url = config.public_base_url + request.target;
  const std::string_view signature = request.Header("x-twilio-signature");
  if (request.query.contains("bodySHA256")) {
    absl::Status verified =
        providers::twilio::VerifyBodySignature(config.twilio_auth_token, url, request.body, signature);
    if (!verified.ok()) return FromVerifyError(verified);
    absl::StatusOr<providers::FormParams> params =
        TwilioParams(request.body, IsJsonContentType(request.Header("content-type")));
    if (!params.ok()) return FromParseError(params.status());
    return params;
  }
  if (signature.empty()) return Reject(RejectReason::kMissingSignature, "missing signature");
  // Counted before parsing: a form of a million empty fields must cost a scan, not a million map nodes.
  if (static_cast<size_t>(std::count(request.body.begin(), request.body.end(), '&')) >=
      kTwilioMaxFormFields) {
    return Reject(RejectReason::kMalformed, "too many form fields");
  }
  absl::StatusOr<providers::FormParams> params = providers::ParseForm(request.body);
  if (!params.ok()) return FromParseError(params.status());
  absl::Status verified =
      providers::twilio::VerifySignature(config.twilio_auth_token, url, *params, signature);
  if (!verified.ok()) return FromVerifyError(verified);
  return params;
}

// Twilio's signature: base64 of an HMAC-SHA1 (20 bytes).
absl::Status CheckTwilioSignatureShape(std::string_view signature) {
  if (signature.empty()) return Reject(RejectReason::kMissingSignature, "missing signature");
  absl::StatusOr<std::string> decoded = crypto::Base64Decode(signature);
  if (!decoded.ok() || decoded->size() != 20) {
    return Reject(RejectReason::kBadSignature, "malformed signature header");
  }
  return absl::OkStatus();
}

bool IsHexDigit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

InboxRecord TwilioRecord(const http::Request& request, std::string provider, std::string event_id) {
  InboxRecord record;
  record.event.provider = std::move(provider);
  record.event.provider_event_id = std::move(event_id);
  record.event.payload = request.body;
  if (request.query.contains("bodySHA256") && IsJsonContentType(request.Header("content-type"))) {
    record.event.payload_json = JsonPayload(request.body);
  }
  record.event.headers_json = KeptHeaders(request, {"content-type", "x-twilio-signature"});
  return record;
}

}  // namespace

std::string_view ReasonLabel(RejectReason reason) {
  switch (reason) {
    case RejectReason::kMissingSignature:
      return "missing_signature";
    case RejectReason::kBadSignature:
      return "bad_signature";
    case RejectReason::kReplay:
      return "replay";
    case RejectReason::kBadVerifyToken:
      return "bad_verify_token";
    case RejectReason::kUnknownBot:
      return "unknown_bot";
    case RejectReason::kNotConfigured:
      return "not_configured";
    case RejectReason::kMalformed:
      return "malformed";
    case RejectReason::kMissingId:
      return "missing_id";
  }
  return "unknown";
}

int HttpStatusOf(RejectReason reason) {
  switch (reason) {
    case RejectReason::kMissingSignature:
    case RejectReason::kBadSignature:
    case RejectReason::kReplay:
    case RejectReason::kBadVerifyToken:
      return 403;
    case RejectReason::kUnknownBot:
    case RejectReason::kNotConfigured:
      return 404;
    case RejectReason::kMalformed:
    case RejectReason::kMissingId:
      return 400;
  }
  return 400;
}

absl::Status Reject(RejectReason reason, std::string_view message) {
  absl::StatusCode code = absl::StatusCode::kInvalidArgument;
  switch (HttpStatusOf(reason)) {
    case 403:
      code = absl::StatusCode::kPermissionDenied;
      break;
    case 404:
      code = absl::StatusCode::kNotFound;
      break;
    default:
      break;
  }
  absl::Status status(code, std::string(message));
  status.SetPayload(kReasonPayloadUrl, absl::Cord(std::string(ReasonLabel(reason))));
  return status;
}

std::optional<RejectReason> RejectReasonOf(const absl::Status& status) {
  auto payload = status.GetPayload(kReasonPayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  for (RejectReason reason : kAllReasons) {
    if (*payload == std::string(ReasonLabel(reason))) return reason;
  }
  return std::nullopt;
}

std::optional<std::string> JsonPayload(std::string_view body) {
  // jsonb cannot hold U+0000; the raw payload keeps it, and payload_json stays NULL.
  if (body.find("\\u0000") != std::string_view::npos) return std::nullopt;
  return std::string(body);
}

absl::StatusOr<std::vector<InboxRecord>> AcceptTelegram(const EdgeConfig& config, std::string_view bot_id,
                                                        std::string_view presented_secret,
                                                        std::string_view body) {
  if (!config.telegram_configured()) {
    return Reject(RejectReason::kNotConfigured, "telegram webhooks are not configured");
  }
  absl::Status auth = config.bots.Authenticate(bot_id, presented_secret);
  if (!auth.ok()) return FromVerifyError(auth);
  if (absl::Status s = CheckStorable(body); !s.ok()) return s;
  absl::StatusOr<int64_t> update_id = providers::telegram::ExtractUpdateId(body);
  if (!update_id.ok()) return FromParseError(update_id.status());

  InboxRecord record;
  record.event.provider = std::string(kTelegramProviderPrefix) + std::string(bot_id);
  record.event.provider_event_id = std::to_string(*update_id);
  record.event.payload = std::string(body);
  record.event.payload_json = JsonPayload(body);
  if (config.staging()) {
    // Only here does the edge need the chat: parse the whole update. One that does not parse is stored and
    // left to the relay, which ignores it as malformed.
    absl::StatusOr<common::v1::ChatEvent> event = providers::telegram::ParseUpdate(bot_id, body);
    if (event.ok() && !config.staging_allowed_chats.contains(event->chat_id())) {
      record.ignore_reason = "staging: chat not in STAGING_ALLOWED_CHATS";
    }
  }
  std::vector<InboxRecord> records;
  records.push_back(std::move(record));
  return records;
}

absl::StatusOr<std::vector<InboxRecord>> AcceptTelnyx(const EdgeConfig& config, const http::Request& request,
                                                      absl::Time now) {
  if (!config.telnyx_configured())
    return Reject(RejectReason::kNotConfigured, "telnyx webhooks are not configured");
  absl::Status verified = providers::telnyx::VerifyWebhook(
      config.telnyx_public_key, request.Header(providers::telnyx::kSignatureHeader),
      request.Header(providers::telnyx::kTimestampHeader), request.body, now);
  if (!verified.ok()) return FromVerifyError(verified);
  if (absl::Status s = CheckStorable(request.body); !s.ok()) return s;
  absl::StatusOr<common::v1::CallEvent> event = providers::telnyx::ParseEvent(request.body);
  if (!event.ok()) return FromParseError(event.status());

  if (absl::Status s = CheckStorableEventId(event->provider_event_id()); !s.ok()) return s;
  InboxRecord record;
  record.event.provider = kTelnyxProvider;
  record.event.provider_event_id = event->provider_event_id();
  record.event.payload = request.body;
  record.event.payload_json = JsonPayload(request.body);
  record.event.headers_json = KeptHeaders(
      request, {"content-type", providers::telnyx::kSignatureHeader, providers::telnyx::kTimestampHeader});
  std::vector<InboxRecord> records;
  records.push_back(std::move(record));
  return records;
}

absl::StatusOr<std::vector<InboxRecord>> AcceptTwilioVoice(const EdgeConfig& config,
                                                           const http::Request& request) {
  absl::StatusOr<providers::FormParams> params = VerifyTwilio(config, request);
  if (!params.ok()) return params.status();
  absl::StatusOr<common::v1::CallEvent> event = providers::twilio::ParseVoiceCallback(*params);
  if (!event.ok()) return FromParseError(event.status());
  if (absl::Status s = CheckStorableEventId(event->provider_event_id()); !s.ok()) return s;
  std::vector<InboxRecord> records;
  records.push_back(TwilioRecord(request, kTwilioVoiceProvider, event->provider_event_id()));
  return records;
}

absl::StatusOr<std::vector<InboxRecord>> AcceptTwilioWhatsApp(const EdgeConfig& config,
                                                              const http::Request& request) {
  absl::StatusOr<providers::FormParams> params = VerifyTwilio(config, request);
  if (!params.ok()) return params.status();
  absl::StatusOr<common::v1::ChatEvent> event = providers::twilio::ParseWhatsAppInbound(*params);
  if (!event.ok()) return FromParseError(event.status());
  if (absl::Status s = CheckStorableEventId(event->provider_event_id()); !s.ok()) return s;
  std::vector<InboxRecord> records;
  records.push_back(TwilioRecord(request, kTwilioWhatsAppProvider, event->provider_event_id()));
  return records;
}

absl::StatusOr<std::vector<InboxRecord>> AcceptWhatsApp(const EdgeConfig& config,
                                                        const http::Request& request) {
  if (!config.whatsapp_configured()) {
    return Reject(RejectReason::kNotConfigured, "whatsapp webhooks are not configured");
  }
  absl::Status verified = providers::whatsapp::VerifySignature(
      config.whatsapp_app_secret, request.Header("x-hub-signature-256"), request.body);
  if (!verified.ok()) return FromVerifyError(verified);
  if (absl::Status s = CheckStorable(request.body); !s.ok()) return s;
  absl::StatusOr<std::vector<common::v1::ChatEvent>> events = providers::whatsapp::ParseWebhook(request.body);
  if (!events.ok()) return FromParseError(events.status());

  const std::optional<std::string> payload_json = JsonPayload(request.body);
  const std::optional<std::string> headers = KeptHeaders(request, {"content-type", "x-hub-signature-256"});
  auto record_for = [&](std::string event_id) {
    InboxRecord record;
    record.event.provider = kWhatsAppProvider;
    record.event.provider_event_id = std::move(event_id);
    record.event.payload = request.body;
    record.event.payload_json = payload_json;
    record.event.headers_json = headers;
    return record;
  };
  std::vector<InboxRecord> records;
  if (events->empty()) {
    // Status receipts and other changes: kept (deduplicated by content) for the record, never forwarded.
    InboxRecord record = record_for(std::string(kWhatsAppBodyKeyPrefix) + crypto::Sha256Hex(request.body));
    record.ignore_reason = "no inbound messages";
    records.push_back(std::move(record));
    return records;
  }
  for (const common::v1::ChatEvent& event : *events) {
    if (absl::Status s = CheckStorableEventId(event.provider_event_id()); !s.ok()) return s;
    // "body:" keys are the receipts' (below): a message id there could be taken for a receipt's duplicate.
    if (event.provider_event_id().starts_with(kWhatsAppBodyKeyPrefix)) {
      return Reject(RejectReason::kMalformed, "message id in the receipts' key space");
    }
    // The same message twice in one body is one row.
    bool seen = false;
    for (const InboxRecord& r : records)
      seen = seen || r.event.provider_event_id == event.provider_event_id();
    if (!seen) records.push_back(record_for(event.provider_event_id()));
  }
  return records;
}

absl::StatusOr<std::string> WhatsAppChallenge(const EdgeConfig& config, const http::Request& request) {
  if (config.whatsapp_verify_token.empty()) {
    return Reject(RejectReason::kNotConfigured, "whatsapp webhooks are not configured");
  }
  absl::StatusOr<std::string> challenge =
      providers::whatsapp::VerifySubscriptionQuery(RawQuery(request), config.whatsapp_verify_token);
  if (challenge.ok()) return challenge;
  return FromParseError(challenge.status());
}

std::optional<std::string> KeptHeaders(const http::Request& request,
                                       std::initializer_list<const char*> names) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  boost::json::object headers;
  for (const char* name : names) {
    std::string_view value = request.Header(name);
    if (value.empty()) continue;
    std::string kept;
    kept.reserve(value.size());
    for (char c : value) {
      const auto u = static_cast<unsigned char>(c);
      if (u >= 0x20 && u < 0x7f && c != '%') {
        kept.push_back(c);
      } else {
        kept.push_back('%');
        kept.push_back(kHex[u >> 4]);
        kept.push_back(kHex[u & 0xf]);
      }
    }
    headers[name] = std::move(kept);
  }
  if (headers.empty()) return std::nullopt;
  return boost::json::serialize(headers);
}

absl::Status CheckStorableBody(std::string_view body) {
  if (body.find('\0') != std::string_view::npos) {
    return Reject(RejectReason::kMalformed, "body contains a NUL byte");
  }
  if (!providers::IsValidUtf8(body)) return Reject(RejectReason::kMalformed, "body is not valid UTF-8");
  return absl::OkStatus();
}

absl::Status CheckStorableEventId(std::string_view event_id) {
  if (event_id.empty() || event_id.size() > 200) {
    return Reject(RejectReason::kMalformed, "event id must be 1 to 200 bytes");
  }
  for (char c : event_id) {
    if (c < 0x20 || c > 0x7e) return Reject(RejectReason::kMalformed, "event id must be printable ASCII");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string_view> TelegramSecret(const http::Request& request, bool query_secret) {
  const std::string_view header = request.Header("x-telegram-bot-api-secret-token");
  if (!query_secret) return header;
  const auto [first, last] = request.query.equal_range("secret");
  if (first == last) return header;
  if (std::next(first) != last) return Reject(RejectReason::kMalformed, "secret given more than once");
  const std::string_view query = first->second;
  if (!header.empty() && !crypto::ConstantTimeEquals(query, header)) {
    return Reject(RejectReason::kBadSignature, "the secret in the query and in the header disagree");
  }
  return query;
}

absl::Status PrecheckTelegram(const EdgeConfig& config, std::string_view bot_id, const http::Request& head,
                              bool query_secret) {
  if (!config.telegram_configured()) {
    return Reject(RejectReason::kNotConfigured, "telegram webhooks are not configured");
  }
  absl::StatusOr<std::string_view> secret = TelegramSecret(head, query_secret);
  if (!secret.ok()) return secret.status();
  absl::Status auth = config.bots.Authenticate(bot_id, *secret);
  if (!auth.ok()) return FromVerifyError(auth);
  return absl::OkStatus();
}

absl::Status PrecheckTelnyx(const EdgeConfig& config, const http::Request& head, absl::Time now) {
  if (!config.telnyx_configured())
    return Reject(RejectReason::kNotConfigured, "telnyx webhooks are not configured");
  absl::Status checked = providers::telnyx::CheckWebhookHeaders(
      config.telnyx_public_key, head.Header(providers::telnyx::kSignatureHeader),
      head.Header(providers::telnyx::kTimestampHeader), now);
  if (!checked.ok()) return FromVerifyError(checked);
  return absl::OkStatus();
}

absl::Status PrecheckTwilio(const EdgeConfig& config, const http::Request& head) {
  if (!config.twilio_configured())
    return Reject(RejectReason::kNotConfigured, "twilio webhooks are not configured");
  const std::string_view signature = head.Header("x-twilio-signature");
  if (absl::Status s = CheckTwilioSignatureShape(signature); !s.ok()) return s;
  if (head.query.contains("bodySHA256")) {
    // This variant's signature covers the URL alone: it is checked in full before the body is read.
    absl::Status verified = providers::twilio::VerifySignature(
        config.twilio_auth_token, config.public_base_url + head.target, providers::FormParams(), signature);
    if (!verified.ok()) return FromVerifyError(verified);
  }
  return absl::OkStatus();
}

absl::Status PrecheckWhatsApp(const EdgeConfig& config, const http::Request& head) {
  if (!config.whatsapp_configured()) {
    return Reject(RejectReason::kNotConfigured, "whatsapp webhooks are not configured");
  }
  const std::string_view signature = head.Header("x-hub-signature-256");
  if (signature.empty()) return Reject(RejectReason::kMissingSignature, "missing signature");
  constexpr std::string_view kPrefix = "sha256=";
  if (signature.size() != kPrefix.size() + 64 || !signature.starts_with(kPrefix) ||
      !std::all_of(signature.begin() + kPrefix.size(), signature.end(), IsHexDigit)) {
    return Reject(RejectReason::kBadSignature, "malformed signature header");
  }
  return absl::OkStatus();
}

absl::StatusOr<providers::FormParams> TwilioParams(std::string_view body, bool json) {
  if (!json) return providers::ParseForm(body);
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(boost::json::string_view(body.data(), body.size()), ec);
  if (ec || !value.is_object()) return absl::InvalidArgumentError("malformed JSON");
  providers::FormParams params;
  for (const auto& [key, v] : value.as_object()) {
    std::string name(key.data(), key.size());
    if (v.is_string()) {
      params.emplace(std::move(name), std::string(v.as_string().data(), v.as_string().size()));
    } else if (v.is_int64() || v.is_uint64() || v.is_double() || v.is_bool()) {
      params.emplace(std::move(name), boost::json::serialize(v));
    }
  }
  return params;
}

}  // namespace protectogram::edge
