#include "libs/providers/common/json_reader.h"

#include <limits>

namespace protectogram::providers {

namespace json = boost::json;

absl::StatusOr<json::object> ParseJsonObject(std::string_view body, std::string_view what) {
  json::parse_options options;
  options.max_depth = 64;
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(body.data(), body.size()), ec, json::storage_ptr(), options);
  if (ec) return absl::InvalidArgumentError("malformed JSON");
  if (!v.is_object()) return absl::InvalidArgumentError(std::string(what) + " must be a JSON object");
  return std::move(v.as_object());
}

const json::value* JsonReader::Find(const json::object* o, std::string_view key) const {
  if (o == nullptr) return nullptr;
  const json::value* v = o->if_contains(json::string_view(key.data(), key.size()));
  if (v == nullptr || v->is_null()) return nullptr;
  return v;
}

void JsonReader::WrongType(std::string_view path, std::string_view type) {
  Fail(std::string(path) + " must be " + std::string(type));
}

void JsonReader::Fail(std::string message) {
  if (status_.ok()) status_ = absl::InvalidArgumentError(message);
}

void JsonReader::Require(bool present, std::string_view path) {
  if (!present) Fail(std::string(path) + " is required");
}

const json::object* JsonReader::Object(const json::object* o, std::string_view key, std::string_view path) {
  const json::value* v = Find(o, key);
  if (v == nullptr) return nullptr;
  if (!v->is_object()) {
    WrongType(path, "an object");
    return nullptr;
  }
  return &v->get_object();
}

const json::array* JsonReader::Array(const json::object* o, std::string_view key, std::string_view path) {
  const json::value* v = Find(o, key);
  if (v == nullptr) return nullptr;
  if (!v->is_array()) {
    WrongType(path, "an array");
    return nullptr;
  }
  return &v->get_array();
}

std::optional<std::string> JsonReader::String(const json::object* o, std::string_view key,
                                              std::string_view path) {
  const json::value* v = Find(o, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) {
    WrongType(path, "a string");
    return std::nullopt;
  }
  const json::string& s = v->get_string();
  return std::string(s.data(), s.size());
}

std::optional<int64_t> JsonReader::Int(const json::object* o, std::string_view key, std::string_view path) {
  const json::value* v = Find(o, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return static_cast<int64_t>(v->get_uint64());
  }
  WrongType(path, "an integer");
  return std::nullopt;
}

std::optional<std::string> JsonReader::Id(const json::object* o, std::string_view key,
                                          std::string_view path) {
  const json::value* v = Find(o, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return std::to_string(v->get_int64());
  if (v->is_uint64()) return std::to_string(v->get_uint64());
  if (v->is_string()) return std::string(v->get_string().data(), v->get_string().size());
  WrongType(path, "an integer or a string");
  return std::nullopt;
}

std::optional<bool> JsonReader::Bool(const json::object* o, std::string_view key, std::string_view path) {
  const json::value* v = Find(o, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_bool()) {
    WrongType(path, "a boolean");
    return std::nullopt;
  }
  return v->get_bool();
}

}  // namespace protectogram::providers
