#include "libs/jobs/internal/sql.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace protectogram::jobs::internal {
namespace {

bool ValidPart(std::string_view part) {
  if (part.empty() || part.size() > 63) return false;
  if (!((part[0] >= 'a' && part[0] <= 'z') || part[0] == '_')) return false;
  for (char c : part) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

}  // namespace

absl::Status ValidateTableName(std::string_view table) {
  const size_t dot = table.find('.');
  const bool ok = dot == std::string_view::npos
                      ? ValidPart(table)
                      : ValidPart(table.substr(0, dot)) && ValidPart(table.substr(dot + 1));
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "table name must be [schema.]name of lower-case identifiers, got \"", std::string(table), "\""));
  }
  return absl::OkStatus();
}

BoundQuery::BoundQuery(const pg::Query& tmpl, std::string_view table)
    : name_(tmpl.name), sql_(absl::StrReplaceAll(tmpl.sql, {{"{table}", std::string(table)}})) {}

std::string ArrayLiteral(const std::vector<std::optional<std::string>>& values) {
  std::string text = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) text.push_back(',');
    if (!values[i].has_value()) {
      text.append("NULL");
      continue;
    }
    text.push_back('"');
    for (char c : *values[i]) {
      if (c == '"' || c == '\\') text.push_back('\\');
      text.push_back(c);
    }
    text.push_back('"');
  }
  text.push_back('}');
  return text;
}

}  // namespace protectogram::jobs::internal
