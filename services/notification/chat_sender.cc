#include "services/notification/chat_sender.h"

#include <chrono>

#include "services/notification/classify.h"

namespace protectogram::notification {
namespace {

namespace tg = providers::telegram;
namespace wa = providers::whatsapp;

std::chrono::milliseconds Millis(absl::Duration d) {
  return std::chrono::milliseconds(absl::ToInt64Milliseconds(d));
}

}  // namespace

absl::StatusOr<ProviderReply> TelegramHttpSender::Call(std::string_view method, std::string_view body_json) {
  http::ClientRequest request{.method = "POST",
                              .url = tg::MethodUrl(base_url_, token_, method),
                              .headers = {{"Content-Type", "application/json"}},
                              .body = std::string(body_json),
                              .timeout = Millis(timeout_)};
  absl::StatusOr<http::ClientResponse> response = client_.Do(request);
  if (!response.ok()) return TransportOutcome(response.status());
  absl::StatusOr<tg::ApiResult> result = tg::ParseResponse(response->status, response->body);
  if (!result.ok()) return TransportOutcome(result.status());
  if (absl::Status outcome = TelegramOutcome(*result); !outcome.ok()) return outcome;
  ProviderReply reply;
  reply.result_json = result->result_json;
  if (absl::StatusOr<int64_t> id = tg::MessageIdOf(result->result_json); id.ok()) {
    reply.message_id = std::to_string(*id);
  }
  return reply;
}

WhatsAppHttpSender::WhatsAppHttpSender(http::Client& client, std::string base_url, std::string version,
                                       std::string phone_number_id, std::string token, absl::Duration timeout)
    : client_(client),
      url_(wa::MessagesUrl(base_url, version, phone_number_id)),
      token_(std::move(token)),
      timeout_(timeout) {}

absl::StatusOr<ProviderReply> WhatsAppHttpSender::Call(std::string_view /*method*/,
                                                       std::string_view body_json) {
  http::ClientRequest request{
      .method = "POST",
      .url = url_,
      .headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token_}},
      .body = std::string(body_json),
      .timeout = Millis(timeout_)};
  absl::StatusOr<http::ClientResponse> response = client_.Do(request);
  if (!response.ok()) return TransportOutcome(response.status());
  absl::StatusOr<wa::SendResult> result =
      wa::ParseSendResponse(response->status, response->body, response->Header("retry-after"));
  if (!result.ok()) return TransportOutcome(result.status());
  if (absl::Status outcome = WhatsAppOutcome(*result); !outcome.ok()) return outcome;
  return ProviderReply{.message_id = result->message_id, .result_json = ""};
}

void FakeChatSender::Script(absl::StatusOr<ProviderReply> answer) {
  absl::MutexLock lock(&mu_);
  script_.push_back(std::move(answer));
}

std::vector<FakeChatSender::Recorded> FakeChatSender::calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

absl::StatusOr<ProviderReply> FakeChatSender::Call(std::string_view method, std::string_view body_json) {
  absl::MutexLock lock(&mu_);
  calls_.push_back({std::string(method), std::string(body_json)});
  if (!script_.empty()) {
    absl::StatusOr<ProviderReply> answer = std::move(script_.front());
    script_.pop_front();
    return answer;
  }
  return ProviderReply{.message_id = std::to_string(next_id_++), .result_json = "{}"};
}

}  // namespace protectogram::notification
