// Telegram contract: the registry, the secret token and every update kind, on literal bodies shaped per
// core.telegram.org/bots/api#update, #message and #callbackquery.
#include "libs/providers/telegram/telegram.h"

#include <gtest/gtest.h>

#include "libs/providers/common/error.h"

namespace protectogram::providers::telegram {
namespace {

using common::v1::ChatEvent;

constexpr char kTextUpdate[] =
    R"({"update_id":815000001,"message":{"message_id":1,"from":{"id":123456789,)"
    R"("is_bot":false,"first_name":"Ivan","username":"ivan_p","language_code":"ru"},)"
    R"("chat":{"id":123456789,"first_name":"Ivan","type":"private"},"date":1700000000,)"
    R"("text":"/start link_ab12","entities":[{"offset":0,"length":6,"type":"bot_command"}]}})";

constexpr char kCallbackUpdate[] =
    R"({"update_id":815000002,"callback_query":{"id":"530345267123456789","from":{"id":123456789,"is_bot":false,)"
    R"("first_name":"Ivan"},"message":{"message_id":42,"from":{"id":987654321,"is_bot":true,"first_name":"AlertBot",)"
    R"("username":"alert_bot"},"chat":{"id":123456789,"type":"private","first_name":"Ivan"},"date":1700000050,)"
    R"("text":"ALERT #77: disk full","reply_markup":{"inline_keyboard":[[{"text":"Ack","callback_data":"ack:77"},)"
    R"({"text":"Escalate","callback_data":"esc:77"}]]}},"chat_instance":"-6734158872345678901","data":"ack:77"}})";

ChatEvent MustParse(std::string_view body, std::string_view bot = "main") {
  absl::StatusOr<ChatEvent> e = ParseUpdate(bot, body);
  EXPECT_TRUE(e.ok()) << e.status() << "\n" << body;
  return e.ok() ? *e : ChatEvent();
}

// --- registry and secret ---

TEST(TelegramRegistryTest, DefaultAndNumberedBots) {
  absl::StatusOr<BotRegistry> registry = BotRegistry::FromEnv({
      {"TELEGRAM_BOT_TOKEN", "111:AAA"},
      {"TELEGRAM_WEBHOOK_SECRET", "main-secret_1"},
      {"TG_TOKEN_OPS", "222:BBB"},
      {"TG_WEBHOOK_SECRET_OPS", "ops-secret"},
      {"TG_TOKEN_Support2", "333:CCC"},
      {"TG_WEBHOOK_SECRET_Support2", "support-secret"},
      {"TG_TOKEN_EMPTY", ""},  // empty counts as unset
      {"UNRELATED", "x"},
  });
  ASSERT_TRUE(registry.ok()) << registry.status();
  ASSERT_EQ(registry->bots().size(), 3u);
  EXPECT_EQ(registry->bots()[0].id, "main");
  EXPECT_EQ(registry->bots()[1].id, "ops");
  EXPECT_EQ(registry->bots()[2].id, "support2");
  ASSERT_NE(registry->Find("ops"), nullptr);
  EXPECT_EQ(registry->Find("ops")->token, "222:BBB");
  EXPECT_EQ(registry->Find("main")->webhook_secret, "main-secret_1");
  EXPECT_EQ(registry->Find("OPS"), nullptr);
  EXPECT_TRUE(BotRegistry::FromEnv({})->bots().empty());
}

TEST(TelegramRegistryTest, RefusesIncompleteOrBadConfig) {
  auto message = [](std::map<std::string, std::string> env) {
    absl::StatusOr<BotRegistry> r = BotRegistry::FromEnv(env);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(r.status().message());
  };
  EXPECT_EQ(message({{"TELEGRAM_BOT_TOKEN", "t"}}),
            "TELEGRAM_WEBHOOK_SECRET is required with TELEGRAM_BOT_TOKEN");
  EXPECT_EQ(message({{"TG_TOKEN_OPS", "t"}}), "TG_WEBHOOK_SECRET_OPS is required with TG_TOKEN_OPS");
  EXPECT_EQ(message({{"TG_WEBHOOK_SECRET_OPS", "s"}}),
            "TG_WEBHOOK_SECRET_OPS is set but bot \"ops\" has no token");
  EXPECT_EQ(message({{"TELEGRAM_BOT_TOKEN", "t"}, {"TELEGRAM_WEBHOOK_SECRET", "has space"}}),
            "TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -");
  EXPECT_EQ(message({{"TG_TOKEN_OPS", "t"}, {"TG_WEBHOOK_SECRET_OPS", std::string(257, 'a')}}),
            "TG_WEBHOOK_SECRET_OPS must be 1-256 characters of A-Z a-z 0-9 _ -");
  EXPECT_EQ(message({{"TG_TOKEN_", "t"}}), "TG_TOKEN_: the bot id after the prefix must be A-Z a-z 0-9 _ -");
  EXPECT_EQ(message({{"TG_TOKEN_A.B", "t"}}),
            "TG_TOKEN_A.B: the bot id after the prefix must be A-Z a-z 0-9 _ -");
  EXPECT_EQ(message({{"TELEGRAM_BOT_TOKEN", "t"}, {"TG_TOKEN_MAIN", "u"}}),
            "TG_TOKEN_MAIN and TELEGRAM_BOT_TOKEN both configure Telegram bot \"main\"");
}

TEST(TelegramSecretTest, SecretTokenRules) {
  EXPECT_TRUE(IsValidSecretToken("a"));
  EXPECT_TRUE(IsValidSecretToken("AZaz09_-"));
  EXPECT_TRUE(IsValidSecretToken(std::string(256, 'x')));
  EXPECT_FALSE(IsValidSecretToken(""));
  EXPECT_FALSE(IsValidSecretToken(std::string(257, 'x')));
  EXPECT_FALSE(IsValidSecretToken("a b"));
  EXPECT_FALSE(IsValidSecretToken("a=b"));
  EXPECT_FALSE(IsValidSecretToken("секрет"));
}

TEST(TelegramSecretTest, GoodBadAndMissingSecret) {
  BotRegistry registry = *BotRegistry::FromEnv({{"TELEGRAM_BOT_TOKEN", "111:AAA"},
                                                {"TELEGRAM_WEBHOOK_SECRET", "main-secret"},
                                                {"TG_TOKEN_OPS", "222:BBB"},
                                                {"TG_WEBHOOK_SECRET_OPS", "ops-secret"}});
  EXPECT_TRUE(registry.Authenticate("main", "main-secret").ok());
  EXPECT_TRUE(registry.Authenticate("ops", "ops-secret").ok());

  absl::Status bad = registry.Authenticate("main", "main-secreT");
  EXPECT_EQ(bad.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(bad.message(), "bad secret token");
  // Another bot's secret is not this bot's secret.
  EXPECT_EQ(registry.Authenticate("main", "ops-secret").code(), absl::StatusCode::kPermissionDenied);

  absl::Status missing = registry.Authenticate("ops", "");
  EXPECT_EQ(missing.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(missing.message(), "missing secret token");

  EXPECT_EQ(registry.Authenticate("nope", "main-secret").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(VerifySecretToken("", "anything").code(), absl::StatusCode::kPermissionDenied);

  // Each with its reason (libs/providers/common/error.h).
  EXPECT_EQ(ProviderErrorOf(bad), ProviderError::kBadSignature);
  EXPECT_EQ(ProviderErrorOf(missing), ProviderError::kMissingSignature);
  EXPECT_EQ(ProviderErrorOf(registry.Authenticate("nope", "main-secret")), ProviderError::kUnknownBot);
  EXPECT_EQ(ProviderErrorOf(VerifySecretToken("", "anything")), ProviderError::kBadSignature);
}

// --- update_id ---

TEST(TelegramUpdateIdTest, ExtractsTopLevelUpdateId) {
  EXPECT_EQ(*ExtractUpdateId(kTextUpdate), 815000001);
  EXPECT_EQ(*ExtractUpdateId(kCallbackUpdate), 815000002);
  EXPECT_EQ(*ExtractUpdateId(R"({"message":{"update_id":5},"update_id":7})"), 7);
  EXPECT_EQ(*ExtractUpdateId(R"( {"update_id":0} )"), 0);
  // A repeated key: the last one counts, as in the parsed document.
  EXPECT_EQ(*ExtractUpdateId(R"({"update_id":1,"update_id":2})"), 2);
  EXPECT_EQ(MustParse(R"({"update_id":1,"update_id":2})").provider_event_id(), "main:2");
  // The key may be written with escapes.
  EXPECT_EQ(*ExtractUpdateId(R"({"update\u005fid":9})"), 9);
}

TEST(TelegramUpdateIdTest, RefusesMissingOrMalformed) {
  for (const char* bad :
       {"", "{", "[]", "1", R"("update_id")", R"({"update_id":1}x)", R"({"message":{}})",
        R"({"update_id":"1"})", R"({"update_id":1.5})", R"({"update_id":-1})", R"({"update_id":null})",
        R"({"update_id":{}})", R"({"update_id":18446744073709551615})", R"({"message":{"update_id":5}})",
        "{\"update_id\":1,\"x\":\"\xff\"}"}) {
    absl::StatusOr<int64_t> id = ExtractUpdateId(bad);
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(ParseUpdate("main", bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(ProviderErrorOf(id.status()).has_value()) << bad;
    // Both agree on the reason too.
    EXPECT_EQ(ProviderErrorOf(ParseUpdate("main", bad).status()), ProviderErrorOf(id.status())) << bad;
  }
}

TEST(TelegramUpdateIdTest, AMissingUpdateIdHasItsOwnReason) {
  // Absent (or null): the event id is missing. Of the wrong type, negative, or not JSON: malformed.
  for (const char* missing :
       {R"({"message":{}})", R"({"update_id":null})", R"({"message":{"update_id":5}})"}) {
    EXPECT_EQ(ProviderErrorOf(ExtractUpdateId(missing).status()), ProviderError::kMissingId) << missing;
    EXPECT_EQ(ProviderErrorOf(ParseUpdate("main", missing).status()), ProviderError::kMissingId) << missing;
    EXPECT_EQ(ExtractUpdateId(missing).status().message(), "update_id is required") << missing;
  }
  for (const char* malformed : {R"({"update_id":"1"})", R"({"update_id":-1})", "{", "[]"}) {
    EXPECT_EQ(ProviderErrorOf(ExtractUpdateId(malformed).status()), ProviderError::kMalformed) << malformed;
    EXPECT_EQ(ProviderErrorOf(ParseUpdate("main", malformed).status()), ProviderError::kMalformed)
        << malformed;
  }
}

// --- update kinds ---

TEST(TelegramParseTest, TextMessageWithBotCommand) {
  ChatEvent e = MustParse(kTextUpdate);
  EXPECT_EQ(e.provider(), common::v1::PROVIDER_TELEGRAM);
  EXPECT_EQ(e.bot_id(), "main");
  EXPECT_EQ(e.provider_event_id(), "main:815000001");
  EXPECT_EQ(e.provider_event_type(), "message");
  EXPECT_EQ(e.chat_id(), "123456789");
  EXPECT_EQ(e.from().id(), "123456789");
  EXPECT_EQ(e.from().first_name(), "Ivan");
  EXPECT_EQ(e.from().username(), "ivan_p");
  EXPECT_EQ(e.from().language_code(), "ru");
  EXPECT_EQ(e.sent_at().seconds(), 1700000000);
  ASSERT_TRUE(e.has_text());
  EXPECT_EQ(e.text().text(), "/start link_ab12");
  EXPECT_EQ(e.text().message_id(), 1);
  EXPECT_FALSE(e.text().edited());
  EXPECT_EQ(e.text().command(), "start");
  EXPECT_EQ(e.text().command_args(), "link_ab12");
  EXPECT_TRUE(e.event_key().empty());  // the edge's to fill
}

TEST(TelegramParseTest, CommandForms) {
  auto parse_text = [](std::string_view text) {
    std::string body =
        std::string(R"({"update_id":1,"message":{"message_id":3,"chat":{"id":-1001234567890,)") +
        R"("type":"supergroup"},"date":1700000000,"text":")" + std::string(text) + "\"}}";
    return MustParse(body, "ops").text();
  };
  EXPECT_EQ(parse_text("/start@alert_bot  abc def ").command(), "start");
  EXPECT_EQ(parse_text("/start@alert_bot  abc def ").command_args(), "abc def");
  EXPECT_EQ(parse_text("/cancel").command(), "cancel");
  EXPECT_EQ(parse_text("/cancel").command_args(), "");
  EXPECT_EQ(parse_text("hello /start").command(), "");
  EXPECT_EQ(parse_text("/ start").command(), "");
  EXPECT_EQ(parse_text("/привет").command(), "");
  EXPECT_EQ(
      MustParse(R"({"update_id":1,"message":{"message_id":3,"chat":{"id":-1001234567890},"text":"hi"}})",
                "ops")
          .chat_id(),
      "-1001234567890");
}

TEST(TelegramParseTest, EditedMessage) {
  ChatEvent e = MustParse(R"({"update_id":815000003,"edited_message":{"message_id":7,"from":{"id":123456789,)"
                          R"("is_bot":false,"first_name":"Ivan"},"chat":{"id":123456789,"type":"private"},)"
                          R"("date":1700000000,"edit_date":1700000100,"text":"fixed typo"}})");
  EXPECT_EQ(e.provider_event_type(), "edited_message");
  ASSERT_TRUE(e.has_text());
  EXPECT_TRUE(e.text().edited());
  EXPECT_EQ(e.text().text(), "fixed typo");
  EXPECT_EQ(e.text().message_id(), 7);
  // An edited caption carries no body: nothing to act on.
  ChatEvent caption = MustParse(R"({"update_id":3,"edited_message":{"message_id":8,"chat":{"id":1},"date":1,)"
                                R"("photo":[{"file_id":"x","width":1,"height":1}],"caption":"new"}})");
  EXPECT_EQ(caption.body_case(), ChatEvent::BODY_NOT_SET);
}

TEST(TelegramParseTest, CallbackQuery) {
  ChatEvent e = MustParse(kCallbackUpdate, "ops");
  EXPECT_EQ(e.provider_event_id(), "ops:815000002");
  EXPECT_EQ(e.provider_event_type(), "callback_query");
  EXPECT_EQ(e.chat_id(), "123456789");
  EXPECT_EQ(e.from().id(), "123456789");  // the presser, not the bot that sent the message
  ASSERT_TRUE(e.has_button());
  EXPECT_EQ(e.button().callback_id(), "530345267123456789");
  EXPECT_EQ(e.button().data(), "ack:77");
  EXPECT_EQ(e.button().message_id(), 42);
  EXPECT_EQ(e.button().text(), "Ack");
}

TEST(TelegramParseTest, CallbackQueryOnInlineMessageHasNoChat) {
  ChatEvent e = MustParse(R"({"update_id":5,"callback_query":{"id":"77","from":{"id":1,"first_name":"A"},)"
                          R"("inline_message_id":"AAAA","chat_instance":"1","data":"x"}})");
  ASSERT_TRUE(e.has_button());
  EXPECT_EQ(e.chat_id(), "");
  EXPECT_EQ(e.button().data(), "x");
  EXPECT_EQ(e.button().message_id(), 0);
}

TEST(TelegramParseTest, Contact) {
  ChatEvent e = MustParse(R"({"update_id":815000004,"message":{"message_id":9,"from":{"id":123456789,)"
                          R"("is_bot":false,"first_name":"Ivan"},"chat":{"id":123456789,"type":"private"},)"
                          R"("date":1700000000,"contact":{"phone_number":"+79991234567","first_name":"Ivan",)"
                          R"("user_id":123456789}}})");
  ASSERT_TRUE(e.has_contact());
  EXPECT_EQ(e.contact().phone_number(), "+79991234567");
  EXPECT_EQ(e.contact().user_id(), "123456789");
  EXPECT_EQ(e.contact().first_name(), "Ivan");
  EXPECT_EQ(e.from().id(), e.contact().user_id());  // the sender's own contact

  // A forwarded contact card has another (or no) user_id: the parser reports it, the bot refuses it.
  ChatEvent card = MustParse(R"({"update_id":6,"message":{"message_id":9,"from":{"id":1},"chat":{"id":1},)"
                             R"("date":1,"contact":{"phone_number":"79990000000","first_name":"X"}}})");
  EXPECT_EQ(card.contact().user_id(), "");
}

TEST(TelegramParseTest, NonTextKinds) {
  const std::pair<const char*, const char*> kBodies[] = {
      {"voice", R"("voice":{"file_id":"v","file_unique_id":"u","duration":2})"},
      {"sticker", R"("sticker":{"file_id":"s","width":512,"height":512,"is_animated":false})"},
      {"photo", R"("photo":[{"file_id":"p","width":90,"height":90}],"caption":"look")"},
      {"document", R"("document":{"file_id":"d","file_name":"a.pdf"})"},
      {"video", R"("video":{"file_id":"v","width":1,"height":1,"duration":1})"},
      {"audio", R"("audio":{"file_id":"a","duration":1})"},
      {"location", R"("location":{"latitude":55.75,"longitude":37.61})"},
      {"animation", R"("animation":{"file_id":"g"},"document":{"file_id":"g"})"},
  };
  for (const auto& [kind, field] : kBodies) {
    std::string body = std::string(R"({"update_id":10,"message":{"message_id":11,"from":{"id":5},)") +
                       R"("chat":{"id":5,"type":"private"},"date":1700000000,)" + field + "}}";
    ChatEvent e = MustParse(body);
    ASSERT_TRUE(e.has_non_text()) << kind;
    EXPECT_EQ(e.non_text().kind(), kind);
    EXPECT_EQ(e.chat_id(), "5");
  }
}

TEST(TelegramParseTest, UnsupportedKindsParseWithoutBody) {
  ChatEvent member = MustParse(
      R"({"update_id":815000005,"my_chat_member":{"chat":{"id":123456789,"type":"private"},"from":{"id":123456789,)"
      R"("first_name":"Ivan"},"date":1700000000,"old_chat_member":{"status":"member"},)"
      R"("new_chat_member":{"status":"kicked"}}})");
  EXPECT_EQ(member.provider_event_id(), "main:815000005");
  EXPECT_EQ(member.provider_event_type(), "my_chat_member");
  EXPECT_EQ(member.body_case(), ChatEvent::BODY_NOT_SET);
  EXPECT_EQ(member.chat_id(), "123456789");
  EXPECT_EQ(member.from().id(), "123456789");

  ChatEvent post =
      MustParse(R"({"update_id":6,"channel_post":{"message_id":1,"chat":{"id":-1001,"type":"channel"},)"
                R"("date":1,"text":"news"}})");
  EXPECT_EQ(post.provider_event_type(), "channel_post");
  EXPECT_EQ(post.body_case(), ChatEvent::BODY_NOT_SET);
  EXPECT_EQ(post.chat_id(), "-1001");

  ChatEvent bare = MustParse(R"({"update_id":7})");
  EXPECT_EQ(bare.provider_event_type(), "");
  EXPECT_EQ(bare.body_case(), ChatEvent::BODY_NOT_SET);

  ChatEvent service = MustParse(R"({"update_id":8,"message":{"message_id":1,"chat":{"id":-5},"date":1,)"
                                R"("new_chat_members":[{"id":9,"is_bot":false,"first_name":"N"}]}})");
  EXPECT_EQ(service.provider_event_type(), "message");
  EXPECT_EQ(service.body_case(), ChatEvent::BODY_NOT_SET);
}

TEST(TelegramParseTest, MalformedFieldsAreInvalidArgument) {
  const std::pair<const char*, const char*> kCases[] = {
      {R"({"update_id":1,"message":{"chat":{"id":1},"text":"x"}})", "message.message_id is required"},
      {R"({"update_id":1,"message":{"message_id":1,"text":"x"}})", "message.chat.id is required"},
      {R"({"update_id":1,"message":{"message_id":1,"chat":{"id":true},"text":"x"}})",
       "message.chat.id must be an integer or a string"},
      {R"({"update_id":1,"message":{"message_id":1,"chat":{"id":1},"text":5}})",
       "message.text must be a string"},
      {R"({"update_id":1,"message":"hello"})", "message must be an object"},
      {R"({"update_id":1,"callback_query":{"data":"x"}})", "callback_query.id is required"},
      {R"({"update_id":1,"callback_query":{"id":7}})", "callback_query.id must be a string"},
      {R"({"update_id":1,"message":{"message_id":1,"chat":{"id":1},"contact":{"user_id":1}}})",
       "message.contact.phone_number is required"},
      {R"({"update_id":"1"})", "update_id must be an integer"},
      {R"({"update_id":1,)", "malformed JSON"},
      {R"([{"update_id":1}])", "update must be a JSON object"},
  };
  for (const auto& [body, reason] : kCases) {
    absl::StatusOr<ChatEvent> e = ParseUpdate("main", body);
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_EQ(e.status().message(), reason) << body;
    // Only the update's own id is the event id: a missing chat or callback id is malformed.
    EXPECT_EQ(ProviderErrorOf(e.status()), ProviderError::kMalformed) << body;
  }
}

// --- the reasons themselves (libs/providers/common/error.h, shared by every provider) ---

TEST(ProviderErrorTest, RoundTripsOnTheStatusAndKeepsItsCodeAndMessage) {
  for (ProviderError reason :
       {ProviderError::kMissingSignature, ProviderError::kBadSignature, ProviderError::kMalformedSignature,
        ProviderError::kReplay, ProviderError::kBadKey, ProviderError::kUnknownBot,
        ProviderError::kBadVerifyToken, ProviderError::kMalformed, ProviderError::kMissingId}) {
    absl::Status s = WithProviderError(absl::PermissionDeniedError("why"), reason);
    EXPECT_EQ(ProviderErrorOf(s), reason) << ProviderErrorLabel(reason);
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(s.message(), "why");
  }
  EXPECT_EQ(ProviderErrorLabel(ProviderError::kMissingId), "missing_id");
  EXPECT_EQ(ProviderErrorOf(absl::InvalidArgumentError("plain")), std::nullopt);
  EXPECT_EQ(ProviderErrorOf(absl::OkStatus()), std::nullopt);
  EXPECT_TRUE(WithProviderError(absl::OkStatus(), ProviderError::kMalformed).ok());
  // Another reason replaces it; IfNone keeps the one there.
  absl::Status missing = WithProviderError(absl::InvalidArgumentError("id"), ProviderError::kMissingId);
  EXPECT_EQ(ProviderErrorOf(WithProviderErrorIfNone(missing, ProviderError::kMalformed)),
            ProviderError::kMissingId);
  EXPECT_EQ(ProviderErrorOf(WithProviderError(missing, ProviderError::kMalformed)),
            ProviderError::kMalformed);
  EXPECT_EQ(
      ProviderErrorOf(WithProviderErrorIfNone(absl::InvalidArgumentError("x"), ProviderError::kMalformed)),
      ProviderError::kMalformed);
}

}  // namespace
}  // namespace protectogram::providers::telegram
