#include "ubm/validate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "ubm/unit.h"

using namespace slap::ubm;

namespace {

class MapResolver : public Resolver {
 public:
  std::map<std::string, NodeKind, std::less<>> nodes{{"ORG", NodeKind::organisation}, {"ALICE", NodeKind::person}};
  std::map<std::string, ItemKind, std::less<>> items{{"COMP-1", ItemKind::computer}};
  std::optional<NodeKind> node_kind(std::string_view id) const override {
    auto it = nodes.find(id);
    return it == nodes.end() ? std::nullopt : std::optional(it->second);
  }
  std::optional<ItemKind> item_kind(std::string_view id) const override {
    auto it = items.find(id);
    return it == items.end() ? std::nullopt : std::optional(it->second);
  }
};

Movement good() {
  Movement m;
  m.resource = "usage/cpu_s";
  m.quantity = {Decimal::parse("76.4371428571").value(), "cpu_s"};
  m.price = {Decimal::parse("4").value(), "EUR"};
  m.source = NodeId{"ORG"};
  m.destination = NodeId{"ALICE"};
  m.items = {ItemId{"COMP-1"}};
  m.start = TimestampNs{100};
  m.stop = TimestampNs{200};
  return m;
}

Rejection rejection_of(const EntryBody& b) {
  MapResolver r;
  auto s = validate_batch(std::vector<EntryBody>{b}, r);
  return s.ok() ? Rejection::NONE : s.error().code;
}

}  // namespace

TEST(Validate, AcceptsAWellFormedMovement) { EXPECT_EQ(rejection_of(good()), Rejection::NONE); }

TEST(Validate, RefusesStopBeforeStart) {
  auto m = good();
  m.stop = TimestampNs{99};
  EXPECT_EQ(rejection_of(m), Rejection::STOP_BEFORE_START);
  m.stop = TimestampNs{0};  // open-ended delivery
  EXPECT_EQ(rejection_of(m), Rejection::NONE);
}

TEST(Validate, RefusesUnknownUnits) {
  auto m = good();
  m.quantity.unit = "parsec";
  EXPECT_EQ(rejection_of(m), Rejection::UNKNOWN_UNIT);
}

TEST(Validate, MoneyNeedsAValidCurrency) {
  auto m = good();
  m.price.currency = "";
  EXPECT_EQ(rejection_of(m), Rejection::MISSING_CURRENCY);
  m.price.currency = "eur";
  EXPECT_EQ(rejection_of(m), Rejection::INVALID_CURRENCY);
  m.price = {Decimal{}, ""};  // free: no currency needed
  EXPECT_EQ(rejection_of(m), Rejection::NONE);
}

TEST(Validate, RefusesNegativeQuantitiesExceptCorrections) {
  auto m = good();
  m.quantity.amount = Decimal::parse("-1").value();
  EXPECT_EQ(rejection_of(m), Rejection::NEGATIVE_QUANTITY);
  m.quantity.unit = "correction";
  EXPECT_EQ(rejection_of(m), Rejection::NONE);
}

TEST(Validate, RefusesUnresolvedReferencesAndNamesTheField) {
  auto m = good();
  m.items.push_back(ItemId{"COMP-404"});
  MapResolver r;
  auto s = validate_batch(std::vector<EntryBody>{m}, r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Rejection::UNRESOLVED_REFERENCE);
  EXPECT_EQ(s.error().field, "entries[0].items[1]");
  m = good();
  m.destination = NodeId{"BOB"};
  EXPECT_EQ(rejection_of(m), Rejection::UNRESOLVED_REFERENCE);
}

TEST(Validate, RegistrationsEarlierInABatchResolveLaterReferences) {
  MapResolver r;
  auto m = good();
  m.destination = NodeId{"BOB"};
  std::vector<EntryBody> batch{Node{NodeId{"BOB"}, NodeKind::person, "Bob", {}}, m};
  EXPECT_TRUE(validate_batch(batch, r).ok());
  std::vector<EntryBody> reversed{m, Node{NodeId{"BOB"}, NodeKind::person, "Bob", {}}};
  EXPECT_FALSE(validate_batch(reversed, r).ok());
}

TEST(Validate, RefusesDuplicateRegistrations) {
  MapResolver r;
  std::vector<EntryBody> again{Node{NodeId{"ALICE"}, NodeKind::person, "", {}}};
  EXPECT_EQ(validate_batch(again, r).error().code, Rejection::DUPLICATE_ID);
  std::vector<EntryBody> twice{Item{ItemId{"X"}, ItemKind::instance, "", {}, {}, {}}, Item{ItemId{"X"}, ItemKind::instance, "", {}, {}, {}}};
  EXPECT_EQ(validate_batch(twice, r).error().code, Rejection::DUPLICATE_ID);
}

// A movement may register the items it is the first to name (an allocation registers its new
// instance): checked as an Item entry would be, and only for ids among its own items.
TEST(Validate, AMovementRegistersTheItemsItFirstNames) {
  MapResolver r;
  auto with_instance = [] {
    auto m = good();
    m.items.push_back(ItemId{"INST-1"});
    m.registers = {Item{ItemId{"INST-1"}, ItemKind::instance, "db", NodeId{"ALICE"}, ItemId{"COMP-1"}, {}}};
    return m;
  };
  EXPECT_EQ(rejection_of(with_instance()), Rejection::NONE);

  auto m = with_instance();
  m.registers.clear();  // named but registered nowhere
  EXPECT_EQ(rejection_of(m), Rejection::UNRESOLVED_REFERENCE);

  m = with_instance();
  m.items.pop_back();  // registered but not what the movement is about
  auto s = validate_batch(std::vector<EntryBody>{m}, r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Rejection::UNRESOLVED_REFERENCE);
  EXPECT_EQ(s.error().field, "entries[0].registers[0].id");

  m = with_instance();
  m.registers[0].id = ItemId{"COMP-1"};  // already registered
  EXPECT_EQ(rejection_of(m), Rejection::DUPLICATE_ID);

  m = with_instance();
  m.registers[0].owner = NodeId{"BOB"};
  s = validate_batch(std::vector<EntryBody>{m}, r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Rejection::UNRESOLVED_REFERENCE);
  EXPECT_EQ(s.error().field, "entries[0].registers[0].owner");

  m = with_instance();
  m.registers[0].id = ItemId{"INST 1"};
  m.items.back() = ItemId{"INST 1"};
  EXPECT_EQ(rejection_of(m), Rejection::INVALID_ID);

  // Later entries of the batch see it; registering it again is a duplicate.
  auto later = good();
  later.items = {ItemId{"INST-1"}};
  EXPECT_TRUE(validate_batch(std::vector<EntryBody>{with_instance(), later}, r).ok());
  EXPECT_FALSE(validate_batch(std::vector<EntryBody>{later, with_instance()}, r).ok());
  std::vector<EntryBody> again{with_instance(), Item{ItemId{"INST-1"}, ItemKind::instance, "", {}, {}, {}}};
  EXPECT_EQ(validate_batch(again, r).error().code, Rejection::DUPLICATE_ID);
  EXPECT_EQ(validate_batch(std::vector<EntryBody>{with_instance(), with_instance()}, r).error().code, Rejection::DUPLICATE_ID);
}

TEST(Validate, RefusesIllFormedIdsAndAttributes) {
  auto m = good();
  m.source = NodeId{"with space"};
  EXPECT_EQ(rejection_of(m), Rejection::INVALID_ID);
  m = good();
  m.attributes = {{"k", "1"}, {"k", "2"}};
  EXPECT_EQ(rejection_of(m), Rejection::INVALID_ATTRIBUTE);
  MapResolver r;
  EXPECT_EQ(validate_batch({}, r).error().code, Rejection::EMPTY_BATCH);
}

TEST(Units, ListIsSortedForBinarySearch) {
  auto units = known_units();
  EXPECT_TRUE(std::is_sorted(units.begin(), units.end()));
  for (auto u : units) EXPECT_TRUE(is_known_unit(u));
}

TEST(Rejection, NamesComeFromTheSchema) {
  EXPECT_EQ(rejection_name(Rejection::UNKNOWN_UNIT), "unknown_unit");
  EXPECT_EQ(rejection_name(Rejection::STOP_BEFORE_START), "stop_before_start");
}
