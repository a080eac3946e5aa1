// Typed access to the rows of a statement's result (text format).
//   auto result = pool.Execute(kFindUser, {telegram_id});
//   if (!result.ok()) return result.status();
//   for (const pg::Row& row : *result) {
//     int64_t id = row.Get<int64_t>("id");
//     std::optional<std::string> phone = row.GetOptional<std::string>("phone_e164");
//   }
// Column types for Get/GetOptional/TryGet: int64_t, int32_t, double, bool, std::string, std::string_view (the
// raw text, valid while the Result lives), absl::Time (timestamptz/timestamp/date; any UTC offset and
// +-infinity are understood; timestamp without time zone is read as UTC).
//
// Get<T>() is for columns the query guarantees: a NULL, a value that does not parse as T, or an unknown
// column is a programming error (the SQL and the code disagree) and aborts the process after a log line
// naming the query and the column. Use GetOptional<T>() for nullable columns and TryGet<T>() to get an
// INVALID_ARGUMENT status instead of aborting.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

struct pg_result;  // libpq's PGresult

namespace protectogram::pg {

namespace internal {
// Text -> value conversions behind Row::Get; INVALID_ARGUMENT when `text` is not a valid T.
absl::Status ParseText(std::string_view text, int64_t* out);
absl::Status ParseText(std::string_view text, int32_t* out);
absl::Status ParseText(std::string_view text, double* out);
absl::Status ParseText(std::string_view text, bool* out);
absl::Status ParseText(std::string_view text, std::string* out);
absl::Status ParseText(std::string_view text, std::string_view* out);
absl::Status ParseText(std::string_view text, absl::Time* out);
}  // namespace internal

// One row; valid only while a Result holding its data lives.
class Row {
 public:
  int columns() const;
  // The index of the column with this name, or -1.
  int ColumnIndex(std::string_view name) const;
  // True for SQL NULL. An unknown column aborts (see the file comment).
  bool IsNull(int col) const;
  bool IsNull(std::string_view name) const { return IsNull(ColumnOrDie(name)); }
  // The value as the server sent it ("" for NULL).
  std::string_view GetView(int col) const;

  template <typename T>
  T Get(int col) const {
    absl::StatusOr<T> v = TryGet<T>(col);
    if (!v.ok()) Die(v.status());
    return *std::move(v);
  }
  template <typename T>
  T Get(std::string_view name) const {
    return Get<T>(ColumnOrDie(name));
  }

  template <typename T>
  std::optional<T> GetOptional(int col) const {
    if (IsNull(col)) return std::nullopt;
    return Get<T>(col);
  }
  template <typename T>
  std::optional<T> GetOptional(std::string_view name) const {
    return GetOptional<T>(ColumnOrDie(name));
  }

  // INVALID_ARGUMENT if the column does not exist, is NULL, or does not parse as T.
  template <typename T>
  absl::StatusOr<T> TryGet(int col) const {
    if (absl::Status s = CheckNotNull(col); !s.ok()) return s;
    T value{};
    if (absl::Status s = internal::ParseText(GetView(col), &value); !s.ok()) return Annotate(col, s);
    return value;
  }
  template <typename T>
  absl::StatusOr<T> TryGet(std::string_view name) const {
    const int col = ColumnIndex(name);
    if (col < 0) return UnknownColumn(name);
    return TryGet<T>(col);
  }

 private:
  friend class Result;
  Row(const pg_result* res, int row, const char* query_name)
      : res_(res), row_(row), query_name_(query_name) {}

  int ColumnOrDie(std::string_view name) const;
  absl::Status CheckNotNull(int col) const;
  absl::Status Annotate(int col, const absl::Status& s) const;
  absl::Status UnknownColumn(std::string_view name) const;
  [[noreturn]] void Die(const absl::Status& s) const;

  const pg_result* res_;
  int row_;
  const char* query_name_;
};

// The outcome of one statement. Cheap to copy (shares the libpq result).
class Result {
 public:
  Result() = default;
  Result(std::shared_ptr<pg_result> res, const char* query_name);

  size_t size() const;
  bool empty() const { return size() == 0; }
  int columns() const;
  std::string_view column_name(int col) const;
  int ColumnIndex(std::string_view name) const;
  // Rows inserted/updated/deleted (or selected) as reported by the server; 0 for other commands.
  int64_t affected_rows() const;
  // The command tag, e.g. "UPDATE 3".
  std::string_view command_status() const;
  const char* query_name() const { return query_name_; }

  Row operator[](size_t i) const { return Row(res_.get(), static_cast<int>(i), query_name_); }
  Row front() const { return (*this)[0]; }

  class Iterator {
   public:
    Row operator*() const { return (*result_)[i_]; }
    Iterator& operator++() {
      ++i_;
      return *this;
    }
    bool operator==(const Iterator& o) const { return i_ == o.i_; }
    bool operator!=(const Iterator& o) const { return i_ != o.i_; }

   private:
    friend class Result;
    Iterator(const Result* r, size_t i) : result_(r), i_(i) {}
    const Result* result_;
    size_t i_;
  };
  Iterator begin() const { return Iterator(this, 0); }
  Iterator end() const { return Iterator(this, size()); }

 private:
  std::shared_ptr<pg_result> res_;
  const char* query_name_ = "";
};

}  // namespace protectogram::pg
