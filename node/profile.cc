#include "node/profile.h"

#include <algorithm>
#include <sstream>

#include "node/ini.h"

namespace slap::node {
namespace {

constexpr std::string_view kBaseToken = "${:_profile_base_location_}";

void replace_all(std::string& s, std::string_view from, const std::string& to) {
  size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
}

std::vector<std::string> split_ws(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

// Merges `file` on top of `into` (later wins, += appends).
void merge(SectionMap& into, const IniFile& file, const std::string& dir) {
  for (const auto& sec : file.sections) {
    auto& dst = into[sec.name];
    for (const auto& e : sec.entries) {
      std::string v = e.value;
      replace_all(v, kBaseToken, dir);
      if (e.append) {
        auto it = dst.find(e.key);
        if (it != dst.end() && !it->second.empty()) {
          it->second += "\n" + v;
          continue;
        }
      }
      dst[e.key] = std::move(v);
    }
  }
}

struct Loader {
  const FetchFn& fetch;
  Profile& out;
  std::vector<std::string> stack;

  Result<SectionMap> load(const std::string& url) {
    if (!url_scheme_allowed(url)) return make_error(Errc::kInvalid, "refused profile URL '" + url + "'");
    if (std::find(stack.begin(), stack.end(), url) != stack.end()) {
      std::string chain;
      for (const auto& s : stack) chain += s + " -> ";
      return make_error(Errc::kCycle, "extends cycle: " + chain + url);
    }
    if (static_cast<int>(stack.size()) >= kMaxExtendsDepth) {
      return make_error(Errc::kInvalid, "extends deeper than " + std::to_string(kMaxExtendsDepth));
    }
    if (static_cast<int>(out.files.size()) >= kMaxProfileFiles) {
      return make_error(Errc::kInvalid, "more than " + std::to_string(kMaxProfileFiles) + " profile files");
    }
    auto text = fetch(url);
    if (!text) return Error{text.error().code, "fetching " + url + ": " + text.error().detail};
    auto ini = parse_ini(*text, url);
    if (!ini) return ini.error();
    out.files.push_back(url);
    stack.push_back(url);
    SectionMap merged;
    for (const auto& sec : ini->sections) {
      if (sec.name != "buildout") continue;
      for (const auto& e : sec.entries) {
        if (e.key != "extends") continue;
        for (const auto& ref : split_ws(e.value)) {
          const std::string base_url = resolve_url(url, ref);
          // slapnode reads file:// as its own user (root when privileged), and an extended file's
          // values land in the build's commands and in the stored profile: a release fetched from
          // elsewhere may not name a local file (extends = file:///etc/... read any INI-shaped secret).
          if (base_url.rfind("file://", 0) == 0 && url.rfind("file://", 0) != 0) {
            return make_error(Errc::kInvalid, url + " extends a local file (" + base_url + "): only a file:// profile may");
          }
          auto base = load(base_url);
          if (!base) return base.error();
          for (auto& [name, kv] : *base) {
            for (auto& [k, v] : kv) merged[name][k] = v;
          }
        }
      }
    }
    stack.pop_back();
    merge(merged, *ini, url_directory(url));
    auto b = merged.find("buildout");
    if (b != merged.end()) b->second.erase("extends");
    return merged;
  }
};

bool valid_ref_name(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == '/';
  });
}

}  // namespace

const std::string* Profile::get(const std::string& section, const std::string& key) const {
  auto s = sections.find(section);
  if (s == sections.end()) return nullptr;
  auto k = s->second.find(key);
  return k == s->second.end() ? nullptr : &k->second;
}

bool url_scheme_allowed(std::string_view url) {
  if (url.size() > 4096) return false;
  for (unsigned char c : url) {
    if (c < 0x21 || c == 0x7f) return false;
  }
  return url.rfind("file:///", 0) == 0 || url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
}

std::string url_directory(const std::string& url) {
  size_t scheme = url.find("://");
  size_t slash = url.rfind('/');
  if (slash == std::string::npos || (scheme != std::string::npos && slash < scheme + 3)) return url;
  if (scheme != std::string::npos && url.rfind("file://", 0) != 0 && slash == scheme + 2) return url;
  return url.substr(0, slash);
}

std::string resolve_url(const std::string& base, const std::string& ref) {
  if (ref.find("://") != std::string::npos) return ref;
  std::string dir = url_directory(base);
  if (!ref.empty() && ref[0] == '/') {
    // Absolute path on the same host.
    size_t scheme = base.find("://");
    if (base.rfind("file://", 0) == 0) return "file://" + ref;
    size_t host_end = base.find('/', scheme + 3);
    return base.substr(0, host_end) + ref;
  }
  // Split the path part of dir after scheme://host and apply ref's segments.
  size_t scheme = dir.find("://");
  size_t path_start = dir.rfind("file://", 0) == 0 ? scheme + 3 : dir.find('/', scheme + 3);
  std::string prefix = path_start == std::string::npos ? dir : dir.substr(0, path_start);
  std::string path = path_start == std::string::npos ? "" : dir.substr(path_start);
  std::vector<std::string> segs;
  auto push_segments = [&](const std::string& p, bool from_ref) {
    std::stringstream ss(p);
    std::string seg;
    while (std::getline(ss, seg, '/')) {
      if (seg.empty() || seg == ".") continue;
      if (seg == "..") {
        if (!segs.empty()) segs.pop_back();
        continue;
      }
      segs.push_back(seg);
    }
    (void)from_ref;
  };
  push_segments(path, false);
  push_segments(ref, true);
  std::string out = prefix;
  for (const auto& s : segs) out += "/" + s;
  return out;
}

Result<Profile> load_profile(const std::string& url, const FetchFn& fetch) {
  Profile p;
  p.url = url;
  Loader loader{fetch, p, {}};
  auto merged = loader.load(url);
  if (!merged) return merged.error();
  p.sections = std::move(*merged);
  return p;
}

std::string dump_profile(const Profile& p) {
  std::string out;
  for (const auto& [name, kv] : p.sections) {
    out += "[" + name + "]\n";
    for (const auto& [k, v] : kv) {
      out += k + " =";
      std::stringstream ss(v);
      std::string line;
      bool first = true;
      // Multi-line values: first line after '=', the rest indented by two spaces.
      if (v.find('\n') != std::string::npos) {
        out += "\n";
        while (std::getline(ss, line)) out += "  " + line + "\n";
        (void)first;
      } else {
        out += (v.empty() ? "" : " " + v) + "\n";
      }
    }
    out += "\n";
  }
  return out;
}

Result<Profile> parse_flat_profile(std::string_view text, std::string url) {
  auto ini = parse_ini(text, url);
  if (!ini) return ini.error();
  Profile p;
  p.url = std::move(url);
  for (const auto& sec : ini->sections) {
    auto& dst = p.sections[sec.name];
    for (const auto& e : sec.entries) dst[e.key] = e.value;
  }
  return p;
}

namespace {
// Characters sh never treats specially, at any level of quoting or of `sh -c` nesting.
bool bare_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("_-.,:/@=+").find(c) != std::string_view::npos;
}
}  // namespace

std::string shell_quote(const std::string& s) {
  if (!s.empty() && std::all_of(s.begin(), s.end(), bare_char)) return s;
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\"'\"'";
    else out += c;
  }
  return out + "'";
}

// sh's quoting state after the text written so far, a context per command substitution or
// arithmetic expansion open ($( … ), ` … `, $(( … ))): outside quotes, inside '…', inside "…",
// right after a backslash. A value shell-quoted inside the release's own quotes is not one word
// any more: in "…" its quotes are literal and $(…) or `…` in it runs, in '…' its quotes close the
// release's, and an arithmetic expansion evaluates what it holds. There a value must be a bare
// word, the same text in every context. A command substitution starts a fresh context: a value
// outside quotes in it is shell-quoted as at the top.
struct Substituter::Quoting {
  enum class State { none, single, dbl, ansi };  // ansi: bash's $'…', where \ escapes
  enum class Kind { top, command, backtick, arithmetic, parameter };  // parameter: the shell's own ${…}
  struct Context {
    Kind kind = Kind::top;
    State state = State::none;
    int parens = 0;  // ( opened inside a $( … ) or $(( … )), to find its own )
  };
  std::vector<Context> stack{Context{}};
  bool escaped = false;
  bool dollar = false;       // the last character was an unquoted or double-quoted $
  bool just_opened = false;  // the last two were $( : a ( now makes it $((
  bool open() const noexcept {
    const Context& c = stack.back();
    return escaped || c.state != State::none || c.kind == Kind::backtick || c.kind == Kind::arithmetic || c.kind == Kind::parameter;
  }
  void feed(std::string_view text) {
    for (char ch : text) feed(ch);
  }
  void feed(char ch) {
    const bool was_dollar = dollar, was_opened = just_opened;
    dollar = just_opened = false;
    if (escaped) {
      escaped = false;
      return;
    }
    Context& c = stack.back();
    if (c.state == State::single) {
      if (ch == '\'') c.state = State::none;
      return;
    }
    if (c.state == State::ansi) {
      if (ch == '\\') escaped = true;
      else if (ch == '\'') c.state = State::none;
      return;
    }
    if (ch == '\\') {
      escaped = true;
      return;
    }
    if (c.state == State::dbl && ch == '"') {
      c.state = State::none;
      return;
    }
    if (ch == '(' && was_opened && c.kind == Kind::command && c.parens == 0) {
      c.kind = Kind::arithmetic;
      c.parens = 1;  // $(( … )) ends at its second )
      return;
    }
    if (ch == '(' && was_dollar) {
      stack.push_back(Context{Kind::command, State::none, 0});
      just_opened = true;
      return;
    }
    if (ch == '{' && was_dollar) {  // ${…} of the shell (written $${…}): quotes inside nest in it
      stack.push_back(Context{Kind::parameter, State::none, 0});
      return;
    }
    if (ch == '}' && c.kind == Kind::parameter && c.state == State::none) {
      stack.pop_back();
      return;
    }
    if (ch == '\'' && was_dollar && c.state == State::none) {
      c.state = State::ansi;
      return;
    }
    if (ch == '$') {
      dollar = true;
      return;
    }
    if (ch == '`') {
      if (c.kind == Kind::backtick) stack.pop_back();
      else stack.push_back(Context{Kind::backtick, State::none, 0});
      return;
    }
    if (c.state == State::dbl) return;
    if (ch == '\'') c.state = State::single;
    else if (ch == '"') c.state = State::dbl;
    else if (ch == '(' && c.kind != Kind::top) ++c.parens;
    else if (ch == ')' && c.kind != Kind::top && c.kind != Kind::backtick) {
      if (c.parens > 0) --c.parens;
      else stack.pop_back();
    }
  }
};

Result<std::string> Substituter::expand(std::string_view text, const std::string& current_section) const {
  std::vector<std::string> stack;
  Quoting quoting;
  return expand_at(text, current_section, 0, stack, quote_ ? &quoting : nullptr);
}

Result<std::string> Substituter::value(const std::string& section, const std::string& key) const {
  return expand("${" + section + ":" + key + "}", section);
}

Result<std::string> Substituter::expand_at(std::string_view text, const std::string& current, int depth, std::vector<std::string>& stack,
                                           Quoting* quoting) const {
  if (depth > 32) return make_error(Errc::kCycle, "substitution nested deeper than 32");
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {
      out += "${";
      if (quoting != nullptr) quoting->feed("${");
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      if (quoting != nullptr) quoting->feed(text.substr(i, 1));
      out += text[i++];
      continue;
    }
    size_t end = text.find('}', i + 2);
    if (end == std::string_view::npos) return make_error(Errc::kInvalid, "unterminated ${ in '" + std::string(text) + "'");
    std::string_view ref = text.substr(i + 2, end - i - 2);
    size_t colon = ref.find(':');
    if (colon == std::string_view::npos) {
      return make_error(Errc::kInvalid, "reference '${" + std::string(ref) + "}' lacks section:key");
    }
    std::string sec(ref.substr(0, colon));
    std::string key(ref.substr(colon + 1));
    if (sec.empty()) sec = current;
    if (!valid_ref_name(sec) || !valid_ref_name(key) || key.empty()) {
      return make_error(Errc::kInvalid, "bad reference '${" + std::string(ref) + "}'");
    }
    auto lit = literal_.find(sec);
    if (lit != literal_.end()) {
      auto k = lit->second.find(key);
      if (k == lit->second.end()) return make_error(Errc::kNotFound, "no value for ${" + sec + ":" + key + "}");
      if (quoting != nullptr && quoting->open()) {
        if (!std::all_of(k->second.begin(), k->second.end(), bare_char)) {
          return make_error(Errc::kInvalid, "${" + sec + ":" + key + "} is inserted inside quotes (or after a backslash), where only "
                                            "letters, digits and _-.,:/@=+ stay one word; its value has others: write the "
                                            "reference outside quotes (it is quoted for the shell)");
        }
        out += k->second;
        quoting->feed(k->second);  // a bare word: it ends a backslash's escape, nothing else
      } else {
        const std::string inserted = quote_ ? quote_(k->second) : k->second;
        out += inserted;
        if (quoting != nullptr) quoting->feed(inserted);  // balanced quotes: the state is as before
      }
    } else {
      const std::string* raw = profile_.get(sec, key);
      if (raw == nullptr) return make_error(Errc::kNotFound, "no value for ${" + sec + ":" + key + "}");
      std::string id = sec + ":" + key;
      if (std::find(stack.begin(), stack.end(), id) != stack.end()) {
        return make_error(Errc::kCycle, "substitution cycle through ${" + id + "}");
      }
      stack.push_back(id);
      auto v = expand_at(*raw, sec, depth + 1, stack, quoting);
      stack.pop_back();
      if (!v) return v.error();
      out += *v;
    }
    i = end + 1;
  }
  return out;
}

}  // namespace slap::node
