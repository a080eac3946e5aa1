// Ed25519 (RFC 8032) signatures over OpenSSL 3, with raw 32-byte keys.
//
// Telnyx signs its webhooks with Ed25519 and publishes the public key as base64 of the raw 32 bytes; the
// Telnyx simulator and the tests sign with a 32-byte seed (the RFC 8032 "secret key").
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace protectogram::crypto {

inline constexpr size_t kEd25519KeySize = 32;
inline constexpr size_t kEd25519SignatureSize = 64;

// OK when `signature` (64 raw bytes) is a valid signature of `message` under `public_key` (32 raw bytes).
// INVALID_ARGUMENT if the key or signature has the wrong size or the key is not a valid point;
// PERMISSION_DENIED("bad signature") if the signature does not verify.
absl::Status Ed25519Verify(std::string_view public_key, std::string_view message, std::string_view signature);

// The 64-byte signature of `message` under the 32-byte `seed`. INVALID_ARGUMENT if the seed is not 32 bytes.
absl::StatusOr<std::string> Ed25519Sign(std::string_view seed, std::string_view message);

// The 32-byte public key for a 32-byte seed. INVALID_ARGUMENT if the seed is not 32 bytes.
absl::StatusOr<std::string> Ed25519PublicKeyFromSeed(std::string_view seed);

}  // namespace protectogram::crypto
