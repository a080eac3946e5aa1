#include "libs/providers/whatsapp/cloud_api.h"

#include <boost/json.hpp>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/providers/common/json_reader.h"
#include "libs/providers/common/text.h"

namespace protectogram::providers::whatsapp {
namespace {

namespace json = boost::json;

json::string_view Key(std::string_view s) { return json::string_view(s.data(), s.size()); }

std::string_view TrimSlashes(std::string_view s) {
  while (!s.empty() && s.front() == '/') s.remove_prefix(1);
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  return s;
}

absl::Status CheckRecipient(std::string_view to) {
  std::string_view digits = to;
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  if (digits.size() < 7 || digits.size() > 15 ||
      digits.find_first_not_of("0123456789") != std::string_view::npos || digits.front() == '0') {
    return absl::InvalidArgumentError(
        "to must be an international phone number: optional +, 7-15 digits, no leading 0");
  }
  return absl::OkStatus();
}

json::object Envelope(std::string_view to, std::string_view type) {
  json::object o;
  o["messaging_product"] = "whatsapp";
  o["recipient_type"] = "individual";
  o["to"] = json::string(Key(to));
  o["type"] = json::string(Key(type));
  return o;
}

bool IsTemplateName(std::string_view name) {
  return !name.empty() && name.size() <= 512 &&
         name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string_view::npos;
}

bool IsLanguageCode(std::string_view code) {
  return !code.empty() && code.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_") ==
                              std::string_view::npos;
}

// Retry-After as delta-seconds (RFC 9110 §10.2.3); an HTTP date is not read.
std::optional<absl::Duration> RetryAfter(std::string_view header) {
  while (!header.empty() && (header.front() == ' ' || header.front() == '\t')) header.remove_prefix(1);
  while (!header.empty() && (header.back() == ' ' || header.back() == '\t')) header.remove_suffix(1);
  if (header.empty() || header.size() > 9 ||
      header.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  int64_t seconds = 0;
  if (!absl::SimpleAtoi(std::string(header), &seconds)) return std::nullopt;
  return absl::Seconds(seconds);
}

}  // namespace

std::string MessagesUrl(std::string_view base_url, std::string_view api_version,
                        std::string_view phone_number_id) {
  while (!base_url.empty() && base_url.back() == '/') base_url.remove_suffix(1);
  std::string url(base_url);
  if (std::string_view version = TrimSlashes(api_version); !version.empty()) {
    absl::StrAppend(&url, "/", std::string(version));
  }
  absl::StrAppend(&url, "/", std::string(TrimSlashes(phone_number_id)), "/messages");
  return url;
}

absl::StatusOr<std::string> TextMessageBody(std::string_view to, std::string_view body, bool preview_url) {
  if (absl::Status s = CheckRecipient(to); !s.ok()) return s;
  if (body.empty()) return absl::InvalidArgumentError("body is empty");
  if (!IsValidUtf8(body)) return absl::InvalidArgumentError("body is not valid UTF-8");
  if (const size_t units = Utf16Length(body); units > kMaxTextLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("body is ", units, " UTF-16 code units (at most ", kMaxTextLength, ")"));
  }
  json::object o = Envelope(to, "text");
  json::object text;
  text["body"] = json::string(Key(body));
  if (preview_url) text["preview_url"] = true;
  o["text"] = std::move(text);
  return json::serialize(o);
}

absl::StatusOr<std::string> TemplateMessageBody(std::string_view to, std::string_view name,
                                                std::string_view language_code,
                                                const std::vector<std::string>& body_parameters) {
  if (absl::Status s = CheckRecipient(to); !s.ok()) return s;
  if (!IsTemplateName(name)) return absl::InvalidArgumentError("template name must be 1-512 of a-z 0-9 _");
  if (!IsLanguageCode(language_code)) {
    return absl::InvalidArgumentError("language code must be letters and _ (\"ru\", \"en_US\")");
  }
  json::object tpl;
  tpl["name"] = json::string(Key(name));
  json::object language;
  language["code"] = json::string(Key(language_code));
  tpl["language"] = std::move(language);
  if (!body_parameters.empty()) {
    json::array parameters;
    for (size_t i = 0; i < body_parameters.size(); ++i) {
      const std::string& value = body_parameters[i];
      if (value.empty()) return absl::InvalidArgumentError(absl::StrCat("parameter ", i + 1, " is empty"));
      if (!IsValidUtf8(value)) {
        return absl::InvalidArgumentError(absl::StrCat("parameter ", i + 1, " is not valid UTF-8"));
      }
      json::object p;
      p["type"] = "text";
      p["text"] = value;
      parameters.push_back(std::move(p));
    }
    json::object component;
    component["type"] = "body";
    component["parameters"] = std::move(parameters);
    json::array components;
    components.push_back(std::move(component));
    tpl["components"] = std::move(components);
  }
  json::object o = Envelope(to, "template");
  o["template"] = std::move(tpl);
  return json::serialize(o);
}

absl::StatusOr<SendResult> ParseSendResponse(int http_status, std::string_view body,
                                             std::string_view retry_after_header) {
  const bool server_failed = http_status >= 500 && http_status <= 599;
  SendResult result;
  result.http_status = http_status;
  result.retry_after = RetryAfter(retry_after_header);
  absl::StatusOr<json::object> doc = ParseJsonObject(body, "Graph answer");
  if (!doc.ok()) {
    if (server_failed) return result;  // a gateway's page: a failure with no Graph error
    return doc.status();
  }
  JsonReader reader;
  if (const json::object* error = reader.Object(&*doc, "error", "error")) {
    std::optional<int64_t> code = reader.Int(error, "code", "error.code");
    std::optional<int64_t> subcode = reader.Int(error, "error_subcode", "error.error_subcode");
    std::optional<std::string> type = reader.String(error, "type", "error.type");
    std::optional<std::string> message = reader.String(error, "message", "error.message");
    std::optional<std::string> trace = reader.String(error, "fbtrace_id", "error.fbtrace_id");
    const json::object* data = reader.Object(error, "error_data", "error.error_data");
    std::optional<std::string> details = reader.String(data, "details", "error.error_data.details");
    reader.Require(code.has_value(), "error.code");
    if (!reader.ok()) return reader.status();
    result.error_code = *code;
    result.error_subcode = subcode.value_or(0);
    result.error_type = type.value_or("");
    result.error_message = message.value_or("");
    result.error_details = details.value_or("");
    result.fbtrace_id = trace.value_or("");
    return result;
  }
  if (!reader.ok()) return reader.status();  // "error" of the wrong type
  if (http_status < 200 || http_status > 299) {
    if (server_failed) return result;
    return absl::InvalidArgumentError(absl::StrCat("HTTP ", http_status, " without a Graph error"));
  }
  const json::array* messages = reader.Array(&*doc, "messages", "messages");
  const json::array* contacts = reader.Array(&*doc, "contacts", "contacts");
  std::optional<std::string> id;
  if (messages != nullptr && !messages->empty()) {
    if (!(*messages)[0].is_object()) return absl::InvalidArgumentError("messages[0] must be an object");
    id = reader.String(&(*messages)[0].get_object(), "id", "messages[0].id");
  }
  std::optional<std::string> wa_id;
  if (contacts != nullptr && !contacts->empty() && (*contacts)[0].is_object()) {
    wa_id = reader.String(&(*contacts)[0].get_object(), "wa_id", "contacts[0].wa_id");
  }
  reader.Require(id.has_value() && !id->empty(), "messages[0].id");
  if (!reader.ok()) return reader.status();
  result.ok = true;
  result.message_id = std::move(*id);
  result.wa_id = wa_id.value_or("");
  return result;
}

CloudApiError ClassifyError(const SendResult& result) {
  if (result.ok) return CloudApiError::kNone;
  const int64_t code = result.error_code;
  const int status = result.http_status;
  if (code == 130429 || code == 80007 || code == 4 || code == 131056 || status == 429) {
    return CloudApiError::kRateLimited;
  }
  if (code == 131026) return CloudApiError::kUndeliverable;
  if (code == 131047) return CloudApiError::kReengagementRequired;
  if (code == 190 || code == 10 || (code >= 200 && code <= 299) || status == 401) {
    return CloudApiError::kUnauthorized;
  }
  if (code == 131030 || (code == 100 && status == 400)) return CloudApiError::kInvalidRecipient;
  if (code == 1 || code == 2 || code == 131000 || code == 131016 || (status >= 500 && status <= 599)) {
    return CloudApiError::kServerError;
  }
  if (status >= 400 && status <= 499) return CloudApiError::kBadRequest;
  return CloudApiError::kOther;
}

std::string_view ErrorLabel(CloudApiError error) {
  switch (error) {
    case CloudApiError::kNone:
      return "ok";
    case CloudApiError::kRateLimited:
      return "rate_limited";
    case CloudApiError::kUndeliverable:
      return "undeliverable";
    case CloudApiError::kReengagementRequired:
      return "reengagement_required";
    case CloudApiError::kUnauthorized:
      return "unauthorized";
    case CloudApiError::kInvalidRecipient:
      return "invalid_recipient";
    case CloudApiError::kBadRequest:
      return "bad_request";
    case CloudApiError::kServerError:
      return "server_error";
    case CloudApiError::kOther:
      return "other";
  }
  return "other";
}

}  // namespace protectogram::providers::whatsapp
