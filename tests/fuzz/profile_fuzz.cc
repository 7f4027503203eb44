// Fuzzes release profiles without network or filesystem: the input is one or more INI documents
// separated by a line "%%%"; document i is served as file:///p/i.cfg by an in-memory fetch, so
// `[buildout] extends = 1.cfg` and friends are followed. Exercises parse_ini (both option sets),
// load_profile (extends, +=, cycles, limits), parse_flat_profile, dump_profile and ${section:key}
// substitution of every value.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "node/ini.h"
#include "node/profile.h"

using namespace slap::node;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> docs;
  for (size_t pos = 0;;) {
    size_t sep = text.find("\n%%%\n", pos);
    if (sep == std::string_view::npos || docs.size() >= 16) {
      docs.push_back(text.substr(pos));
      break;
    }
    docs.push_back(text.substr(pos, sep - pos));
    pos = sep + 5;
  }
  (void)parse_ini(docs[0], "fuzz", {.allow_global = true});

  FetchFn fetch = [&](const std::string& url) -> Result<std::string> {
    constexpr std::string_view kPrefix = "file:///p/";
    if (url.rfind(kPrefix, 0) == 0) {
      std::string rest = url.substr(kPrefix.size());
      if (rest.size() >= 5 && rest.size() <= 6 && rest.substr(rest.size() - 4) == ".cfg") {
        size_t i = 0;
        for (char c : rest.substr(0, rest.size() - 4)) {
          if (c < '0' || c > '9') return make_error(Errc::kNotFound, "no such file");
          i = i * 10 + static_cast<size_t>(c - '0');
        }
        if (i < docs.size()) return std::string(docs[i]);
      }
    }
    return make_error(Errc::kNotFound, "no such file");
  };
  auto profile = load_profile("file:///p/0.cfg", fetch);
  auto flat = parse_flat_profile(docs[0], "file:///p/0.cfg");
  for (auto* p : {&profile, &flat}) {
    if (!*p) continue;
    const Profile& prof = **p;
    (void)dump_profile(prof);
    SectionMap literal{{"partition", {{"ip", "10.0.0.1"}, {"path", "/srv/slapgrid/slappart0"}}}};
    Substituter plain(prof, literal);
    Substituter quoted(prof, literal);
    quoted.set_quote(shell_quote);
    for (const auto& [section, kv] : prof.sections) {
      for (const auto& [key, value] : kv) {
        (void)plain.value(section, key);
        (void)quoted.expand(value, section);
        (void)resolve_url(prof.url, value);
        (void)url_directory(value);
      }
    }
  }
  return 0;
}
