// The loopback fakes of the Telegram Bot API and the WhatsApp Cloud API, driven by the real http::Client with
// bodies from our own codecs and answers read by our own parsers: what a sender sees for every scripted
// fault, and what the fake recorded (including whether the answer got out).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "boost/json.hpp"
#include "libs/http/client.h"
#include "libs/providers/telegram/bot_api.h"
#include "libs/providers/telegram/fake_bot_api.h"
#include "libs/providers/whatsapp/cloud_api.h"
#include "libs/providers/whatsapp/fake_cloud_api.h"

namespace protectogram::providers {
namespace {

using std::chrono::milliseconds;
namespace json = boost::json;

constexpr char kToken[] = "111111:AAHfake-token";
constexpr char kOtherToken[] = "222222:BBother";
constexpr absl::Duration kWait = absl::Seconds(10);

absl::StatusOr<http::ClientResponse> PostJson(http::Client& client, const std::string& url, std::string body,
                                              milliseconds timeout = milliseconds(5000),
                                              http::HeaderList headers = {}) {
  http::ClientRequest request;
  request.method = "POST";
  request.url = url;
  request.headers = std::move(headers);
  request.headers.emplace_back("Content-Type", "application/json");
  request.body = std::move(body);
  request.timeout = timeout;
  return client.Do(request);
}

class TestClock {
 public:
  absl::Time Now() {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += d;
  }

 private:
  std::mutex mu_;
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
};

// ------------------------------------------------------------------------------------------------------------
// Telegram

namespace tg = telegram;

class FakeBotApiTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({}); }

  void Start(tg::FakeBotApiOptions options) {
    api_.reset();
    options.bots = {{kToken, "alert_bot", "AlertBot"}, {kOtherToken, "other_bot"}};
    absl::StatusOr<std::unique_ptr<tg::FakeBotApi>> api = tg::FakeBotApi::Start(std::move(options));
    ASSERT_TRUE(api.ok()) << api.status();
    api_ = std::move(*api);
  }

  std::string Url(std::string_view method, std::string_view token = kToken) {
    return tg::MethodUrl(api_->base_url(), token, method);
  }

  // Sends and reads the answer; the HTTP exchange must succeed.
  tg::ApiResult Call(std::string_view method, const absl::StatusOr<std::string>& body,
                     std::string_view token = kToken) {
    EXPECT_TRUE(body.ok()) << body.status();
    absl::StatusOr<http::ClientResponse> response =
        PostJson(client_, Url(method, token), body.value_or("{}"));
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return {};
    absl::StatusOr<tg::ApiResult> result = tg::ParseResponse(response->status, response->body);
    EXPECT_TRUE(result.ok()) << result.status() << "\n" << response->body;
    return result.value_or(tg::ApiResult());
  }

  tg::ApiResult Send(std::string_view chat, std::string_view text, const tg::ReplyMarkup& markup = {}) {
    return Call("sendMessage", tg::SendMessageBody(chat, text, markup));
  }

  tg::FakeBotApi::Call LastCall() {
    EXPECT_TRUE(api_->WaitForCalls(api_->Calls().size(), kWait));
    std::vector<tg::FakeBotApi::Call> calls = api_->Calls();
    EXPECT_FALSE(calls.empty());
    return calls.empty() ? tg::FakeBotApi::Call() : calls.back();
  }

  TestClock clock_;  // outlives api_, which may read it
  http::Client client_;
  std::unique_ptr<tg::FakeBotApi> api_;
};

TEST_F(FakeBotApiTest, SendIsAnsweredAndRecorded) {
  EXPECT_EQ(api_->base_url(), "http://127.0.0.1:" + std::to_string(api_->port()));
  const tg::InlineKeyboard keyboard = {{{"Беру", "ack:77"}, {"Не могу", "decline:77"}}};
  const tg::ApiResult sent = Send("123456789", "Тревога", keyboard);
  ASSERT_TRUE(sent.ok) << sent.description;
  EXPECT_EQ(*tg::MessageIdOf(sent.result_json), 1);
  json::object message = json::parse(sent.result_json).as_object();
  EXPECT_EQ(message["chat"].as_object()["id"].as_int64(), 123456789);
  EXPECT_EQ(message["chat"].as_object()["type"].as_string(), "private");
  EXPECT_EQ(message["from"].as_object()["id"].as_int64(), 111111);
  EXPECT_EQ(message["from"].as_object()["username"].as_string(), "alert_bot");
  EXPECT_EQ(message["text"].as_string(), "Тревога");
  EXPECT_EQ(
      json::serialize(message["reply_markup"]),
      R"({"inline_keyboard":[[{"text":"Беру","callback_data":"ack:77"},{"text":"Не могу","callback_data":"decline:77"}]]})");

  ASSERT_TRUE(api_->WaitForCalls(1, kWait));
  const std::vector<tg::FakeBotApi::Call> calls = api_->Calls();
  ASSERT_EQ(calls.size(), 1u);
  const tg::FakeBotApi::Call& call = calls[0];
  EXPECT_EQ(call.bot_token, kToken);
  EXPECT_EQ(call.bot_id, "111111");
  EXPECT_EQ(call.method, "sendMessage");
  EXPECT_EQ(call.chat_id, "123456789");
  EXPECT_EQ(call.text, "Тревога");
  EXPECT_EQ(call.message_id, 1);
  EXPECT_EQ(call.body_json, *tg::SendMessageBody("123456789", "Тревога", keyboard));
  EXPECT_EQ(call.status, 200);
  EXPECT_EQ(call.fault, "");
  EXPECT_TRUE(call.accepted);
  EXPECT_TRUE(call.finished);
  EXPECT_TRUE(call.answered);
  EXPECT_EQ(api_->Sent("123456789").size(), 1u);
}

TEST_F(FakeBotApiTest, MessageIdsCountPerChatAndBot) {
  EXPECT_EQ(*tg::MessageIdOf(Send("100", "a").result_json), 1);
  EXPECT_EQ(*tg::MessageIdOf(Send("100", "b").result_json), 2);
  EXPECT_EQ(*tg::MessageIdOf(Send("-1001234567890", "group").result_json), 1);
  EXPECT_EQ(*tg::MessageIdOf(Send("100", "c").result_json), 3);
  EXPECT_EQ(*tg::MessageIdOf(Call("sendMessage", tg::SendMessageBody("100", "x"), kOtherToken).result_json),
            1);

  std::vector<tg::FakeBotApi::Call> sent = api_->Sent("100", kToken);
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].text, "a");
  EXPECT_EQ(sent[1].text, "b");
  EXPECT_EQ(sent[2].text, "c");
  EXPECT_EQ(api_->Sent("100").size(), 4u);  // any bot
  json::object group = json::parse(api_->Sent("-1001234567890")[0].body_json).as_object();
  EXPECT_EQ(group["chat_id"].as_int64(), -1001234567890);
}

TEST_F(FakeBotApiTest, FormAndQueryParametersAreAccepted) {
  absl::StatusOr<http::ClientResponse> response = client_.PostForm(
      Url("sendmessage"), {{"chat_id", "55"},
                           {"text", "form body"},
                           {"reply_markup", R"({"inline_keyboard":[[{"text":"A","callback_data":"a"}]]})"}});
  ASSERT_TRUE(response.ok()) << response.status();
  absl::StatusOr<tg::ApiResult> result = tg::ParseResponse(response->status, response->body);
  ASSERT_TRUE(result.ok() && result->ok) << response->body;
  std::optional<tg::FakeBotApi::Message> message = api_->FindMessage(kToken, "55", 1);
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->text, "form body");
  EXPECT_EQ(message->inline_keyboard_json, R"({"inline_keyboard":[[{"text":"A","callback_data":"a"}]]})");

  response = client_.Get(Url("getMe"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(*tg::UsernameOf(tg::ParseResponse(response->status, response->body)->result_json), "alert_bot");
}

TEST_F(FakeBotApiTest, UnknownTokenAndMethod) {
  const tg::ApiResult unauthorized = Call("sendMessage", tg::SendMessageBody("1", "x"), "999:nope");
  EXPECT_EQ(unauthorized.http_status, 401);
  EXPECT_EQ(unauthorized.description, "Unauthorized");
  EXPECT_EQ(tg::ClassifyError(unauthorized), tg::BotApiError::kUnauthorized);
  const tg::FakeBotApi::Call call = LastCall();
  EXPECT_EQ(call.bot_id, "");
  EXPECT_EQ(call.status, 401);
  EXPECT_FALSE(call.accepted);
  EXPECT_TRUE(call.answered);

  const tg::ApiResult unknown = Call("sendSticker", absl::StatusOr<std::string>("{}"));
  EXPECT_EQ(unknown.http_status, 404);
  EXPECT_EQ(unknown.description, "Not Found: method not found");
  EXPECT_TRUE(api_->Sent("1").empty());
}

TEST_F(FakeBotApiTest, RefusesWhatTelegramRefuses) {
  auto description = [&](std::string body) {
    const tg::ApiResult r = Call("sendMessage", absl::StatusOr<std::string>(std::move(body)));
    EXPECT_EQ(r.http_status, 400);
    return r.description;
  };
  EXPECT_EQ(description(R"({"text":"x"})"), "Bad Request: chat_id is empty");
  EXPECT_EQ(description(R"({"chat_id":1})"), "Bad Request: message text is empty");
  EXPECT_EQ(description(R"({"chat_id":1,"text":""})"), "Bad Request: message text is empty");
  EXPECT_EQ(description(R"({"chat_id":"not a chat","text":"x"})"), "Bad Request: chat not found");
  std::string long_text;
  for (int i = 0; i < 2049; ++i) long_text += "😀";  // 4098 UTF-16 code units, 8196 bytes
  EXPECT_EQ(description(json::serialize(json::object{{"chat_id", 1}, {"text", long_text}})),
            "Bad Request: message is too long");
  EXPECT_EQ(
      description(
          R"({"chat_id":1,"text":"x","reply_markup":{"inline_keyboard":[[{"text":"a","callback_data":")" +
          std::string(65, 'd') + R"("}]]}})"),
      "Bad Request: BUTTON_DATA_INVALID");
  EXPECT_EQ(
      description(R"({"chat_id":1,"text":"x","reply_markup":{"inline_keyboard":[[{"text":"a"}]]}})"),
      "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard");
  EXPECT_EQ(description(R"({"chat_id":1,"text":"x","reply_markup":"{not json"})"),
            "Bad Request: can't parse reply keyboard markup JSON object");
  EXPECT_EQ(description("[1,2]"), "Bad Request: can't parse request parameters");
  // At the limit it goes: 2048 astral characters are exactly 4096 code units.
  std::string at_limit;
  for (int i = 0; i < 2048; ++i) at_limit += "😀";
  EXPECT_TRUE(Send("1", at_limit).ok);
  ASSERT_TRUE(api_->WaitForCalls(10, kWait));
  EXPECT_EQ(api_->Sent("1").size(), 1u);
}

TEST_F(FakeBotApiTest, EditsAndTheirErrors) {
  const tg::InlineKeyboard keyboard = {{{"Беру", "ack:1"}}};
  ASSERT_TRUE(Send("42", "ALERT", keyboard).ok);

  const tg::ApiResult edited =
      Call("editMessageText", tg::EditMessageTextBody("42", 1, "Взял Пётр", keyboard));
  ASSERT_TRUE(edited.ok) << edited.description;
  EXPECT_EQ(*tg::MessageIdOf(edited.result_json), 1);
  EXPECT_TRUE(json::parse(edited.result_json).as_object().contains("edit_date"));

  const tg::ApiResult same = Call("editMessageText", tg::EditMessageTextBody("42", 1, "Взял Пётр", keyboard));
  EXPECT_EQ(same.http_status, 400);
  EXPECT_EQ(tg::ClassifyError(same), tg::BotApiError::kNotModified);

  // Without reply_markup the keyboard goes.
  const tg::ApiResult removed = Call("editMessageReplyMarkup", tg::EditMessageReplyMarkupBody("42", 1));
  ASSERT_TRUE(removed.ok) << removed.description;
  EXPECT_FALSE(json::parse(removed.result_json).as_object().contains("reply_markup"));
  std::optional<tg::FakeBotApi::Message> message = api_->FindMessage(kToken, "42", 1);
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->text, "Взял Пётр");
  EXPECT_EQ(message->inline_keyboard_json, "");
  EXPECT_TRUE(message->edit_date.has_value());
  EXPECT_EQ(tg::ClassifyError(Call("editMessageReplyMarkup", tg::EditMessageReplyMarkupBody("42", 1))),
            tg::BotApiError::kNotModified);

  const tg::ApiResult missing = Call("editMessageText", tg::EditMessageTextBody("42", 99, "x"));
  EXPECT_EQ(missing.description, "Bad Request: message to edit not found");
  EXPECT_EQ(tg::ClassifyError(missing), tg::BotApiError::kMessageNotFound);
  // Another bot never sent message 1 to this chat.
  EXPECT_EQ(tg::ClassifyError(Call("editMessageText", tg::EditMessageTextBody("42", 1, "x"), kOtherToken)),
            tg::BotApiError::kMessageNotFound);
  const tg::FakeBotApi::Call call = LastCall();
  EXPECT_EQ(call.message_id, 1);
  EXPECT_FALSE(call.accepted);
  // Reply keyboards cannot go on an edit.
  EXPECT_EQ(Call("editMessageReplyMarkup",
                 absl::StatusOr<std::string>(
                     R"({"chat_id":42,"message_id":1,"reply_markup":{"remove_keyboard":true}})"))
                .description,
            "Bad Request: inline keyboard expected");
}

TEST_F(FakeBotApiTest, CallbackAnswersAndWebhook) {
  EXPECT_EQ(
      Call("answerCallbackQuery", tg::AnswerCallbackQueryBody("530345267123456789", "Принято")).result_json,
      "true");
  EXPECT_EQ(Call("answerCallbackQuery", absl::StatusOr<std::string>("{}")).http_status, 400);

  const tg::ApiResult set =
      Call("setWebhook", tg::SetWebhookBody("http://127.0.0.1:1/webhook/main", "s3cret", false,
                                            std::vector<std::string>{"message", "callback_query"}));
  ASSERT_TRUE(set.ok) << set.description;
  EXPECT_EQ(
      Call("setWebhook", absl::StatusOr<std::string>(R"({"url":"https://e/x","secret_token":"bad token"})"))
          .description,
      "Bad Request: secret token contains unallowed characters");

  api_->SetWebhookStatusForTest(kToken, 3, "Wrong response from the webhook: 503 Service Unavailable");
  const tg::ApiResult info = Call("getWebhookInfo", absl::StatusOr<std::string>("{}"));
  absl::StatusOr<tg::WebhookInfo> parsed = tg::ParseWebhookInfo(info.result_json);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << info.result_json;
  EXPECT_EQ(parsed->url, "http://127.0.0.1:1/webhook/main");
  EXPECT_EQ(parsed->pending_update_count, 3);
  EXPECT_EQ(parsed->last_error_message, "Wrong response from the webhook: 503 Service Unavailable");
  EXPECT_EQ(json::serialize(json::parse(info.result_json).as_object()["allowed_updates"]),
            R"(["message","callback_query"])");

  ASSERT_TRUE(Call("deleteWebhook", absl::StatusOr<std::string>(R"({"drop_pending_updates":true})")).ok);
  parsed = tg::ParseWebhookInfo(Call("getWebhookInfo", absl::StatusOr<std::string>("{}")).result_json);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->url, "");
  EXPECT_EQ(parsed->pending_update_count, 0);
}

TEST_F(FakeBotApiTest, WebhookOfShowsWhatSetWebhookSet) {
  EXPECT_FALSE(api_->WebhookOf(kToken).has_value());
  ASSERT_TRUE(Call("setWebhook", tg::SetWebhookBody("http://127.0.0.1:1/webhook/main", "s3cret", false,
                                                    std::vector<std::string>{"message", "callback_query"}))
                  .ok);
  std::optional<tg::FakeBotApi::Webhook> webhook = api_->WebhookOf(kToken);
  ASSERT_TRUE(webhook.has_value());
  EXPECT_EQ(webhook->url, "http://127.0.0.1:1/webhook/main");
  EXPECT_EQ(webhook->secret_token, "s3cret");
  EXPECT_EQ(webhook->allowed_updates, (std::vector<std::string>{"message", "callback_query"}));
  EXPECT_FALSE(api_->WebhookOf(kOtherToken).has_value());
  EXPECT_FALSE(api_->WebhookOf("999:nope").has_value());

  // A refused setWebhook changes nothing; a new one without a secret has none.
  EXPECT_FALSE(
      Call("setWebhook", absl::StatusOr<std::string>(R"({"url":"http://e/x","secret_token":"bad token"})"))
          .ok);
  EXPECT_EQ(api_->WebhookOf(kToken)->secret_token, "s3cret");
  ASSERT_TRUE(Call("setWebhook", tg::SetWebhookBody("http://127.0.0.1:2/webhook/other", "")).ok);
  EXPECT_EQ(api_->WebhookOf(kToken)->url, "http://127.0.0.1:2/webhook/other");
  EXPECT_EQ(api_->WebhookOf(kToken)->secret_token, "");

  ASSERT_TRUE(Call("deleteWebhook", absl::StatusOr<std::string>("{}")).ok);
  EXPECT_FALSE(api_->WebhookOf(kToken).has_value());
}

TEST_F(FakeBotApiTest, ReplyKeyboardIsShownUntilRemoved) {
  EXPECT_EQ(api_->ReplyKeyboardOf(kToken, "42"), "");
  const tg::ReplyKeyboard share{.rows = {{{.text = "Поделиться номером", .request_contact = true}}},
                                .one_time_keyboard = true};
  ASSERT_TRUE(Send("42", "Поделитесь номером", share).ok);
  const std::string shown = R"([[{"text":"Поделиться номером","request_contact":true}]])";
  EXPECT_EQ(api_->ReplyKeyboardOf(kToken, "42"), shown);
  EXPECT_EQ(api_->ReplyKeyboardOf(kToken, "43"), "");       // another chat
  EXPECT_EQ(api_->ReplyKeyboardOf(kOtherToken, "42"), "");  // another bot
  // A reply keyboard is not part of the Message.
  EXPECT_EQ(api_->FindMessage(kToken, "42", 1)->inline_keyboard_json, "");

  // An inline keyboard, or none, leaves it shown.
  ASSERT_TRUE(Send("42", "Тревога", tg::InlineKeyboard{{{"Беру", "ack:1"}}}).ok);
  ASSERT_TRUE(Send("42", "Просто текст").ok);
  EXPECT_EQ(api_->ReplyKeyboardOf(kToken, "42"), shown);
  // A refused message changes nothing.
  api_->BlockChat("42");
  EXPECT_FALSE(Send("42", "x", tg::RemoveKeyboard{}).ok);
  api_->UnblockChat("42");
  EXPECT_EQ(api_->ReplyKeyboardOf(kToken, "42"), shown);

  // reply_markup as JSON text in a form; buttons given as strings.
  absl::StatusOr<http::ClientResponse> response = client_.PostForm(
      Url("sendMessage"),
      {{"chat_id", "42"}, {"text", "Да или нет?"}, {"reply_markup", R"({"keyboard":[["Да","Нет"],[]]})"}});
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->status, 200) << response->body;
  EXPECT_EQ(api_->ReplyKeyboardOf(kToken, "42"), R"([[{"text":"Да"},{"text":"Нет"}]])");
  EXPECT_EQ(Call("sendMessage", absl::StatusOr<std::string>(
                                    R"({"chat_id":42,"text":"x","reply_markup":{"keyboard":[[7]]}})"))
                .description,
            "Bad Request: can't parse keyboard button: KeyboardButton must be a String or an Object");
  EXPECT_EQ(Call("sendMessage",
                 absl::StatusOr<std::string>(R"({"chat_id":42,"text":"x","reply_markup":{"keyboard":{}}})"))
                .description,
            "Bad Request: field \"keyboard\" of the ReplyKeyboardMarkup must be an Array");

  ASSERT_TRUE(Send("42", "Спасибо", tg::RemoveKeyboard{}).ok);
  EXPECT_EQ(api_->ReplyKeyboardOf(kToken, "42"), "");
}

// one_time_keyboard: the client hides the keyboard once the user presses a button; the next keyboard shows.
TEST_F(FakeBotApiTest, AOneTimeKeyboardHidesOnceTheUserPressesIt) {
  const tg::ReplyKeyboard share{.rows = {{{.text = "Поделиться номером", .request_contact = true}}},
                                .one_time_keyboard = true};
  const std::string shown = R"([[{"text":"Поделиться номером","request_contact":true}]])";
  ASSERT_TRUE(Send("42", "Поделитесь номером", share).ok);
  api_->PressedReplyKeyboard(kToken, "43");  // another chat: nothing
  EXPECT_EQ(api_->ReplyKeyboardOf(kToken, "42"), shown);
  api_->PressedReplyKeyboard(kToken, "42");
  EXPECT_EQ(api_->ReplyKeyboardOf(kToken, "42"), "");
  ASSERT_TRUE(Send("42", "Номер не подошёл, ещё раз", share).ok);
  EXPECT_EQ(api_->ReplyKeyboardOf(kToken, "42"), shown);

  // A keyboard without one_time_keyboard stays after a press.
  const tg::ReplyKeyboard lasting{.rows = {{{.text = "Меню"}}}};
  ASSERT_TRUE(Send("42", "Меню ниже", lasting).ok);
  api_->PressedReplyKeyboard(kToken, "42");
  EXPECT_EQ(api_->ReplyKeyboardOf(kToken, "42"), R"([[{"text":"Меню"}]])");
}

TEST_F(FakeBotApiTest, ChatShowsTheMessagesAsEdited) {
  ASSERT_TRUE(Send("42", "ALERT", tg::InlineKeyboard{{{"Беру", "ack:1"}}}).ok);
  ASSERT_TRUE(Send("42", "second").ok);
  ASSERT_TRUE(Send("43", "elsewhere").ok);
  ASSERT_TRUE(Call("sendMessage", tg::SendMessageBody("42", "other bot"), kOtherToken).ok);
  ASSERT_TRUE(Call("editMessageText", tg::EditMessageTextBody("42", 1, "Взял Пётр")).ok);

  const std::vector<tg::FakeBotApi::Message> chat = api_->Chat(kToken, "42");
  ASSERT_EQ(chat.size(), 2u);
  EXPECT_EQ(chat[0].message_id, 1);
  EXPECT_EQ(chat[0].text, "Взял Пётр");
  EXPECT_EQ(chat[0].inline_keyboard_json, "");  // the edit carried none
  EXPECT_TRUE(chat[0].edit_date.has_value());
  EXPECT_EQ(chat[0].bot_id, "111111");
  EXPECT_EQ(chat[1].message_id, 2);
  EXPECT_EQ(chat[1].text, "second");
  EXPECT_FALSE(chat[1].edit_date.has_value());
  ASSERT_EQ(api_->Chat(kOtherToken, "42").size(), 1u);
  EXPECT_EQ(api_->Chat(kOtherToken, "42")[0].text, "other bot");
  EXPECT_EQ(api_->Chat(kToken, "43").size(), 1u);
  EXPECT_TRUE(api_->Chat(kToken, "44").empty());
  EXPECT_TRUE(api_->Chat("999:nope", "42").empty());
}

TEST_F(FakeBotApiTest, ScriptedRateLimitCarriesRetryAfter) {
  api_->Script({"sendMessage", "7", 1, tg::Fault::RateLimited(3)});
  absl::StatusOr<http::ClientResponse> response =
      PostJson(client_, Url("sendMessage"), *tg::SendMessageBody("7", "first"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 429);
  EXPECT_EQ(response->Header("retry-after"), "3");
  absl::StatusOr<tg::ApiResult> limited = tg::ParseResponse(response->status, response->body);
  ASSERT_TRUE(limited.ok()) << limited.status();
  EXPECT_EQ(limited->description, "Too Many Requests: retry after 3");
  EXPECT_EQ(limited->retry_after, absl::Seconds(3));
  EXPECT_EQ(tg::ClassifyError(*limited), tg::BotApiError::kRateLimited);
  EXPECT_EQ(LastCall().fault, "rate_limited");
  EXPECT_TRUE(api_->Sent("7").empty());
  // Used up: the next one goes, and other chats were never affected.
  EXPECT_TRUE(Send("7", "again").ok);
  EXPECT_EQ(api_->Sent("7").size(), 1u);
}

TEST_F(FakeBotApiTest, ScriptedErrorsAsTheSenderSeesThem) {
  api_->Script({"", "", 1, tg::Fault::Blocked()});
  api_->Script({"", "", 1, tg::Fault::ChatNotFound()});
  api_->Script({"", "", 1, tg::Fault::ServerError(500)});
  api_->Script({"", "", 1, tg::Fault::ServerError(502)});
  EXPECT_EQ(tg::ClassifyError(Send("1", "x")), tg::BotApiError::kBlocked);
  EXPECT_EQ(tg::ClassifyError(Send("1", "x")), tg::BotApiError::kChatNotFound);
  const tg::ApiResult internal = Send("1", "x");
  EXPECT_EQ(internal.description, "Internal Server Error");
  EXPECT_EQ(tg::ClassifyError(internal), tg::BotApiError::kServerError);
  const tg::ApiResult gateway = Send("1", "x");  // an HTML page
  EXPECT_EQ(gateway.error_code, 502);
  EXPECT_EQ(tg::ClassifyError(gateway), tg::BotApiError::kServerError);
  EXPECT_TRUE(Send("1", "x").ok);
  ASSERT_TRUE(api_->WaitForCalls(5, kWait));
  std::vector<std::string> faults;
  for (const auto& call : api_->Calls()) faults.push_back(call.fault);
  EXPECT_EQ(faults,
            (std::vector<std::string>{"blocked", "chat_not_found", "server_error", "server_error", ""}));
  EXPECT_EQ(api_->Sent("1").size(), 1u);
}

TEST_F(FakeBotApiTest, MalformedBodyAfterTheMessageWasSent) {
  api_->Script({"sendMessage", "", 1, tg::Fault::MalformedBody()});
  absl::StatusOr<http::ClientResponse> response =
      PostJson(client_, Url("sendMessage"), *tg::SendMessageBody("9", "x"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  absl::StatusOr<tg::ApiResult> result = tg::ParseResponse(response->status, response->body);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(result.status().message(), "malformed JSON");
  const tg::FakeBotApi::Call call = LastCall();
  EXPECT_TRUE(call.accepted);
  EXPECT_TRUE(call.answered);
  EXPECT_EQ(call.fault, "malformed_body");
  EXPECT_EQ(api_->Sent("9").size(), 1u);  // delivered: a retry would send it twice
}

TEST_F(FakeBotApiTest, DropBeforeAcceptDeliversNothing) {
  api_->Script({"sendMessage", "5", 1, tg::Fault::DropBeforeAccept()});
  absl::StatusOr<http::ClientResponse> response =
      PostJson(client_, Url("sendMessage"), *tg::SendMessageBody("5", "x"));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  const tg::FakeBotApi::Call call = LastCall();
  EXPECT_EQ(call.status, 0);
  EXPECT_FALSE(call.accepted);
  EXPECT_TRUE(call.finished);
  EXPECT_FALSE(call.answered);
  EXPECT_EQ(call.fault, "drop_before_accept");
  EXPECT_TRUE(api_->Sent("5").empty());
  EXPECT_EQ(*tg::MessageIdOf(Send("5", "retry").result_json), 1);
}

TEST_F(FakeBotApiTest, DropAfterAcceptDeliversWithoutAnswer) {
  api_->Script({"sendMessage", "5", 1, tg::Fault::DropAfterAccept()});
  absl::StatusOr<http::ClientResponse> response =
      PostJson(client_, Url("sendMessage"), *tg::SendMessageBody("5", "x"));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  const tg::FakeBotApi::Call call = LastCall();
  EXPECT_EQ(call.status, 0);
  EXPECT_TRUE(call.accepted);
  EXPECT_EQ(call.message_id, 1);
  EXPECT_FALSE(call.answered);
  ASSERT_EQ(api_->Sent("5").size(), 1u);
  EXPECT_FALSE(api_->Sent("5")[0].answered);
  // A retry is a second message: exactly the duplicate the outbox's idempotency has to reckon with.
  EXPECT_EQ(*tg::MessageIdOf(Send("5", "x").result_json), 2);
}

TEST_F(FakeBotApiTest, SlowAnswerPastTheClientTimeout) {
  api_->Script({"sendMessage", "3", 1, tg::Fault::Slow(absl::Milliseconds(800))});
  absl::StatusOr<http::ClientResponse> response =
      PostJson(client_, Url("sendMessage"), *tg::SendMessageBody("3", "x"), milliseconds(200));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded) << response.status();
  ASSERT_TRUE(api_->WaitForCalls(1, kWait));
  const tg::FakeBotApi::Call call = api_->Calls()[0];
  EXPECT_EQ(call.fault, "slow");
  EXPECT_EQ(call.status, 200);
  EXPECT_TRUE(call.accepted);   // Telegram did send it...
  EXPECT_FALSE(call.answered);  // ...but the client had gone
}

TEST_F(FakeBotApiTest, SlowAnswerWithinTheClientTimeout) {
  api_->Script({"", "3", 1, tg::Fault::Slow(absl::Milliseconds(200))});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(Send("3", "x").ok);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(200));
  EXPECT_TRUE(LastCall().answered);
}

TEST_F(FakeBotApiTest, SlowChatDoesNotHoldUpOthers) {
  // Slow enough that the five quick sends finish first even on a loaded machine.
  api_->Script({"sendMessage", "@slow_channel", tg::kForever, tg::Fault::Slow(absl::Seconds(3))});
  std::thread slow([&] {
    http::Client own;
    absl::StatusOr<http::ClientResponse> r =
        PostJson(own, Url("sendMessage"), *tg::SendMessageBody("@slow_channel", "x"));
    EXPECT_TRUE(r.ok() && r->status == 200);
  });
  ASSERT_TRUE(api_->WaitForCalls([](const auto& calls) { return calls.size() == 1; }, kWait));
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(Send(std::to_string(900 + i), "x").ok);
  // Five answers came back while the slow one was still waiting.
  std::vector<tg::FakeBotApi::Call> calls = api_->Calls();
  ASSERT_EQ(calls.size(), 6u);
  EXPECT_FALSE(calls[0].finished);
  slow.join();
  ASSERT_TRUE(api_->WaitForCalls(6, kWait));
  EXPECT_TRUE(api_->Calls()[0].answered);
  json::object channel = json::parse(api_->Sent("@slow_channel")[0].body_json).as_object();
  EXPECT_EQ(channel["chat_id"].as_string(), "@slow_channel");
}

TEST_F(FakeBotApiTest, BlockedChat) {
  api_->BlockChat("77");
  const tg::ApiResult blocked = Send("77", "x");
  EXPECT_EQ(blocked.http_status, 403);
  EXPECT_EQ(blocked.description, "Forbidden: bot was blocked by the user");
  EXPECT_EQ(tg::ClassifyError(blocked), tg::BotApiError::kBlocked);
  EXPECT_TRUE(Send("78", "x").ok);
  api_->UnblockChat("77");
  EXPECT_TRUE(Send("77", "x").ok);
}

TEST_F(FakeBotApiTest, WaitForCallsTimesOut) {
  EXPECT_TRUE(Send("1", "x").ok);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(api_->WaitForCalls(2, absl::Milliseconds(100)));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(100));
  EXPECT_TRUE(
      api_->WaitForCalls([](const auto& calls) { return calls.size() == 1 && calls[0].answered; }, kWait));
}

TEST_F(FakeBotApiTest, ManyThreadsManyChats) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 10;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      http::Client own;
      for (int i = 0; i < kPerThread; ++i) {
        // Half go to one shared chat, half to the thread's own.
        const std::string chat = i % 2 == 0 ? "1000" : std::to_string(2000 + t);
        absl::StatusOr<http::ClientResponse> r =
            PostJson(own, Url("sendMessage"), *tg::SendMessageBody(chat, "x"));
        EXPECT_TRUE(r.ok() && r->status == 200);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(api_->WaitForCalls(kThreads * kPerThread, kWait));
  std::set<int64_t> shared_ids;
  for (const auto& call : api_->Sent("1000")) shared_ids.insert(call.message_id);
  EXPECT_EQ(shared_ids.size(), static_cast<size_t>(kThreads * kPerThread / 2));
  EXPECT_EQ(*shared_ids.begin(), 1);
  EXPECT_EQ(*shared_ids.rbegin(), kThreads * kPerThread / 2);
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(api_->Sent(std::to_string(2000 + t)).size(), kPerThread / 2u);
}

TEST_F(FakeBotApiTest, EnforcedLimitsLikeTelegram) {
  tg::FakeBotApiOptions options;
  options.enforce_rate_limits = true;
  options.clock = [this] { return clock_.Now(); };
  Start(std::move(options));
  TestClock& clock = clock_;

  EXPECT_TRUE(Send("1", "a").ok);
  const tg::ApiResult second = Send("1", "b");  // same chat within a second
  EXPECT_EQ(second.retry_after, absl::Seconds(1));
  EXPECT_EQ(LastCall().fault, "rate_limit_enforced");
  clock.Advance(absl::Seconds(1));
  EXPECT_TRUE(Send("1", "b").ok);

  clock.Advance(absl::Seconds(1));
  for (int i = 0; i < 30; ++i) EXPECT_TRUE(Send(std::to_string(100 + i), "x").ok) << i;
  EXPECT_EQ(tg::ClassifyError(Send("200", "x")),
            tg::BotApiError::kRateLimited);  // the bot's 31st in a second
  EXPECT_TRUE(Call("sendMessage", tg::SendMessageBody("200", "x"), kOtherToken).ok);  // per bot
  clock.Advance(absl::Seconds(1));
  EXPECT_TRUE(Send("200", "x").ok);
}

TEST_F(FakeBotApiTest, StopDropsSlowAnswersAtOnce) {
  api_->Script({"", "", tg::kForever, tg::Fault::Slow(absl::Minutes(10))});
  std::thread waiting([&] {
    http::Client own;
    absl::StatusOr<http::ClientResponse> r =
        PostJson(own, Url("sendMessage"), *tg::SendMessageBody("1", "x"), milliseconds(60000));
    EXPECT_FALSE(r.ok());
  });
  ASSERT_TRUE(api_->WaitForCalls([](const auto& calls) { return calls.size() == 1; }, kWait));
  const auto start = std::chrono::steady_clock::now();
  api_->Stop();
  waiting.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(5000));
  const tg::FakeBotApi::Call call = api_->Calls()[0];
  EXPECT_TRUE(call.finished);
  EXPECT_FALSE(call.answered);
  EXPECT_FALSE(call.accepted);
}

TEST(FakeBotApiStartTest, RefusesBadTokens) {
  EXPECT_EQ(tg::FakeBotApi::Start({.bots = {{"no-colon", "x"}}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tg::FakeBotApi::Start({.bots = {{"abc:def", "x"}}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tg::FakeBotApi::Start({.bots = {{"1:a", "x"}, {"1:a", "y"}}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ------------------------------------------------------------------------------------------------------------
// WhatsApp

namespace wa = whatsapp;

constexpr char kPhoneId[] = "106540352242922";
constexpr char kWaToken[] = "EAAG-fake-token";

class FakeCloudApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<wa::FakeCloudApi>> api =
        wa::FakeCloudApi::Start({.phone_numbers = {{kPhoneId, kWaToken}, {"200", "other-token"}}});
    ASSERT_TRUE(api.ok()) << api.status();
    api_ = std::move(*api);
  }

  std::string Url(std::string_view phone_id = kPhoneId, std::string_view version = wa::kDefaultApiVersion) {
    return wa::MessagesUrl(api_->base_url(), version, phone_id);
  }

  absl::StatusOr<http::ClientResponse> Post(const absl::StatusOr<std::string>& body,
                                            std::string_view token = kWaToken,
                                            milliseconds timeout = milliseconds(5000), std::string url = {}) {
    EXPECT_TRUE(body.ok()) << body.status();
    http::HeaderList headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + std::string(token));
    return PostJson(client_, url.empty() ? Url() : url, body.value_or("{}"), timeout, std::move(headers));
  }

  wa::SendResult Send(const absl::StatusOr<std::string>& body, std::string_view token = kWaToken,
                      std::string url = {}) {
    absl::StatusOr<http::ClientResponse> response = Post(body, token, milliseconds(5000), std::move(url));
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return {};
    absl::StatusOr<wa::SendResult> result =
        wa::ParseSendResponse(response->status, response->body, response->Header("retry-after"));
    EXPECT_TRUE(result.ok()) << result.status() << "\n" << response->body;
    return result.value_or(wa::SendResult());
  }

  wa::FakeCloudApi::Call LastCall() {
    EXPECT_TRUE(api_->WaitForCalls(api_->Calls().size(), kWait));
    std::vector<wa::FakeCloudApi::Call> calls = api_->Calls();
    return calls.empty() ? wa::FakeCloudApi::Call() : calls.back();
  }

  http::Client client_;
  std::unique_ptr<wa::FakeCloudApi> api_;
};

TEST_F(FakeCloudApiTest, TextAndTemplateAreSentAndRecorded) {
  const wa::SendResult text = Send(wa::TextMessageBody("+79990001122", "Тревога"));
  ASSERT_TRUE(text.ok) << text.error_message;
  EXPECT_EQ(text.message_id, "wamid.1");
  EXPECT_EQ(text.wa_id, "79990001122");
  const wa::SendResult tpl = Send(wa::TemplateMessageBody("79990001122", "panic_alert", "ru", {"Ivan"}));
  ASSERT_TRUE(tpl.ok);
  EXPECT_EQ(tpl.message_id, "wamid.2");

  ASSERT_TRUE(api_->WaitForCalls(2, kWait));
  const std::vector<wa::FakeCloudApi::Call> calls = api_->Calls();
  EXPECT_EQ(calls[0].token, kWaToken);
  EXPECT_EQ(calls[0].api_version, "v25.0");
  EXPECT_EQ(calls[0].phone_number_id, kPhoneId);
  EXPECT_EQ(calls[0].to, "+79990001122");
  EXPECT_EQ(calls[0].type, "text");
  EXPECT_EQ(calls[0].text, "Тревога");
  EXPECT_EQ(calls[0].message_id, "wamid.1");
  EXPECT_EQ(calls[0].body_json, *wa::TextMessageBody("+79990001122", "Тревога"));
  EXPECT_EQ(calls[0].status, 200);
  EXPECT_TRUE(calls[0].accepted);
  EXPECT_TRUE(calls[0].answered);
  EXPECT_EQ(calls[1].type, "template");
  EXPECT_EQ(calls[1].template_name, "panic_alert");
  // One recipient, '+' or not.
  EXPECT_EQ(api_->Sent("+79990001122").size(), 2u);
  EXPECT_EQ(api_->Sent("79990001122").size(), 2u);
}

TEST_F(FakeCloudApiTest, AuthorizationAndPath) {
  const wa::SendResult missing = Send(wa::TextMessageBody("+79990001122", "x"), "");
  EXPECT_EQ(missing.http_status, 401);
  EXPECT_EQ(missing.error_code, 190);
  EXPECT_EQ(missing.error_type, "OAuthException");
  EXPECT_FALSE(missing.fbtrace_id.empty());
  EXPECT_EQ(wa::ClassifyError(missing), wa::CloudApiError::kUnauthorized);
  EXPECT_EQ(Send(wa::TextMessageBody("+79990001122", "x"), "wrong").error_code, 190);

  const wa::SendResult not_ours = Send(wa::TextMessageBody("+79990001122", "x"), "other-token");
  EXPECT_EQ(not_ours.http_status, 400);
  EXPECT_EQ(not_ours.error_code, 100);
  EXPECT_EQ(not_ours.error_subcode, 33);

  EXPECT_EQ(Send(wa::TextMessageBody("+79990001122", "x"), kWaToken, Url(kPhoneId, "latest")).error_code,
            2500);
  EXPECT_TRUE(api_->Sent("+79990001122").empty());
}

TEST_F(FakeCloudApiTest, RefusesWhatMetaRefuses) {
  const wa::SendResult bad_number = Send(absl::StatusOr<std::string>(
      R"({"messaging_product":"whatsapp","to":"0033612345678","type":"text","text":{"body":"x"}})"));
  EXPECT_EQ(bad_number.error_code, 100);
  EXPECT_EQ(wa::ClassifyError(bad_number), wa::CloudApiError::kInvalidRecipient);
  EXPECT_EQ(Send(absl::StatusOr<std::string>(R"({"to":"79990001122","type":"text","text":{"body":"x"}})"))
                .error_message,
            "(#100) The parameter messaging_product is required.");
  EXPECT_EQ(Send(absl::StatusOr<std::string>(
                     R"({"messaging_product":"whatsapp","to":"79990001122","type":"text"})"))
                .error_message,
            "(#100) The parameter text['body'] is required.");
  EXPECT_EQ(Send(absl::StatusOr<std::string>(
                     R"({"messaging_product":"whatsapp","to":"79990001122","type":"template",)"
                     R"("template":{"name":"t"}})"))
                .error_message,
            "(#100) The parameter template['language']['code'] is required.");
  EXPECT_EQ(Send(absl::StatusOr<std::string>("not json")).error_code, 100);
}

TEST_F(FakeCloudApiTest, ScriptedErrorsAsTheSenderSeesThem) {
  struct Case {
    wa::Fault fault;
    int status;
    int64_t code;
    wa::CloudApiError want;
    const char* label;
  };
  const Case cases[] = {
      {wa::Fault::RateLimited(), 400, 130429, wa::CloudApiError::kRateLimited, "rate_limited"},
      {wa::Fault::PairRateLimited(), 400, 131056, wa::CloudApiError::kRateLimited, "pair_rate_limited"},
      {wa::Fault::Undeliverable(), 400, 131026, wa::CloudApiError::kUndeliverable, "undeliverable"},
      {wa::Fault::Reengagement(), 400, 131047, wa::CloudApiError::kReengagementRequired, "reengagement"},
      {wa::Fault::ServerError(500), 500, 131000, wa::CloudApiError::kServerError, "server_error"},
      {wa::Fault::ServerError(503), 503, 131016, wa::CloudApiError::kServerError, "server_error"},
      {wa::Fault::ServerError(502), 502, 0, wa::CloudApiError::kServerError, "server_error"},
  };
  for (const Case& c : cases) {
    api_->Script({"+79990001122", 1, c.fault});
    const wa::SendResult r = Send(wa::TextMessageBody("+79990001122", "x"));
    EXPECT_FALSE(r.ok) << c.label;
    EXPECT_EQ(r.http_status, c.status) << c.label;
    EXPECT_EQ(r.error_code, c.code) << c.label;
    EXPECT_EQ(wa::ClassifyError(r), c.want) << c.label;
    EXPECT_EQ(LastCall().fault, c.label);
    EXPECT_FALSE(LastCall().accepted);
  }
  // A rule for one recipient leaves the others alone.
  api_->Script({"79990009999", wa::kForever, wa::Fault::Undeliverable()});
  EXPECT_TRUE(Send(wa::TextMessageBody("+79990001122", "x")).ok);
  EXPECT_EQ(Send(wa::TextMessageBody("+79990009999", "x")).error_code, 131026);
  EXPECT_EQ(Send(wa::TextMessageBody("+79990009999", "x")).error_code, 131026);
  EXPECT_EQ(api_->Sent("+79990001122").size(), 1u);
}

TEST_F(FakeCloudApiTest, BlockedRecipient) {
  api_->BlockRecipient("+79990001122");
  EXPECT_EQ(wa::ClassifyError(Send(wa::TextMessageBody("79990001122", "x"))),
            wa::CloudApiError::kUndeliverable);
  api_->UnblockRecipient("79990001122");
  EXPECT_TRUE(Send(wa::TextMessageBody("+79990001122", "x")).ok);
}

TEST_F(FakeCloudApiTest, MalformedDropAndSlow) {
  api_->Script({"", 1, wa::Fault::MalformedBody()});
  absl::StatusOr<http::ClientResponse> response = Post(wa::TextMessageBody("+79990001122", "a"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(wa::ParseSendResponse(response->status, response->body).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(LastCall().accepted);

  api_->Script({"", 1, wa::Fault::DropBeforeAccept()});
  EXPECT_EQ(Post(wa::TextMessageBody("+79990001122", "b")).status().code(), absl::StatusCode::kUnavailable);
  wa::FakeCloudApi::Call call = LastCall();
  EXPECT_FALSE(call.accepted);
  EXPECT_FALSE(call.answered);
  EXPECT_EQ(call.status, 0);

  api_->Script({"", 1, wa::Fault::DropAfterAccept()});
  EXPECT_EQ(Post(wa::TextMessageBody("+79990001122", "c")).status().code(), absl::StatusCode::kUnavailable);
  call = LastCall();
  EXPECT_TRUE(call.accepted);
  EXPECT_FALSE(call.answered);
  EXPECT_EQ(call.message_id, "wamid.2");

  api_->Script({"", 1, wa::Fault::Slow(absl::Milliseconds(800))});
  EXPECT_EQ(Post(wa::TextMessageBody("+79990001122", "d"), kWaToken, milliseconds(200)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  call = LastCall();
  EXPECT_EQ(call.fault, "slow");
  EXPECT_TRUE(call.accepted);
  EXPECT_FALSE(call.answered);

  std::vector<std::string> texts;
  for (const auto& sent : api_->Sent("+79990001122")) texts.push_back(sent.text);
  EXPECT_EQ(texts, (std::vector<std::string>{"a", "c", "d"}));
}

}  // namespace
}  // namespace protectogram::providers
