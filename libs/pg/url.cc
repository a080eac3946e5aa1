#include "libs/pg/url.h"

#include <libpq-fe.h>

#include <array>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace protectogram::pg {
namespace {

// Query parameters that only the Python drivers understand; libpq would refuse them.
constexpr std::array<std::string_view, 4> kDriverOnlyParams = {
    "prepared_statement_cache_size", "statement_cache_size", "prepared_statement_name_func",
    "max_cached_statement_lifetime"};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// asyncpg's `ssl=` values mapped to libpq's `sslmode=`.
std::string SslModeFromAsyncpg(std::string_view value) {
  std::string v = absl::AsciiStrToLower(std::string(value));
  if (v == "true" || v == "1" || v == "on" || v == "yes") return "require";
  if (v == "false" || v == "0" || v == "off" || v == "no") return "disable";
  return v;
}

// Returns an error message if libpq cannot parse `conninfo`, else "".
std::string ConninfoError(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts != nullptr) {
    PQconninfoFree(opts);
    return "";
  }
  std::string message = err != nullptr ? std::string(Trim(err)) : "cannot parse";
  if (err != nullptr) PQfreemem(err);
  return message;
}

std::string QuoteKeywordValue(std::string_view v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

}  // namespace

absl::StatusOr<std::string> NormalizeDatabaseUrl(std::string_view url) {
  url = Trim(url);
  if (url.empty()) return absl::InvalidArgumentError("empty database URL");
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    // libpq keyword/value form ("host=... dbname=..."): already what libpq wants.
    std::string conninfo(url);
    if (std::string err = ConninfoError(conninfo); !err.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("invalid database connection string: ", err));
    }
    return conninfo;
  }
  std::string scheme = absl::AsciiStrToLower(std::string(url.substr(0, scheme_end)));
  if (size_t plus = scheme.find('+'); plus != std::string::npos) scheme.resize(plus);  // strip "+asyncpg"
  if (scheme != "postgresql" && scheme != "postgres") {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported database URL scheme '", scheme, "' (want postgresql://...)"));
  }
  std::string_view rest = url.substr(scheme_end + 3);
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::vector<std::string> params;
  bool has_sslmode = false;
  std::string asyncpg_ssl;
  for (absl::string_view param :
       absl::StrSplit(absl::string_view(query.data(), query.size()), '&', absl::SkipEmpty())) {
    std::string_view p(param.data(), param.size());
    const size_t eq = p.find('=');
    std::string_view key = p.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : p.substr(eq + 1);
    if (key == "ssl") {
      asyncpg_ssl = SslModeFromAsyncpg(value);
      continue;
    }
    bool driver_only = false;
    for (std::string_view d : kDriverOnlyParams) driver_only = driver_only || key == d;
    if (driver_only) continue;
    if (key == "sslmode") has_sslmode = true;
    params.emplace_back(p);
  }
  if (!asyncpg_ssl.empty() && !has_sslmode) params.push_back(absl::StrCat("sslmode=", asyncpg_ssl));
  std::string normalized = absl::StrCat("postgresql://", std::string(rest));
  if (!params.empty()) absl::StrAppend(&normalized, "?", absl::StrJoin(params, "&"));
  if (std::string err = ConninfoError(normalized); !err.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid database URL ", RedactDatabaseUrl(normalized), ": ", err));
  }
  return normalized;
}

std::string RedactDatabaseUrl(std::string_view url) {
  url = Trim(url);
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(std::string(url).c_str(), &err);
    if (opts == nullptr) {
      if (err != nullptr) PQfreemem(err);
      return "<unparseable database url>";
    }
    std::vector<std::string> parts;
    for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
      if (o->val == nullptr) continue;
      const bool secret = std::string_view(o->keyword) == "password";
      parts.push_back(absl::StrCat(o->keyword, "=", secret ? "****" : QuoteKeywordValue(o->val)));
    }
    PQconninfoFree(opts);
    return absl::StrJoin(parts, " ");
  }
  std::string out(url.substr(0, scheme_end + 3));
  std::string_view rest = url.substr(scheme_end + 3);
  const size_t authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view tail = authority_end == std::string_view::npos ? "" : rest.substr(authority_end);
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    if (size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
      absl::StrAppend(&out, std::string(userinfo.substr(0, colon)), ":****",
                      std::string(authority.substr(at)));
    } else {
      absl::StrAppend(&out, std::string(authority));
    }
  } else {
    absl::StrAppend(&out, std::string(authority));
  }
  // A password may also travel as a query parameter.
  const size_t q = tail.find('?');
  absl::StrAppend(&out, std::string(tail.substr(0, q)));
  if (q != std::string_view::npos) {
    std::vector<std::string> params;
    std::string_view query = tail.substr(q + 1);
    for (absl::string_view param :
         absl::StrSplit(absl::string_view(query.data(), query.size()), '&', absl::SkipEmpty())) {
      std::string_view p(param.data(), param.size());
      if (p.substr(0, p.find('=')) == "password") {
        params.emplace_back("password=****");
      } else {
        params.emplace_back(p);
      }
    }
    absl::StrAppend(&out, "?", absl::StrJoin(params, "&"));
  }
  return out;
}

}  // namespace protectogram::pg
