// JSON Web Tokens (RFC 7519) signed with HMAC-SHA256 ("HS256", RFC 7515/7518), for the REST call API's bearer
// tokens (SPEC §6): `sub`, `iat`, `exp`, optional `iss` and `aud`.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace protectogram::crypto {

struct JwtClaims {
  std::string subject;    // "sub", required and non-empty
  absl::Time issued_at;   // "iat", whole seconds
  absl::Time expires_at;  // "exp", whole seconds
  std::string issuer;     // "iss", omitted when empty
  std::string audience;   // "aud", omitted when empty
};

// "<header>.<payload>.<signature>" with header {"alg":"HS256","typ":"JWT"} and the claims above (times as
// integer seconds since the epoch, truncated). INVALID_ARGUMENT if the secret or the subject is empty.
absl::StatusOr<std::string> SignJwtHs256(const JwtClaims& claims, std::string_view secret);

struct JwtVerifyOptions {
  absl::Time now;
  // Allowed clock skew for exp, nbf and iat.
  absl::Duration leeway = absl::Seconds(30);
  // When non-empty, "iss" must equal it.
  std::string issuer;
  // When non-empty, "aud" (a string, or an array of strings) must contain it.
  std::string audience;
};

// The claims of a valid token. Every refusal is UNAUTHENTICATED (a bearer token is either good or a 401,
// RFC 6750 §3.1 "invalid_token"), with a short reason: "malformed token", "unsupported alg", "bad signature",
// "token expired", "token not yet valid", "token issued in the future", "wrong issuer", "wrong audience",
// "missing claim: <name>". The signature is checked before the claims are looked at.
absl::StatusOr<JwtClaims> VerifyJwtHs256(std::string_view token, std::string_view secret,
                                         const JwtVerifyOptions& options);

}  // namespace protectogram::crypto
