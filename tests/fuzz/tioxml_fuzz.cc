// Fuzzes TioXML usage journals: usage::parse_journal (pugixml, then the xsd structure checks, dates
// and exact decimal quantities), with the default limits and with tiny ones.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "slapd/usage/tioxml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view xml(reinterpret_cast<const char*>(data), size);
  auto journal = slap::usage::parse_journal(xml);
  if (journal) {
    for (const auto& t : *journal) {
      for (const auto& l : t.lines) (void)l.quantity.to_string();
    }
  }
  (void)slap::usage::parse_journal(xml, {.max_transactions = 1, .max_movements = 2});
  (void)slap::usage::parse_date(xml);
  return 0;
}
