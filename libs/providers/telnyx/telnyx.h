// Telnyx Call Control v2 webhooks: Ed25519 signature check and event parsing. Pure functions.
//
// Protocol facts relied on (sources: team-telnyx/telnyx-python src/telnyx/lib/webhook_verification.py and
// types/call_*.py; team-telnyx/telnyx-ruby test/telnyx/lib/webhooks_ed25519_test.rb;
// developers.telnyx.com/api-reference/callbacks/*; see docs/providers.md):
// - Headers `telnyx-signature-ed25519` (base64 of the 64-byte Ed25519 signature) and `telnyx-timestamp` (Unix
//   seconds). The signed bytes are `timestamp + "|" + raw_body`, the body exactly as received.
// - The public key (TELNYX_PUBLIC_KEY) is base64 of the raw 32-byte Ed25519 key; a base64
//   SubjectPublicKeyInfo DER (44 bytes, the key in its last 32) is accepted too.
// - Tolerance: a timestamp more than 300 s from now, either way, is refused (python
//   TIMESTAMP_TOLERANCE_SECONDS).
// - Envelope {"data":{"record_type":"event","event_type":"call.hangup","id":"<uuid>",
//   "occurred_at":"<RFC 3339>","payload":{...}},"meta":{...}}.
//   Payload: call_control_id, call_leg_id, call_session_id, connection_id, client_state (base64, echoed
//   from our commands), from, to; per event: call.dtmf.received `digit`;
//   call.gather.ended `digits`, `status` (valid, invalid, call_hangup, cancelled, cancelled_amd, timeout);
//   call.speak.ended `status`; call.hangup `hangup_cause`, `hangup_source`, `start_time`, `end_time`;
//   call.machine[.premium].detection.ended `result` (human, machine, not_sure, ...).
// - Webhooks may come out of order, twice, or at once: data.id is the dedup key.
//
// Every error of the checks and ParseEvent carries its reason (libs/providers/common/error.h), named below.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "protectogram/common/v1/events.pb.h"

namespace protectogram::providers::telnyx {

inline constexpr char kSignatureHeader[] = "telnyx-signature-ed25519";
inline constexpr char kTimestampHeader[] = "telnyx-timestamp";
inline constexpr absl::Duration kDefaultTolerance = absl::Seconds(300);

// The raw 32-byte key from TELNYX_PUBLIC_KEY: base64 of the raw key, or of an Ed25519 SubjectPublicKeyInfo
// DER. INVALID_ARGUMENT("malformed public key", kBadKey) otherwise. For config validation at start and for
// VerifyWebhook.
absl::StatusOr<std::string> ParsePublicKey(std::string_view public_key_b64);

// The checks of VerifyWebhook that need no body (all but the signature itself), in the same order and with
// the same errors: for refusing a request from its headers before its body is read.
absl::Status CheckWebhookHeaders(std::string_view public_key_b64, std::string_view signature_b64_header,
                                 std::string_view timestamp_header, absl::Time now,
                                 absl::Duration tolerance = kDefaultTolerance);

// Checks a Telnyx webhook. In order (with the reason each error carries):
//   INVALID_ARGUMENT("malformed public key")        kBadKey             the configured key is not usable
//   PERMISSION_DENIED("missing signature" / "missing timestamp")
//                                                   kMissingSignature   a header is empty or absent
//   INVALID_ARGUMENT("malformed signature header")  kMalformedSignature not base64 of 64 bytes
//   INVALID_ARGUMENT("malformed timestamp header")  kMalformedSignature not a decimal Unix time
//   PERMISSION_DENIED("timestamp outside window")   kReplay             |now - timestamp| > tolerance (replay
//                                                                       or skew)
//   PERMISSION_DENIED("bad signature")              kBadSignature       the signature does not verify over
//                                                                       timestamp|raw_body
absl::Status VerifyWebhook(std::string_view public_key_b64, std::string_view signature_b64_header,
                           std::string_view timestamp_header, std::string_view raw_body, absl::Time now,
                           absl::Duration tolerance = kDefaultTolerance);

// The telnyx-signature-ed25519 header value for `raw_body` sent at `timestamp_header`, signed with a 32-byte
// Ed25519 seed: for the Telnyx simulator and tests. INVALID_ARGUMENT if the seed is not 32 bytes.
absl::StatusOr<std::string> SignWebhook(std::string_view seed, std::string_view timestamp_header,
                                        std::string_view raw_body);

// The webhook as a CallEvent: provider TELNYX, provider_event_id = data.id, provider_event_type =
// data.event_type, type mapped as
//   call.initiated -> INITIATED, call.answered -> ANSWERED, call.dtmf.received -> DTMF (digits = digit),
//   call.gather.ended -> GATHER_ENDED (digits, status), call.speak.ended -> SPEAK_ENDED (status),
//   call.hangup -> HANGUP (hangup_cause; duration_sec from start_time/end_time),
//   call.machine.detection.ended / call.machine.premium.detection.ended -> MACHINE_DETECTION_ENDED
//   (status = result), anything else -> OTHER;
// call_id = payload.call_control_id, call_session_id, client_state base64-decoded, from, to, occurred_at.
// INVALID_ARGUMENT for malformed JSON, a missing data / data.id / data.event_type, a field of the wrong type,
// a client_state that is not base64 of UTF-8 text, or an occurred_at that is not RFC 3339: kMissingId for a
// missing (or empty) data.id, kMalformed for the rest.
absl::StatusOr<common::v1::CallEvent> ParseEvent(std::string_view body);

}  // namespace protectogram::providers::telnyx
