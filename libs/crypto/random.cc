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

}  // namespace protectogram::crypto
