// What a provider's answer means for a delivery, as the outbox relay acts on it (retry.h). Pure functions.
//
//   Telegram (BotApiError)          status                                   reason label
//   ok, not modified                OK                                       -
//   429 retry_after N               Throttled(N s; 1 s without one)           rate_limited
//   403 blocked / deactivated       Permanent                                blocked
//   400 chat not found              Permanent                                chat_not_found
//   400 message to edit not found   Permanent                                message_not_found
//   400 migrated / other 400        Permanent                                chat_migrated / bad_request
//   401, 5xx, other                 retried                                  unauthorized / server_error / other
//   WhatsApp (CloudApiError)
//   rate limited (130429, 429)      Throttled(Retry-After; 1 s without one)  rate_limited
//   undeliverable, invalid, 4xx     Permanent                                undeliverable / invalid_recipient /
//                                                                            reengagement_required / bad_request
//   auth, server, other             retried                                  unauthorized / server_error / other
//   Transport (http::Client)
//   UNAVAILABLE                     retried                                  unreachable
//   DEADLINE_EXCEEDED               retried                                  timeout
//   a malformed or oversized answer retried                                  bad_response
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/providers/telegram/bot_api.h"
#include "libs/providers/whatsapp/cloud_api.h"

namespace protectogram::notification {

absl::Status TelegramOutcome(const providers::telegram::ApiResult& result);
absl::Status WhatsAppOutcome(const providers::whatsapp::SendResult& result);
// An error from http::Client::Do, or from parsing an answer (INVALID_ARGUMENT: malformed).
absl::Status TransportOutcome(const absl::Status& error);

}  // namespace protectogram::notification
