#include "node/ini.h"

#include <algorithm>

namespace slap::node {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (is_space(s.front()) || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (is_space(s.back()) || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool valid_name(std::string_view s, std::string_view extra) {
  if (s.empty() || s.size() > 200) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           extra.find(c) != std::string_view::npos;
  });
}

size_t indentation(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && is_space(s[n])) ++n;
  return n;
}

}  // namespace

Result<IniFile> parse_ini(std::string_view text, std::string_view origin, IniOptions opts) {
  if (text.size() > kMaxIniBytes) {
    return make_error(Errc::kInvalid, std::string(origin) + ": larger than 1 MiB");
  }
  IniFile out;
  IniEntry* last = nullptr;
  size_t cont_indent = 0;  // indentation of the first continuation line of `last`
  bool cont_started = false;
  int lineno = 0;
  size_t pos = 0;
  auto where = [&] { return std::string(origin) + ":" + std::to_string(lineno) + ": "; };
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view raw = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++lineno;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    if (raw.find('\0') != std::string_view::npos) return make_error(Errc::kInvalid, where() + "NUL byte");
    std::string_view t = trim(raw);
    if (t.empty()) continue;
    if (!raw.empty() && (raw[0] == '#' || raw[0] == ';')) continue;
    if (is_space(raw[0])) {
      if (last == nullptr) return make_error(Errc::kInvalid, where() + "continuation line without a key");
      size_t ind = indentation(raw);
      if (!cont_started) {
        cont_indent = ind;
        cont_started = true;
      }
      std::string_view body = raw.substr(std::min(ind, cont_indent));
      while (!body.empty() && (body.back() == ' ' || body.back() == '\t')) body.remove_suffix(1);
      if (!last->value.empty()) last->value += '\n';
      last->value += body;
      continue;
    }
    if (raw[0] == '[') {
      if (t.back() != ']') return make_error(Errc::kInvalid, where() + "unterminated section header");
      std::string_view name = trim(t.substr(1, t.size() - 2));
      if (!valid_name(name, "_.:-")) {
        return make_error(Errc::kInvalid, where() + "bad section name '" + std::string(name) + "'");
      }
      auto it = std::find_if(out.sections.begin(), out.sections.end(),
                             [&](const IniSection& s) { return s.name == name; });
      if (it != out.sections.end()) {
        return make_error(Errc::kInvalid, where() + "section [" + std::string(name) + "] defined twice");
      }
      out.sections.push_back(IniSection{std::string(name), {}});
      last = nullptr;
      continue;
    }
    size_t eq = t.find('=');
    if (eq == std::string_view::npos) return make_error(Errc::kInvalid, where() + "expected key = value");
    bool append = eq > 0 && t[eq - 1] == '+';
    std::string_view key = trim(t.substr(0, append ? eq - 1 : eq));
    std::string_view value = trim(t.substr(eq + 1));
    if (!valid_name(key, "_.:/-")) {
      return make_error(Errc::kInvalid, where() + "bad key '" + std::string(key) + "'");
    }
    std::vector<IniEntry>* target = nullptr;
    if (out.sections.empty()) {
      if (!opts.allow_global) return make_error(Errc::kInvalid, where() + "key outside any section");
      target = &out.global;
    } else {
      target = &out.sections.back().entries;
    }
    auto dup = std::find_if(target->begin(), target->end(), [&](const IniEntry& e) { return e.key == key; });
    if (dup != target->end()) {
      return make_error(Errc::kInvalid, where() + "key '" + std::string(key) + "' set twice in one section");
    }
    target->push_back(IniEntry{std::string(key), std::string(value), append, lineno});
    last = &target->back();
    cont_started = false;
  }
  return out;
}

}  // namespace slap::node
