#include "bench/load/allocation_audit.h"

#include <boost/json.hpp>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace slap::load {

namespace bj = boost::json;

namespace {

std::string place(const std::string& computer, const std::string& partition) { return computer + "\n" + partition; }

// instance guid → place, for every allocated partition of one computer view.
void read_view(const std::string& computer, const std::string& body, std::unordered_map<std::string, std::string>& out) {
  boost::system::error_code ec;
  auto v = bj::parse(body, ec);
  const auto* parts = !ec && v.is_object() ? v.as_object().if_contains("partitions") : nullptr;
  if (parts == nullptr || !parts->is_array()) throw std::runtime_error("view of " + computer + " has no partitions: " + body.substr(0, 300));
  for (const auto& p : parts->as_array()) {
    const auto* o = p.if_object();
    if (o == nullptr) continue;
    const auto* guid = o->if_contains("instance_guid");
    const auto* id = o->if_contains("partition_id");
    if (guid == nullptr || id == nullptr || !guid->is_string() || !id->is_string()) continue;  // a free partition
    out[std::string(guid->as_string())] = place(computer, std::string(id->as_string()));
  }
}

}  // namespace

AuditResult audit_allocations(MasterSetup& setup, const Identity& owner, const std::vector<std::string>& computers,
                              const std::vector<Allocation>& acknowledged) {
  AuditResult r;
  r.acknowledged = acknowledged.size();
  std::unordered_set<std::string> instances, places;
  for (const auto& a : acknowledged) {
    if (!instances.insert(a.instance_guid).second) ++r.duplicated;
    if (!places.insert(place(a.computer_guid, a.partition_id)).second) ++r.duplicated;
  }

  std::vector<Call> calls;
  for (const auto& g : computers) calls.push_back(Call{boost::beast::http::verb::get, "/v1/computers/" + g, "", "", 0});
  auto answers = setup.batch(owner, std::move(calls));
  std::unordered_map<std::string, std::string> placed;
  for (size_t k = 0; k < answers.size(); ++k) {
    if (answers[k].status != 200) {
      throw std::runtime_error("audit: GET /v1/computers/" + computers[k] + ": " + std::to_string(answers[k].status) + " " + answers[k].error +
                               answers[k].body.substr(0, 300));
    }
    read_view(computers[k], answers[k].body, placed);
  }
  r.placed = placed.size();
  uint64_t found = 0;
  for (const auto& guid : instances) found += placed.count(guid);
  for (const auto& a : acknowledged) {
    auto it = placed.find(a.instance_guid);
    if (it == placed.end() || it->second != place(a.computer_guid, a.partition_id)) ++r.lost;
  }
  r.unacknowledged = r.placed - found;
  return r;
}

}  // namespace slap::load
