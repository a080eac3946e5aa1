// application/x-www-form-urlencoded, as Twilio and other providers post their webhooks, and percent-encoding
// for URLs. Pure functions, no I/O.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace protectogram::http {

// "a=1&b=x+y" from the fields, in the map's order. Spaces become '+'; everything but ALPHA / DIGIT and
// "-._*" is percent-encoded (upper-case hex), as browsers and the WHATWG URL standard do.
std::string FormEncode(const std::map<std::string, std::string>& fields);
std::string FormEncode(const std::multimap<std::string, std::string>& fields);
std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields);

// Parses a form body (or a URL query string without the '?'). '+' decodes to a space and %XX to its byte;
// a '%' not followed by two hex digits is kept as it is. A field without '=' gets an empty value; empty
// fields ("a=1&&b=2") are skipped. Repeated names keep all their values, in order. Never fails.
std::multimap<std::string, std::string> FormDecode(std::string_view body);

// Percent-encodes everything but the RFC 3986 unreserved characters (ALPHA / DIGIT / "-._~"); for a path
// segment or a query value.
std::string PercentEncode(std::string_view s);
// Decodes %XX (and, when plus_as_space, '+' as a space); malformed escapes are kept as they are.
std::string PercentDecode(std::string_view s, bool plus_as_space = false);

}  // namespace protectogram::http
