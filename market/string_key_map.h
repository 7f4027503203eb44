#pragma once
// Hash maps keyed by std::string that are searched by std::string_view without building a string
// (heterogeneous lookup), on Boost's open addressing (1.81): a lookup reads one metadata group and
// one slot holding the key.
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include <boost/unordered/unordered_flat_map.hpp>

namespace slap::market {

struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

template <class V>
using StringKeyMap = boost::unordered_flat_map<std::string, V, StringViewHash, std::equal_to<>>;

}  // namespace slap::market
