#include "services/incident/conversation/conversation.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cstddef>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "services/notification/catalog.h"

// Decisions the header leaves open (docs/incident.md, "Conversation"):
// - Locale: LocaleOf(language_code) when Telegram sent one, else the user's stored locale; decided once per
//   event, returned in Decision::locale and carried by RegisterUser.
// - Spam guard: only messages count (text, contact, non-text, other; edited messages too); button presses
//   never do, so that an alert's ack button is never dropped, and neither does a panic (/panic or «🆘 Тревога»). A dropped message still counts, so a flood
//   stays dropped until it slows down. Only the last `max_messages` arrivals inside the window are kept:
//   that is all the guard needs, and it bounds state_json. Arrivals "in the future" (a clock that went back)
//   are forgotten. max_messages <= 0 turns the guard off.
// - Registered means a known user with a phone. Before that, only /start, /help and the contact work; other
//   messages ask for the phone, buttons answer "error.button_expired", kOther is ignored.
// - The menu's buttons are matched by their exact label (surrounding spaces ignored) in any of our locales.
// - A contact is accepted whenever it is the sender's own, awaited or not: it (re)registers the user.
// - A pending invite that is no longer valid when the phone arrives: the registration still completes and
//   the invite's problem is told after "registration.done".

namespace protectogram::incident::conversation {
namespace {

namespace json = boost::json;
using Kind = Input::Kind;

// --- Small helpers ------------------------------------------------------------------------------------

// (Debian's Abseil has its own string_view, so the std::string_view helpers are written here.)
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The whole of `s` as a decimal int64 (no sign, no spaces); nullopt otherwise or on overflow.
std::optional<int64_t> ParseDecimal(std::string_view s) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

bool IsRegistered(const UserView& user) { return user.id != 0 && !user.phone_e164.empty(); }

// Telegram's locale wins (it is what the user reads now); the stored one covers events without it.
std::string DecideLocale(const Context& context, const Input& input) {
  return LocaleOf(input.language_code.empty() ? std::string_view(context.user.locale)
                                              : std::string_view(input.language_code));
}

// "Start@protectogram_bot" -> "start": Telegram appends the bot's name in groups and keeps the user's case.
std::string NormalizeCommand(std::string_view command) {
  return AsciiLower(command.substr(0, command.find('@')));
}

// The name the product shows for the sender: the stored one, else the Telegram profile's, else the phone
// (never empty: it is inserted into texts and, through RegisterUser, into the guardians' alerts).
std::string SenderName(const Context& context, const Input& input, std::string_view phone) {
  if (!context.user.name.empty()) return context.user.name;
  std::string first_name(Trim(input.first_name));
  if (!first_name.empty()) return first_name;
  return std::string(phone);
}

// A guardian's label on a button: Telegram refuses empty button texts.
std::string GuardianLabel(const GuardianView& guardian) {
  return guardian.name.empty() ? guardian.phone_e164 : guardian.name;
}

// Whether `text` is the label of menu button `template_id` in any of our locales (a user may switch their
// Telegram language while an old keyboard is still shown).
bool IsMenuLabel(std::string_view text, std::string_view template_id) {
  const std::string_view trimmed = Trim(text);
  for (std::string_view locale : {"ru", "en", "es"}) {
    absl::StatusOr<std::string> label = notification::Catalog::Default().Render(template_id, locale, {});
    if (label.ok() && *label == trimmed) return true;
  }
  return false;
}

// The positive id after `prefix` in callback data ("ack:42" -> 42); nullopt when it is not one.
std::optional<int64_t> IdAfter(std::string_view data, std::string_view prefix) {
  if (data.substr(0, prefix.size()) != prefix) return std::nullopt;
  const std::optional<int64_t> id = ParseDecimal(data.substr(prefix.size()));
  if (!id.has_value() || *id <= 0) return std::nullopt;
  return id;
}

// The guardians menu's verbs that name a link ("list" is the only one without).
constexpr std::string_view kGuardianVerbs[] = {"card", "up", "down", "rm", "rmok", "test"};

Reply Message(std::string template_id, Keyboard keyboard = Keyboard::kNone,
              std::map<std::string, std::string> params = {}) {
  return Reply{.template_id = std::move(template_id), .params = std::move(params), .keyboard = keyboard};
}

InlineButton Labelled(std::string template_id, std::string data) {
  return InlineButton{.template_id = std::move(template_id), .data = std::move(data)};
}

// --- The spam guard ------------------------------------------------------------------------------------

// A panic is never dropped: whatever the chat sent before, the alarm must go through (a traveler who just
// registered and invited three guardians has sent five messages in a few seconds).
bool IsPanicRequest(const Input& input) {
  return input.kind == Kind::kText && !input.edited &&
         (NormalizeCommand(input.command) == "panic" ||
          (input.command.empty() && IsMenuLabel(input.text, "menu.button_panic")));
}

bool CountsForSpamGuard(const Input& input) { return input.kind != Kind::kButton && !IsPanicRequest(input); }

// Updates `recent` for an event at `now`; true when the event must be dropped.
bool SpamGuardDrops(std::vector<absl::Time>& recent, absl::Time now, const Limits& limits) {
  std::erase_if(recent, [&](absl::Time t) { return t <= now - limits.window || t > now; });
  std::sort(recent.begin(), recent.end());
  const bool drop = limits.max_messages > 0 && static_cast<int>(recent.size()) >= limits.max_messages;
  recent.push_back(now);  // a dropped message counts too
  const size_t keep = static_cast<size_t>(std::max(limits.max_messages, 1));
  if (recent.size() > keep) recent.erase(recent.begin(), recent.end() - static_cast<ptrdiff_t>(keep));
  return drop;
}

// --- One turn of the conversation ----------------------------------------------------------------------

class Turn {
 public:
  Turn(const Context& context, const Input& input, Decision& decision)
      : context_(context), input_(input), decision_(decision), registered_(IsRegistered(context.user)) {}

  void Run() {
    switch (input_.kind) {
      case Kind::kText:
        return OnText();
      case Kind::kContact:
        return OnContact();
      case Kind::kButton:
        return OnButton();
      case Kind::kNonText:
        if (!registered_) return AskPhone();
        return Say(Message("bot.non_text", Keyboard::kMenu));
      case Kind::kOther:
        return;  // service messages (joins, pins, ...): nothing to answer
    }
  }

 private:
  void Say(Reply reply) { decision_.actions.emplace_back(std::move(reply)); }
  void Do(Action action) { decision_.actions.push_back(std::move(action)); }
  void Answer(std::string template_id = "") {
    Do(AnswerButton{.callback_id = input_.callback_id, .template_id = std::move(template_id)});
  }
  ChatState& state() { return decision_.state; }
  // The keyboard of a reply that has none of its own: the menu, or the phone button before registration.
  Keyboard Home() const { return registered_ ? Keyboard::kMenu : Keyboard::kSharePhone; }

  void AskPhone() {
    state().step = ChatState::Step::kAwaitingPhone;
    Say(Message("registration.ask_phone", Keyboard::kSharePhone));
  }

  // --- Text and commands

  void OnText() {
    const std::string command = NormalizeCommand(input_.command);
    if (command == "start") return OnStart();
    if (command == "help") return Say(Message("bot.help", Home()));
    if (!registered_) return AskPhone();  // everything else needs the phone first

    if (command == "invite" || (command.empty() && IsMenuLabel(input_.text, "menu.button_invite"))) {
      return OnInvite();
    }
    if (command == "guardians" || (command.empty() && IsMenuLabel(input_.text, "menu.button_guardians"))) {
      return Say(GuardiansList(context_.guardians));
    }
    if (command == "panic" || (command.empty() && IsMenuLabel(input_.text, "menu.button_panic"))) {
      return OnPanic();
    }
    if (command == "cancel") return OnCancel();
    Say(Message("bot.unknown_input", Keyboard::kMenu));
  }

  void OnStart() {
    const std::string token(Trim(input_.command_args));
    if (!token.empty()) return OnInviteToken(token);
    if (!registered_) return AskPhone();  // a pending invite is kept: the contact still accepts it
    state().step = ChatState::Step::kIdle;
    Say(Message("bot.start_registered", Keyboard::kMenu, {{"name", SenderName(context_, input_, "")}}));
  }

  // The invite loaded for `token`, only if it is the one the service loaded (never another token's).
  const InviteView* InviteFor(std::string_view token) const {
    if (!IsInviteToken(token) || !context_.invite.has_value() || context_.invite->token != token) {
      return nullptr;
    }
    return &*context_.invite;
  }

  // The reply to an invite that cannot be accepted; nullopt when it is valid.
  std::optional<Reply> InviteProblem(const InviteView* invite) const {
    using S = InviteView::State;
    const S s = invite == nullptr ? S::kUnknown : invite->state;
    switch (s) {
      case S::kValid:
        return std::nullopt;
      case S::kUnknown:
      case S::kExpired:
        return Message("invite.expired", Home());
      case S::kUsed:
        return Message("invite.used", Home());
      case S::kOwn:
        return Message("invite.own", Home());
      case S::kAlreadyGuardian:
        return Message("invite.already_guardian", Home(), {{"name", invite->traveler_name}});
    }
    return Message("invite.expired", Home());
  }

  // The service links the guardian and tells the traveler; we tell the guardian.
  void Accept(const InviteView& invite) {
    Do(AcceptInvite{.token = invite.token, .traveler_user_id = invite.traveler_user_id});
    Say(Message("invite.accepted_guardian", Keyboard::kMenu, {{"name", invite.traveler_name}}));
  }

  void OnInviteToken(const std::string& token) {
    const InviteView* invite = InviteFor(token);
    if (std::optional<Reply> problem = InviteProblem(invite)) return Say(*std::move(problem));
    if (!context_.user.phone_e164.empty()) {
      state().step = ChatState::Step::kIdle;
      state().pending_invite.clear();
      return Accept(*invite);
    }
    // Guardians are called, so the phone comes first; the contact completes the invite.
    state().step = ChatState::Step::kAwaitingPhone;
    state().pending_invite = token;
    Say(Message("invite.ask_phone", Keyboard::kSharePhone, {{"name", invite->traveler_name}}));
  }

  void OnInvite() {
    // Without the bot's username there is no link to give, and a token without a link is useless.
    if (context_.bot_username.empty() || !IsInviteToken(context_.new_invite_token)) {
      return Say(Message("error.try_later", Keyboard::kMenu));
    }
    Do(CreateInvite{.token = context_.new_invite_token});
    Say(Message("invite.link", Keyboard::kMenu,
                {{"link", InviteLink(context_.bot_username, context_.new_invite_token)}}));
  }

  void OnPanic() {
    // The incident core answers StartPanic (confirmation, or "already active"); with nobody to alert there
    // is nothing to start.
    if (context_.guardians.empty()) return Say(Message("panic.no_guardians", Keyboard::kMenu));
    Do(StartPanic{});
  }

  void OnCancel() {
    if (context_.open_incident_id == 0) return Say(Message("panic.nothing_to_cancel", Keyboard::kMenu));
    Do(CancelPanic{.incident_id = context_.open_incident_id});
  }

  // --- The contact

  void OnContact() {
    // Only the sender's own contact proves the number is theirs (anyone can forward a card).
    if (input_.contact_user_id.empty() || input_.contact_user_id != input_.sender_id) {
      return Say(Message("registration.foreign_contact", Keyboard::kSharePhone));
    }
    const std::optional<std::string> phone = NormalizePhone(input_.contact_phone);
    if (!phone.has_value()) return Say(Message("registration.invalid_phone", Keyboard::kSharePhone));

    const std::string name = SenderName(context_, input_, *phone);
    const int64_t telegram_id = ParseDecimal(input_.sender_id).value_or(0);
    Do(RegisterUser{
        .name = name, .phone_e164 = *phone, .locale = decision_.locale, .telegram_id = telegram_id});

    const std::string pending = std::exchange(state().pending_invite, "");
    state().step = ChatState::Step::kIdle;
    registered_ = true;  // from here on the replies carry the menu
    if (pending.empty()) return Say(Message("registration.done", Keyboard::kMenu, {{"name", name}}));

    const InviteView* invite = InviteFor(pending);
    std::optional<Reply> problem = InviteProblem(invite);
    if (!problem.has_value()) return Accept(*invite);
    Say(Message("registration.done", Keyboard::kMenu, {{"name", name}}));
    Say(*std::move(problem));
  }

  // --- Buttons

  void OnButton() {
    if (!registered_) return Answer("error.button_expired");
    // The incident core answers these callbacks itself (who acknowledged, or that it is closed).
    if (std::optional<int64_t> id = IdAfter(input_.data, "ack:")) {
      return Do(AckPanic{.incident_id = *id, .callback_id = input_.callback_id});
    }
    if (std::optional<int64_t> id = IdAfter(input_.data, "cancel:")) {
      return Do(CancelPanic{.incident_id = *id, .callback_id = input_.callback_id});
    }
    if (std::optional<GuardianButton> button = ParseGuardianButton(input_.data)) {
      return OnGuardianButton(*button);
    }
    Answer("error.button_expired");
  }

  void OnGuardianButton(const GuardianButton& button) {
    if (button.verb == "list") {
      Say(GuardiansList(context_.guardians));
      return Answer();
    }
    const auto it = std::find_if(context_.guardians.begin(), context_.guardians.end(),
                                 [&](const GuardianView& g) { return g.link_id == button.link_id; });
    // A button of a guardian removed meanwhile (or someone else's data): it no longer means anything.
    if (it == context_.guardians.end()) return Answer("error.button_expired");
    const GuardianView& guardian = *it;
    const size_t index = static_cast<size_t>(it - context_.guardians.begin());

    if (button.verb == "card") {
      Say(GuardianCard(guardian, index));
    } else if (button.verb == "up" || button.verb == "down") {
      Move(index, button.verb == "up" ? -1 : +1);
    } else if (button.verb == "rm") {
      Reply confirm =
          Message("guardians.remove_confirm", Keyboard::kNone, {{"guardian", GuardianLabel(guardian)}});
      confirm.inline_keyboard = {
          {Labelled("guardians.button_remove_confirm", GuardianData("rmok", guardian.link_id))},
          {Labelled("guardians.button_back", GuardianData("list"))}};
      Say(std::move(confirm));
    } else if (button.verb == "rmok") {
      // The service tells the guardian ("guardians.removed_notice").
      Do(RemoveGuardian{.link_id = guardian.link_id});
      Say(Message("guardians.removed", Keyboard::kNone, {{"guardian", GuardianLabel(guardian)}}));
    } else if (button.verb == "test") {
      Do(TestCall{.link_id = guardian.link_id});
      Say(Message("guardians.test_call_started", Keyboard::kNone, {{"guardian", GuardianLabel(guardian)}}));
    }
    Answer();
  }

  // Moves the guardian at `index` one place; at either end nothing moves and the list is shown as it is.
  // The list shown is the new order, computed here (the service applies MoveGuardian in the same
  // transaction, so it is the order the next Context will carry).
  void Move(size_t index, int delta) {
    std::vector<GuardianView> order = context_.guardians;
    const bool can_move = delta < 0 ? index > 0 : index + 1 < order.size();
    if (can_move) {
      const size_t other = delta < 0 ? index - 1 : index + 1;
      std::swap(order[index], order[other]);
      Do(MoveGuardian{.link_id = context_.guardians[index].link_id, .delta = delta});
    }
    Say(GuardiansList(order));
  }

  static Reply GuardiansList(const std::vector<GuardianView>& guardians) {
    if (guardians.empty()) return Message("guardians.empty", Keyboard::kMenu);
    Reply list = Message("guardians.list");
    for (const GuardianView& g : guardians) {
      list.inline_keyboard.push_back(
          {InlineButton{.text = GuardianLabel(g), .data = GuardianData("card", g.link_id)}});
    }
    return list;
  }

  static Reply GuardianCard(const GuardianView& guardian, size_t index) {
    Reply card = Message("guardians.card", Keyboard::kNone,
                         {{"guardian", GuardianLabel(guardian)},
                          {"phone", guardian.phone_e164},
                          {"position", std::to_string(index + 1)}});
    const int64_t link = guardian.link_id;
    card.inline_keyboard = {
        {Labelled("guardians.button_up", GuardianData("up", link)),
         Labelled("guardians.button_down", GuardianData("down", link))},
        {Labelled("guardians.button_test_call", GuardianData("test", link))},
        {Labelled("guardians.button_remove", GuardianData("rm", link))},
        {Labelled("guardians.button_back", GuardianData("list"))},
    };
    return card;
  }

  const Context& context_;
  const Input& input_;
  Decision& decision_;
  bool registered_;
};

// --- JSON ------------------------------------------------------------------------------------------------

// ChatState::Step in state_json.
constexpr std::string_view kIdle = "idle";
constexpr std::string_view kAwaitingPhone = "awaiting_phone";

absl::Status Invalid(std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("conversation state: ", std::string(why)));
}

}  // namespace

Decision Decide(const Context& context, const Input& input, absl::Time now, const Limits& limits) {
  Decision decision;
  decision.state = context.state;
  decision.locale = DecideLocale(context, input);

  if (CountsForSpamGuard(input) && SpamGuardDrops(decision.state.recent, now, limits)) {
    decision.dropped = true;
    return decision;
  }
  // An edit is the same message again: acting on it would repeat (or undo) what it already did.
  if (input.edited) return decision;

  Turn(context, input, decision).Run();
  return decision;
}

std::string ToJson(const ChatState& state) {
  json::array recent;
  for (absl::Time t : state.recent) recent.push_back(absl::ToUnixMicros(t));
  json::object object;
  const std::string_view step = state.step == ChatState::Step::kAwaitingPhone ? kAwaitingPhone : kIdle;
  object["step"] = json::string(step.data(), step.size());
  object["pending_invite"] = json::string(state.pending_invite.data(), state.pending_invite.size());
  object["recent"] = std::move(recent);
  return json::serialize(object);
}

// Missing fields keep their defaults and unknown ones are ignored (an older or newer writer); a field of
// the wrong type is an error, since it means the row is not what we wrote.
absl::StatusOr<ChatState> ChatStateFromJson(std::string_view text) {
  ChatState state;
  if (Trim(text).empty()) return state;
  boost::system::error_code ec;
  json::value value = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return Invalid(absl::StrCat("not JSON: ", ec.message()));
  const json::object* object = value.if_object();
  if (object == nullptr) return Invalid("not a JSON object");

  if (const json::value* step = object->if_contains("step")) {
    if (!step->is_string()) return Invalid("step is not a string");
    const std::string name(step->get_string().data(), step->get_string().size());
    if (name == kIdle) {
      state.step = ChatState::Step::kIdle;
    } else if (name == kAwaitingPhone) {
      state.step = ChatState::Step::kAwaitingPhone;
    } else {
      return Invalid(absl::StrCat("unknown step ", name));
    }
  }
  if (const json::value* pending = object->if_contains("pending_invite")) {
    if (!pending->is_string()) return Invalid("pending_invite is not a string");
    state.pending_invite = std::string(pending->get_string().data(), pending->get_string().size());
  }
  if (const json::value* recent = object->if_contains("recent")) {
    if (!recent->is_array()) return Invalid("recent is not an array");
    for (const json::value& t : recent->get_array()) {
      int64_t micros = 0;
      if (t.is_int64()) {
        micros = t.get_int64();
      } else if (t.is_uint64() &&
                 t.get_uint64() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        micros = static_cast<int64_t>(t.get_uint64());
      } else {
        return Invalid("recent holds something other than integer microseconds");
      }
      state.recent.push_back(absl::FromUnixMicros(micros));
    }
  }
  return state;
}

std::optional<std::string> NormalizePhone(std::string_view phone) {
  std::string_view rest = Trim(phone);
  const bool plus = !rest.empty() && rest.front() == '+';
  if (plus) rest.remove_prefix(1);
  std::string digits;
  for (char c : rest) {
    if (c >= '0' && c <= '9') {
      digits.push_back(c);
    } else if (c != ' ' && c != '-' && c != '(' && c != ')' && c != '.') {
      return std::nullopt;  // a letter or a second '+': not a phone number we dare to guess
    }
  }
  // 89XXXXXXXXX is a Russian mobile dialled with the trunk prefix 8 instead of +7. Only 89: Telegram sends
  // contacts in international form, and 84/81 + 9 digits are Vietnamese and Japanese numbers.
  if (!plus && digits.size() == 11 && digits[0] == '8' && digits[1] == '9') digits.front() = '7';
  // E.164: 8 to 15 digits, and no country code starts with 0.
  if (digits.size() < 8 || digits.size() > 15 || digits.front() == '0') return std::nullopt;
  return absl::StrCat("+", digits);
}

std::string LocaleOf(std::string_view language_code) {
  const std::string base = AsciiLower(language_code.substr(0, language_code.find_first_of("-_")));
  if (base == "en" || base == "es" || base == "ru") return base;
  return "ru";
}

std::string InviteLink(std::string_view bot_username, std::string_view token) {
  return absl::StrCat("https://t.me/", std::string(bot_username), "?start=", std::string(token));
}

bool IsInviteToken(std::string_view token) {
  return token.size() == 16 && std::all_of(token.begin(), token.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::optional<GuardianButton> ParseGuardianButton(std::string_view data) {
  if (data == "g:list") return GuardianButton{.verb = "list"};
  for (std::string_view verb : kGuardianVerbs) {
    const std::string prefix = absl::StrCat("g:", std::string(verb), ":");
    if (std::optional<int64_t> link = IdAfter(data, prefix)) {
      return GuardianButton{.verb = std::string(verb), .link_id = *link};
    }
  }
  return std::nullopt;
}

std::string GuardianData(std::string_view verb, int64_t link_id) {
  if (verb == "list") return "g:list";
  return absl::StrCat("g:", std::string(verb), ":", link_id);
}

}  // namespace protectogram::incident::conversation
