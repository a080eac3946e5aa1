#include "libs/providers/whatsapp/whatsapp.h"

#include <boost/json.hpp>
#include <map>
#include <utility>

#include "libs/crypto/constant_time.h"
#include "libs/crypto/digest.h"
#include "libs/crypto/encoding.h"
#include "libs/providers/common/error.h"
#include "libs/providers/common/form.h"
#include "libs/providers/common/json_reader.h"
#include "libs/providers/common/text.h"

namespace protectogram::providers::whatsapp {
namespace {

namespace json = boost::json;
using common::v1::ChatEvent;

constexpr std::string_view kSignaturePrefix = "sha256=";

absl::Status Malformed(std::string message) {
  return WithProviderError(absl::InvalidArgumentError(std::move(message)), ProviderError::kMalformed);
}

// Digits-only Unix seconds, as Meta sends them ("1739321024").
std::optional<int64_t> ParseUnixSeconds(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

// One entry of value.messages[]. The reader's error when it holds one (with kMissingId when that is a
// missing message id), else OK.
absl::Status ParseMessage(JsonReader& r, const json::object* m, const std::string& bot_id,
                          const std::map<std::string, std::string>& names, std::vector<ChatEvent>* out) {
  auto id = r.String(m, "id", "messages[].id");
  auto from = r.String(m, "from", "messages[].from");
  auto type = r.String(m, "type", "messages[].type");
  auto timestamp = r.String(m, "timestamp", "messages[].timestamp");
  // The message id is the row's key: missing, it is the reader's first error (when it holds none yet).
  const bool missing_id = r.ok() && !(id.has_value() && !id->empty());
  r.Require(id.has_value() && !id->empty(), "messages[].id");
  r.Require(from.has_value() && !from->empty(), "messages[].from");
  r.Require(type.has_value() && !type->empty(), "messages[].type");
  if (!r.ok()) return missing_id ? WithProviderError(r.status(), ProviderError::kMissingId) : r.status();

  ChatEvent e;
  e.set_provider(common::v1::PROVIDER_WHATSAPP);
  e.set_provider_event_id(*id);
  e.set_provider_event_type(*type);
  e.set_bot_id(bot_id);
  e.set_chat_id(from->starts_with("+") ? *from : "+" + *from);
  e.mutable_from()->set_id(e.chat_id());
  if (auto it = names.find(*from); it != names.end()) e.mutable_from()->set_first_name(it->second);
  if (timestamp) {
    std::optional<int64_t> seconds = ParseUnixSeconds(*timestamp);
    if (!seconds) {
      r.Fail("messages[].timestamp must be Unix seconds");
      return r.status();
    }
    SetTimestamp(absl::FromUnixSeconds(*seconds), e.mutable_sent_at());
  }

  if (*type == "text") {
    auto text = r.String(r.Object(m, "text", "messages[].text"), "body", "messages[].text.body");
    e.mutable_text()->set_text(text.value_or(""));
  } else if (*type == "button") {
    const json::object* button = r.Object(m, "button", "messages[].button");
    auto payload = r.String(button, "payload", "messages[].button.payload");
    auto text = r.String(button, "text", "messages[].button.text");
    e.mutable_button()->set_data(payload.value_or(""));
    e.mutable_button()->set_text(text.value_or(""));
  } else if (*type == "interactive") {
    const json::object* interactive = r.Object(m, "interactive", "messages[].interactive");
    auto kind = r.String(interactive, "type", "messages[].interactive.type").value_or("");
    const json::object* reply = nullptr;
    if (kind == "button_reply" || kind == "list_reply")
      reply = r.Object(interactive, kind, "messages[].interactive.reply");
    if (reply != nullptr) {
      e.mutable_button()->set_data(r.String(reply, "id", "messages[].interactive.reply.id").value_or(""));
      e.mutable_button()->set_text(
          r.String(reply, "title", "messages[].interactive.reply.title").value_or(""));
    } else {
      e.mutable_non_text()->set_kind("interactive");
    }
  } else {
    e.mutable_non_text()->set_kind(*type);
  }
  out->push_back(std::move(e));
  return r.status();
}

}  // namespace

absl::StatusOr<std::string> VerifySubscription(std::string_view mode, std::string_view verify_token,
                                               std::string_view challenge,
                                               std::string_view configured_token) {
  if (mode != "subscribe") return Malformed("bad hub.mode");
  if (challenge.empty()) return Malformed("missing hub.challenge");
  if (configured_token.empty() || !crypto::ConstantTimeEquals(verify_token, configured_token)) {
    return WithProviderError(absl::PermissionDeniedError("bad verify token"), ProviderError::kBadVerifyToken);
  }
  return std::string(challenge);
}

absl::StatusOr<std::string> VerifySubscriptionQuery(std::string_view query,
                                                    std::string_view configured_token) {
  absl::StatusOr<FormParams> params = ParseForm(query);
  if (!params.ok()) return WithProviderError(params.status(), ProviderError::kMalformed);
  auto get = [&](std::string_view name) {
    const std::string* v = FormValue(*params, name);
    return v == nullptr ? std::string() : *v;
  };
  return VerifySubscription(get("hub.mode"), get("hub.verify_token"), get("hub.challenge"), configured_token);
}

absl::Status VerifySignature(std::string_view app_secret, std::string_view signature_header,
                             std::string_view raw_body) {
  if (signature_header.empty()) {
    return WithProviderError(absl::PermissionDeniedError("missing signature"),
                             ProviderError::kMissingSignature);
  }
  const absl::Status malformed = WithProviderError(absl::InvalidArgumentError("malformed signature header"),
                                                   ProviderError::kMalformedSignature);
  if (!signature_header.starts_with(kSignaturePrefix)) return malformed;
  absl::StatusOr<std::string> presented = crypto::HexDecode(signature_header.substr(kSignaturePrefix.size()));
  if (!presented.ok() || presented->size() != 32) return malformed;
  if (app_secret.empty() ||
      !crypto::ConstantTimeEquals(crypto::HmacSha256(app_secret, raw_body), *presented)) {
    return WithProviderError(absl::PermissionDeniedError("bad signature"), ProviderError::kBadSignature);
  }
  return absl::OkStatus();
}

std::string ComputeSignatureHeader(std::string_view app_secret, std::string_view raw_body) {
  return std::string(kSignaturePrefix) + crypto::HexEncode(crypto::HmacSha256(app_secret, raw_body));
}

namespace {

// ParseWebhook, with the reason of a missing message id attached (ParseWebhook attaches the others).
absl::StatusOr<std::vector<ChatEvent>> ParseWebhookFields(std::string_view body) {
  absl::StatusOr<json::object> root = ParseJsonObject(body, "webhook");
  if (!root.ok()) return root.status();
  JsonReader r;
  const json::array* entries = r.Array(&*root, "entry", "entry");
  r.Require(entries != nullptr, "entry");
  if (!r.ok()) return r.status();
  std::vector<ChatEvent> events;
  for (const json::value& entry : *entries) {
    if (!entry.is_object()) return absl::InvalidArgumentError("entry[] must be an object");
    const json::array* changes = r.Array(&entry.get_object(), "changes", "entry[].changes");
    if (changes == nullptr) continue;
    for (const json::value& change : *changes) {
      if (!change.is_object()) return absl::InvalidArgumentError("changes[] must be an object");
      auto field = r.String(&change.get_object(), "field", "changes[].field");
      if (field.value_or("messages") != "messages") continue;
      const json::object* value = r.Object(&change.get_object(), "value", "changes[].value");
      const json::object* metadata = r.Object(value, "metadata", "value.metadata");
      std::string bot_id = r.Id(metadata, "phone_number_id", "value.metadata.phone_number_id").value_or("");
      // wa_id -> profile name, from value.contacts[].
      std::map<std::string, std::string> names;
      if (const json::array* contacts = r.Array(value, "contacts", "value.contacts")) {
        for (const json::value& c : *contacts) {
          if (!c.is_object()) continue;
          auto wa_id = r.String(&c.get_object(), "wa_id", "contacts[].wa_id");
          auto name = r.String(r.Object(&c.get_object(), "profile", "contacts[].profile"), "name",
                               "contacts[].profile.name");
          if (wa_id && name) names[*wa_id] = *name;
        }
      }
      if (const json::array* messages = r.Array(value, "messages", "value.messages")) {
        for (const json::value& m : *messages) {
          if (!m.is_object()) return absl::InvalidArgumentError("messages[] must be an object");
          if (absl::Status s = ParseMessage(r, &m.get_object(), bot_id, names, &events); !s.ok()) return s;
        }
      }
      if (!r.ok()) return r.status();
    }
  }
  if (!r.ok()) return r.status();
  return events;
}

}  // namespace

absl::StatusOr<std::vector<ChatEvent>> ParseWebhook(std::string_view body) {
  absl::StatusOr<std::vector<ChatEvent>> events = ParseWebhookFields(body);
  if (!events.ok()) return WithProviderErrorIfNone(events.status(), ProviderError::kMalformed);
  return events;
}

}  // namespace protectogram::providers::whatsapp
