#include "libs/crypto/digest.h"

#include <gtest/gtest.h>

#include "libs/crypto/encoding.h"

namespace protectogram::crypto {
namespace {

TEST(Sha256Test, Fips180Vectors) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256("abc").size(), 32u);
}

struct MacVector {
  std::string key;
  std::string data;
  const char* hex;
};

// RFC 4231 §4.2, §4.3, §4.4, §4.7 (test cases 1, 2, 3, 6).
TEST(HmacSha256Test, Rfc4231Vectors) {
  const MacVector kVectors[] = {
      {std::string(20, '\x0b'), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {std::string(20, '\xaa'), std::string(50, '\xdd'),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
  };
  for (const MacVector& v : kVectors) EXPECT_EQ(HexEncode(HmacSha256(v.key, v.data)), v.hex);
}

// RFC 2202 §3 (test cases 1, 2, 3, 6).
TEST(HmacSha1Test, Rfc2202Vectors) {
  const MacVector kVectors[] = {
      {std::string(20, '\x0b'), "Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"},
      {"Jefe", "what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
      {std::string(20, '\xaa'), std::string(50, '\xdd'), "125d7342b9ac11cd91a39af48aa17b4f63f175d3"},
      {std::string(80, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
       "aa4ae5e15272d00e95705637ce8a3b55ed402112"},
  };
  for (const MacVector& v : kVectors) EXPECT_EQ(HexEncode(HmacSha1(v.key, v.data)), v.hex);
}

TEST(HmacTest, EmptyKeyWorks) {
  // Same as `printf '' | openssl dgst -sha256 -hmac ''`.
  EXPECT_EQ(HexEncode(HmacSha256("", "")),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

}  // namespace
}  // namespace protectogram::crypto
