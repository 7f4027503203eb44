// Writes the seed corpus of entry_fuzz (key + record for each kind of entry, from the sample
// workload) into the directory given as argument. Run by hand when the format changes:
//   build-fuzz/bin/fuzz_entry_seeds tests/fuzz/corpus/entry
#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "ledger/record.h"
#include "ubm/codec.h"
#include "ubm/sample_workload.h"

using namespace slap;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  ubm::SampleWorkload w({.computers = 1, .partitions_per_computer = 1, .clients = 1, .releases = 1, .seed = 3});
  std::vector<ubm::EntryBody> bodies = w.registrations();
  for (auto& m : w.movements(1)) bodies.push_back(std::move(m));
  bodies.push_back(ubm::Identity{ubm::IdentityAction::issue, "PERSON-1", "0a1b", std::string(32, '\x7f'), ubm::TimestampNs{1},
                                 ubm::TimestampNs{2}, "auditor"});
  ledger::Hasher hasher;
  ledger::Hash prev{};
  std::vector<bool> kind_seen(4, false);
  int written = 0;
  for (size_t i = 0; i < bodies.size(); ++i) {
    const size_t kind = bodies[i].index();
    if (kind_seen[kind] && i + 1 != bodies.size()) continue;  // one of each kind is enough
    kind_seen[kind] = true;
    const ubm::Seq seq{i + 1};
    capnp::MallocMessageBuilder message;
    auto root = message.initRoot<schema::Entry>();
    root.setSeq(seq.value());
    root.setTimestampNs(1'700'000'000'000'000'000 + static_cast<int64_t>(i));
    ubm::encode(bodies[i], root);
    auto segments = message.getSegmentsForOutput();
    std::string out = ledger::key_of(seq);
    std::string record(ledger::kRecordHeaderSize + ledger::flat_array_size(segments), '\0');
    prev = ledger::write_record(hasher, prev, seq, segments, record.data());
    out += record;
    std::ofstream(std::string(argv[1]) + "/entry-" + std::to_string(written++) + ".bin", std::ios::binary) << out;
  }
  std::printf("%d seeds\n", written);
  return 0;
}
