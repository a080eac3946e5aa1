#include "libs/crypto/random.h"

#include <openssl/rand.h>

#include <climits>

#include "absl/status/status.h"
#include "libs/crypto/encoding.h"

namespace protectogram::crypto {

absl::StatusOr<std::string> RandomBytes(size_t n) {
  if (n > static_cast<size_t>(INT_MAX)) return absl::InvalidArgumentError("random: too many bytes");
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return absl::InternalError("random: RAND_bytes failed");
  }
  return out;
}

absl::StatusOr<std::string> RandomHexToken(size_t n_bytes) {
  absl::StatusOr<std::string> bytes = RandomBytes(n_bytes);
  if (!bytes.ok()) return bytes.status();
  return HexEncode(*bytes);
}

absl::StatusOr<std::string> NewInviteToken() { return RandomHexToken(kInviteTokenLength / 2); }

bool IsInviteToken(std::string_view token) {
  if (token.size() != kInviteTokenLength) return false;
  for (char c : token) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::StatusOr<std::string> UuidFromBytes(std::string_view bytes) {
  if (bytes.size() < 16) return absl::InvalidArgumentError("uuid: fewer than 16 bytes");
  std::string b(bytes.substr(0, 16));
  b[6] = static_cast<char>((static_cast<unsigned char>(b[6]) & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<char>((static_cast<unsigned char>(b[8]) & 0x3f) | 0x80);  // variant 10
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[static_cast<unsigned char>(b[i]) >> 4]);
    out.push_back(kHex[static_cast<unsigned char>(b[i]) & 0x0f]);
  }
  return out;
}

absl::StatusOr<std::string> NewUuid() {
  absl::StatusOr<std::string> bytes = RandomBytes(16);
  if (!bytes.ok()) return bytes.status();
  return UuidFromBytes(*bytes);
}

bool IsUuid(std::string_view id) {
  if (id.size() != 36) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    const char c = id[i];
    if (dash != (c == '-')) return false;
    if (!dash && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  }
  return true;
}

}  // namespace protectogram::crypto
