// Strict application/x-www-form-urlencoded decoding (WHATWG URL "application/x-www-form-urlencoded parser",
// with malformed escapes refused rather than kept), for Twilio webhook bodies and webhook query strings.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace protectogram::providers {

// Field name -> value, every value kept in order for repeated names (Twilio signs each one).
using FormParams = std::multimap<std::string, std::string>;

// Splits on '&', then on the first '='; decodes '+' as a space and %XX as a byte. Empty fields ("a=1&&b=2")
// are skipped; a field without '=' has an empty value. INVALID_ARGUMENT("malformed form: ...") if a '%' is
// not followed by two hex digits or a decoded name or value is not valid UTF-8.
absl::StatusOr<FormParams> ParseForm(std::string_view body);

// The first value of `name`, or nullptr.
const std::string* FormValue(const FormParams& params, std::string_view name);

}  // namespace protectogram::providers
