#include "services/telephony/telnyx/telnyx_provider.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <utility>

#include "absl/strings/numbers.h"
#include "libs/jobs/retry.h"
#include "libs/providers/telnyx/commands.h"

namespace protectogram::telephony {
namespace {

namespace tx = providers::telnyx;

struct VoiceEntry {
  std::string_view language;
  std::string_view voice;
};
constexpr VoiceEntry kVoices[] = {
    {"ru-RU", "AWS.Polly.Tatyana"}, {"en-US", "AWS.Polly.Joanna"},  {"en-GB", "AWS.Polly.Amy"},
    {"de-DE", "AWS.Polly.Marlene"}, {"es-ES", "AWS.Polly.Lucia"},   {"fr-FR", "AWS.Polly.Celine"},
    {"it-IT", "AWS.Polly.Carla"},   {"pt-BR", "AWS.Polly.Vitoria"}, {"pl-PL", "AWS.Polly.Ewa"},
    {"tr-TR", "AWS.Polly.Filiz"},
};

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return Lower(x) == Lower(y); });
}

// "ru" of "ru-RU", "ru_KZ" or "ru".
std::string_view PrimaryLanguage(std::string_view tag) { return tag.substr(0, tag.find_first_of("-_")); }

std::string WithoutTrailingSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

bool IsHttpUrl(std::string_view url) {
  return (url.starts_with("https://") && url.size() > 8) || (url.starts_with("http://") && url.size() > 7);
}

// The ring timeout as timeout_secs: whole seconds rounded up, within Telnyx's 5..600.
int TimeoutSecs(absl::Duration ring_timeout) {
  const int64_t secs = absl::ToInt64Seconds(absl::Ceil(ring_timeout, absl::Seconds(1)));
  return static_cast<int>(std::clamp<int64_t>(secs, 5, 600));
}

// Every '+' followed by 7 or more digits becomes "+7999****567" (the first 5 and last 3 characters kept, as
// kernel::MaskPhone does), so that a text Telnyx wrote about a number can go into an error and a log line.
std::string MaskNumbers(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    size_t end = i + 1;
    while (text[i] == '+' && end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    if (text[i] == '+' && end - i >= 8) {
      const std::string_view number = text.substr(i, end - i);
      out.append(number.substr(0, 5)).append("****").append(number.substr(number.size() - 3));
      i = end;
    } else {
      out.push_back(text[i]);
      ++i;
    }
  }
  return out;
}

absl::Status Labeled(absl::Status status, std::string_view reason) {
  return jobs::WithFailureReason(std::move(status), reason);
}

absl::Status InvalidRequest(std::string_view operation, std::string_view message) {
  return Labeled(jobs::Permanent(absl::InvalidArgumentError("telnyx " + std::string(operation) + ": " +
                                                            std::string(message))),
                 "invalid_request");
}

// An error from http::Client::Do.
absl::Status TransportFailure(std::string_view operation, const absl::Status& error) {
  const std::string text = "telnyx " + std::string(operation) + ": " + std::string(error.message());
  switch (error.code()) {
    case absl::StatusCode::kUnavailable:
      return Labeled(absl::UnavailableError(text), "unavailable");
    case absl::StatusCode::kDeadlineExceeded:
      return Labeled(absl::DeadlineExceededError(text), "timeout");
    case absl::StatusCode::kInvalidArgument:
      // A URL the client cannot use: our configuration, which a retry does not change.
      return Labeled(jobs::Permanent(absl::InvalidArgumentError(text)), "invalid_request");
    default:
      // INTERNAL (a malformed HTTP answer), RESOURCE_EXHAUSTED (an oversized one).
      return Labeled(absl::UnavailableError(text), "malformed_response");
  }
}

// A non-2xx answer, classified by its status.
absl::Status ApiFailure(std::string_view operation, const http::ClientResponse& response) {
  const int status = response.status;
  const std::string_view reason = tx::ClassifyCommandError(status);
  const std::string text =
      "telnyx " + std::string(operation) + ": " + MaskNumbers(tx::ParseErrorResponse(status, response.body));
  if (status == 429) {
    absl::Status s = absl::ResourceExhaustedError(text);
    int seconds = 0;
    if (absl::SimpleAtoi(std::string(response.Header("retry-after")), &seconds) && seconds > 0) {
      s = jobs::WithRetryAfter(std::move(s), absl::Seconds(seconds));
    }
    return Labeled(std::move(s), reason);
  }
  if (status == 401 || status == 403)
    return Labeled(jobs::Permanent(absl::PermissionDeniedError(text)), reason);
  if (status >= 400 && status < 500)
    return Labeled(jobs::Permanent(absl::FailedPreconditionError(text)), reason);
  return Labeled(absl::UnavailableError(text), reason);
}

// What an answer means, when its body is not needed: OK for 2xx.
absl::Status Outcome(std::string_view operation, const absl::StatusOr<http::ClientResponse>& response) {
  if (!response.ok()) return TransportFailure(operation, response.status());
  if (response->status >= 200 && response->status < 300) return absl::OkStatus();
  return ApiFailure(operation, *response);
}

}  // namespace

Voice VoiceFor(std::string_view language) {
  for (const VoiceEntry& entry : kVoices) {
    if (EqualsIgnoringCase(entry.language, language))
      return {std::string(entry.voice), std::string(entry.language)};
  }
  const std::string_view primary = PrimaryLanguage(language);
  for (const VoiceEntry& entry : kVoices) {
    if (!primary.empty() && EqualsIgnoringCase(PrimaryLanguage(entry.language), primary)) {
      return {std::string(entry.voice), std::string(entry.language)};
    }
  }
  return {"AWS.Polly.Joanna", "en-US"};
}

TelnyxProvider::TelnyxProvider(TelnyxConfig config, http::Client& client)
    : config_(std::move(config)), client_(client) {
  config_.api_base_url = WithoutTrailingSlash(std::move(config_.api_base_url));
}

absl::Status TelnyxProvider::CheckConfig(const TelnyxConfig& config) {
  if (config.api_key.empty()) return absl::InvalidArgumentError("telnyx: api_key is required");
  if (config.connection_id.empty()) return absl::InvalidArgumentError("telnyx: connection_id is required");
  if (config.from_number.empty()) return absl::InvalidArgumentError("telnyx: from_number is required");
  if (!IsHttpUrl(config.api_base_url))
    return absl::InvalidArgumentError("telnyx: api_base_url must be http(s)");
  if (!config.webhook_url.empty() && !IsHttpUrl(config.webhook_url)) {
    return absl::InvalidArgumentError("telnyx: webhook_url must be http(s)");
  }
  if (config.timeout <= absl::ZeroDuration())
    return absl::InvalidArgumentError("telnyx: timeout must be > 0");
  if (config.gather_timeout_millis < 0) {
    return absl::InvalidArgumentError("telnyx: gather_timeout_millis must be >= 0");
  }
  return absl::OkStatus();
}

absl::StatusOr<http::ClientResponse> TelnyxProvider::Post(const std::string& path, std::string body) const {
  http::ClientRequest request;
  request.method = "POST";
  request.url = config_.api_base_url + path;
  request.headers = {{"Authorization", "Bearer " + config_.api_key},
                     {"Content-Type", "application/json"},
                     {"Accept", "application/json"}};
  request.body = std::move(body);
  request.timeout =
      std::chrono::milliseconds(std::max<int64_t>(1, absl::ToInt64Milliseconds(config_.timeout)));
  return client_.Do(request);
}

absl::StatusOr<PlacedCall> TelnyxProvider::Dial(const DialRequest& request) {
  // Without a command_id Telnyx would place a second call for a retried dial.
  if (request.dial_key.empty()) return InvalidRequest("dial", "dial_key is required");
  absl::StatusOr<std::string> body =
      tx::BuildDialBody({.connection_id = config_.connection_id,
                         .from = request.caller_id.empty() ? config_.from_number : request.caller_id,
                         .to = request.to_e164,
                         .command_id = request.dial_key,
                         .client_state = request.attempt_key,
                         .timeout_secs = TimeoutSecs(request.ring_timeout),
                         .webhook_url = config_.webhook_url,
                         .answering_machine_detection = config_.amd});
  if (!body.ok()) return InvalidRequest("dial", std::string(body.status().message()));
  absl::StatusOr<http::ClientResponse> response = Post(tx::DialPath(), *std::move(body));
  if (absl::Status s = Outcome("dial", response); !s.ok()) return s;
  absl::StatusOr<tx::DialResponse> placed = tx::ParseDialResponse(response->body);
  if (!placed.ok()) {
    // Telnyx may well have placed the call: never permanent (a repeated Dial returns it).
    return Labeled(
        absl::UnavailableError("telnyx dial: malformed answer: " + std::string(placed.status().message())),
        "malformed_response");
  }
  return PlacedCall{.provider_call_id = std::move(placed->call_control_id),
                    .call_session_id = std::move(placed->call_session_id)};
}

absl::Status TelnyxProvider::StartPrompt(const CallRef& call, const Prompt& prompt) {
  if (call.provider_call_id.empty()) return InvalidRequest("prompt", "call_control_id is required");
  const Voice voice = VoiceFor(prompt.language);
  tx::GatherUsingSpeakRequest gather{.payload = prompt.speak_text,
                                     .voice = voice.voice,
                                     .language = voice.language,
                                     .minimum_digits = 1,
                                     .maximum_digits = 1,
                                     .timeout_millis = config_.gather_timeout_millis,
                                     .maximum_tries = std::max(1, prompt.repeats),
                                     .command_id = call.dial_key + ":prompt",
                                     .client_state = call.attempt_key};
  if (!prompt.valid_digits.empty()) gather.valid_digits = prompt.valid_digits;
  absl::StatusOr<std::string> body = tx::BuildGatherUsingSpeakBody(gather);
  if (!body.ok()) return InvalidRequest("prompt", std::string(body.status().message()));
  return Outcome("prompt",
                 Post(tx::ActionPath(call.provider_call_id, "gather_using_speak"), *std::move(body)));
}

absl::Status TelnyxProvider::Hangup(const CallRef& call) {
  if (call.provider_call_id.empty()) return InvalidRequest("hangup", "call_control_id is required");
  const std::string body =
      tx::BuildHangupBody({.command_id = call.dial_key + ":hangup", .client_state = call.attempt_key});
  absl::StatusOr<http::ClientResponse> response = Post(tx::ActionPath(call.provider_call_id, "hangup"), body);
  if (response.ok() && tx::IsCallEndedError(response->status, response->body)) return absl::OkStatus();
  return Outcome("hangup", response);
}

}  // namespace protectogram::telephony
