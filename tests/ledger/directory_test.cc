// The directory's snapshots list ids in the order the log first names them: as deterministic as
// sorting, without sorting every id ever seen at each checkpoint.
#include <gtest/gtest.h>

#include "ledger/directory.h"
#include "ledger/ledger.h"
#include "ledger/memory_storage.h"
#include "ledger/snapshot_codec.h"
#include "tests/ledger/test_util.h"

using namespace slap;

namespace {

// The i-th registered person and computer; first-seen order is not sorted order.
std::string nth(int i) { return std::to_string((i * 7919) % 1000); }

std::vector<ubm::EntryBody> registrations(int from, int to) {
  std::vector<ubm::EntryBody> out;
  for (int i = from; i < to; ++i) {
    out.push_back(ubm::Node{ubm::NodeId{"P-" + nth(i)}, ubm::NodeKind::person, "p", {}});
    out.push_back(ubm::Item{ubm::ItemId{"COMP-" + nth(i)}, ubm::ItemKind::computer, "c", ubm::NodeId{"P-" + nth(i)}, {}, {}});
  }
  return out;
}

// What the ledger stores under a projection's name: u64 LE last-applied seq, then the snapshot.
std::string checkpoint_value(uint64_t seq, const std::string& snapshot) {
  std::string v(8, '\0');
  for (int i = 0; i < 8; ++i) v[i] = static_cast<char>((seq >> (8 * i)) & 0xff);
  return v + snapshot;
}

}  // namespace

TEST(Directory, SnapshotListsIdsInFirstSeenOrder) {
  ledger::ManualClock clock;
  auto led = ledger::Ledger::open({.storage = std::make_shared<ledger::MemoryStorage>(), .clock = &clock}).value();
  ASSERT_TRUE(led->append(registrations(0, 40)).ok());
  ASSERT_TRUE(led->append(registrations(40, 80)).ok());

  const std::string bytes = led->directory().snapshot();
  ledger::SnapshotReader r(bytes);
  r.u64();  // the format marker
  ASSERT_EQ(r.u64(), 80u);
  for (int i = 0; i < 80; ++i) {
    EXPECT_EQ(r.str(), "P-" + nth(i)) << i;
    EXPECT_EQ(r.u8(), static_cast<uint8_t>(ubm::NodeKind::person));
  }
  ASSERT_EQ(r.u64(), 80u);
  for (int i = 0; i < 80; ++i) {
    EXPECT_EQ(r.str(), "COMP-" + nth(i)) << i;
    EXPECT_EQ(r.u8(), static_cast<uint8_t>(ubm::ItemKind::computer));
  }
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.at_end());
}

TEST(Directory, RestorePlusTheTailGivesTheBytesOfAFullReplay) {
  ledger::ManualClock clock;
  auto led = ledger::Ledger::open({.storage = std::make_shared<ledger::MemoryStorage>(), .clock = &clock}).value();
  ASSERT_TRUE(led->append(registrations(0, 50)).ok());
  const std::string half = led->directory().snapshot();
  const ubm::Seq half_head = led->head();
  ASSERT_TRUE(led->append(registrations(50, 100)).ok());
  const std::string full = led->directory().snapshot();

  ledger::Directory restored;
  ASSERT_TRUE(restored.restore(half, half_head).ok());
  EXPECT_EQ(restored.snapshot(), half);
  EXPECT_EQ(restored.node_kind("P-" + nth(7)), ubm::NodeKind::person);
  EXPECT_EQ(restored.item_kind("COMP-" + nth(7)), ubm::ItemKind::computer);
  EXPECT_FALSE(restored.item_kind("P-" + nth(7)).has_value());
  EXPECT_FALSE(restored.node_kind("P-" + nth(77)).has_value());  // not registered yet at half

  // The tail, applied on top of the restored half.
  ASSERT_TRUE(led->scan(ubm::next(half_head), ubm::Seq{0}, [&](const ledger::EntryView& v) {
                   restored.apply(std::span<const ledger::EntryView>(&v, 1));
                   return true;
                 }).ok());
  EXPECT_EQ(restored.snapshot(), full);
  EXPECT_EQ(restored.node_count(), 100u);
  EXPECT_EQ(restored.item_kind("COMP-" + nth(77)), ubm::ItemKind::computer);
}

// An item a movement registers (schema `registers`) is in the directory from that movement's seq,
// live and when the directory is rebuilt from the log.
TEST(Directory, ItemsAMovementRegistersAreKnownFromItsSeq) {
  ledger::ManualClock clock;
  auto storage = std::make_shared<ledger::MemoryStorage>();
  {
    auto led = ledger::Ledger::open({.storage = storage, .clock = &clock}).value();
    ASSERT_TRUE(led->append(registrations(0, 2)).ok());
    ubm::Movement m;
    m.resource = "hosting/partition";
    m.quantity = {ubm::Decimal::integer(1), "partition"};
    m.source = ubm::NodeId{"P-" + nth(0)};
    m.destination = ubm::NodeId{"P-" + nth(1)};
    m.items = {ubm::ItemId{"INST-1"}, ubm::ItemId{"COMP-" + nth(0)}};
    m.registers = {ubm::Item{ubm::ItemId{"INST-1"}, ubm::ItemKind::instance, "db", ubm::NodeId{"P-" + nth(1)}, {}, {}}};
    m.start = ubm::TimestampNs{1};
    ASSERT_TRUE(led->append(std::vector<ubm::EntryBody>{m}).ok());
    EXPECT_EQ(led->directory().item_kind("INST-1"), ubm::ItemKind::instance);
    // Registered once: a second registration of it is refused and writes nothing.
    const ubm::Seq head = led->head();
    EXPECT_FALSE(led->append(std::vector<ubm::EntryBody>{m}).ok());
    EXPECT_EQ(led->head(), head);
  }
  auto reopened = ledger::Ledger::open({.storage = storage, .clock = &clock}).value();
  EXPECT_EQ(reopened->directory().item_kind("INST-1"), ubm::ItemKind::instance);
  EXPECT_EQ(reopened->directory().item_count(), 3u);
}

TEST(Directory, RefusesSnapshotsOfTheSortedFormatOrListingAnIdTwice) {
  ledger::SnapshotWriter sorted;  // the earlier format: node count first, no marker
  sorted.u64(1);
  sorted.str("ALICE");
  sorted.u8(static_cast<uint8_t>(ubm::NodeKind::person));
  sorted.u64(0);
  ledger::Directory d;
  auto s = d.restore(sorted.take(), ubm::Seq{1});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().detail.find("older checkpoint"), std::string::npos) << s.error().detail;
  EXPECT_EQ(d.node_count(), 0u);

  // A well-formed snapshot, then the same with a node listed twice.
  ledger::ManualClock clock;
  auto led = ledger::Ledger::open({.storage = std::make_shared<ledger::MemoryStorage>(), .clock = &clock}).value();
  ASSERT_TRUE(led->append(registrations(0, 1)).ok());
  const std::string bytes = led->directory().snapshot();
  ledger::SnapshotReader r(bytes);
  const uint64_t marker = r.u64();
  ledger::SnapshotWriter twice;
  twice.u64(marker);
  twice.u64(2);
  for (int k = 0; k < 2; ++k) {
    twice.str("P-0");
    twice.u8(static_cast<uint8_t>(ubm::NodeKind::person));
  }
  twice.u64(0);
  s = d.restore(twice.take(), ubm::Seq{1});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().detail.find("listed twice"), std::string::npos) << s.error().detail;
  EXPECT_EQ(d.node_count(), 0u);
}

TEST(Directory, AnOlderSortedCheckpointIsIgnoredAndTheDirectoryRebuiltFromTheLog) {
  ledger::ManualClock clock;
  auto storage = std::make_shared<ledger::MemoryStorage>();
  std::string before;
  ubm::Seq head;
  {
    auto led = ledger::Ledger::open({.storage = storage, .clock = &clock}).value();
    ASSERT_TRUE(led->append(registrations(0, 30)).ok());
    before = led->directory().snapshot();
    head = led->head();
  }  // closing writes the directory's checkpoint
  // Replace it by one of the earlier format, at the head, naming only one of the ids.
  ledger::SnapshotWriter sorted;
  sorted.u64(1);
  sorted.str("P-0");
  sorted.u8(static_cast<uint8_t>(ubm::NodeKind::person));
  sorted.u64(0);
  ledger::WriteBatch wb;
  wb.put(ledger::Family::checkpoints, "directory", checkpoint_value(head.value(), sorted.take()));
  ASSERT_TRUE(storage->write(wb, ledger::Sync::yes).ok());

  auto led = ledger::Ledger::open({.storage = storage, .clock = &clock}).value();
  EXPECT_EQ(led->directory().snapshot(), before);  // replayed from the log, all 30 of each
  EXPECT_EQ(led->directory().item_kind("COMP-" + nth(29)), ubm::ItemKind::computer);
}
