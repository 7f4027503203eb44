#pragma once
// Projection: which instance held each partition, and when. A node's usage journal names a
// partition (SlapOS nodes write "slapuserN" or "slappartN") for a period that has ended, often a
// whole day posted the next morning; by then the partition may have been freed and given to
// another client. The usage belongs to whoever held the partition during the period, not to
// whoever holds it when the journal arrives (the market billed the new tenant for the old one's
// day, and refused a journal posted while the partition stood empty).
//
// Folded from the allocation and free facts (their decision times), so a replay rebuilds it.
// Threading: as FactProjection (the sequencer folds and reads; nothing else reads it).
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

#include "market/fact_projection.h"

namespace slap::market {

class PartitionTenancy final : public FactProjection {
 public:
  std::string_view name() const override { return "market.tenancy"; }

  // One instance's hold on a partition during a usage period.
  struct Share {
    std::string_view instance;  // valid until the next fold
    int64_t start = 0, stop = 0;  // the part of the period it held the partition (ns)
    int64_t weight = 0;  // stop - start; 1 for an instant (start == stop)
  };
  // The instances that held `partition` of `computer` during [start, stop], in the order they held
  // it: those holding it for a positive time of the period, or, for an instant (start == stop),
  // the one holding it at that instant (a hand-over instant belongs to the new holder).
  std::vector<Share> holders(std::string_view computer, std::string_view partition, int64_t start, int64_t stop) const;
  // Whether `instance` held a partition of `computer` at some time of [start, stop] (an instant
  // included) and no longer does: usage of a destroyed instance reported after its destruction.
  bool held_before(std::string_view instance, std::string_view computer, int64_t start, int64_t stop) const;
  size_t partitions() const { return partitions_.size(); }  // partitions ever allocated

 protected:
  void fold(const Fact& fact) override;
  void write(ledger::SnapshotWriter& w) const override;
  bool read(ledger::SnapshotReader& r) override;
  void clear() override;

 private:
  static constexpr int64_t kOpen = 0;  // `to` of a tenancy still going on
  struct Tenancy {
    std::string instance;
    int64_t from = 0;
    int64_t to = kOpen;
  };
  struct Partition {
    std::string key;                 // key_of(computer, ref)
    std::vector<Tenancy> tenancies;  // in time order; only the last may be open
  };
  std::string_view key_of(std::string_view computer, std::string_view ref) const;  // in scratch_
  Partition* find(std::string_view computer, std::string_view ref);
  const Partition* find(std::string_view computer, std::string_view ref) const;
  void open(const std::string& instance, std::string_view computer, std::string_view ref, int64_t at);
  void close(const std::string& instance, std::string_view computer, std::string_view ref, int64_t at);
  void index_closed(const std::string& instance, uint32_t partition);

  // In the order partitions were first allocated: a snapshot lists them so and a restore appends
  // them so, keeping replay and restore byte for byte alike (a hash map's order would not be).
  // A deque: the index's keys (views of each partition's key) stay where they are while it grows.
  std::deque<Partition> partitions_;
  boost::unordered_flat_map<std::string_view, uint32_t> index_;
  mutable std::string scratch_;  // builds lookup keys without allocating (sequencer thread)
  // Instances whose tenancy ended -> the partitions they held (rebuilt on restore, not written).
  boost::unordered_flat_map<std::string, std::vector<uint32_t>> closed_;
};

}  // namespace slap::market
