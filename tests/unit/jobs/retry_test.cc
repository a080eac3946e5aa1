#include "libs/jobs/retry.h"

#include <gtest/gtest.h>

namespace protectogram::jobs {
namespace {

TEST(RetryPolicyTest, ExponentialWithoutJitterDoublesUpToTheCap) {
  RetryPolicy p = RetryPolicy::Exponential(absl::Seconds(1), absl::Seconds(10), 2.0, /*jitter=*/0);
  EXPECT_EQ(p.Delay(1), absl::Seconds(1));
  EXPECT_EQ(p.Delay(2), absl::Seconds(2));
  EXPECT_EQ(p.Delay(3), absl::Seconds(4));
  EXPECT_EQ(p.Delay(4), absl::Seconds(8));
  EXPECT_EQ(p.Delay(5), absl::Seconds(10));
  EXPECT_EQ(p.Delay(500), absl::Seconds(10));  // no overflow
  EXPECT_EQ(p.Delay(0), absl::Seconds(1));     // counts as the first failure
}

TEST(RetryPolicyTest, JitterStaysWithinItsBandAndUnderTheCap) {
  RetryPolicy p = RetryPolicy::Exponential(absl::Seconds(10), absl::Seconds(11), 2.0, 0.2);
  EXPECT_EQ(p.Delay(1, 0.0), absl::Seconds(8));
  EXPECT_EQ(p.Delay(1, 0.5), absl::Seconds(10));
  EXPECT_EQ(p.Delay(1, 1.0), absl::Seconds(11));  // 12 s capped
  for (double u : {0.0, 0.1, 0.7, 0.99}) {
    EXPECT_GE(p.Delay(3, u), absl::Seconds(8.8));
    EXPECT_LE(p.Delay(3, u), absl::Seconds(11));
  }
}

TEST(RetryPolicyTest, FixedDelaysRepeatTheLast) {
  RetryPolicy p = RetryPolicy::Fixed({absl::ZeroDuration(), absl::Seconds(5), absl::Seconds(30)});
  EXPECT_EQ(p.Delay(1, 0.9), absl::ZeroDuration());
  EXPECT_EQ(p.Delay(2, 0.1), absl::Seconds(5));
  EXPECT_EQ(p.Delay(3), absl::Seconds(30));
  EXPECT_EQ(p.Delay(9), absl::Seconds(30));
}

TEST(RetryTest, PermanentErrors) {
  EXPECT_TRUE(IsPermanentError(absl::InvalidArgumentError("bad payload")));
  EXPECT_TRUE(IsPermanentError(absl::NotFoundError("no incident")));
  EXPECT_FALSE(IsPermanentError(absl::UnavailableError("down")));
  EXPECT_FALSE(IsPermanentError(absl::FailedPreconditionError("no handler")));
  EXPECT_FALSE(IsPermanentError(absl::OkStatus()));
  EXPECT_TRUE(IsPermanentError(Permanent(absl::UnavailableError("account closed"))));
  EXPECT_TRUE(Permanent(absl::OkStatus()).ok());
}

TEST(RetryTest, RetryAfterTravelsWithTheStatus) {
  absl::Status s = WithRetryAfter(absl::ResourceExhaustedError("429"), absl::Milliseconds(1500));
  ASSERT_TRUE(RetryAfterOf(s).has_value());
  EXPECT_EQ(*RetryAfterOf(s), absl::Milliseconds(1500));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(RetryAfterOf(absl::UnavailableError("x")).has_value());
  EXPECT_TRUE(WithRetryAfter(absl::OkStatus(), absl::Seconds(1)).ok());
}

}  // namespace
}  // namespace protectogram::jobs
