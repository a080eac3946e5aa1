// Statement parameters, sent as text ($1, $2, ...) with PQexecParams; the server infers each type from the
// statement (add a cast such as $1::bigint where it cannot). Build them inline:
//   pool.Execute(kInsertUser, {telegram_id, display_name, std::optional<std::string>()});
// or step by step with Add(). Accepted values:
//   integers (int32_t, int64_t, ...), double, bool, std::string, std::string_view, const char*, absl::Time
//   (sent as a UTC timestamptz text), std::vector<int64_t> / std::vector<std::string> (sent as array
//   literals, for `= ANY($1)`), std::nullopt, and std::optional<T> of any of these (empty -> SQL NULL).
// A null `const char*` is SQL NULL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace protectogram::pg {

class Params {
 public:
  Params() = default;
  // Params{a, b, c} == Params().Add(a).Add(b).Add(c).
  template <typename... Ts>
  requires(!(sizeof...(Ts) == 1 && (std::is_same_v<std::decay_t<Ts>, Params> && ...)))
      Params(const Ts&... values) {  // NOLINT(google-explicit-constructor): brace-initialized at call sites.
    values_.reserve(sizeof...(Ts));
    (Add(values), ...);
  }

  template <typename T>
  Params& Add(const T& value);
  Params& AddNull();

  size_t size() const { return values_.size(); }
  // The i-th value as sent, std::nullopt for NULL.
  const std::optional<std::string>& value(size_t i) const { return values_[i]; }
  const std::vector<std::optional<std::string>>& values() const { return values_; }

 private:
  template <typename T>
  struct IsOptional : std::false_type {};
  template <typename T>
  struct IsOptional<std::optional<T>> : std::true_type {};
  template <typename T>
  static constexpr bool kAlwaysFalse = false;

  Params& AddText(std::string_view text);
  Params& AddInt(int64_t v);
  Params& AddUint(uint64_t v);
  Params& AddDouble(double v);
  Params& AddTime(absl::Time t);
  Params& AddIntArray(const std::vector<int64_t>& v);
  Params& AddTextArray(const std::vector<std::string>& v);

  std::vector<std::optional<std::string>> values_;
};

template <typename T>
Params& Params::Add(const T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    return AddText(value ? "true" : "false");
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    return AddInt(value);
  } else if constexpr (std::is_integral_v<T>) {
    return AddUint(value);
  } else if constexpr (std::is_floating_point_v<T>) {
    return AddDouble(value);
  } else if constexpr (std::is_same_v<T, std::nullopt_t> || std::is_same_v<T, std::nullptr_t>) {
    return AddNull();
  } else if constexpr (IsOptional<T>::value) {
    return value.has_value() ? Add(*value) : AddNull();
  } else if constexpr (std::is_same_v<T, absl::Time>) {
    return AddTime(value);
  } else if constexpr (std::is_same_v<T, absl::string_view>) {
    return AddText(std::string_view(value.data(), value.size()));
  } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
    return AddIntArray(value);
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    return AddTextArray(value);
  } else if constexpr (std::is_array_v<T>) {
    return AddText(std::string_view(value));
  } else if constexpr (std::is_same_v<T, const char*> || std::is_same_v<T, char*>) {
    return value == nullptr ? AddNull() : AddText(std::string_view(value));
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    return AddText(std::string_view(value));
  } else {
    static_assert(kAlwaysFalse<T>, "pg::Params: unsupported parameter type");
    return *this;
  }
}

}  // namespace protectogram::pg
