#pragma once
// The append-only ledger: batches of UBM entries with consecutive sequence numbers, a timestamp
// from an injected clock and a SHA-256 hash chain, on a Storage (RocksDB by default).
//
//   auto ledger = Ledger::open({.storage = storage, .projections = {&billing}});
//   auto appended = (*ledger)->append(entries);   // returns once durable
//
// Thread-safety: append() may be called from many threads; concurrent appenders share one storage
// write (group commit: the first waiting appender leads and writes everyone's batch). Every other
// method is thread-safe too. Projections are fed each batch in order by the writing thread, after
// the write is durable and before append() returns.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "ledger/clock.h"
#include "ledger/directory.h"
#include "ledger/hash.h"
#include "ledger/projection.h"
#include "ledger/storage.h"
#include "ubm/model.h"

namespace slap::ledger {

enum class Durability {
  sync_each_write,  // every group-commit write is fsynced before anyone is answered (default)
  buffered,         // written to the OS, not fsynced: survives a process crash, not a power cut
};

struct LedgerOptions {
  std::shared_ptr<Storage> storage;          // required
  Clock* clock = &SystemClock::instance();   // timestamps; must outlive the ledger
  Durability durability = Durability::sync_each_write;
  uint64_t checkpoint_every = 100'000;       // entries between projection checkpoints; 0 = on close only
  // One append() larger than this is refused. Far above what a batch of commands makes (the market
  // closes one at 50,000 entries) because one command alone may make more, atomically: a host
  // destroyed with its 40,000 shared instances frees, requeues and re-attaches each (120,000
  // entries), and at 100,000 such a command could never be carried out. Still a bound: a host of
  // some 300,000 shared instances would pass it. An entry costs ~3 KiB while it is written (its
  // draft's first segment, its record, RocksDB's copy of it, the caller's body): ~3 GB at the bound.
  size_t max_batch_entries = 1'000'000;
  size_t max_group_entries = 100'000;        // entries written together by one group commit
  std::vector<Projection*> projections;      // fed every batch; must outlive the ledger
};

struct Appended {
  ubm::Seq first;
  ubm::Seq last;
  ubm::TimestampNs timestamp;
};

struct LedgerStats {
  uint64_t entries = 0;        // appended since open
  uint64_t writes = 0;         // group-commit writes since open
  uint64_t bytes = 0;          // log record bytes (headers and entries, not keys) appended since open
  uint64_t rejected = 0;       // append() calls refused
  uint64_t max_group_entries = 0;
  uint64_t checkpoints = 0;             // checkpoint writes that succeeded since open
  uint64_t last_checkpoint_bytes = 0;   // bytes the last of them wrote (all projections)
  // At open: the projections whose checkpoint was there but not used (unreadable, malformed, or
  // ahead of the log), and why; each was rebuilt from the log instead (slower, nothing lost).
  std::vector<std::string> checkpoints_ignored;
};

class Ledger {
 public:
  // Opens the ledger on `options.storage`: finds the head, drops a torn (never acknowledged) batch
  // at the tail, restores each projection from its checkpoint and replays only the tail.
  static ubm::Result<std::unique_ptr<Ledger>> open(LedgerOptions options);
  // Writes the projections' checkpoints. (A crash skips this; the next open replays the tail.)
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Validates the whole batch (structure, then references against the directory and earlier
  // entries of the same batch); appends it atomically; answers once it is durable. A rejected
  // batch writes nothing. A storage failure writes nothing and is returned as storage_error.
  [[nodiscard]] ubm::Result<Appended> append(std::span<const ubm::EntryBody> batch);

  ubm::Seq head() const;
  Hash head_hash() const;
  // False once a write failed: whether it reached the disk is unknown, so every append is refused
  // until the ledger is opened again (a restart), whose recovery keeps the write if it landed whole
  // and drops it otherwise. Reads go on.
  bool writable() const;
  const Directory& directory() const { return directory_; }
  LedgerStats stats() const;
  // Appenders waiting for or inside a group-commit write (the pending-appends gauge).
  size_t queued() const;

  // Visits entries from..to (inclusive; to = 0 means the head) in order; stops when fn returns false.
  [[nodiscard]] ubm::Status scan(ubm::Seq from, ubm::Seq to, const std::function<bool(const EntryView&)>& fn) const;
  // Writes every projection's checkpoint now, synced.
  [[nodiscard]] ubm::Status checkpoint();

  // The same in two steps, for a caller that must not stand still while tens of megabytes reach
  // the disk (market/sequencer.h): capture_checkpoint() waits until no group is being written and
  // serialises every projection then, spread over `threads` threads (the largest first);
  // write_checkpoint() writes the image later, from any thread, while appends go on
  // (Storage::write_large). Images must be written in the order they were captured, one at a
  // time; an image is never newer than the log it covers, so writing it late is safe.
  struct CheckpointImage {
    WriteBatch batch;    // empty: every projection declined
    uint64_t bytes = 0;  // snapshot bytes it holds
  };
  [[nodiscard]] CheckpointImage capture_checkpoint(unsigned threads = 1);
  [[nodiscard]] ubm::Status write_checkpoint(const CheckpointImage& image);

 private:
  struct Writer;
  explicit Ledger(LedgerOptions options);
  ubm::Status recover();
  void lead(std::unique_lock<std::mutex>& lock, Writer& self);
  ubm::Status write_checkpoints(Sync sync);
  CheckpointImage capture(unsigned threads);  // caller holds the writers off (leader or barrier)
  ubm::Status counted(ubm::Status written, const CheckpointImage& image);  // the stats of a write
  void begin_barrier(std::unique_lock<std::mutex>& lock, Writer& w);  // no group written until end_barrier
  void end_barrier();  // caller holds mu_

  LedgerOptions options_;
  Directory directory_;
  std::vector<Projection*> projections_;  // directory_ first, then options_.projections

  mutable std::mutex mu_;
  std::deque<Writer*> queue_;  // waiting appenders; the front one leads
  ubm::Seq head_{0};
  Hash head_hash_{};
  ubm::TimestampNs last_timestamp_{0};
  uint64_t since_checkpoint_ = 0;
  bool broken_ = false;  // a write failed: refuse appends until reopened (recovery mends the tail)
  LedgerStats stats_;
  std::atomic<uint64_t> checkpoints_written_{0}, last_checkpoint_bytes_{0};  // see write_checkpoints
  std::vector<size_t> last_snapshot_bytes_;  // per projection, to serialise the largest first
  Hasher hasher_;        // used by the current group-commit leader only
  WriteBatch batch_;     // likewise
};

// --- Reading without opening for write (auditors, tools) ------------------------------------

// Visits stored entries from..to (inclusive; to = 0 means the last) in order.
[[nodiscard]] ubm::Status scan_log(const Storage& storage, ubm::Seq from, ubm::Seq to,
                                   const std::function<bool(const EntryView&)>& fn);

struct VerifyReport {
  bool ok = true;
  ubm::Seq head{0};        // last good entry
  Hash head_hash{};
  ubm::Seq first_bad{0};   // 0 when ok
  std::string problem;     // what is wrong at first_bad
  uint64_t entries = 0;
  uint64_t bytes = 0;
};
// Recomputes the whole chain. `progress` (may be empty) is called now and then with the seq reached.
VerifyReport verify(const Storage& storage, const std::function<void(ubm::Seq)>& progress = {});

struct ReplayReport {
  uint64_t entries = 0;
  ubm::Seq head{0};
};
// How replay() reads the log. pipelined: a second thread scans the log and copies its records
// while the caller's thread decodes, checks and applies them in batches (replay.cc); the scan
// then overlaps the folding. inline: one loop, one entry at a time (ledger_bench's counting
// projection replays as fast either way; billing_bench's billing projection gains from the second
// thread).
enum class ReplayReader { inline_, pipelined };
// Resets the projections and rebuilds them from the whole log, checking every record as
// scan_log() does. Projections are only ever called on the caller's thread, `progress` too.
[[nodiscard]] ubm::Result<ReplayReport> replay(const Storage& storage, std::span<Projection* const> projections,
                                               const std::function<void(ubm::Seq)>& progress = {},
                                               ReplayReader reader = ReplayReader::pipelined);

// Last stored seq (0 for an empty log).
[[nodiscard]] ubm::Result<ubm::Seq> stored_head(const Storage& storage);

}  // namespace slap::ledger
