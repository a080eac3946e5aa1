#include "services/notification/classify.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "libs/jobs/retry.h"

namespace protectogram::notification {
namespace {

namespace tg = providers::telegram;
namespace wa = providers::whatsapp;

using ::testing::HasSubstr;

// What the relay reads off an outcome.
struct Decision {
  bool ok = false;
  bool throttled = false;
  bool permanent = false;
  std::optional<absl::Duration> retry_after;
  std::string reason;
};

Decision Read(const absl::Status& s) {
  return {s.ok(), jobs::IsThrottled(s), jobs::IsPermanentError(s), jobs::RetryAfterOf(s),
          jobs::FailureReasonOf(s)};
}

void ExpectOk(const absl::Status& s) {
  EXPECT_TRUE(s.ok()) << s;
  const Decision d = Read(s);
  EXPECT_FALSE(d.throttled);
  EXPECT_FALSE(d.permanent);
  EXPECT_EQ(d.retry_after, std::nullopt);
  EXPECT_EQ(d.reason, "");
}

void ExpectThrottled(const absl::Status& s, absl::Duration after, std::string_view reason) {
  const Decision d = Read(s);
  EXPECT_FALSE(d.ok);
  EXPECT_TRUE(d.throttled) << s;
  EXPECT_FALSE(d.permanent) << s;
  EXPECT_EQ(d.retry_after, after) << s;
  EXPECT_EQ(d.reason, reason) << s;
}

void ExpectPermanent(const absl::Status& s, std::string_view reason) {
  const Decision d = Read(s);
  EXPECT_FALSE(d.ok);
  EXPECT_TRUE(d.permanent) << s;
  EXPECT_FALSE(d.throttled) << s;
  EXPECT_EQ(d.retry_after, std::nullopt) << s;
  EXPECT_EQ(d.reason, reason) << s;
}

void ExpectRetried(const absl::Status& s, std::string_view reason) {
  const Decision d = Read(s);
  EXPECT_FALSE(d.ok);
  EXPECT_FALSE(d.permanent) << s;
  EXPECT_FALSE(d.throttled) << s;
  EXPECT_EQ(d.retry_after, std::nullopt) << s;
  EXPECT_EQ(d.reason, reason) << s;
}

// --- Telegram ---

tg::ApiResult TgOk() { return {.http_status = 200, .ok = true, .result_json = R"({"message_id":5})"}; }

tg::ApiResult TgError(int code, std::string description) {
  return {.http_status = code, .ok = false, .error_code = code, .description = std::move(description)};
}

TEST(TelegramOutcomeTest, OkIsDone) { ExpectOk(TelegramOutcome(TgOk())); }

TEST(TelegramOutcomeTest, NotModifiedIsDone) {
  ExpectOk(TelegramOutcome(TgError(
      400,
      "Bad Request: message is not modified: specified new message content and reply markup are exactly the "
      "same as a current content and reply markup of the message")));
  // The description is matched case-insensitively.
  ExpectOk(TelegramOutcome(TgError(400, "BAD REQUEST: MESSAGE IS NOT MODIFIED")));
}

TEST(TelegramOutcomeTest, TooManyRequestsWaitsRetryAfter) {
  tg::ApiResult r = TgError(429, "Too Many Requests: retry after 7");
  r.retry_after = absl::Seconds(7);
  const absl::Status s = TelegramOutcome(r);
  ExpectThrottled(s, absl::Seconds(7), "rate_limited");
  EXPECT_THAT(std::string(s.message()), HasSubstr("telegram 429: Too Many Requests"));
}

TEST(TelegramOutcomeTest, TooManyRequestsWithoutRetryAfterWaitsOneSecond) {
  ExpectThrottled(TelegramOutcome(TgError(429, "Too Many Requests")), absl::Seconds(1), "rate_limited");
}

TEST(TelegramOutcomeTest, AnyAnswerWithRetryAfterIsThrottled) {
  tg::ApiResult r = TgError(400, "Bad Request: flood");
  r.retry_after = absl::Seconds(3);
  ExpectThrottled(TelegramOutcome(r), absl::Seconds(3), "rate_limited");
}

TEST(TelegramOutcomeTest, BlockedOrDeactivatedIsPermanent) {
  ExpectPermanent(TelegramOutcome(TgError(403, "Forbidden: bot was blocked by the user")), "blocked");
  ExpectPermanent(TelegramOutcome(TgError(403, "Forbidden: user is deactivated")), "blocked");
  ExpectPermanent(TelegramOutcome(TgError(403, "Forbidden: bot was kicked from the group chat")), "blocked");
}

TEST(TelegramOutcomeTest, ChatNotFoundIsPermanent) {
  ExpectPermanent(TelegramOutcome(TgError(400, "Bad Request: chat not found")), "chat_not_found");
}

TEST(TelegramOutcomeTest, MessageToEditNotFoundIsPermanent) {
  ExpectPermanent(TelegramOutcome(TgError(400, "Bad Request: message to edit not found")),
                  "message_not_found");
}

TEST(TelegramOutcomeTest, MigratedChatIsPermanent) {
  tg::ApiResult r = TgError(400, "Bad Request: group chat was upgraded to a supergroup chat");
  r.migrate_to_chat_id = "-1001234567890";
  ExpectPermanent(TelegramOutcome(r), "chat_migrated");
}

TEST(TelegramOutcomeTest, OtherBadRequestIsPermanent) {
  ExpectPermanent(TelegramOutcome(TgError(400, "Bad Request: message text is empty")), "bad_request");
}

TEST(TelegramOutcomeTest, UnauthorizedIsRetried) {
  ExpectRetried(TelegramOutcome(TgError(401, "Unauthorized")), "unauthorized");
}

TEST(TelegramOutcomeTest, ServerErrorsAreRetried) {
  ExpectRetried(TelegramOutcome(TgError(500, "Internal Server Error")), "server_error");
  ExpectRetried(TelegramOutcome(TgError(502, "HTTP 502 without a Bot API answer")), "server_error");
  ExpectRetried(TelegramOutcome(TgError(599, "")), "server_error");
}

TEST(TelegramOutcomeTest, OtherErrorsAreRetried) {
  ExpectRetried(TelegramOutcome(TgError(404, "Not Found")), "other");
  ExpectRetried(TelegramOutcome(TgError(409, "Conflict")), "other");
}

// --- WhatsApp ---

wa::SendResult WaOk() {
  return {.http_status = 200, .ok = true, .message_id = "wamid.HBgL", .wa_id = "4915112345678"};
}

wa::SendResult WaError(int http_status, int64_t code, std::string message = "error") {
  return {.http_status = http_status, .ok = false, .error_code = code, .error_message = std::move(message)};
}

TEST(WhatsAppOutcomeTest, OkIsDone) { ExpectOk(WhatsAppOutcome(WaOk())); }

TEST(WhatsAppOutcomeTest, RateLimitedWaitsRetryAfter) {
  wa::SendResult r = WaError(400, 130429, "(#130429) Rate limit hit");
  r.retry_after = absl::Seconds(7);
  const absl::Status s = WhatsAppOutcome(r);
  ExpectThrottled(s, absl::Seconds(7), "rate_limited");
  EXPECT_THAT(std::string(s.message()), HasSubstr("whatsapp 400 (130429): (#130429) Rate limit hit"));
}

TEST(WhatsAppOutcomeTest, RateLimitedWithoutRetryAfterWaitsOneSecond) {
  const std::pair<int, int64_t> kRows[] = {{400, 130429}, {400, 80007}, {429, 4}, {400, 131056}, {429, 0}};
  for (const auto& [status, code] : kRows) {
    SCOPED_TRACE(testing::Message() << status << " " << code);
    ExpectThrottled(WhatsAppOutcome(WaError(status, code)), absl::Seconds(1), "rate_limited");
  }
}

TEST(WhatsAppOutcomeTest, UndeliverableIsPermanent) {
  ExpectPermanent(WhatsAppOutcome(WaError(400, 131026, "(#131026) Message undeliverable")), "undeliverable");
}

TEST(WhatsAppOutcomeTest, ReengagementRequiredIsPermanent) {
  ExpectPermanent(WhatsAppOutcome(WaError(400, 131047, "(#131047) Re-engagement message")),
                  "reengagement_required");
}

TEST(WhatsAppOutcomeTest, InvalidRecipientIsPermanent) {
  ExpectPermanent(WhatsAppOutcome(WaError(400, 131030)), "invalid_recipient");
  ExpectPermanent(WhatsAppOutcome(WaError(400, 100, "(#100) Invalid parameter")), "invalid_recipient");
}

TEST(WhatsAppOutcomeTest, OtherClientErrorIsPermanent) {
  ExpectPermanent(WhatsAppOutcome(WaError(400, 132000)), "bad_request");
  ExpectPermanent(WhatsAppOutcome(WaError(404, 0)), "bad_request");
}

TEST(WhatsAppOutcomeTest, AuthErrorsAreRetried) {
  ExpectRetried(WhatsAppOutcome(WaError(401, 190, "Error validating access token")), "unauthorized");
  ExpectRetried(WhatsAppOutcome(WaError(403, 10)), "unauthorized");
  ExpectRetried(WhatsAppOutcome(WaError(403, 200)), "unauthorized");
  ExpectRetried(WhatsAppOutcome(WaError(401, 0)), "unauthorized");
}

TEST(WhatsAppOutcomeTest, ServerErrorsAreRetried) {
  ExpectRetried(WhatsAppOutcome(WaError(500, 131000)), "server_error");
  ExpectRetried(WhatsAppOutcome(WaError(503, 131016)), "server_error");
  ExpectRetried(WhatsAppOutcome(WaError(500, 1)), "server_error");
  ExpectRetried(WhatsAppOutcome(WaError(500, 2)), "server_error");
  ExpectRetried(WhatsAppOutcome(WaError(502, 0)), "server_error");
}

TEST(WhatsAppOutcomeTest, OtherErrorsAreRetried) {
  ExpectRetried(WhatsAppOutcome(WaError(200, 12345)), "other");
}

// --- transport ---

TEST(TransportOutcomeTest, OkIsOk) { ExpectOk(TransportOutcome(absl::OkStatus())); }

TEST(TransportOutcomeTest, UnavailableIsRetriedAsUnreachable) {
  const absl::Status s = TransportOutcome(absl::UnavailableError("connection refused"));
  ExpectRetried(s, "unreachable");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), HasSubstr("connection refused"));
}

TEST(TransportOutcomeTest, DeadlineExceededIsRetriedAsTimeout) {
  const absl::Status s = TransportOutcome(absl::DeadlineExceededError("request deadline"));
  ExpectRetried(s, "timeout");
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(TransportOutcomeTest, MalformedOrOversizedAnswersAreRetriedNotPermanent) {
  for (const absl::Status& error :
       {absl::InvalidArgumentError("malformed JSON"), absl::InternalError("short read"),
        absl::ResourceExhaustedError("answer over 1 MiB"), absl::NotFoundError("?"),
        absl::OutOfRangeError("?")}) {
    SCOPED_TRACE(error.ToString());
    const absl::Status s = TransportOutcome(error);
    ExpectRetried(s, "bad_response");
    EXPECT_THAT(std::string(s.message()), HasSubstr(std::string(error.message())));
  }
}

}  // namespace
}  // namespace protectogram::notification
