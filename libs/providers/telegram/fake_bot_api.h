// A Telegram Bot API on loopback, for integration tests and local simulators: it answers the methods the
// notification service calls the way api.telegram.org does (bot_api.h lists the facts), records every call,
// and fails on demand (scripted faults), from any number of threads at once.
//
//   auto api = FakeBotApi::Start({.bots = {{"111:AAA", "alert_bot"}}});
//   http::Client client;
//   client.PostJson(MethodUrl((*api)->base_url(), "111:AAA", "sendMessage"), *SendMessageBody("42", "hi"));
//   (*api)->WaitForCalls(1, absl::Seconds(5));
//   (*api)->Sent("42");  // the delivered message
//
// Routes: POST (or GET) /bot<token>/<method>, method names case-insensitive, parameters as a JSON body, a
// form (application/x-www-form-urlencoded) or the query string (reply_markup and allowed_updates may be
// objects or JSON text, as Telegram allows). Methods: sendMessage, editMessageText, editMessageReplyMarkup,
// answerCallbackQuery, getMe, setWebhook, getWebhookInfo, deleteWebhook. Answers are {"ok":true,"result":..}
// or {"ok":false,"error_code":N,"description":"..."[,"parameters":{"retry_after":N}]} (429 also carries a
// Retry-After header, as telegram-bot-api's HttpConnection.cpp sends it). What it answers:
// - unknown token: 401 "Unauthorized"; unknown method: 404 "Not Found: method not found"; a body that is
//   not JSON / not a form: 400 "Bad Request: can't parse request parameters".
// - sendMessage: message_id counts 1, 2, ... per (bot, chat); result {message_id, from (the bot), chat {id,
//   type}, date, text[, reply_markup]} (an inline keyboard is echoed; reply keyboards are not part of a
//   Message). 400 "Bad Request: chat_id is empty", "Bad Request: message text is empty" (missing or empty),
//   "Bad Request: message is too long" (over 4096 UTF-16 code units), "Bad Request: chat not found" (a chat_id
//   that is neither an integer nor "@name"), "Bad Request: BUTTON_DATA_INVALID" (callback_data over 64
//   bytes), "Bad Request: can't parse inline keyboard button: ...", "Bad Request: can't parse keyboard
//   button: ..." ; 403 "Forbidden: bot was blocked by the user" for a chat given to BlockChat.
//   The chat's reply keyboard (ReplyKeyboardOf), as a Telegram client shows it: an accepted sendMessage with
//   a ReplyKeyboardMarkup {"keyboard":[[..]],..} shows its rows from then on, one with {"remove_keyboard":
//   true} removes it; an inline keyboard, force_reply, no reply_markup, or a keyboard left with no buttons
//   (tdlib drops buttons without text and empty rows) leaves it as it is. Edits cannot change it. A keyboard
//   sent with one_time_keyboard hides once the simulated user presses it (PressedReplyKeyboard).
// - editMessageText / editMessageReplyMarkup: the message's text and inline keyboard are replaced (no
//   reply_markup removes the keyboard); result the edited Message with edit_date. 400 "Bad Request: message
//   to edit not found" for a message this bot never sent to that chat; 400 "Bad Request: message is not
//   modified: specified new message content and reply markup are exactly the same as a current content and
//   reply markup of the message" when nothing would change.
// - answerCallbackQuery: any non-empty callback_query_id, text up to 200 UTF-16 code units; result true.
// - getMe: {id, is_bot, first_name, username, ...}. setWebhook / deleteWebhook / getWebhookInfo keep one
//   webhook per bot (url, secret_token checked as Telegram does, allowed_updates, pending_update_count; http
//   URLs are accepted, unlike Telegram, so simulators can point it at loopback); WebhookOf shows it.
//
// Deviations on purpose: no parse_mode entities (text is taken as plain), no inline messages, no media.
//
// Threading: handlers run on the server's handler pool (FakeBotApiOptions::handler_threads), so a slow or
// dropped answer holds up only its own connection. Every method is thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace protectogram::http {
class Server;
}  // namespace protectogram::http

namespace protectogram::providers::telegram {

struct FakeBot {
  std::string token;  // "<bot id>:<secret>", the shape Telegram issues; the bot id is the number before ':'
  std::string username;
  std::string first_name = "Protectogram";
};

enum class FaultKind {
  kRateLimited,       // 429 "Too Many Requests: retry after N", parameters.retry_after N, Retry-After: N
  kBlocked,           // 403 "Forbidden: bot was blocked by the user"
  kChatNotFound,      // 400 "Bad Request: chat not found"
  kServerError,       // `status`: 500 with a Bot API body; other statuses with a gateway's HTML page
  kMalformedBody,     // carried out (a message is delivered), then answered 200 with a truncated JSON body
  kSlow,              // answered normally, after `delay`
  kDropBeforeAccept,  // the connection is closed with no answer, before anything was done
  kDropAfterAccept,   // carried out (a message IS delivered), then the connection is closed with no answer
};

struct Fault {
  FaultKind kind = FaultKind::kSlow;
  int retry_after_seconds = 1;                  // kRateLimited
  int status = 500;                             // kServerError
  absl::Duration delay = absl::ZeroDuration();  // waited before acting, for every kind

  static Fault RateLimited(int retry_after_seconds);
  static Fault Blocked();
  static Fault ChatNotFound();
  static Fault ServerError(int status = 500);
  static Fault MalformedBody();
  static Fault Slow(absl::Duration delay);
  static Fault DropBeforeAccept();
  static Fault DropAfterAccept();
};

// The label a Call records for a fault: "rate_limited", "blocked", "chat_not_found", "server_error",
// "malformed_body", "slow", "drop_before_accept", "drop_after_accept".
std::string_view FaultLabel(FaultKind kind);

inline constexpr int kForever = -1;

// Applies `fault` to the next `times` calls (kForever: all) that match `method` (case-insensitive; "" any)
// and `chat_id` ("" any). Rules are tried in the order given; the first that matches and has uses left
// applies (and uses one up). Faults apply after the token and the method are checked and before the
// parameters are.
struct FaultRule {
  std::string method;
  std::string chat_id;
  int times = 1;
  Fault fault;
};

struct FakeBotApiOptions {
  std::vector<FakeBot> bots;
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: an ephemeral port (see base_url())
  int handler_threads = 16;
  // Answer sendMessage like Telegram's limits (core.telegram.org/bots/faq): 429 with retry_after 1 when the
  // chat got a message less than a second ago, or the bot sent 30 in the last second.
  bool enforce_rate_limits = false;
  // Message dates and rate limits; absl::Now when unset. Called from many threads at once.
  std::function<absl::Time()> clock;
};

class FakeBotApi {
 public:
  struct Call {
    absl::Time received_at;
    std::string bot_token;    // from the path
    std::string bot_id;       // "" for an unknown token
    std::string method;       // as in the path ("sendMessage")
    std::string chat_id;      // as text ("" when absent)
    std::string text;         // `text` when present
    int64_t message_id = 0;   // the message sent (when accepted) or the one an edit named; else 0
    std::string body_json;    // the parameters as one JSON object (a form or query string converted)
    std::string fault;        // FaultLabel of the scripted fault applied; "rate_limit_enforced"; "" none
    int status = 0;           // the HTTP status answered; 0 when the connection was dropped
    std::string description;  // the error description answered; "" on success
    bool accepted = false;    // carried out: a message delivered or edited, a webhook changed, ...
    bool finished = false;    // `answered` is known
    bool answered = false;    // the whole answer was written while the client was still connected
  };

  struct Message {
    std::string bot_id;
    std::string chat_id;
    int64_t message_id = 0;
    std::string text;
    std::string inline_keyboard_json;  // {"inline_keyboard":[...]}; "" when the message has none
    absl::Time date;
    std::optional<absl::Time> edit_date;
  };

  // What setWebhook last set for a bot.
  struct Webhook {
    std::string url;
    std::string secret_token;                  // "" when none was given
    std::vector<std::string> allowed_updates;  // as last given (kept by Telegram until changed); [] none
  };

  // Binds options.address:options.port and starts serving. UNAVAILABLE if the port cannot be bound;
  // INVALID_ARGUMENT for a bot whose token is not "<digits>:<secret>" or repeats another's.
  static absl::StatusOr<std::unique_ptr<FakeBotApi>> Start(FakeBotApiOptions options);
  ~FakeBotApi();  // Stops.
  FakeBotApi(const FakeBotApi&) = delete;
  FakeBotApi& operator=(const FakeBotApi&) = delete;

  // "http://127.0.0.1:<port>": the base_url for MethodUrl.
  std::string base_url() const;
  uint16_t port() const;

  // As in FakeBotApiOptions::bots.
  absl::Status AddBot(FakeBot bot);
  void Script(FaultRule rule);
  void ClearScript();
  // Every later sendMessage and edit to the chat (any bot) is answered 403 "Forbidden: bot was blocked by the
  // user", until UnblockChat.
  void BlockChat(std::string_view chat_id);
  void UnblockChat(std::string_view chat_id);
  // What getWebhookInfo reports for the bot, as if Telegram had failed to deliver updates.
  void SetWebhookStatusForTest(std::string_view bot_token, int64_t pending_update_count,
                               std::string_view last_error_message);

  // Every call so far, in arrival order.
  std::vector<Call> Calls() const;
  // The messages delivered to the chat (by one bot, or "" any), in order: the accepted sendMessage calls,
  // including those whose answer was dropped (kDropAfterAccept, kMalformedBody).
  std::vector<Call> Sent(std::string_view chat_id, std::string_view bot_token = {}) const;
  // The message as it is now (after edits), or nullopt.
  std::optional<Message> FindMessage(std::string_view bot_token, std::string_view chat_id,
                                     int64_t message_id) const;
  // Every message the bot delivered to the chat, as it is now (after edits), in the order sent: what the
  // user's client shows. Empty for an unknown bot or chat.
  std::vector<Message> Chat(std::string_view bot_token, std::string_view chat_id) const;
  // The JSON of the `keyboard` rows of the reply keyboard the bot shows in the chat now, e.g.
  // [[{"text":"Share my number","request_contact":true}]] (every button an object with "text"; one sent as a
  // string becomes {"text":..}); "" when the bot never sent one or removed it.
  std::string ReplyKeyboardOf(std::string_view bot_token, std::string_view chat_id) const;
  // The user pressed a button of the chat's reply keyboard (a simulator playing the user): a keyboard sent with
  // one_time_keyboard is hidden from then on, as Telegram clients hide it, until a message brings one again.
  void PressedReplyKeyboard(std::string_view bot_token, std::string_view chat_id);
  // The bot's webhook as setWebhook last set it; nullopt when it has none (never set, or deleted by
  // deleteWebhook or a setWebhook with an empty url) or the bot is unknown.
  std::optional<Webhook> WebhookOf(std::string_view bot_token) const;
  // True once at least `count` calls have arrived and all of them are finished; false after `timeout`.
  bool WaitForCalls(size_t count, absl::Duration timeout) const;
  // True once `done(Calls())` holds (checked on every change); false after `timeout`. `done` runs under the
  // fake's lock: it must not call the fake.
  bool WaitForCalls(const std::function<bool(const std::vector<Call>&)>& done, absl::Duration timeout) const;

  // Stops serving: slow answers still waiting are dropped at once. Safe to call more than once.
  void Stop();

 private:
  struct State;
  FakeBotApi() = default;

  std::shared_ptr<State> state_;  // shared with the handlers and their completion callbacks
  std::unique_ptr<http::Server> server_;
};

}  // namespace protectogram::providers::telegram
