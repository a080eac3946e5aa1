// One lock guards everything the fake knows (bots, their chats and messages, the script, the calls); a
// handler takes it to record the call, to pick a fault, and to act, never while it waits out a delay, so a
// slow answer to one chat holds up nobody else. Each answer carries an on_complete callback (server.h) that
// marks its call finished with whether the client got it.
#include "libs/providers/telegram/fake_bot_api.h"

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/http/server.h"
#include "libs/providers/common/form.h"
#include "libs/providers/common/json_reader.h"
#include "libs/providers/common/text.h"
#include "libs/providers/telegram/bot_api.h"
#include "libs/providers/telegram/telegram.h"

namespace protectogram::providers::telegram {
namespace {

namespace json = boost::json;

constexpr char kNotModified[] =
    "Bad Request: message is not modified: specified new message content and reply markup are exactly the "
    "same "
    "as a current content and reply markup of the message";
// A JSON body cut short, as a proxy that dropped the rest would leave it.
constexpr char kMalformedBody[] = R"({"ok":true,"result":{"message_id":)";

json::string_view Key(std::string_view s) { return json::string_view(s.data(), s.size()); }

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(std::string(s)); }

// A parameter as Telegram reads it: every value is text (numbers and booleans as written, objects as JSON).
std::optional<std::string> ParamString(const json::object& params, std::string_view key) {
  const json::value* v = params.if_contains(Key(key));
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (v->is_string()) return std::string(v->get_string().data(), v->get_string().size());
  return json::serialize(*v);
}

std::optional<int64_t> ParamInt(const json::object& params, std::string_view key) {
  std::optional<std::string> s = ParamString(params, key);
  int64_t n = 0;
  if (!s.has_value() || !absl::SimpleAtoi(*s, &n)) return std::nullopt;
  return n;
}

bool ParamBool(const json::object& params, std::string_view key) {
  std::optional<std::string> s = ParamString(params, key);
  return s.has_value() && (*s == "true" || *s == "1" || *s == "True");
}

// A parameter that holds JSON, given as a value or as JSON text. nullopt when absent; INVALID_ARGUMENT when
// the text is not JSON.
absl::StatusOr<std::optional<json::value>> ParamJson(const json::object& params, std::string_view key) {
  const json::value* v = params.if_contains(Key(key));
  if (v == nullptr || v->is_null()) return std::optional<json::value>();
  if (!v->is_string()) return std::optional<json::value>(*v);
  boost::system::error_code ec;
  json::value parsed = json::parse(v->get_string(), ec);
  if (ec) return absl::InvalidArgumentError("not JSON");
  return std::optional<json::value>(std::move(parsed));
}

// The request's parameters: the query string, then the body (JSON or a form), the body winning.
absl::StatusOr<json::object> ParseParams(const http::Request& request) {
  json::object params;
  for (const auto& [name, value] : request.query) params[Key(name)] = value;
  if (request.body.empty()) return params;
  std::string type = Lower(request.Header("content-type"));
  if (size_t semicolon = type.find(';'); semicolon != std::string::npos) type.resize(semicolon);
  while (!type.empty() && type.back() == ' ') type.pop_back();
  if (type == "application/json") {
    absl::StatusOr<json::object> body = ParseJsonObject(request.body, "request");
    if (!body.ok()) return body.status();
    for (auto& field : *body) params[field.key()] = field.value();
    return params;
  }
  if (type == "application/x-www-form-urlencoded") {
    absl::StatusOr<FormParams> form = ParseForm(request.body);
    if (!form.ok()) return form.status();
    for (const auto& [name, value] : *form) params[Key(name)] = value;
    return params;
  }
  return absl::InvalidArgumentError("unsupported content type");
}

// An answer being built.
struct Answer {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::string description;  // the error's
  int retry_after = 0;
  bool accepted = false;
  int64_t message_id = 0;
  std::string fault;  // a label for Call::fault
  bool drop = false;
};

Answer Ok(json::value result, std::string_view description = {}, bool accepted = true) {
  json::object o;
  o["ok"] = true;
  o["result"] = std::move(result);
  if (!description.empty()) o["description"] = Key(description);
  Answer a;
  a.body = json::serialize(o);
  a.accepted = accepted;
  return a;
}

Answer Error(int code, std::string description, int retry_after = 0) {
  json::object o;
  o["ok"] = false;
  o["error_code"] = code;
  o["description"] = description;
  if (retry_after > 0) {
    json::object parameters;
    parameters["retry_after"] = retry_after;
    o["parameters"] = std::move(parameters);
  }
  Answer a;
  a.status = code;
  a.body = json::serialize(o);
  a.description = std::move(description);
  a.retry_after = retry_after;
  return a;
}

Answer RateLimited(int retry_after) {
  return Error(429, absl::StrCat("Too Many Requests: retry after ", retry_after), retry_after);
}

// What nginx in front of the Bot API shows when the backend fails.
Answer GatewayPage(int status) {
  std::string reason = "Error";
  if (status == 502) reason = "Bad Gateway";
  if (status == 503) reason = "Service Temporarily Unavailable";
  if (status == 504) reason = "Gateway Time-out";
  Answer a;
  a.status = status;
  a.content_type = "text/html";
  a.description = absl::StrCat(status, " ", reason);
  a.body =
      absl::StrCat("<html>\r\n<head><title>", a.description, "</title></head>\r\n<body>\r\n<center><h1>",
                   a.description, "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n");
  return a;
}

bool IsChannelName(std::string_view chat_id) {
  return chat_id.size() >= 2 && chat_id.front() == '@' &&
         chat_id.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_", 1) ==
             std::string_view::npos;
}

// The bot's reading of a reply_markup: the inline keyboard it stores on the message ("" for none, or for a
// reply keyboard, which a Message does not carry), what it does to the chat's reply keyboard, or the 400
// description.
struct Markup {
  std::string inline_keyboard_json;
  // The `keyboard` rows the chat shows from now on ("": removed); nullopt leaves the chat's as it is.
  std::optional<std::string> reply_keyboard_json;
  bool one_time_keyboard = false;  // the reply keyboard's one_time_keyboard
  std::string error;
};

// A ReplyKeyboardMarkup's `keyboard` into `out`, normalized: every button an object with a "text" (a button
// given as a string becomes {"text":..}; other fields are kept), buttons without text and rows without
// buttons dropped, as tdlib drops them. reply_keyboard_json stays nullopt when nothing is left (no keyboard
// is sent, so the chat's stays).
void ReadReplyKeyboard(const json::value& rows, Markup& out) {
  if (!rows.is_array()) {
    out.error = "Bad Request: field \"keyboard\" of the ReplyKeyboardMarkup must be an Array";
    return;
  }
  json::array kept_rows;
  for (const json::value& row : rows.get_array()) {
    if (!row.is_array()) {
      out.error = "Bad Request: field \"keyboard\" of the ReplyKeyboardMarkup must be an Array of Arrays";
      return;
    }
    json::array kept;
    for (const json::value& button : row.get_array()) {
      json::object normalized;
      if (button.is_string()) {
        normalized["text"] = button.get_string();
      } else if (button.is_object()) {
        const json::value* text = button.get_object().if_contains("text");
        if (text == nullptr || !text->is_string()) {
          out.error = "Bad Request: can't parse keyboard button: Field \"text\" must be of type String";
          return;
        }
        normalized = button.get_object();
      } else {
        out.error = "Bad Request: can't parse keyboard button: KeyboardButton must be a String or an Object";
        return;
      }
      if (normalized["text"].get_string().empty()) continue;
      kept.push_back(std::move(normalized));
    }
    if (!kept.empty()) kept_rows.push_back(std::move(kept));
  }
  if (!kept_rows.empty()) out.reply_keyboard_json = json::serialize(kept_rows);
}

Markup ReadMarkup(const json::object& params, bool inline_only) {
  Markup out;
  absl::StatusOr<std::optional<json::value>> value = ParamJson(params, "reply_markup");
  if (!value.ok() || (value->has_value() && !(*value)->is_object())) {
    out.error = "Bad Request: can't parse reply keyboard markup JSON object";
    return out;
  }
  if (!value->has_value()) return out;
  const json::object& markup = (*value)->get_object();
  const json::value* rows = markup.if_contains("inline_keyboard");
  if (rows == nullptr) {
    if (inline_only) {
      out.error = "Bad Request: inline keyboard expected";
    } else if (const json::value* keyboard = markup.if_contains("keyboard"); keyboard != nullptr) {
      ReadReplyKeyboard(*keyboard, out);
      const json::value* one_time = markup.if_contains("one_time_keyboard");
      out.one_time_keyboard = one_time != nullptr && one_time->is_bool() && one_time->get_bool();
    } else if (const json::value* remove = markup.if_contains("remove_keyboard"); remove != nullptr) {
      if (remove->is_bool() && remove->get_bool()) out.reply_keyboard_json = "";
    } else if (!markup.contains("force_reply")) {
      out.error = "Bad Request: can't parse reply keyboard markup JSON object";
    }
    return out;
  }
  if (!rows->is_array()) {
    out.error = "Bad Request: field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array";
    return out;
  }
  json::array kept_rows;
  for (const json::value& row : rows->get_array()) {
    if (!row.is_array()) {
      out.error =
          "Bad Request: field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array of Arrays";
      return out;
    }
    json::array kept;
    for (const json::value& button : row.get_array()) {
      if (!button.is_object()) {
        out.error = "Bad Request: can't parse inline keyboard button: InlineKeyboardButton must be an Object";
        return out;
      }
      const json::object& b = button.get_object();
      const json::value* text = b.if_contains("text");
      if (text == nullptr || !text->is_string()) {
        out.error = "Bad Request: can't parse inline keyboard button: Field \"text\" must be of type String";
        return out;
      }
      if (text->get_string().empty()) continue;  // tdlib skips buttons without text
      json::object normalized;
      normalized["text"] = *text;
      const json::value* data = b.if_contains("callback_data");
      const json::value* url = b.if_contains("url");
      if (data != nullptr && data->is_string() && !data->get_string().empty()) {
        if (data->get_string().size() > kMaxCallbackDataBytes) {
          out.error = "Bad Request: BUTTON_DATA_INVALID";
          return out;
        }
        normalized["callback_data"] = *data;
      } else if (url != nullptr && url->is_string() && !url->get_string().empty()) {
        normalized["url"] = *url;
      } else {
        out.error =
            "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline "
            "keyboard";
        return out;
      }
      kept.push_back(std::move(normalized));
    }
    if (!kept.empty()) kept_rows.push_back(std::move(kept));
  }
  if (kept_rows.empty()) return out;  // an empty keyboard is no keyboard
  json::object normalized;
  normalized["inline_keyboard"] = std::move(kept_rows);
  out.inline_keyboard_json = json::serialize(normalized);
  return out;
}

struct BotState {
  FakeBot bot;
  std::string id;
  int64_t numeric_id = 0;
  std::string webhook_url;
  std::string webhook_secret;
  std::optional<json::array> allowed_updates;
  int64_t pending_update_count = 0;
  std::string last_error_message;
  std::optional<absl::Time> last_error_date;
  std::map<std::string, int64_t> last_message_id;  // by chat
  std::map<std::pair<std::string, int64_t>, FakeBotApi::Message> messages;
  struct ReplyKeyboard {
    std::string rows_json;  // the `keyboard` rows
    bool one_time = false;  // hidden once the user presses one of its buttons
  };
  std::map<std::string, ReplyKeyboard, std::less<>> reply_keyboards;  // by chat: the one shown
  std::map<std::string, absl::Time> last_send_to_chat;                // for enforce_rate_limits
  std::deque<absl::Time> recent_sends;                                // for enforce_rate_limits
};

}  // namespace

Fault Fault::RateLimited(int retry_after_seconds) {
  Fault f;
  f.kind = FaultKind::kRateLimited;
  f.retry_after_seconds = retry_after_seconds;
  return f;
}
Fault Fault::Blocked() {
  Fault f;
  f.kind = FaultKind::kBlocked;
  return f;
}
Fault Fault::ChatNotFound() {
  Fault f;
  f.kind = FaultKind::kChatNotFound;
  return f;
}
Fault Fault::ServerError(int status) {
  Fault f;
  f.kind = FaultKind::kServerError;
  f.status = status;
  return f;
}
Fault Fault::MalformedBody() {
  Fault f;
  f.kind = FaultKind::kMalformedBody;
  return f;
}
Fault Fault::Slow(absl::Duration delay) {
  Fault f;
  f.kind = FaultKind::kSlow;
  f.delay = delay;
  return f;
}
Fault Fault::DropBeforeAccept() {
  Fault f;
  f.kind = FaultKind::kDropBeforeAccept;
  return f;
}
Fault Fault::DropAfterAccept() {
  Fault f;
  f.kind = FaultKind::kDropAfterAccept;
  return f;
}

std::string_view FaultLabel(FaultKind kind) {
  switch (kind) {
    case FaultKind::kRateLimited:
      return "rate_limited";
    case FaultKind::kBlocked:
      return "blocked";
    case FaultKind::kChatNotFound:
      return "chat_not_found";
    case FaultKind::kServerError:
      return "server_error";
    case FaultKind::kMalformedBody:
      return "malformed_body";
    case FaultKind::kSlow:
      return "slow";
    case FaultKind::kDropBeforeAccept:
      return "drop_before_accept";
    case FaultKind::kDropAfterAccept:
      return "drop_after_accept";
  }
  return "unknown";
}

struct FakeBotApi::State : std::enable_shared_from_this<FakeBotApi::State> {
  explicit State(FakeBotApiOptions o) : options(std::move(o)) {}

  absl::Time Now() const { return options.clock ? options.clock() : absl::Now(); }

  // Adds a bot; mu held (or not yet shared).
  absl::Status AddBotLocked(FakeBot bot) {
    const size_t colon = bot.token.find(':');
    int64_t id = 0;
    if (colon == std::string::npos || colon == 0 || colon + 1 == bot.token.size() ||
        bot.token.find_first_not_of("0123456789") != colon ||
        !absl::SimpleAtoi(bot.token.substr(0, colon), &id)) {
      return absl::InvalidArgumentError("bot token must be <bot id digits>:<secret>");
    }
    if (bots.count(bot.token) > 0) return absl::InvalidArgumentError("bot token given twice");
    BotState state;
    state.id = bot.token.substr(0, colon);
    state.numeric_id = id;
    state.bot = std::move(bot);
    const std::string token = state.bot.token;
    bots.emplace(token, std::move(state));
    return absl::OkStatus();
  }

  // The fault for this call, if a rule applies (using one of its uses); mu held.
  std::optional<Fault> TakeFault(std::string_view method_lower, std::string_view chat_id) {
    for (auto it = rules.begin(); it != rules.end(); ++it) {
      if (!it->method.empty() && Lower(it->method) != method_lower) continue;
      if (!it->chat_id.empty() && it->chat_id != chat_id) continue;
      Fault fault = it->fault;
      if (it->times > 0 && --it->times == 0) rules.erase(it);
      return fault;
    }
    return std::nullopt;
  }

  // Waits `delay` unless the fake stops first; false when it stopped.
  bool Wait(absl::Duration delay) {
    std::unique_lock<std::mutex> lock(mu);
    return !stop_cv.wait_for(lock, absl::ToChronoNanoseconds(std::min(delay, absl::Hours(24))),
                             [this] { return stopping; });
  }

  json::object ChatJson(const std::string& chat_id) {
    json::object chat;
    int64_t id = 0;
    if (absl::SimpleAtoi(chat_id, &id)) {
      chat["id"] = id;
      chat["type"] = id > 0 ? "private" : (chat_id.rfind("-100", 0) == 0 ? "supergroup" : "group");
      if (id < 0) chat["title"] = "Fake group";
      return chat;
    }
    auto [it, inserted] = channel_ids.emplace(chat_id, 0);
    if (inserted) it->second = -1001000000000 - static_cast<int64_t>(channel_ids.size());
    chat["id"] = it->second;
    chat["title"] = "Fake channel";
    chat["username"] = chat_id.substr(1);
    chat["type"] = "channel";
    return chat;
  }

  json::object MessageJson(const BotState& bot, const Message& m) {
    json::object from;
    from["id"] = bot.numeric_id;
    from["is_bot"] = true;
    from["first_name"] = bot.bot.first_name;
    from["username"] = bot.bot.username;
    json::object o;
    o["message_id"] = m.message_id;
    o["from"] = std::move(from);
    o["chat"] = ChatJson(m.chat_id);
    o["date"] = absl::ToUnixSeconds(m.date);
    if (m.edit_date.has_value()) o["edit_date"] = absl::ToUnixSeconds(*m.edit_date);
    o["text"] = m.text;
    if (!m.inline_keyboard_json.empty()) o["reply_markup"] = json::parse(m.inline_keyboard_json);
    return o;
  }

  // The chat named by chat_id, checked as sendMessage and the edits check it; "" when it is fine.
  std::string CheckChat(const std::optional<std::string>& chat_id) {
    if (!chat_id.has_value() || chat_id->empty()) return "Bad Request: chat_id is empty";
    int64_t id = 0;
    if (!absl::SimpleAtoi(*chat_id, &id) && !IsChannelName(*chat_id)) return "Bad Request: chat not found";
    return "";
  }

  // "" when the text may be sent; else the 400 description.
  static std::string CheckText(const std::optional<std::string>& text) {
    if (!text.has_value() || text->empty()) return "Bad Request: message text is empty";
    if (Utf16Length(*text) > kMaxMessageLength) return "Bad Request: message is too long";
    return "";
  }

  // Carries out a call; mu held.
  Answer Execute(BotState& bot, const std::string& method, const json::object& params) {
    const absl::Time now = Now();
    const std::optional<std::string> chat_id = ParamString(params, "chat_id");
    if (method == "getme") {
      json::object me;
      me["id"] = bot.numeric_id;
      me["is_bot"] = true;
      me["first_name"] = bot.bot.first_name;
      me["username"] = bot.bot.username;
      me["can_join_groups"] = true;
      me["can_read_all_group_messages"] = false;
      me["supports_inline_queries"] = false;
      return Ok(std::move(me), {}, false);
    }
    if (method == "sendmessage") {
      if (std::string e = CheckChat(chat_id); !e.empty()) return Error(400, e);
      const std::optional<std::string> text = ParamString(params, "text");
      if (std::string e = CheckText(text); !e.empty()) return Error(400, e);
      Markup markup = ReadMarkup(params, /*inline_only=*/false);
      if (!markup.error.empty()) return Error(400, markup.error);
      if (blocked_chats.count(*chat_id) > 0) return Error(403, "Forbidden: bot was blocked by the user");
      if (options.enforce_rate_limits) {
        while (!bot.recent_sends.empty() && now - bot.recent_sends.front() >= absl::Seconds(1)) {
          bot.recent_sends.pop_front();
        }
        auto last = bot.last_send_to_chat.find(*chat_id);
        if ((last != bot.last_send_to_chat.end() && now - last->second < absl::Seconds(1)) ||
            bot.recent_sends.size() >= 30) {
          Answer a = RateLimited(1);
          a.fault = "rate_limit_enforced";
          return a;
        }
        bot.last_send_to_chat[*chat_id] = now;
        bot.recent_sends.push_back(now);
      }
      Message m;
      m.bot_id = bot.id;
      m.chat_id = *chat_id;
      m.message_id = ++bot.last_message_id[*chat_id];
      m.text = *text;
      m.inline_keyboard_json = std::move(markup.inline_keyboard_json);
      m.date = now;
      if (markup.reply_keyboard_json.has_value()) {
        if (markup.reply_keyboard_json->empty()) {
          bot.reply_keyboards.erase(m.chat_id);
        } else {
          bot.reply_keyboards[m.chat_id] = {.rows_json = std::move(*markup.reply_keyboard_json),
                                            .one_time = markup.one_time_keyboard};
        }
      }
      Answer a = Ok(MessageJson(bot, m));
      a.message_id = m.message_id;
      bot.messages[{m.chat_id, m.message_id}] = std::move(m);
      return a;
    }
    if (method == "editmessagetext" || method == "editmessagereplymarkup") {
      const bool edit_text = method == "editmessagetext";
      if (std::string e = CheckChat(chat_id); !e.empty()) return Error(400, e);
      const std::optional<int64_t> message_id = ParamInt(params, "message_id");
      if (!message_id.has_value()) return Error(400, "Bad Request: message identifier is not specified");
      std::optional<std::string> text;
      if (edit_text) {
        text = ParamString(params, "text");
        if (std::string e = CheckText(text); !e.empty()) return Error(400, e);
      }
      Markup markup = ReadMarkup(params, /*inline_only=*/true);
      if (!markup.error.empty()) return Error(400, markup.error);
      if (blocked_chats.count(*chat_id) > 0) return Error(403, "Forbidden: bot was blocked by the user");
      auto it = bot.messages.find({*chat_id, *message_id});
      if (it == bot.messages.end()) return Error(400, "Bad Request: message to edit not found");
      Message& m = it->second;
      const std::string& new_text = edit_text ? *text : m.text;
      if (new_text == m.text && markup.inline_keyboard_json == m.inline_keyboard_json) {
        return Error(400, kNotModified);
      }
      m.text = new_text;
      m.inline_keyboard_json = std::move(markup.inline_keyboard_json);
      m.edit_date = now;
      Answer a = Ok(MessageJson(bot, m));
      a.message_id = m.message_id;
      return a;
    }
    if (method == "answercallbackquery") {
      const std::optional<std::string> id = ParamString(params, "callback_query_id");
      if (!id.has_value() || id->empty()) {
        return Error(400, "Bad Request: parameter \"callback_query_id\" is required");
      }
      if (std::optional<std::string> text = ParamString(params, "text");
          text.has_value() && Utf16Length(*text) > kMaxCallbackAnswerLength) {
        return Error(400, "Bad Request: MESSAGE_TOO_LONG");
      }
      return Ok(true);
    }
    if (method == "setwebhook" || method == "deletewebhook") {
      std::string url;
      if (method == "setwebhook") url = ParamString(params, "url").value_or("");
      if (!url.empty()) {
        const std::string secret = ParamString(params, "secret_token").value_or("");
        if (secret.size() > 256) return Error(400, "Bad Request: secret token is too long");
        if (!secret.empty() && !IsValidSecretToken(secret)) {
          return Error(400, "Bad Request: secret token contains unallowed characters");
        }
        absl::StatusOr<std::optional<json::value>> kinds = ParamJson(params, "allowed_updates");
        if (!kinds.ok() || (kinds->has_value() && !(*kinds)->is_array())) {
          return Error(400, "Bad Request: can't parse allowed updates JSON object");
        }
        const bool same = url == bot.webhook_url && secret == bot.webhook_secret;
        bot.webhook_url = url;
        bot.webhook_secret = secret;
        if (kinds->has_value()) bot.allowed_updates = (*kinds)->get_array();
        if (ParamBool(params, "drop_pending_updates")) bot.pending_update_count = 0;
        return Ok(true, same ? "Webhook is already set" : "Webhook was set");
      }
      const bool had = !bot.webhook_url.empty();
      bot.webhook_url.clear();
      bot.webhook_secret.clear();
      if (ParamBool(params, "drop_pending_updates")) bot.pending_update_count = 0;
      return Ok(true, had ? "Webhook was deleted" : "Webhook is already deleted");
    }
    if (method == "getwebhookinfo") {
      json::object info;
      info["url"] = bot.webhook_url;
      info["has_custom_certificate"] = false;
      info["pending_update_count"] = bot.pending_update_count;
      if (bot.last_error_date.has_value())
        info["last_error_date"] = absl::ToUnixSeconds(*bot.last_error_date);
      if (!bot.last_error_message.empty()) info["last_error_message"] = bot.last_error_message;
      if (!bot.webhook_url.empty()) info["max_connections"] = 40;
      if (bot.allowed_updates.has_value()) info["allowed_updates"] = *bot.allowed_updates;
      return Ok(std::move(info), {}, false);
    }
    return Error(404, "Not Found: method not found");
  }

  http::Response Handle(const http::Request& request) {
    // "/bot<token>/<method>"
    std::string_view path = request.path;
    path.remove_prefix(std::min<size_t>(path.size(), 4));
    const size_t slash = path.find('/');
    Call call;
    call.received_at = Now();
    call.bot_token = std::string(path.substr(0, slash));
    call.method = slash == std::string_view::npos ? std::string() : std::string(path.substr(slash + 1));
    const std::string method = Lower(call.method);
    absl::StatusOr<json::object> params = ParseParams(request);
    if (params.ok()) {
      call.body_json = json::serialize(*params);
      call.chat_id = ParamString(*params, "chat_id").value_or("");
      call.text = ParamString(*params, "text").value_or("");
      if (method.rfind("editmessage", 0) == 0) call.message_id = ParamInt(*params, "message_id").value_or(0);
    } else {
      call.body_json = request.body;
    }

    static const std::set<std::string> kMethods = {
        "sendmessage", "editmessagetext", "editmessagereplymarkup", "answercallbackquery",
        "getme",       "setwebhook",      "getwebhookinfo",         "deletewebhook"};
    size_t index = 0;
    std::optional<Answer> answer;
    std::optional<Fault> fault;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto bot = bots.find(call.bot_token);
      if (bot != bots.end()) call.bot_id = bot->second.id;
      index = calls.size();
      calls.push_back(call);
      if (bot == bots.end()) {
        answer = Error(401, "Unauthorized");
      } else if (kMethods.count(method) == 0) {
        answer = Error(404, "Not Found: method not found");
      } else {
        fault = TakeFault(method, call.chat_id);
      }
    }
    calls_cv.notify_all();  // a call arrived: waiters may be waiting for just that
    if (!answer.has_value() && fault.has_value()) {
      if (fault->delay > absl::ZeroDuration() && !Wait(fault->delay)) {
        answer.emplace();
        answer->drop = true;  // stopping
      } else {
        switch (fault->kind) {
          case FaultKind::kRateLimited:
            answer = RateLimited(fault->retry_after_seconds);
            break;
          case FaultKind::kBlocked:
            answer = Error(403, "Forbidden: bot was blocked by the user");
            break;
          case FaultKind::kChatNotFound:
            answer = Error(400, "Bad Request: chat not found");
            break;
          case FaultKind::kServerError:
            answer = fault->status == 500 ? Error(500, "Internal Server Error") : GatewayPage(fault->status);
            break;
          case FaultKind::kDropBeforeAccept:
            answer.emplace();
            answer->drop = true;
            break;
          case FaultKind::kMalformedBody:
          case FaultKind::kSlow:
          case FaultKind::kDropAfterAccept:
            break;  // carried out below
        }
      }
      if (answer.has_value()) answer->fault = std::string(FaultLabel(fault->kind));
    }
    if (!answer.has_value()) {
      if (!params.ok()) {
        answer = Error(400, "Bad Request: can't parse request parameters");
      } else {
        std::lock_guard<std::mutex> lock(mu);
        answer = Execute(bots.at(call.bot_token), method, *params);
      }
      if (fault.has_value()) {
        if (answer->fault.empty()) answer->fault = std::string(FaultLabel(fault->kind));
        if (fault->kind == FaultKind::kMalformedBody) {
          answer->status = 200;
          answer->body = kMalformedBody;
        } else if (fault->kind == FaultKind::kDropAfterAccept) {
          answer->drop = true;
        }
      }
    }

    {
      std::lock_guard<std::mutex> lock(mu);
      Call& recorded = calls[index];
      recorded.status = answer->drop ? 0 : answer->status;
      recorded.description = answer->description;
      recorded.accepted = answer->accepted;
      if (answer->message_id != 0) recorded.message_id = answer->message_id;
      recorded.fault = answer->fault;
    }
    calls_cv.notify_all();

    http::Response response = http::Response::Json(answer->status, std::move(answer->body));
    response.content_type = answer->content_type;
    if (answer->retry_after > 0)
      response.headers.emplace_back("Retry-After", absl::StrCat(answer->retry_after));
    response.drop_connection = answer->drop;
    response.on_complete = [self = shared_from_this(), index](bool written) {
      {
        std::lock_guard<std::mutex> lock(self->mu);
        self->calls[index].answered = written;
        self->calls[index].finished = true;
      }
      self->calls_cv.notify_all();
    };
    return response;
  }

  const FakeBotApiOptions options;
  mutable std::mutex mu;
  mutable std::condition_variable calls_cv;                  // a call was recorded or finished
  std::condition_variable stop_cv;                           // stopping was set
  std::map<std::string, BotState> bots ABSL_GUARDED_BY(mu);  // by token
  std::vector<FaultRule> rules ABSL_GUARDED_BY(mu);
  std::set<std::string> blocked_chats ABSL_GUARDED_BY(mu);
  std::map<std::string, int64_t> channel_ids ABSL_GUARDED_BY(mu);  // "@name" -> a made-up chat id
  std::vector<Call> calls ABSL_GUARDED_BY(mu);
  bool stopping ABSL_GUARDED_BY(mu) = false;
};

absl::StatusOr<std::unique_ptr<FakeBotApi>> FakeBotApi::Start(FakeBotApiOptions options) {
  std::unique_ptr<FakeBotApi> api(new FakeBotApi());
  std::vector<FakeBot> bots = std::move(options.bots);
  api->state_ = std::make_shared<State>(std::move(options));
  for (FakeBot& bot : bots) {
    if (absl::Status s = api->state_->AddBotLocked(std::move(bot)); !s.ok()) return s;
  }
  http::ServerOptions server_options;
  server_options.address = api->state_->options.address;
  server_options.port = api->state_->options.port;
  server_options.threads = 2;
  server_options.handler_threads = std::max(1, api->state_->options.handler_threads);
  http::Router router;
  std::shared_ptr<State> state = api->state_;
  auto handler = [state](const http::Request& request) { return state->Handle(request); };
  router.AddPrefix("POST", "/bot", handler);
  router.AddPrefix("GET", "/bot", handler);
  api->server_ = std::make_unique<http::Server>(std::move(server_options), std::move(router));
  if (absl::Status s = api->server_->Start(); !s.ok()) return s;
  return api;
}

FakeBotApi::~FakeBotApi() { Stop(); }

void FakeBotApi::Stop() {
  if (state_) {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->stopping = true;
    }
    state_->stop_cv.notify_all();
  }
  if (server_) server_->Stop(std::chrono::milliseconds(1000));
}

std::string FakeBotApi::base_url() const {
  return absl::StrCat("http://", state_->options.address, ":", port());
}

uint16_t FakeBotApi::port() const { return server_->port(); }

absl::Status FakeBotApi::AddBot(FakeBot bot) {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->AddBotLocked(std::move(bot));
}

void FakeBotApi::Script(FaultRule rule) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (rule.times != 0) state_->rules.push_back(std::move(rule));
}

void FakeBotApi::ClearScript() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->rules.clear();
}

void FakeBotApi::BlockChat(std::string_view chat_id) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->blocked_chats.emplace(chat_id);
}

void FakeBotApi::UnblockChat(std::string_view chat_id) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->blocked_chats.erase(std::string(chat_id));
}

void FakeBotApi::SetWebhookStatusForTest(std::string_view bot_token, int64_t pending_update_count,
                                         std::string_view last_error_message) {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->bots.find(std::string(bot_token));
  if (it == state_->bots.end()) return;
  it->second.pending_update_count = pending_update_count;
  it->second.last_error_message = std::string(last_error_message);
  it->second.last_error_date =
      last_error_message.empty() ? std::nullopt : std::optional<absl::Time>(state_->Now());
}

std::vector<FakeBotApi::Call> FakeBotApi::Calls() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->calls;
}

std::vector<FakeBotApi::Call> FakeBotApi::Sent(std::string_view chat_id, std::string_view bot_token) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<Call> out;
  for (const Call& call : state_->calls) {
    if (call.accepted && Lower(call.method) == "sendmessage" && call.chat_id == chat_id &&
        (bot_token.empty() || call.bot_token == bot_token)) {
      out.push_back(call);
    }
  }
  return out;
}

std::optional<FakeBotApi::Message> FakeBotApi::FindMessage(std::string_view bot_token,
                                                           std::string_view chat_id,
                                                           int64_t message_id) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto bot = state_->bots.find(std::string(bot_token));
  if (bot == state_->bots.end()) return std::nullopt;
  auto it = bot->second.messages.find({std::string(chat_id), message_id});
  if (it == bot->second.messages.end()) return std::nullopt;
  return it->second;
}

std::vector<FakeBotApi::Message> FakeBotApi::Chat(std::string_view bot_token,
                                                  std::string_view chat_id) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<Message> out;
  auto bot = state_->bots.find(std::string(bot_token));
  if (bot == state_->bots.end()) return out;
  const std::string chat(chat_id);
  // Keyed by (chat, message_id), and message ids grow per chat: the chat's messages in the order sent.
  for (auto it = bot->second.messages.lower_bound({chat, INT64_MIN});
       it != bot->second.messages.end() && it->first.first == chat; ++it) {
    out.push_back(it->second);
  }
  return out;
}

std::string FakeBotApi::ReplyKeyboardOf(std::string_view bot_token, std::string_view chat_id) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto bot = state_->bots.find(std::string(bot_token));
  if (bot == state_->bots.end()) return "";
  auto it = bot->second.reply_keyboards.find(chat_id);
  return it == bot->second.reply_keyboards.end() ? "" : it->second.rows_json;
}

void FakeBotApi::PressedReplyKeyboard(std::string_view bot_token, std::string_view chat_id) {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto bot = state_->bots.find(std::string(bot_token));
  if (bot == state_->bots.end()) return;
  auto it = bot->second.reply_keyboards.find(chat_id);
  if (it != bot->second.reply_keyboards.end() && it->second.one_time) bot->second.reply_keyboards.erase(it);
}

std::optional<FakeBotApi::Webhook> FakeBotApi::WebhookOf(std::string_view bot_token) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto bot = state_->bots.find(std::string(bot_token));
  if (bot == state_->bots.end() || bot->second.webhook_url.empty()) return std::nullopt;
  Webhook w;
  w.url = bot->second.webhook_url;
  w.secret_token = bot->second.webhook_secret;
  if (bot->second.allowed_updates.has_value()) {
    for (const json::value& kind : *bot->second.allowed_updates) {
      if (kind.is_string())
        w.allowed_updates.emplace_back(kind.get_string().data(), kind.get_string().size());
    }
  }
  return w;
}

bool FakeBotApi::WaitForCalls(size_t count, absl::Duration timeout) const {
  return WaitForCalls(
      [count](const std::vector<Call>& calls) {
        if (calls.size() < count) return false;
        for (const Call& call : calls) {
          if (!call.finished) return false;
        }
        return true;
      },
      timeout);
}

bool FakeBotApi::WaitForCalls(const std::function<bool(const std::vector<Call>&)>& done,
                              absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(state_->mu);
  return state_->calls_cv.wait_for(lock, absl::ToChronoNanoseconds(std::min(timeout, absl::Hours(24))),
                                   [&] { return done(state_->calls); });
}

}  // namespace protectogram::providers::telegram
