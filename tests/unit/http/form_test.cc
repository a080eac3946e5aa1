#include "libs/http/form.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace protectogram::http {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

TEST(FormDecodeTest, TwilioWebhookBody) {
  auto fields = FormDecode("AccountSid=AC123&From=%2B15551234567&Body=Hello+world%21&NumMedia=0");
  EXPECT_THAT(fields, ElementsAre(Pair("AccountSid", "AC123"), Pair("Body", "Hello world!"),
                                  Pair("From", "+15551234567"), Pair("NumMedia", "0")));
}

TEST(FormDecodeTest, PlusIsSpaceAndPercentIsByte) {
  auto fields = FormDecode("a=x+y&b=%41%2b%2B&c=%e2%82%AC&d+e=%20");
  EXPECT_THAT(fields,
              ElementsAre(Pair("a", "x y"), Pair("b", "A++"), Pair("c", "\xE2\x82\xAC"), Pair("d e", " ")));
}

TEST(FormDecodeTest, EmptyAndValuelessFields) {
  auto fields = FormDecode("a=1&&b&c=&=v&");
  EXPECT_THAT(fields, ElementsAre(Pair("", "v"), Pair("a", "1"), Pair("b", ""), Pair("c", "")));
  EXPECT_TRUE(FormDecode("").empty());
  EXPECT_TRUE(FormDecode("&&").empty());
}

TEST(FormDecodeTest, RepeatedNamesKeepAllValuesInOrder) {
  auto fields = FormDecode("MediaUrl=a&x=1&MediaUrl=b&MediaUrl=c");
  auto [begin, end] = fields.equal_range("MediaUrl");
  std::vector<std::string> values;
  for (auto it = begin; it != end; ++it) values.push_back(it->second);
  EXPECT_THAT(values, ElementsAre("a", "b", "c"));
}

TEST(FormDecodeTest, MalformedEscapesAreKept) {
  auto fields = FormDecode("a=%zz&b=%4&c=%&d=100%25");
  EXPECT_THAT(fields, ElementsAre(Pair("a", "%zz"), Pair("b", "%4"), Pair("c", "%"), Pair("d", "100%")));
}

TEST(FormDecodeTest, EqualsInValueIsKept) {
  EXPECT_THAT(FormDecode("sig=abc==&x=a=b"), ElementsAre(Pair("sig", "abc=="), Pair("x", "a=b")));
}

TEST(FormEncodeTest, EncodesLikeBrowsers) {
  std::map<std::string, std::string> fields = {
      {"To", "+7 999"}, {"Body", "h\xC3\xA9llo&=/?"}, {"safe", "aZ09-._*"}, {"tilde", "~"}};
  EXPECT_EQ(FormEncode(fields), "Body=h%C3%A9llo%26%3D%2F%3F&To=%2B7+999&safe=aZ09-._*&tilde=%7E");
}

TEST(FormEncodeTest, KeepsOrderAndRepeatsOfListsAndMultimaps) {
  std::vector<std::pair<std::string, std::string>> list = {{"b", "1"}, {"a", "2"}, {"b", "3"}};
  EXPECT_EQ(FormEncode(list), "b=1&a=2&b=3");
  std::multimap<std::string, std::string> multi = {{"b", "1"}, {"a", "2"}, {"b", "3"}};
  EXPECT_EQ(FormEncode(multi), "a=2&b=1&b=3");
  EXPECT_EQ(FormEncode(std::map<std::string, std::string>{}), "");
}

TEST(FormEncodeTest, RoundTrips) {
  std::multimap<std::string, std::string> fields = {
      {"k y", "v a+l&u=e%"}, {"\x01\xff", "\n\r"}, {"empty", ""}, {"k y", "second"}};
  EXPECT_EQ(FormDecode(FormEncode(fields)), fields);
}

TEST(PercentTest, EncodeAndDecode) {
  EXPECT_EQ(PercentEncode("a b+c/~_.-"), "a%20b%2Bc%2F~_.-");
  EXPECT_EQ(PercentDecode("a%20b%2Bc+d"), "a b+c+d");
  EXPECT_EQ(PercentDecode("a%20b%2Bc+d", /*plus_as_space=*/true), "a b+c d");
  const std::string raw("\x00\x7f\x80 z", 5);
  EXPECT_EQ(PercentEncode(raw), "%00%7F%80%20z");
  EXPECT_EQ(PercentDecode(PercentEncode(raw)), raw);
}

}  // namespace
}  // namespace protectogram::http
