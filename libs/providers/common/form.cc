#include "libs/providers/common/form.h"

#include "absl/status/status.h"
#include "libs/providers/common/text.h"

namespace protectogram::providers {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> Decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= s.size()) return absl::InvalidArgumentError("malformed form: bad percent escape");
      const int hi = HexValue(s[i + 1]);
      const int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return absl::InvalidArgumentError("malformed form: bad percent escape");
      out.push_back(static_cast<char>((hi << 4) | lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  if (!IsValidUtf8(out)) return absl::InvalidArgumentError("malformed form: not UTF-8");
  return out;
}

}  // namespace

absl::StatusOr<FormParams> ParseForm(std::string_view body) {
  FormParams params;
  size_t start = 0;
  while (start <= body.size()) {
    size_t amp = body.find('&', start);
    if (amp == std::string_view::npos) amp = body.size();
    std::string_view field = body.substr(start, amp - start);
    start = amp + 1;
    if (field.empty()) continue;
    size_t eq = field.find('=');
    std::string_view raw_name = field.substr(0, eq);
    std::string_view raw_value = eq == std::string_view::npos ? std::string_view() : field.substr(eq + 1);
    absl::StatusOr<std::string> name = Decode(raw_name);
    if (!name.ok()) return name.status();
    absl::StatusOr<std::string> value = Decode(raw_value);
    if (!value.ok()) return value.status();
    params.emplace(std::move(*name), std::move(*value));
  }
  return params;
}

const std::string* FormValue(const FormParams& params, std::string_view name) {
  auto it = params.find(std::string(name));
  return it == params.end() ? nullptr : &it->second;
}

}  // namespace protectogram::providers
