#include "slapd/usage/tioxml.h"

#include "slapd/usage/quantity_text.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
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
      {journal(movement("usage/cpu_s", "nan")), ubm::Rejection::MALFORMED_DECIMAL, "transaction[0].movement[0].quantity"},
      {journal(movement("usage/cpu_s", "1e")), ubm::Rejection::MALFORMED_DECIMAL, "transaction[0].movement[0].quantity"},
      {journal(movement("usage/cpu_s", "1e+20")), ubm::Rejection::DECIMAL_OVERFLOW, "transaction[0].movement[0].quantity"},
      {journal(movement("service_module/zero_emission_ratio", "-0.5")), ubm::Rejection::NEGATIVE_QUANTITY, "transaction[0].movement[0].quantity"},
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

// A SlapOS node's daily consumption journal, as slapos.core's collector writes it: every
// measurement is taken, in the unit that code writes it in; the zero-emission ratio's -1 ("never
// tested") is no measurement and is dropped.
TEST(TioXml, TheReferenceJournalOfASlapOSNodeParsesWhole) {
  std::ifstream in(std::string(SHARED_REFERENCE) + "/tioxml-example-2019-10-07.xml");
  if (!in) GTEST_SKIP() << "../shared/reference is not beside the checkout";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string xml = ss.str();
  auto r = usage::parse_journal(xml);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->size(), 1u);
  const auto& t = r->front();
  EXPECT_EQ(t.reference, "2019-10-07-global");
  EXPECT_EQ(t.start, usage::parse_date("2019-10-07 00:00:00").value());
  EXPECT_EQ(t.stop, usage::parse_date("2019-10-07 23:59:59").value());
  size_t movements = 0;
  for (size_t at = xml.find("<movement>"); at != std::string::npos; at = xml.find("<movement>", at + 1)) ++movements;
  ASSERT_EQ(t.lines.size(), movements - 1) << "every movement but the unmeasured ratio";
  for (const auto& l : t.lines) {
    EXPECT_NE(l.resource, "service_module/zero_emission_ratio");
    // Each quantity is the text of the journal, digit for digit.
    EXPECT_NE(xml.find("<reference>" + l.reference + "</reference><quantity>" + l.quantity.to_string() + "</quantity>"), std::string::npos)
        << l.reference << " " << l.quantity.to_string();
    const bool partition = l.reference.rfind("slapuser", 0) == 0;
    if (l.resource == "service_module/cpu_load_percent") EXPECT_EQ(l.unit, "percent");
    else if (l.resource == "service_module/memory_used") EXPECT_EQ(l.unit, partition ? "mebibyte" : "byte") << l.reference;
    else ADD_FAILURE() << "unexpected resource " << l.resource;
  }
  EXPECT_EQ(t.lines[0].reference, "COMP-192938");
  EXPECT_EQ(t.lines[0].quantity.to_string(), "76.4371428571");
  EXPECT_EQ(t.lines[1].unit, "byte");
  EXPECT_EQ(t.lines[1].quantity.to_string(), "14211174517.0");
  // A ratio that was measured is kept; another negative one is refused like any negative quantity.
  auto measured = usage::parse_journal(journal(movement("service_module/zero_emission_ratio", "0.25")));
  ASSERT_TRUE(measured.ok()) << measured.error().to_string();
  ASSERT_EQ(measured->front().lines.size(), 1u);
  EXPECT_EQ(measured->front().lines[0].unit, "ratio");
  EXPECT_EQ(measured->front().lines[0].quantity.to_string(), "0.25");
  // A partition's disk, in MiB as the collector divides du's KiB by 1024.
  auto disk = usage::parse_journal(journal("<movement><resource>service_module/disk_used</resource><title>d</title><reference>slapuser3</reference>"
                                           "<quantity>1.5e-05</quantity><price>0.0</price><VAT></VAT><category></category></movement>"));
  ASSERT_TRUE(disk.ok()) << disk.error().to_string();
  EXPECT_EQ(disk->front().lines[0].unit, "mebibyte");
  EXPECT_EQ(disk->front().lines[0].quantity.to_string(), "0.000015");
}

// Python writes str(float): exponents below 1e-4 and from 1e16, up to 17 significant digits.
TEST(TioXml, QuantitiesInPythonsFloatFormsAreReadAsTheDecimalTheySpell) {
  struct Case {
    const char* text;
    const char* exact;  // Decimal::to_string of the result
  };
  for (const Case& c : std::initializer_list<Case>{
           {"76.4371428571", "76.4371428571"},
           {"14211174517.0", "14211174517.0"},
           {"0", "0"},
           {"-0.0", "0.0"},
           {"0e5", "0"},
           {"0.000e-20", "0.000000000000000000"},
           {"5e-05", "0.00005"},
           {"1.5E-7", "0.00000015"},
           {"1e+16", "10000000000000000"},
           {"1.25e2", "125"},
           {"1.2345e1", "12.345"},
           {"0.30000000000000004", "0.30000000000000004"},
           {"9223372036854775807", "9223372036854775807"},
           {"0.000000000000000001", "0.000000000000000001"},
           // Past 18 digits after the point: rounded there, half away from zero.
           {"0.00012345678901234567", "0.000123456789012346"},
           {"0.00012345678901234549", "0.000123456789012345"},
           {"2.5e-18", "0.000000000000000003"},
           {"6e-19", "0.000000000000000001"},
           {"4e-19", "0.000000000000000000"},
           {"1e-99999999", "0.000000000000000000"},
           {"1e-9999999999999999999999", "0.000000000000000000"},
           {"0.9999999999999999999", "1.000000000000000000"},
           {"-1.23456789012345678901e-3", "-0.001234567890123457"},
           // More significant digits than the mantissa holds: rounded further left, as little as needed.
           {"92233720368547758.049", "92233720368547758.05"},
           // Rounded once from the digits as written, not step by step.
           {"9223372036854775.80749", "9223372036854775.807"},
       }) {
    auto d = usage::parse_quantity_text(c.text);
    ASSERT_TRUE(d.ok()) << c.text << ": " << d.error().to_string();
    EXPECT_EQ(d->to_string(), c.exact) << c.text;
  }
  // Whatever the ledger's own decimal grammar reads, this reads identically (same digits, same scale).
  std::mt19937_64 rng(7);
  for (int n = 0; n < 20'000; ++n) {
    std::string text = rng() % 4 == 0 ? "-" : "";
    const size_t int_digits = 1 + rng() % 19, frac_digits = rng() % 3 == 0 ? 0 : 1 + rng() % 18;
    for (size_t i = 0; i < int_digits; ++i) text += static_cast<char>('0' + rng() % 10);
    if (frac_digits > 0) text += '.';
    for (size_t i = 0; i < frac_digits; ++i) text += static_cast<char>('0' + rng() % 10);
    auto exact = ubm::Decimal::parse(text);
    auto read = usage::parse_quantity_text(text);
    if (exact.ok()) {
      ASSERT_TRUE(read.ok()) << text;
      ASSERT_TRUE(read->identical(*exact)) << text << " read as " << read->to_string();
    } else if (read.ok()) {
      // Too many digits for the mantissa: rounded to fewer decimals, the digits as written cut
      // there or one unit of the last kept digit above them.
      ASSERT_LT(read->scale(), frac_digits) << text;
      std::string digits;
      for (char c : text) if (c >= '0' && c <= '9') digits += c;
      digits.resize(int_digits + read->scale());
      const auto cut = static_cast<__int128>(std::stoull(digits));
      const __int128 magnitude = read->mantissa() < 0 ? -static_cast<__int128>(read->mantissa()) : read->mantissa();
      ASSERT_TRUE(magnitude == cut || magnitude == cut + 1) << text << " read as " << read->to_string();
    } else {
      ASSERT_EQ(read.error().code, ubm::Rejection::DECIMAL_OVERFLOW) << text;
    }
  }
  // A long digit string with a long exponent that brings it back: still exact.
  for (const size_t zeros : {size_t{100'000}, size_t{149'999}}) {
    const std::string text = "0." + std::string(zeros, '0') + "5e+" + std::to_string(zeros + 1);
    auto d = usage::parse_quantity_text(text);
    ASSERT_TRUE(d.ok()) << d.error().to_string();
    EXPECT_EQ(d->to_string(), "5") << zeros;
  }
  for (const char* bad : {"", "-", "nan", "inf", "-inf", "1e", "e5", "1e+", ".5", "5.", "+1", "1 ", " 1", "1,5", "0x10", "1.2.3", "1e5.5", "--1"}) {
    auto d = usage::parse_quantity_text(bad);
    ASSERT_FALSE(d.ok()) << bad;
    EXPECT_EQ(d.error().code, ubm::Rejection::MALFORMED_DECIMAL) << bad;
  }
  for (const char* big : {"1e+20", "9223372036854775808", "99999999999999999999.5", "1e99999999", "1.7976931348623157e+308", "1e+9999999999999999999999"}) {
    auto d = usage::parse_quantity_text(big);
    ASSERT_FALSE(d.ok()) << big;
    EXPECT_EQ(d.error().code, ubm::Rejection::DECIMAL_OVERFLOW) << big;
  }
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
