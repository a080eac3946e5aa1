#include "services/telephony/twilio/twilio_provider.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/civil_time.h"
#include "libs/http/form.h"
#include "libs/jobs/retry.h"
#include "libs/providers/twilio/voice_api.h"

namespace protectogram::telephony {
namespace {

namespace tw = providers::twilio;

// A list bigger than this many pages (50 calls each) to one number in one day is not ours to search.
constexpr int kMaxListPages = 10;
// How far Twilio's clock (date_created) may run behind ours (earlier_dial_started_at).
constexpr absl::Duration kClockSkew = absl::Seconds(5);
// Twilio's codes for "that call has ended" when it is updated: invalid call state, not found.
constexpr int64_t kInvalidCallState = 21220;
constexpr int64_t kNotFound = 20404;

std::string WithoutTrailingSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// Every run of 7 or more digits (with its '+', if any) is masked as kernel::MaskPhone does ("+7999****567":
// the first 5 and last 3 characters kept; "****" under 9 characters), so that a text Twilio wrote about a
// number can go into an error and a log line. Twilio's codes (5 digits) stay.
std::string MaskNumbers(std::string_view text) {
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    const size_t start = i;
    size_t end = text[i] == '+' ? i + 1 : i;
    while (end < text.size() && is_digit(text[end])) ++end;
    const size_t digits = end - start - (text[start] == '+' ? 1 : 0);
    if (digits >= 7) {
      const std::string_view number = text.substr(start, end - start);
      out += number.size() < 9
                 ? std::string("****")
                 : std::string(number.substr(0, 5)) + "****" + std::string(number.substr(number.size() - 3));
      i = end;
    } else {
      // Not a number: copy up to where the next candidate could start.
      const size_t stop = std::max(end, start + 1);
      out.append(text.substr(start, stop - start));
      i = stop;
    }
  }
  return out;
}

absl::Status Labeled(absl::Status status, std::string_view reason) {
  return jobs::WithFailureReason(std::move(status), reason);
}

absl::Status InvalidRequest(std::string_view operation, const absl::Status& status) {
  return Labeled(jobs::Permanent(absl::InvalidArgumentError("twilio " + std::string(operation) + ": " +
                                                            std::string(status.message()))),
                 "invalid_request");
}

// An error from http::Client::Do.
absl::Status TransportFailure(std::string_view operation, const absl::Status& error) {
  const std::string text = "twilio " + std::string(operation) + ": " + std::string(error.message());
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

// A 2xx whose body we cannot read: Twilio may well have done it, so never permanent.
absl::Status MalformedAnswer(std::string_view operation, const absl::Status& parse_error) {
  return Labeled(absl::UnavailableError("twilio " + std::string(operation) +
                                        ": malformed answer: " + std::string(parse_error.message())),
                 "malformed_response");
}

// A non-2xx answer, classified by its status and Twilio's code.
absl::Status ApiFailure(std::string_view operation, const http::ClientResponse& response) {
  tw::ErrorResponse error;
  if (absl::StatusOr<tw::ErrorResponse> parsed = tw::ParseErrorResponse(response.body); parsed.ok()) {
    error = *std::move(parsed);
  }
  const std::string_view reason = tw::ClassifyError(response.status, error.code);
  std::string text = "twilio " + std::string(operation) + ": HTTP " + std::to_string(response.status);
  if (error.code != 0) text += " code " + std::to_string(error.code);
  if (!error.message.empty()) text += ": " + MaskNumbers(error.message);
  const int status = response.status;
  if (status == 429 || reason == "rate_limited") {
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

bool IsSuccess(int status) { return status >= 200 && status < 300; }

// The ring time in whole seconds (rounded up), within Twilio's and our bounds: a panic call goes out with the
// nearest allowed value rather than not at all.
int RingSeconds(absl::Duration ring_timeout) {
  const double seconds = std::ceil(absl::ToDoubleSeconds(ring_timeout));
  return static_cast<int>(std::clamp(seconds, static_cast<double>(tw::kMinRingTimeoutSecs),
                                     static_cast<double>(tw::kMaxRingTimeoutSecs)));
}

}  // namespace

TwilioProvider::TwilioProvider(TwilioConfig config, http::Client& client)
    : config_(std::move(config)), client_(client) {
  config_.api_base_url = WithoutTrailingSlash(std::move(config_.api_base_url));
  config_.public_base_url = WithoutTrailingSlash(std::move(config_.public_base_url));
}

std::string TwilioProvider::CallbackUrl(std::string_view attempt_key) const {
  return config_.public_base_url + kTwilioVoiceCallbackPath + "?attempt=" + http::PercentEncode(attempt_key);
}

namespace {

http::ClientRequest ApiRequest(const TwilioConfig& config, std::string method,
                               std::string_view path_and_query, std::string form_body = {}) {
  http::ClientRequest request{
      .method = std::move(method),
      .url = config.api_base_url + std::string(path_and_query),
      .headers = {{"Authorization", tw::BasicAuthHeader(config.account_sid, config.auth_token)},
                  {"Accept", "application/json"}},
      .body = std::move(form_body),
      .timeout = absl::ToChronoMilliseconds(config.timeout),
  };
  if (request.method == "POST")
    request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  return request;
}

// Every call one read lists (following next_page_uri, at most kMaxListPages pages), appended to `out`.
absl::Status ReadCalls(const TwilioConfig& config, http::Client& client, const tw::ListCallsFilter& filter,
                       std::vector<tw::CallResource>& out) {
  std::string path = tw::CallsPath(config.account_sid) + "?" + http::FormEncode(tw::ListCallsQuery(filter));
  for (int page = 0; page < kMaxListPages; ++page) {
    absl::StatusOr<http::ClientResponse> response = client.Do(ApiRequest(config, "GET", path));
    if (!response.ok()) return TransportFailure("list calls", response.status());
    if (!IsSuccess(response->status)) return ApiFailure("list calls", *response);
    absl::StatusOr<tw::CallList> list = tw::ParseCallList(response->body);
    if (!list.ok()) return MalformedAnswer("list calls", list.status());
    for (tw::CallResource& call : list->calls) out.push_back(std::move(call));
    // Only a path under the API is followed: our credentials never go to another host.
    if (!list->next_page_uri.starts_with("/2010-04-01/")) break;
    path = list->next_page_uri;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PlacedCall> TwilioProvider::Dial(const DialRequest& request) {
  if (request.attempt_key.empty())
    return InvalidRequest("create call", absl::InvalidArgumentError("no attempt key"));
  const std::string callback = CallbackUrl(request.attempt_key);
  absl::StatusOr<std::string> twiml = tw::BuildPromptTwiml({
      .text = request.speak_text,
      .language = request.language,
      .voice = std::string(tw::VoiceForLanguage(request.language)),
      .valid_digits = request.valid_digits,
      .repeats = std::clamp(request.prompt_repeats, 1, 10),
      .gather_timeout_secs = std::clamp(config_.gather_timeout_secs, 1, 60),
      .action_url = callback,
  });
  if (!twiml.ok()) return InvalidRequest("create call", twiml.status());
  absl::StatusOr<tw::FormFields> form = tw::BuildCreateCallForm({
      .to = request.to_e164,
      .from = request.caller_id.empty() ? config_.from_number : request.caller_id,
      .twiml = *std::move(twiml),
      .status_callback = callback,
      .timeout_secs = RingSeconds(request.ring_timeout),
      .machine_detection = true,
  });
  if (!form.ok()) return InvalidRequest("create call", form.status());

  absl::StatusOr<http::ClientResponse> response =
      client_.Do(ApiRequest(config_, "POST", tw::CallsPath(config_.account_sid), http::FormEncode(*form)));
  if (!response.ok()) return TransportFailure("create call", response.status());
  if (!IsSuccess(response->status)) return ApiFailure("create call", *response);
  absl::StatusOr<tw::CallResource> call = tw::ParseCallResource(response->body);
  if (!call.ok()) return MalformedAnswer("create call", call.status());
  return PlacedCall{.provider_call_id = call->sid};
}

absl::StatusOr<std::optional<PlacedCall>> TwilioProvider::FindEarlierDial(const DialRequest& request) {
  if (!request.earlier_dial_started_at.has_value()) return std::nullopt;
  const absl::Time cutoff = *request.earlier_dial_started_at - kClockSkew;
  const std::string from = request.caller_id.empty() ? config_.from_number : request.caller_id;
  std::vector<tw::CallResource> seen;
  // Listed by start time; a call still queued has none, so it is asked for by status too.
  const tw::ListCallsFilter filters[] = {
      {.to = request.to_e164,
       .from = from,
       .started_on_or_after = absl::ToCivilDay(cutoff, absl::UTCTimeZone())},
      {.to = request.to_e164, .from = from, .status = "queued"},
  };
  for (const tw::ListCallsFilter& filter : filters) {
    if (absl::Status s = ReadCalls(config_, client_, filter, seen); !s.ok()) return s;
  }
  const tw::CallResource* newest = nullptr;
  for (const tw::CallResource& call : seen) {
    if (call.to != request.to_e164 || call.from != from) continue;
    if (!call.date_created.has_value() || *call.date_created < cutoff) continue;
    if (newest == nullptr || *call.date_created > *newest->date_created) newest = &call;
  }
  if (newest == nullptr) return std::nullopt;
  return PlacedCall{.provider_call_id = newest->sid};
}

absl::Status TwilioProvider::StartPrompt(const CallRef&, const Prompt&) { return absl::OkStatus(); }

absl::Status TwilioProvider::Hangup(const CallRef& call) {
  if (call.provider_call_id.empty())
    return InvalidRequest("hang up", absl::InvalidArgumentError("no CallSid"));
  absl::StatusOr<http::ClientResponse> response =
      client_.Do(ApiRequest(config_, "POST", tw::CallPath(config_.account_sid, call.provider_call_id),
                            http::FormEncode(tw::FormFields{{"Status", "completed"}})));
  if (!response.ok()) return TransportFailure("hang up", response.status());
  if (IsSuccess(response->status)) return absl::OkStatus();
  int64_t code = 0;
  if (absl::StatusOr<tw::ErrorResponse> error = tw::ParseErrorResponse(response->body); error.ok())
    code = error->code;
  // The call has ended already (or never got far enough to exist): what a hangup wants.
  if (code == kNotFound || code == kInvalidCallState) return absl::OkStatus();
  return ApiFailure("hang up", *response);
}

}  // namespace protectogram::telephony
