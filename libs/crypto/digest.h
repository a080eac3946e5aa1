// SHA-256 and HMAC (RFC 2104) over OpenSSL 3. Results are raw bytes unless the name says Hex.
#pragma once

#include <string>
#include <string_view>

namespace protectogram::crypto {

// SHA-256 of `data`: 32 raw bytes.
std::string Sha256(std::string_view data);
// SHA-256 of `data` as 64 lower-case hex characters (Twilio's bodySHA256).
std::string Sha256Hex(std::string_view data);

// HMAC-SHA1(key, message): 20 raw bytes (Twilio's X-Twilio-Signature, before base64).
std::string HmacSha1(std::string_view key, std::string_view message);
// HMAC-SHA256(key, message): 32 raw bytes (Meta's X-Hub-Signature-256, before hex; JWT HS256).
std::string HmacSha256(std::string_view key, std::string_view message);

}  // namespace protectogram::crypto
