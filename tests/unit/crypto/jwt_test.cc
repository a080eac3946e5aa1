#include "libs/crypto/jwt.h"

#include <gtest/gtest.h>

#include "libs/crypto/digest.h"
#include "libs/crypto/encoding.h"

namespace protectogram::crypto {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);
constexpr char kSecret[] = "test-secret-key";

JwtClaims Claims() {
  return JwtClaims{.subject = "api-user",
                   .issued_at = kNow,
                   .expires_at = kNow + absl::Minutes(30),
                   .issuer = "protectogram",
                   .audience = "call-api"};
}

JwtVerifyOptions Options(absl::Time now = kNow) {
  return JwtVerifyOptions{
      .now = now, .leeway = absl::Seconds(30), .issuer = "protectogram", .audience = "call-api"};
}

// A token with the given header and payload JSON, signed with kSecret.
std::string Forge(std::string_view header, std::string_view payload, std::string_view secret = kSecret) {
  std::string input = Base64UrlEncode(header) + "." + Base64UrlEncode(payload);
  return input + "." + Base64UrlEncode(HmacSha256(secret, input));
}

TEST(JwtTest, RoundTrip) {
  absl::StatusOr<std::string> token = SignJwtHs256(Claims(), kSecret);
  ASSERT_TRUE(token.ok());
  absl::StatusOr<JwtClaims> claims = VerifyJwtHs256(*token, kSecret, Options());
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "api-user");
  EXPECT_EQ(claims->issued_at, kNow);
  EXPECT_EQ(claims->expires_at, kNow + absl::Minutes(30));
  EXPECT_EQ(claims->issuer, "protectogram");
  EXPECT_EQ(claims->audience, "call-api");
}

// jwt.io's well-known HS256 example (secret "your-256-bit-secret"), checked by an independent implementation.
TEST(JwtTest, VerifiesTheJwtIoExampleSignature) {
  const std::string token =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
      "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIy"
      "fQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
  // It has no exp: the signature is good, the claims are refused.
  absl::StatusOr<JwtClaims> claims =
      VerifyJwtHs256(token, "your-256-bit-secret", {.now = absl::FromUnixSeconds(1516239022)});
  EXPECT_EQ(claims.status().message(), "missing claim: exp");
  EXPECT_EQ(VerifyJwtHs256(token, "other-secret", {.now = kNow}).status().message(), "bad signature");
}

TEST(JwtTest, TamperedPayloadIsRefused) {
  std::string token = *SignJwtHs256(Claims(), kSecret);
  size_t first = token.find('.');
  size_t second = token.find('.', first + 1);
  JwtClaims other = Claims();
  other.subject = "admin";
  std::string other_token = *SignJwtHs256(other, kSecret);
  std::string other_payload =
      other_token.substr(other_token.find('.') + 1, other_token.rfind('.') - other_token.find('.') - 1);
  std::string tampered = token.substr(0, first + 1) + other_payload + token.substr(second);
  absl::StatusOr<JwtClaims> claims = VerifyJwtHs256(tampered, kSecret, Options());
  EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(claims.status().message(), "bad signature");
  EXPECT_EQ(VerifyJwtHs256(token, "wrong-secret", Options()).status().message(), "bad signature");
}

TEST(JwtTest, ExpiryHonoursLeeway) {
  std::string token = *SignJwtHs256(Claims(), kSecret);
  EXPECT_TRUE(VerifyJwtHs256(token, kSecret, Options(kNow + absl::Minutes(30) + absl::Seconds(29))).ok());
  absl::StatusOr<JwtClaims> late =
      VerifyJwtHs256(token, kSecret, Options(kNow + absl::Minutes(30) + absl::Seconds(30)));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(late.status().message(), "token expired");
  EXPECT_EQ(VerifyJwtHs256(token, kSecret, Options(kNow - absl::Seconds(31))).status().message(),
            "token issued in the future");
}

TEST(JwtTest, IssuerAndAudienceAreChecked) {
  std::string token = *SignJwtHs256(Claims(), kSecret);
  JwtVerifyOptions wrong_aud = Options();
  wrong_aud.audience = "other-api";
  EXPECT_EQ(VerifyJwtHs256(token, kSecret, wrong_aud).status().message(), "wrong audience");
  JwtVerifyOptions wrong_iss = Options();
  wrong_iss.issuer = "someone-else";
  EXPECT_EQ(VerifyJwtHs256(token, kSecret, wrong_iss).status().message(), "wrong issuer");

  JwtClaims no_aud = Claims();
  no_aud.audience.clear();
  EXPECT_EQ(VerifyJwtHs256(*SignJwtHs256(no_aud, kSecret), kSecret, Options()).status().message(),
            "wrong audience");
  // Nothing required: iss and aud are optional.
  JwtVerifyOptions lax{.now = kNow};
  EXPECT_TRUE(VerifyJwtHs256(*SignJwtHs256(no_aud, kSecret), kSecret, lax).ok());

  // "aud" may be an array.
  std::string array_aud = Forge(R"({"alg":"HS256","typ":"JWT"})",
                                R"({"sub":"u","iat":1700000000,"exp":1700000600,"iss":"protectogram",)"
                                R"("aud":["x","call-api"]})");
  EXPECT_TRUE(VerifyJwtHs256(array_aud, kSecret, Options()).ok());
}

TEST(JwtTest, RefusesAlgNoneAndMalformedTokens) {
  std::string payload = R"({"sub":"u","iat":1700000000,"exp":1700000600})";
  std::string none = Base64UrlEncode(R"({"alg":"none"})") + "." + Base64UrlEncode(payload) + ".";
  EXPECT_EQ(VerifyJwtHs256(none, kSecret, {.now = kNow}).status().message(), "unsupported alg");
  EXPECT_EQ(VerifyJwtHs256(Forge(R"({"alg":"HS512"})", payload), kSecret, {.now = kNow}).status().message(),
            "unsupported alg");
  for (const char* bad : {"", "a.b", "a.b.c.d", "!!.??.**", "e30.e30.", "bm90IGpzb24.e30.AA"}) {
    absl::StatusOr<JwtClaims> claims = VerifyJwtHs256(bad, kSecret, {.now = kNow});
    EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated) << bad;
  }
  EXPECT_EQ(VerifyJwtHs256(Forge(R"({"alg":"HS256"})", "[1]"), kSecret, {.now = kNow}).status().message(),
            "malformed token");
  EXPECT_EQ(VerifyJwtHs256(Forge(R"({"alg":"HS256"})", R"({"iat":1,"exp":2})"), kSecret, {.now = kNow})
                .status()
                .message(),
            "missing claim: sub");
  EXPECT_EQ(VerifyJwtHs256(Forge(R"({"alg":"HS256"})", R"({"sub":"u","exp":1700000600,"iat":1700000000,)"
                                                       R"("nbf":1700000100})"),
                           kSecret, {.now = kNow})
                .status()
                .message(),
            "token not yet valid");
}

TEST(JwtTest, SignRefusesEmptySecretOrSubject) {
  EXPECT_EQ(SignJwtHs256(Claims(), "").status().code(), absl::StatusCode::kInvalidArgument);
  JwtClaims claims = Claims();
  claims.subject.clear();
  EXPECT_EQ(SignJwtHs256(claims, kSecret).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace protectogram::crypto
