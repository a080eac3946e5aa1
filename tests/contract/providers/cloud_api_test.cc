// WhatsApp Cloud API, outbound: the exact bodies we send (shapes of WhatsApp/WhatsApp-Nodejs-SDK
// src/api/messages.ts), and Graph answers (Meta's error codes table) read and classified.
#include "libs/providers/whatsapp/cloud_api.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace protectogram::providers::whatsapp {
namespace {

std::string ErrorOf(const absl::StatusOr<std::string>& body) {
  EXPECT_EQ(body.status().code(), absl::StatusCode::kInvalidArgument) << body.status();
  return std::string(body.status().message());
}

SendResult MustParse(int status, std::string_view body, std::string_view retry_after = {}) {
  absl::StatusOr<SendResult> r = ParseSendResponse(status, body, retry_after);
  EXPECT_TRUE(r.ok()) << r.status() << "\n" << body;
  return r.ok() ? *r : SendResult();
}

std::string GraphError(int64_t code, std::string_view message) {
  return R"({"error":{"message":")" + std::string(message) + R"(","type":"OAuthException","code":)" +
         std::to_string(code) +
         R"(,"error_data":{"messaging_product":"whatsapp","details":"d"},"fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam"}})";
}

TEST(CloudApiRequestTest, MessagesUrl) {
  EXPECT_EQ(MessagesUrl(kDefaultBaseUrl, kDefaultApiVersion, "106540352242922"),
            "https://graph.facebook.com/v25.0/106540352242922/messages");
  EXPECT_EQ(MessagesUrl("http://127.0.0.1:9000/", "/v21.0/", "42"),
            "http://127.0.0.1:9000/v21.0/42/messages");
  // A base URL that already names the version (WHATSAPP_API_BASE_URL's shape).
  EXPECT_EQ(MessagesUrl("https://graph.facebook.com/v19.0", "", "42"),
            "https://graph.facebook.com/v19.0/42/messages");
}

TEST(CloudApiRequestTest, TextMessage) {
  EXPECT_EQ(
      *TextMessageBody("+79990001122", "Тревога: Ivan нажал Panic"),
      R"({"messaging_product":"whatsapp","recipient_type":"individual","to":"+79990001122","type":"text",)"
      R"("text":{"body":"Тревога: Ivan нажал Panic"}})");
  EXPECT_EQ(
      *TextMessageBody("16505551234", "see https://x.example", true),
      R"({"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"text",)"
      R"("text":{"body":"see https://x.example","preview_url":true}})");
}

TEST(CloudApiRequestTest, RecipientMustBeAnInternationalNumber) {
  const std::string refused =
      "to must be an international phone number: optional +, 7-15 digits, no leading 0";
  EXPECT_TRUE(TextMessageBody("1234567", "x").ok());
  EXPECT_TRUE(TextMessageBody("+123456789012345", "x").ok());
  EXPECT_EQ(ErrorOf(TextMessageBody("", "x")), refused);
  EXPECT_EQ(ErrorOf(TextMessageBody("123456", "x")), refused);             // 6 digits
  EXPECT_EQ(ErrorOf(TextMessageBody("+1234567890123456", "x")), refused);  // 16 digits
  EXPECT_EQ(ErrorOf(TextMessageBody("0033612345678", "x")), refused);      // 00 prefix, refused by Meta too
  EXPECT_EQ(ErrorOf(TextMessageBody("+7 999 000 11 22", "x")), refused);
  EXPECT_EQ(ErrorOf(TextMessageBody("whatsapp:+79990001122", "x")), refused);
}

TEST(CloudApiRequestTest, TextLengthAtAndOverTheLimit) {
  EXPECT_TRUE(TextMessageBody("+79990001122", std::string(4096, 'a')).ok());
  EXPECT_EQ(ErrorOf(TextMessageBody("+79990001122", std::string(4097, 'a'))),
            "body is 4097 UTF-16 code units (at most 4096)");
  std::string emoji;
  for (int i = 0; i < 2049; ++i) emoji += "😀";
  EXPECT_EQ(ErrorOf(TextMessageBody("+79990001122", emoji)), "body is 4098 UTF-16 code units (at most 4096)");
  EXPECT_EQ(ErrorOf(TextMessageBody("+79990001122", "")), "body is empty");
  EXPECT_EQ(ErrorOf(TextMessageBody("+79990001122", "\xe2\x82")), "body is not valid UTF-8");
}

TEST(CloudApiRequestTest, TemplateMessage) {
  EXPECT_EQ(
      *TemplateMessageBody("+79990001122", "panic_alert", "ru", {"Ivan", "+7999****567"}),
      R"({"messaging_product":"whatsapp","recipient_type":"individual","to":"+79990001122","type":"template",)"
      R"("template":{"name":"panic_alert","language":{"code":"ru"},"components":[{"type":"body","parameters":)"
      R"([{"type":"text","text":"Ivan"},{"type":"text","text":"+7999****567"}]}]}})");
  EXPECT_EQ(
      *TemplateMessageBody("79990001122", "hello_world", "en_US"),
      R"({"messaging_product":"whatsapp","recipient_type":"individual","to":"79990001122","type":"template",)"
      R"("template":{"name":"hello_world","language":{"code":"en_US"}}})");
  EXPECT_EQ(ErrorOf(TemplateMessageBody("+79990001122", "Panic-Alert", "ru")),
            "template name must be 1-512 of a-z 0-9 _");
  EXPECT_EQ(ErrorOf(TemplateMessageBody("+79990001122", "", "ru")),
            "template name must be 1-512 of a-z 0-9 _");
  EXPECT_TRUE(TemplateMessageBody("+79990001122", std::string(512, 'a'), "ru").ok());
  EXPECT_EQ(ErrorOf(TemplateMessageBody("+79990001122", std::string(513, 'a'), "ru")),
            "template name must be 1-512 of a-z 0-9 _");
  EXPECT_EQ(ErrorOf(TemplateMessageBody("+79990001122", "t", "ru-RU")),
            "language code must be letters and _ (\"ru\", \"en_US\")");
  EXPECT_EQ(ErrorOf(TemplateMessageBody("+79990001122", "t", "ru", {"a", ""})), "parameter 2 is empty");
  EXPECT_EQ(ErrorOf(TemplateMessageBody("+79990001122", "t", "ru", {"\xff"})),
            "parameter 1 is not valid UTF-8");
  EXPECT_EQ(ErrorOf(TemplateMessageBody("12", "t", "ru")),
            "to must be an international phone number: optional +, 7-15 digits, no leading 0");
}

TEST(CloudApiResponseTest, Sent) {
  const SendResult r =
      MustParse(200, R"({"messaging_product":"whatsapp","contacts":[{"input":"+16505551234",)"
                     R"("wa_id":"16505551234"}],"messages":[{"id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3"}]})");
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.message_id, "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3");
  EXPECT_EQ(r.wa_id, "16505551234");
  EXPECT_EQ(r.error_code, 0);
  EXPECT_EQ(ClassifyError(r), CloudApiError::kNone);
  EXPECT_EQ(ErrorLabel(ClassifyError(r)), "ok");
}

TEST(CloudApiResponseTest, GraphErrorFields) {
  const SendResult r = MustParse(
      400,
      R"({"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,)"
      R"("error_data":{"messaging_product":"whatsapp","details":"Message failed to send because there were too )"
      R"(many messages sent from this phone number in a short period of time"},"error_subcode":2494055,)"
      R"("fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam"}})");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.http_status, 400);
  EXPECT_EQ(r.error_code, 130429);
  EXPECT_EQ(r.error_subcode, 2494055);
  EXPECT_EQ(r.error_type, "OAuthException");
  EXPECT_EQ(r.error_message, "(#130429) Rate limit hit");
  EXPECT_EQ(
      r.error_details,
      "Message failed to send because there were too many messages sent from this phone number in a short "
      "period of time");
  EXPECT_EQ(r.fbtrace_id, "Az8or2yhqkZfEZ-_4Qn_Bam");
  EXPECT_FALSE(r.retry_after.has_value());
  EXPECT_EQ(ClassifyError(r), CloudApiError::kRateLimited);
}

TEST(CloudApiResponseTest, EveryErrorClass) {
  struct Case {
    int status;
    int64_t code;
    CloudApiError want;
    const char* label;
  };
  const Case cases[] = {
      {400, 130429, CloudApiError::kRateLimited, "rate_limited"},
      {400, 80007, CloudApiError::kRateLimited, "rate_limited"},
      {429, 4, CloudApiError::kRateLimited, "rate_limited"},
      {400, 131056, CloudApiError::kRateLimited, "rate_limited"},
      {429, 999999, CloudApiError::kRateLimited, "rate_limited"},
      {400, 131026, CloudApiError::kUndeliverable, "undeliverable"},
      {400, 131047, CloudApiError::kReengagementRequired, "reengagement_required"},
      {401, 190, CloudApiError::kUnauthorized, "unauthorized"},
      {401, 0, CloudApiError::kUnauthorized, "unauthorized"},
      {403, 10, CloudApiError::kUnauthorized, "unauthorized"},
      {403, 200, CloudApiError::kUnauthorized, "unauthorized"},
      {400, 131030, CloudApiError::kInvalidRecipient, "invalid_recipient"},
      {400, 100, CloudApiError::kInvalidRecipient, "invalid_recipient"},
      {400, 132001, CloudApiError::kBadRequest, "bad_request"},
      {404, 132001, CloudApiError::kBadRequest, "bad_request"},
      {500, 131000, CloudApiError::kServerError, "server_error"},
      {503, 131016, CloudApiError::kServerError, "server_error"},
      {400, 1, CloudApiError::kServerError, "server_error"},
      {503, 2, CloudApiError::kServerError, "server_error"},
      {502, 12345, CloudApiError::kServerError, "server_error"},
      {200, 12345, CloudApiError::kOther, "other"},
  };
  for (const Case& c : cases) {
    const SendResult r = MustParse(c.status, GraphError(c.code, "(#x) title"));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error_code, c.code);
    EXPECT_EQ(ClassifyError(r), c.want) << c.status << " " << c.code;
    EXPECT_EQ(ErrorLabel(ClassifyError(r)), c.label) << c.status << " " << c.code;
  }
}

TEST(CloudApiResponseTest, RetryAfterHeader) {
  EXPECT_EQ(MustParse(429, GraphError(4, "(#4) Application request limit reached"), "30").retry_after,
            absl::Seconds(30));
  EXPECT_EQ(MustParse(429, GraphError(4, "t"), " 5 ").retry_after, absl::Seconds(5));
  EXPECT_FALSE(MustParse(429, GraphError(4, "t"), "Wed, 21 Oct 2026 07:28:00 GMT").retry_after.has_value());
  EXPECT_FALSE(MustParse(429, GraphError(4, "t"), "-1").retry_after.has_value());
}

TEST(CloudApiResponseTest, GatewayPageIsAServerFailure) {
  const SendResult r = MustParse(502, "<html><body>Bad Gateway</body></html>");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_code, 0);
  EXPECT_EQ(ClassifyError(r), CloudApiError::kServerError);
  EXPECT_EQ(ClassifyError(MustParse(504, "{}")), CloudApiError::kServerError);
}

TEST(CloudApiResponseTest, MalformedAnswersAreInvalidArgument) {
  auto error = [](int status, std::string_view body) {
    absl::StatusOr<SendResult> r = ParseSendResponse(status, body);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << body;
    return std::string(r.status().message());
  };
  EXPECT_EQ(error(200, R"({"messaging_product":"whatsapp","contacts":[{"input":)"), "malformed JSON");
  EXPECT_EQ(error(200, "<html></html>"), "malformed JSON");
  EXPECT_EQ(error(200, R"(["wamid.1"])"), "Graph answer must be a JSON object");
  EXPECT_EQ(error(200, R"({"messaging_product":"whatsapp"})"), "messages[0].id is required");
  EXPECT_EQ(error(200, R"({"messages":[]})"), "messages[0].id is required");
  EXPECT_EQ(error(200, R"({"messages":[{"id":""}]})"), "messages[0].id is required");
  EXPECT_EQ(error(200, R"({"messages":[{"id":7}]})"), "messages[0].id must be a string");
  EXPECT_EQ(error(200, R"({"messages":["wamid.1"]})"), "messages[0] must be an object");
  EXPECT_EQ(error(400, R"({"error":{"message":"x","code":"100"}})"), "error.code must be an integer");
  EXPECT_EQ(error(400, R"({"error":{"message":"x"}})"), "error.code is required");
  EXPECT_EQ(error(400, R"({"error":"bad"})"), "error must be an object");
  EXPECT_EQ(error(400, R"({"messages":[{"id":"wamid.1"}]})"), "HTTP 400 without a Graph error");
}

TEST(CloudApiResponseTest, LabelsAreDistinct) {
  const CloudApiError all[] = {CloudApiError::kNone,          CloudApiError::kRateLimited,
                               CloudApiError::kUndeliverable, CloudApiError::kReengagementRequired,
                               CloudApiError::kUnauthorized,  CloudApiError::kInvalidRecipient,
                               CloudApiError::kBadRequest,    CloudApiError::kServerError,
                               CloudApiError::kOther};
  std::set<std::string_view> labels;
  for (CloudApiError e : all) labels.insert(ErrorLabel(e));
  EXPECT_EQ(labels.size(), std::size(all));
}

}  // namespace
}  // namespace protectogram::providers::whatsapp
