#include "market/types.h"

#include <algorithm>

namespace slap::market {

StringMap normalized(StringMap m) {
  const auto less = [](const auto& a, const auto& b) { return a.first < b.first; };
  const auto same = [](const auto& a, const auto& b) { return a.first == b.first; };
  // Most maps are a few keys already in order: then nothing is sorted or copied (a stable sort
  // takes a temporary buffer from the heap, on the deciding thread, for every request).
  if (!std::is_sorted(m.begin(), m.end(), less)) std::stable_sort(m.begin(), m.end(), less);
  if (std::adjacent_find(m.begin(), m.end(), same) == m.end()) return m;
  StringMap out;
  out.reserve(m.size());
  for (auto& kv : m) {
    if (!out.empty() && out.back().first == kv.first) {
      out.back().second = std::move(kv.second);
    } else {
      out.push_back(std::move(kv));
    }
  }
  return out;
}

const std::string* find_value(const StringMap& m, std::string_view key) {
  auto it = std::lower_bound(m.begin(), m.end(), key, [](const auto& kv, std::string_view k) { return kv.first < k; });
  if (it == m.end() || it->first != key) return nullptr;
  return &it->second;
}

std::string_view to_string(Scope s) noexcept { return s == Scope::open ? "open" : "close"; }

std::string_view to_string(RequestedState s) noexcept {
  switch (s) {
    case RequestedState::started: return "started";
    case RequestedState::stopped: return "stopped";
    case RequestedState::destroyed: return "destroyed";
  }
  return "?";
}

std::string_view to_string(ReportedState s) noexcept {
  switch (s) {
    case ReportedState::none: return "none";
    case ReportedState::started: return "started";
    case ReportedState::stopped: return "stopped";
    case ReportedState::destroyed: return "destroyed";
  }
  return "?";
}

bool parse(std::string_view t, Scope& out) noexcept {
  if (t == "open") return out = Scope::open, true;
  if (t == "close") return out = Scope::close, true;
  return false;
}

bool parse(std::string_view t, RequestedState& out) noexcept {
  if (t == "started") return out = RequestedState::started, true;
  if (t == "stopped") return out = RequestedState::stopped, true;
  if (t == "destroyed") return out = RequestedState::destroyed, true;
  return false;
}

bool parse(std::string_view t, ReportedState& out) noexcept {
  if (t == "none") return out = ReportedState::none, true;
  if (t == "started") return out = ReportedState::started, true;
  if (t == "stopped") return out = ReportedState::stopped, true;
  if (t == "destroyed") return out = ReportedState::destroyed, true;
  return false;
}

}  // namespace slap::market
