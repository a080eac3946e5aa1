#include "libs/crypto/ed25519.h"

#include <gtest/gtest.h>

#include "libs/crypto/encoding.h"

namespace protectogram::crypto {
namespace {

std::string Hex(std::string_view hex) { return *HexDecode(hex); }

struct Rfc8032Vector {
  const char* secret;
  const char* public_key;
  const char* message;
  const char* signature;
};

// RFC 8032 §7.1, TEST 1 (empty message) and TEST 2 (one byte 0x72).
constexpr Rfc8032Vector kTest1 = {
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    "",
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0"
    "595bbe24"
    "655141438e7a100b",
};
constexpr Rfc8032Vector kTest2 = {
    "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    "72",
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eae"
    "b4302aee"
    "b00d291612bb0c00",
};

class Ed25519VectorTest : public ::testing::TestWithParam<Rfc8032Vector> {};

TEST_P(Ed25519VectorTest, PublicKeySignAndVerify) {
  const Rfc8032Vector& v = GetParam();
  EXPECT_EQ(HexEncode(*Ed25519PublicKeyFromSeed(Hex(v.secret))), v.public_key);
  absl::StatusOr<std::string> signature = Ed25519Sign(Hex(v.secret), Hex(v.message));
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_EQ(HexEncode(*signature), v.signature);
  EXPECT_TRUE(Ed25519Verify(Hex(v.public_key), Hex(v.message), Hex(v.signature)).ok());
}

TEST_P(Ed25519VectorTest, RefusesTamperedMessageAndSignature) {
  const Rfc8032Vector& v = GetParam();
  EXPECT_EQ(Ed25519Verify(Hex(v.public_key), Hex(v.message) + "x", Hex(v.signature)).code(),
            absl::StatusCode::kPermissionDenied);
  std::string signature = Hex(v.signature);
  signature[5] ^= 0x01;
  EXPECT_EQ(Ed25519Verify(Hex(v.public_key), Hex(v.message), signature).code(),
            absl::StatusCode::kPermissionDenied);
}

INSTANTIATE_TEST_SUITE_P(Rfc8032, Ed25519VectorTest, ::testing::Values(kTest1, kTest2));

TEST(Ed25519Test, WrongKeyIsRefused) {
  // TEST 1's signature under TEST 2's key.
  EXPECT_EQ(Ed25519Verify(Hex(kTest2.public_key), "", Hex(kTest1.signature)).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(Ed25519Test, WrongSizesAreInvalidArgument) {
  EXPECT_EQ(Ed25519Verify(std::string(31, 'k'), "", Hex(kTest1.signature)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Ed25519Verify(Hex(kTest1.public_key), "", std::string(63, 's')).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Ed25519Sign(std::string(33, 's'), "m").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Ed25519PublicKeyFromSeed("").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace protectogram::crypto
