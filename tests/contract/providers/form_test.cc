#include "libs/providers/common/form.h"

#include <gtest/gtest.h>

namespace protectogram::providers {
namespace {

TEST(FormTest, DecodesPlusPercentAndRepeats) {
  absl::StatusOr<FormParams> params = ParseForm("a=1&b=x+y%2Bz&&c&Digits=5678&Digits=1234&e=%D0%B4%D0%B0");
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(*FormValue(*params, "a"), "1");
  EXPECT_EQ(*FormValue(*params, "b"), "x y+z");
  EXPECT_EQ(*FormValue(*params, "c"), "");
  EXPECT_EQ(*FormValue(*params, "e"), "да");
  EXPECT_EQ(params->count("Digits"), 2u);
  EXPECT_EQ(FormValue(*params, "missing"), nullptr);
  EXPECT_TRUE(ParseForm("")->empty());
}

TEST(FormTest, RefusesMalformedEscapesAndBadUtf8) {
  for (const char* bad : {"a=%", "a=%4", "a=%zz", "%G1=1", "a=%FF", "a=%C0%AF", "a=%ED%A0%80"}) {
    absl::StatusOr<FormParams> params = ParseForm(bad);
    EXPECT_EQ(params.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace protectogram::providers
