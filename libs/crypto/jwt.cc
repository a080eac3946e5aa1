#include "libs/crypto/jwt.h"

#include <boost/json.hpp>
#include <cmath>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "libs/crypto/constant_time.h"
#include "libs/crypto/digest.h"
#include "libs/crypto/encoding.h"

namespace protectogram::crypto {
namespace {

namespace json = boost::json;

absl::Status Refuse(const char* reason) { return absl::UnauthenticatedError(reason); }

// A NumericDate (RFC 7519 §2): seconds since the epoch, integer or not; nullopt when absent or not a number.
std::optional<absl::Time> NumericDate(const json::object& claims, std::string_view name) {
  const json::value* v = claims.if_contains(json::string_view(name.data(), name.size()));
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return absl::FromUnixSeconds(v->get_int64());
  if (v->is_uint64()) {
    if (v->get_uint64() > static_cast<uint64_t>(INT64_MAX)) return absl::InfiniteFuture();
    return absl::FromUnixSeconds(static_cast<int64_t>(v->get_uint64()));
  }
  if (v->is_double() && std::isfinite(v->get_double()))
    return absl::FromUnixSeconds(0) + absl::Seconds(v->get_double());
  return std::nullopt;
}

std::optional<json::object> ParseObject(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

}  // namespace

absl::StatusOr<std::string> SignJwtHs256(const JwtClaims& claims, std::string_view secret) {
  if (secret.empty()) return absl::InvalidArgumentError("jwt: empty secret");
  if (claims.subject.empty()) return absl::InvalidArgumentError("jwt: empty subject");
  json::object payload;
  payload["sub"] = claims.subject;
  payload["iat"] = absl::ToUnixSeconds(claims.issued_at);
  payload["exp"] = absl::ToUnixSeconds(claims.expires_at);
  if (!claims.issuer.empty()) payload["iss"] = claims.issuer;
  if (!claims.audience.empty()) payload["aud"] = claims.audience;
  std::string signing_input = Base64UrlEncode(R"({"alg":"HS256","typ":"JWT"})");
  signing_input.push_back('.');
  signing_input += Base64UrlEncode(json::serialize(payload));
  std::string signature = Base64UrlEncode(HmacSha256(secret, signing_input));
  return signing_input + "." + signature;
}

absl::StatusOr<JwtClaims> VerifyJwtHs256(std::string_view token, std::string_view secret,
                                         const JwtVerifyOptions& options) {
  if (secret.empty()) return absl::InvalidArgumentError("jwt: empty secret");
  // Split on '.' by hand: absl::StrSplit wants absl::string_view, which is not std::string_view here.
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    size_t dot = token.find('.', start);
    parts.push_back(
        token.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos || parts.size() > 3) break;
    start = dot + 1;
  }
  if (parts.size() != 3) return Refuse("malformed token");
  absl::StatusOr<std::string> header_text = Base64UrlDecode(parts[0]);
  absl::StatusOr<std::string> payload_text = Base64UrlDecode(parts[1]);
  absl::StatusOr<std::string> signature = Base64UrlDecode(parts[2]);
  if (!header_text.ok() || !payload_text.ok() || !signature.ok()) return Refuse("malformed token");

  // The header names the algorithm; anything but HS256 (notably "none") is refused before any MAC is made.
  std::optional<json::object> header = ParseObject(*header_text);
  if (!header) return Refuse("malformed token");
  const json::value* alg = header->if_contains("alg");
  if (alg == nullptr || !alg->is_string() || alg->get_string() != "HS256") return Refuse("unsupported alg");

  std::string_view signing_input = token.substr(0, parts[0].size() + 1 + parts[1].size());
  if (!ConstantTimeEquals(HmacSha256(secret, signing_input), *signature)) return Refuse("bad signature");

  std::optional<json::object> payload = ParseObject(*payload_text);
  if (!payload) return Refuse("malformed token");

  JwtClaims claims;
  const json::value* sub = payload->if_contains("sub");
  if (sub == nullptr || !sub->is_string() || sub->get_string().empty()) return Refuse("missing claim: sub");
  claims.subject = std::string(sub->get_string());

  std::optional<absl::Time> exp = NumericDate(*payload, "exp");
  if (!exp) return Refuse("missing claim: exp");
  std::optional<absl::Time> iat = NumericDate(*payload, "iat");
  if (!iat) return Refuse("missing claim: iat");
  claims.expires_at = *exp;
  claims.issued_at = *iat;
  if (options.now >= *exp + options.leeway) return Refuse("token expired");
  if (*iat > options.now + options.leeway) return Refuse("token issued in the future");
  if (std::optional<absl::Time> nbf = NumericDate(*payload, "nbf");
      nbf && *nbf > options.now + options.leeway) {
    return Refuse("token not yet valid");
  }

  if (const json::value* iss = payload->if_contains("iss"); iss != nullptr && iss->is_string()) {
    claims.issuer = std::string(iss->get_string());
  }
  if (!options.issuer.empty() && claims.issuer != options.issuer) return Refuse("wrong issuer");

  // "aud" is a string or an array of strings (RFC 7519 §4.1.3).
  bool audience_ok = options.audience.empty();
  if (const json::value* aud = payload->if_contains("aud"); aud != nullptr) {
    if (aud->is_string()) {
      claims.audience = std::string(aud->get_string());
      audience_ok = audience_ok || claims.audience == options.audience;
    } else if (aud->is_array()) {
      for (const json::value& a : aud->get_array()) {
        if (!a.is_string()) continue;
        if (claims.audience.empty()) claims.audience = std::string(a.get_string());
        if (a.get_string() == options.audience) {
          claims.audience = options.audience;
          audience_ok = true;
        }
      }
    }
  }
  if (!audience_ok) return Refuse("wrong audience");
  return claims;
}

}  // namespace protectogram::crypto
