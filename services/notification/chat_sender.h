// ChatSender: one provider API call on behalf of a delivery, answered as the outbox relay needs it (retry.h):
// OK with what the provider said, or a status that says what to do — Throttled (wait, not an attempt),
// Permanent (dead at once), anything else retried — each carrying a low-cardinality failure reason for
// outbox_failed_total. The HTTP implementations speak the Telegram Bot API and the WhatsApp Cloud API
// (libs/providers/*/bot_api.h, cloud_api.h); the fake beside them answers from a script, for tests of the
// service logic that need no network.
//
// What an answer means (classify.h): an answer that does not show whether the provider accepted a message
// (a timeout or a dropped connection after the request was sent, a malformed body) is retried: the Bot API
// and the Cloud API have no idempotency key, and a rare duplicate is better than a lost alert.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/http/client.h"

namespace protectogram::notification {

struct ProviderReply {
  std::string message_id;   // the provider's id of a sent or edited message ("" when the call has none)
  std::string result_json;  // the provider's result, as JSON
};

class ChatSender {
 public:
  virtual ~ChatSender() = default;
  // `method`: a Bot API method ("sendMessage", "editMessageText", "answerCallbackQuery", "getMe", ...), or
  // "messages" for the Cloud API. `body_json`: the request body.
  virtual absl::StatusOr<ProviderReply> Call(std::string_view method, std::string_view body_json) = 0;
};

// One Telegram bot: POST <base_url>/bot<token>/<method>.
class TelegramHttpSender final : public ChatSender {
 public:
  TelegramHttpSender(http::Client& client, std::string base_url, std::string token, absl::Duration timeout)
      : client_(client), base_url_(std::move(base_url)), token_(std::move(token)), timeout_(timeout) {}
  absl::StatusOr<ProviderReply> Call(std::string_view method, std::string_view body_json) override;

 private:
  http::Client& client_;
  const std::string base_url_;
  const std::string token_;
  const absl::Duration timeout_;
};

// One WhatsApp business number: POST <base_url>/<version>/<phone_number_id>/messages with the bearer token.
class WhatsAppHttpSender final : public ChatSender {
 public:
  WhatsAppHttpSender(http::Client& client, std::string base_url, std::string version,
                     std::string phone_number_id, std::string token, absl::Duration timeout);
  absl::StatusOr<ProviderReply> Call(std::string_view method, std::string_view body_json) override;

 private:
  http::Client& client_;
  const std::string url_;
  const std::string token_;
  const absl::Duration timeout_;
};

// Answers from a script; records every call. Thread-safe.
class FakeChatSender final : public ChatSender {
 public:
  struct Recorded {
    std::string method;
    std::string body_json;
  };
  // Answers in order; when the script is empty: OK with message ids 1, 2, 3, ...
  void Script(absl::StatusOr<ProviderReply> answer);
  std::vector<Recorded> calls() const;

  absl::StatusOr<ProviderReply> Call(std::string_view method, std::string_view body_json) override;

 private:
  mutable absl::Mutex mu_;
  std::deque<absl::StatusOr<ProviderReply>> script_ ABSL_GUARDED_BY(mu_);
  std::vector<Recorded> calls_ ABSL_GUARDED_BY(mu_);
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace protectogram::notification
