#include "libs/kernel/rpc.h"

#include <gtest/gtest.h>

namespace protectogram::kernel {
namespace {

TEST(StatusMappingTest, EveryCodeMapsOneToOne) {
  for (int code = 0; code <= 16; ++code) {
    absl::Status status(static_cast<absl::StatusCode>(code), code == 0 ? "" : "msg " + std::to_string(code));
    grpc::Status grpc_status = ToGrpcStatus(status);
    EXPECT_EQ(static_cast<int>(grpc_status.error_code()), code);
    EXPECT_EQ(grpc_status.error_message(), std::string(status.message()));
    absl::Status back = ToAbslStatus(grpc_status);
    EXPECT_EQ(back, status);
  }
  EXPECT_EQ(ToGrpcStatus(absl::NotFoundError("no incident 7")).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ToAbslStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down")),
            absl::UnavailableError("down"));
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(ToAbslStatus(grpc::Status::OK).ok());
}

TEST(ConstantTimeEqualsTest, Compares) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("token", "token"));
  EXPECT_FALSE(ConstantTimeEquals("token", "tokeN"));
  EXPECT_FALSE(ConstantTimeEquals("token", "token2"));
  EXPECT_FALSE(ConstantTimeEquals("token", ""));
  EXPECT_FALSE(ConstantTimeEquals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST(CorrelationIdTest, Validation) {
  EXPECT_TRUE(IsValidCorrelationId("0123456789abcdef0123456789abcdef"));
  EXPECT_TRUE(IsValidCorrelationId("req-1.a_b:c"));
  EXPECT_FALSE(IsValidCorrelationId(""));
  EXPECT_FALSE(IsValidCorrelationId(std::string(129, 'a')));
  EXPECT_FALSE(IsValidCorrelationId("has space"));
  EXPECT_FALSE(IsValidCorrelationId("quote\""));
}

}  // namespace
}  // namespace protectogram::kernel
