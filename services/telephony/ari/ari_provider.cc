#include "services/telephony/ari/ari_provider.h"

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/crypto/encoding.h"
#include "libs/http/client.h"
#include "libs/jobs/retry.h"
#include "libs/kernel/log.h"
#include "libs/providers/ari/ari.h"
#include "libs/providers/common/text.h"
#include "services/telephony/ari/event_stream.h"

namespace protectogram::telephony::ari {
namespace {

namespace ari = providers::ari;
namespace json = boost::json;

std::string TrimSlashes(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// Asterisk's error answers carry {"message": "..."}; "" when the body has none.
std::string MessageOf(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(body.data(), body.size()), ec);
  if (ec || !v.is_object()) return "";
  const json::value* m = v.get_object().if_contains("message");
  if (m == nullptr || !m->is_string()) return "";
  return std::string(m->get_string().data(), m->get_string().size());
}

// An HTTP answer that is not the success of `what`, as provider.h wants it.
absl::Status StatusOfAnswer(std::string_view what, int status, std::string_view body) {
  const std::string reason(ari::ClassifyError(status));
  std::string message = absl::StrCat("ari ", std::string(what), ": HTTP ", status);
  if (std::string m = MessageOf(body); !m.empty()) absl::StrAppend(&message, ": ", m);
  absl::Status error;
  if (status == 401) {
    error = jobs::Permanent(absl::UnauthenticatedError(message));
  } else if (status == 403) {
    error = jobs::Permanent(absl::PermissionDeniedError(message));
  } else if (status == 404) {
    error = jobs::Permanent(absl::NotFoundError(message));
  } else if (status == 409) {
    // Play / continue on a channel that is not in our application (originate's 409 is handled by Dial).
    return jobs::WithFailureReason(jobs::Permanent(absl::FailedPreconditionError(message)), "refused");
  } else if (status >= 400 && status < 500) {
    error = jobs::Permanent(absl::InvalidArgumentError(message));
  } else if (status >= 500 && status < 600) {
    error = absl::UnavailableError(message);
  } else {
    error = absl::UnknownError(message);
  }
  return jobs::WithFailureReason(error, reason);
}

// A request refused before it was sent (a bad number, a prompt we cannot build): no provider can help.
absl::Status Refused(const absl::Status& status) {
  return jobs::WithFailureReason(jobs::Permanent(status), "refused");
}

}  // namespace

std::string PromptMedia(const AriConfig& config, std::string_view language, std::string_view text) {
  return config.sound_prefix + ari::PromptSoundName(language, text);
}

absl::StatusOr<std::unique_ptr<AriProvider>> AriProvider::Create(AriConfig config,
                                                                 std::shared_ptr<http::Client> client) {
  if (absl::StatusOr<std::string> url = EventsUrl(config.http_url, config.app); !url.ok())
    return url.status();
  if (absl::StatusOr<std::string> e = ari::EndpointFor(config.endpoint_template, "+10000000000"); !e.ok()) {
    return absl::InvalidArgumentError("ari: ARI_ENDPOINT_TEMPLATE must contain {number}");
  }
  if (config.username.empty()) return absl::InvalidArgumentError("ari: ARI_USERNAME is required");
  if (config.sound_prefix.empty()) return absl::InvalidArgumentError("ari: the sound prefix is required");
  if (config.max_prompt_repeats < 1)
    return absl::InvalidArgumentError("ari: max_prompt_repeats must be >= 1");
  if (client == nullptr) client = std::make_shared<http::Client>();
  return std::unique_ptr<AriProvider>(new AriProvider(std::move(config), std::move(client)));
}

AriProvider::AriProvider(AriConfig config, std::shared_ptr<http::Client> client)
    : config_(std::move(config)),
      base_url_(TrimSlashes(config_.http_url)),
      authorization_("Basic " + crypto::Base64Encode(config_.username + ":" + config_.password)),
      client_(std::move(client)) {}

AriProvider::~AriProvider() { StopEvents(); }

absl::StatusOr<AriProvider::Answer> AriProvider::Send(std::string_view method,
                                                      const std::string& path_and_query) const {
  http::ClientRequest request;
  request.method = std::string(method);
  request.url = base_url_ + path_and_query;
  request.headers.emplace_back("Authorization", authorization_);
  request.timeout = std::chrono::milliseconds(absl::ToInt64Milliseconds(config_.timeout));
  absl::StatusOr<http::ClientResponse> response = client_->Do(request);
  if (!response.ok()) {
    const absl::Status& s = response.status();
    switch (s.code()) {
      case absl::StatusCode::kDeadlineExceeded:
        return jobs::WithFailureReason(s, "timeout");
      case absl::StatusCode::kUnavailable:
        return jobs::WithFailureReason(s, "unavailable");
      case absl::StatusCode::kInvalidArgument:
        return jobs::WithFailureReason(jobs::Permanent(s), "refused");
      default:
        return jobs::WithFailureReason(absl::UnknownError(s.message()), "malformed_response");
    }
  }
  return Answer{.status = response->status, .body = std::move(response->body)};
}

absl::StatusOr<PlacedCall> AriProvider::Dial(const DialRequest& request) {
  absl::StatusOr<std::string> endpoint = ari::EndpointFor(config_.endpoint_template, request.to_e164);
  if (!endpoint.ok()) return Refused(endpoint.status());
  // Whole seconds, rounded up so the callee never rings shorter than asked.
  const int64_t ring_secs = static_cast<int64_t>(
      std::ceil(absl::ToDoubleSeconds(std::max(request.ring_timeout, absl::Seconds(1)))));
  absl::StatusOr<std::string> query =
      ari::OriginateQuery({.endpoint = *endpoint,
                           .app = config_.app,
                           .app_args = request.attempt_key,
                           .caller_id = request.caller_id.empty() ? config_.caller_id : request.caller_id,
                           .timeout_secs = static_cast<int>(std::min<int64_t>(ring_secs, 600)),
                           .channel_id = request.dial_key});
  if (!query.ok()) return Refused(query.status());
  absl::StatusOr<Answer> answer = Send("POST", *query);
  if (!answer.ok()) return answer.status();
  if (answer->status == 409 && !request.dial_key.empty()) {
    // The channel with our id exists: an earlier Dial of this attempt placed it.
    kernel::LogInfo("ari dial repeated: the call exists already", {{"channel_id", request.dial_key}});
    return PlacedCall{.provider_call_id = request.dial_key};
  }
  if (answer->status != 200) return StatusOfAnswer("originate", answer->status, answer->body);
  absl::StatusOr<ari::Channel> channel = ari::ParseChannel(answer->body);
  if (channel.ok()) return PlacedCall{.provider_call_id = channel->id};
  // Asterisk took it (200); the channel is the id we gave it, whatever the body says.
  if (!request.dial_key.empty()) return PlacedCall{.provider_call_id = request.dial_key};
  return jobs::WithFailureReason(
      absl::UnknownError(absl::StrCat("ari originate: ", channel.status().message())), "malformed_response");
}

absl::Status AriProvider::StartPrompt(const CallRef& call, const Prompt& prompt) {
  const std::string& channel_id = call.provider_call_id.empty() ? call.dial_key : call.provider_call_id;
  if (channel_id.empty()) return Refused(absl::InvalidArgumentError("ari prompt: no channel"));
  if (!prompt.dialplan_context.empty()) {
    absl::StatusOr<Answer> answer =
        Send("POST", ari::ContinuePath(channel_id, prompt.dialplan_context, prompt.dialplan_extension,
                                       prompt.dialplan_priority));
    if (!answer.ok()) return answer.status();
    if (answer->status / 100 == 2) return absl::OkStatus();
    return StatusOfAnswer("continue", answer->status, answer->body);
  }
  if (prompt.speak_text.empty()) return Refused(absl::InvalidArgumentError("ari prompt: no text"));
  const int repeats = std::clamp(prompt.repeats, 1, config_.max_prompt_repeats);
  const std::vector<std::string> media(static_cast<size_t>(repeats),
                                       PromptMedia(config_, prompt.language, prompt.speak_text));
  absl::StatusOr<std::string> path =
      ari::PlayPath(channel_id, media, ari::SoundLanguage(prompt.language), "");
  if (!path.ok()) return Refused(path.status());
  absl::StatusOr<Answer> answer = Send("POST", *path);
  if (!answer.ok()) return answer.status();
  if (answer->status / 100 == 2) return absl::OkStatus();
  return StatusOfAnswer("play", answer->status, answer->body);
}

absl::Status AriProvider::Hangup(const CallRef& call) {
  const std::string& channel_id = call.provider_call_id.empty() ? call.dial_key : call.provider_call_id;
  if (channel_id.empty()) return absl::OkStatus();  // nothing was placed
  absl::StatusOr<Answer> answer = Send("DELETE", ari::HangupPath(channel_id, "normal"));
  if (!answer.ok()) return answer.status();
  if (answer->status / 100 == 2 || answer->status == 404) return absl::OkStatus();  // 404: ended already
  return StatusOfAnswer("hangup", answer->status, answer->body);
}

absl::Status AriProvider::StartEvents(CallEventSink sink) {
  if (!sink) return absl::InvalidArgumentError("ari: the event sink is required");
  absl::StatusOr<std::string> url = EventsUrl(config_.http_url, config_.app);
  if (!url.ok()) return url.status();
  std::lock_guard<std::mutex> lock(mu_);
  if (stream_) return absl::FailedPreconditionError("ari: events started already");
  stopping_ = false;
  sink_ = std::move(sink);
  stream_ = std::make_unique<EventStream>(EventStreamOptions{.url = *url,
                                                             .username = config_.username,
                                                             .password = config_.password,
                                                             .connect_timeout = config_.connect_timeout,
                                                             .reconnect_initial = config_.reconnect_initial,
                                                             .reconnect_max = config_.reconnect_max,
                                                             .idle_timeout = config_.idle_timeout},
                                          [this](std::string_view frame) { Deliver(frame); });
  if (absl::Status started = stream_->Start(); !started.ok()) {
    stream_.reset();
    return started;
  }
  return absl::OkStatus();
}

void AriProvider::StopEvents() {
  std::unique_ptr<EventStream> stream;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    stream = std::move(stream_);
  }
  stop_cv_.notify_all();
  // Outside the lock: Stop waits for a Deliver that is running, and Deliver waits on the lock.
  if (stream) stream->Stop();
}

bool AriProvider::events_connected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stream_ != nullptr && stream_->connected();
}

int AriProvider::events_connections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stream_ == nullptr ? 0 : stream_->connections();
}

bool AriProvider::SleepUnlessStopping(absl::Duration delay) {
  std::unique_lock<std::mutex> lock(mu_);
  return !stop_cv_.wait_for(lock, absl::ToChronoNanoseconds(delay), [this] { return stopping_; });
}

void AriProvider::Deliver(std::string_view frame) {
  absl::StatusOr<common::v1::CallEvent> event = ari::ParseEvent(frame);
  if (!event.ok()) {
    kernel::LogWarn("ari event malformed, dropped", {{"error", std::string(event.status().message())}});
    return;
  }
  providers::SetTimestamp(absl::Now(), event->mutable_received_at());
  absl::Duration delay = config_.sink_retry_initial;
  for (int attempt = 1;; ++attempt) {
    absl::Status delivered = sink_(*event);
    if (delivered.ok()) return;
    const bool last = config_.sink_attempts > 0 && attempt >= config_.sink_attempts;
    if (jobs::IsPermanentError(delivered) || last) {
      kernel::LogError("ari event not taken by the sink, dropped",
                       {{"event_id", event->provider_event_id()},
                        {"type", event->provider_event_type()},
                        {"attempts", attempt},
                        {"error", std::string(delivered.message())}});
      return;
    }
    kernel::LogWarn("ari event sink failed, retrying", {{"event_id", event->provider_event_id()},
                                                        {"attempt", attempt},
                                                        {"error", std::string(delivered.message())}});
    if (!SleepUnlessStopping(delay)) return;
    delay = std::min(delay * 2, config_.sink_retry_max);
  }
}

}  // namespace protectogram::telephony::ari
