// The bot's side of a chat, as a pure function: (what we know of the chat and its user, one chat event, now)
// -> (the chat's new state, what to do). No I/O: the service loads a Context (the conversation row of
// (bot_id, chat_id), the user, their guardians, the invite a /start names, the open incident) in the
// transaction that records the event, calls Decide, and carries out the Actions in that same transaction.
//
// Stable commands and buttons (docs/incident.md, "Conversation"; users and tests rely on them):
//   /start            registers: name from the Telegram profile, phone via «📱 Поделиться номером» (a contact
//                     button; only the sender's own contact counts), stored as E.164.
//   /start <token>    accepts a guardian invite (the phone is asked first when the user has none).
//   /invite, «➕ Пригласить хранителя»   a one-time link https://t.me/<bot username>?start=<token>.
//   /guardians, «👥 Мои хранители»       guardians in call order; each can be moved, removed, test-called.
//   /panic, «🆘 Тревога»                 raises the alarm (the incident core takes it from there).
//   /cancel           cancels the open alarm.  /help  the menu.
//   Inline buttons: AckData/CancelData (incident_core.h), and the guardians menu's "g:..." data below.
// Unknown input gets a short help with the menu; non-text messages a short reply; more than 5 messages in
// 10 s from one chat are dropped silently; edited messages never reset the conversation.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace protectogram::incident::conversation {

// What the bot waits for in a chat (incident.conversations.state_json).
struct ChatState {
  enum class Step { kIdle, kAwaitingPhone };
  Step step = Step::kIdle;
  std::string pending_invite;      // the token to accept once the phone is shared ("" none)
  std::vector<absl::Time> recent;  // when the last messages arrived (the spam guard's window)
};
std::string ToJson(const ChatState& state);
absl::StatusOr<ChatState> ChatStateFromJson(std::string_view json);  // "" or "{}" is a new chat

// The sender as the service knows them. id 0: not known yet.
struct UserView {
  int64_t id = 0;
  std::string name;
  std::string phone_e164;  // "" until the contact was shared
  std::string locale = "ru";
};

struct GuardianView {
  int64_t link_id = 0;
  int64_t user_id = 0;
  std::string name;
  std::string phone_e164;
};

// What the service found for the token of "/start <token>" (or the pending one).
struct InviteView {
  enum class State { kValid, kUnknown, kExpired, kUsed, kOwn, kAlreadyGuardian };
  State state = State::kUnknown;
  std::string token;
  int64_t traveler_user_id = 0;
  std::string traveler_name;
};

// One chat event, already parsed (common.v1.ChatEvent carries the same facts).
struct Input {
  enum class Kind { kText, kButton, kContact, kNonText, kOther };
  Kind kind = Kind::kOther;
  std::string text;             // kText: the message (for a command, the whole text)
  std::string command;          // kText: "start", "panic", ... without the slash ("" for plain text)
  std::string command_args;     // kText: "<token>" of /start <token>
  bool edited = false;          // an edited message: never resets the conversation, never acts
  std::string callback_id;      // kButton
  std::string data;             // kButton: callback_data
  std::string contact_phone;    // kContact, as Telegram sent it ("79991234567", "+7 999 ...")
  std::string contact_user_id;  // kContact: contact.user_id ("" for a card without one)
  std::string sender_id;        // the Telegram user id of the sender
  std::string first_name;       // the sender's profile name
  std::string language_code;    // the sender's Telegram language_code
};

struct Context {
  std::string bot_id = "main";
  std::string chat_id;
  std::string bot_username;  // for the invite link ("" until the notification service learned it)
  ChatState state;
  UserView user;
  std::vector<GuardianView> guardians;  // the user's guardians in call order
  std::optional<InviteView> invite;     // loaded when the input (or state.pending_invite) names a token
  int64_t open_incident_id = 0;         // the user's open incident as a traveler (0 none)
  std::string new_invite_token;         // a fresh token, used if the decision creates an invite
};

// --- What to do ---------------------------------------------------------------------------------------

// An inline button, or a reply keyboard the message carries.
struct InlineButton {
  std::string template_id;  // label from the catalog; or a literal `text` (a guardian's name)
  std::string text;
  std::string data;
};
enum class Keyboard { kNone, kMenu, kSharePhone, kRemove };

// A message to this chat (template and params from the notification catalog).
struct Reply {
  std::string template_id;
  std::map<std::string, std::string> params;
  Keyboard keyboard = Keyboard::kNone;
  std::vector<std::vector<InlineButton>> inline_keyboard;  // rows
};
struct AnswerButton {
  std::string callback_id;
  std::string template_id;  // "" stops the spinner with no text
  std::map<std::string, std::string> params;
};
// Create or update the user (name, phone E.164, locale) — when the contact is shared.
struct RegisterUser {
  std::string name;
  std::string phone_e164;
  std::string locale;
  int64_t telegram_id = 0;
};
struct CreateInvite {
  std::string token;
};
struct AcceptInvite {
  std::string token;
  int64_t traveler_user_id = 0;
};
struct StartPanic {};
struct CancelPanic {
  int64_t incident_id = 0;
  std::string callback_id;
};
struct AckPanic {
  int64_t incident_id = 0;
  std::string callback_id;
};
struct MoveGuardian {
  int64_t link_id = 0;
  int delta = 0;  // -1 up, +1 down
};
struct RemoveGuardian {
  int64_t link_id = 0;
};
struct TestCall {
  int64_t link_id = 0;
};

using Action = std::variant<Reply, AnswerButton, RegisterUser, CreateInvite, AcceptInvite, StartPanic,
                            CancelPanic, AckPanic, MoveGuardian, RemoveGuardian, TestCall>;

struct Decision {
  ChatState state;
  std::vector<Action> actions;
  bool dropped = false;  // the spam guard dropped the event (nothing else happens)
  // The locale the replies are rendered in: LocaleOf(input.language_code) when Telegram sent one, else the
  // user's stored locale (also the locale a RegisterUser carries).
  std::string locale = "ru";
};

struct Limits {
  int max_messages = 5;  // more than this in `window` are dropped silently
  absl::Duration window = absl::Seconds(10);
};

Decision Decide(const Context& context, const Input& input, absl::Time now, const Limits& limits = {});

// The phone as E.164 ("+79991234567"), from what a Telegram contact carries ("79991234567", "+7 (999)
// 123-45-67"); nullopt when it cannot be one (fewer than 8 or more than 15 digits).
std::optional<std::string> NormalizePhone(std::string_view phone);
// The locale of a Telegram language_code: "ru", "en" or "es"; anything else is "ru".
std::string LocaleOf(std::string_view language_code);
// The invite link: "https://t.me/<bot username>?start=<token>".
std::string InviteLink(std::string_view bot_username, std::string_view token);
// Whether `token` has an invite token's shape (16 lowercase hex characters).
bool IsInviteToken(std::string_view token);

// The guardians menu's callback data: "g:list", "g:card:<link>", "g:up:<link>", "g:down:<link>",
// "g:rm:<link>" (asks to confirm), "g:rmok:<link>", "g:test:<link>".
struct GuardianButton {
  std::string verb;  // "list", "card", "up", "down", "rm", "rmok", "test"
  int64_t link_id = 0;
};
std::optional<GuardianButton> ParseGuardianButton(std::string_view data);
std::string GuardianData(std::string_view verb, int64_t link_id = 0);

}  // namespace protectogram::incident::conversation
