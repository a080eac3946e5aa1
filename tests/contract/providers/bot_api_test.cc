// Telegram Bot API, outbound: the exact bodies we send, the keyboard limits at and over each boundary, and
// every answer shape Telegram gives (core.telegram.org/bots/api#making-requests; tdlib/telegram-bot-api
// Client.cpp's error texts) read and classified.
#include "libs/providers/telegram/bot_api.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace protectogram::providers::telegram {
namespace {

std::string Repeat(std::string_view s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out.append(s);
  return out;
}

std::string ErrorOf(const absl::StatusOr<std::string>& body) {
  EXPECT_EQ(body.status().code(), absl::StatusCode::kInvalidArgument) << body.status();
  return std::string(body.status().message());
}

std::string ErrorOf(const absl::Status& status) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  return std::string(status.message());
}

InlineKeyboard Grid(size_t rows, size_t per_row) {
  InlineKeyboard keyboard(rows);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t b = 0; b < per_row; ++b) keyboard[r].push_back({"b", "d"});
  }
  return keyboard;
}

ApiResult MustParse(int status, std::string_view body) {
  absl::StatusOr<ApiResult> result = ParseResponse(status, body);
  EXPECT_TRUE(result.ok()) << result.status() << "\n" << body;
  return result.ok() ? *result : ApiResult();
}

// --- requests ---

TEST(BotApiRequestTest, MethodUrl) {
  EXPECT_EQ(MethodUrl("https://api.telegram.org", "123:AAbb", "sendMessage"),
            "https://api.telegram.org/bot123:AAbb/sendMessage");
  EXPECT_EQ(MethodUrl("http://127.0.0.1:8081/", "1:x", "getMe"), "http://127.0.0.1:8081/bot1:x/getMe");
}

TEST(BotApiRequestTest, SendMessagePlain) {
  EXPECT_EQ(*SendMessageBody("123456789", "Тревога: Ivan нажал Panic"),
            R"({"chat_id":123456789,"text":"Тревога: Ivan нажал Panic"})");
  EXPECT_EQ(*SendMessageBody("42", "quiet", {}, /*disable_notification=*/true),
            R"({"chat_id":42,"text":"quiet","disable_notification":true})");
  // Escaping is JSON's: quotes, backslashes, newlines.
  EXPECT_EQ(*SendMessageBody("1", "a \"b\"\\\nc"), R"({"chat_id":1,"text":"a \"b\"\\\nc"})");
}

TEST(BotApiRequestTest, ChatIdIsAnIntegerOnlyWhenItIsOne) {
  EXPECT_EQ(*SendMessageBody("-1001234567890", "x"), R"({"chat_id":-1001234567890,"text":"x"})");
  EXPECT_EQ(*SendMessageBody("0", "x"), R"({"chat_id":0,"text":"x"})");
  EXPECT_EQ(*SendMessageBody("9223372036854775807", "x"), R"({"chat_id":9223372036854775807,"text":"x"})");
  EXPECT_EQ(*SendMessageBody("@alerts_channel", "x"), R"({"chat_id":"@alerts_channel","text":"x"})");
  EXPECT_EQ(*SendMessageBody("007", "x"), R"({"chat_id":"007","text":"x"})");
  EXPECT_EQ(*SendMessageBody("-0", "x"), R"({"chat_id":"-0","text":"x"})");
  EXPECT_EQ(*SendMessageBody("+1", "x"), R"({"chat_id":"+1","text":"x"})");
  EXPECT_EQ(*SendMessageBody("9223372036854775808", "x"), R"({"chat_id":"9223372036854775808","text":"x"})");
  EXPECT_EQ(ErrorOf(SendMessageBody("", "x")), "chat_id is required");
}

TEST(BotApiRequestTest, SendMessageWithEachMarkup) {
  InlineKeyboard inline_keyboard = {{{"Беру", "ack:77"}, {"Не могу", "decline:77"}},
                                    {{"Позвонить", "call:77"}}};
  EXPECT_EQ(
      *SendMessageBody("123", "ALERT", inline_keyboard),
      R"({"chat_id":123,"text":"ALERT","reply_markup":{"inline_keyboard":[[{"text":"Беру","callback_data":"ack:77"},)"
      R"({"text":"Не могу","callback_data":"decline:77"}],[{"text":"Позвонить","callback_data":"call:77"}]]}})");

  ReplyKeyboard share{{{{"Поделиться номером", true}}, {{"Отмена", false}}}, true, true};
  EXPECT_EQ(
      *SendMessageBody("123", "Номер?", share),
      R"({"chat_id":123,"text":"Номер?","reply_markup":{"keyboard":[[{"text":"Поделиться номером",)"
      R"("request_contact":true}],[{"text":"Отмена"}]],"resize_keyboard":true,"one_time_keyboard":true}})");

  ReplyKeyboard defaults{{{{"A"}}}};
  EXPECT_EQ(*SendMessageBody("1", "k", defaults),
            R"({"chat_id":1,"text":"k","reply_markup":{"keyboard":[[{"text":"A"}]],"resize_keyboard":true,)"
            R"("one_time_keyboard":false}})");

  EXPECT_EQ(
      *SendMessageBody("123", "bye", RemoveKeyboard{}, true),
      R"({"chat_id":123,"text":"bye","reply_markup":{"remove_keyboard":true},"disable_notification":true})");
}

TEST(BotApiRequestTest, TextLengthIsCountedInUtf16CodeUnits) {
  EXPECT_EQ(Utf16Length(""), 0u);
  EXPECT_EQ(Utf16Length("abc"), 3u);
  EXPECT_EQ(Utf16Length("я"), 1u);  // 2 bytes, 1 unit
  EXPECT_EQ(Utf16Length("€"), 1u);  // 3 bytes, 1 unit
  EXPECT_EQ(Utf16Length("😀"), 2u);  // 4 bytes, a surrogate pair
  EXPECT_EQ(Utf16Length("a😀я"), 4u);

  EXPECT_TRUE(SendMessageBody("1", std::string(4096, 'a')).ok());
  EXPECT_EQ(ErrorOf(SendMessageBody("1", std::string(4097, 'a'))),
            "text is 4097 UTF-16 code units (at most 4096)");
  EXPECT_TRUE(SendMessageBody("1", Repeat("я", 4096)).ok());  // 8192 bytes, 4096 units
  EXPECT_TRUE(SendMessageBody("1", Repeat("😀", 2048)).ok());
  EXPECT_EQ(ErrorOf(SendMessageBody("1", Repeat("😀", 2048) + "a")),
            "text is 4097 UTF-16 code units (at most 4096)");
  EXPECT_EQ(ErrorOf(SendMessageBody("1", "")), "text is empty");
  EXPECT_EQ(ErrorOf(SendMessageBody("1", "bad \xff byte")), "text is not valid UTF-8");
}

TEST(BotApiKeyboardTest, ButtonsPerRowAtAndOverTheLimit) {
  EXPECT_TRUE(ValidateInlineKeyboard(Grid(1, 8)).ok());
  EXPECT_EQ(ErrorOf(ValidateInlineKeyboard(Grid(1, 9))), "inline keyboard: row 1 has 9 buttons (at most 8)");
  InlineKeyboard second_row_too_wide = Grid(2, 1);
  second_row_too_wide[1] = Grid(1, 9)[0];
  EXPECT_EQ(ErrorOf(ValidateInlineKeyboard(second_row_too_wide)),
            "inline keyboard: row 2 has 9 buttons (at most 8)");
  // The builders refuse what the validator refuses.
  EXPECT_EQ(ErrorOf(SendMessageBody("1", "x", Grid(1, 9))),
            "inline keyboard: row 1 has 9 buttons (at most 8)");
}

TEST(BotApiKeyboardTest, ButtonsInAllAtAndOverTheLimit) {
  InlineKeyboard hundred = Grid(12, 8);  // 96
  hundred.push_back(Grid(1, 4)[0]);      // 100
  EXPECT_TRUE(ValidateInlineKeyboard(hundred).ok());
  InlineKeyboard hundred_and_one = hundred;
  hundred_and_one.push_back({{"b", "d"}});
  EXPECT_EQ(ErrorOf(ValidateInlineKeyboard(hundred_and_one)), "inline keyboard: 101 buttons (at most 100)");
  EXPECT_TRUE(ValidateInlineKeyboard(Grid(100, 1)).ok());
  EXPECT_EQ(ErrorOf(ValidateInlineKeyboard(Grid(101, 1))), "inline keyboard: 101 buttons (at most 100)");
}

TEST(BotApiKeyboardTest, CallbackDataBytesAtAndOverTheLimit) {
  EXPECT_TRUE(ValidateInlineKeyboard({{{"ok", std::string(64, 'x')}}}).ok());
  EXPECT_EQ(ErrorOf(ValidateInlineKeyboard({{{"ok", std::string(65, 'x')}}})),
            "inline keyboard: row 1 button 1: callback_data is 65 bytes (at most 64)");
  // Bytes, not characters: 32 Cyrillic letters are 64 bytes, 33 are 66.
  EXPECT_TRUE(ValidateInlineKeyboard({{{"ok", Repeat("я", 32)}}}).ok());
  EXPECT_EQ(ErrorOf(ValidateInlineKeyboard({{{"a", "1"}, {"b", "2"}, {"c", Repeat("я", 33)}}})),
            "inline keyboard: row 1 button 3: callback_data is 66 bytes (at most 64)");
  EXPECT_EQ(ErrorOf(ValidateInlineKeyboard({{{"ok", ""}}})),
            "inline keyboard: row 1 button 1: callback_data is empty");
  EXPECT_EQ(ErrorOf(ValidateInlineKeyboard({{{"ok", "\xc3"}}})),
            "inline keyboard: row 1 button 1: callback_data is not valid UTF-8");
}

TEST(BotApiKeyboardTest, ShapeAndText) {
  EXPECT_EQ(ErrorOf(ValidateInlineKeyboard({})), "inline keyboard has no buttons");
  EXPECT_EQ(ErrorOf(ValidateInlineKeyboard({{{"a", "1"}}, {}})), "inline keyboard: row 2 is empty");
  EXPECT_EQ(ErrorOf(ValidateInlineKeyboard({{{"a", "1"}}, {{"", "2"}}})),
            "inline keyboard: row 2 button 1: text is empty");
  EXPECT_EQ(ErrorOf(ValidateInlineKeyboard({{{"\xff", "1"}}})),
            "inline keyboard: row 1 button 1: text is not valid UTF-8");

  EXPECT_TRUE(ValidateReplyKeyboard({{{{"a"}, {"b"}, {"c"}, {"d"}, {"e"}, {"f"}, {"g"}, {"h"}}}}).ok());
  EXPECT_EQ(
      ErrorOf(ValidateReplyKeyboard({{{{"a"}, {"b"}, {"c"}, {"d"}, {"e"}, {"f"}, {"g"}, {"h"}, {"i"}}}})),
      "reply keyboard: row 1 has 9 buttons (at most 8)");
  EXPECT_EQ(ErrorOf(ValidateReplyKeyboard({})), "reply keyboard has no buttons");
  EXPECT_EQ(ErrorOf(ValidateReplyKeyboard({{{{""}}}})), "reply keyboard: row 1 button 1: text is empty");
  EXPECT_EQ(ErrorOf(SendMessageBody("1", "x", ReplyKeyboard{})), "reply keyboard has no buttons");
  EXPECT_EQ(ErrorOf(SendMessageBody("1", "x", InlineKeyboard{})), "inline keyboard has no buttons");
}

TEST(BotApiRequestTest, Edits) {
  EXPECT_EQ(*EditMessageTextBody("123", 42, "Взял Пётр"),
            R"({"chat_id":123,"message_id":42,"text":"Взял Пётр"})");
  EXPECT_EQ(
      *EditMessageTextBody("-100777", 7, "t", InlineKeyboard{{{"Отмена", "cancel:7"}}}),
      R"({"chat_id":-100777,"message_id":7,"text":"t","reply_markup":{"inline_keyboard":[[{"text":"Отмена",)"
      R"("callback_data":"cancel:7"}]]}})");
  EXPECT_EQ(*EditMessageReplyMarkupBody("123", 42), R"({"chat_id":123,"message_id":42})");
  EXPECT_EQ(
      *EditMessageReplyMarkupBody("@ch", 42, InlineKeyboard{{{"a", "b"}}}),
      R"({"chat_id":"@ch","message_id":42,"reply_markup":{"inline_keyboard":[[{"text":"a","callback_data":"b"}]]}})");

  EXPECT_EQ(ErrorOf(EditMessageTextBody("123", 0, "t")), "message_id must be positive");
  EXPECT_EQ(ErrorOf(EditMessageReplyMarkupBody("123", -5)), "message_id must be positive");
  EXPECT_EQ(ErrorOf(EditMessageTextBody("", 1, "t")), "chat_id is required");
  EXPECT_EQ(ErrorOf(EditMessageTextBody("1", 1, "")), "text is empty");
  EXPECT_EQ(ErrorOf(EditMessageTextBody("1", 1, std::string(4097, 'a'))),
            "text is 4097 UTF-16 code units (at most 4096)");
  EXPECT_EQ(ErrorOf(EditMessageReplyMarkupBody("1", 1, Grid(1, 9))),
            "inline keyboard: row 1 has 9 buttons (at most 8)");
}

TEST(BotApiRequestTest, AnswerCallbackQuery) {
  EXPECT_EQ(*AnswerCallbackQueryBody("530345267123456789"), R"({"callback_query_id":"530345267123456789"})");
  EXPECT_EQ(*AnswerCallbackQueryBody("q1", "Принято", true),
            R"({"callback_query_id":"q1","text":"Принято","show_alert":true})");
  EXPECT_TRUE(AnswerCallbackQueryBody("q", std::string(200, 'a')).ok());
  EXPECT_EQ(ErrorOf(AnswerCallbackQueryBody("q", std::string(201, 'a'))),
            "text is 201 UTF-16 code units (at most 200)");
  EXPECT_EQ(ErrorOf(AnswerCallbackQueryBody("")), "callback_query_id is required");
}

TEST(BotApiRequestTest, SetWebhook) {
  EXPECT_EQ(*SetWebhookBody("https://edge.example/webhook/main", "s3cr3t_-X"),
            R"({"url":"https://edge.example/webhook/main","secret_token":"s3cr3t_-X"})");
  EXPECT_EQ(
      *SetWebhookBody("https://e/x", "", true, std::vector<std::string>{"message", "callback_query"}),
      R"({"url":"https://e/x","drop_pending_updates":true,"allowed_updates":["message","callback_query"]})");
  EXPECT_EQ(*SetWebhookBody("https://e/x", "", false, std::vector<std::string>{}),
            R"({"url":"https://e/x","allowed_updates":[]})");
  EXPECT_EQ(ErrorOf(SetWebhookBody("", "s")), "url is required (deleteWebhook removes a webhook)");
  EXPECT_EQ(ErrorOf(SetWebhookBody("https://e/x", "has space")),
            "secret_token must be 1-256 characters of A-Z a-z 0-9 _ -");
  EXPECT_EQ(ErrorOf(SetWebhookBody("https://e/x", std::string(257, 'a'))),
            "secret_token must be 1-256 characters of A-Z a-z 0-9 _ -");
  EXPECT_TRUE(SetWebhookBody("https://e/x", std::string(256, 'a')).ok());
}

// --- answers ---

TEST(BotApiResponseTest, SentMessage) {
  const ApiResult r = MustParse(
      200,
      R"({"ok":true,"result":{"message_id":42,"from":{"id":987654321,"is_bot":true,"first_name":"AlertBot",)"
      R"("username":"alert_bot"},"chat":{"id":123456789,"type":"private"},"date":1700000050,"text":"ALERT"}})");
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.error_code, 0);
  EXPECT_EQ(ClassifyError(r), BotApiError::kNone);
  EXPECT_EQ(*MessageIdOf(r.result_json), 42);
  EXPECT_EQ(MessageIdOf("true").status().code(),
            absl::StatusCode::kInvalidArgument);  // an inline message edit
  EXPECT_EQ(MessageIdOf(R"({"chat":{}})").status().message(), "result.message_id is required");
  EXPECT_EQ(MustParse(200, R"({"ok":true,"result":true})").result_json, "true");
}

TEST(BotApiResponseTest, RateLimitedCarriesRetryAfter) {
  const ApiResult r = MustParse(
      429,
      R"({"ok":false,"error_code":429,"description":"Too Many Requests: retry after 35","parameters":{"retry_after":35}})");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_code, 429);
  ASSERT_TRUE(r.retry_after.has_value());
  EXPECT_EQ(*r.retry_after, absl::Seconds(35));
  EXPECT_EQ(ClassifyError(r), BotApiError::kRateLimited);
  EXPECT_EQ(ErrorLabel(ClassifyError(r)), "rate_limited");

  // Without parameters, the description says it (tdlib's own fallback).
  const ApiResult from_text =
      MustParse(429, R"({"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7"})");
  EXPECT_EQ(from_text.retry_after, absl::Seconds(7));
  const ApiResult none = MustParse(429, R"({"ok":false,"error_code":429,"description":"Too Many Requests"})");
  EXPECT_FALSE(none.retry_after.has_value());
  EXPECT_EQ(ClassifyError(none), BotApiError::kRateLimited);
}

TEST(BotApiResponseTest, EveryErrorClass) {
  struct Case {
    int status;
    const char* body;
    BotApiError want;
    const char* label;
  };
  const Case cases[] = {
      {403, R"({"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"})",
       BotApiError::kBlocked, "blocked"},
      {403, R"({"ok":false,"error_code":403,"description":"Forbidden: user is deactivated"})",
       BotApiError::kBlocked, "blocked"},
      {403, R"({"ok":false,"error_code":403,"description":"Forbidden: bot was kicked from the group chat"})",
       BotApiError::kBlocked, "blocked"},
      {400, R"({"ok":false,"error_code":400,"description":"Bad Request: chat not found"})",
       BotApiError::kChatNotFound, "chat_not_found"},
      {400,
       R"({"ok":false,"error_code":400,"description":"Bad Request: message is not modified: specified new message )"
       R"(content and reply markup are exactly the same as a current content and reply markup of the message"})",
       BotApiError::kNotModified, "not_modified"},
      {400, R"({"ok":false,"error_code":400,"description":"Bad Request: message to edit not found"})",
       BotApiError::kMessageNotFound, "message_not_found"},
      {400,
       R"({"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat",)"
       R"("parameters":{"migrate_to_chat_id":-1001234567890}})",
       BotApiError::kChatMigrated, "chat_migrated"},
      {400, R"({"ok":false,"error_code":400,"description":"Bad Request: message text is empty"})",
       BotApiError::kBadRequest, "bad_request"},
      {401, R"({"ok":false,"error_code":401,"description":"Unauthorized"})", BotApiError::kUnauthorized,
       "unauthorized"},
      {500, R"({"ok":false,"error_code":500,"description":"Internal Server Error"})",
       BotApiError::kServerError, "server_error"},
      {502, "<html><head><title>502 Bad Gateway</title></head></html>", BotApiError::kServerError,
       "server_error"},
      {404, R"({"ok":false,"error_code":404,"description":"Not Found: method not found"})",
       BotApiError::kOther, "other"},
      {409,
       R"({"ok":false,"error_code":409,"description":"Conflict: can't use getUpdates method while webhook is active"})",
       BotApiError::kOther, "other"},
  };
  for (const Case& c : cases) {
    const ApiResult r = MustParse(c.status, c.body);
    EXPECT_FALSE(r.ok) << c.body;
    EXPECT_EQ(ClassifyError(r), c.want) << c.body;
    EXPECT_EQ(ErrorLabel(ClassifyError(r)), c.label) << c.body;
  }
  const ApiResult migrated = MustParse(400, cases[6].body);
  EXPECT_EQ(migrated.migrate_to_chat_id, "-1001234567890");
  EXPECT_EQ(migrated.description, "Bad Request: group chat was upgraded to a supergroup chat");
}

TEST(BotApiResponseTest, GatewayPageIsAServerFailure) {
  const ApiResult r = MustParse(502, "<html>\r\n<head><title>502 Bad Gateway</title></head></html>");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_code, 502);
  EXPECT_EQ(r.description, "HTTP 502 without a Bot API answer");
  // A 5xx with JSON that is not a Bot API answer is the same.
  EXPECT_EQ(MustParse(503, R"({"status":"down"})").error_code, 503);
  // error_code absent: the HTTP status stands in.
  EXPECT_EQ(MustParse(500, R"({"ok":false,"description":"boom"})").error_code, 500);
}

TEST(BotApiResponseTest, MalformedAnswersAreInvalidArgument) {
  auto error = [](int status, std::string_view body) {
    absl::StatusOr<ApiResult> r = ParseResponse(status, body);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << body;
    return std::string(r.status().message());
  };
  EXPECT_EQ(error(200, R"({"ok":true,"result":{"message_id":)"), "malformed JSON");
  EXPECT_EQ(error(200, "<html>502</html>"), "malformed JSON");
  EXPECT_EQ(error(200, ""), "malformed JSON");
  EXPECT_EQ(error(200, "{\"ok\":true,\"result\":\"\xff\"}"), "malformed JSON");
  EXPECT_EQ(error(200, "[]"), "Bot API answer must be a JSON object");
  EXPECT_EQ(error(200, R"({"result":1})"), "ok is required");
  EXPECT_EQ(error(200, R"({"ok":"true","result":1})"), "ok must be a boolean");
  EXPECT_EQ(error(200, R"({"ok":true})"), "result is required");
  EXPECT_EQ(error(400, R"({"ok":false,"error_code":"400"})"), "error_code must be an integer");
  EXPECT_EQ(error(429, R"({"ok":false,"error_code":429,"parameters":{"retry_after":"5"}})"),
            "parameters.retry_after must be an integer");
  EXPECT_EQ(error(429, R"({"ok":false,"error_code":429,"parameters":{"retry_after":-1}})"),
            "parameters.retry_after must not be negative");
  EXPECT_EQ(error(400, "<html>400</html>"), "malformed JSON");
}

TEST(BotApiResponseTest, GetMeAndWebhookInfo) {
  EXPECT_EQ(*UsernameOf(R"({"id":987654321,"is_bot":true,"first_name":"AlertBot","username":"alert_bot"})"),
            "alert_bot");
  EXPECT_EQ(UsernameOf(R"({"id":1,"is_bot":true,"first_name":"x"})").status().message(),
            "result.username is required");

  absl::StatusOr<WebhookInfo> info = ParseWebhookInfo(
      R"({"url":"https://edge.example/webhook/main","has_custom_certificate":false,"pending_update_count":3,)"
      R"("last_error_date":1700000000,"last_error_message":"Wrong response from the webhook: 503 Service Unavailable",)"
      R"("max_connections":40})");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->url, "https://edge.example/webhook/main");
  EXPECT_EQ(info->pending_update_count, 3);
  EXPECT_EQ(info->last_error_message, "Wrong response from the webhook: 503 Service Unavailable");
  EXPECT_EQ(info->last_error_date, absl::FromUnixSeconds(1700000000));

  absl::StatusOr<WebhookInfo> none =
      ParseWebhookInfo(R"({"url":"","has_custom_certificate":false,"pending_update_count":0})");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->url, "");
  EXPECT_FALSE(none->last_error_date.has_value());
  EXPECT_EQ(ParseWebhookInfo(R"({"url":""})").status().message(), "result.pending_update_count is required");
}

TEST(BotApiResponseTest, LabelsAreDistinct) {
  const BotApiError all[] = {
      BotApiError::kNone,         BotApiError::kRateLimited, BotApiError::kBlocked,
      BotApiError::kChatNotFound, BotApiError::kNotModified, BotApiError::kMessageNotFound,
      BotApiError::kChatMigrated, BotApiError::kBadRequest,  BotApiError::kUnauthorized,
      BotApiError::kServerError,  BotApiError::kOther};
  std::set<std::string_view> labels;
  for (BotApiError e : all) labels.insert(ErrorLabel(e));
  EXPECT_EQ(labels.size(), std::size(all));
  EXPECT_EQ(ErrorLabel(BotApiError::kNone), "ok");
}

}  // namespace
}  // namespace protectogram::providers::telegram
