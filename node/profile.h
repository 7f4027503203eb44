#pragma once
// Release profiles (node/RELEASE_FORMAT.md): INI files joined through `[buildout] extends`, then
// `${section:key}` substitution done lazily, only for the values a step or an instance uses.
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "node/status.h"

namespace slap::node {

using SectionMap = std::map<std::string, std::map<std::string, std::string>>;

// Reads the bytes behind a URL (file://, http://, https://). Injected so tests need no network.
using FetchFn = std::function<Result<std::string>(const std::string& url)>;

struct Profile {
  std::string url;                  // the URL the profile was loaded from
  std::vector<std::string> files;   // every file read, in load order
  SectionMap sections;              // merged view, `extends` removed

  const std::string* get(const std::string& section, const std::string& key) const;
  bool has(const std::string& section) const { return sections.count(section) != 0; }
};

inline constexpr int kMaxExtendsDepth = 16;
inline constexpr int kMaxProfileFiles = 64;

// Loads `url` and everything it extends. A cycle, a bad file or more than kMaxProfileFiles files
// is an error. `${:_profile_base_location_}` is replaced in each file by the URL of its directory.
Result<Profile> load_profile(const std::string& url, const FetchFn& fetch);

// Serializes the merged sections back to INI (what the software pass stores beside the build).
std::string dump_profile(const Profile& p);
Result<Profile> parse_flat_profile(std::string_view text, std::string url);

// `ref` relative to the profile at `base` ("../x.cfg", "x.tar.gz"), or `ref` itself if absolute.
std::string resolve_url(const std::string& base, const std::string& ref);
// "file:///a/b/c.cfg" -> "file:///a/b"
std::string url_directory(const std::string& url);
bool url_scheme_allowed(std::string_view url);  // file://, http://, https://, no control chars

// Expands ${section:key} (and ${:key} for the current section; $${ is a literal ${).
// Profile values are expanded recursively; `literal` sections (partition, parameters, ...) win
// over profile sections of the same name and are inserted verbatim, passed through `quote` if set.
class Substituter {
 public:
  using QuoteFn = std::function<std::string(const std::string&)>;
  Substituter(const Profile& profile, const SectionMap& literal) : profile_(profile), literal_(literal) {}
  void set_quote(QuoteFn q) { quote_ = std::move(q); }

  Result<std::string> expand(std::string_view text, const std::string& current_section) const;
  // The expanded value of section:key, or kNotFound.
  Result<std::string> value(const std::string& section, const std::string& key) const;

 private:
  // Where the output stands in sh's quoting (set_quote only): a value is shell-quoted where no
  // quote is open, and inserted inside the release's own quotes only when it is a bare word.
  struct Quoting;
  Result<std::string> expand_at(std::string_view text, const std::string& current, int depth, std::vector<std::string>& stack,
                                Quoting* quoting) const;
  const Profile& profile_;
  const SectionMap& literal_;
  QuoteFn quote_;
};

std::string shell_quote(const std::string& s);

}  // namespace slap::node
