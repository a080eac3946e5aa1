// Why a provider check or parser refused its input, as a machine-readable reason on the status it returns,
// so that callers (the edge's refusals) branch on it without parsing messages. Every verification and webhook
// parsing error of libs/providers/{telegram,telnyx,twilio,whatsapp} carries one; the status code and message
// are as each function documents, the reason only says which kind of refusal it is:
//   if (ProviderErrorOf(status) == ProviderError::kReplay) { ... a timestamp outside the window ... }
// Stored as a status payload, as libs/pg stores the SQLSTATE (libs/pg/status.h).
#pragma once

#include <optional>
#include <string_view>

#include "absl/status/status.h"

namespace protectogram::providers {

enum class ProviderError {
  kMissingSignature,    // no signature / secret token / timestamp header (or Twilio's bodySHA256)
  kBadSignature,        // a signature or secret that does not match (or a body that is not its bodySHA256)
  kMalformedSignature,  // a signature or timestamp header that is not even well-formed
  kReplay,              // a signed timestamp outside the window
  kBadKey,              // our own configured key is unusable (TELNYX_PUBLIC_KEY)
  kUnknownBot,          // a bot id that is not configured
  kBadVerifyToken,      // a WhatsApp subscription check with another verify token
  kMalformed,           // not JSON / not a form / a field missing or of the wrong type
  kMissingId,           // no event id (update_id, data.id, CallSid, MessageSid, a message's id)
};

// The payload type URL under which the reason is stored on a status.
inline constexpr char kProviderErrorPayloadUrl[] = "type.protectogram.dev/providers.error";

// "missing_signature", "bad_signature", "malformed_signature", "replay", "bad_key", "unknown_bot",
// "bad_verify_token", "malformed", "missing_id".
std::string_view ProviderErrorLabel(ProviderError reason);

// `status` with `reason` attached (replacing any other). OK stays OK.
absl::Status WithProviderError(absl::Status status, ProviderError reason);
// `status` with `reason` attached unless it carries one already: a parser's catch-all (kMalformed) that keeps
// the more precise reason of a step (kMissingId). OK stays OK.
absl::Status WithProviderErrorIfNone(absl::Status status, ProviderError reason);
// The reason attached to `status`, or nullopt (OK, or a status from elsewhere).
std::optional<ProviderError> ProviderErrorOf(const absl::Status& status);

}  // namespace protectogram::providers
