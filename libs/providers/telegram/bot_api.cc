#include "libs/providers/telegram/bot_api.h"

#include <boost/json.hpp>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/providers/common/json_reader.h"
#include "libs/providers/common/text.h"
#include "libs/providers/telegram/telegram.h"

namespace protectogram::providers::telegram {
namespace {

namespace json = boost::json;

json::string_view Key(std::string_view s) { return json::string_view(s.data(), s.size()); }

// "123", "-1001234567890", "0": an integer Telegram reads as a number; anything else ("@channel", "007",
// "-0", "+1", beyond int64) goes as a string.
std::optional<int64_t> CanonicalInteger(std::string_view s) {
  std::string_view digits = s;
  if (!digits.empty() && digits.front() == '-') digits.remove_prefix(1);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  if (digits.front() == '0' && (digits.size() > 1 || s.front() == '-')) return std::nullopt;
  int64_t value = 0;
  if (!absl::SimpleAtoi(std::string(s), &value)) return std::nullopt;
  return value;
}

json::value ChatIdValue(std::string_view chat_id) {
  if (std::optional<int64_t> n = CanonicalInteger(chat_id)) return json::value(*n);
  return json::value(json::string(Key(chat_id)));
}

absl::Status CheckText(std::string_view text, size_t max_units, std::string_view what, bool allow_empty) {
  if (text.empty() && !allow_empty)
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), " is empty"));
  if (!IsValidUtf8(text)) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), " is not valid UTF-8"));
  }
  const size_t units = Utf16Length(text);
  if (units > max_units) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(what), " is ", units, " UTF-16 code units (at most ", max_units, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckChatId(std::string_view chat_id) {
  if (chat_id.empty()) return absl::InvalidArgumentError("chat_id is required");
  if (!IsValidUtf8(chat_id)) return absl::InvalidArgumentError("chat_id is not valid UTF-8");
  return absl::OkStatus();
}

absl::Status CheckMessageId(int64_t message_id) {
  if (message_id < 1) return absl::InvalidArgumentError("message_id must be positive");
  return absl::OkStatus();
}

// The checks shared by both keyboard kinds: shape and counts; `button` checks one button.
template <typename Button, typename CheckButton>
absl::Status ValidateRows(std::string_view kind, const std::vector<std::vector<Button>>& rows,
                          CheckButton check_button) {
  if (rows.empty()) return absl::InvalidArgumentError(absl::StrCat(std::string(kind), " has no buttons"));
  size_t total = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    const std::vector<Button>& row = rows[r];
    if (row.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(std::string(kind), ": row ", r + 1, " is empty"));
    }
    if (row.size() > kMaxButtonsPerRow) {
      return absl::InvalidArgumentError(absl::StrCat(std::string(kind), ": row ", r + 1, " has ", row.size(),
                                                     " buttons (at most ", kMaxButtonsPerRow, ")"));
    }
    for (size_t b = 0; b < row.size(); ++b) {
      const std::string where = absl::StrCat(std::string(kind), ": row ", r + 1, " button ", b + 1, ": ");
      if (row[b].text.empty()) return absl::InvalidArgumentError(where + "text is empty");
      if (!IsValidUtf8(row[b].text)) return absl::InvalidArgumentError(where + "text is not valid UTF-8");
      if (absl::Status s = check_button(row[b], where); !s.ok()) return s;
    }
    total += row.size();
  }
  if (total > kMaxButtons) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(kind), ": ", total, " buttons (at most ", kMaxButtons, ")"));
  }
  return absl::OkStatus();
}

json::object InlineKeyboardJson(const InlineKeyboard& keyboard) {
  json::array rows;
  for (const auto& row : keyboard) {
    json::array buttons;
    for (const InlineButton& button : row) {
      json::object b;
      b["text"] = button.text;
      b["callback_data"] = button.callback_data;
      buttons.push_back(std::move(b));
    }
    rows.push_back(std::move(buttons));
  }
  json::object markup;
  markup["inline_keyboard"] = std::move(rows);
  return markup;
}

json::object ReplyKeyboardJson(const ReplyKeyboard& keyboard) {
  json::array rows;
  for (const auto& row : keyboard.rows) {
    json::array buttons;
    for (const ReplyButton& button : row) {
      json::object b;
      b["text"] = button.text;
      if (button.request_contact) b["request_contact"] = true;
      buttons.push_back(std::move(b));
    }
    rows.push_back(std::move(buttons));
  }
  json::object markup;
  markup["keyboard"] = std::move(rows);
  markup["resize_keyboard"] = keyboard.resize_keyboard;
  markup["one_time_keyboard"] = keyboard.one_time_keyboard;
  return markup;
}

// A 5xx that is not a Bot API answer (a gateway's page): the server failed.
ApiResult GatewayFailure(int http_status) {
  ApiResult result;
  result.http_status = http_status;
  result.ok = false;
  result.error_code = http_status;
  result.description = absl::StrCat("HTTP ", http_status, " without a Bot API answer");
  return result;
}

// "Too Many Requests: retry after 35" -> 35 s (tdlib's own reading, Client.cpp get_retry_after_time).
std::optional<absl::Duration> RetryAfterFromDescription(std::string_view description) {
  constexpr std::string_view kPrefix = "Too Many Requests: retry after ";
  if (description.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  int seconds = 0;
  if (!absl::SimpleAtoi(std::string(description.substr(kPrefix.size())), &seconds) || seconds <= 0) {
    return std::nullopt;
  }
  return absl::Seconds(seconds);
}

}  // namespace

absl::Status ValidateInlineKeyboard(const InlineKeyboard& keyboard) {
  return ValidateRows(
      "inline keyboard", keyboard, [](const InlineButton& button, const std::string& where) -> absl::Status {
        const size_t n = button.callback_data.size();
        if (n == 0) return absl::InvalidArgumentError(where + "callback_data is empty");
        if (n > kMaxCallbackDataBytes) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, "callback_data is ", n, " bytes (at most ", kMaxCallbackDataBytes, ")"));
        }
        if (!IsValidUtf8(button.callback_data)) {
          return absl::InvalidArgumentError(where + "callback_data is not valid UTF-8");
        }
        return absl::OkStatus();
      });
}

absl::Status ValidateReplyKeyboard(const ReplyKeyboard& keyboard) {
  return ValidateRows("reply keyboard", keyboard.rows,
                      [](const ReplyButton&, const std::string&) { return absl::OkStatus(); });
}

std::string MethodUrl(std::string_view base_url, std::string_view token, std::string_view method) {
  while (!base_url.empty() && base_url.back() == '/') base_url.remove_suffix(1);
  return absl::StrCat(std::string(base_url), "/bot", std::string(token), "/", std::string(method));
}

absl::StatusOr<std::string> SendMessageBody(std::string_view chat_id, std::string_view text,
                                            const ReplyMarkup& markup, bool disable_notification) {
  if (absl::Status s = CheckChatId(chat_id); !s.ok()) return s;
  if (absl::Status s = CheckText(text, kMaxMessageLength, "text", false); !s.ok()) return s;
  json::object o;
  o["chat_id"] = ChatIdValue(chat_id);
  o["text"] = json::string(Key(text));
  if (const auto* inline_keyboard = std::get_if<InlineKeyboard>(&markup)) {
    if (absl::Status s = ValidateInlineKeyboard(*inline_keyboard); !s.ok()) return s;
    o["reply_markup"] = InlineKeyboardJson(*inline_keyboard);
  } else if (const auto* reply_keyboard = std::get_if<ReplyKeyboard>(&markup)) {
    if (absl::Status s = ValidateReplyKeyboard(*reply_keyboard); !s.ok()) return s;
    o["reply_markup"] = ReplyKeyboardJson(*reply_keyboard);
  } else if (std::holds_alternative<RemoveKeyboard>(markup)) {
    json::object remove;
    remove["remove_keyboard"] = true;
    o["reply_markup"] = std::move(remove);
  }
  if (disable_notification) o["disable_notification"] = true;
  return json::serialize(o);
}

absl::StatusOr<std::string> EditMessageTextBody(std::string_view chat_id, int64_t message_id,
                                                std::string_view text,
                                                const std::optional<InlineKeyboard>& keyboard) {
  if (absl::Status s = CheckChatId(chat_id); !s.ok()) return s;
  if (absl::Status s = CheckMessageId(message_id); !s.ok()) return s;
  if (absl::Status s = CheckText(text, kMaxMessageLength, "text", false); !s.ok()) return s;
  json::object o;
  o["chat_id"] = ChatIdValue(chat_id);
  o["message_id"] = message_id;
  o["text"] = json::string(Key(text));
  if (keyboard.has_value()) {
    if (absl::Status s = ValidateInlineKeyboard(*keyboard); !s.ok()) return s;
    o["reply_markup"] = InlineKeyboardJson(*keyboard);
  }
  return json::serialize(o);
}

absl::StatusOr<std::string> EditMessageReplyMarkupBody(std::string_view chat_id, int64_t message_id,
                                                       const std::optional<InlineKeyboard>& keyboard) {
  if (absl::Status s = CheckChatId(chat_id); !s.ok()) return s;
  if (absl::Status s = CheckMessageId(message_id); !s.ok()) return s;
  json::object o;
  o["chat_id"] = ChatIdValue(chat_id);
  o["message_id"] = message_id;
  if (keyboard.has_value()) {
    if (absl::Status s = ValidateInlineKeyboard(*keyboard); !s.ok()) return s;
    o["reply_markup"] = InlineKeyboardJson(*keyboard);
  }
  return json::serialize(o);
}

absl::StatusOr<std::string> AnswerCallbackQueryBody(std::string_view callback_query_id, std::string_view text,
                                                    bool show_alert) {
  if (callback_query_id.empty()) return absl::InvalidArgumentError("callback_query_id is required");
  if (!IsValidUtf8(callback_query_id))
    return absl::InvalidArgumentError("callback_query_id is not valid UTF-8");
  if (absl::Status s = CheckText(text, kMaxCallbackAnswerLength, "text", true); !s.ok()) return s;
  json::object o;
  o["callback_query_id"] = json::string(Key(callback_query_id));
  if (!text.empty()) o["text"] = json::string(Key(text));
  if (show_alert) o["show_alert"] = true;
  return json::serialize(o);
}

absl::StatusOr<std::string> SetWebhookBody(std::string_view url, std::string_view secret_token,
                                           bool drop_pending_updates,
                                           const std::optional<std::vector<std::string>>& allowed_updates) {
  if (url.empty()) return absl::InvalidArgumentError("url is required (deleteWebhook removes a webhook)");
  if (!IsValidUtf8(url)) return absl::InvalidArgumentError("url is not valid UTF-8");
  if (!secret_token.empty() && !IsValidSecretToken(secret_token)) {
    return absl::InvalidArgumentError("secret_token must be 1-256 characters of A-Z a-z 0-9 _ -");
  }
  json::object o;
  o["url"] = json::string(Key(url));
  if (!secret_token.empty()) o["secret_token"] = json::string(Key(secret_token));
  if (drop_pending_updates) o["drop_pending_updates"] = true;
  if (allowed_updates.has_value()) {
    json::array kinds;
    for (const std::string& kind : *allowed_updates) {
      if (!IsValidUtf8(kind)) return absl::InvalidArgumentError("allowed_updates is not valid UTF-8");
      kinds.emplace_back(kind);
    }
    o["allowed_updates"] = std::move(kinds);
  }
  return json::serialize(o);
}

absl::StatusOr<ApiResult> ParseResponse(int http_status, std::string_view body) {
  const bool server_failed = http_status >= 500 && http_status <= 599;
  absl::StatusOr<json::object> doc = ParseJsonObject(body, "Bot API answer");
  if (!doc.ok()) {
    if (server_failed) return GatewayFailure(http_status);
    return doc.status();
  }
  const json::value* ok_value = doc->if_contains("ok");
  if (ok_value == nullptr || !ok_value->is_bool()) {
    if (server_failed) return GatewayFailure(http_status);
    return absl::InvalidArgumentError(ok_value == nullptr ? "ok is required" : "ok must be a boolean");
  }
  ApiResult result;
  result.http_status = http_status;
  result.ok = ok_value->get_bool();
  if (result.ok) {
    const json::value* value = doc->if_contains("result");
    if (value == nullptr) return absl::InvalidArgumentError("result is required");
    result.result_json = json::serialize(*value);
    return result;
  }
  JsonReader reader;
  std::optional<int64_t> error_code = reader.Int(&*doc, "error_code", "error_code");
  std::optional<std::string> description = reader.String(&*doc, "description", "description");
  const json::object* parameters = reader.Object(&*doc, "parameters", "parameters");
  std::optional<int64_t> retry_after = reader.Int(parameters, "retry_after", "parameters.retry_after");
  std::optional<std::string> migrate_to =
      reader.Id(parameters, "migrate_to_chat_id", "parameters.migrate_to_chat_id");
  if (!reader.ok()) return reader.status();
  if (error_code.has_value() && (*error_code < 0 || *error_code > 999)) {
    return absl::InvalidArgumentError("error_code must be an HTTP status");
  }
  result.error_code = error_code.has_value() ? static_cast<int>(*error_code) : http_status;
  result.description = description.value_or("");
  if (retry_after.has_value()) {
    if (*retry_after < 0) return absl::InvalidArgumentError("parameters.retry_after must not be negative");
    result.retry_after = absl::Seconds(*retry_after);
  } else if (result.error_code == 429) {
    result.retry_after = RetryAfterFromDescription(result.description);
  }
  result.migrate_to_chat_id = std::move(migrate_to);
  return result;
}

absl::StatusOr<int64_t> MessageIdOf(std::string_view result_json) {
  absl::StatusOr<json::object> message = ParseJsonObject(result_json, "result");
  if (!message.ok()) return message.status();
  JsonReader reader;
  std::optional<int64_t> id = reader.Int(&*message, "message_id", "result.message_id");
  reader.Require(id.has_value(), "result.message_id");
  if (!reader.ok()) return reader.status();
  return *id;
}

absl::StatusOr<std::string> UsernameOf(std::string_view get_me_result_json) {
  absl::StatusOr<json::object> user = ParseJsonObject(get_me_result_json, "result");
  if (!user.ok()) return user.status();
  JsonReader reader;
  std::optional<std::string> username = reader.String(&*user, "username", "result.username");
  reader.Require(username.has_value() && !username->empty(), "result.username");
  if (!reader.ok()) return reader.status();
  return *username;
}

absl::StatusOr<WebhookInfo> ParseWebhookInfo(std::string_view result_json) {
  absl::StatusOr<json::object> info = ParseJsonObject(result_json, "result");
  if (!info.ok()) return info.status();
  JsonReader reader;
  std::optional<std::string> url = reader.String(&*info, "url", "result.url");
  std::optional<int64_t> pending = reader.Int(&*info, "pending_update_count", "result.pending_update_count");
  std::optional<std::string> last_error =
      reader.String(&*info, "last_error_message", "result.last_error_message");
  std::optional<int64_t> last_error_date = reader.Int(&*info, "last_error_date", "result.last_error_date");
  reader.Require(url.has_value(), "result.url");
  reader.Require(pending.has_value(), "result.pending_update_count");
  if (!reader.ok()) return reader.status();
  WebhookInfo out;
  out.url = std::move(*url);
  out.pending_update_count = *pending;
  out.last_error_message = last_error.value_or("");
  if (last_error_date.has_value()) out.last_error_date = absl::FromUnixSeconds(*last_error_date);
  return out;
}

BotApiError ClassifyError(const ApiResult& result) {
  if (result.ok) return BotApiError::kNone;
  const int code = result.error_code;
  if (code == 429 || result.retry_after.has_value()) return BotApiError::kRateLimited;
  if (code == 401) return BotApiError::kUnauthorized;
  if (code == 403) return BotApiError::kBlocked;
  if (code >= 500 && code <= 599) return BotApiError::kServerError;
  if (code == 400) {
    if (result.migrate_to_chat_id.has_value()) return BotApiError::kChatMigrated;
    const std::string description = absl::AsciiStrToLower(result.description);
    if (description.find("message is not modified") != std::string::npos) return BotApiError::kNotModified;
    if (description.find("message to edit not found") != std::string::npos)
      return BotApiError::kMessageNotFound;
    if (description.find("chat not found") != std::string::npos) return BotApiError::kChatNotFound;
    return BotApiError::kBadRequest;
  }
  return BotApiError::kOther;
}

std::string_view ErrorLabel(BotApiError error) {
  switch (error) {
    case BotApiError::kNone:
      return "ok";
    case BotApiError::kRateLimited:
      return "rate_limited";
    case BotApiError::kBlocked:
      return "blocked";
    case BotApiError::kChatNotFound:
      return "chat_not_found";
    case BotApiError::kNotModified:
      return "not_modified";
    case BotApiError::kMessageNotFound:
      return "message_not_found";
    case BotApiError::kChatMigrated:
      return "chat_migrated";
    case BotApiError::kBadRequest:
      return "bad_request";
    case BotApiError::kUnauthorized:
      return "unauthorized";
    case BotApiError::kServerError:
      return "server_error";
    case BotApiError::kOther:
      return "other";
  }
  return "other";
}

}  // namespace protectogram::providers::telegram
