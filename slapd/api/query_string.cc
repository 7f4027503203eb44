#include "slapd/api/query_string.h"

#include <algorithm>
#include <charconv>

namespace slap::slapd {
namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool decode(std::string_view s, std::string& o) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') o += ' ';
    else if (s[i] != '%') o += s[i];
    else {
      if (i + 2 >= s.size()) return false;
      const int h = hex(s[i + 1]), l = hex(s[i + 2]);
      if (h < 0 || l < 0) return false;
      o += static_cast<char>(h * 16 + l);
      i += 2;
    }
  }
  return true;
}

}  // namespace

std::optional<QueryParams> parse_query(std::string_view q) {
  QueryParams out;
  size_t pos = 0;
  while (pos < q.size()) {
    size_t amp = q.find('&', pos);
    if (amp == std::string_view::npos) amp = q.size();
    std::string_view kv = q.substr(pos, amp - pos);
    pos = amp + 1;
    if (kv.empty()) continue;
    const size_t eq = kv.find('=');
    std::pair<std::string, std::string> p;
    if (!decode(kv.substr(0, eq), p.first)) return std::nullopt;
    if (eq != std::string_view::npos && !decode(kv.substr(eq + 1), p.second)) return std::nullopt;
    out.push_back(std::move(p));
    if (out.size() > 64) return std::nullopt;
  }
  return out;
}

const std::string* param(const QueryParams& ps, std::string_view key) {
  for (const auto& [k, v] : ps) {
    if (k == key) return &v;
  }
  return nullptr;
}

const std::string* unknown_key(const QueryParams& ps, std::span<const std::string_view> allowed) {
  for (const auto& [k, v] : ps) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) return &k;
  }
  return nullptr;
}

std::optional<uint64_t> uint_param(const QueryParams& ps, std::string_view key, bool& bad) {
  const std::string* v = param(ps, key);
  if (v == nullptr) return std::nullopt;
  uint64_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || p != v->data() + v->size()) {
    bad = true;
    return std::nullopt;
  }
  return out;
}

}  // namespace slap::slapd
