// JsonText writes answers straight into a string; its bytes must be exactly those boost::json
// writes for the same document (the answers it replaced), escaping included.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <string>

#include "slapd/api/json_text.h"

namespace slap::slapd {
namespace {

namespace bj = boost::json;

TEST(JsonText, WritesTheBytesBoostJsonWritesForTheSameDocument) {
  std::string out;
  JsonText j(out);
  j.open_object();
  j.key("name").string("kvm");
  j.key("empty_object").open_object().close_object();
  j.key("empty_array").open_array().close_array();
  j.key("shared").boolean(false);
  j.key("on").boolean(true);
  j.key("missing").null();
  j.key("timestamp").number(1796522834);
  j.key("negative").number(-42);
  j.key("parameters").open_object();
  j.key("cpu").string("2");
  j.key("json").string(R"({"a":[1,2]})");
  j.close_object();
  j.key("ip_list").open_array();
  j.open_array().string("slappart0").string("10.0.0.1").close_array();
  j.open_array().string("tap0").string("fd00::1").close_array();
  j.close_array();
  j.key("last").string("");
  j.close_object();

  const bj::object expected{{"name", "kvm"},
                            {"empty_object", bj::object{}},
                            {"empty_array", bj::array{}},
                            {"shared", false},
                            {"on", true},
                            {"missing", nullptr},
                            {"timestamp", 1796522834},
                            {"negative", -42},
                            {"parameters", bj::object{{"cpu", "2"}, {"json", R"({"a":[1,2]})"}}},
                            {"ip_list", bj::array{bj::array{"slappart0", "10.0.0.1"}, bj::array{"tap0", "fd00::1"}}},
                            {"last", ""}};
  EXPECT_EQ(out, bj::serialize(expected));
}

TEST(JsonText, EscapesEveryStringAsBoostJsonDoes) {
  const std::string tricky[] = {
      "quote \" and backslash \\",
      "new\nline, tab\t, return\r, form\f, back\b",
      std::string("control \x01\x1f and nul ") + std::string(1, '\0') + " inside",
      "delete \x7f",
      "UTF-8: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
      "</script> and a slash /",
      std::string(1000, 'x') + "\"" + std::string(600, 'y'),  // longer than the escaping buffer
  };
  for (const auto& s : tricky) {
    std::string out;
    JsonText j(out);
    j.open_object().key(s).string(s).close_object();
    EXPECT_EQ(out, bj::serialize(bj::object{{s, s}})) << s;
    const auto back = bj::parse(out).as_object();
    ASSERT_EQ(back.size(), 1u);
    EXPECT_EQ(std::string(back.begin()->key()), s);
    EXPECT_EQ(std::string(back.begin()->value().as_string()), s);
  }
}

TEST(JsonText, SeparatesTheMembersOfNestedContainers) {
  std::string out;
  JsonText j(out);
  j.open_array();
  j.open_object().key("a").open_array().number(1).open_array().close_array().number(2).close_array().close_object();
  j.open_object().close_object();
  j.string("s");
  j.close_array();
  EXPECT_EQ(out, R"([{"a":[1,[],2]},{},"s"])");
}

}  // namespace
}  // namespace slap::slapd
