// WhatsApp Cloud API (Meta) webhooks: subscription verification, X-Hub-Signature-256, message parsing.
// Pure functions.
//
// Protocol facts relied on (sources: developers.facebook.com/docs/graph-api/webhooks/getting-started;
// WhatsApp/WhatsApp-Nodejs-SDK src/api/webhooks.ts, src/utils.ts, src/__tests__/utils.test.ts,
// src/types/webhooks.ts; Meta's webhook reference for messages; see docs/providers.md):
// - Verification: GET ?hub.mode=subscribe&hub.challenge=<n>&hub.verify_token=<ours>; answer 200 with the
//   challenge as the body when the mode is "subscribe" and the token is ours, else 403.
// - Every POST carries X-Hub-Signature-256: "sha256=" + hex(HMAC-SHA256(key = app secret, raw body)).
//   SDK vector: secret "TEST_APP_SECRET", body "test" ->
//   0c61947b610d4f45e65f3d680e26027121ec2413e77598bcb6cfc6e0d9888221.
// - Body:
//   {"object":"whatsapp_business_account","entry":[{"id":<WABA>,"changes":[{"field":"messages","value":{
//     "messaging_product":"whatsapp","metadata":{"display_phone_number","phone_number_id"},
//     "contacts":[{"profile":{"name"},"wa_id"}],"messages":[{"from","id":"wamid...","timestamp":"<unix s>",
//     "type":"text","text":{"body"}}],"statuses":[...]}}]}]}.
//   Quick-reply template button: "type":"button","button":{"payload","text"}; interactive reply:
//   "type":"interactive","interactive":{"type":"button_reply","button_reply":{"id","title"}} (or list_reply).
//   Delivery receipts come in value.statuses[] and carry no message.
//
// Every error of the checks and ParseWebhook carries its reason (libs/providers/common/error.h).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "protectogram/common/v1/events.pb.h"

namespace protectogram::providers::whatsapp {

inline constexpr char kSignatureHeader[] = "X-Hub-Signature-256";

// The challenge to answer with when the verification request is good. INVALID_ARGUMENT("bad hub.mode") unless
// mode is "subscribe", INVALID_ARGUMENT("missing hub.challenge") when the challenge is empty (kMalformed);
// PERMISSION_DENIED("bad verify token", kBadVerifyToken) when `verify_token` is not `configured_token`
// (constant time; an empty configured token never matches).
absl::StatusOr<std::string> VerifySubscription(std::string_view mode, std::string_view verify_token,
                                               std::string_view challenge, std::string_view configured_token);
// Same, from the raw query string ("hub.mode=subscribe&hub.challenge=..&hub.verify_token=..");
// INVALID_ARGUMENT (kMalformed) also for a malformed query.
absl::StatusOr<std::string> VerifySubscriptionQuery(std::string_view query,
                                                    std::string_view configured_token);

// OK when `signature_header` is "sha256=<hex HMAC-SHA256(app_secret, raw_body)>" (hex in either case,
// compared in constant time). PERMISSION_DENIED("missing signature", kMissingSignature) when empty;
// INVALID_ARGUMENT("malformed signature header", kMalformedSignature) without the "sha256=" prefix or 64 hex
// digits; PERMISSION_DENIED("bad signature", kBadSignature) on mismatch or an empty app secret.
absl::Status VerifySignature(std::string_view app_secret, std::string_view signature_header,
                             std::string_view raw_body);

// "sha256=<hex HMAC-SHA256(app_secret, raw_body)>": the X-Hub-Signature-256 value, for simulators and tests.
std::string ComputeSignatureHeader(std::string_view app_secret, std::string_view raw_body);

// Every inbound message in the body, in order, as ChatEvents: provider WHATSAPP, provider_event_id = message
// id ("wamid..."), bot_id = metadata.phone_number_id, chat_id and from.id = "+" + the sender's wa_id (E.164,
// as Twilio gives it), from.first_name = the contact's profile name, sent_at = timestamp,
// provider_event_type = message type.
//   text                                  -> text {text.body}
//   button                                -> button {data = button.payload, text = button.text}
//   interactive button_reply / list_reply -> button {data = reply id, text = reply title}
//   anything else (image, audio, sticker, location, reaction, unsupported, ...) -> non_text {kind = type}
// Status receipts and changes other than "messages" give no events (an empty vector is a valid answer).
// INVALID_ARGUMENT for malformed JSON, a missing `entry` array, a field of the wrong type, or a message
// without id, from or type: kMissingId for a message without id, kMalformed for the rest.
absl::StatusOr<std::vector<common::v1::ChatEvent>> ParseWebhook(std::string_view body);

}  // namespace protectogram::providers::whatsapp
