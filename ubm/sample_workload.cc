#include "ubm/sample_workload.h"

namespace slap::ubm {
namespace {

std::string computer_id(uint32_t c) { return "COMP-" + std::to_string(c); }
std::string partition_id(uint32_t c, uint32_t p) { return "COMP-" + std::to_string(c) + "-slappart" + std::to_string(p); }
std::string client_id(uint32_t k) { return "PERSON-" + std::to_string(k); }
std::string release_id(uint32_t r) { return "SOFT-" + std::to_string(r); }
std::string instance_id(uint32_t c, uint32_t p) { return "SOFTINST-" + std::to_string(c) + "-" + std::to_string(p); }

}  // namespace

SampleWorkload::SampleWorkload(WorkloadShape shape) : shape_(shape), rng_(shape.seed) {}

std::vector<EntryBody> SampleWorkload::registrations() const {
  std::vector<EntryBody> out;
  out.push_back(Node{NodeId{"NET-1"}, NodeKind::network, "Demo network", {}});
  out.push_back(Node{NodeId{"ORG-provider"}, NodeKind::organisation, "Demo provider", {{"region", "eu-west"}}});
  for (uint32_t k = 0; k < shape_.clients; ++k) {
    out.push_back(Node{NodeId{client_id(k)}, NodeKind::person, "Client " + std::to_string(k), {}});
  }
  for (uint32_t r = 0; r < shape_.releases; ++r) {
    out.push_back(Item{ItemId{release_id(r)}, ItemKind::software_release,
                       "https://lab.example.net/release/" + std::to_string(r) + "/software.cfg", NodeId{"ORG-provider"}, ItemId{}, {}});
  }
  for (uint32_t c = 0; c < shape_.computers; ++c) {
    out.push_back(Item{ItemId{computer_id(c)}, ItemKind::computer, "computer " + std::to_string(c), NodeId{"ORG-provider"}, ItemId{}, {}});
    for (uint32_t p = 0; p < shape_.partitions_per_computer; ++p) {
      out.push_back(Item{ItemId{partition_id(c, p)}, ItemKind::partition, "slappart" + std::to_string(p), NodeId{"ORG-provider"},
                         ItemId{computer_id(c)}, {}});
      out.push_back(Item{ItemId{instance_id(c, p)}, ItemKind::instance, "instance " + std::to_string(p),
                         NodeId{client_id((c * shape_.partitions_per_computer + p) % shape_.clients)}, ItemId{}, {}});
    }
  }
  return out;
}

std::vector<EntryBody> SampleWorkload::movements(size_t n) {
  static const char* const kResources[] = {"usage/cpu_s", "usage/ram_byte_s", "usage/disk_byte_s", "usage/net_bytes", "hosting/running"};
  static const char* const kUnits[] = {"cpu_s", "byte_s", "byte_s", "net_byte", "partition_h"};
  std::vector<EntryBody> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t c = static_cast<uint32_t>(rng_() % shape_.computers);
    const uint32_t p = static_cast<uint32_t>(rng_() % shape_.partitions_per_computer);
    const uint32_t kind = static_cast<uint32_t>(rng_() % 5);
    const uint32_t client = (c * shape_.partitions_per_computer + p) % shape_.clients;
    Movement m;
    m.resource = kResources[kind];
    // Up to 6 decimals: usage reports carry fractions (TioXML "76.4371428571"-like figures).
    m.quantity = Quantity{Decimal::make(static_cast<int64_t>(rng_() % 100'000'000), 6).value(), kUnits[kind]};
    m.price = Money{Decimal::make(static_cast<int64_t>(1 + rng_() % 50), 2).value(), "EUR"};
    m.source = NodeId{"ORG-provider"};
    m.destination = NodeId{client_id(client)};
    m.items = {ItemId{instance_id(c, p)}, ItemId{partition_id(c, p)}};
    m.start = TimestampNs{clock_ns_};
    clock_ns_ += 60'000'000'000;  // one period a minute
    m.stop = TimestampNs{clock_ns_};
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace slap::ubm
