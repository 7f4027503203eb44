#pragma once
// A usage quantity as nodes write it. Our slapnode writes exact decimals; SlapOS nodes (slapos.core,
// Python) write str() of a float: "76.4371428571", "14211174517.0", but also "5e-05" below 1e-4
// and "1e+16" from 1e16 on, and up to 17 significant digits ("0.00012345678901234567": 20 after
// the point). Refusing those would refuse a node's whole day for one idle partition, so the text is
// read exactly as the decimal it spells and kept exact whenever the ledger can hold it (a signed
// 64-bit mantissa, at most 18 digits after the point); beyond that it is rounded, half away from
// zero as ubm::Decimal::multiply rounds, at the 18th digit after the point, or further left as far
// as the mantissa needs (only a value of more than 19 significant digits needs that). Nothing is
// ever read through a binary float.
//
// Grammar: ["-"] digit+ ["." digit+] [("e" | "E") ["+" | "-"] digit+]. No "nan", "inf", spaces or
// "+" sign. An integer part too large for the mantissa is DECIMAL_OVERFLOW, the rest
// MALFORMED_DECIMAL. A negative value is returned as such: the caller decides.
#include <string_view>

#include "ubm/decimal.h"

namespace slap::usage {

ubm::Result<ubm::Decimal> parse_quantity_text(std::string_view text);

}  // namespace slap::usage
