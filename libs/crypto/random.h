// Secure random bytes and tokens from OpenSSL's CSPRNG (RAND_bytes).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace protectogram::crypto {

// `n` random bytes. INTERNAL if the CSPRNG fails (it is seeded by the kernel; this does not happen in
// practice, but the caller must not fall back to a weak source).
absl::StatusOr<std::string> RandomBytes(size_t n);

// `n_bytes` random bytes as 2*n_bytes lower-case hex characters.
absl::StatusOr<std::string> RandomHexToken(size_t n_bytes);

// A guardian invite token (SPEC §3): 16 lower-case hex characters, i.e. 64 random bits.
inline constexpr size_t kInviteTokenLength = 16;
absl::StatusOr<std::string> NewInviteToken();
// True when `token` has the invite token shape (exactly 16 lower-case hex characters).
bool IsInviteToken(std::string_view token);

// UUIDs in their 8-4-4-4-12 lower-case hex form (RFC 9562).
// A version-4 UUID from the first 16 bytes of `bytes` (version and variant bits set): random bytes give a
// random UUID, a digest gives a stable UUID-shaped key. INVALID_ARGUMENT for fewer than 16 bytes.
absl::StatusOr<std::string> UuidFromBytes(std::string_view bytes);
// A new random version-4 UUID. INTERNAL if the CSPRNG fails.
absl::StatusOr<std::string> NewUuid();
// True for a UUID in its 8-4-4-4-12 hex form (any case).
bool IsUuid(std::string_view id);

}  // namespace protectogram::crypto
