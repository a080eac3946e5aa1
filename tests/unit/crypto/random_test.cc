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

TEST(RandomTest, UuidFromBytesSetsVersionAndVariant) {
  // 16 bytes of 0xff: version nibble 4, variant bits 10 (0xbf), everything else kept.
  EXPECT_EQ(*UuidFromBytes(std::string(16, '\xff')), "ffffffff-ffff-4fff-bfff-ffffffffffff");
  EXPECT_EQ(*UuidFromBytes(std::string(20, '\0')), "00000000-0000-4000-8000-000000000000");
  EXPECT_EQ(UuidFromBytes("short").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RandomTest, NewUuidsAreRandomVersion4) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<std::string> id = NewUuid();
    ASSERT_TRUE(id.ok()) << id.status();
    ASSERT_TRUE(IsUuid(*id)) << *id;
    EXPECT_EQ((*id)[14], '4');
    seen.insert(*id);
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_TRUE(IsUuid("6F1C2A8E-8D0B-4C1E-9A53-1F2B3C4D5E6F"));
  EXPECT_FALSE(IsUuid("6f1c2a8e8d0b4c1e9a531f2b3c4d5e6f"));
  EXPECT_FALSE(IsUuid("6f1c2a8e-8d0b-4c1e-9a53-1f2b3c4d5e6g"));
}

}  // namespace
}  // namespace protectogram::crypto
