// What the edge decides about one webhook request, as pure functions: verify it, and turn it into the inbox
// rows to store, or refuse it. Nothing here touches a socket or the database; the route table (edge/routes.h)
// names which function checks which route, and the routes (edge/edge.h) store the rows and answer. Protocol
// facts are in libs/providers and docs/providers.md.
//
// Inbox keys (edge.inbox_events is unique on provider + provider_event_id):
//   Telegram          provider "telegram:<bot_id>", id = update_id
//   Telnyx            provider "telnyx",            id = data.id
//   Twilio voice      provider "twilio:voice",      id = "<CallSid>:<CallStatus>"
//                                                   ("<CallSid>:gather:<Digits>")
//   Twilio WhatsApp   provider "twilio:whatsapp",   id = MessageSid
//   WhatsApp Cloud    provider "whatsapp",          id = the message id ("wamid..."), one row per message;
//                     a body without messages (status receipts) is one row "body:<sha256 of the body>",
//                     stored as ignored.
//
// Refusals are statuses made by Reject(reason, message); RejectReasonOf gives the reason back, and
// HttpStatusOf the answer:
//   403 missing_signature, bad_signature, replay, bad_verify_token; 404 unknown_bot, not_configured;
//   400 malformed, missing_id.
// An error of libs/providers becomes a refusal by the reason the library attached to it
// (libs/providers/common/error.h), with its message: kMissingSignature -> missing_signature, kBadSignature
// and kMalformedSignature -> bad_signature, kReplay -> replay, kBadKey -> not_configured ("provider key is
// unusable"), kUnknownBot -> unknown_bot, kBadVerifyToken -> bad_verify_token, kMalformed -> malformed,
// kMissingId -> missing_id. (Without a reason: bad_signature from a check, malformed from a parser.)
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "edge/config.h"
#include "libs/http/server.h"
#include "libs/jobs/inbox.h"
#include "libs/providers/common/form.h"

namespace protectogram::edge {

// Inbox provider names (Telegram's is "telegram:<bot_id>"), as the route table (routes.h) names them.
inline constexpr char kTelegramProviderPrefix[] = "telegram:";
inline constexpr char kTelnyxProvider[] = "telnyx";
inline constexpr char kTwilioVoiceProvider[] = "twilio:voice";
inline constexpr char kTwilioWhatsAppProvider[] = "twilio:whatsapp";
inline constexpr char kWhatsAppProvider[] = "whatsapp";

enum class RejectReason {
  kMissingSignature,  // 403: no signature / secret token / timestamp header
  kBadSignature,      // 403: a signature or secret that does not match, or a malformed signature header
  kReplay,            // 403: a signed timestamp outside the window
  kBadVerifyToken,    // 403: WhatsApp subscription check with the wrong verify token
  kUnknownBot,        // 404: /webhook/<id> for a bot that is not configured
  kNotConfigured,     // 404: the provider's credentials are not configured (dev)
  kMalformed,         // 400: not JSON / not a form / a field of the wrong type
  kMissingId,         // 400: no update_id, data.id, CallSid, MessageSid, ...
};
// The `reason` metric label: "missing_signature", "bad_signature", ...
std::string_view ReasonLabel(RejectReason reason);
int HttpStatusOf(RejectReason reason);

// A refusal: a status (PERMISSION_DENIED, NOT_FOUND or INVALID_ARGUMENT by reason) with the reason attached.
// `message` is short and safe to send back and log: it never contains a secret.
absl::Status Reject(RejectReason reason, std::string_view message);
// The reason attached by Reject; nullopt for any other status.
std::optional<RejectReason> RejectReasonOf(const absl::Status& status);

// One row to store.
struct InboxRecord {
  jobs::InboxEvent event;
  // Not empty: stored with status 'ignored' and this as last_error, and never forwarded.
  std::string ignore_reason;
};

// Checks of a request's head, run before its body is read, so that what can be refused without the body costs
// no body: a wrong or missing Telegram secret, a missing or malformed signature header, a Telnyx timestamp
// outside its window, and the whole signature of a Twilio bodySHA256 request (it covers the URL only). The
// Accept* functions below check everything again with the body; these only make refusing cheap.
// `bot_id` for Telegram as in AcceptTelegram; `query_secret` is true on /telegram/webhook (?secret= allowed).
absl::Status PrecheckTelegram(const EdgeConfig& config, std::string_view bot_id, const http::Request& head,
                              bool query_secret);
absl::Status PrecheckTelnyx(const EdgeConfig& config, const http::Request& head, absl::Time now);
absl::Status PrecheckTwilio(const EdgeConfig& config, const http::Request& head);
absl::Status PrecheckWhatsApp(const EdgeConfig& config, const http::Request& head);

// The secret a Telegram request presents: the X-Telegram-Bot-Api-Secret-Token header and, with
// `query_secret`, ?secret=. A repeated ?secret= is 400 malformed; a ?secret= and a header that disagree are
// 403 bad_signature (two secrets where one is expected is not a request Telegram makes).
absl::StatusOr<std::string_view> TelegramSecret(const http::Request& request, bool query_secret);

// At most this many fields in a Twilio form (Twilio's voice and messaging requests carry about 20-40; a
// WhatsApp message with 10 media about 60). The signature covers every parameter sorted, so the form must be
// parsed before it can be checked: the cap bounds what an unauthenticated request costs. 400 malformed above.
inline constexpr size_t kTwilioMaxFormFields = 256;

// POST /telegram/webhook?secret=... (bot "main"; the X-Telegram-Bot-Api-Secret-Token header is accepted too)
// and POST /webhook/<bot_id> (the header). `presented_secret` is what the request carried. In staging an
// update whose chat is not in STAGING_ALLOWED_CHATS is stored as ignored.
absl::StatusOr<std::vector<InboxRecord>> AcceptTelegram(const EdgeConfig& config, std::string_view bot_id,
                                                        std::string_view presented_secret,
                                                        std::string_view body);
// POST /telnyx/webhook: Ed25519 over "<telnyx-timestamp>|<raw body>", the timestamp within 300 s of `now`.
absl::StatusOr<std::vector<InboxRecord>> AcceptTelnyx(const EdgeConfig& config, const http::Request& request,
                                                      absl::Time now);
// POST /twilio/voice and POST /twilio/whatsapp: X-Twilio-Signature over PUBLIC_BASE_URL + the request target
// (+ the sorted form parameters), or the bodySHA256 variant when the target's query carries bodySHA256.
absl::StatusOr<std::vector<InboxRecord>> AcceptTwilioVoice(const EdgeConfig& config,
                                                           const http::Request& request);
absl::StatusOr<std::vector<InboxRecord>> AcceptTwilioWhatsApp(const EdgeConfig& config,
                                                              const http::Request& request);
// POST /whatsapp/webhook: X-Hub-Signature-256 over the raw body.
absl::StatusOr<std::vector<InboxRecord>> AcceptWhatsApp(const EdgeConfig& config,
                                                        const http::Request& request);
// GET /whatsapp/webhook: the hub.challenge to answer with.
absl::StatusOr<std::string> WhatsAppChallenge(const EdgeConfig& config, const http::Request& request);

// Twilio's parameters from a stored or received body: a form, or (`json`, the bodySHA256 variant) a flat
// JSON object whose scalar values become parameters. INVALID_ARGUMENT when it is neither.
absl::StatusOr<providers::FormParams> TwilioParams(std::string_view body, bool json);

// The body as payload_json: itself, unless it holds something jsonb refuses (\u0000), then nullopt.
std::optional<std::string> JsonPayload(std::string_view body);

// The kept request headers as a JSON object Postgres always accepts: each value with every byte outside
// printable ASCII, and '%', percent-encoded ("%FF"), so a header can never make a row unstorable. Only the
// headers named (content type and signature headers: never a secret); nullopt when none is present.
std::optional<std::string> KeptHeaders(const http::Request& request,
                                       std::initializer_list<const char*> names);

// What makes a row storable, checked before anything is stored (a row Postgres refuses would be answered 500
// on every retry): the body is valid UTF-8 without NUL (payload is text), the event id is 1-200 bytes of
// printable ASCII. INVALID_ARGUMENT refusals (400 malformed) otherwise.
absl::Status CheckStorableBody(std::string_view body);
absl::Status CheckStorableEventId(std::string_view event_id);

}  // namespace protectogram::edge
