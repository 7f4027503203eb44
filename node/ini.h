#pragma once
// A small INI reader shared by the node configuration and release profiles.
//   [section]            names: letters, digits and _ . : -
//   key = value          keys: letters, digits and _ . : / - (no spaces)
//   key += value         (profiles) appends a line to the value inherited through `extends`
//     continuation       an indented line continues the previous value on a new line; the
//                        indentation of the first continuation line is removed from all of them
//   # or ; in column 0   comment; blank lines are ignored
// Bounded: at most kMaxIniBytes of text.
#include <string>
#include <string_view>
#include <vector>

#include "node/status.h"

namespace slap::node {

inline constexpr size_t kMaxIniBytes = 1 << 20;

struct IniEntry {
  std::string key;
  std::string value;
  bool append = false;  // written with +=
  int line = 0;
};

struct IniSection {
  std::string name;
  std::vector<IniEntry> entries;
};

struct IniFile {
  std::vector<IniEntry> global;  // entries before any section (allowed only when asked)
  std::vector<IniSection> sections;
};

struct IniOptions {
  bool allow_global = false;  // node.conf may omit a section header
};

Result<IniFile> parse_ini(std::string_view text, std::string_view origin, IniOptions opts = {});

}  // namespace slap::node
