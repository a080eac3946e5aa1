#include "services/notification/catalog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "services/notification/split.h"

namespace protectogram::notification {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr Locale kAll[] = {Locale::kRu, Locale::kEn, Locale::kEs};

const Catalog& C() { return Catalog::Default(); }

// Every parameter of `id` set to "X".
Params AllParams(std::string_view id) {
  Params params;
  for (const std::string& p : C().Parameters(id)) params[p] = "X";
  return params;
}

std::string RenderOrDie(std::string_view id, std::string_view locale, const Params& params) {
  absl::StatusOr<std::string> text = C().Render(id, locale, params);
  EXPECT_TRUE(text.ok()) << id << ": " << text.status();
  return text.ok() ? *text : std::string();
}

TEST(CatalogTest, HasAReasonableNumberOfTemplates) {
  EXPECT_GE(C().templates().size(), 40u);
  EXPECT_LE(C().templates().size(), 120u);
}

TEST(CatalogTest, IdsAreUniqueDottedNames) {
  std::set<std::string> seen;
  for (const Template& t : C().templates()) {
    EXPECT_TRUE(seen.insert(std::string(t.id)).second) << "duplicate " << t.id;
    EXPECT_NE(t.id.find('.'), std::string_view::npos) << t.id;
    for (char c : t.id) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.') << t.id;
    }
    EXPECT_TRUE(C().Has(t.id));
    EXPECT_EQ(C().Find(t.id), &t);
  }
}

TEST(CatalogTest, EveryTemplateHasEveryLocaleNonEmpty) {
  for (const Template& t : C().templates()) {
    for (Locale locale : kAll) {
      EXPECT_FALSE(t.Text(locale).empty()) << t.id << " " << LocaleName(locale);
    }
    // A translation that is a copy of the Russian text is a forgotten translation.
    EXPECT_NE(t.en, t.ru) << t.id;
    EXPECT_NE(t.es, t.ru) << t.id;
  }
}

TEST(CatalogTest, EveryLocaleHasTheRussianParameters) {
  for (const Template& t : C().templates()) {
    absl::StatusOr<std::vector<std::string>> ru = PlaceholdersOf(t.ru);
    ASSERT_TRUE(ru.ok()) << t.id << ": " << ru.status();
    EXPECT_EQ(*ru, C().Parameters(t.id)) << t.id;
    for (Locale locale : {Locale::kEn, Locale::kEs}) {
      absl::StatusOr<std::vector<std::string>> other = PlaceholdersOf(t.Text(locale));
      ASSERT_TRUE(other.ok()) << t.id << ": " << other.status();
      EXPECT_EQ(*other, *ru) << t.id << " " << LocaleName(locale);
    }
  }
}

TEST(CatalogTest, RenderingLeavesNoBraces) {
  for (const Template& t : C().templates()) {
    for (std::string_view locale : {"ru", "en", "es"}) {
      std::string text = RenderOrDie(t.id, locale, AllParams(t.id));
      EXPECT_EQ(text.find_first_of("{}"), std::string::npos) << t.id << " " << locale << ": " << text;
      EXPECT_FALSE(text.empty());
    }
  }
}

TEST(CatalogTest, KindsRespectTheirChannelsLimits) {
  for (const Template& t : C().templates()) {
    for (Locale locale : kAll) {
      std::string_view text = t.Text(locale);
      EXPECT_LE(Utf16Length(text), kTelegramMessageLimit) << t.id;
      EXPECT_EQ(text.front() == ' ' || text.back() == ' ', false) << t.id << " has edge spaces";
      switch (t.kind) {
        case TextKind::kButton:
          EXPECT_LE(Utf16Length(text), 32u) << t.id;
          EXPECT_EQ(text.find('\n'), std::string_view::npos) << t.id;
          break;
        case TextKind::kCallbackAnswer:
          EXPECT_LE(Utf16Length(text), 150u) << t.id;  // Telegram's cap is 200, names must fit too
          break;
        case TextKind::kSpeech:
          // No quotes, emoji or line breaks for the TTS engine.
          for (std::string_view bad : {"“", "”", "«", "»", "\n", "⏳", "🆘"}) {
            EXPECT_EQ(text.find(bad), std::string_view::npos) << t.id << " has " << bad;
          }
          break;
        case TextKind::kMessage:
        case TextKind::kWhatsApp:
          break;
      }
    }
  }
}

TEST(CatalogTest, TheProductsTemplatesExist) {
  for (std::string_view id : {"panic.alert",
                              "panic.alert.button_ack",
                              "panic.traveler_confirmation",
                              "panic.button_cancel",
                              "panic.acknowledged_traveler",
                              "panic.acknowledged_other",
                              "panic.already_acknowledged",
                              "panic.reminder",
                              "panic.canceled_guardian",
                              "panic.canceled_traveler",
                              "call.panic_tts",
                              "call.test_tts",
                              "bot.non_text",
                              "registration.ask_phone",
                              "registration.button_share_phone",
                              "registration.foreign_contact",
                              "registration.done",
                              "invite.link",
                              "invite.accepted_guardian",
                              "invite.expired",
                              "invite.used",
                              "guardians.list",
                              "guardians.removed",
                              "guardians.test_call_started",
                              "checkin.question",
                              "checkin.button_ok",
                              "checkin.button_help",
                              "checkin.reminder",
                              "checkin.whatsapp",
                              "checkin.call_tts",
                              "operator.dead_letters_alert",
                              "operator.handoff_context",
                              "operator.handoff_relay",
                              "staging.not_allowed",
                              "error.try_later"}) {
    EXPECT_TRUE(C().Has(id)) << id;
  }
}

// The charter's and the SPEC's texts, carried exactly (protectogram-charter §7, SPEC §1, §4).
TEST(CatalogTest, CharterTextsAreExact) {
  EXPECT_EQ(RenderOrDie("panic.alert", "ru", {{"name", "Анна"}}),
            "Тревога от Анна! Нажмите “Я беру ответственность”.");
  EXPECT_EQ(C().Find("panic.alert")->ru, "Тревога от {name}! Нажмите “Я беру ответственность”.");
  EXPECT_EQ(C().Find("panic.alert.button_ack")->ru, "Я беру ответственность");
  EXPECT_EQ(C().Find("panic.button_cancel")->ru, "Отменить тревогу");
  EXPECT_EQ(C().Find("panic.acknowledged_traveler")->ru, "{guardian} берёт ответственность");
  EXPECT_EQ(C().Find("panic.acknowledged_other")->ru, "Уже взял(а) {guardian}");
  EXPECT_EQ(C().Find("call.panic_tts")->ru,
            "Тревога! Срочно свяжитесь с {name}. Нажмите 1, чтобы подтвердить.");
  EXPECT_EQ(RenderOrDie("call.panic_tts", "ru-RU", {{"name", "Иваном"}}),
            "Тревога! Срочно свяжитесь с Иваном. Нажмите 1, чтобы подтвердить.");
  EXPECT_EQ(C().Find("checkin.question")->ru, "Вы на месте?");
  EXPECT_EQ(C().Find("checkin.button_ok")->ru, "Да, всё хорошо");
  EXPECT_EQ(C().Find("checkin.button_help")->ru, "Нужна помощь");
  EXPECT_THAT(std::string(C().Find("checkin.call_tts")->ru), HasSubstr("Нажмите 1, если у вас всё хорошо."));
  EXPECT_EQ(C().Find("call.panic_tts")->kind, TextKind::kSpeech);
  EXPECT_EQ(C().Find("panic.alert.button_ack")->kind, TextKind::kButton);
}

TEST(CatalogTest, ButtonsNamedInTextsExist) {
  // A text that tells the user to press a button names the button's own label, without the emoji a menu
  // button starts with ("📱 Поделиться номером" is named “Поделиться номером”).
  auto label = [](std::string_view id, Locale locale) {
    std::string text(C().Find(id)->Text(locale));
    const size_t space = text.find(' ');
    if (id != "menu.button_panic" && !text.empty() && static_cast<unsigned char>(text[0]) >= 0xE2 &&
        space != std::string::npos) {
      text = text.substr(space + 1);
    }
    return text;
  };
  for (Locale locale : kAll) {
    EXPECT_THAT(std::string(C().Find("panic.alert")->Text(locale)),
                HasSubstr(label("panic.alert.button_ack", locale)));
    EXPECT_THAT(std::string(C().Find("panic.already_active")->Text(locale)),
                HasSubstr(label("panic.button_cancel", locale)));
    EXPECT_THAT(std::string(C().Find("registration.ask_phone")->Text(locale)),
                HasSubstr(label("registration.button_share_phone", locale)));
    EXPECT_THAT(std::string(C().Find("registration.done")->Text(locale)),
                HasSubstr(label("menu.button_invite", locale)));
    // The panic button is named without its emoji.
    std::string panic = label("menu.button_panic", locale);
    ASSERT_EQ(panic.rfind("🆘 ", 0), 0u) << panic;
    panic = panic.substr(std::string("🆘 ").size());
    EXPECT_THAT(label("bot.start_registered", locale), HasSubstr(panic));
    EXPECT_THAT(label("operator.handoff_closed", locale), HasSubstr(panic));
  }
}

TEST(CatalogTest, RendersEveryLocaleAndLocaleTag) {
  Params p = {{"guardian", "Мария"}};
  EXPECT_EQ(RenderOrDie("panic.acknowledged_traveler", "ru", p), "Мария берёт ответственность");
  EXPECT_EQ(RenderOrDie("panic.acknowledged_traveler", "en-US", p), "Мария is taking responsibility");
  EXPECT_EQ(RenderOrDie("panic.acknowledged_traveler", "ES", p), "Мария se hace responsable");
  absl::StatusOr<std::string> by_enum = C().Render("panic.acknowledged_traveler", Locale::kEn, p);
  ASSERT_TRUE(by_enum.ok());
  EXPECT_EQ(*by_enum, "Мария is taking responsibility");
  EXPECT_EQ(RenderOrDie("operator.handoff_relay", "ru", {{"text", "Мы уже звоним"}}),
            "Оператор: Мы уже звоним");
  EXPECT_EQ(RenderOrDie("bot.non_text", "ru", {}), "Я понимаю только текст и кнопки.");
}

TEST(CatalogTest, ValuesAreInsertedVerbatim) {
  // No escaping and no second pass: braces, markup and placeholders in a value stay as they are.
  EXPECT_EQ(RenderOrDie("operator.handoff_relay", "ru", {{"text", "{name} <b>*x*</b> {{"}}),
            "Оператор: {name} <b>*x*</b> {{");
  EXPECT_EQ(RenderOrDie("operator.handoff_relay", "ru", {{"text", ""}}), "Оператор: ");
}

TEST(CatalogTest, RepeatedPlaceholdersAreAllReplaced) {
  EXPECT_THAT(C().Parameters("invite.accepted_guardian"), ElementsAre("name"));
  std::string text = RenderOrDie("invite.accepted_guardian", "ru", {{"name", "Оля"}});
  EXPECT_EQ(text, "Вы стали хранителем для Оля. Если Оля поднимет тревогу, мы напишем вам здесь и позвоним.");
}

TEST(CatalogTest, ParametersAreSortedFromTheRussianText) {
  EXPECT_THAT(C().Parameters("operator.handoff_context"), ElementsAre("chat_id", "name", "phone"));
  EXPECT_THAT(C().Parameters("guardians.card"), ElementsAre("guardian", "phone", "position"));
  EXPECT_THAT(C().Parameters("bot.non_text"), IsEmpty());
  EXPECT_THAT(C().Parameters("no.such"), IsEmpty());
  EXPECT_FALSE(C().Has("no.such"));
  EXPECT_EQ(C().Find("no.such"), nullptr);
}

void ExpectInvalid(const absl::StatusOr<std::string>& result, std::string_view message) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(result.status().message()), message);
}

TEST(CatalogTest, RenderErrorsNameWhatIsWrong) {
  ExpectInvalid(C().Render("panic.nope", "ru", {}), "unknown template panic.nope");
  ExpectInvalid(C().Render("panic.alert", "de", {{"name", "A"}}), "unknown locale de");
  ExpectInvalid(C().Render("panic.alert", "", {{"name", "A"}}), "unknown locale ");
  ExpectInvalid(C().Render("panic.alert", "ru", {}), "template panic.alert needs parameter {name}");
  ExpectInvalid(C().Render("panic.alert", "ru", {{"name", "A"}, {"nmae", "B"}}),
                "template panic.alert has no parameter {nmae}");
  ExpectInvalid(C().Render("bot.non_text", Locale::kEs, {{"name", "A"}}),
                "template bot.non_text has no parameter {name}");
  // The unknown template is reported before the locale, the locale before the parameters.
  ExpectInvalid(C().Render("panic.nope", "xx", {{"a", "b"}}), "unknown template panic.nope");
  ExpectInvalid(C().Render("panic.alert", "xx", {}), "unknown locale xx");
  // A missing parameter is reported before an unexpected one.
  ExpectInvalid(C().Render("panic.alert", "ru", {{"guardian", "B"}}),
                "template panic.alert needs parameter {name}");
}

// docs/messages.md lists the catalog; a template missing there is a template nobody can find.
TEST(CatalogTest, EveryTemplateIsDocumented) {
  const char* source_dir = std::getenv("PROTECTOGRAM_SOURCE_DIR");  // set by ctest
  if (source_dir == nullptr) GTEST_SKIP() << "PROTECTOGRAM_SOURCE_DIR is not set";
  std::ifstream file(std::string(source_dir) + "/docs/messages.md");
  ASSERT_TRUE(file.good());
  std::stringstream doc;
  doc << file.rdbuf();
  for (const Template& t : C().templates()) {
    EXPECT_THAT(doc.str(), HasSubstr("| `" + std::string(t.id) + "` |")) << t.id;
  }
}

TEST(LocaleTest, ParsesBaseLanguages) {
  struct Case {
    std::string_view tag;
    Locale want;
  };
  for (const Case& c : {Case{"ru", Locale::kRu}, Case{"RU", Locale::kRu}, Case{"ru-RU", Locale::kRu},
                        Case{"ru_RU", Locale::kRu}, Case{"en", Locale::kEn}, Case{"en-US", Locale::kEn},
                        Case{"en-GB", Locale::kEn}, Case{"En-Latn-US", Locale::kEn}, Case{"es", Locale::kEs},
                        Case{"es-419", Locale::kEs}, Case{"es-ES", Locale::kEs}}) {
    absl::StatusOr<Locale> got = ParseLocale(c.tag);
    ASSERT_TRUE(got.ok()) << c.tag << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.tag;
  }
}

TEST(LocaleTest, RefusesOtherTags) {
  for (std::string_view tag : {"", "r", "rus", "russian", "de", "de-DE", "ru-", "ru--RU", "ru-RU-", "-ru",
                               "ru RU", "ru-ЯЯ", "ru-abcdefghi", "ру", "e", "eng"}) {
    absl::StatusOr<Locale> got = ParseLocale(tag);
    ASSERT_FALSE(got.ok()) << tag;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(got.status().message()), "unknown locale " + std::string(tag));
  }
}

TEST(LocaleTest, NamesAndDefaults) {
  EXPECT_EQ(LocaleName(Locale::kRu), "ru");
  EXPECT_EQ(LocaleName(Locale::kEn), "en");
  EXPECT_EQ(LocaleName(Locale::kEs), "es");
  EXPECT_EQ(SpeechLanguage(Locale::kRu), "ru-RU");
  EXPECT_EQ(SpeechLanguage(Locale::kEn), "en-US");
  EXPECT_EQ(SpeechLanguage(Locale::kEs), "es-ES");
  EXPECT_EQ(LocaleOrDefault("en-US"), Locale::kEn);
  EXPECT_EQ(LocaleOrDefault(""), Locale::kRu);
  EXPECT_EQ(LocaleOrDefault("uk"), Locale::kRu);
  for (Locale locale : kAll) EXPECT_EQ(*ParseLocale(LocaleName(locale)), locale);
  EXPECT_EQ(TextKindName(TextKind::kCallbackAnswer), "callback_answer");
}

TEST(PlaceholdersTest, ParsesNamesAndEscapes) {
  EXPECT_THAT(*PlaceholdersOf("a {b} {c_1} {b} {_x}"), ElementsAre("_x", "b", "c_1"));
  EXPECT_THAT(*PlaceholdersOf("{{literal}} and }} {{"), IsEmpty());
  EXPECT_THAT(*PlaceholdersOf("{{{name}}}"), ElementsAre("name"));
  EXPECT_THAT(*PlaceholdersOf(""), IsEmpty());
  for (std::string_view bad :
       {"{", "}", "a { b", "{1x}", "{na-me}", "{name", "{}", "{ name }", "x}y", "{имя}"}) {
    absl::StatusOr<std::vector<std::string>> got = PlaceholdersOf(bad);
    EXPECT_FALSE(got.ok()) << bad;
    if (!got.ok()) {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST(CatalogCreateTest, RendersLiteralBraces) {
  absl::StatusOr<Catalog> c =
      Catalog::Create({{"t.braces", TextKind::kMessage, "{{{v}}} ру", "{{{v}}} en", "{{{v}}} es"}});
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<std::string> text = c->Render("t.braces", "ru", {{"v", "x"}});
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "{x} ру");
}

TEST(CatalogCreateTest, RefusesBrokenTables) {
  struct Case {
    std::vector<Template> templates;
    std::string_view message;
  };
  const Case cases[] = {
      {{{"", TextKind::kMessage, "a", "b", "c"}}, "template #0 has an empty id"},
      {{{"a.b", TextKind::kMessage, "a", "b", "c"}, {"a.b", TextKind::kMessage, "a", "b", "c"}},
       "duplicate template a.b"},
      {{{"a.b", TextKind::kMessage, "a", "", "c"}}, "template a.b (en) is empty"},
      {{{"a.b", TextKind::kMessage, "{x}", "{x}", "{y}"}},
       "template a.b (es) has other parameters than the Russian text"},
      {{{"a.b", TextKind::kMessage, "{x}", "{x} {z}", "{x}"}},
       "template a.b (en) has other parameters than the Russian text"},
      {{{"a.b", TextKind::kMessage, "a {", "b", "c"}},
       "template a.b (ru): '{' at byte 2 does not start a {name} placeholder"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Catalog> got = Catalog::Create(c.templates);
    ASSERT_FALSE(got.ok()) << c.message;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(got.status().message()), c.message);
  }
}

}  // namespace
}  // namespace protectogram::notification
