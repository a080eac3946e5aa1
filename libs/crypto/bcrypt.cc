#include "libs/crypto/bcrypt.h"

#include <crypt.h>

#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "libs/crypto/constant_time.h"
#include "libs/crypto/random.h"

namespace protectogram::crypto {
namespace {

bool IsBcryptPrefix(std::string_view hash) {
  return hash.starts_with("$2b$") || hash.starts_with("$2a$") || hash.starts_with("$2y$");
}

// crypt_r over NUL-terminated copies. Returns the hash, or nullopt-like empty string on failure: libxcrypt
// signals failure with NULL or a string starting with '*'.
std::string CryptR(const std::string& phrase, const std::string& setting) {
  // struct crypt_data is ~32 KiB: keep it off the stack. Zeroed as crypt(3) asks before first use.
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* out = crypt_r(phrase.c_str(), setting.c_str(), data.get());
  std::string result = (out == nullptr || out[0] != '$') ? std::string() : std::string(out);
  std::memset(data.get(), 0, sizeof(crypt_data));  // it held the password
  return result;
}

}  // namespace

absl::StatusOr<std::string> BcryptHash(std::string_view password, int cost) {
  if (cost < 4 || cost > 31) return absl::InvalidArgumentError("bcrypt: cost must be 4..31");
  if (password.size() > kBcryptMaxPasswordBytes) {
    return absl::InvalidArgumentError("bcrypt: password longer than 72 bytes");
  }
  if (password.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("bcrypt: password contains a NUL byte");
  }
  absl::StatusOr<std::string> salt = RandomBytes(16);
  if (!salt.ok()) return salt.status();
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn("$2b$", static_cast<unsigned long>(cost), salt->data(), static_cast<int>(salt->size()),
                       setting, sizeof(setting)) == nullptr) {
    return absl::InternalError("bcrypt: crypt_gensalt_rn failed");
  }
  std::string hash = CryptR(std::string(password), setting);
  if (hash.empty()) return absl::InternalError("bcrypt: crypt_r failed");
  return hash;
}

absl::StatusOr<bool> BcryptVerify(std::string_view password, std::string_view hash) {
  if (!IsBcryptPrefix(hash) || hash.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("bcrypt: not a bcrypt hash");
  }
  // A NUL would end the C string early: such a password can never be the one that was hashed.
  if (password.find('\0') != std::string_view::npos) return false;
  std::string computed = CryptR(std::string(password), std::string(hash));
  if (computed.empty()) return absl::InvalidArgumentError("bcrypt: malformed hash");
  return ConstantTimeEquals(computed, hash);
}

}  // namespace protectogram::crypto
