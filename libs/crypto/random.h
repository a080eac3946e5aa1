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

}  // namespace protectogram::crypto
