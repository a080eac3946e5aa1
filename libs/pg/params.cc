#include "libs/pg/params.h"

#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace protectogram::pg {

Params& Params::AddNull() {
  values_.emplace_back(std::nullopt);
  return *this;
}

Params& Params::AddText(std::string_view text) {
  values_.emplace_back(std::string(text));
  return *this;
}

Params& Params::AddInt(int64_t v) { return AddText(std::to_string(v)); }
Params& Params::AddUint(uint64_t v) { return AddText(std::to_string(v)); }

Params& Params::AddDouble(double v) {
  if (std::isnan(v)) return AddText("NaN");
  if (std::isinf(v)) return AddText(v > 0 ? "Infinity" : "-Infinity");
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);  // shortest text that reads back exactly
  return AddText(std::string_view(buf, end - buf));
}

Params& Params::AddTime(absl::Time t) {
  if (t == absl::InfiniteFuture()) return AddText("infinity");
  if (t == absl::InfinitePast()) return AddText("-infinity");
  return AddText(absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", t, absl::UTCTimeZone()));
}

Params& Params::AddIntArray(const std::vector<int64_t>& v) {
  std::string text = "{";
  for (size_t i = 0; i < v.size(); ++i) absl::StrAppend(&text, i ? "," : "", v[i]);
  text.push_back('}');
  return AddText(text);
}

Params& Params::AddTextArray(const std::vector<std::string>& v) {
  // Array literal: every element double-quoted, with " and \ escaped by a backslash.
  std::string text = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) text.push_back(',');
    text.push_back('"');
    for (char c : v[i]) {
      if (c == '"' || c == '\\') text.push_back('\\');
      text.push_back(c);
    }
    text.push_back('"');
  }
  text.push_back('}');
  return AddText(text);
}

}  // namespace protectogram::pg
