// Hex and base64 (RFC 4648) encoders and strict decoders.
//
// Decoders are strict so that one byte string has exactly one accepted text form: no whitespace, no
// characters outside the alphabet, no non-zero bits in the unused tail of the last character. They return
// INVALID_ARGUMENT with a short reason otherwise.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace protectogram::crypto {

// Lower-case hex, two characters per byte.
std::string HexEncode(std::string_view bytes);
// Accepts upper- and lower-case hex. INVALID_ARGUMENT on odd length or a non-hex character.
absl::StatusOr<std::string> HexDecode(std::string_view hex);

// Standard alphabet (A-Z a-z 0-9 + /), padded with '=' to a multiple of 4.
std::string Base64Encode(std::string_view bytes);
// Standard alphabet; the input must be padded (length a multiple of 4). INVALID_ARGUMENT otherwise.
absl::StatusOr<std::string> Base64Decode(std::string_view text);

// URL-safe alphabet (A-Z a-z 0-9 - _), no padding (as JWT uses it, RFC 7515 §2).
std::string Base64UrlEncode(std::string_view bytes);
// URL-safe alphabet; padding is optional but, when present, must be exactly right. INVALID_ARGUMENT
// otherwise.
absl::StatusOr<std::string> Base64UrlDecode(std::string_view text);

}  // namespace protectogram::crypto
