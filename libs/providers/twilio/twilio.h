// Twilio webhooks (Voice status/gather callbacks, WhatsApp inbound): X-Twilio-Signature and parsing.
// Pure functions.
//
// Protocol facts relied on (sources: twilio/twilio-python twilio/request_validator.py and
// tests/unit/test_request_validator.py; twilio.com/docs/usage/webhooks/webhooks-security;
// twilio.com/docs/voice/twiml/gather; twilio.com/docs/voice/api/call-resource;
// twilio.com/docs/messaging/guides/webhook-request; see docs/providers.md):
// - X-Twilio-Signature = base64(HMAC-SHA1(key = auth token, full URL + for each POST parameter sorted by name
//   (repeated names: each distinct value, sorted) name + value)).
// - The official validator accepts the URL as given, without its port, and with the scheme's default port
//   added (:443 for https, :80 for http) when it has none: proxies differ on which form Twilio signed.
// - JSON bodies: the URL's query carries bodySHA256 = hex SHA-256 of the raw body, and the signature is over
//   the URL alone (no parameters).
// - Voice callbacks (form-encoded): CallSid, AccountSid, From, To, CallStatus (queued, initiated, ringing,
//   in-progress, completed, busy, failed, no-answer, canceled), Direction; status callbacks add CallDuration,
//   Timestamp (RFC 2822), CallbackSource, SequenceNumber; a <Gather> action adds Digits; AMD adds AnsweredBy.
// - WhatsApp inbound (form-encoded): MessageSid, AccountSid, From "whatsapp:+<E.164>", To, Body, NumMedia,
//   ProfileName, WaId; quick-reply buttons add ButtonText and ButtonPayload.
//
// Every error of the checks and parsers below carries its reason (libs/providers/common/error.h).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/providers/common/form.h"
#include "protectogram/common/v1/events.pb.h"

namespace protectogram::providers::twilio {

inline constexpr char kSignatureHeader[] = "X-Twilio-Signature";

// base64(HMAC-SHA1(auth_token, url + sorted name+value pairs)). Identical (name, value) pairs count once.
std::string ComputeSignature(std::string_view auth_token, std::string_view url, const FormParams& params);

// OK when `signature_header` is the signature of `params` posted to `url` (the URL Twilio called, from
// PUBLIC_BASE_URL + path + query), trying the URL as given, without its port, and with the default port
// added; each comparison in constant time. PERMISSION_DENIED("missing signature", kMissingSignature) if the
// header is empty, PERMISSION_DENIED("bad signature", kBadSignature) if no form matches.
absl::Status VerifySignature(std::string_view auth_token, std::string_view url, const FormParams& params,
                             std::string_view signature_header);

// For a JSON (or other non-form) body: `url` must carry bodySHA256 = hex SHA-256 of `raw_body` and the
// signature must be over `url` alone (the same URL variants as VerifySignature).
// PERMISSION_DENIED("missing signature") and ("missing bodySHA256"): kMissingSignature;
// PERMISSION_DENIED("bodySHA256 mismatch") and ("bad signature"): kBadSignature.
absl::Status VerifyBodySignature(std::string_view auth_token, std::string_view url, std::string_view raw_body,
                                 std::string_view signature_header);

// A Voice status callback or <Gather> action as a CallEvent (provider TWILIO, call_id = CallSid, from, to,
// status = CallStatus, duration_sec = CallDuration, occurred_at = Timestamp when it parses).
//   With a Digits field (a <Gather> action): type GATHER_ENDED, digits, provider_event_type "gather",
//     provider_event_id "<CallSid>:gather:<Digits>" (one event per call and answer: Twilio's retries dedup,
//     a second gather on the same call with another answer does not).
//   Otherwise: provider_event_type = CallStatus, provider_event_id "<CallSid>:<CallStatus>" (one event
//     per call and status, as Twilio's retries and repeated callbacks should dedup), type
//     queued/initiated -> INITIATED, ringing -> RINGING, in-progress -> ANSWERED,
//     completed/busy/failed/no-answer/canceled -> HANGUP with hangup_cause = CallStatus,
//     anything else -> OTHER. AnsweredBy, when present, goes to status.
// INVALID_ARGUMENT if CallSid is missing (kMissingId), CallStatus is missing on a status callback, or
// CallDuration is not a non-negative integer (kMalformed).
absl::StatusOr<common::v1::CallEvent> ParseVoiceCallback(const FormParams& params);
// ParseForm + ParseVoiceCallback (a malformed form: kMalformed).
absl::StatusOr<common::v1::CallEvent> ParseVoiceCallbackBody(std::string_view body);

// An inbound WhatsApp message as a ChatEvent: provider TWILIO, provider_event_id = MessageSid, bot_id = To
// without "whatsapp:", chat_id and from.id = From without "whatsapp:" (+E.164), from.first_name =
// ProfileName.
//   ButtonPayload or ButtonText present -> button {data = ButtonPayload, text = ButtonText}, type "button"
//   Body non-empty                      -> text {text = Body}, type "message"
//   NumMedia > 0 and no Body            -> non_text {kind = "media"}, type "message"
//   otherwise                           -> text {""}, type "message"
// INVALID_ARGUMENT if MessageSid is missing (kMissingId) or From is not a "whatsapp:" address (kMalformed).
absl::StatusOr<common::v1::ChatEvent> ParseWhatsAppInbound(const FormParams& params);
// ParseForm + ParseWhatsAppInbound (a malformed form: kMalformed).
absl::StatusOr<common::v1::ChatEvent> ParseWhatsAppInboundBody(std::string_view body);

}  // namespace protectogram::providers::twilio
