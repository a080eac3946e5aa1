#include "libs/crypto/bcrypt.h"

#include <gtest/gtest.h>

namespace protectogram::crypto {
namespace {

// Openwall crypt_blowfish 1.3 reference vectors (wrapper.c `tests[]`), also used by OpenBSD and John the
// Ripper.
TEST(BcryptTest, KnownHashesVerify) {
  const std::pair<const char*, const char*> kVectors[] = {
      {"U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},
      {"U*U*", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK"},
      {"U*U*U", "$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a"},
      {"", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy"},
      // $2b$ differs from $2a$ only for passwords over 255 bytes: same hash for ASCII input.
      {"U*U", "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},
  };
  for (const auto& [password, hash] : kVectors) {
    absl::StatusOr<bool> ok = BcryptVerify(password, hash);
    ASSERT_TRUE(ok.ok()) << hash << ": " << ok.status();
    EXPECT_TRUE(*ok) << hash;
    EXPECT_FALSE(*BcryptVerify(std::string(password) + "x", hash)) << hash;
  }
}

TEST(BcryptTest, HashRoundTripUses2bAndCost) {
  absl::StatusOr<std::string> hash = BcryptHash("correct horse", 4);
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_EQ(hash->substr(0, 7), "$2b$04$");
  EXPECT_EQ(hash->size(), 60u);
  EXPECT_TRUE(*BcryptVerify("correct horse", *hash));
  EXPECT_FALSE(*BcryptVerify("correct horsE", *hash));
  // A fresh salt every time.
  EXPECT_NE(*hash, *BcryptHash("correct horse", 4));
}

TEST(BcryptTest, RefusesBadInput) {
  EXPECT_EQ(BcryptHash("pw", 3).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BcryptHash(std::string(73, 'a'), 4).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BcryptHash(std::string("a\0b", 3), 4).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BcryptVerify("pw", "plaintext").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BcryptVerify("pw", "$1$abc$def").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BcryptVerify("pw", "$2b$05$short").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(*BcryptVerify(std::string("U*U\0x", 5),
                             "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
}

}  // namespace
}  // namespace protectogram::crypto
