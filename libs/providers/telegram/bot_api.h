// Telegram Bot API, outbound: keyboards, request bodies for the methods we call, and the reading and
// classification of their answers. Pure functions, no I/O (the notification service sends; FakeBotApi in
// fake_bot_api.h answers like Telegram on loopback).
//
// Protocol facts relied on (sources: core.telegram.org/bots/api, #making-requests, #sendmessage,
// #inlinekeyboardbutton, #responseparameters, #answercallbackquery; tdlib/telegram-bot-api
// telegram-bot-api/Client.cpp at 01a3679c; tdlib/td td/telegram/ReplyMarkup.cpp at 02a9daed; see
// docs/providers.md, "Outbound"):
// - Requests: POST https://api.telegram.org/bot<token>/<method>, parameters as JSON (or form / query).
//   Answers: {"ok":true,"result":...} or {"ok":false,"error_code":N,"description":"...",
//   "parameters":{"retry_after":N | "migrate_to_chat_id":N}} (#making-requests, #responseparameters).
// - sendMessage `text`: 1-4096 characters after entities parsing (#sendmessage); Telegram measures text in
//   UTF-16 code units (entity offsets and lengths are UTF-16, #messageentity), and so do we. An empty text is
//   400 "Bad Request: message text is empty" (Client.cpp get_input_message_text).
// - InlineKeyboardButton `callback_data`: 1-64 bytes (#inlinekeyboardbutton). In the Bot API an empty
//   callback_data makes the button a text button, refused in inline keyboards ("Text buttons are unallowed in
//   the inline keyboard", Client.cpp get_inline_keyboard_button_type).
// - Button counts: the Bot API documents none. tdlib (ReplyMarkup.cpp get_reply_markup) silently drops
//   buttons past 12 in a row and 300 in a keyboard and skips buttons with empty text; Telegram's servers
//   refuse a markup that is too big (REPLY_MARKUP_TOO_LONG, answered as 400 "Bad Request: reply markup is
//   too long", Client.cpp fail_query_with_error). We refuse more than 8 buttons in a row and 100 in total:
//   the limits bot developers commonly quote (not documented by Telegram), inside both of the above, so
//   nothing we send is ever cut silently.
// - answerCallbackQuery `text`: 0-200 characters (#answercallbackquery).
// - Errors (Client.cpp fail_query_with_error): 429 "Too Many Requests: retry after N" with
//   parameters.retry_after; 403 "Forbidden: bot was blocked by the user" (USER_IS_BLOCKED), "Forbidden: user
//   is deactivated", "Forbidden: bot was kicked from the group chat", ...; 400 "Bad Request: chat not found";
//   400 "Bad Request: message is not modified: specified new message content and reply markup are exactly
//   the same as a current content and reply markup of the message" (MESSAGE_NOT_MODIFIED); 400 "Bad Request:
//   message to edit not found"; 401 "Unauthorized" (bad token); a group upgraded to a supergroup: 400 with
//   parameters.migrate_to_chat_id.
// - Editing: editMessageText / editMessageReplyMarkup replace the message's inline keyboard; a request
//   without reply_markup removes it (Client.cpp process_edit_message_text_query passes the absent markup as
//   null to td_api::editMessageText, whose reply_markup is "the new message reply markup; pass null if
//   none").
// - Ids: chat ids fit in 52 bits and may be negative (groups, "-100..."); a channel may be "@username".
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/providers/common/text.h"

namespace protectogram::providers::telegram {

inline constexpr size_t kMaxMessageLength = 4096;        // UTF-16 code units
inline constexpr size_t kMaxCallbackDataBytes = 64;      // bytes
inline constexpr size_t kMaxButtonsPerRow = 8;           // ours, see above
inline constexpr size_t kMaxButtons = 100;               // ours, see above
inline constexpr size_t kMaxCallbackAnswerLength = 200;  // UTF-16 code units

// --- keyboards ---

struct InlineButton {
  std::string text;
  std::string callback_data;  // 1-64 bytes
};
using InlineKeyboard = std::vector<std::vector<InlineButton>>;  // rows of buttons

struct ReplyButton {
  std::string text;
  bool request_contact = false;  // the button shares the user's phone number (private chats only)
};
struct ReplyKeyboard {
  std::vector<std::vector<ReplyButton>> rows;
  bool resize_keyboard = true;
  bool one_time_keyboard = false;
};
// Removes a reply keyboard ({"remove_keyboard":true}).
struct RemoveKeyboard {};

// What a sent message carries below it: nothing, an inline keyboard, a reply keyboard, or the removal of one.
using ReplyMarkup = std::variant<std::monostate, InlineKeyboard, ReplyKeyboard, RemoveKeyboard>;

// OK when the keyboard has at least one row, no empty row, at most 8 buttons per row and 100 in all, every
// text non-empty valid UTF-8 and every callback_data 1-64 bytes of valid UTF-8. INVALID_ARGUMENT otherwise,
// naming the first offence with its 1-based place: "inline keyboard: row 2 has 9 buttons (at most 8)",
// "inline keyboard: row 1 button 3: callback_data is 65 bytes (at most 64)", "inline keyboard: 101 buttons
// (at most 100)", "inline keyboard: row 1 button 1: text is empty", "inline keyboard has no buttons", ...
absl::Status ValidateInlineKeyboard(const InlineKeyboard& keyboard);
// The same rules for a reply keyboard (no callback_data): "reply keyboard: row 1 has 9 buttons (at most 8)".
absl::Status ValidateReplyKeyboard(const ReplyKeyboard& keyboard);

// Lengths are counted in UTF-16 code units with providers::Utf16Length (libs/providers/common/text.h).

// --- requests ---

// base_url + "/bot" + token + "/" + method, with one '/' between base_url and "bot" whether or not base_url
// ends with one: MethodUrl("https://api.telegram.org", "123:AA", "sendMessage") =
// "https://api.telegram.org/bot123:AA/sendMessage".
std::string MethodUrl(std::string_view base_url, std::string_view token, std::string_view method);

// The request bodies (JSON objects, keys in the order shown; optional keys left out when unset). `chat_id`
// is carried as text: emitted as a JSON integer when it is one (-?[1-9][0-9]* within int64, or "0"), else as
// a string ("@channel"). Every builder returns INVALID_ARGUMENT for: an empty chat_id, a text that is empty,
// not valid UTF-8 or over 4096 UTF-16 code units ("text is empty" / "text is not valid UTF-8" / "text is
// 4097 UTF-16 code units (at most 4096)"), a message_id < 1, or a keyboard ValidateInlineKeyboard /
// ValidateReplyKeyboard refuses.
//
// {"chat_id":..,"text":..,"reply_markup":{..},"disable_notification":true}: reply_markup is
// {"inline_keyboard":[[{"text":..,"callback_data":..}]]}, {"keyboard":[[{"text":..,"request_contact":true}]],
// "resize_keyboard":..,"one_time_keyboard":..} (request_contact only when set) or {"remove_keyboard":true};
// disable_notification only when true.
absl::StatusOr<std::string> SendMessageBody(std::string_view chat_id, std::string_view text,
                                            const ReplyMarkup& markup = {},
                                            bool disable_notification = false);
// {"chat_id":..,"message_id":..,"text":..,"reply_markup":{"inline_keyboard":..}}. Without a keyboard the
// message's keyboard is removed (Telegram's rule for edits).
absl::StatusOr<std::string> EditMessageTextBody(std::string_view chat_id, int64_t message_id,
                                                std::string_view text,
                                                const std::optional<InlineKeyboard>& keyboard = std::nullopt);
// {"chat_id":..,"message_id":..,"reply_markup":{"inline_keyboard":..}}; without a keyboard it is removed.
absl::StatusOr<std::string> EditMessageReplyMarkupBody(
    std::string_view chat_id, int64_t message_id,
    const std::optional<InlineKeyboard>& keyboard = std::nullopt);
// {"callback_query_id":..,"text":..,"show_alert":true}: text when non-empty, show_alert when true.
// INVALID_ARGUMENT for an empty callback_query_id, or a text that is not valid UTF-8 or over 200 UTF-16 code
// units.
absl::StatusOr<std::string> AnswerCallbackQueryBody(std::string_view callback_query_id,
                                                    std::string_view text = {}, bool show_alert = false);
// {"url":..,"secret_token":..,"drop_pending_updates":true,"allowed_updates":[..]}: secret_token when
// non-empty, drop_pending_updates when true, allowed_updates when given (an empty list means "all but
// the opt-in kinds", Telegram's default). INVALID_ARGUMENT for an empty url (use deleteWebhook) or a
// secret_token that breaks Telegram's rules (IsValidSecretToken, telegram.h).
absl::StatusOr<std::string> SetWebhookBody(
    std::string_view url, std::string_view secret_token, bool drop_pending_updates = false,
    const std::optional<std::vector<std::string>>& allowed_updates = std::nullopt);

// --- answers ---

struct ApiResult {
  int http_status = 0;
  bool ok = false;
  std::string result_json;  // `result`, re-serialized ("true", "{...}"); empty when !ok
  int error_code = 0;       // `error_code`, or the HTTP status when the body has none; 0 when ok
  std::string description;
  std::optional<absl::Duration> retry_after;      // parameters.retry_after (s), else "retry after N"
  std::optional<std::string> migrate_to_chat_id;  // parameters.migrate_to_chat_id, as text
};

// Reads an answer. A JSON object with a boolean `ok` is the answer it says. A 5xx whose body is not one
// (a gateway's HTML page) is an error answer {ok: false, error_code: the status, description: "HTTP <status>
// without a Bot API answer"}: the server failed, which is what the caller must know. Otherwise
// INVALID_ARGUMENT: "malformed JSON" (including invalid UTF-8), "Bot API answer must be a JSON object",
// "ok is required" / "ok must be a boolean", "error_code must be an integer", ... — the caller cannot know
// what happened (for sendMessage: maybe sent).
absl::StatusOr<ApiResult> ParseResponse(int http_status, std::string_view body);

// The message_id of a Message result (sendMessage, editMessage*). INVALID_ARGUMENT when result_json is not
// an object with an integer message_id (editing an inline message answers `true`).
absl::StatusOr<int64_t> MessageIdOf(std::string_view result_json);
// The username of getMe's User result. INVALID_ARGUMENT when it has none.
absl::StatusOr<std::string> UsernameOf(std::string_view get_me_result_json);

struct WebhookInfo {
  std::string url;  // "" when no webhook is set
  int64_t pending_update_count = 0;
  std::string last_error_message;  // "" when none
  std::optional<absl::Time> last_error_date;
};
// getWebhookInfo's WebhookInfo result. INVALID_ARGUMENT when it is not an object with a string url and an
// integer pending_update_count.
absl::StatusOr<WebhookInfo> ParseWebhookInfo(std::string_view result_json);

// --- error classes ---

// What an answer means for the one who sent it; the action in brackets is what the notification service
// does (docs/providers.md, "Outbound").
enum class BotApiError {
  kNone,             // ok                                               [done]
  kRateLimited,      // 429 (or any answer with retry_after)             [wait retry_after; not an attempt]
  kBlocked,          // 403: blocked by the user, user deactivated, kicked, not a member, ... [dead at once]
  kChatNotFound,     // 400 "chat not found"                             [dead at once]
  kNotModified,      // 400 "message is not modified"                    [success: the edit is already there]
  kMessageNotFound,  // 400 "message to edit not found"                  [dead: nothing to edit]
  kChatMigrated,     // 400 with migrate_to_chat_id (group -> supergroup) [resend to migrate_to_chat_id]
  kBadRequest,       // any other 400 (our request is wrong)             [dead at once]
  kUnauthorized,     // 401 (the bot token is wrong or revoked)          [retry later; alert]
  kServerError,      // 5xx                                              [retry with backoff]
  kOther,            // anything else (404, 409, ...)                    [retry with backoff]
};

// The class of an answer: by error_code, and for 400 by the description (case-insensitive substring).
BotApiError ClassifyError(const ApiResult& result);
// A stable low-cardinality label, safe for metrics and logs: "ok", "rate_limited", "blocked",
// "chat_not_found", "not_modified", "message_not_found", "chat_migrated", "bad_request", "unauthorized",
// "server_error", "other".
std::string_view ErrorLabel(BotApiError error);

}  // namespace protectogram::providers::telegram
