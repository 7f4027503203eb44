#include "ubm/decimal.h"

#include <gtest/gtest.h>

using slap::ubm::Decimal;
using slap::ubm::Rejection;

TEST(Decimal, RoundTripsTioXmlQuantitiesDigitForDigit) {
  for (const char* text : {"76.4371428571", "0", "1", "-3.25", "0.000000000000000001", "9223372036854775807",
                           "-9223372036854775808", "12.50", "0.10"}) {
    auto d = Decimal::parse(text);
    ASSERT_TRUE(d.ok()) << text;
    EXPECT_EQ(d->to_string(), text);
  }
  auto d = Decimal::parse("76.4371428571");
  EXPECT_EQ(d->mantissa(), 764371428571);
  EXPECT_EQ(d->scale(), 10);
}

TEST(Decimal, RefusesWhatIsNotAnExactDecimal) {
  for (const char* text : {"", "-", ".5", "5.", "1e3", "+1", " 1", "1 ", "1,5", "0x10", "nan", "1.2.3", "--1"}) {
    auto d = Decimal::parse(text);
    ASSERT_FALSE(d.ok()) << text;
    EXPECT_EQ(d.error().code, Rejection::MALFORMED_DECIMAL) << text;
  }
  EXPECT_FALSE(Decimal::parse("0.1234567890123456789").ok());  // 19 fractional digits
}

TEST(Decimal, OverflowIsAnErrorNotAWrap) {
  for (const char* text : {"9223372036854775808", "-9223372036854775809", "99999999999999999999", "922337203685477580.8"}) {
    auto d = Decimal::parse(text);
    ASSERT_FALSE(d.ok()) << text;
    EXPECT_EQ(d.error().code, Rejection::DECIMAL_OVERFLOW) << text;
  }
  auto big = Decimal::parse("9000000000000000000").value();
  EXPECT_FALSE(Decimal::add(big, big).ok());
  EXPECT_FALSE(Decimal::parse("1").value().rescaled(19).ok());
  EXPECT_FALSE(Decimal::parse("10").value().rescaled(18).ok());
}

TEST(Decimal, ComparesNumericallyAcrossScales) {
  EXPECT_EQ(Decimal::parse("1.50").value(), Decimal::parse("1.5").value());
  EXPECT_FALSE(Decimal::parse("1.50").value().identical(Decimal::parse("1.5").value()));
  EXPECT_LT(Decimal::parse("-0.01").value(), Decimal::parse("0").value());
  EXPECT_GT(Decimal::parse("2").value(), Decimal::parse("1.999999999999999999").value());
}

TEST(Decimal, AddsExactlyAtTheLargerScale) {
  auto s = Decimal::add(Decimal::parse("0.1").value(), Decimal::parse("0.2").value());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->to_string(), "0.3");
  auto t = Decimal::add(Decimal::parse("76.4371428571").value(), Decimal::parse("-0.4371428571").value());
  EXPECT_EQ(t->to_string(), "76.0000000000");
}

TEST(Decimal, MultipliesWithHalfAwayFromZeroRounding) {
  // 3.5 cpu_s at 0.0004 cents each = 0.0014 cents; at 2 digits: 0.00.
  EXPECT_EQ(Decimal::multiply(Decimal::parse("3.5").value(), Decimal::parse("0.0004").value(), 4)->to_string(), "0.0014");
  EXPECT_EQ(Decimal::multiply(Decimal::parse("1.25").value(), Decimal::parse("1").value(), 1)->to_string(), "1.3");
  EXPECT_EQ(Decimal::multiply(Decimal::parse("-1.25").value(), Decimal::parse("1").value(), 1)->to_string(), "-1.3");
  EXPECT_EQ(Decimal::multiply(Decimal::parse("1.24").value(), Decimal::parse("1").value(), 1)->to_string(), "1.2");
  EXPECT_EQ(Decimal::multiply(Decimal::parse("2").value(), Decimal::parse("3").value(), 2)->to_string(), "6.00");
  EXPECT_FALSE(Decimal::multiply(Decimal::parse("9000000000").value(), Decimal::parse("9000000000").value(), 0).ok());
}
