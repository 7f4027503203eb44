#include <capnp/schema.h>

#include "ubm/error.h"
#include "ubm/model.h"

namespace slap::ubm {

std::string rejection_name(Rejection r) {
  // Derived from the schema's enumerant names (camelCase) so the two can never disagree.
  auto enumerants = capnp::Schema::from<Rejection>().getEnumerants();
  const auto ordinal = static_cast<uint16_t>(r);
  for (auto e : enumerants) {
    if (e.getOrdinal() != ordinal) continue;
    std::string out;
    for (char c : std::string_view(e.getProto().getName().cStr())) {
      if (c >= 'A' && c <= 'Z') {
        out += '_';
        out += static_cast<char>(c - 'A' + 'a');
      } else {
        out += c;
      }
    }
    return out;
  }
  return "rejection_" + std::to_string(ordinal);
}

std::string Error::to_string() const {
  std::string s = rejection_name(code);
  if (!field.empty()) s += " at " + field;
  if (!detail.empty()) s += ": " + detail;
  return s;
}

std::string checkpoint_message(Seq seq, std::string_view head_hash) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s = "slapledger-checkpoint-v1 seq=" + std::to_string(seq.value()) + " hash=";
  for (unsigned char c : head_hash) {
    s += kDigits[c >> 4];
    s += kDigits[c & 15];
  }
  return s;
}

std::string_view to_string(NodeKind k) noexcept {
  switch (k) {
    case NodeKind::person: return "person";
    case NodeKind::organisation: return "organisation";
    case NodeKind::network: return "network";
  }
  return "?";
}

std::string_view to_string(ItemKind k) noexcept {
  switch (k) {
    case ItemKind::computer: return "computer";
    case ItemKind::partition: return "partition";
    case ItemKind::software_release: return "software_release";
    case ItemKind::instance: return "instance";
    case ItemKind::subscription: return "subscription";
  }
  return "?";
}

}  // namespace slap::ubm
