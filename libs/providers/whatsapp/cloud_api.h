// WhatsApp Cloud API, outbound: the messages endpoint, text and template bodies, and the reading and
// classification of its answers. Pure functions, no I/O (FakeCloudApi in fake_cloud_api.h answers like Meta
// on loopback).
//
// Protocol facts relied on (sources: WhatsApp/WhatsApp-Nodejs-SDK at 58ca3d5f src/api/messages.ts
// bodyBuilder, src/requester.ts buildCAPIPath/buildHeader, src/types/messages.ts MessagesResponse;
// developers.facebook.com/docs/graph-api/changelog/versions; developers.facebook.com/documentation/
// business-messaging/whatsapp/support/error-codes, its table as reproduced by heltar.com (130429),
// docs.bualpro.com (131026) and developers.aivo.co (auth and throttling rows); see docs/providers.md,
// "Outbound"):
// - POST <base>/<version>/<PHONE_NUMBER_ID>/messages with Authorization: Bearer <token> and a JSON body
//   {"messaging_product":"whatsapp","recipient_type":"individual","to":"<number>","type":"text",
//   "text":{"body":"..."}}; templates: "type":"template","template":{"name":..,"language":{"code":..},
//   "components":[{"type":"body","parameters":[{"type":"text","text":..}]}]}.
// - Success: {"messaging_product":"whatsapp","contacts":[{"input":..,"wa_id":..}],"messages":[{"id":
//   "wamid..."}]}. Errors: {"error":{"message":"(#130429) Rate limit hit","type":"OAuthException",
//   "code":130429,"error_data":{"messaging_product":"whatsapp","details":"..."},"error_subcode":N,
//   "fbtrace_id":".."}}. Meta: build error handling on `code` and `error_data.details`, not on titles.
// - Codes (HTTP status): 130429 throughput reached (400), 80007 WABA rate limit, 4 app call limit (429),
//   131056 pair rate limit (too many messages to one user); 131026 message undeliverable (not a
//   WhatsApp number, old client, terms not accepted; 400); 131047 re-engagement: more than 24 h since the
//   user last wrote, only a template gets through (400); 190 access token expired / 0 AuthException (401),
//   10 and 200-299 permission (403); 131030 recipient not in the allowed list (test numbers, 400); 100
//   invalid parameter (400; for a request our builders accept, in practice the number: a 00-prefixed number
//   or our own, gabrieldwight/Whatsapp-Business-Cloud-Api-Net issues #31, #106); 131000 something went
//   wrong (500), 131016 service unavailable (503), 1 unknown / 2 service (temporary).
// - Meta documents no retry-after for these; a Retry-After header is honoured when one comes.
// - text.body: at most 4096 characters (docs.360dialog.com "Text messages"); whatsapp-api-js's Text checks
//   body.length, i.e. UTF-16 code units, and so do we.
// - Graph API versions live about two years: v25.0 was released 18 Feb 2026 and is available until
//   29 Jul 2028 (changelog/versions, read Dec 2026; v19.0 expired 21 May 2026, v21.0 expires 21 Jan 2027).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace protectogram::providers::whatsapp {

inline constexpr char kDefaultBaseUrl[] = "https://graph.facebook.com";
// The newest Graph API version with a published end of life (see above); raise it before that date.
inline constexpr char kDefaultApiVersion[] = "v25.0";
inline constexpr size_t kMaxTextLength = 4096;  // UTF-16 code units

// base_url + "/" + api_version + "/" + phone_number_id + "/messages", one '/' at each join. An empty
// api_version is for a base_url that already ends with one ("https://graph.facebook.com/v19.0", the shape
// of WHATSAPP_API_BASE_URL in .env.example).
std::string MessagesUrl(std::string_view base_url, std::string_view api_version,
                        std::string_view phone_number_id);

// The text message body (keys in this order): {"messaging_product":"whatsapp","recipient_type":
// "individual","to":..,"type":"text","text":{"body":..}} ("preview_url":true in `text` when asked).
// `to` is a phone number in international form: an optional '+', then 7-15 digits not starting with 0 (Meta
// refuses 00-prefixed numbers); sent as given. INVALID_ARGUMENT for another `to` ("to must be ..."), an
// empty body, a body that is not valid UTF-8 or is over 4096 UTF-16 code units.
absl::StatusOr<std::string> TextMessageBody(std::string_view to, std::string_view body,
                                            bool preview_url = false);
// The template message body: {"messaging_product":"whatsapp","recipient_type":"individual","to":..,
// "type":"template","template":{"name":..,"language":{"code":..},"components":[{"type":"body",
// "parameters":[{"type":"text","text":..},...]}]}}; no "components" without parameters. INVALID_ARGUMENT for
// a bad `to` (as above), a name that is not 1-512 of a-z 0-9 _ (Meta's rule for template names), a
// language_code that is not letters and '_' ("ru", "en_US"), or an empty or non-UTF-8 parameter.
absl::StatusOr<std::string> TemplateMessageBody(std::string_view to, std::string_view name,
                                                std::string_view language_code,
                                                const std::vector<std::string>& body_parameters = {});

struct SendResult {
  int http_status = 0;
  bool ok = false;
  std::string message_id;  // messages[0].id, "wamid..."; empty unless ok
  std::string wa_id;       // contacts[0].wa_id when present
  int64_t error_code = 0;  // error.code; 0 when ok or the body carried no Graph error
  int64_t error_subcode = 0;
  std::string error_type;     // error.type ("OAuthException")
  std::string error_message;  // error.message ("(#131026) Message undeliverable")
  std::string error_details;  // error.error_data.details
  std::string fbtrace_id;
  std::optional<absl::Duration> retry_after;  // from a Retry-After header (delta-seconds), when given
};

// Reads an answer to POST .../messages. A body with an "error" object is a failure (whatever the status); a
// 2xx with messages[0].id a success; a 5xx whose body is neither (a gateway's page) a failure with
// error_code 0. Otherwise INVALID_ARGUMENT ("malformed JSON", "Graph answer must be a JSON object",
// "messages[0].id is required", "error.code must be an integer", ...): the caller cannot know whether the
// message went. `retry_after_header` is the response's Retry-After value ("" when absent); only
// delta-seconds are read.
absl::StatusOr<SendResult> ParseSendResponse(int http_status, std::string_view body,
                                             std::string_view retry_after_header = {});

// What an answer means; the action in brackets is what the notification service does (docs/providers.md).
enum class CloudApiError {
  kNone,                  // ok                                                 [done]
  kRateLimited,           // 130429, 80007, 4, 131056, or HTTP 429              [wait; not an attempt]
  kUndeliverable,         // 131026                                             [dead at once]
  kReengagementRequired,  // 131047: the 24 h window is closed                  [dead for text; send a template]
  kUnauthorized,          // 190, 0, 10, 200-299, or HTTP 401                   [retry later; alert]
  kInvalidRecipient,      // 131030, or 100 with HTTP 400                       [dead at once]
  kBadRequest,            // any other 4xx                                      [dead at once]
  kServerError,           // 1, 2, 131000, 131016, or HTTP 5xx                  [retry with backoff]
  kOther,                 // anything else                                      [retry with backoff]
};

CloudApiError ClassifyError(const SendResult& result);
// A stable low-cardinality label: "ok", "rate_limited", "undeliverable", "reengagement_required",
// "unauthorized", "invalid_recipient", "bad_request", "server_error", "other".
std::string_view ErrorLabel(CloudApiError error);

}  // namespace protectogram::providers::whatsapp
