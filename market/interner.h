#pragma once
// Strings to dense ids, in order of first appearance (so two replays assign the same ids).
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

#include "market/types.h"
#include "market/string_key_map.h"

namespace slap::market {

class Interner {
 public:
  uint32_t intern(std::string_view s) {
    auto it = ids_.find(s);
    if (it != ids_.end()) return it->second;
    const auto id = static_cast<uint32_t>(names_.size());
    names_.emplace_back(s);
    ids_.emplace(names_.back(), id);
    return id;
  }
  // kNone when never interned.
  uint32_t id(std::string_view s) const {
    auto it = ids_.find(s);
    return it == ids_.end() ? kNone : it->second;
  }
  const std::string& name(uint32_t id) const { return names_[id]; }
  size_t size() const { return names_.size(); }
  void clear() {
    ids_.clear();
    names_.clear();
  }

 private:
  StringKeyMap<uint32_t> ids_;
  std::vector<std::string> names_;  // deque-like stability not needed: keys are copies
};

}  // namespace slap::market
