#pragma once
// The market's face: decides commands on its projections and appends the decisions to the ledger.
//
//   Market market({.clock = &clock});
//   auto ledger = ledger::Ledger::open({.storage = s, .clock = &clock, .projections = market.projections()});
//   market.attach(**ledger);
//   auto out = market.execute(RequestInstance{...});
//
// Threading contract: execute/execute_batch/attach/rebuild are called by ONE thread, the sequencer
// (sequencer.h runs one). That thread must also be the only one appending to the ledger while the
// market is attached, and the only one calling Ledger::checkpoint. Readers on any thread use
// the projections' locked accessors (ComputerView::get, InstanceRegistry::get, computer_snapshot).
//
// How a batch is decided: each command is validated on the projections; a rejected command changes
// nothing. An accepted one emits facts, which are folded into the projections at once (so the next
// command of the batch sees them) and queued as ledger entries. The batch is appended in one
// ledger write; the ledger then feeds the entries back and the projections skip what they folded.
// If the write fails (or sequence numbers differ from the prediction because someone else
// appended), the projections are reset and rebuilt from the ledger, and the commands that wrote
// report the storage error, as does every command decided after the first of them (it read what
// they folded). Readers may therefore see a decision shortly before it is durable:
// folded_until() and generation() tell them when what they read is (slapd holds its read replies
// until then, slapd/durable_gate.h).
#include <atomic>
#include <deque>
#include <memory>
#include <span>

#include <boost/unordered/unordered_flat_map.hpp>
#include <boost/unordered/unordered_flat_set.hpp>

#include "billing/projection.h"
#include "ledger/clock.h"
#include "ledger/ledger.h"
#include "market/capacity_index.h"
#include "market/commands.h"
#include "market/computer_view.h"
#include "market/encoding.h"
#include "market/hosting_clock.h"
#include "market/instance_registry.h"
#include "market/matcher.h"
#include "market/string_key_map.h"
#include "market/usage_journals.h"

namespace slap::market {

inline constexpr std::string_view kMarketNode = "slapos-market";  // counterpart of requests and pending facts
inline constexpr size_t kMaxBatchCommands = 10'000;
inline constexpr size_t kMaxPartitionsPerComputer = 10'000;
inline constexpr size_t kMaxTextLength = 4096;  // release URLs, titles, parameter values
inline constexpr size_t kMaxMapEntries = 1024;  // parameters, SLA, connection parameters
// A decided batch takes no further command once it holds this many entries, and a usage journal
// that would write more is refused whole: so that a batch of many commands stays a write of
// bounded size and latency (at most this many entries, plus one command's). Before, a
// node posting a journal of 100,000 lines failed every command of its batch, and the market was
// rebuilt from the whole log, each time it posted it again. A command whose consequences cascade
// past that (a host of 40,000 shared instances destroyed, a tree of 60,000 instances destroyed at
// once) is written whole in one append all the same: the ledger takes up to 1,000,000 entries in
// one (LedgerOptions::max_batch_entries). Not unbounded: a command making more than ~950,000 (a
// host of some 300,000 shared instances) is still refused, and with it its batch.
inline constexpr size_t kMaxBatchEntries = 50'000;
// Pending reasons the passes over the queue of one decided batch rewrite at most (oldest first;
// the passes of later batches that visit every request for a partition, after a computer, its
// partitions or a supply changed, do the rest, and the first pass of the next batch tries again
// the groups of shared instances left behind, Market::stale_shared_groups_; a pass after a free
// tries only the requests it suits): a supply
// that changes why 100,000 requests wait must not become one write of 100,000 entries, past what
// the ledger takes in one append, nor may a batch of such commands add up to it.
inline constexpr size_t kMaxReasonUpdatesPerBatch = 256;
// How far past the master's clock a usage period may end (a node's clock running ahead).
inline constexpr int64_t kUsageClockAllowanceNs = 10LL * 60 * 1'000'000'000;

struct MarketOptions {
  ledger::Clock* clock = &ledger::SystemClock::instance();  // decision times; must outlive the market
  std::string currency = "EUR";                              // every computer prices in it
};

// A computer as its node needs it: every partition with what it must run.
struct PartitionRun {
  PartitionSpec spec;
  bool present = true;
  std::optional<InstanceRegistry::Instance> instance;
  std::vector<InstanceRegistry::Instance> shared;  // shared instances served by it
};
struct ComputerSnapshot {
  fact::ComputerSet props;
  uint64_t version = 0;
  std::vector<PartitionRun> partitions;
  StringMap releases;  // URL -> available | destroyed
};

class Market {
 public:
  explicit Market(MarketOptions options = {});
  Market(const Market&) = delete;
  Market& operator=(const Market&) = delete;

  // Give these to Ledger::open; they must outlive the ledger.
  std::vector<ledger::Projection*> projections();
  void attach(ledger::Ledger& ledger);

  [[nodiscard]] ubm::Result<Outcome> execute(const Command& command);
  // Decides every command in order, then appends all their entries in one write.
  // Precondition: commands.size() <= kMaxBatchCommands.
  std::vector<ubm::Result<Outcome>> execute_batch(std::span<const Command> commands);

  // execute_batch in two halves, so a sequencer can decide a batch while the previous one is being
  // written (sequencer.h). decide_batch may decide only the first commands (results.size() <
  // commands.size()) when their entries reach kMaxBatchEntries: the caller decides the rest in a
  // later batch, in order. decide_batch (the deciding thread) folds the decisions at once, standing
  // on every batch decided before, written or not. commit_batch (one writing thread, batches in
  // decision order) appends them; false: the batch did not land where it was decided (the write
  // failed, or the ledger moved): its commands from the first writing one on hold the error (the
  // earlier ones keep their answers: they read nothing of this batch), every batch decided after it
  // must fail too (it stood on this one), and rebuild() must run before deciding again.
  struct Decided {
    std::vector<ubm::Result<Outcome>> results;
    std::vector<ubm::EntryBody> entries;
    std::vector<size_t> wrote;  // the commands that emitted entries
    ubm::Seq first{0};          // where the entries must land
  };
  Decided decide_batch(std::span<const Command> commands);
  bool commit_batch(Decided& decided);

  // Resets the projections and replays the whole ledger into them. If that fails (the log cannot
  // be read), the projections hold part of it: the generation stays odd and failed() true, and
  // decide_batch refuses every command until a rebuild succeeds (execute_batch and the Sequencer
  // try again first).
  [[nodiscard]] ubm::Status rebuild();
  // Any thread: the last rebuild failed; nothing read from the projections may be answered.
  bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }
  // Any thread. Changes when a rebuild starts and again when it ends: a computer's version can go
  // back (decisions that failed to be written are undone) and then forward to the same number with
  // other content, so what readers cached by version is valid only within one generation.
  uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
  // A bound on the sequence numbers of the facts folded into the projections so far: what a
  // reader saw is durable once the ledger's head reaches the bound read after it, provided the
  // generation did not move meanwhile (a failed write undoes decisions by a rebuild, and new ones
  // then reuse their numbers). Any thread.
  uint64_t folded_until() const noexcept { return folded_until_.load(std::memory_order_acquire); }

  // Checkpoints every projection of the ledger (Ledger::checkpoint), the market's included. The
  // deciding thread, with every decided batch written: while one is in flight the market's
  // projections are ahead of the ledger and decline to checkpoint (fact_projection.h).
  // Returns the bytes it wrote (0 when no projection had anything to checkpoint).
  [[nodiscard]] ubm::Result<uint64_t> checkpoint();
  // The same in two steps (Ledger::capture_checkpoint, then write_checkpoint from another thread):
  // the deciding thread stands still only while the projections are serialised.
  [[nodiscard]] ubm::Result<ledger::Ledger::CheckpointImage> capture_checkpoint(unsigned threads);
  [[nodiscard]] ubm::Status write_checkpoint(const ledger::Ledger::CheckpointImage& image);

  const ComputerView& computers() const { return computers_; }
  const InstanceRegistry& instances() const { return instances_; }
  const CapacityIndex& capacity() const { return capacity_; }
  const UsageJournals& usage_journals() const { return journals_; }
  const HostingClock& hosting() const { return hosting_; }
  // Billing day lines, roll-ups and price lists; query() from any thread.
  const billing::BillingProjection& billing() const { return billing_; }
  // Joined read model; any thread (each projection is read under its own lock).
  std::optional<ComputerSnapshot> computer_snapshot(std::string_view guid) const;
  // The pure decision for a request, without writing anything (benchmarks, dry runs).
  Placement decide(const RequestInstance& request) const;

  // Release URL -> item id ("SR-" + 32 hex digits of its SHA-256).
  static std::string release_id(std::string_view url);

 private:
  struct Batch;
  struct Handler;
  ubm::Result<Outcome> run(const Command& command, Batch& batch);
  void forget_applied();  // drops in-flight records the ledger has applied

  MarketOptions options_;
  ComputerView computers_;
  InstanceRegistry instances_;
  CapacityIndex capacity_;
  Matcher matcher_{capacity_, computers_, instances_};
  UsageJournals journals_;
  HostingClock hosting_;
  billing::BillingProjection billing_{options_.currency};
  ledger::Ledger* ledger_ = nullptr;
  ubm::TimestampNs last_at_{0};
  // Release URL -> its item id, and whether the directory holds it (durably registered: from then
  // on no request needs to look it up again).
  struct ReleaseId {
    std::string id;
    bool in_directory = false;
  };
  boost::unordered_flat_map<std::string, ReleaseId> release_ids_;
  bool market_node_durable_ = false;  // the directory holds kMarketNode (Handler::ensure_market_node)
  // Groups of shared instances (InstanceRegistry::shared_group_key) a pass left with an out-of-date
  // reason, the batch's reason rewrites being spent, each with the arrival to walk it from (the
  // first left behind, less one): the first pass of a later batch with rewrites left tries them
  // again (no pass visits a shared instance unless a host of its group changed), so a group of
  // 50,000 is walked once over the batches it takes, not whole each time. Deciding thread only;
  // not projection state: lost on restart, and what a batch whose write failed took from it is
  // lost too (the reasons stay as they were, as before this was kept).
  boost::unordered_flat_map<std::string, uint64_t> stale_shared_groups_;
  // A pass left a request for a partition without the reason it found for it (the batch's
  // rewrites spent), a supply named a release the capacity index did not know (any request may
  // ask for that name), or nothing tells (a start, a rebuild): the next pass offering capacity
  // walks every release's requests, as a pass offering a computer's properties does, instead of
  // those the computer supplies alone. A pass that walks them all and writes every reason it
  // finds clears it (the reasons a placement later in the same walk changes stay as they were
  // found: serve_pending). Deciding thread only.
  bool stale_reasons_ = true;
  // The conditions of groups of waiting requests (InstanceRegistry::group_key) compiled for the
  // passes after a free (Handler::could_serve), each valid while the capacity index knows the same
  // names as when it was compiled (CapacityIndex::names_version). Deciding thread only.
  StringKeyMap<Matcher::Prepared> prepared_groups_;
  // What batches decided but not yet applied by the ledger registered: the directory and the
  // journal projection learn it only once written, and the next batch must already see it.
  struct InFlight {
    ubm::Seq last;
    std::vector<std::string> ids, journals;
  };
  std::deque<InFlight> in_flight_;
  boost::unordered_flat_map<std::string, std::optional<ubm::NodeKind>> in_flight_ids_;  // node kind for nodes
  boost::unordered_flat_set<std::string> in_flight_journals_;
  ubm::Seq decided_head_{0};  // the last sequence number decided
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> folded_until_{0};
  std::atomic<bool> failed_{false};  // the last rebuild failed (written by the deciding thread)
};

}  // namespace slap::market
