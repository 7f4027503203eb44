#include <gtest/gtest.h>

#include <map>

#include "node/ini.h"
#include "node/profile.h"
#include "node/software.h"
#include "node/sys.h"
#include "tests/node/test_support.h"

namespace slap::node {
namespace {

FetchFn memory_fetch(std::map<std::string, std::string> files) {
  return [files = std::move(files)](const std::string& url) -> Result<std::string> {
    auto it = files.find(url);
    if (it == files.end()) return make_error(Errc::kNotFound, url);
    return it->second;
  };
}

TEST(Ini, ParsesSectionsContinuationsAndAppend) {
  auto ini = parse_ini("# comment\n[a]\nx = 1\ny =\n  line one\n    indented\n  line two\nz += more\n[b:c]\nk=v\n", "t");
  ASSERT_TRUE(ini.ok()) << ini.error().to_string();
  ASSERT_EQ(ini->sections.size(), 2u);
  EXPECT_EQ(ini->sections[0].entries[1].value, "line one\n  indented\nline two");
  EXPECT_TRUE(ini->sections[0].entries[2].append);
  EXPECT_EQ(ini->sections[1].name, "b:c");
}

TEST(Ini, RefusesMalformedInput) {
  EXPECT_FALSE(parse_ini("x = 1\n", "t").ok());                 // outside a section
  EXPECT_FALSE(parse_ini("[a\nx = 1\n", "t").ok());             // unterminated header
  EXPECT_FALSE(parse_ini("[a]\nnovalue\n", "t").ok());          // no '='
  EXPECT_FALSE(parse_ini("[a]\nx = 1\nx = 2\n", "t").ok());     // duplicate key
  EXPECT_FALSE(parse_ini("[a]\n[a]\n", "t").ok());              // duplicate section
  EXPECT_FALSE(parse_ini("[a b]\n", "t").ok());                 // bad name
  EXPECT_TRUE(parse_ini("x = 1\n", "t", IniOptions{true}).ok());
}

TEST(Url, ResolvesRelativeReferences) {
  EXPECT_EQ(resolve_url("file:///a/b/c.cfg", "d.cfg"), "file:///a/b/d.cfg");
  EXPECT_EQ(resolve_url("file:///a/b/c.cfg", "../x/d.cfg"), "file:///a/x/d.cfg");
  EXPECT_EQ(resolve_url("https://h:8/r/s/p.cfg", "../q.cfg"), "https://h:8/r/q.cfg");
  EXPECT_EQ(resolve_url("https://h/r/p.cfg", "/abs.cfg"), "https://h/abs.cfg");
  EXPECT_EQ(resolve_url("file:///a/p.cfg", "http://o/x.cfg"), "http://o/x.cfg");
  EXPECT_EQ(url_directory("file:///a/b/c.cfg"), "file:///a/b");
  EXPECT_TRUE(url_scheme_allowed("https://h/x"));
  EXPECT_FALSE(url_scheme_allowed("ftp://h/x"));
  EXPECT_FALSE(url_scheme_allowed("file:///a b"));
  EXPECT_FALSE(url_scheme_allowed("javascript:alert(1)"));
}

TEST(Profile, ExtendsMergesOverridesAndAppends) {
  auto fetch = memory_fetch({
      {"file:///r/base/software.cfg",
       "[buildout]\nparts = a\n[a]\nrecipe = command\ncommand = echo base\nopts = -x\n"
       "[default-parameters]\nport = 1\nsize = 16\n"
       "[files]\nsrc = ${:_profile_base_location_}/src.tar.gz\n"},
      {"file:///r/child/software.cfg",
       "[buildout]\nextends = ../base/software.cfg\n[a]\nopts += -y\n[default-parameters]\nsize = 64\n"},
  });
  auto p = load_profile("file:///r/child/software.cfg", fetch);
  ASSERT_TRUE(p.ok()) << p.error().to_string();
  EXPECT_EQ(*p->get("a", "command"), "echo base");
  EXPECT_EQ(*p->get("a", "opts"), "-x\n-y");
  EXPECT_EQ(*p->get("default-parameters", "size"), "64");
  EXPECT_EQ(*p->get("default-parameters", "port"), "1");
  // The base's own directory, not the child's.
  EXPECT_EQ(*p->get("files", "src"), "file:///r/base/src.tar.gz");
  EXPECT_EQ(p->get("buildout", "extends"), nullptr);
  EXPECT_EQ(p->files.size(), 2u);
}

TEST(Profile, ExtendsCycleIsRefused) {
  auto fetch = memory_fetch({
      {"file:///r/a.cfg", "[buildout]\nextends = b.cfg\n"},
      {"file:///r/b.cfg", "[buildout]\nextends = c.cfg\n"},
      {"file:///r/c.cfg", "[buildout]\nextends = a.cfg\n"},
  });
  auto p = load_profile("file:///r/a.cfg", fetch);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, Errc::kCycle);
  auto self = load_profile("file:///r/s.cfg", memory_fetch({{"file:///r/s.cfg", "[buildout]\nextends = s.cfg\n"}}));
  ASSERT_FALSE(self.ok());
  EXPECT_EQ(self.error().code, Errc::kCycle);
}

TEST(Profile, MissingExtendedFileIsAnError) {
  auto p = load_profile("file:///r/a.cfg", memory_fetch({{"file:///r/a.cfg", "[buildout]\nextends = gone.cfg\n"}}));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, Errc::kNotFound);
}

// A release fetched over the network may not extend a local file: slapnode reads file:// as its
// own user (root), and the file's values would reach the build and its stored profile.
TEST(Profile, ANetworkProfileCannotExtendALocalFile) {
  auto fetch = memory_fetch({
      {"https://lab.example/r/software.cfg", "[buildout]\nextends = file:///etc/mysql/debian.cnf\n"},
      {"file:///etc/mysql/debian.cnf", "[client]\npassword = secret\n"},
      {"https://lab.example/r/ok.cfg", "[buildout]\nextends = base.cfg\n"},
      {"https://lab.example/r/base.cfg", "[buildout]\nparts =\n"},
      {"file:///r/local.cfg", "[buildout]\nextends = file:///etc/mysql/debian.cnf\n"},
  });
  auto p = load_profile("https://lab.example/r/software.cfg", fetch);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, Errc::kInvalid);
  EXPECT_NE(p.error().detail.find("local file"), std::string::npos) << p.error().to_string();
  EXPECT_TRUE(load_profile("https://lab.example/r/ok.cfg", fetch).ok()) << "a network profile extends network profiles";
  EXPECT_TRUE(load_profile("file:///r/local.cfg", fetch).ok()) << "a local profile (the operator's own) extends local files";
}

TEST(Substitution, ExpandsReferencesLiteralsAndEscapes) {
  auto p = parse_flat_profile(
      "[a]\nx = ${b:y}/bin\nself = ${:x}!\nlit = $${not:expanded}\nport = ${parameters:port}\n[b]\ny = /opt/${c:z}\n[c]\nz = rel\n",
      "t");
  ASSERT_TRUE(p.ok());
  SectionMap literal{{"parameters", {{"port", "11211 -d; rm -rf /"}}}};
  Substituter sub(*p, literal);
  EXPECT_EQ(*sub.value("a", "x"), "/opt/rel/bin");
  EXPECT_EQ(*sub.value("a", "self"), "/opt/rel/bin!");
  EXPECT_EQ(*sub.value("a", "lit"), "${not:expanded}");
  EXPECT_EQ(*sub.value("a", "port"), "11211 -d; rm -rf /");
  Substituter quoted(*p, literal);
  quoted.set_quote(shell_quote);
  // A requester's value is one shell word in a command line.
  EXPECT_EQ(*quoted.value("a", "port"), "'11211 -d; rm -rf /'");
  EXPECT_EQ(sub.value("a", "missing").error().code, Errc::kNotFound);
  EXPECT_EQ(sub.expand("${nosuch:key}", "a").error().code, Errc::kNotFound);
  EXPECT_EQ(sub.expand("${broken", "a").error().code, Errc::kInvalid);
}

// A requester's value inserted inside the release's own quotes is not made one word by quoting it:
// in "…" its quotes are literal and $(…) runs (also one sh -c level down, through a profile value),
// in '…' its quotes close the release's, after a backslash its first quote is literal. There a
// value must be a bare word; anything else fails the instance instead of running. Unquoted, it is
// quoted as before. Before, "http://${partition:ipv4}:${parameters:port}/" with the port
// 1$(touch X) ran touch.
TEST(Substitution, AValueInsideTheReleasesQuotesMustBeABareWord) {
  auto p = parse_flat_profile(
      "[a]\n"
      "dq = curl -sf \"http://${parameters:host}:${parameters:port}/\"\n"
      "sq = echo '${parameters:port}'\n"
      "nested = sh -c \"${cmd:line}\"\n"
      "escaped = echo \\${parameters:port}\n"
      "subst_dq = echo \"$(dirname \"${parameters:port}\")\"\n"
      "arith = echo $(( ${parameters:port} + 1 ))\n"
      "backtick = echo `echo ${parameters:port}`\n"
      "subst = echo \"$(echo ${parameters:port})\" $((1 + 2)) ${parameters:port}\n"
      "after_escape_dq = echo \"\\${parameters:a}\" \"${parameters:b}\"\n"
      "after_escape_sq = echo \\${parameters:a}'${parameters:b}'\n"
      "shell_parameter = echo \"$${X:+\"${parameters:b}\"}\"\n"
      "ansi = echo $'\\'' '${parameters:b}'\n"
      "plain = echo ${parameters:port} \"${parameters:host}\" '${parameters:host}' done\n"
      "[cmd]\nline = exec memcached -p ${parameters:port}\n",
      "t");
  ASSERT_TRUE(p.ok()) << p.error().to_string();
  SectionMap evil{{"parameters", {{"host", "10.0.0.1"}, {"port", "1$(touch X)"}, {"a", "x"}, {"b", "$(echo INJECTED)"}}}};
  Substituter quoted(*p, evil);
  quoted.set_quote(shell_quote);
  for (const char* key : {"dq", "sq", "nested", "escaped", "subst_dq", "arith", "backtick"}) {
    auto v = quoted.value("a", key);
    ASSERT_FALSE(v.ok()) << key << " gave " << *v;
    EXPECT_EQ(v.error().code, Errc::kInvalid);
    EXPECT_NE(v.error().detail.find("${parameters:port}"), std::string::npos) << v.error().to_string();
  }
  // The value after a backslash ends its escape (it is written, so it moves the state too); the
  // shell's own ${…} and bash's $'…' nest quotes of their own.
  for (const char* key : {"after_escape_dq", "after_escape_sq", "shell_parameter", "ansi"}) {
    auto v = quoted.value("a", key);
    ASSERT_FALSE(v.ok()) << key << " gave " << *v;
    EXPECT_NE(v.error().detail.find("${parameters:b}"), std::string::npos) << key << ": " << v.error().to_string();
  }
  // Bare words stay what the release wrote; unquoted values are quoted; quotes closed again count.
  EXPECT_EQ(*quoted.value("a", "plain"), "echo '1$(touch X)' \"10.0.0.1\" '10.0.0.1' done");
  // A command substitution starts afresh (a value outside quotes in it is quoted), and the line
  // is back outside quotes once it and an arithmetic expansion are closed.
  EXPECT_EQ(*quoted.value("a", "subst"), "echo \"$(echo '1$(touch X)')\" $((1 + 2)) '1$(touch X)'");
  SectionMap fine{{"parameters", {{"host", "10.0.0.1"}, {"port", "11211"}}}};
  Substituter ok(*p, fine);
  ok.set_quote(shell_quote);
  EXPECT_EQ(*ok.value("a", "dq"), "curl -sf \"http://10.0.0.1:11211/\"");
  EXPECT_EQ(*ok.value("a", "nested"), "sh -c \"exec memcached -p 11211\"");
}

TEST(Substitution, CyclesAreRefused) {
  auto p = parse_flat_profile("[a]\nx = ${a:y}\ny = ${b:z}\n[b]\nz = ${a:x}\n", "t");
  ASSERT_TRUE(p.ok());
  SectionMap none;
  Substituter sub(*p, none);
  auto v = sub.value("a", "x");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, Errc::kCycle);
}

TEST(Profile, DumpAndParseRoundTrip) {
  auto p = parse_flat_profile("[a]\nx = 1\nmulti =\n  one\n  two\nempty =\n", "t");
  ASSERT_TRUE(p.ok());
  auto q = parse_flat_profile(dump_profile(*p), "t");
  ASSERT_TRUE(q.ok()) << q.error().to_string();
  EXPECT_EQ(p->sections, q->sections);
}

TEST(Checksums, BadOrMissingChecksumIsRefused) {
  testing::TempDir tmp;
  ASSERT_TRUE(write_file_atomic(tmp / "data.txt", "payload").ok());
  std::string good = sha256_hex("payload");
  std::string bad = sha256_hex("other");
  auto make = [&](const std::string& name, const std::string& sum) {
    std::string cfg = "[buildout]\nparts = get\n[get]\nrecipe = download\nurl = data.txt\n" +
                      (sum.empty() ? std::string() : "sha256 = " + sum + "\n");
    EXPECT_TRUE(write_file_atomic(tmp / name, cfg).ok());
    return "file://" + tmp / name;
  };
  FetchFn fetch = [](const std::string& url) -> Result<std::string> { return read_file(url.substr(7)); };
  SoftwareBuilder b(SoftwareOptions{tmp / "soft", std::nullopt, std::chrono::seconds(60)}, fetch);
  auto r = b.install(make("bad.cfg", bad));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kChecksum);
  auto m = b.install(make("missing.cfg", ""));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, Errc::kNotFound);
  auto ok = b.install(make("good.cfg", good));
  ASSERT_TRUE(ok.ok()) << ok.error().to_string();
  EXPECT_TRUE(*ok);
  EXPECT_FALSE(software_installed(tmp / "soft", make("bad.cfg", bad)));
}

}  // namespace
}  // namespace slap::node
