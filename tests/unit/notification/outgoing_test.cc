#include "services/notification/outgoing.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "services/notification/split.h"

namespace protectogram::notification {
namespace {

namespace json = boost::json;
namespace tg = providers::telegram;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kNumber[] = "+4915112345678";

const tg::BotRegistry& Bots() {
  static const tg::BotRegistry bots =
      tg::BotRegistry::FromEnv({{"TELEGRAM_BOT_TOKEN", "111:AAA"}, {"TELEGRAM_WEBHOOK_SECRET", "secret_1"}})
          .value();
  return bots;
}

Recipients TelegramOnly() { return {.bots = &Bots(), .whatsapp = false}; }
Recipients Both() { return {.bots = &Bots(), .whatsapp = true}; }
const Catalog& C() { return Catalog::Default(); }

json::object Obj(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << text;
  return v.is_object() ? v.as_object() : json::object{};
}

std::string Str(const json::value& v) { return std::string(v.as_string()); }

std::string Repeat(std::string_view s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

v1::SendRequest Send(std::string text = "hello", std::string chat = "123") {
  v1::SendRequest r;
  r.set_idempotency_key("k1");
  r.set_chat_id(std::move(chat));
  r.set_text(std::move(text));
  return r;
}

void AddButton(v1::SendRequest& r, std::string text, std::string data) {
  v1::Button* b = r.add_buttons();
  b->set_text(std::move(text));
  b->set_data(std::move(data));
}

// The INVALID_ARGUMENT message of a refused build.
template <typename T>
std::string Refusal(const absl::StatusOr<T>& result) {
  EXPECT_FALSE(result.ok());
  if (result.ok()) return "";
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
  return std::string(result.status().message());
}

std::string RefuseSend(const v1::SendRequest& r, const Recipients& recipients = TelegramOnly()) {
  return Refusal(BuildMessage(r, recipients, C()));
}

// A stored Telegram message to edit.
Outgoing Target() {
  absl::StatusOr<Outgoing> target = BuildMessage(Send("original", "-100500"), TelegramOnly(), C());
  EXPECT_TRUE(target.ok()) << target.status();
  target->priority = kAlertPriority;
  target->incident_id = 77;
  return *target;
}

v1::EditRequest Edit() {
  v1::EditRequest r;
  r.set_idempotency_key("e1");
  r.set_target_key("k1");
  return r;
}

// --- BuildMessage ---

TEST(BuildMessageTest, PlainTelegramText) {
  v1::SendRequest r = Send("hello");
  r.set_incident_id(42);
  absl::StatusOr<Outgoing> out = BuildMessage(r, TelegramOnly(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->kind, v1::DELIVERY_KIND_MESSAGE);
  EXPECT_EQ(out->channel, v1::CHANNEL_TELEGRAM);
  EXPECT_EQ(out->bot_id, "main");
  EXPECT_EQ(out->chat_id, "123");
  ASSERT_THAT(out->bodies, ElementsAre(R"({"chat_id":123,"text":"hello"})"));
  EXPECT_EQ(out->target_key, "");
  EXPECT_EQ(out->text, std::nullopt);
  EXPECT_EQ(out->keyboard, std::nullopt);
  EXPECT_FALSE(out->report_to.has_value());
  EXPECT_EQ(out->fallback_json, "");
  EXPECT_EQ(out->priority, kRoutinePriority);
  EXPECT_EQ(out->incident_id, 42);
  const json::object request = Obj(out->request_json);
  EXPECT_EQ(Str(request.at("idempotency_key")), "k1");
  EXPECT_EQ(Str(request.at("chat_id")), "123");
  EXPECT_EQ(Str(request.at("text")), "hello");
  EXPECT_EQ(out->OutboxChannel(), "telegram:main");
}

TEST(BuildMessageTest, ExplicitChannelAndBot) {
  v1::SendRequest r = Send("hi", "@channel");
  r.set_channel(v1::CHANNEL_TELEGRAM);
  r.set_bot_id("main");
  absl::StatusOr<Outgoing> out = BuildMessage(r, TelegramOnly(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->bodies, ElementsAre(R"({"chat_id":"@channel","text":"hi"})"));
}

TEST(BuildMessageTest, RendersTemplate) {
  v1::SendRequest r = Send("");
  r.set_template_id("panic.alert");
  (*r.mutable_params())["name"] = "Анна";
  absl::StatusOr<Outgoing> out = BuildMessage(r, TelegramOnly(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->bodies.size(), 1u);
  EXPECT_EQ(Str(Obj(out->bodies[0]).at("text")), "Тревога от Анна! Нажмите “Я беру ответственность”.");

  r.set_locale("en");
  out = BuildMessage(r, TelegramOnly(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Str(Obj(out->bodies[0]).at("text")), "Alert from Анна! Press “I take responsibility”.");
}

TEST(BuildMessageTest, PriorityAlert) {
  v1::SendRequest r = Send();
  r.set_priority(v1::PRIORITY_ALERT);
  absl::StatusOr<Outgoing> out = BuildMessage(r, TelegramOnly(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->priority, kAlertPriority);

  r.set_priority(v1::PRIORITY_ROUTINE);
  out = BuildMessage(r, TelegramOnly(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->priority, kRoutinePriority);
}

TEST(BuildMessageTest, LongTextSplitsWithKeyboardOnLastPart) {
  // 1700 words of 6 UTF-16 units (Cyrillic: 11 UTF-8 bytes each): 10,200 units.
  std::string text;
  for (int i = 0; i < 1700; ++i) text += i == 0 ? "слово" : " слово";
  ASSERT_GT(Utf16Length(text), 10'000u);
  v1::SendRequest r = Send(text);
  AddButton(r, "Да", "yes");
  AddButton(r, "Нет", "no");
  absl::StatusOr<Outgoing> out = BuildMessage(r, TelegramOnly(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->bodies.size(), 3u);

  std::string joined;
  for (size_t i = 0; i < out->bodies.size(); ++i) {
    SCOPED_TRACE(i);
    const json::object body = Obj(out->bodies[i]);
    EXPECT_EQ(body.at("chat_id").as_int64(), 123);
    const std::string part = Str(body.at("text"));
    EXPECT_LE(Utf16Length(part), kTelegramMessageLimit);
    EXPECT_FALSE(part.empty());
    joined += (i == 0 ? "" : " ") + part;
    if (i + 1 < out->bodies.size()) {
      EXPECT_FALSE(body.contains("reply_markup"));
      continue;
    }
    // The buttons of field 6: one per row.
    const json::array& rows = body.at("reply_markup").at("inline_keyboard").as_array();
    ASSERT_EQ(rows.size(), 2u);
    ASSERT_EQ(rows[0].as_array().size(), 1u);
    ASSERT_EQ(rows[1].as_array().size(), 1u);
    EXPECT_EQ(Str(rows[0].as_array()[0].at("text")), "Да");
    EXPECT_EQ(Str(rows[0].as_array()[0].at("callback_data")), "yes");
    EXPECT_EQ(Str(rows[1].as_array()[0].at("text")), "Нет");
    EXPECT_EQ(Str(rows[1].as_array()[0].at("callback_data")), "no");
  }
  EXPECT_EQ(joined, text);
  EXPECT_THAT(out->PaceKeys("ignored"), ElementsAre("tg:main", "tg:main:123"));
  EXPECT_THAT(out->PaceCosts(), ElementsAre(3, 1));
}

TEST(BuildMessageTest, InlineKeyboardKeepsRows) {
  v1::SendRequest r = Send();
  v1::ButtonRow* row = r.add_inline_keyboard();
  for (const char* label : {"a", "b", "c"}) {
    v1::Button* b = row->add_buttons();
    b->set_text(label);
    b->set_data(std::string("d_") + label);
  }
  absl::StatusOr<Outgoing> out = BuildMessage(r, TelegramOnly(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  const json::array rows = Obj(out->bodies[0]).at("reply_markup").at("inline_keyboard").as_array();
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(rows[0].as_array().size(), 3u);
  EXPECT_EQ(Str(rows[0].as_array()[2].at("callback_data")), "d_c");
}

TEST(BuildMessageTest, ContactRequestGivesReplyKeyboard) {
  v1::SendRequest r = Send("Поделитесь номером");
  r.mutable_contact_request()->set_button_text("Share");
  absl::StatusOr<Outgoing> out = BuildMessage(r, TelegramOnly(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  const json::object markup = Obj(out->bodies[0]).at("reply_markup").as_object();
  EXPECT_FALSE(markup.contains("inline_keyboard"));
  const json::array& rows = markup.at("keyboard").as_array();
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(rows[0].as_array().size(), 1u);
  EXPECT_EQ(Str(rows[0].as_array()[0].at("text")), "Share");
  EXPECT_EQ(rows[0].as_array()[0].at("request_contact"), json::value(true));
  EXPECT_EQ(markup.at("one_time_keyboard"), json::value(true));
}

TEST(BuildMessageTest, ContactRequestButtonFromTemplateInTheMessageLocale) {
  v1::SendRequest r = Send("");
  r.set_template_id("panic.alert");
  r.set_locale("en");
  (*r.mutable_params())["name"] = "Ann";
  r.mutable_contact_request()->set_button_template_id("registration.button_share_phone");
  absl::StatusOr<Outgoing> out = BuildMessage(r, TelegramOnly(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  const json::value button =
      Obj(out->bodies[0]).at("reply_markup").at("keyboard").as_array()[0].as_array()[0];
  EXPECT_EQ(Str(button.at("text")), "📱 Share my number");
  EXPECT_EQ(button.at("request_contact"), json::value(true));
}

TEST(BuildMessageTest, RemoveKeyboard) {
  v1::SendRequest r = Send();
  r.set_remove_keyboard(true);
  absl::StatusOr<Outgoing> out = BuildMessage(r, TelegramOnly(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Obj(out->bodies[0]).at("reply_markup"), json::value(json::object{{"remove_keyboard", true}}));
}

TEST(BuildMessageTest, ReportTo) {
  v1::SendRequest r = Send();
  r.mutable_report_to()->set_service("incident");
  r.mutable_report_to()->set_key("alert:7");
  absl::StatusOr<Outgoing> out = BuildMessage(r, TelegramOnly(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(out->report_to.has_value());
  EXPECT_EQ(out->report_to->service, "incident");
  EXPECT_EQ(out->report_to->key, "alert:7");
}

TEST(BuildMessageTest, WhatsAppMessage) {
  const std::string text = Repeat("слово ", 1700);  // ends in a space: the last part keeps none
  v1::SendRequest r = Send(text, kNumber);
  r.set_channel(v1::CHANNEL_WHATSAPP);
  r.set_bot_id("ignored");
  absl::StatusOr<Outgoing> out = BuildMessage(r, Both(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->channel, v1::CHANNEL_WHATSAPP);
  EXPECT_EQ(out->chat_id, kNumber);
  EXPECT_EQ(out->OutboxChannel(), "whatsapp");
  ASSERT_EQ(out->bodies.size(), 3u);
  for (const std::string& b : out->bodies) {
    const json::object body = Obj(b);
    EXPECT_EQ(Str(body.at("messaging_product")), "whatsapp");
    EXPECT_EQ(Str(body.at("to")), kNumber);
    EXPECT_EQ(Str(body.at("type")), "text");
    EXPECT_LE(Utf16Length(Str(body.at("text").at("body"))), providers::whatsapp::kMaxTextLength);
  }
  EXPECT_THAT(out->PaceKeys("106540352242922"), ElementsAre("wa:106540352242922"));
  EXPECT_THAT(out->PaceCosts(), ElementsAre(3));
}

TEST(BuildMessageTest, WhatsAppFallbackHasTheSameText) {
  v1::SendRequest r = Send("");
  r.set_template_id("panic.alert");
  (*r.mutable_params())["name"] = "Анна";
  r.add_buttons()->set_text("Я беру ответственность");
  r.mutable_buttons(0)->set_data("ack:1");
  r.set_priority(v1::PRIORITY_ALERT);
  r.set_incident_id(9);
  r.mutable_fallback()->set_channel(v1::CHANNEL_WHATSAPP);
  r.mutable_fallback()->set_chat_id(kNumber);
  absl::StatusOr<Outgoing> out = BuildMessage(r, Both(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_FALSE(out->fallback_json.empty());
  absl::StatusOr<Outgoing> fallback = FromJson(out->fallback_json);
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  EXPECT_EQ(fallback->kind, v1::DELIVERY_KIND_MESSAGE);
  EXPECT_EQ(fallback->channel, v1::CHANNEL_WHATSAPP);
  EXPECT_EQ(fallback->chat_id, kNumber);
  EXPECT_EQ(fallback->priority, kAlertPriority);
  EXPECT_EQ(fallback->incident_id, 9);
  EXPECT_EQ(fallback->fallback_json, "");
  ASSERT_EQ(fallback->bodies.size(), 1u);
  const json::object body = Obj(fallback->bodies[0]);
  EXPECT_EQ(Str(body.at("text").at("body")), Str(Obj(out->bodies[0]).at("text")));
  EXPECT_EQ(Str(body.at("text").at("body")), "Тревога от Анна! Нажмите “Я беру ответственность”.");
  EXPECT_FALSE(body.contains("reply_markup"));
}

TEST(BuildMessageTest, TelegramFallback) {
  v1::SendRequest r = Send("hello", kNumber);
  r.set_channel(v1::CHANNEL_WHATSAPP);
  r.mutable_fallback()->set_chat_id("555");
  absl::StatusOr<Outgoing> out = BuildMessage(r, Both(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  absl::StatusOr<Outgoing> fallback = FromJson(out->fallback_json);
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  EXPECT_EQ(fallback->channel, v1::CHANNEL_TELEGRAM);
  EXPECT_EQ(fallback->bot_id, "main");
  EXPECT_EQ(fallback->chat_id, "555");
  EXPECT_THAT(fallback->bodies, ElementsAre(R"({"chat_id":555,"text":"hello"})"));
  EXPECT_EQ(fallback->priority, kRoutinePriority);
}

TEST(BuildMessageTest, Refusals) {
  v1::SendRequest r = Send();
  r.set_idempotency_key("");
  EXPECT_EQ(RefuseSend(r), "idempotency_key is required");

  EXPECT_EQ(RefuseSend(Send("hello", "")), "chat_id is required");

  r = Send();
  r.set_bot_id("other");
  EXPECT_EQ(RefuseSend(r), "unknown bot other");
  EXPECT_EQ(RefuseSend(Send(), {.bots = nullptr, .whatsapp = true}), "unknown bot main");

  r = Send("hello");
  r.set_template_id("panic.alert");
  EXPECT_EQ(RefuseSend(r), "give either text or template_id, not both");

  r = Send();
  r.set_locale("en");
  EXPECT_EQ(RefuseSend(r), "locale and params go with template_id");
  r = Send();
  (*r.mutable_params())["name"] = "x";
  EXPECT_EQ(RefuseSend(r), "locale and params go with template_id");

  r = Send("");
  r.set_template_id("no.such.template");
  EXPECT_THAT(RefuseSend(r), HasSubstr("unknown template no.such.template"));

  r = Send("");
  r.set_template_id("panic.alert");
  r.set_locale("de");
  (*r.mutable_params())["name"] = "x";
  EXPECT_THAT(RefuseSend(r), HasSubstr("unknown locale de"));

  r = Send("");
  r.set_template_id("panic.alert");
  EXPECT_THAT(RefuseSend(r), HasSubstr("template panic.alert needs parameter {name}"));

  EXPECT_THAT(RefuseSend(Send("")), HasSubstr("text is empty"));

  r = Send();
  AddButton(r, "a", "b");
  r.set_remove_keyboard(true);
  EXPECT_THAT(RefuseSend(r), HasSubstr("give at most one of"));
  r = Send();
  AddButton(r, "a", "b");
  r.add_inline_keyboard()->add_buttons()->set_text("c");
  EXPECT_THAT(RefuseSend(r), HasSubstr("give at most one of"));
  r = Send();
  r.mutable_contact_request()->set_button_text("Share");
  r.set_remove_keyboard(true);
  EXPECT_THAT(RefuseSend(r), HasSubstr("give at most one of"));

  r = Send();
  AddButton(r, "a", std::string(64, 'x'));  // exactly the limit: fine
  EXPECT_TRUE(BuildMessage(r, TelegramOnly(), C()).ok());
  r = Send();
  AddButton(r, "a", std::string(65, 'x'));
  EXPECT_THAT(RefuseSend(r), HasSubstr("callback_data is 65 bytes (at most 64)"));

  r = Send();
  r.mutable_report_to()->set_service("telephony");
  r.mutable_report_to()->set_key("x");
  EXPECT_THAT(RefuseSend(r), HasSubstr("report_to.service must be \"incident\", got \"telephony\""));
  r = Send();
  r.mutable_report_to()->set_service("incident");
  EXPECT_EQ(RefuseSend(r), "report_to.key is required");

  r = Send("hello", kNumber);
  r.set_channel(v1::CHANNEL_WHATSAPP);
  EXPECT_EQ(RefuseSend(r, TelegramOnly()), "WhatsApp is not configured");
  AddButton(r, "a", "b");
  EXPECT_EQ(RefuseSend(r, Both()), "keyboards are for Telegram only");
  r = Send("hello", kNumber);
  r.set_channel(v1::CHANNEL_WHATSAPP);
  r.mutable_contact_request()->set_button_text("Share");
  EXPECT_EQ(RefuseSend(r, Both()), "keyboards are for Telegram only");
  r = Send("hello", "not a number");
  r.set_channel(v1::CHANNEL_WHATSAPP);
  EXPECT_THAT(RefuseSend(r, Both()), HasSubstr("to must be"));

  r = Send();
  r.set_channel(static_cast<v1::Channel>(7));
  EXPECT_EQ(RefuseSend(r), "unknown channel");

  r = Send();
  r.mutable_fallback()->set_channel(v1::CHANNEL_WHATSAPP);
  EXPECT_EQ(RefuseSend(r), "fallback.chat_id is required");
  r.mutable_fallback()->set_chat_id(kNumber);
  EXPECT_EQ(RefuseSend(r, TelegramOnly()), "fallback: WhatsApp is not configured");
  r = Send();
  r.mutable_fallback()->set_bot_id("other");
  r.mutable_fallback()->set_chat_id("5");
  EXPECT_EQ(RefuseSend(r), "fallback: unknown bot other");
}

// --- BuildEdit ---

TEST(BuildEditTest, NewText) {
  v1::EditRequest r = Edit();
  r.set_text("new text");
  absl::StatusOr<Outgoing> out = BuildEdit(r, Target(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->kind, v1::DELIVERY_KIND_EDIT);
  EXPECT_EQ(out->channel, v1::CHANNEL_TELEGRAM);
  EXPECT_EQ(out->bot_id, "main");
  EXPECT_EQ(out->chat_id, "-100500");
  EXPECT_THAT(out->bodies, IsEmpty());
  EXPECT_EQ(out->target_key, "k1");
  EXPECT_EQ(out->text, "new text");
  EXPECT_EQ(out->keyboard, std::nullopt);
  EXPECT_EQ(out->priority, kAlertPriority);  // the message's
  EXPECT_EQ(out->incident_id, 77);
  EXPECT_EQ(Str(Obj(out->request_json).at("target_key")), "k1");
  EXPECT_EQ(out->OutboxChannel(), "telegram:main");
  EXPECT_THAT(out->PaceKeys(""), ElementsAre("tg:main", "tg:main:-100500"));
  EXPECT_THAT(out->PaceCosts(), ElementsAre(1, 1));

  absl::StatusOr<std::pair<std::string, std::string>> call = EditCall(*out, "-100500", 31);
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->first, "editMessageText");
  EXPECT_EQ(call->second, R"({"chat_id":-100500,"message_id":31,"text":"new text"})");
}

TEST(BuildEditTest, TemplateTextAndKeyboard) {
  v1::EditRequest r = Edit();
  r.set_template_id("panic.alert");
  r.set_locale("en");
  (*r.mutable_params())["name"] = "Ann";
  v1::Button* b = r.add_inline_keyboard()->add_buttons();
  b->set_text("OK");
  b->set_data("ok");
  absl::StatusOr<Outgoing> out = BuildEdit(r, Target(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->text, "Alert from Ann! Press “I take responsibility”.");
  ASSERT_TRUE(out->keyboard.has_value());
  ASSERT_EQ(out->keyboard->size(), 1u);
  ASSERT_EQ((*out->keyboard)[0].size(), 1u);
  EXPECT_EQ((*out->keyboard)[0][0].text, "OK");
  EXPECT_EQ((*out->keyboard)[0][0].callback_data, "ok");
  absl::StatusOr<std::pair<std::string, std::string>> call = EditCall(*out, "-100500", 31);
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->first, "editMessageText");
  EXPECT_TRUE(Obj(call->second).contains("reply_markup"));
}

TEST(BuildEditTest, KeyboardOnlyOrRemove) {
  v1::EditRequest r = Edit();
  v1::Button* b = r.add_inline_keyboard()->add_buttons();
  b->set_text("OK");
  b->set_data("ok");
  absl::StatusOr<Outgoing> out = BuildEdit(r, Target(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->text, std::nullopt);
  absl::StatusOr<std::pair<std::string, std::string>> call = EditCall(*out, "-100500", 31);
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->first, "editMessageReplyMarkup");
  EXPECT_EQ(
      call->second,
      R"({"chat_id":-100500,"message_id":31,"reply_markup":{"inline_keyboard":[[{"text":"OK","callback_data":"ok"}]]}})");

  r = Edit();
  r.set_remove_keyboard(true);
  out = BuildEdit(r, Target(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->text, std::nullopt);
  EXPECT_EQ(out->keyboard, std::nullopt);
  call = EditCall(*out, "-100500", 31);
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->first, "editMessageReplyMarkup");
  EXPECT_EQ(call->second, R"({"chat_id":-100500,"message_id":31})");
}

TEST(BuildEditTest, TextLimitIsUtf16Units) {
  v1::EditRequest r = Edit();
  r.set_text(Repeat("😀", 2048));  // 4096 units, 8192 bytes
  EXPECT_TRUE(BuildEdit(r, Target(), C()).ok());
  r.set_text(Repeat("я", 4096));
  EXPECT_TRUE(BuildEdit(r, Target(), C()).ok());
  r.set_text(Repeat("😀", 2048) + "a");
  EXPECT_THAT(Refusal(BuildEdit(r, Target(), C())), HasSubstr("an edit's text must fit one message"));
  r.set_text(Repeat("a", 4097));
  EXPECT_THAT(Refusal(BuildEdit(r, Target(), C())), HasSubstr("4096 UTF-16 code units"));
}

TEST(BuildEditTest, Refusals) {
  v1::EditRequest r = Edit();
  r.set_idempotency_key("");
  r.set_text("x");
  EXPECT_EQ(Refusal(BuildEdit(r, Target(), C())), "idempotency_key is required");

  EXPECT_EQ(Refusal(BuildEdit(Edit(), Target(), C())),
            "an edit needs a text, an inline_keyboard or remove_keyboard");

  r = Edit();
  r.add_inline_keyboard()->add_buttons()->set_text("a");
  r.mutable_inline_keyboard(0)->mutable_buttons(0)->set_data("b");
  r.set_remove_keyboard(true);
  EXPECT_EQ(Refusal(BuildEdit(r, Target(), C())), "give inline_keyboard or remove_keyboard");

  r = Edit();
  r.add_inline_keyboard()->add_buttons()->set_text("a");
  r.mutable_inline_keyboard(0)->mutable_buttons(0)->set_data(std::string(65, 'x'));
  EXPECT_THAT(Refusal(BuildEdit(r, Target(), C())), HasSubstr("callback_data is 65 bytes"));

  r = Edit();
  r.set_text("x");
  r.set_template_id("panic.alert");
  EXPECT_EQ(Refusal(BuildEdit(r, Target(), C())), "give either text or template_id, not both");

  // Only a Telegram message can be edited.
  r = Edit();
  r.set_text("x");
  v1::SendRequest whatsapp = Send("hello", kNumber);
  whatsapp.set_channel(v1::CHANNEL_WHATSAPP);
  absl::StatusOr<Outgoing> wa_target = BuildMessage(whatsapp, Both(), C());
  ASSERT_TRUE(wa_target.ok()) << wa_target.status();
  EXPECT_EQ(Refusal(BuildEdit(r, *wa_target, C())), "only Telegram messages can be edited");
  Outgoing edit_target = Target();
  edit_target.kind = v1::DELIVERY_KIND_CALLBACK_ANSWER;
  EXPECT_EQ(Refusal(BuildEdit(r, edit_target, C())), "only Telegram messages can be edited");
}

// --- BuildCallbackAnswer ---

TEST(BuildCallbackAnswerTest, Answer) {
  v1::AnswerCallbackRequest r;
  r.set_callback_query_id("cbq-1");
  r.set_template_id("panic.already_acknowledged");
  r.set_locale("en");
  (*r.mutable_params())["guardian"] = "Bob";
  r.set_show_alert(true);
  absl::StatusOr<Outgoing> out = BuildCallbackAnswer(r, TelegramOnly(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->kind, v1::DELIVERY_KIND_CALLBACK_ANSWER);
  EXPECT_EQ(out->channel, v1::CHANNEL_TELEGRAM);
  EXPECT_EQ(out->bot_id, "main");
  EXPECT_EQ(out->chat_id, "");
  EXPECT_THAT(out->bodies, ElementsAre(R"({"callback_query_id":"cbq-1","text":"Already taken by Bob",)"
                                       R"("show_alert":true})"));
  EXPECT_EQ(out->priority, kCallbackAnswerPriority);
  EXPECT_EQ(Str(Obj(out->request_json).at("callback_query_id")), "cbq-1");
  EXPECT_EQ(out->OutboxChannel(), "telegram:main");
  EXPECT_THAT(out->PaceKeys("x"), ElementsAre("tg:main"));
  EXPECT_THAT(out->PaceCosts(), ElementsAre(1));
}

TEST(BuildCallbackAnswerTest, WithoutText) {
  v1::AnswerCallbackRequest r;
  r.set_callback_query_id("cbq-2");
  absl::StatusOr<Outgoing> out = BuildCallbackAnswer(r, TelegramOnly(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->bodies, ElementsAre(R"({"callback_query_id":"cbq-2"})"));
}

TEST(BuildCallbackAnswerTest, Refusals) {
  v1::AnswerCallbackRequest r;
  EXPECT_EQ(Refusal(BuildCallbackAnswer(r, TelegramOnly(), C())), "callback_query_id is required");
  r.set_callback_query_id("cbq");
  r.set_bot_id("other");
  EXPECT_EQ(Refusal(BuildCallbackAnswer(r, TelegramOnly(), C())), "unknown bot other");
  r.set_bot_id("");
  r.set_template_id("nope");
  EXPECT_THAT(Refusal(BuildCallbackAnswer(r, TelegramOnly(), C())), HasSubstr("unknown template nope"));
  r.set_template_id("");
  r.set_text(std::string(201, 'a'));
  EXPECT_THAT(Refusal(BuildCallbackAnswer(r, TelegramOnly(), C())), HasSubstr("200"));
}

// --- BuildOperatorAlert ---

TEST(BuildOperatorAlertTest, Alert) {
  absl::StatusOr<Outgoing> out = BuildOperatorAlert("-100777", "11 dead letters");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->kind, v1::DELIVERY_KIND_OPERATOR_ALERT);
  EXPECT_EQ(out->channel, v1::CHANNEL_TELEGRAM);
  EXPECT_EQ(out->bot_id, "main");
  EXPECT_EQ(out->chat_id, "-100777");
  EXPECT_THAT(out->bodies, ElementsAre(R"({"chat_id":-100777,"text":"11 dead letters"})"));
  EXPECT_EQ(out->priority, kAlertPriority);
  EXPECT_EQ(out->request_json, "{}");
  EXPECT_EQ(out->OutboxChannel(), "telegram:main");
  EXPECT_THAT(out->PaceKeys(""), ElementsAre("tg:main", "tg:main:-100777"));
  EXPECT_THAT(out->PaceCosts(), ElementsAre(1, 1));
}

TEST(BuildOperatorAlertTest, Refusals) {
  EXPECT_FALSE(BuildOperatorAlert("", "x").ok());
  EXPECT_FALSE(BuildOperatorAlert("1", "").ok());
  EXPECT_EQ(BuildOperatorAlert("1", "").status().code(), absl::StatusCode::kInvalidArgument);
}

// --- the stored form ---

Outgoing Everything() {
  Outgoing o;
  o.kind = v1::DELIVERY_KIND_EDIT;
  o.channel = v1::CHANNEL_TELEGRAM;
  o.bot_id = "ops";
  o.chat_id = "-100500";
  o.bodies = {R"({"a":1})", R"({"b":[true,null,"я"]})"};
  o.target_key = "msg-1";
  o.text = "новый текст 😀";
  o.keyboard = tg::InlineKeyboard{{{"Да", "yes"}, {"Нет", "no"}}, {{"OK", "ok"}}};
  o.report_to = ReportTo{"incident", "alert:7"};
  Outgoing fallback;
  fallback.channel = v1::CHANNEL_WHATSAPP;
  fallback.chat_id = kNumber;
  fallback.bodies = {R"({"to":"+4915112345678"})"};
  o.fallback_json = ToJson(fallback);
  o.request_json = R"({"idempotency_key":"e1","target_key":"msg-1"})";
  o.priority = kAlertPriority;
  o.incident_id = 1234567890123;
  return o;
}

TEST(OutgoingJsonTest, RoundTripsEveryField) {
  const Outgoing o = Everything();
  const std::string stored = ToJson(o);
  absl::StatusOr<Outgoing> back = FromJson(stored);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->kind, o.kind);
  EXPECT_EQ(back->channel, o.channel);
  EXPECT_EQ(back->bot_id, o.bot_id);
  EXPECT_EQ(back->chat_id, o.chat_id);
  EXPECT_EQ(back->bodies, o.bodies);
  EXPECT_EQ(back->target_key, o.target_key);
  EXPECT_EQ(back->text, o.text);
  ASSERT_TRUE(back->keyboard.has_value());
  ASSERT_EQ(back->keyboard->size(), 2u);
  ASSERT_EQ((*back->keyboard)[0].size(), 2u);
  ASSERT_EQ((*back->keyboard)[1].size(), 1u);
  EXPECT_EQ((*back->keyboard)[0][1].text, "Нет");
  EXPECT_EQ((*back->keyboard)[0][1].callback_data, "no");
  EXPECT_EQ((*back->keyboard)[1][0].text, "OK");
  EXPECT_EQ((*back->keyboard)[1][0].callback_data, "ok");
  ASSERT_TRUE(back->report_to.has_value());
  EXPECT_EQ(back->report_to->service, "incident");
  EXPECT_EQ(back->report_to->key, "alert:7");
  EXPECT_EQ(back->fallback_json, o.fallback_json);
  EXPECT_EQ(back->request_json, o.request_json);
  EXPECT_EQ(back->priority, o.priority);
  EXPECT_EQ(back->incident_id, o.incident_id);
  EXPECT_EQ(ToJson(*back), stored);

  absl::StatusOr<Outgoing> fallback = FromJson(back->fallback_json);
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  EXPECT_EQ(fallback->channel, v1::CHANNEL_WHATSAPP);
  EXPECT_EQ(fallback->chat_id, kNumber);
}

TEST(OutgoingJsonTest, StoredShape) {
  const json::object stored = Obj(ToJson(Everything()));
  EXPECT_EQ(Str(stored.at("kind")), "DELIVERY_KIND_EDIT");
  EXPECT_EQ(Str(stored.at("channel")), "CHANNEL_TELEGRAM");
  EXPECT_EQ(Str(stored.at("bot")), "ops");
  EXPECT_EQ(Str(stored.at("chat")), "-100500");
  EXPECT_EQ(stored.at("bodies").as_array().size(), 2u);
  EXPECT_EQ(Str(stored.at("target")), "msg-1");
  EXPECT_EQ(Str(stored.at("text")), "новый текст 😀");
  EXPECT_EQ(Str(stored.at("keyboard").as_array()[0].as_array()[0].at("data")), "yes");
  EXPECT_EQ(Str(stored.at("report_to").at("key")), "alert:7");
  EXPECT_TRUE(stored.at("fallback").is_object());
  EXPECT_EQ(Str(stored.at("request").at("idempotency_key")), "e1");
  EXPECT_EQ(stored.at("priority").as_int64(), kAlertPriority);
  EXPECT_EQ(stored.at("incident_id").as_int64(), 1234567890123);
}

TEST(OutgoingJsonTest, OptionalFieldsStayUnset) {
  Outgoing o;
  o.bot_id = "main";
  o.chat_id = "1";
  const std::string stored = ToJson(o);
  const json::object obj = Obj(stored);
  for (const char* key : {"target", "text", "keyboard", "report_to", "fallback"}) {
    EXPECT_FALSE(obj.contains(key)) << key;
  }
  EXPECT_EQ(obj.at("request"), json::value(json::object{}));
  absl::StatusOr<Outgoing> back = FromJson(stored);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->text, std::nullopt);
  EXPECT_EQ(back->keyboard, std::nullopt);
  EXPECT_FALSE(back->report_to.has_value());
  EXPECT_EQ(back->fallback_json, "");
  EXPECT_EQ(back->request_json, "{}");
  EXPECT_THAT(back->bodies, IsEmpty());

  // An empty text and an empty keyboard are kept as such (not confused with "unset").
  o.text = "";
  o.keyboard = tg::InlineKeyboard{};
  back = FromJson(ToJson(o));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->text, "");
  ASSERT_TRUE(back->keyboard.has_value());
  EXPECT_THAT(*back->keyboard, IsEmpty());
}

TEST(OutgoingJsonTest, BuiltMessagesRoundTrip) {
  v1::SendRequest r = Send("hello");
  AddButton(r, "a", "b");
  r.mutable_report_to()->set_service("incident");
  r.mutable_report_to()->set_key("k");
  r.mutable_fallback()->set_channel(v1::CHANNEL_WHATSAPP);
  r.mutable_fallback()->set_chat_id(kNumber);
  r.set_incident_id(5);
  absl::StatusOr<Outgoing> out = BuildMessage(r, Both(), C());
  ASSERT_TRUE(out.ok()) << out.status();
  const std::string stored = ToJson(*out);
  absl::StatusOr<Outgoing> back = FromJson(stored);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->bodies, out->bodies);
  EXPECT_EQ(back->request_json, out->request_json);
  EXPECT_EQ(back->fallback_json, out->fallback_json);
  EXPECT_EQ(ToJson(*back), stored);
}

TEST(OutgoingJsonTest, RefusesForeignPayloads) {
  for (const char* bad :
       {"", "not json", "[]", "42", R"({})", R"({"kind":"DELIVERY_KIND_MESSAGE"})",
        R"({"kind":"NOPE","channel":"CHANNEL_TELEGRAM"})",
        R"({"kind":"DELIVERY_KIND_MESSAGE","channel":"CHANNEL_TELEGRAM","keyboard":{}})",
        R"({"kind":"DELIVERY_KIND_MESSAGE","channel":"CHANNEL_TELEGRAM","keyboard":[{}]})",
        R"({"kind":"DELIVERY_KIND_MESSAGE","channel":"CHANNEL_TELEGRAM","keyboard":[[{"text":"a"}]]})"}) {
    SCOPED_TRACE(bad);
    absl::StatusOr<Outgoing> out = FromJson(bad);
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

// --- receipts ---

TEST(ReceiptTest, RoundTrip) {
  EXPECT_EQ(ReceiptJson({}), R"({"ids":[]})");
  EXPECT_EQ(ReceiptJson({"10", "11", "wamid.X"}), R"({"ids":["10","11","wamid.X"]})");
  EXPECT_THAT(ReceiptIds(ReceiptJson({"10", "11", "wamid.X"})), ElementsAre("10", "11", "wamid.X"));
  EXPECT_THAT(ReceiptIds(ReceiptJson({})), IsEmpty());
}

TEST(ReceiptTest, ToleratesAnythingElse) {
  EXPECT_THAT(ReceiptIds(""), IsEmpty());
  EXPECT_THAT(ReceiptIds("garbage"), IsEmpty());
  EXPECT_THAT(ReceiptIds("[]"), IsEmpty());
  EXPECT_THAT(ReceiptIds(R"({"ids":"1"})"), IsEmpty());
  EXPECT_THAT(ReceiptIds(R"({"ids":["1",2,null,"3"]})"), ElementsAre("1", "3"));
}

}  // namespace
}  // namespace protectogram::notification
