#include "services/telephony/guardrails.h"

#include <gtest/gtest.h>

#include "libs/jobs/retry.h"

namespace protectogram::telephony {
namespace {

TEST(GuardrailsTest, E164) {
  for (const char* ok : {"+79991234567", "+15551234567", "+442071838750", "+12345678", "+123456789012345"}) {
    EXPECT_TRUE(IsE164(ok)) << ok;
  }
  for (const char* bad : {"", "+", "79991234567", "+0123456789", "+1234567", "+1234567890123456",
                          "+7999 123 45 67", "+7999-123", "++79991234567", "+7999123456a"}) {
    EXPECT_FALSE(IsE164(bad)) << bad;
  }
}

TEST(GuardrailsTest, NumberChecks) {
  absl::Status bad = CheckNumber("12345", kernel::AppEnv::kProd, {});
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(jobs::FailureReasonOf(bad), "invalid_number");
  EXPECT_TRUE(CheckNumber("+79991234567", kernel::AppEnv::kProd, {}).ok());
  EXPECT_TRUE(CheckNumber("+79991234567", kernel::AppEnv::kDev, {}).ok());
  absl::Status staging = CheckNumber("+79991234567", kernel::AppEnv::kStaging, {"+15551234567"});
  EXPECT_EQ(staging.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(jobs::FailureReasonOf(staging), "staging_not_allowed");
  EXPECT_TRUE(CheckNumber("+15551234567", kernel::AppEnv::kStaging, {"+15551234567"}).ok());
}

TEST(GuardrailsTest, SpendCapsNameTheCap) {
  const SpendCaps caps{
      .calls_per_hour = 10, .calls_per_day = 20, .ring_minutes_per_hour = 5, .ring_minutes_per_day = 8};
  EXPECT_TRUE(CheckSpend(caps, {}, 25).ok());
  EXPECT_TRUE(CheckSpend(caps, {.calls_hour = 9, .calls_day = 9}, 25).ok());
  absl::Status hour = CheckSpend(caps, {.calls_hour = 10, .calls_day = 10}, 25);
  EXPECT_EQ(hour.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(jobs::FailureReasonOf(hour), "spend_cap:calls_per_hour");
  EXPECT_NE(hour.message().find("calls_per_hour"), std::string_view::npos);
  EXPECT_EQ(jobs::FailureReasonOf(CheckSpend(caps, {.calls_hour = 1, .calls_day = 20}, 25)),
            "spend_cap:calls_per_day");
  // Ring minutes: 5 min = 300 s per hour; a live call counts its ring timeout.
  EXPECT_TRUE(CheckSpend(caps, {.ring_seconds_hour = 275, .ring_seconds_day = 275}, 25).ok());
  EXPECT_EQ(jobs::FailureReasonOf(CheckSpend(caps, {.ring_seconds_hour = 276, .ring_seconds_day = 276}, 25)),
            "spend_cap:ring_minutes_per_hour");
  EXPECT_EQ(jobs::FailureReasonOf(CheckSpend(caps, {.ring_seconds_hour = 0, .ring_seconds_day = 470}, 25)),
            "spend_cap:ring_minutes_per_day");
  // Zero caps are off.
  EXPECT_TRUE(CheckSpend(SpendCaps{},
                         {.calls_hour = 1'000'000,
                          .calls_day = 1'000'000,
                          .ring_seconds_hour = 1'000'000,
                          .ring_seconds_day = 1'000'000},
                         600)
                  .ok());
}

}  // namespace
}  // namespace protectogram::telephony
