#include "slapd/usage/tioxml.h"

#include <pugixml.hpp>
#include <simdjson.h>

#include <chrono>
#include <ctime>
#include <initializer_list>

#include "slapd/usage/quantity_text.h"
#include "ubm/unit.h"

namespace slap::usage {
namespace {

ubm::Error invalid(std::string field, std::string detail) {
  return ubm::make_error(ubm::Rejection::INVALID_PARAMETER, std::move(field), std::move(detail));
}

struct Slot {
  const char* name;
  bool required;
  bool repeated;
};

// Checks that the element children of `node` follow the xsd sequence `slots` (names, order,
// multiplicity) and nothing else.
ubm::Status check_sequence(pugi::xml_node node, std::initializer_list<Slot> slots, const std::string& where) {
  auto child = node.first_child();
  auto skip_text = [&] {
    while (child && child.type() != pugi::node_element) {
      if (child.type() == pugi::node_pcdata && std::string_view(child.value()).find_first_not_of(" \t\r\n") != std::string_view::npos) break;
      child = child.next_sibling();
    }
  };
  for (const Slot& s : slots) {
    skip_text();
    size_t count = 0;
    while (child && child.type() == pugi::node_element && std::string_view(child.name()) == s.name) {
      ++count;
      child = child.next_sibling();
      skip_text();
      if (!s.repeated) break;
    }
    if (s.required && count == 0) return invalid(where, std::string("missing <") + s.name + ">");
  }
  skip_text();
  if (child) {
    return invalid(where, child.type() == pugi::node_element ? std::string("unexpected <") + child.name() + ">" : std::string("unexpected text"));
  }
  return {};
}

bool names_partition(std::string_view reference) { return reference.starts_with("slapuser") || reference.starts_with("slappart"); }

// SlapOS's "never tested" in place of a zero-emission ratio (slapos/collect/db.py): no measurement.
constexpr std::string_view kZeroEmissionRatio = "service_module/zero_emission_ratio";
bool unmeasured(std::string_view resource, const ubm::Decimal& q) { return resource == kZeroEmissionRatio && q == ubm::Decimal::integer(-1); }

}  // namespace

std::string unit_of(std::string_view resource, std::string_view reference, const std::vector<std::string>& categories) {
  if (resource == "usage/cpu_s") return "cpu_s";
  if (resource == "service_module/cpu_load_percent") return "percent";
  if (resource == "service_module/memory_used") return names_partition(reference) ? "mebibyte" : "byte";
  if (resource == "service_module/disk_used") return "mebibyte";
  if (resource == kZeroEmissionRatio) return "ratio";
  if (resource == "usage/ram_byte_s" || resource == "usage/disk_byte_s") return "byte_s";
  if (resource == "usage/net_bytes") return "net_byte";
  if (resource.rfind("incident/", 0) == 0) return "incident";
  for (const auto& c : categories) {
    if (c.rfind("unit:", 0) == 0 && ubm::is_known_unit(std::string_view(c).substr(5))) return c.substr(5);
  }
  const auto slash = resource.rfind('/');
  const std::string_view last = slash == std::string_view::npos ? resource : resource.substr(slash + 1);
  if (ubm::is_known_unit(last)) return std::string(last);
  return {};
}

ubm::Result<ubm::TimestampNs> parse_date(std::string_view t) {
  struct tm tm {};
  auto digits = [&](size_t pos, size_t n, int& out) {
    out = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (i >= t.size() || t[i] < '0' || t[i] > '9') return false;
      out = out * 10 + (t[i] - '0');
    }
    return true;
  };
  int y, mo, d, h, mi, s;
  if (t.size() != 19 || t[4] != '-' || t[7] != '-' || t[10] != ' ' || t[13] != ':' || t[16] != ':' || !digits(0, 4, y) ||
      !digits(5, 2, mo) || !digits(8, 2, d) || !digits(11, 2, h) || !digits(14, 2, mi) || !digits(17, 2, s) || mo < 1 || mo > 12 ||
      d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 || y < 1970 || y > 2261) {  // nanoseconds in an int64 end in April 2262
    return invalid("date", "'" + std::string(t.substr(0, 32)) + "' is not YYYY-MM-DD HH:MM:SS");
  }
  // A day the month does not have (02-30, 04-31) would be carried into the next month by timegm,
  // moving the usage period and the key duplicates are detected by.
  using namespace std::chrono;
  if (!year_month_day{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}}.ok()) {
    return invalid("date", "'" + std::string(t.substr(0, 10)) + "' is not a day of the calendar");
  }
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return ubm::TimestampNs{static_cast<int64_t>(timegm(&tm)) * 1'000'000'000};
}

// What XML 1.0 allows as a character (its Char production): pugixml expands any numeric reference,
// so &#xD800; became the bytes of a lone surrogate (not UTF-8) and &#0; cut a text short, and
// either reached the ledger and every client reading it.
bool xml_char(uint32_t c) {
  return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

// The journal's bytes are UTF-8 without control characters, and each numeric character reference
// names a character XML allows.
ubm::Status check_characters(std::string_view xml) {
  if (!simdjson::validate_utf8(xml.data(), xml.size())) return invalid("tioxml", "not UTF-8");
  size_t literal_until = 0;  // inside a CDATA section or a comment, "&#" is text, not a reference
  for (size_t i = 0; i < xml.size(); ++i) {
    const auto b = static_cast<unsigned char>(xml[i]);
    if (b < 0x20 && b != '\t' && b != '\n' && b != '\r') return invalid("tioxml", "control character at byte " + std::to_string(i));
    // U+FFFE and U+FFFF are UTF-8 but not XML characters.
    if (b == 0xEF && i + 2 < xml.size() && static_cast<unsigned char>(xml[i + 1]) == 0xBF &&
        (static_cast<unsigned char>(xml[i + 2]) & 0xFE) == 0xBE) {
      return invalid("tioxml", "U+FFFE or U+FFFF at byte " + std::to_string(i));
    }
    if (i >= literal_until && b == '<') {
      for (auto [open, close] : {std::pair<std::string_view, std::string_view>{"<![CDATA[", "]]>"}, {"<!--", "-->"}}) {
        if (xml.substr(i, open.size()) != open) continue;
        const size_t end = xml.find(close, i + open.size());
        literal_until = end == std::string_view::npos ? xml.size() : end + close.size();
      }
    }
    if (i < literal_until || b != '&' || i + 1 >= xml.size() || xml[i + 1] != '#') continue;
    size_t j = i + 2;
    const bool hex = j < xml.size() && (xml[j] == 'x' || xml[j] == 'X');
    if (hex) ++j;
    uint64_t c = 0;
    size_t digits = 0;
    for (; j < xml.size() && xml[j] != ';' && digits < 10; ++j, ++digits) {
      const char d = xml[j];
      int v = -1;
      if (d >= '0' && d <= '9') v = d - '0';
      else if (hex && d >= 'a' && d <= 'f') v = d - 'a' + 10;
      else if (hex && d >= 'A' && d <= 'F') v = d - 'A' + 10;
      if (v < 0) break;
      c = c * (hex ? 16 : 10) + static_cast<uint64_t>(v);
    }
    if (digits == 0 || j >= xml.size() || xml[j] != ';' || c > 0x10FFFF || !xml_char(static_cast<uint32_t>(c))) {
      return invalid("tioxml", "character reference at byte " + std::to_string(i) + " names no XML character");
    }
    i = j;
  }
  return {};
}

ubm::Result<std::vector<market::UsageTransaction>> parse_journal(std::string_view xml, const Limits& limits) {
  if (auto s = check_characters(xml); !s) return s.error();
  pugi::xml_document doc;
  // No entity expansion beyond the XML built-ins, no DOCTYPE processing: pugixml never fetches.
  const auto parsed = doc.load_buffer(xml.data(), xml.size(), pugi::parse_default & ~pugi::parse_doctype);
  if (!parsed) return invalid("tioxml", std::string("malformed XML: ") + parsed.description() + " at byte " + std::to_string(parsed.offset));
  const auto journal = doc.document_element();
  if (std::string_view(journal.name()) != "journal") return invalid("tioxml", "the root element must be <journal>");
  if (auto s = check_sequence(journal, {{"transaction", true, true}}, "journal"); !s) return s.error();
  std::vector<market::UsageTransaction> out;
  size_t movements = 0, t = 0;
  for (auto tx : journal.children("transaction")) {
    const std::string where = "transaction[" + std::to_string(t++) + "]";
    if (out.size() >= limits.max_transactions) return invalid(where, "more than " + std::to_string(limits.max_transactions) + " transactions");
    if (!tx.attribute("type")) return invalid(where, "missing the type attribute");
    if (auto s = check_sequence(tx, {{"title", false, false}, {"start_date", true, false}, {"stop_date", true, false}, {"reference", true, false},
                                     {"currency", true, false}, {"payment_mode", true, false}, {"category", false, true}, {"arrow", true, true},
                                     {"movement", true, true}},
                                where);
        !s) {
      return s.error();
    }
    market::UsageTransaction u;
    u.reference = tx.child_value("reference");
    auto start = parse_date(tx.child_value("start_date"));
    if (!start) return invalid(where + ".start_date", start.error().detail);
    auto stop = parse_date(tx.child_value("stop_date"));
    if (!stop) return invalid(where + ".stop_date", stop.error().detail);
    u.start = *start;
    u.stop = *stop;
    for (auto arrow : tx.children("arrow")) {
      if (!arrow.attribute("type")) return invalid(where + ".arrow", "missing the type attribute");
      if (auto s = check_sequence(arrow, {{"source", false, false}, {"destination", false, false}}, where + ".arrow"); !s) return s.error();
    }
    size_t k = 0;
    for (auto mv : tx.children("movement")) {
      const std::string mwhere = where + ".movement[" + std::to_string(k++) + "]";
      if (++movements > limits.max_movements) return invalid(mwhere, "more than " + std::to_string(limits.max_movements) + " movements");
      if (auto s = check_sequence(mv, {{"resource", true, false}, {"title", false, false}, {"reference", false, false}, {"quantity", true, false},
                                       {"price", true, false}, {"VAT", true, false}, {"category", false, true}},
                                  mwhere);
          !s) {
        return s.error();
      }
      market::UsageLine line;
      line.resource = mv.child_value("resource");
      line.title = mv.child_value("title");
      line.reference = mv.child_value("reference");
      if (line.resource.empty() || line.resource.size() > 256) return invalid(mwhere + ".resource", "a resource is 1..256 bytes");
      auto q = parse_quantity_text(mv.child_value("quantity"));
      if (!q) {
        auto e = q.error();
        e.field = mwhere + ".quantity";
        return e;
      }
      if (unmeasured(line.resource, *q)) continue;
      if (q->is_negative()) return ubm::make_error(ubm::Rejection::NEGATIVE_QUANTITY, mwhere + ".quantity", "quantity " + q->to_string() + " is negative");
      line.quantity = *q;
      std::vector<std::string> categories;
      for (auto c : mv.children("category")) categories.emplace_back(c.child_value());
      line.unit = unit_of(line.resource, line.reference, categories);
      if (line.unit.empty()) {
        return ubm::make_error(ubm::Rejection::UNKNOWN_UNIT, mwhere + ".resource",
                               "resource '" + line.resource + "' has no known unit (add a category unit:<unit>)");
      }
      u.lines.push_back(std::move(line));
    }
    out.push_back(std::move(u));
  }
  return out;
}

}  // namespace slap::usage
