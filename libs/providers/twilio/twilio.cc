#include "libs/providers/twilio/twilio.h"

#include <algorithm>
#include <boost/url.hpp>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "libs/crypto/constant_time.h"
#include "libs/crypto/digest.h"
#include "libs/crypto/encoding.h"
#include "libs/providers/common/error.h"
#include "libs/providers/common/text.h"

namespace protectogram::providers::twilio {
namespace {

using common::v1::CallEvent;
using common::v1::ChatEvent;

// The URL forms Twilio's validator accepts (twilio-python RequestValidator.validate): as given; without the
// port; with the scheme's default port when there is none.
std::vector<std::string> UrlVariants(std::string_view url) {
  std::vector<std::string> variants{std::string(url)};
  boost::system::result<boost::urls::url_view> parsed =
      boost::urls::parse_uri(boost::urls::string_view(url.data(), url.size()));
  if (!parsed) return variants;
  boost::urls::url u(*parsed);
  if (u.has_port()) {
    u.remove_port();
    variants.emplace_back(u.buffer());
  } else if (u.has_authority()) {
    if (u.scheme() == "https") {
      u.set_port_number(443);
      variants.emplace_back(u.buffer());
    } else if (u.scheme() == "http") {
      u.set_port_number(80);
      variants.emplace_back(u.buffer());
    }
  }
  return variants;
}

absl::Status MissingSignature(std::string message) {
  return WithProviderError(absl::PermissionDeniedError(std::move(message)), ProviderError::kMissingSignature);
}
absl::Status BadSignature(std::string message) {
  return WithProviderError(absl::PermissionDeniedError(std::move(message)), ProviderError::kBadSignature);
}
absl::Status Malformed(std::string message) {
  return WithProviderError(absl::InvalidArgumentError(std::move(message)), ProviderError::kMalformed);
}
absl::Status MissingId(std::string message) {
  return WithProviderError(absl::InvalidArgumentError(std::move(message)), ProviderError::kMissingId);
}

absl::Status MatchAnyVariant(std::string_view auth_token, std::string_view url, const FormParams& params,
                             std::string_view signature_header) {
  if (signature_header.empty()) return MissingSignature("missing signature");
  bool match = false;
  // Every variant is computed and compared, so the time taken does not say which one matched.
  for (const std::string& variant : UrlVariants(url)) {
    match |= crypto::ConstantTimeEquals(ComputeSignature(auth_token, variant, params), signature_header);
  }
  return match ? absl::OkStatus() : BadSignature("bad signature");
}

const std::string* Get(const FormParams& params, std::string_view name) { return FormValue(params, name); }

std::string Value(const FormParams& params, std::string_view name) {
  const std::string* v = FormValue(params, name);
  return v == nullptr ? std::string() : *v;
}

common::v1::CallEventType MapStatus(std::string_view status) {
  if (status == "queued" || status == "initiated") return common::v1::CALL_EVENT_TYPE_INITIATED;
  if (status == "ringing") return common::v1::CALL_EVENT_TYPE_RINGING;
  if (status == "in-progress") return common::v1::CALL_EVENT_TYPE_ANSWERED;
  if (status == "completed" || status == "busy" || status == "failed" || status == "no-answer" ||
      status == "canceled") {
    return common::v1::CALL_EVENT_TYPE_HANGUP;
  }
  return common::v1::CALL_EVENT_TYPE_OTHER;
}

std::optional<int32_t> ParseSeconds(std::string_view s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  int32_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

constexpr std::string_view kWhatsAppPrefix = "whatsapp:";

std::string StripWhatsApp(std::string_view address) {
  if (address.starts_with(kWhatsAppPrefix)) address.remove_prefix(kWhatsAppPrefix.size());
  return std::string(address);
}

}  // namespace

std::string ComputeSignature(std::string_view auth_token, std::string_view url, const FormParams& params) {
  // Sorted by name, then value; a repeated identical pair counts once (twilio-python sorts
  // set(getall(name))).
  std::set<std::pair<std::string_view, std::string_view>> sorted;
  for (const auto& [name, value] : params) sorted.emplace(name, value);
  std::string data(url);
  for (const auto& [name, value] : sorted) data.append(name).append(value);
  return crypto::Base64Encode(crypto::HmacSha1(auth_token, data));
}

absl::Status VerifySignature(std::string_view auth_token, std::string_view url, const FormParams& params,
                             std::string_view signature_header) {
  return MatchAnyVariant(auth_token, url, params, signature_header);
}

absl::Status VerifyBodySignature(std::string_view auth_token, std::string_view url, std::string_view raw_body,
                                 std::string_view signature_header) {
  if (signature_header.empty()) return MissingSignature("missing signature");
  std::optional<std::string> body_sha;
  if (auto parsed = boost::urls::parse_uri_reference(boost::urls::string_view(url.data(), url.size()))) {
    for (const auto& param : parsed->params()) {
      if (param.key == "bodySHA256" && param.has_value) {
        body_sha = std::string(param.value);
        break;
      }
    }
  }
  if (!body_sha) return MissingSignature("missing bodySHA256");
  absl::Status signature = MatchAnyVariant(auth_token, url, FormParams(), signature_header);
  // Both checks always run: which one failed is reported, but nothing is skipped.
  const bool hash_ok = crypto::ConstantTimeEquals(crypto::Sha256Hex(raw_body), *body_sha);
  if (!signature.ok()) return signature;
  if (!hash_ok) return BadSignature("bodySHA256 mismatch");
  return absl::OkStatus();
}

absl::StatusOr<CallEvent> ParseVoiceCallback(const FormParams& params) {
  const std::string call_sid = Value(params, "CallSid");
  if (call_sid.empty()) return MissingId("CallSid is required");
  CallEvent e;
  e.set_provider(common::v1::PROVIDER_TWILIO);
  e.set_call_id(call_sid);
  e.set_from(Value(params, "From"));
  e.set_to(Value(params, "To"));
  const std::string status = Value(params, "CallStatus");
  e.set_status(status);
  if (const std::string* digits = Get(params, "Digits")) {
    e.set_type(common::v1::CALL_EVENT_TYPE_GATHER_ENDED);
    e.set_provider_event_type("gather");
    e.set_digits(*digits);
    e.set_provider_event_id(call_sid + ":gather:" + *digits);
  } else {
    if (status.empty()) return Malformed("CallStatus is required");
    e.set_type(MapStatus(status));
    e.set_provider_event_type(status);
    e.set_provider_event_id(call_sid + ":" + status);
    if (e.type() == common::v1::CALL_EVENT_TYPE_HANGUP) e.set_hangup_cause(status);
  }
  if (const std::string* answered_by = Get(params, "AnsweredBy"); answered_by && !answered_by->empty()) {
    e.set_status(*answered_by);
  }
  if (const std::string* duration = Get(params, "CallDuration"); duration != nullptr) {
    std::optional<int32_t> seconds = ParseSeconds(*duration);
    if (!seconds) return Malformed("CallDuration must be a non-negative integer");
    e.set_duration_sec(*seconds);
  }
  // "Mon, 16 Aug 2010 03:45:01 +0000"; best effort, as nothing depends on it.
  if (const std::string* timestamp = Get(params, "Timestamp"); timestamp != nullptr) {
    absl::Time t;
    std::string err;
    if (absl::ParseTime("%a, %d %b %Y %H:%M:%S %z", *timestamp, &t, &err))
      SetTimestamp(t, e.mutable_occurred_at());
  }
  return e;
}

absl::StatusOr<CallEvent> ParseVoiceCallbackBody(std::string_view body) {
  absl::StatusOr<FormParams> params = ParseForm(body);
  if (!params.ok()) return WithProviderError(params.status(), ProviderError::kMalformed);
  return ParseVoiceCallback(*params);
}

absl::StatusOr<ChatEvent> ParseWhatsAppInbound(const FormParams& params) {
  const std::string message_sid = Value(params, "MessageSid");
  if (message_sid.empty()) return MissingId("MessageSid is required");
  const std::string from = Value(params, "From");
  if (!from.starts_with(kWhatsAppPrefix) || from.size() == kWhatsAppPrefix.size()) {
    return Malformed("From must be a whatsapp: address");
  }
  ChatEvent e;
  e.set_provider(common::v1::PROVIDER_TWILIO);
  e.set_provider_event_id(message_sid);
  e.set_bot_id(StripWhatsApp(Value(params, "To")));
  e.set_chat_id(StripWhatsApp(from));
  e.mutable_from()->set_id(e.chat_id());
  e.mutable_from()->set_first_name(Value(params, "ProfileName"));

  const std::string* payload = Get(params, "ButtonPayload");
  const std::string* button_text = Get(params, "ButtonText");
  const std::string body = Value(params, "Body");
  if (payload != nullptr || button_text != nullptr) {
    e.set_provider_event_type("button");
    e.mutable_button()->set_data(payload ? *payload : std::string());
    e.mutable_button()->set_text(button_text ? *button_text : std::string());
    return e;
  }
  e.set_provider_event_type("message");
  const std::string num_media = Value(params, "NumMedia");
  if (body.empty() && !num_media.empty() && num_media != "0") {
    e.mutable_non_text()->set_kind("media");
  } else {
    e.mutable_text()->set_text(body);
  }
  return e;
}

absl::StatusOr<ChatEvent> ParseWhatsAppInboundBody(std::string_view body) {
  absl::StatusOr<FormParams> params = ParseForm(body);
  if (!params.ok()) return WithProviderError(params.status(), ProviderError::kMalformed);
  return ParseWhatsAppInbound(*params);
}

}  // namespace protectogram::providers::twilio
