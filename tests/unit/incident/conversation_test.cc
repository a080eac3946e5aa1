#include "services/incident/conversation/conversation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/incident/core/incident_core.h"
#include "services/notification/catalog.h"

namespace protectogram::incident::conversation {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);
constexpr char kToken[] = "0123456789abcdef";       // the invite a test's /start names
constexpr char kOtherToken[] = "fedcba9876543210";  // another, valid-looking one
constexpr char kNewToken[] = "00112233445566ff";    // the token the service offers for /invite

// --- Describing decisions ------------------------------------------------------------------------------

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

std::string KeyboardSuffix(Keyboard keyboard) {
  switch (keyboard) {
    case Keyboard::kNone:
      return "";
    case Keyboard::kMenu:
      return " [menu]";
    case Keyboard::kSharePhone:
      return " [share_phone]";
    case Keyboard::kRemove:
      return " [remove]";
  }
  return " [?]";
}

std::string ParamsText(const std::map<std::string, std::string>& params) {
  std::string out;
  for (const auto& [key, value] : params) absl::StrAppend(&out, " ", key, "=", value);
  return out;
}

// One line per action, e.g. "Reply invite.link link=https://... [menu]" or "AckPanic 42 cb-1".
std::string Describe(const Action& action) {
  return std::visit(
      Overloaded{
          [](const Reply& r) {
            return absl::StrCat("Reply ", r.template_id, ParamsText(r.params), KeyboardSuffix(r.keyboard));
          },
          [](const AnswerButton& a) {
            return absl::StrCat("Answer ", a.callback_id, " '", a.template_id, "'", ParamsText(a.params));
          },
          [](const RegisterUser& u) {
            return absl::StrCat("Register ", u.name, " ", u.phone_e164, " ", u.locale, " ", u.telegram_id);
          },
          [](const CreateInvite& c) { return absl::StrCat("CreateInvite ", c.token); },
          [](const AcceptInvite& a) {
            return absl::StrCat("AcceptInvite ", a.token, " ", a.traveler_user_id);
          },
          [](const StartPanic&) { return std::string("StartPanic"); },
          [](const CancelPanic& c) {
            return absl::StrCat("CancelPanic ", c.incident_id, " '", c.callback_id, "'");
          },
          [](const AckPanic& a) {
            return absl::StrCat("AckPanic ", a.incident_id, " '", a.callback_id, "'");
          },
          [](const MoveGuardian& m) { return absl::StrCat("Move ", m.link_id, " ", m.delta); },
          [](const RemoveGuardian& r) { return absl::StrCat("Remove ", r.link_id); },
          [](const TestCall& t) { return absl::StrCat("TestCall ", t.link_id); },
      },
      action);
}

std::vector<std::string> Summary(const Decision& decision) {
  std::vector<std::string> out;
  for (const Action& a : decision.actions) out.push_back(Describe(a));
  return out;
}

// The only Reply of a decision (a test failure when there is not exactly one).
Reply OnlyReply(const Decision& decision) {
  std::vector<Reply> replies;
  for (const Action& a : decision.actions) {
    if (const Reply* r = std::get_if<Reply>(&a)) replies.push_back(*r);
  }
  EXPECT_EQ(replies.size(), 1u);
  return replies.empty() ? Reply{} : replies.front();
}

// An inline keyboard as rows of "label->data", the label a template id or a literal 'text'.
std::vector<std::vector<std::string>> Buttons(const Reply& reply) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& row : reply.inline_keyboard) {
    std::vector<std::string> out;
    for (const InlineButton& b : row) {
      out.push_back(
          absl::StrCat(b.template_id.empty() ? absl::StrCat("'", b.text, "'") : b.template_id, "->", b.data));
    }
    rows.push_back(out);
  }
  return rows;
}

// Every text a decision names exists in the catalog and renders with exactly the parameters given, in the
// decision's locale: the service renders them the same way.
void ExpectRenders(const Decision& decision) {
  const notification::Catalog& catalog = notification::Catalog::Default();
  for (const Action& action : decision.actions) {
    if (const Reply* r = std::get_if<Reply>(&action)) {
      absl::StatusOr<std::string> text = catalog.Render(r->template_id, decision.locale, r->params);
      EXPECT_TRUE(text.ok()) << r->template_id << ": " << text.status();
      for (const auto& row : r->inline_keyboard) {
        for (const InlineButton& b : row) {
          if (b.template_id.empty()) {
            EXPECT_FALSE(b.text.empty()) << "a button without a label in " << r->template_id;
          } else {
            EXPECT_EQ(catalog.Find(b.template_id)->kind, notification::TextKind::kButton) << b.template_id;
          }
          EXPECT_LE(b.data.size(), 64u) << "Telegram's callback_data limit";
        }
      }
    } else if (const AnswerButton* a = std::get_if<AnswerButton>(&action);
               a != nullptr && !a->template_id.empty()) {
      absl::StatusOr<std::string> text = catalog.Render(a->template_id, decision.locale, a->params);
      EXPECT_TRUE(text.ok()) << a->template_id << ": " << text.status();
      EXPECT_EQ(catalog.Find(a->template_id)->kind, notification::TextKind::kCallbackAnswer)
          << a->template_id;
    }
  }
}

// --- Building contexts and inputs ----------------------------------------------------------------------

Context Base() {
  Context c;
  c.chat_id = "555";
  c.bot_username = "protectogram_bot";
  c.new_invite_token = kNewToken;
  return c;
}

// A registered traveler with three guardians, in call order Иван, Мария, Олег.
Context Traveler() {
  Context c = Base();
  c.user = {.id = 7, .name = "Анна", .phone_e164 = "+79991234567", .locale = "ru"};
  c.guardians = {{.link_id = 11, .user_id = 21, .name = "Иван", .phone_e164 = "+79990000011"},
                 {.link_id = 12, .user_id = 22, .name = "Мария", .phone_e164 = "+79990000012"},
                 {.link_id = 13, .user_id = 23, .name = "Олег", .phone_e164 = "+79990000013"}};
  return c;
}

// Someone the service does not know yet.
Context Newcomer() { return Base(); }

Context WithInvite(Context c, InviteView::State state, std::string token = kToken) {
  c.invite =
      InviteView{.state = state, .token = std::move(token), .traveler_user_id = 42, .traveler_name = "Пётр"};
  return c;
}

Input Sender(Input::Kind kind) {
  Input in;
  in.kind = kind;
  in.sender_id = "555";
  in.first_name = "Оля";
  return in;
}

Input Text(std::string text) {
  Input in = Sender(Input::Kind::kText);
  in.text = std::move(text);
  return in;
}

Input Command(std::string command, std::string args = "") {
  Input in = Text(absl::StrCat("/", command, args.empty() ? "" : " ", args));
  in.command = std::move(command);
  in.command_args = std::move(args);
  return in;
}

Input Button(std::string data) {
  Input in = Sender(Input::Kind::kButton);
  in.callback_id = "cb-1";
  in.data = std::move(data);
  return in;
}

Input Contact(std::string phone, std::string contact_user_id = "555") {
  Input in = Sender(Input::Kind::kContact);
  in.contact_phone = std::move(phone);
  in.contact_user_id = std::move(contact_user_id);
  return in;
}

Decision Handle(const Context& context, const Input& input, absl::Time now = kT0, const Limits& limits = {}) {
  Decision d = Decide(context, input, now, limits);
  ExpectRenders(d);
  return d;
}

// --- Locale ----------------------------------------------------------------------------------------------

TEST(ConversationLocaleTest, LocaleOfReadsTheLanguageCode) {
  EXPECT_EQ(LocaleOf("ru"), "ru");
  EXPECT_EQ(LocaleOf("en"), "en");
  EXPECT_EQ(LocaleOf("es"), "es");
  EXPECT_EQ(LocaleOf("en-US"), "en");
  EXPECT_EQ(LocaleOf("EN_gb"), "en");
  EXPECT_EQ(LocaleOf("es-419"), "es");
  EXPECT_EQ(LocaleOf("ru-RU"), "ru");
  for (std::string_view other : {"", "uk", "de-DE", "e", "english", "-en", "pt-BR", "zh-hans"}) {
    EXPECT_EQ(LocaleOf(other), "ru") << other;
  }
}

TEST(ConversationLocaleTest, TelegramsLanguageWinsOverTheStoredOne) {
  Context c = Traveler();
  c.user.locale = "es";
  Input in = Command("help");
  in.language_code = "en-US";
  EXPECT_EQ(Handle(c, in).locale, "en");
  in.language_code = "";  // no language_code: the stored locale
  EXPECT_EQ(Handle(c, in).locale, "es");
  in.language_code = "de";  // not ours: Russian, not the stored locale
  EXPECT_EQ(Handle(c, in).locale, "ru");
  c.user.locale = "fr";
  in.language_code = "";
  EXPECT_EQ(Handle(c, in).locale, "ru");
}

TEST(ConversationLocaleTest, ANewUserIsRegisteredInTheirTelegramLanguage) {
  Input in = Contact("34612345678");
  in.language_code = "es-ES";
  Decision d = Handle(Newcomer(), in);
  EXPECT_EQ(d.locale, "es");
  EXPECT_THAT(Summary(d),
              ElementsAre("Register Оля +34612345678 es 555", "Reply registration.done name=Оля [menu]"));
  in.language_code = "";
  EXPECT_EQ(Handle(Newcomer(), in).locale, "ru");  // a new user's default locale is Russian
}

// --- Spam guard ------------------------------------------------------------------------------------------

TEST(ConversationSpamTest, FiveMessagesPassTheSixthIsDropped) {
  Context c = Traveler();
  for (int i = 0; i < 5; ++i) {
    Decision d = Handle(c, Text("привет"), kT0 + absl::Seconds(i));
    EXPECT_FALSE(d.dropped) << i;
    EXPECT_THAT(Summary(d), ElementsAre("Reply bot.unknown_input [menu]")) << i;
    c.state = d.state;
  }
  Decision sixth = Handle(c, Command("help"), kT0 + absl::Seconds(5));
  EXPECT_TRUE(sixth.dropped);
  EXPECT_THAT(sixth.actions, IsEmpty());
  EXPECT_EQ(sixth.state.recent.size(), 5u);
  EXPECT_EQ(sixth.state.recent.back(), kT0 + absl::Seconds(5));  // the dropped message counts
}

TEST(ConversationSpamTest, APanicIsNeverDropped) {
  Context c = Traveler();
  c.state.recent.assign(5, kT0);
  EXPECT_TRUE(Handle(c, Text("привет"), kT0 + absl::Seconds(1)).dropped);
  Decision command = Handle(c, Command("panic"), kT0 + absl::Seconds(1));
  EXPECT_FALSE(command.dropped);
  EXPECT_THAT(Summary(command), ElementsAre("StartPanic"));
  Decision button = Handle(c, Text("🆘 Тревога"), kT0 + absl::Seconds(1));
  EXPECT_FALSE(button.dropped);
  EXPECT_THAT(Summary(button), ElementsAre("StartPanic"));
  EXPECT_EQ(button.state.recent.size(), 5u);  // and it does not count
}

TEST(ConversationSpamTest, TheWindowSlidesAndDroppedMessagesCount) {
  Context c = Traveler();
  auto at = [&](double seconds) {
    Decision d = Handle(c, Command("help"), kT0 + absl::Seconds(seconds));
    c.state = d.state;
    return d.dropped;
  };
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(at(i)) << i;  // 0..4 s
  EXPECT_TRUE(at(5));                                    // the 6th within 10 s
  // At 10 s the message at 0 s has left the window, but 1..4 and the dropped one at 5 s remain: a flood that
  // goes on stays dropped.
  EXPECT_TRUE(at(10));
  // At 15.5 s only the one at 10 s is left in (5.5 s, 15.5 s].
  EXPECT_FALSE(at(15.5));
  EXPECT_EQ(c.state.recent, (std::vector<absl::Time>{kT0 + absl::Seconds(10), kT0 + absl::Seconds(15.5)}));
}

TEST(ConversationSpamTest, AMessageExactlyAWindowOldNoLongerCounts) {
  Context c = Traveler();
  c.state.recent.assign(5, kT0);
  EXPECT_TRUE(Handle(c, Command("help"), kT0 + absl::Seconds(10) - absl::Microseconds(1)).dropped);
  Decision d = Handle(c, Command("help"), kT0 + absl::Seconds(10));
  EXPECT_FALSE(d.dropped);
  EXPECT_THAT(Summary(d), ElementsAre("Reply bot.help [menu]"));
  EXPECT_EQ(d.state.recent, std::vector<absl::Time>{kT0 + absl::Seconds(10)});
}

TEST(ConversationSpamTest, ButtonsAreNeverDroppedNorCounted) {
  Context c = Traveler();
  c.state.recent.assign(5, kT0);
  Decision ack = Handle(c, Button("ack:42"), kT0 + absl::Seconds(1));
  EXPECT_FALSE(ack.dropped);
  EXPECT_THAT(Summary(ack), ElementsAre("AckPanic 42 'cb-1'"));
  EXPECT_EQ(ack.state.recent, c.state.recent);  // untouched
  EXPECT_TRUE(Handle(c, Text("x"), kT0 + absl::Seconds(1)).dropped);
}

TEST(ConversationSpamTest, EveryKindOfMessageCounts) {
  for (Input in :
       {Text("x"), Contact("79991234567"), Sender(Input::Kind::kNonText), Sender(Input::Kind::kOther)}) {
    Context c = Traveler();
    c.state.recent.assign(5, kT0);
    EXPECT_TRUE(Handle(c, in, kT0 + absl::Seconds(1)).dropped) << static_cast<int>(in.kind);
    in.edited = true;
    EXPECT_TRUE(Handle(c, in, kT0 + absl::Seconds(1)).dropped) << "edited " << static_cast<int>(in.kind);
  }
}

TEST(ConversationSpamTest, AFloodKeepsTheStateSmall) {
  Context c = Traveler();
  int passed = 0;
  for (int i = 0; i < 1000; ++i) {
    Decision d = Handle(c, Text("x"), kT0 + absl::Milliseconds(i));
    passed += d.dropped ? 0 : 1;
    c.state = d.state;
    ASSERT_LE(c.state.recent.size(), 5u);
  }
  EXPECT_EQ(passed, 5);
}

TEST(ConversationSpamTest, ArrivalsInTheFutureAreForgotten) {
  Context c = Traveler();
  c.state.recent.assign(5, kT0 + absl::Hours(1));  // written before the clock went back
  Decision d = Handle(c, Command("help"), kT0);
  EXPECT_FALSE(d.dropped);
  EXPECT_EQ(d.state.recent, std::vector<absl::Time>{kT0});
}

TEST(ConversationSpamTest, LimitsAreConfigurable) {
  Context c = Traveler();
  const Limits two_per_second{.max_messages = 2, .window = absl::Seconds(1)};
  EXPECT_FALSE(Handle(c, Text("x"), kT0, two_per_second).dropped);
  c.state.recent = {kT0, kT0 + absl::Milliseconds(100)};
  EXPECT_TRUE(Handle(c, Text("x"), kT0 + absl::Milliseconds(200), two_per_second).dropped);
  EXPECT_FALSE(Handle(c, Text("x"), kT0 + absl::Seconds(1), two_per_second).dropped);
  // max_messages 0 turns the guard off.
  c.state.recent.assign(50, kT0);
  EXPECT_FALSE(Handle(c, Text("x"), kT0, Limits{.max_messages = 0}).dropped);
}

// --- Edited messages -----------------------------------------------------------------------------------

TEST(ConversationEditedTest, AnEditNeverActsNorResetsTheConversation) {
  Context c = WithInvite(Newcomer(), InviteView::State::kValid);
  c.state.step = ChatState::Step::kAwaitingPhone;
  c.state.pending_invite = kToken;
  for (Input in : {Command("start"), Command("start", kOtherToken), Text("hello"), Contact("79991234567")}) {
    in.edited = true;
    Decision d = Handle(c, in);
    EXPECT_FALSE(d.dropped);
    EXPECT_THAT(d.actions, IsEmpty()) << in.text;
    EXPECT_EQ(d.state.step, ChatState::Step::kAwaitingPhone);
    EXPECT_EQ(d.state.pending_invite, kToken);
    EXPECT_EQ(d.state.recent, std::vector<absl::Time>{kT0});  // but it counts for the spam guard
  }
  Input panic = Command("panic");
  panic.edited = true;
  EXPECT_THAT(Handle(Traveler(), panic).actions, IsEmpty());
}

// --- /start ----------------------------------------------------------------------------------------------

TEST(ConversationStartTest, GreetsARegisteredUser) {
  Context c = Traveler();
  c.state.step = ChatState::Step::kAwaitingPhone;
  Decision d = Handle(c, Command("start"));
  EXPECT_THAT(Summary(d), ElementsAre("Reply bot.start_registered name=Анна [menu]"));
  EXPECT_EQ(d.state.step, ChatState::Step::kIdle);
}

TEST(ConversationStartTest, AsksANewUserForTheirPhone) {
  Decision d = Handle(Newcomer(), Command("start"));
  EXPECT_THAT(Summary(d), ElementsAre("Reply registration.ask_phone [share_phone]"));
  EXPECT_EQ(d.state.step, ChatState::Step::kAwaitingPhone);
  EXPECT_EQ(d.state.pending_invite, "");
}

TEST(ConversationStartTest, AKnownUserWithoutAPhoneIsNotRegistered) {
  Context c = Newcomer();
  c.user = {.id = 9, .name = "Оля", .phone_e164 = "", .locale = "ru"};
  EXPECT_THAT(Summary(Handle(c, Command("start"))),
              ElementsAre("Reply registration.ask_phone [share_phone]"));
  EXPECT_THAT(Summary(Handle(c, Command("panic"))),
              ElementsAre("Reply registration.ask_phone [share_phone]"));
}

TEST(ConversationStartTest, CommandsIgnoreCaseAndTheBotsName) {
  Input in = Command("Start@protectogram_bot");
  EXPECT_THAT(Summary(Handle(Traveler(), in)), ElementsAre("Reply bot.start_registered name=Анна [menu]"));
  EXPECT_THAT(Summary(Handle(Traveler(), Command("HELP"))), ElementsAre("Reply bot.help [menu]"));
}

TEST(ConversationStartTest, AGreetingFallsBackToTheProfileName) {
  Context c = Traveler();
  c.user.name = "";
  EXPECT_THAT(Summary(Handle(c, Command("start"))),
              ElementsAre("Reply bot.start_registered name=Оля [menu]"));
}

TEST(ConversationStartTest, StartWithoutATokenKeepsAPendingInvite) {
  Context c = Newcomer();
  c.state.pending_invite = kToken;
  Decision d = Handle(c, Command("start"));
  EXPECT_THAT(Summary(d), ElementsAre("Reply registration.ask_phone [share_phone]"));
  EXPECT_EQ(d.state.pending_invite, kToken);
}

// --- /start <token> --------------------------------------------------------------------------------------

TEST(ConversationInviteTest, AValidInviteIsAcceptedByAUserWithAPhone) {
  Context c = WithInvite(Traveler(), InviteView::State::kValid);  // a traveler can be a guardian too
  Decision d = Handle(c, Command("start", kToken));
  EXPECT_THAT(Summary(d), ElementsAre(absl::StrCat("AcceptInvite ", kToken, " 42"),
                                      "Reply invite.accepted_guardian name=Пётр [menu]"));
  EXPECT_EQ(d.state.step, ChatState::Step::kIdle);
  EXPECT_EQ(d.state.pending_invite, "");
}

TEST(ConversationInviteTest, ANewUserIsAskedForThePhoneFirst) {
  Context c = WithInvite(Newcomer(), InviteView::State::kValid);
  Decision d = Handle(c, Command("start", kToken));
  EXPECT_THAT(Summary(d), ElementsAre("Reply invite.ask_phone name=Пётр [share_phone]"));
  EXPECT_EQ(d.state.step, ChatState::Step::kAwaitingPhone);
  EXPECT_EQ(d.state.pending_invite, kToken);
}

TEST(ConversationInviteTest, EachInviteProblemHasItsReply) {
  using S = InviteView::State;
  struct Case {
    S state;
    std::string reply;
  };
  for (const Case& k : {Case{S::kUnknown, "Reply invite.expired"}, Case{S::kExpired, "Reply invite.expired"},
                        Case{S::kUsed, "Reply invite.used"}, Case{S::kOwn, "Reply invite.own"},
                        Case{S::kAlreadyGuardian, "Reply invite.already_guardian name=Пётр"}}) {
    Decision d = Handle(WithInvite(Traveler(), k.state), Command("start", kToken));
    EXPECT_THAT(Summary(d), ElementsAre(k.reply + " [menu]")) << k.reply;
    EXPECT_EQ(d.state.pending_invite, "");
    // Before registration the reply keeps the phone button, and nothing is kept pending.
    Decision n = Handle(WithInvite(Newcomer(), k.state), Command("start", kToken));
    EXPECT_THAT(Summary(n), ElementsAre(k.reply + " [share_phone]")) << k.reply;
    EXPECT_EQ(n.state.pending_invite, "");
  }
}

TEST(ConversationInviteTest, NoInviteLoadedOrAnotherTokensIsExpired) {
  EXPECT_THAT(Summary(Handle(Traveler(), Command("start", kToken))),
              ElementsAre("Reply invite.expired [menu]"));
  Context other = WithInvite(Traveler(), InviteView::State::kValid, kOtherToken);
  EXPECT_THAT(Summary(Handle(other, Command("start", kToken))), ElementsAre("Reply invite.expired [menu]"));
}

TEST(ConversationInviteTest, ATokenOfTheWrongShapeIsExpiredWhateverWasLoaded) {
  for (std::string token :
       {"xyz", "0123456789ABCDEF", "0123456789abcde", "0123456789abcdef0", "0123456789abcdeg"}) {
    Context c = WithInvite(Traveler(), InviteView::State::kValid, token);
    EXPECT_THAT(Summary(Handle(c, Command("start", token))), ElementsAre("Reply invite.expired [menu]"))
        << token;
  }
}

TEST(ConversationInviteTest, TheTokenMayCarrySpaces) {
  Context c = WithInvite(Traveler(), InviteView::State::kValid);
  EXPECT_THAT(Summary(Handle(c, Command("start", absl::StrCat(" ", kToken, " ")))),
              ElementsAre(absl::StrCat("AcceptInvite ", kToken, " 42"),
                          "Reply invite.accepted_guardian name=Пётр [menu]"));
}

// --- The contact -----------------------------------------------------------------------------------------

TEST(ConversationContactTest, TheOwnContactRegisters) {
  Context c = Newcomer();
  c.state.step = ChatState::Step::kAwaitingPhone;
  Decision d = Handle(c, Contact("79991234567"));
  EXPECT_THAT(Summary(d),
              ElementsAre("Register Оля +79991234567 ru 555", "Reply registration.done name=Оля [menu]"));
  EXPECT_EQ(d.state.step, ChatState::Step::kIdle);
}

TEST(ConversationContactTest, SomeoneElsesContactIsRefused) {
  EXPECT_THAT(Summary(Handle(Newcomer(), Contact("79991234567", "777"))),
              ElementsAre("Reply registration.foreign_contact [share_phone]"));
  // A contact card without a Telegram user behind it.
  EXPECT_THAT(Summary(Handle(Newcomer(), Contact("79991234567", ""))),
              ElementsAre("Reply registration.foreign_contact [share_phone]"));
  Input no_sender = Contact("79991234567", "");
  no_sender.sender_id = "";
  EXPECT_THAT(Summary(Handle(Newcomer(), no_sender)),
              ElementsAre("Reply registration.foreign_contact [share_phone]"));
  EXPECT_THAT(Summary(Handle(Traveler(), Contact("79991234567", "777"))),
              ElementsAre("Reply registration.foreign_contact [share_phone]"));
}

TEST(ConversationContactTest, AnUnreadablePhoneIsAskedAgain) {
  Context c = Newcomer();
  c.state.step = ChatState::Step::kAwaitingPhone;
  Decision d = Handle(c, Contact("12345"));
  EXPECT_THAT(Summary(d), ElementsAre("Reply registration.invalid_phone [share_phone]"));
  EXPECT_EQ(d.state.step, ChatState::Step::kAwaitingPhone);
}

TEST(ConversationContactTest, ThePhoneIsStoredAsE164) {
  EXPECT_THAT(Summary(Handle(Newcomer(), Contact("89991234567"))),
              ElementsAre("Register Оля +79991234567 ru 555", "Reply registration.done name=Оля [menu]"));
  EXPECT_THAT(Summary(Handle(Newcomer(), Contact("+44 20 7946 0958"))),
              ElementsAre("Register Оля +442079460958 ru 555", "Reply registration.done name=Оля [menu]"));
}

TEST(ConversationContactTest, TheNameFallsBackToThePhone) {
  Input in = Contact("79991234567");
  in.first_name = "  ";
  EXPECT_THAT(Summary(Handle(Newcomer(), in)),
              ElementsAre("Register +79991234567 +79991234567 ru 555",
                          "Reply registration.done name=+79991234567 [menu]"));
  in.first_name = " Оля ";
  EXPECT_THAT(Summary(Handle(Newcomer(), in)),
              ElementsAre("Register Оля +79991234567 ru 555", "Reply registration.done name=Оля [menu]"));
}

TEST(ConversationContactTest, AContactUpdatesARegisteredUsersPhoneAndKeepsTheirName) {
  Decision d = Handle(Traveler(), Contact("+34 612 345 678"));
  EXPECT_THAT(Summary(d),
              ElementsAre("Register Анна +34612345678 ru 555", "Reply registration.done name=Анна [menu]"));
}

TEST(ConversationContactTest, ATelegramIdThatIsNoNumberIsZero) {
  Input in = Contact("79991234567", "abc");
  in.sender_id = "abc";
  EXPECT_THAT(Summary(Handle(Newcomer(), in)),
              ElementsAre("Register Оля +79991234567 ru 0", "Reply registration.done name=Оля [menu]"));
}

TEST(ConversationContactTest, APendingInviteIsAcceptedOnceThePhoneArrives) {
  // The invite flow end to end: /start <token>, then the contact.
  Context c = WithInvite(Newcomer(), InviteView::State::kValid);
  Decision first = Handle(c, Command("start", kToken));
  ASSERT_EQ(first.state.pending_invite, kToken);
  c.state = first.state;
  Decision d = Handle(c, Contact("79991234567"), kT0 + absl::Seconds(30));
  EXPECT_THAT(Summary(d),
              ElementsAre("Register Оля +79991234567 ru 555", absl::StrCat("AcceptInvite ", kToken, " 42"),
                          "Reply invite.accepted_guardian name=Пётр [menu]"));
  EXPECT_EQ(d.state.pending_invite, "");
  EXPECT_EQ(d.state.step, ChatState::Step::kIdle);
}

TEST(ConversationContactTest, APendingInviteThatWentBadIsToldAfterRegistering) {
  Context c = WithInvite(Newcomer(), InviteView::State::kUsed);
  c.state = {.step = ChatState::Step::kAwaitingPhone, .pending_invite = kToken};
  Decision d = Handle(c, Contact("79991234567"));
  EXPECT_THAT(Summary(d), ElementsAre("Register Оля +79991234567 ru 555",
                                      "Reply registration.done name=Оля [menu]", "Reply invite.used [menu]"));
  EXPECT_EQ(d.state.pending_invite, "");
  // Nothing loaded for it (or another token's invite): expired.
  c.invite.reset();
  EXPECT_THAT(Summary(Handle(c, Contact("79991234567"))),
              ElementsAre("Register Оля +79991234567 ru 555", "Reply registration.done name=Оля [menu]",
                          "Reply invite.expired [menu]"));
  c = WithInvite(c, InviteView::State::kValid, kOtherToken);
  EXPECT_THAT(Summary(Handle(c, Contact("79991234567"))),
              ElementsAre("Register Оля +79991234567 ru 555", "Reply registration.done name=Оля [menu]",
                          "Reply invite.expired [menu]"));
}

TEST(ConversationContactTest, ARefusedContactKeepsThePendingInvite) {
  Context c = WithInvite(Newcomer(), InviteView::State::kValid);
  c.state = {.step = ChatState::Step::kAwaitingPhone, .pending_invite = kToken};
  EXPECT_EQ(Handle(c, Contact("79991234567", "777")).state.pending_invite, kToken);
  EXPECT_EQ(Handle(c, Contact("123")).state.pending_invite, kToken);
}

// --- Before registration ---------------------------------------------------------------------------------

TEST(ConversationNewcomerTest, EverythingButStartHelpAndTheContactAsksForThePhone) {
  for (const Input& in :
       {Command("panic"), Command("invite"), Command("guardians"), Command("cancel"), Command("nonsense"),
        Text("hello"), Text("🆘 Тревога"), Text("➕ Пригласить хранителя"), Sender(Input::Kind::kNonText)}) {
    Decision d = Handle(Newcomer(), in);
    EXPECT_THAT(Summary(d), ElementsAre("Reply registration.ask_phone [share_phone]")) << in.text;
    EXPECT_EQ(d.state.step, ChatState::Step::kAwaitingPhone);
  }
}

TEST(ConversationNewcomerTest, HelpKeepsThePhoneButton) {
  EXPECT_THAT(Summary(Handle(Newcomer(), Command("help"))), ElementsAre("Reply bot.help [share_phone]"));
}

TEST(ConversationNewcomerTest, ButtonsHaveExpired) {
  for (std::string data : {"ack:42", "cancel:42", "g:list", "g:card:11", "junk"}) {
    EXPECT_THAT(Summary(Handle(Newcomer(), Button(data))), ElementsAre("Answer cb-1 'error.button_expired'"))
        << data;
  }
}

TEST(ConversationNewcomerTest, OtherEventsAreIgnored) {
  EXPECT_THAT(Handle(Newcomer(), Sender(Input::Kind::kOther)).actions, IsEmpty());
  EXPECT_THAT(Handle(Traveler(), Sender(Input::Kind::kOther)).actions, IsEmpty());
}

// --- /invite ---------------------------------------------------------------------------------------------

TEST(ConversationMenuTest, InviteGivesALink) {
  const std::vector<std::string> want = {
      absl::StrCat("CreateInvite ", kNewToken),
      absl::StrCat("Reply invite.link link=https://t.me/protectogram_bot?start=", kNewToken, " [menu]")};
  EXPECT_EQ(Summary(Handle(Traveler(), Command("invite"))), want);
  // The menu button's label in any of our locales, whatever the user's locale is now.
  for (std::string label : {"➕ Пригласить хранителя", "➕ Invite a guardian", "➕ Invitar a un guardián",
                            "  ➕ Invite a guardian "}) {
    EXPECT_EQ(Summary(Handle(Traveler(), Text(label))), want) << label;
  }
}

TEST(ConversationMenuTest, InviteWithoutTheBotsNameIsForLater) {
  Context c = Traveler();
  c.bot_username = "";
  EXPECT_THAT(Summary(Handle(c, Command("invite"))), ElementsAre("Reply error.try_later [menu]"));
  c = Traveler();
  c.new_invite_token = "";
  EXPECT_THAT(Summary(Handle(c, Command("invite"))), ElementsAre("Reply error.try_later [menu]"));
}

TEST(ConversationMenuTest, OnlyTheExactLabelIsAButton) {
  for (std::string text : {"Пригласить хранителя", "тревога", "Тревога", "🆘 тревога", "мои хранители"}) {
    EXPECT_THAT(Summary(Handle(Traveler(), Text(text))), ElementsAre("Reply bot.unknown_input [menu]"))
        << text;
  }
}

// --- /guardians ------------------------------------------------------------------------------------------

TEST(ConversationGuardiansTest, ListsTheGuardiansInCallOrder) {
  for (const Input& in :
       {Command("guardians"), Text("👥 Мои хранители"), Text("👥 My guardians"), Text("👥 Mis guardianes")}) {
    Decision d = Handle(Traveler(), in);
    EXPECT_THAT(Summary(d), ElementsAre("Reply guardians.list")) << in.text;
    EXPECT_THAT(Buttons(OnlyReply(d)),
                ElementsAre(ElementsAre("'Иван'->g:card:11"), ElementsAre("'Мария'->g:card:12"),
                            ElementsAre("'Олег'->g:card:13")));
  }
}

TEST(ConversationGuardiansTest, NoGuardiansYet) {
  Context c = Traveler();
  c.guardians.clear();
  EXPECT_THAT(Summary(Handle(c, Command("guardians"))), ElementsAre("Reply guardians.empty [menu]"));
  EXPECT_THAT(Summary(Handle(c, Button("g:list"))),
              ElementsAre("Reply guardians.empty [menu]", "Answer cb-1 ''"));
}

TEST(ConversationGuardiansTest, AGuardianWithoutANameIsShownByPhone) {
  Context c = Traveler();
  c.guardians[1].name = "";
  Decision list = Handle(c, Command("guardians"));
  EXPECT_THAT(Buttons(OnlyReply(list))[1], ElementsAre("'+79990000012'->g:card:12"));
  EXPECT_THAT(Summary(Handle(c, Button("g:rmok:12"))),
              ElementsAre("Remove 12", "Reply guardians.removed guardian=+79990000012", "Answer cb-1 ''"));
}

TEST(ConversationGuardiansTest, ACardOffersEveryAction) {
  Decision d = Handle(Traveler(), Button("g:card:12"));
  EXPECT_THAT(Summary(d), ElementsAre("Reply guardians.card guardian=Мария phone=+79990000012 position=2",
                                      "Answer cb-1 ''"));
  EXPECT_THAT(Buttons(OnlyReply(d)),
              ElementsAre(ElementsAre("guardians.button_up->g:up:12", "guardians.button_down->g:down:12"),
                          ElementsAre("guardians.button_test_call->g:test:12"),
                          ElementsAre("guardians.button_remove->g:rm:12"),
                          ElementsAre("guardians.button_back->g:list")));
  EXPECT_THAT(Summary(Handle(Traveler(), Button("g:card:11")))[0], HasSubstr("position=1"));
  EXPECT_THAT(Summary(Handle(Traveler(), Button("g:card:13")))[0], HasSubstr("position=3"));
}

TEST(ConversationGuardiansTest, MovingShowsTheNewOrder) {
  Decision up = Handle(Traveler(), Button("g:up:12"));
  EXPECT_THAT(Summary(up), ElementsAre("Move 12 -1", "Reply guardians.list", "Answer cb-1 ''"));
  EXPECT_THAT(Buttons(OnlyReply(up)),
              ElementsAre(ElementsAre("'Мария'->g:card:12"), ElementsAre("'Иван'->g:card:11"),
                          ElementsAre("'Олег'->g:card:13")));
  Decision down = Handle(Traveler(), Button("g:down:12"));
  EXPECT_THAT(Summary(down), ElementsAre("Move 12 1", "Reply guardians.list", "Answer cb-1 ''"));
  EXPECT_THAT(Buttons(OnlyReply(down)),
              ElementsAre(ElementsAre("'Иван'->g:card:11"), ElementsAre("'Олег'->g:card:13"),
                          ElementsAre("'Мария'->g:card:12")));
}

TEST(ConversationGuardiansTest, NothingMovesPastTheEnds) {
  for (std::string data : {"g:up:11", "g:down:13"}) {
    Decision d = Handle(Traveler(), Button(data));
    EXPECT_THAT(Summary(d), ElementsAre("Reply guardians.list", "Answer cb-1 ''")) << data;
    EXPECT_THAT(Buttons(OnlyReply(d)),
                ElementsAre(ElementsAre("'Иван'->g:card:11"), ElementsAre("'Мария'->g:card:12"),
                            ElementsAre("'Олег'->g:card:13")));
  }
}

TEST(ConversationGuardiansTest, RemovingAsksFirst) {
  Decision ask = Handle(Traveler(), Button("g:rm:13"));
  EXPECT_THAT(Summary(ask), ElementsAre("Reply guardians.remove_confirm guardian=Олег", "Answer cb-1 ''"));
  EXPECT_THAT(Buttons(OnlyReply(ask)), ElementsAre(ElementsAre("guardians.button_remove_confirm->g:rmok:13"),
                                                   ElementsAre("guardians.button_back->g:list")));
  EXPECT_THAT(Summary(Handle(Traveler(), Button("g:rmok:13"))),
              ElementsAre("Remove 13", "Reply guardians.removed guardian=Олег", "Answer cb-1 ''"));
}

TEST(ConversationGuardiansTest, TestCall) {
  EXPECT_THAT(
      Summary(Handle(Traveler(), Button("g:test:11"))),
      ElementsAre("TestCall 11", "Reply guardians.test_call_started guardian=Иван", "Answer cb-1 ''"));
}

TEST(ConversationGuardiansTest, BackShowsTheList) {
  Decision d = Handle(Traveler(), Button("g:list"));
  EXPECT_THAT(Summary(d), ElementsAre("Reply guardians.list", "Answer cb-1 ''"));
  EXPECT_EQ(Buttons(OnlyReply(d)).size(), 3u);
}

TEST(ConversationGuardiansTest, AGuardianNoLongerThereHasExpired) {
  for (std::string verb : {"card", "up", "down", "rm", "rmok", "test"}) {
    EXPECT_THAT(Summary(Handle(Traveler(), Button(GuardianData(verb, 99)))),
                ElementsAre("Answer cb-1 'error.button_expired'"))
        << verb;
  }
}

// --- /panic, /cancel and the alert's buttons -------------------------------------------------------------

TEST(ConversationPanicTest, PanicStartsTheAlarm) {
  for (const Input& in : {Command("panic"), Text("🆘 Тревога"), Text("🆘 Panic"), Text("🆘 Alarma")}) {
    EXPECT_THAT(Summary(Handle(Traveler(), in)), ElementsAre("StartPanic")) << in.text;
  }
  // The incident core says whether one is already open.
  Context open = Traveler();
  open.open_incident_id = 99;
  EXPECT_THAT(Summary(Handle(open, Command("panic"))), ElementsAre("StartPanic"));
}

TEST(ConversationPanicTest, PanicWithoutGuardiansSaysSo) {
  Context c = Traveler();
  c.guardians.clear();
  EXPECT_THAT(Summary(Handle(c, Command("panic"))), ElementsAre("Reply panic.no_guardians [menu]"));
  EXPECT_THAT(Summary(Handle(c, Text("🆘 Тревога"))), ElementsAre("Reply panic.no_guardians [menu]"));
}

TEST(ConversationPanicTest, CancelCancelsTheOpenAlarm) {
  Context c = Traveler();
  c.open_incident_id = 99;
  EXPECT_THAT(Summary(Handle(c, Command("cancel"))), ElementsAre("CancelPanic 99 ''"));
  EXPECT_THAT(Summary(Handle(Traveler(), Command("cancel"))),
              ElementsAre("Reply panic.nothing_to_cancel [menu]"));
}

TEST(ConversationPanicTest, TheAlertsButtonsGoToTheIncidentCore) {
  // Answered by the core (who took it, or that it is closed), so no AnswerButton here.
  EXPECT_THAT(Summary(Handle(Traveler(), Button("ack:42"))), ElementsAre("AckPanic 42 'cb-1'"));
  EXPECT_THAT(Summary(Handle(Traveler(), Button("cancel:42"))), ElementsAre("CancelPanic 42 'cb-1'"));
  EXPECT_THAT(Summary(Handle(Traveler(), Button("ack:9223372036854775807"))),
              ElementsAre("AckPanic 9223372036854775807 'cb-1'"));
}

TEST(ConversationPanicTest, ReadsTheDataTheIncidentCoreWrites) {
  EXPECT_THAT(Summary(Handle(Traveler(), Button(core::AckData(42)))), ElementsAre("AckPanic 42 'cb-1'"));
  EXPECT_THAT(Summary(Handle(Traveler(), Button(core::CancelData(42)))),
              ElementsAre("CancelPanic 42 'cb-1'"));
}

TEST(ConversationPanicTest, UnknownButtonsHaveExpired) {
  for (std::string data :
       {"", "ack:", "ack:x", "ack:0", "ack:-1", "ack:+1", "ack:1:2", "ack:42 ", "cancel",
        "cancel:", "ack:9223372036854775808", "zzz", "g:", "g:card:", "g:fly:11", "checkin:ok"}) {
    EXPECT_THAT(Summary(Handle(Traveler(), Button(data))), ElementsAre("Answer cb-1 'error.button_expired'"))
        << data;
  }
}

// --- Help, unknown and non-text input --------------------------------------------------------------------

TEST(ConversationMiscTest, HelpShowsTheMenu) {
  EXPECT_THAT(Summary(Handle(Traveler(), Command("help"))), ElementsAre("Reply bot.help [menu]"));
}

TEST(ConversationMiscTest, TheHelpNamesEveryCommandAndMenuButton) {
  const notification::Catalog& catalog = notification::Catalog::Default();
  for (std::string_view locale : {"ru", "en", "es"}) {
    const std::string help = *catalog.Render("bot.help", locale, {});
    for (std::string_view command : {"/panic", "/cancel", "/invite", "/guardians", "/help"}) {
      EXPECT_THAT(help, HasSubstr(std::string(command))) << locale;
    }
    // Named by the label without its emoji, as texts name buttons (docs/messages.md).
    for (std::string_view button : {"menu.button_panic", "menu.button_invite", "menu.button_guardians"}) {
      std::string label = *catalog.Render(button, locale, {});
      label = label.substr(label.find(' ') + 1);
      EXPECT_THAT(help, HasSubstr(label)) << locale << " " << button;
    }
  }
}

TEST(ConversationMiscTest, UnknownInputGetsTheMenu) {
  for (const Input& in : {Text("привет"), Text(""), Command("nonsense"), Command("trip")}) {
    EXPECT_THAT(Summary(Handle(Traveler(), in)), ElementsAre("Reply bot.unknown_input [menu]")) << in.text;
  }
}

TEST(ConversationMiscTest, NonTextGetsAShortReply) {
  EXPECT_THAT(Summary(Handle(Traveler(), Sender(Input::Kind::kNonText))),
              ElementsAre("Reply bot.non_text [menu]"));
}

TEST(ConversationMiscTest, TheStateIsCarriedThroughUnrelatedEvents) {
  Context c = Traveler();
  c.state = {.step = ChatState::Step::kAwaitingPhone, .pending_invite = kToken};
  Decision d = Handle(c, Button("g:list"));
  EXPECT_EQ(d.state.step, ChatState::Step::kAwaitingPhone);
  EXPECT_EQ(d.state.pending_invite, kToken);
  EXPECT_FALSE(d.dropped);
}

// --- JSON --------------------------------------------------------------------------------------------------

TEST(ConversationJsonTest, WritesTimesAsMicroseconds) {
  ChatState state{.step = ChatState::Step::kAwaitingPhone,
                  .pending_invite = kToken,
                  .recent = {kT0, kT0 + absl::Microseconds(1'500'001)}};
  EXPECT_EQ(ToJson(state), absl::StrCat(R"({"step":"awaiting_phone","pending_invite":")", kToken,
                                        R"(","recent":[1700000000000000,1700000001500001]})"));
  EXPECT_EQ(ToJson(ChatState{}), R"({"step":"idle","pending_invite":"","recent":[]})");
}

TEST(ConversationJsonTest, RoundTrips) {
  for (const ChatState& state :
       {ChatState{}, ChatState{.step = ChatState::Step::kAwaitingPhone, .pending_invite = kToken},
        ChatState{
            .recent = {absl::FromUnixMicros(0), absl::FromUnixMicros(-5), kT0 + absl::Microseconds(7)}}}) {
    absl::StatusOr<ChatState> back = ChatStateFromJson(ToJson(state));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->step, state.step);
    EXPECT_EQ(back->pending_invite, state.pending_invite);
    EXPECT_EQ(back->recent, state.recent);
  }
}

TEST(ConversationJsonTest, ADecisionsStateSurvivesTheRow) {
  Context c = WithInvite(Newcomer(), InviteView::State::kValid);
  Decision d = Handle(c, Command("start", kToken), kT0 + absl::Microseconds(3));
  absl::StatusOr<ChatState> back = ChatStateFromJson(ToJson(d.state));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->step, ChatState::Step::kAwaitingPhone);
  EXPECT_EQ(back->pending_invite, kToken);
  EXPECT_EQ(back->recent, std::vector<absl::Time>{kT0 + absl::Microseconds(3)});
}

TEST(ConversationJsonTest, EmptyIsANewChat) {
  for (std::string_view json : {"", "{}", "  ", " { } "}) {
    absl::StatusOr<ChatState> state = ChatStateFromJson(json);
    ASSERT_TRUE(state.ok()) << json << ": " << state.status();
    EXPECT_EQ(state->step, ChatState::Step::kIdle);
    EXPECT_EQ(state->pending_invite, "");
    EXPECT_THAT(state->recent, IsEmpty());
  }
}

TEST(ConversationJsonTest, MissingFieldsDefaultAndUnknownOnesAreIgnored) {
  absl::StatusOr<ChatState> state = ChatStateFromJson(R"({"step":"awaiting_phone","later":{"x":1}})");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->step, ChatState::Step::kAwaitingPhone);
  EXPECT_EQ(state->pending_invite, "");
  EXPECT_THAT(state->recent, IsEmpty());
}

TEST(ConversationJsonTest, RefusesWhatToJsonCouldNotHaveWritten) {
  for (std::string_view json :
       {"{", "[]", "null", "42", "\"idle\"", R"({"step":"flying"})", R"({"step":1})", R"({"step":null})",
        R"({"pending_invite":5})", R"({"recent":5})", R"({"recent":[1.5]})", R"({"recent":["1"]})",
        R"({"recent":[18446744073709551615]})", R"({"step":"idle"} trailing)"}) {
    absl::StatusOr<ChatState> state = ChatStateFromJson(json);
    ASSERT_FALSE(state.ok()) << json;
    EXPECT_EQ(state.status().code(), absl::StatusCode::kInvalidArgument) << json;
  }
}

// --- Small functions ---------------------------------------------------------------------------------------

TEST(ConversationPhoneTest, NormalizesWhatTelegramSends) {
  struct Case {
    std::string_view in;
    std::string_view want;
  };
  for (const Case& c : {Case{"79991234567", "+79991234567"}, Case{"+79991234567", "+79991234567"},
                        Case{"+7 (999) 123-45-67", "+79991234567"}, Case{" 7 999 123.45.67 ", "+79991234567"},
                        Case{"89991234567", "+79991234567"},    // the Russian trunk prefix
                        Case{"84912345678", "+84912345678"},    // Vietnam: not a trunk prefix
                        Case{"+89991234567", "+89991234567"},   // with a '+' an 8 is a country code
                        Case{"8999123456", "+8999123456"},      // 10 digits: not a trunk-prefixed number
                        Case{"899912345678", "+899912345678"},  // 12 digits neither
                        Case{"12345678", "+12345678"},          // 8 digits: the shortest
                        Case{"123456789012345", "+123456789012345"}}) {  // 15: the longest
    EXPECT_EQ(NormalizePhone(c.in), std::optional<std::string>(c.want)) << c.in;
  }
}

TEST(ConversationPhoneTest, RefusesWhatCannotBeE164) {
  for (std::string_view bad :
       {"", " ", "+", "1234567", "+1234567", "1234567890123456", "abc", "7999123456a", "+7+9991234567",
        "7999 1234567 ext 5", "0079991234567", "+0123456789", "７９９９１２３４５６７"}) {
    EXPECT_EQ(NormalizePhone(bad), std::nullopt) << bad;
  }
}

TEST(ConversationInviteTokenTest, SixteenLowercaseHexCharacters) {
  EXPECT_TRUE(IsInviteToken(kToken));
  EXPECT_TRUE(IsInviteToken("ffffffffffffffff"));
  for (std::string_view bad : {"", "0123456789abcde", "0123456789abcdef0", "0123456789ABCDEF",
                               "0123456789abcdeg", "0123456789abcde ", "g123456789abcdef"}) {
    EXPECT_FALSE(IsInviteToken(bad)) << bad;
  }
  EXPECT_EQ(InviteLink("protectogram_bot", kToken), "https://t.me/protectogram_bot?start=0123456789abcdef");
}

TEST(ConversationGuardianButtonTest, RoundTrips) {
  for (std::string_view verb : {"card", "up", "down", "rm", "rmok", "test"}) {
    for (int64_t link : {int64_t{1}, int64_t{42}, std::numeric_limits<int64_t>::max()}) {
      const std::string data = GuardianData(verb, link);
      EXPECT_EQ(data, absl::StrCat("g:", std::string(verb), ":", link));
      std::optional<GuardianButton> back = ParseGuardianButton(data);
      ASSERT_TRUE(back.has_value()) << data;
      EXPECT_EQ(back->verb, verb);
      EXPECT_EQ(back->link_id, link);
    }
  }
  EXPECT_EQ(GuardianData("list"), "g:list");
  EXPECT_EQ(GuardianData("list", 5), "g:list");
  std::optional<GuardianButton> list = ParseGuardianButton("g:list");
  ASSERT_TRUE(list.has_value());
  EXPECT_EQ(list->verb, "list");
  EXPECT_EQ(list->link_id, 0);
}

TEST(ConversationGuardianButtonTest, RefusesGarbage) {
  for (std::string_view bad : {"",
                               "g",
                               "g:",
                               "g:list:1",
                               "g:list:",
                               "g:card",
                               "g:card:",
                               "g:card:0",
                               "g:card:-1",
                               "g:card:+1",
                               "g:card:1x",
                               "g:card:1 ",
                               "g:card:99999999999999999999",
                               "g:card:9223372036854775808",
                               "g:fly:1",
                               "G:card:1",
                               "x:card:1",
                               "g:card:1:2",
                               "g::1",
                               "ack:1"}) {
    EXPECT_EQ(ParseGuardianButton(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace protectogram::incident::conversation
