#include "slapd/usage/tioxml.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace slap;

namespace {

std::string journal(const std::string& movements, const std::string& reference = "slappart0") {
  return "<?xml version='1.0' encoding='utf-8'?><journal><transaction type=\"Sale Packing List\"><title>t</title>"
         "<start_date>2026-11-25 00:00:00</start_date><stop_date>2026-11-25 01:00:00</stop_date><reference>" + reference +
         "</reference><currency></currency><payment_mode></payment_mode><category></category>"
         "<arrow type=\"Source\"><source>COMP-1</source></arrow><arrow type=\"Destination\"><destination>SOFTINST-1</destination></arrow>" +
         movements + "</transaction></journal>";
}

std::string movement(const std::string& resource, const std::string& quantity, const std::string& extra = "") {
  return "<movement><resource>" + resource + "</resource><title>x</title><reference>SOFTINST-1</reference><quantity>" + quantity +
         "</quantity><price>0.0</price><VAT></VAT>" + extra + "</movement>";
}

}  // namespace

TEST(TioXml, ParsesQuantitiesExactlyWithUnitsAndPeriods) {
  auto r = usage::parse_journal(journal(movement("usage/cpu_s", "76.4371428571") + movement("usage/ram_byte_s", "14211174517.0") +
                                        movement("shop/transaction", "12") + movement("custom/widgets", "3", "<category>unit:unit</category>")));
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->size(), 1u);
  const auto& t = r->front();
  EXPECT_EQ(t.reference, "slappart0");
  EXPECT_EQ(t.stop.value() - t.start.value(), 3600LL * 1'000'000'000);
  ASSERT_EQ(t.lines.size(), 4u);
  EXPECT_EQ(t.lines[0].quantity.to_string(), "76.4371428571");
  EXPECT_EQ(t.lines[0].unit, "cpu_s");
  EXPECT_EQ(t.lines[1].quantity.to_string(), "14211174517.0");
  EXPECT_EQ(t.lines[1].unit, "byte_s");
  EXPECT_EQ(t.lines[2].unit, "transaction");
  EXPECT_EQ(t.lines[3].unit, "unit");
}

TEST(TioXml, RefusalsNameTheMovement) {
  struct Case {
    std::string xml;
    ubm::Rejection code;
    std::string field;
  };
  const std::vector<Case> cases = {
      {journal(movement("usage/cpu_s", "1") + movement("usage/cpu_s", "-2")), ubm::Rejection::NEGATIVE_QUANTITY, "transaction[0].movement[1].quantity"},
      {journal(movement("usage/cpu_s", "99999999999999999999")), ubm::Rejection::DECIMAL_OVERFLOW, "transaction[0].movement[0].quantity"},
      {journal(movement("usage/cpu_s", "1e3")), ubm::Rejection::MALFORMED_DECIMAL, "transaction[0].movement[0].quantity"},
      {journal(movement("mystery/thing", "1")), ubm::Rejection::UNKNOWN_UNIT, "transaction[0].movement[0].resource"},
      {journal("<movement><resource>usage/cpu_s</resource><price>0</price><quantity>1</quantity><VAT/></movement>"), ubm::Rejection::INVALID_PARAMETER, "transaction[0].movement[0]"},
      {journal(""), ubm::Rejection::INVALID_PARAMETER, "transaction[0]"},
      {"<journal><transaction", ubm::Rejection::INVALID_PARAMETER, "tioxml"},
      {"<ledger/>", ubm::Rejection::INVALID_PARAMETER, "tioxml"},
  };
  for (const auto& c : cases) {
    auto r = usage::parse_journal(c.xml);
    ASSERT_FALSE(r.ok()) << c.xml;
    EXPECT_EQ(r.error().code, c.code) << r.error().to_string();
    EXPECT_EQ(r.error().field, c.field) << r.error().to_string();
  }
  std::string bad_date = journal(movement("usage/cpu_s", "1"));
  bad_date.replace(bad_date.find("2026-11-25 01:00:00"), 19, "2026-13-25 01:00:00");
  EXPECT_EQ(usage::parse_journal(bad_date).error().field, "transaction[0].stop_date");
}

TEST(TioXml, TheReferenceJournalParsesUpToItsNegativeRatio) {
  std::ifstream in(std::string(SHARED_REFERENCE) + "/tioxml-example-2019-10-07.xml");
  if (!in) GTEST_SKIP() << "../shared/reference is not beside the checkout";
  std::stringstream ss;
  ss << in.rdbuf();
  // Structure and quantities parse; service_module/* resources carry no unit of ours and the
  // zero-emission ratio is -1: the journal is refused, naming the first offending movement.
  auto r = usage::parse_journal(ss.str());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "transaction[0].movement[0].resource");
  EXPECT_EQ(r.error().code, ubm::Rejection::UNKNOWN_UNIT);
}

TEST(TioXml, DatesBeyondInt64NanosecondsAreRefused) {  // found by fuzz_tioxml (signed overflow)
  EXPECT_TRUE(usage::parse_date("2261-12-31 23:59:59").ok());
  EXPECT_TRUE(usage::parse_date("2024-02-29 00:00:00").ok());   // a leap year's
  EXPECT_FALSE(usage::parse_date("2019-02-29 00:00:00").ok());  // not a leap year
  EXPECT_FALSE(usage::parse_date("2019-02-31 00:00:00").ok());
  EXPECT_FALSE(usage::parse_date("2026-04-31 12:00:00").ok());
  EXPECT_FALSE(usage::parse_date("2262-04-12 00:00:00").ok());
  EXPECT_FALSE(usage::parse_date("4052-12-31 00:00:00").ok());
}

// Text reaches the ledger as UTF-8 XML allows: pugixml expanded &#xD800; into the bytes of a lone
// surrogate and &#0; into a NUL that cut the text short, and nothing refused either before.
TEST(TioXml, CharacterReferencesAndBytesXmlDoesNotAllowAreRefused) {
  for (const char* bad : {"&#xD800;", "&#xdfff;", "&#0;", "&#x0;", "&#1;", "&#x110000;", "&#xFFFE;", "&#99999999999;", "&#x;", "&#12"}) {
    auto r = usage::parse_journal(journal(movement("usage/cpu_s", "1", std::string("<category>note ") + bad + "</category>")));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().field, "tioxml") << bad << ": " << r.error().to_string();
  }
  for (const std::string& bad : {std::string("x\x01y"), std::string("x\0y", 3), std::string("\xed\xa0\x80"), std::string("\xff")}) {
    EXPECT_FALSE(usage::parse_journal(journal(movement("usage/cpu_s", "1", "<category>" + bad + "</category>"))).ok());
  }
  EXPECT_FALSE(usage::parse_journal(journal(movement("usage/cpu_s", "1", "<category>\xef\xbf\xbe</category>"))).ok()) << "U+FFFE";
  // What XML allows still parses: a tab, an accent, an emoji, by reference or as bytes; "&#0;" as
  // the text of a CDATA section or a comment, where it is no reference.
  auto r = usage::parse_journal(journal(movement("usage/cpu_s", "1", "<category>caf&#xE9; &#x1F600;\t\xc3\xa9</category>")));
  EXPECT_TRUE(r.ok()) << r.error().to_string();
  r = usage::parse_journal(journal(movement("usage/cpu_s", "1", "<category><![CDATA[&#0;]]></category><!-- &#xD800; -->")));
  EXPECT_TRUE(r.ok()) << r.error().to_string();
}
