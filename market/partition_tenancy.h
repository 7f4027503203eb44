#pragma once
// Who held a partition while its usage was measured. A node's usage journal names a partition
// (SlapOS nodes write "slapuserN" or "slappartN") for a period that has ended, often a whole day
// posted the next morning; by then the partition may have been freed and given to another client.
// The usage belongs to whoever held the partition during the period, not to whoever holds it when
// the journal arrives (the market billed the new tenant for the old one's day, and refused a
// journal posted while the partition stood empty).
//
// Read from the ComputerView: each partition's present tenancy (Partition::instance, since) and
// its ended ones (ComputerView::past). Sequencer thread, like the view's find().
#include <cstdint>
#include <string_view>
#include <vector>

#include "market/computer_view.h"

namespace slap::market {

// One instance's hold on a partition during a usage period.
struct Share {
  std::string_view instance;    // valid until the view folds again
  int64_t start = 0, stop = 0;  // the part of the period it held the partition (ns)
  int64_t weight = 0;           // stop - start; 1 for an instant (start == stop)
};

// The instances that held partition `p` of `c` during [start, stop], in the order they held it:
// those holding it for a positive time of the period, or, for an instant (start == stop), the one
// holding it at that instant (a hand-over instant belongs to the new holder).
// Into `out`, cleared first (a caller reuses it from line to line: nothing allocated per line).
void holders(const ComputerView& view, const ComputerView::Computer& c, const ComputerView::Partition& p, int64_t start, int64_t stop,
             std::vector<Share>& out);

// Whether `instance` held a partition of `c` at some time of [start, stop] (ends included) before
// it was freed from it: usage of a destroyed instance, reported after its destruction.
bool held_before(const ComputerView& view, const ComputerView::Computer& c, std::string_view instance, int64_t start, int64_t stop);

}  // namespace slap::market
