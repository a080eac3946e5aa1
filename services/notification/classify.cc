#include "services/notification/classify.h"

#include <string>

#include "libs/jobs/retry.h"

namespace protectogram::notification {
namespace {

namespace tg = providers::telegram;
namespace wa = providers::whatsapp;

constexpr absl::Duration kDefaultRetryAfter = absl::Seconds(1);

absl::Status Labeled(absl::Status status, std::string_view reason) {
  return jobs::WithFailureReason(std::move(status), reason);
}

}  // namespace

absl::Status TelegramOutcome(const tg::ApiResult& result) {
  const tg::BotApiError error = tg::ClassifyError(result);
  const std::string_view reason = tg::ErrorLabel(error);
  const std::string text = "telegram " + std::to_string(result.error_code) + ": " + result.description;
  switch (error) {
    case tg::BotApiError::kNone:
    case tg::BotApiError::kNotModified:
      return absl::OkStatus();
    case tg::BotApiError::kRateLimited:
      return Labeled(jobs::Throttled(absl::ResourceExhaustedError(text),
                                     result.retry_after.value_or(kDefaultRetryAfter)),
                     reason);
    case tg::BotApiError::kBlocked:
      return Labeled(jobs::Permanent(absl::PermissionDeniedError(text)), reason);
    case tg::BotApiError::kChatNotFound:
    case tg::BotApiError::kMessageNotFound:
      return Labeled(jobs::Permanent(absl::NotFoundError(text)), reason);
    case tg::BotApiError::kChatMigrated:
    case tg::BotApiError::kBadRequest:
      return Labeled(jobs::Permanent(absl::FailedPreconditionError(text)), reason);
    case tg::BotApiError::kUnauthorized:
    case tg::BotApiError::kServerError:
    case tg::BotApiError::kOther:
      return Labeled(absl::UnavailableError(text), reason);
  }
  return Labeled(absl::UnavailableError(text), "other");
}

absl::Status WhatsAppOutcome(const wa::SendResult& result) {
  const wa::CloudApiError error = wa::ClassifyError(result);
  const std::string_view reason = wa::ErrorLabel(error);
  const std::string text = "whatsapp " + std::to_string(result.http_status) + " (" +
                           std::to_string(result.error_code) + "): " + result.error_message;
  switch (error) {
    case wa::CloudApiError::kNone:
      return absl::OkStatus();
    case wa::CloudApiError::kRateLimited:
      return Labeled(jobs::Throttled(absl::ResourceExhaustedError(text),
                                     result.retry_after.value_or(kDefaultRetryAfter)),
                     reason);
    case wa::CloudApiError::kUndeliverable:
    case wa::CloudApiError::kReengagementRequired:
    case wa::CloudApiError::kInvalidRecipient:
    case wa::CloudApiError::kBadRequest:
      return Labeled(jobs::Permanent(absl::FailedPreconditionError(text)), reason);
    case wa::CloudApiError::kUnauthorized:
    case wa::CloudApiError::kServerError:
    case wa::CloudApiError::kOther:
      return Labeled(absl::UnavailableError(text), reason);
  }
  return Labeled(absl::UnavailableError(text), "other");
}

absl::Status TransportOutcome(const absl::Status& error) {
  const std::string text = std::string(error.message());
  switch (error.code()) {
    case absl::StatusCode::kOk:
      return absl::OkStatus();
    case absl::StatusCode::kUnavailable:
      return Labeled(absl::UnavailableError(text), "unreachable");
    case absl::StatusCode::kDeadlineExceeded:
      return Labeled(absl::DeadlineExceededError(text), "timeout");
    default:
      // A malformed answer (INVALID_ARGUMENT from the parsers, INTERNAL from the client), an oversized one:
      // never permanent, since the provider may be fine on the next try.
      return Labeled(absl::UnavailableError("bad answer: " + text), "bad_response");
  }
}

}  // namespace protectogram::notification
