// Typed, tolerant reads out of Boost.JSON documents for the provider parsers.
//
// A field that is absent or JSON null reads as "not there" (nullptr / nullopt); a field of the wrong type
// also reads as "not there" and records an error "<path> must be <type>", of which the reader keeps the
// first. Parsers read everything they need, then return reader.status() if it is not OK: one INVALID_ARGUMENT
// with a short reason for any malformed payload, no exceptions, no crash.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace protectogram::providers {

// Parses `body` as JSON (RFC 8259, UTF-8 checked, nesting depth at most 64). INVALID_ARGUMENT("malformed
// JSON") on a syntax error; INVALID_ARGUMENT("<what> must be a JSON object") if the top level is not an
// object.
absl::StatusOr<boost::json::object> ParseJsonObject(std::string_view body, std::string_view what);

class JsonReader {
 public:
  // Each accessor takes the containing object (nullptr reads as absent), the key, and the field's path for
  // error messages ("message.chat.id").
  const boost::json::object* Object(const boost::json::object* o, std::string_view key,
                                    std::string_view path);
  const boost::json::array* Array(const boost::json::object* o, std::string_view key, std::string_view path);
  std::optional<std::string> String(const boost::json::object* o, std::string_view key,
                                    std::string_view path);
  // An integer that fits int64 (JSON numbers with a fraction or exponent are refused).
  std::optional<int64_t> Int(const boost::json::object* o, std::string_view key, std::string_view path);
  // An id sent as an integer or a string, as text ("123456789", "-1001234", "530345267123456789").
  std::optional<std::string> Id(const boost::json::object* o, std::string_view key, std::string_view path);
  std::optional<bool> Bool(const boost::json::object* o, std::string_view key, std::string_view path);

  // Records "<path> is required" unless `present`.
  void Require(bool present, std::string_view path);
  // Records `message` as an error.
  void Fail(std::string message);

  bool ok() const { return status_.ok(); }
  const absl::Status& status() const { return status_; }

 private:
  const boost::json::value* Find(const boost::json::object* o, std::string_view key) const;
  void WrongType(std::string_view path, std::string_view type);

  absl::Status status_;
};

}  // namespace protectogram::providers
