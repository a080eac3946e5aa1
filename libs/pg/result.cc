#include "libs/pg/result.h"

#include <libpq-fe.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <limits>

#include "absl/strings/str_cat.h"
#include "libs/kernel/log.h"

namespace protectogram::pg {
namespace internal {
namespace {

absl::Status Invalid(std::string_view what, std::string_view text) {
  return absl::InvalidArgumentError(absl::StrCat("not ", std::string(what), ": '", std::string(text), "'"));
}

template <typename Int>
absl::Status ParseInt(std::string_view text, Int* out, std::string_view what) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  if (ec != std::errc() || ptr != end || text.empty()) return Invalid(what, text);
  return absl::OkStatus();
}

// Reads exactly `n` digits at s[*i].
bool Digits(std::string_view s, size_t* i, size_t n, int* out) {
  if (*i + n > s.size()) return false;
  int v = 0;
  for (size_t k = 0; k < n; ++k) {
    const char c = s[*i + k];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *i += n;
  *out = v;
  return true;
}

}  // namespace

absl::Status ParseText(std::string_view text, int64_t* out) { return ParseInt(text, out, "an int64"); }
absl::Status ParseText(std::string_view text, int32_t* out) { return ParseInt(text, out, "an int32"); }

absl::Status ParseText(std::string_view text, double* out) {
  if (text == "NaN") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return absl::OkStatus();
  }
  if (text == "Infinity" || text == "-Infinity") {
    *out =
        text[0] == '-' ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    return absl::OkStatus();
  }
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  if (ec != std::errc() || ptr != end || text.empty()) return Invalid("a double", text);
  return absl::OkStatus();
}

absl::Status ParseText(std::string_view text, bool* out) {
  if (text == "t" || text == "true") {
    *out = true;
  } else if (text == "f" || text == "false") {
    *out = false;
  } else {
    return Invalid("a bool", text);
  }
  return absl::OkStatus();
}

absl::Status ParseText(std::string_view text, std::string* out) {
  out->assign(text);
  return absl::OkStatus();
}

absl::Status ParseText(std::string_view text, std::string_view* out) {
  *out = text;
  return absl::OkStatus();
}

// ISO output of timestamptz / timestamp / date: "2026-11-24 07:19:08.123456+03", "+05:30", "+00:00:36"
// (offsets in seconds for old dates), "infinity", "-infinity". Independent of the session's TimeZone.
absl::Status ParseText(std::string_view s, absl::Time* out) {
  if (s == "infinity") {
    *out = absl::InfiniteFuture();
    return absl::OkStatus();
  }
  if (s == "-infinity") {
    *out = absl::InfinitePast();
    return absl::OkStatus();
  }
  size_t i = 0;
  int64_t year = 0;
  size_t year_digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    year = year * 10 + (s[i++] - '0');
    if (++year_digits > 7) return Invalid("a timestamp", s);
  }
  int month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (year_digits < 4 || i >= s.size() || s[i++] != '-' || !Digits(s, &i, 2, &month) || i >= s.size() ||
      s[i++] != '-' || !Digits(s, &i, 2, &day)) {
    return Invalid("a timestamp", s);
  }
  absl::Duration fraction;
  absl::Duration offset;
  if (i < s.size() && (s[i] == ' ' || s[i] == 'T')) {
    ++i;
    if (!Digits(s, &i, 2, &hour) || i >= s.size() || s[i++] != ':' || !Digits(s, &i, 2, &minute) ||
        i >= s.size() || s[i++] != ':' || !Digits(s, &i, 2, &second)) {
      return Invalid("a timestamp", s);
    }
    if (i < s.size() && s[i] == '.') {
      ++i;
      int64_t nanos = 0;
      int scale = 100000000;
      const size_t start = i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        nanos += (s[i++] - '0') * static_cast<int64_t>(scale);
        scale /= 10;
      }
      if (i == start) return Invalid("a timestamp", s);
      fraction = absl::Nanoseconds(nanos);
    }
    if (i < s.size() && s[i] == 'Z') {
      ++i;
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      const int sign = s[i++] == '-' ? -1 : 1;
      int oh = 0, om = 0, os = 0;
      if (!Digits(s, &i, 2, &oh)) return Invalid("a timestamp", s);
      if (i < s.size() && s[i] == ':') {
        ++i;
        if (!Digits(s, &i, 2, &om)) return Invalid("a timestamp", s);
        if (i < s.size() && s[i] == ':') {
          ++i;
          if (!Digits(s, &i, 2, &os)) return Invalid("a timestamp", s);
        }
      }
      offset = sign * (absl::Hours(oh) + absl::Minutes(om) + absl::Seconds(os));
    }
  }
  if (i != s.size()) return Invalid("a timestamp", s);  // includes " BC"
  const absl::CivilSecond civil(year, month, day, hour, minute, second);
  if (civil.month() != month || civil.day() != day || civil.hour() != hour || civil.minute() != minute ||
      civil.second() != second) {
    return Invalid("a timestamp", s);
  }
  *out = absl::FromCivil(civil, absl::UTCTimeZone()) + fraction - offset;
  return absl::OkStatus();
}

}  // namespace internal

int Row::columns() const { return PQnfields(res_); }

int Row::ColumnIndex(std::string_view name) const {
  const int n = PQnfields(res_);
  for (int i = 0; i < n; ++i) {
    if (name == PQfname(res_, i)) return i;
  }
  return -1;
}

bool Row::IsNull(int col) const {
  if (col < 0 || col >= PQnfields(res_)) {
    Die(absl::InvalidArgumentError(absl::StrCat("no column ", col)));
  }
  return PQgetisnull(res_, row_, col) != 0;
}

std::string_view Row::GetView(int col) const {
  if (col < 0 || col >= PQnfields(res_)) {
    Die(absl::InvalidArgumentError(absl::StrCat("no column ", col)));
  }
  return std::string_view(PQgetvalue(res_, row_, col), PQgetlength(res_, row_, col));
}

int Row::ColumnOrDie(std::string_view name) const {
  const int col = ColumnIndex(name);
  if (col < 0) Die(UnknownColumn(name));
  return col;
}

absl::Status Row::CheckNotNull(int col) const {
  if (col < 0 || col >= PQnfields(res_)) {
    return absl::InvalidArgumentError(absl::StrCat(query_name_, ": no column ", col));
  }
  if (PQgetisnull(res_, row_, col)) {
    return absl::InvalidArgumentError(absl::StrCat(query_name_, ": column ", PQfname(res_, col), " is NULL"));
  }
  return absl::OkStatus();
}

absl::Status Row::Annotate(int col, const absl::Status& s) const {
  return absl::Status(s.code(),
                      absl::StrCat(query_name_, ": column ", PQfname(res_, col), ": ", s.message()));
}

absl::Status Row::UnknownColumn(std::string_view name) const {
  return absl::InvalidArgumentError(absl::StrCat(query_name_, ": no column named ", std::string(name)));
}

void Row::Die(const absl::Status& s) const {
  const std::string message(s.message());
  kernel::LogError("pg: row access does not match the query", {{"query", query_name_}, {"error", message}});
  std::abort();
}

Result::Result(std::shared_ptr<pg_result> res, const char* query_name)
    : res_(std::move(res)), query_name_(query_name) {}

size_t Result::size() const { return res_ ? static_cast<size_t>(PQntuples(res_.get())) : 0; }
int Result::columns() const { return res_ ? PQnfields(res_.get()) : 0; }
std::string_view Result::column_name(int col) const {
  const char* name = res_ ? PQfname(res_.get(), col) : nullptr;
  return name != nullptr ? name : "";
}
int Result::ColumnIndex(std::string_view name) const {
  for (int i = 0; i < columns(); ++i) {
    if (column_name(i) == name) return i;
  }
  return -1;
}

int64_t Result::affected_rows() const {
  if (!res_) return 0;
  const char* n = PQcmdTuples(res_.get());
  int64_t v = 0;
  if (n == nullptr || *n == '\0') return 0;
  std::from_chars(n, n + std::char_traits<char>::length(n), v);
  return v;
}

std::string_view Result::command_status() const {
  return res_ ? std::string_view(PQcmdStatus(res_.get())) : std::string_view();
}

}  // namespace protectogram::pg
