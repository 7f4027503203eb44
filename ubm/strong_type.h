#pragma once
// A value wrapped in a distinct type, so a sequence number cannot be passed where an amount or an
// id is expected (Redpanda's named_type). Comparisons and hashing come with it; arithmetic does not.
#include <compare>
#include <functional>
#include <utility>

namespace slap::ubm {

template <typename T, typename Tag>
class StrongType {
 public:
  using value_type = T;
  constexpr StrongType() = default;
  constexpr explicit StrongType(T v) : value_(std::move(v)) {}
  constexpr const T& value() const noexcept { return value_; }
  constexpr T& mutable_value() noexcept { return value_; }
  friend constexpr auto operator<=>(const StrongType&, const StrongType&) = default;
  friend constexpr bool operator==(const StrongType&, const StrongType&) = default;

 private:
  T value_{};
};

// A yes/no parameter with a name, so call sites read `Sync::yes`, not `true`.
template <typename Tag>
class BoolClass {
 public:
  static const BoolClass yes;
  static const BoolClass no;
  constexpr explicit BoolClass(bool v) : v_(v) {}
  constexpr explicit operator bool() const noexcept { return v_; }
  friend constexpr bool operator==(BoolClass, BoolClass) = default;

 private:
  bool v_;
};
template <typename Tag> inline const BoolClass<Tag> BoolClass<Tag>::yes{true};
template <typename Tag> inline const BoolClass<Tag> BoolClass<Tag>::no{false};

}  // namespace slap::ubm

template <typename T, typename Tag>
struct std::hash<slap::ubm::StrongType<T, Tag>> {
  size_t operator()(const slap::ubm::StrongType<T, Tag>& v) const noexcept {
    return std::hash<T>{}(v.value());
  }
};
