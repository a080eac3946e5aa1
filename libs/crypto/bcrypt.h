// bcrypt password hashes via libxcrypt (crypt_r / crypt_gensalt_rn), for the REST call API's users (SPEC §6).
//
// New hashes use the "$2b$" prefix; verification also accepts "$2a$" and "$2y$" hashes made elsewhere (for
// example by Python's passlib/bcrypt in an existing deployment).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace protectogram::crypto {

inline constexpr int kBcryptDefaultCost = 12;
// bcrypt reads at most 72 bytes of a password.
inline constexpr size_t kBcryptMaxPasswordBytes = 72;

// A new "$2b$<cost>$<salt+hash>" string with a random 16-byte salt.
// INVALID_ARGUMENT if cost is outside 4..31, or the password is longer than 72 bytes or contains a NUL byte
// (bcrypt would silently ignore the rest); INTERNAL if the CSPRNG or libxcrypt fails.
absl::StatusOr<std::string> BcryptHash(std::string_view password, int cost = kBcryptDefaultCost);

// True when `password` matches `hash`; false when it does not (compared in constant time).
// INVALID_ARGUMENT if `hash` is not a bcrypt hash ($2a$/$2b$/$2y$) that libxcrypt accepts.
absl::StatusOr<bool> BcryptVerify(std::string_view password, std::string_view hash);

}  // namespace protectogram::crypto
