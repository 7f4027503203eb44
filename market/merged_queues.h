#pragma once
// Several of the instance registry's pending queues walked as one, in arrival order: what a pass
// over the queue visits (Market's serve_pending). After a partition was freed: the shared instances
// this command queued, the requests the matcher's walk gave up on and the groups of requests the
// freed computer fits. After hosts changed: the shared instances this command queued and the groups
// of shared instances those hosts may take. After a computer changed: the groups of requests it may
// serve or explain otherwise (every group, or those of the releases it supplies: Market's
// serve_pending), and the groups of shared instances its hosts may take. A host placed by the walk
// adds its groups of shared instances from there (add_shared_group), or every shared instance
// (add_every_shared).
//
// A min-heap of each queue's next request, so a step costs the log of the number of queues: the
// first version looked every queue up at every step, and 50,000 shared instances waiting ahead of
// 500 fitting groups would have made 25 million lookups for one free. Folds may run between two
// steps (a request visited is placed or given a new reason): they remove the request just visited,
// move it into or out of the scan-bound queue at its own arrival (a new reason), or queue ones
// past the walk's end; so a queue never gains a request between the last arrival returned and its
// head, and its head is read again whenever it is at or before that arrival. A request in two
// queues (its group and the scan-bound one; a shared instance queued by this command and in its
// group) is returned once; a group added twice is walked once.
//
// Sequencer thread only, like the registry's other accessors; the registry must outlive the walk.
#include <algorithm>
#include <cassert>
#include <cstdint>
#include <functional>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "market/instance_registry.h"

namespace slap::market {

class MergedQueues {
 public:
  // The shared queue past arrival `shared_after` (0: all of it; the last arrival before this
  // command: those it queued), the scan-bound queue, each group in `groups` (InstanceRegistry
  // group keys) and each group of shared instances in `shared_groups` (shared group keys).
  MergedQueues(const InstanceRegistry& registry, uint64_t shared_after, std::vector<std::string> groups,
               std::vector<std::string> shared_groups = {})
      : r_(registry), shared_after_(shared_after), every_shared_(shared_after == 0), groups_(std::move(groups)),
        shared_groups_(std::move(shared_groups)) {
    // Each shared group once, in its first place (the set that add_shared_group keeps).
    std::erase_if(shared_groups_, [&](const std::string& key) { return !walked_shared_groups_.insert(key).second; });
    for (size_t s = 0; s < kGroups + groups_.size() + shared_groups_.size(); ++s) push(s, 0);
  }

  // Walks the shared group `key` too, from the first of its instances queued after `after` (the
  // arrival last returned): a host made by the walk serves the shared instances queued after it in
  // the same walk, as a walk of the whole queue does; the earlier ones are left to the next pass.
  // A group already walked is not added again: the first time it was added, it was from an
  // earlier arrival (each duplicate would cost a heap step at each of its requests).
  void add_shared_group(const std::string& key, uint64_t after) {
    if (every_shared_ || !walked_shared_groups_.insert(key).second) return;
    shared_groups_.push_back(key);
    push(kGroups + groups_.size() + shared_groups_.size() - 1, after);
  }
  // Walks every shared instance queued after `after` too (more hosts made than the registry notes).
  void add_every_shared(uint64_t after) {
    if (every_shared_) return;
    every_shared_ = true;
    shared_after_ = 0;
    push(kShared, after);
  }

  // The first request queued after `after` in the queues still walked: the shared ones always;
  // the scan-bound while `partitions` (a partition is free somewhere); the groups while
  // `groups_open` (after a free: the freed computer still has a partition free). Once false, a
  // flag must stay false for the rest of the walk: the queues it closes are dropped for good.
  InstanceRegistry::Queued next(uint64_t after, bool partitions, bool groups_open) {
    while (!heads_.empty()) {
      const auto [arrival, s] = heads_.top();
      const bool walked = s == kShared || s >= kGroups + groups_.size() || (partitions && (s == kScanBound || groups_open));
      if (!walked) {
        heads_.pop();
        continue;
      }
      const InstanceRegistry::Queued q = head(s, after);
      // A head ahead of `after` can only have left (a later one comes): nothing is queued before it.
      assert(q.instance == nullptr || arrival <= after || q.arrival >= arrival);
      if (q.instance != nullptr && q.arrival == arrival) {  // stays the head until passed
        last_source_ = s;
        return q;
      }
      heads_.pop();
      if (q.instance != nullptr) heads_.emplace(q.arrival, s);
    }
    return {};
  }

  // The position in `groups` of the group the request last returned came from; nullopt when it
  // came from another queue (a request in its group and the scan-bound queue may come from either).
  std::optional<size_t> last_group() const {
    if (last_source_ < kGroups || last_source_ >= kGroups + groups_.size()) return std::nullopt;
    return last_source_ - kGroups;
  }

 private:
  static constexpr size_t kShared = 0, kScanBound = 1, kGroups = 2;  // queue numbers; groups follow
  InstanceRegistry::Queued head(size_t s, uint64_t after) const {
    if (s == kShared) return r_.pending_shared_after(std::max(after, shared_after_));
    if (s == kScanBound) return r_.pending_scan_bound_after(after);
    if (s < kGroups + groups_.size()) return r_.pending_in_group_after(groups_[s - kGroups], after);
    return r_.pending_shared_in_group_after(shared_groups_[s - kGroups - groups_.size()], after);
  }
  void push(size_t s, uint64_t after) {
    if (const auto q = head(s, after); q.instance != nullptr) heads_.emplace(q.arrival, s);
  }

  const InstanceRegistry& r_;
  uint64_t shared_after_;
  bool every_shared_;  // the shared queue is walked whole: groups of shared instances add nothing
  std::set<std::string, std::less<>> walked_shared_groups_;
  std::vector<std::string> groups_, shared_groups_;
  using Head = std::pair<uint64_t, size_t>;  // (arrival of the queue's next request, queue)
  std::priority_queue<Head, std::vector<Head>, std::greater<>> heads_;
  size_t last_source_ = 0;
};

}  // namespace slap::market
