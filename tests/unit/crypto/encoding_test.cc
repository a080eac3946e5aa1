#include "libs/crypto/encoding.h"

#include <gtest/gtest.h>

#include "libs/crypto/constant_time.h"

namespace protectogram::crypto {
namespace {

TEST(HexTest, RoundTrip) {
  EXPECT_EQ(HexEncode(std::string("\x00\x01\xab\xff", 4)), "0001abff");
  ASSERT_TRUE(HexDecode("0001ABff").ok());
  EXPECT_EQ(*HexDecode("0001ABff"), std::string("\x00\x01\xab\xff", 4));
  EXPECT_EQ(*HexDecode(""), "");
}

TEST(HexTest, RefusesMalformed) {
  EXPECT_EQ(HexDecode("abc").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HexDecode("zz").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HexDecode("0x00").status().code(), absl::StatusCode::kInvalidArgument);
}

// RFC 4648 §10 test vectors.
TEST(Base64Test, Rfc4648Vectors) {
  const std::pair<const char*, const char*> kVectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    ASSERT_TRUE(Base64Decode(encoded).ok()) << encoded;
    EXPECT_EQ(*Base64Decode(encoded), plain);
  }
}

TEST(Base64Test, StrictDecoding) {
  for (const char* bad : {"Zg", "Zg=", "Zg===", "Z===", "Zm9v\n", " Zm9v", "Zm-v", "Zm_v",
                          "Zh==", "Zm9=", "=Zm9", "Zg==Zg==", "Zm9vYg=a"}) {
    EXPECT_EQ(Base64Decode(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(Base64UrlTest, UrlSafeAlphabetNoPadding) {
  const std::string bytes("\xfb\xff\xfe", 3);
  EXPECT_EQ(Base64Encode(bytes), "+//+");
  EXPECT_EQ(Base64UrlEncode(bytes), "-__-");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(*Base64UrlDecode("-__-"), bytes);
  EXPECT_EQ(*Base64UrlDecode("Zg"), "f");
  EXPECT_EQ(*Base64UrlDecode("Zg=="), "f");
  for (const char* bad : {"+//+", "Zg=", "Zg===", "Z", "Zh", "Zm9v="}) {
    EXPECT_EQ(Base64UrlDecode(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ConstantTimeTest, Equals) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret2"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  EXPECT_TRUE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

}  // namespace
}  // namespace protectogram::crypto
