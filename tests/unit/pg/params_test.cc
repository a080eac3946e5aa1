// Params encoding and text parsing (no server needed).
#include "libs/pg/params.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "libs/pg/result.h"

namespace protectogram::pg {
namespace {

TEST(Params, EncodesEveryType) {
  const std::optional<int64_t> none;
  const std::optional<std::string> some = "x";
  const std::string s = "str";
  const std::string_view sv = "view";
  const char* null_text = nullptr;
  const absl::Time t = absl::FromUnixMicros(1764000000123456);  // 2025-11-24 16:00:00.123456 UTC
  Params p{int64_t{-5},
           int32_t{7},
           1.5,
           true,
           false,
           s,
           sv,
           "lit",
           null_text,
           none,
           some,
           std::nullopt,
           t,
           std::vector<int64_t>{1, 2},
           std::vector<std::string>{"a\"b", "c\\d"},
           uint64_t{18446744073709551615u}};
  ASSERT_EQ(p.size(), 16u);
  EXPECT_EQ(p.value(0), "-5");
  EXPECT_EQ(p.value(1), "7");
  EXPECT_EQ(p.value(2), "1.5");
  EXPECT_EQ(p.value(3), "true");
  EXPECT_EQ(p.value(4), "false");
  EXPECT_EQ(p.value(5), "str");
  EXPECT_EQ(p.value(6), "view");
  EXPECT_EQ(p.value(7), "lit");
  EXPECT_EQ(p.value(8), std::nullopt);
  EXPECT_EQ(p.value(9), std::nullopt);
  EXPECT_EQ(p.value(10), "x");
  EXPECT_EQ(p.value(11), std::nullopt);
  EXPECT_EQ(p.value(12), "2025-11-24 16:00:00.123456+00");
  EXPECT_EQ(p.value(13), "{1,2}");
  EXPECT_EQ(p.value(14), R"({"a\"b","c\\d"})");
  EXPECT_EQ(p.value(15), "18446744073709551615");
}

TEST(Params, DoublesRoundTripAndSpecials) {
  Params p{0.1, std::numeric_limits<double>::infinity(), std::nan("")};
  EXPECT_EQ(p.value(0), "0.1");
  EXPECT_EQ(p.value(1), "Infinity");
  EXPECT_EQ(p.value(2), "NaN");
}

TEST(Params, InfiniteTimes) {
  Params p{absl::InfiniteFuture(), absl::InfinitePast()};
  EXPECT_EQ(p.value(0), "infinity");
  EXPECT_EQ(p.value(1), "-infinity");
}

TEST(ParseText, Timestamps) {
  const absl::Time base = absl::FromCivil(absl::CivilSecond(2026, 11, 24, 7, 19, 8), absl::UTCTimeZone());
  struct Case {
    const char* text;
    absl::Time want;
  } cases[] = {
      {"2026-11-24 07:19:08+00", base},
      {"2026-11-24 07:19:08.123456+00", base + absl::Microseconds(123456)},
      {"2026-11-24 10:19:08.5+03", base + absl::Milliseconds(500)},
      {"2026-11-24 01:49:08-05:30", base},
      {"2026-11-24 07:19:44+00:00:36", base},
      {"2026-11-24T07:19:08Z", base},
      {"2026-11-24 07:19:08", base},  // timestamp without time zone: UTC
      {"2026-11-24", base - absl::Hours(7) - absl::Minutes(19) - absl::Seconds(8)},
      {"infinity", absl::InfiniteFuture()},
      {"-infinity", absl::InfinitePast()},
  };
  for (const Case& c : cases) {
    absl::Time got;
    ASSERT_TRUE(internal::ParseText(c.text, &got).ok()) << c.text;
    EXPECT_EQ(got, c.want) << c.text;
  }
  for (const char* bad : {"", "2026-13-01 00:00:00+00", "2026-02-30", "2026-11-24 07:19", "0001-01-01 BC",
                          "2026-11-24 07:19:08+0x", "yesterday"}) {
    absl::Time got;
    EXPECT_EQ(internal::ParseText(bad, &got).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ParseText, Scalars) {
  int64_t i64 = 0;
  EXPECT_TRUE(internal::ParseText("-9223372036854775808", &i64).ok());
  EXPECT_EQ(i64, std::numeric_limits<int64_t>::min());
  EXPECT_FALSE(internal::ParseText("9223372036854775808", &i64).ok());
  EXPECT_FALSE(internal::ParseText("12x", &i64).ok());
  int32_t i32 = 0;
  EXPECT_FALSE(internal::ParseText("2147483648", &i32).ok());
  bool b = false;
  EXPECT_TRUE(internal::ParseText("t", &b).ok());
  EXPECT_TRUE(b);
  EXPECT_TRUE(internal::ParseText("f", &b).ok());
  EXPECT_FALSE(b);
  EXPECT_FALSE(internal::ParseText("yes", &b).ok());
  double d = 0;
  EXPECT_TRUE(internal::ParseText("1e-3", &d).ok());
  EXPECT_DOUBLE_EQ(d, 0.001);
  EXPECT_TRUE(internal::ParseText("-Infinity", &d).ok());
  EXPECT_TRUE(std::isinf(d) && d < 0);
}

}  // namespace
}  // namespace protectogram::pg
