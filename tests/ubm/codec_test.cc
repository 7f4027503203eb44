#include "ubm/codec.h"

#include <gtest/gtest.h>

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstring>
#include <random>

#include "ubm/sample_workload.h"

using namespace slap::ubm;

namespace {

EntryBody round_trip(const EntryBody& in) {
  capnp::MallocMessageBuilder message;
  encode(in, message.initRoot<slap::schema::Entry>());
  auto bytes = capnp::messageToFlatArray(message);
  capnp::FlatArrayMessageReader reader(bytes.asPtr());
  auto out = decode(reader.getRoot<slap::schema::Entry>());
  EXPECT_TRUE(out.ok());
  return out.value();
}

}  // namespace

TEST(Codec, EveryEntryKindRoundTrips) {
  SampleWorkload w({.computers = 2, .partitions_per_computer = 2, .clients = 3, .releases = 2, .seed = 5});
  auto entries = w.registrations();
  for (auto& m : w.movements(20)) entries.push_back(std::move(m));
  Movement m = std::get<Movement>(entries.back());
  m.attributes = {{"software_type", "default"}, {"parameters", R"({"a": 1})"}};
  m.source_section = "eu";
  m.cause = Seq{42};
  entries.push_back(m);
  m.items.push_back(ItemId{"INST-1"});
  m.registers = {Item{ItemId{"INST-1"}, ItemKind::instance, "db", NodeId{"ALICE"}, ItemId{"COMP-1"}, {{"k", "v"}}},
                 Item{ItemId{"INST-2"}, ItemKind::subscription, "", {}, {}, {}}};
  entries.push_back(m);
  entries.push_back(Identity{IdentityAction::issue, "PERSON-1", "0a1b", std::string(32, '\x7f'), TimestampNs{1}, TimestampNs{2}, "auditor"});
  entries.push_back(Identity{IdentityAction::revoke, "PERSON-1", "0a1b", "", TimestampNs{}, TimestampNs{}, ""});
  for (const auto& e : entries) EXPECT_EQ(round_trip(e), e);
}

TEST(Codec, GarbageBytesGiveAnErrorNotACrash) {
  std::mt19937_64 rng(11);
  int errors = 0;
  for (int round = 0; round < 2000; ++round) {
    std::vector<capnp::word> words(1 + rng() % 16);
    for (auto& w : words) {
      uint64_t v = rng();
      std::memcpy(static_cast<void*>(&w), &v, sizeof v);
    }
    kj::Maybe<kj::Exception> ex = kj::runCatchingExceptions([&]() {
      capnp::FlatArrayMessageReader reader(kj::ArrayPtr<const capnp::word>(words.data(), words.size()));
      auto r = decode(reader.getRoot<slap::schema::Entry>());
      if (!r.ok()) ++errors;
    });
    if (ex != nullptr) ++errors;  // the segment table itself was refused
  }
  EXPECT_GT(errors, 0);
}
