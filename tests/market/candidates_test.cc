// market/candidates.h: the chunked ordered sequence the capacity index keeps its orders in. Checked
// against std::set under random inserts and erases (seed printed), through chunk splits and
// merges, and in the pattern that made a flat vector slow: many equal-price computers taking
// allocations in turn.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <set>
#include <vector>

#include "market/candidates.h"

namespace slap::market {
namespace {

struct Item {
  int price = 0;
  int load = 0;
  int id = 0;
};
struct Less {
  bool operator()(const Item& a, const Item& b) const {
    if (a.price != b.price) return a.price < b.price;
    if (a.load != b.load) return a.load < b.load;
    return a.id < b.id;
  }
};
using Sequence = ChunkedSortedSequence<Item, Less>;

// A fresh seed each run, printed so that a failure can be replayed.
uint64_t announced_seed(const char* what) {
  const uint64_t seed = std::random_device{}();
  std::printf("%s seed %llu\n", what, static_cast<unsigned long long>(seed));
  return seed;
}

std::vector<int> ids(const Sequence& s) {
  std::vector<int> v;
  for (const Item& i : s) v.push_back(i.id);
  return v;
}
std::vector<int> ids(const std::set<Item, Less>& s) {
  std::vector<int> v;
  for (const Item& i : s) v.push_back(i.id);
  return v;
}

TEST(Candidates, WalkInOrderThroughRandomInsertsAndErases) {
  const uint64_t seed = announced_seed("candidates");
  std::mt19937_64 rng(seed);
  Sequence seq;
  std::set<Item, Less> ref;
  std::vector<Item> present;
  for (int step = 0; step < 20000; ++step) {
    if (present.empty() || rng() % 3 != 0) {
      Item it{static_cast<int>(rng() % 5), static_cast<int>(rng() % 4), step};
      seq.insert(it, Less{});
      ref.insert(it);
      present.push_back(it);
    } else {
      const size_t k = rng() % present.size();
      const Item it = present[k];
      seq.erase(it, Less{}, [&](const Item& x) { return x.id == it.id; });
      ref.erase(it);
      present[k] = present.back();
      present.pop_back();
    }
    ASSERT_EQ(seq.size(), ref.size()) << "seed " << seed << " step " << step;
    if (step % 97 == 0) {
      ASSERT_TRUE(seq.consistent(Less{})) << "seed " << seed << " step " << step;
    }
    if (step % 997 == 0) {
      ASSERT_EQ(ids(seq), ids(ref)) << "seed " << seed << " step " << step;
    }
  }
  ASSERT_EQ(ids(seq), ids(ref)) << "seed " << seed;
  while (!present.empty()) {  // down to empty: chunks merge and vanish
    const Item it = present.back();
    present.pop_back();
    seq.erase(it, Less{}, [&](const Item& x) { return x.id == it.id; });
    ref.erase(it);
    ASSERT_TRUE(seq.consistent(Less{})) << "seed " << seed;
  }
  EXPECT_TRUE(seq.empty());
  EXPECT_EQ(seq.begin(), seq.end());
}

TEST(Candidates, MovesKeepTheOrderOfEraseThenInsert) {
  // Loads going up and down by one (the capacity index's allocations and frees), and now and then
  // anywhere (a price change), through chunks of every size: the walk is std::set's after each.
  const uint64_t seed = announced_seed("candidates move");
  std::mt19937_64 rng(seed);
  Sequence seq;
  std::set<Item, Less> ref;
  std::vector<Item> present;
  for (int id = 0; id < 3000; ++id) {
    Item it{static_cast<int>(rng() % 4), static_cast<int>(rng() % 8), id};
    seq.insert(it, Less{});
    ref.insert(it);
    present.push_back(it);
  }
  for (int step = 0; step < 30000; ++step) {
    Item& it = present[rng() % present.size()];
    Item to = it;
    switch (rng() % 5) {
      case 0: case 1: ++to.load; break;
      case 2: case 3: to.load = std::max(0, to.load - 1); break;
      default: to.price = static_cast<int>(rng() % 4); to.load = static_cast<int>(rng() % 8); break;
    }
    const int id = it.id;
    seq.move(it, to, Less{}, [id](const Item& x) { return x.id == id; });
    ref.erase(it);
    ref.insert(to);
    it = to;
    ASSERT_EQ(seq.size(), ref.size()) << "seed " << seed << " step " << step;
    if (step % 101 == 0) {
      ASSERT_TRUE(seq.consistent(Less{})) << "seed " << seed << " step " << step;
      ASSERT_EQ(ids(seq), ids(ref)) << "seed " << seed << " step " << step;
    }
  }
  ASSERT_TRUE(seq.consistent(Less{})) << "seed " << seed;
  ASSERT_EQ(ids(seq), ids(ref)) << "seed " << seed;
}

TEST(Candidates, EqualPriceComputersTakeAllocationsInTurn) {
  // 1,000 computers of one price: the head is always the least loaded, lowest id; after each
  // allocation it goes behind every computer as loaded as it was.
  Sequence seq;
  for (int id = 0; id < 1000; ++id) seq.insert(Item{7, 0, id}, Less{});
  for (int n = 0; n < 3000; ++n) {
    const Item head = *seq.begin();
    ASSERT_EQ(head.id, n % 1000);
    ASSERT_EQ(head.load, n / 1000);
    seq.move(head, Item{7, head.load + 1, head.id}, Less{}, [&](const Item& x) { return x.id == head.id; });
  }
  EXPECT_EQ(seq.size(), 1000u);
}

}  // namespace
}  // namespace slap::market
