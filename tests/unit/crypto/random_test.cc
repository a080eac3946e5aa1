#include "libs/crypto/random.h"

#include <gtest/gtest.h>

#include <set>

namespace protectogram::crypto {
namespace {

TEST(RandomTest, BytesHaveTheAskedLength) {
  EXPECT_EQ(RandomBytes(0)->size(), 0u);
  EXPECT_EQ(RandomBytes(32)->size(), 32u);
  EXPECT_NE(*RandomBytes(32), *RandomBytes(32));
  EXPECT_EQ(RandomHexToken(16)->size(), 32u);
}

TEST(RandomTest, InviteTokensAre16HexAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<std::string> token = NewInviteToken();
    ASSERT_TRUE(token.ok());
    EXPECT_TRUE(IsInviteToken(*token)) << *token;
    seen.insert(*token);
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(RandomTest, IsInviteTokenShape) {
  EXPECT_TRUE(IsInviteToken("0123456789abcdef"));
  EXPECT_FALSE(IsInviteToken("0123456789ABCDEF"));
  EXPECT_FALSE(IsInviteToken("0123456789abcde"));
  EXPECT_FALSE(IsInviteToken("0123456789abcdefa"));
  EXPECT_FALSE(IsInviteToken("0123456789abcdeg"));
}

}  // namespace
}  // namespace protectogram::crypto
