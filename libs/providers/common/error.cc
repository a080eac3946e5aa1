#include "libs/providers/common/error.h"

#include <string>
#include <utility>

#include "absl/strings/cord.h"

namespace protectogram::providers {
namespace {

constexpr ProviderError kAllErrors[] = {
    ProviderError::kMissingSignature, ProviderError::kBadSignature, ProviderError::kMalformedSignature,
    ProviderError::kReplay,           ProviderError::kBadKey,       ProviderError::kUnknownBot,
    ProviderError::kBadVerifyToken,   ProviderError::kMalformed,    ProviderError::kMissingId,
};

}  // namespace

std::string_view ProviderErrorLabel(ProviderError reason) {
  switch (reason) {
    case ProviderError::kMissingSignature:
      return "missing_signature";
    case ProviderError::kBadSignature:
      return "bad_signature";
    case ProviderError::kMalformedSignature:
      return "malformed_signature";
    case ProviderError::kReplay:
      return "replay";
    case ProviderError::kBadKey:
      return "bad_key";
    case ProviderError::kUnknownBot:
      return "unknown_bot";
    case ProviderError::kBadVerifyToken:
      return "bad_verify_token";
    case ProviderError::kMalformed:
      return "malformed";
    case ProviderError::kMissingId:
      return "missing_id";
  }
  return "unknown";
}

absl::Status WithProviderError(absl::Status status, ProviderError reason) {
  if (!status.ok()) {
    status.SetPayload(kProviderErrorPayloadUrl, absl::Cord(std::string(ProviderErrorLabel(reason))));
  }
  return status;
}

absl::Status WithProviderErrorIfNone(absl::Status status, ProviderError reason) {
  if (status.ok() || status.GetPayload(kProviderErrorPayloadUrl).has_value()) return status;
  return WithProviderError(std::move(status), reason);
}

std::optional<ProviderError> ProviderErrorOf(const absl::Status& status) {
  if (status.ok()) return std::nullopt;
  const auto payload = status.GetPayload(kProviderErrorPayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  for (ProviderError reason : kAllErrors) {
    if (*payload == std::string(ProviderErrorLabel(reason))) return reason;
  }
  return std::nullopt;
}

}  // namespace protectogram::providers
