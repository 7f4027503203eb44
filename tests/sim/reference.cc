#include "reference.h"

#include <algorithm>

namespace slap::sim {

bool Reference::is_party(const std::string& id) const { return std::find(parties.begin(), parties.end(), id) != parties.end(); }

bool Reference::is_registered(const std::string& id) const {
  if (is_party(id) || computers_registered.count(id)) return true;
  for (const auto& i : placement.instances) {
    if (i.guid == id) return true;
  }
  return false;
}

std::string Reference::location(const market::testing::Model::Instance& i) const {
  if (!i.computer.empty()) return i.computer;
  if (i.host.empty()) return {};
  for (const auto& h : placement.instances) {
    if (h.guid == i.host) return h.computer;
  }
  return {};
}

}  // namespace slap::sim
