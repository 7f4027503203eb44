#pragma once
// One error vocabulary: a numbered rejection reason (schema/rejection.capnp), the field it concerns
// and a human sentence. Results are [[nodiscard]]; exceptions are for start-up only.
#include <cassert>
#include <string>
#include <utility>
#include <variant>

#include "schema/rejection.capnp.h"

namespace slap::ubm {

using Rejection = schema::Rejection;

struct Error {
  Rejection code = Rejection::NONE;
  std::string field;   // which field or entry, e.g. "entries[3].quantity"; may be empty
  std::string detail;  // a sentence for people
  std::string to_string() const;
};

// Name of a rejection reason in snake case ("unknown_unit"), stable for clients and logs.
std::string rejection_name(Rejection r);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T v) : v_(std::move(v)) {}  // NOLINT: implicit on purpose, like std::expected
  Result(Error e) : v_(std::move(e)) {}  // NOLINT
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  const Error& error() const { assert(!ok()); return std::get<1>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Error> v_;
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error e) : error_(std::move(e)) {}  // NOLINT
  static Status ok_status() { return {}; }
  bool ok() const noexcept { return error_.code == Rejection::NONE; }
  explicit operator bool() const noexcept { return ok(); }
  const Error& error() const { return error_; }

 private:
  Error error_;
};

inline Error make_error(Rejection code, std::string field, std::string detail) {
  return Error{code, std::move(field), std::move(detail)};
}

}  // namespace slap::ubm
