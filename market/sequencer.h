#pragma once
// The one deciding thread the Market needs: many threads submit commands, one thread decides them
// in arrival order and appends each group in one ledger write (group commit at the market level).
// The write is pipelined: a second thread appends batch k (and answers its commands once durable)
// while the deciding thread already decides batch k+1 on top of it. If a write fails, every batch
// decided on top of it fails too; the deciding thread rebuilds the market from the ledger at once,
// and only then are the failed commands answered (as execute_batch does: an answered failure's
// decisions are no longer visible to readers).
//
//   Sequencer seq(market, {.max_batch = 1000});
//   auto outcome = seq.submit(RequestInstance{...}).get();   // once durable
//
// Bounded: at most `max_queue` commands wait; submit() blocks while the queue is full. The
// destructor decides what is queued, then stops the thread.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "market/market.h"

namespace slap::market {

struct SequencerStats {
  uint64_t decided = 0;      // batches decided
  uint64_t merged = 0;       // of them, joined to a decided batch still waiting for the writer
  uint64_t checkpoints = 0;  // checkpoints taken by the deciding thread (checkpoint_every)
  uint64_t checkpoint_failures = 0;  // of its attempts, those the storage refused (retried later)
  uint64_t checkpoint_ns = 0;        // time the deciding thread spent on them (waiting for the
                                     // writer, serialising), deciding nothing meanwhile
  uint64_t checkpoint_write_ns = 0;  // time their writes took, on their own thread, deciding going on
  uint64_t last_checkpoint_bytes = 0;
  uint64_t rebuild_failures = 0;  // rebuilds that could not read the log (market failed() meanwhile)
};

struct SequencerOptions {
  size_t max_batch = 1000;   // commands decided and appended together (<= kMaxBatchCommands)
  size_t max_queue = 100'000;
  size_t pipeline = 2;  // batches decided and waiting for (or in) their write; 0: decide and write in turn
  // Checkpoints of every projection, the market's included, taken by the deciding thread once the
  // batches decided so far are written (it decides nothing meanwhile). Under steady load the market
  // is always ahead of the ledger by a batch or two, so the ledger's own periodic checkpoints never
  // catch its projections, and a restart would replay the whole log into them. The next checkpoint
  // comes after max(checkpoint_every, bytes of the last checkpoint / checkpoint_bytes_per_entry)
  // entries: a growing state is checkpointed less often, so checkpoints cost at most about that many
  // bytes per entry, and a restart replays at most that many entries. 0: never.
  uint64_t checkpoint_every = 0;
  uint64_t checkpoint_bytes_per_entry = 32;
  // Threads serialising a checkpoint, the deciding thread included. Nothing is answered meanwhile,
  // so the I/O threads' cores are idle: two threads halve the time deciding stands still.
  unsigned checkpoint_threads = 2;
  // Called after each batch's write, successful or not, once the ledger's head shows it (on the
  // writing thread, or the deciding one with pipeline 0), and after the market was rebuilt from
  // the ledger following a failed write: whoever waits for what it read to be durable looks
  // again (slapd/durable_gate.h). Must be quick and must not call into the sequencer.
  std::function<void()> after_write;
};

class Sequencer {
 public:
  Sequencer(Market& market, SequencerOptions options = {});
  ~Sequencer();
  Sequencer(const Sequencer&) = delete;
  Sequencer& operator=(const Sequencer&) = delete;

  using Callback = std::function<void(ubm::Result<Outcome>)>;

  // Decides what is queued, then stops the thread; later submissions are refused
  // (try_submit returns false, submit's future holds ledger_closed). Idempotent.
  void close();

  // Thread-safe. Blocks while the queue is full.
  std::future<ubm::Result<Outcome>> submit(Command command);
  // Thread-safe, never blocks (for I/O threads): false when the queue is full (the caller answers
  // 503). `done` runs once the outcome is durable, on the writing thread (on the deciding thread
  // when the batch wrote nothing and no write was in flight); keep it short.
  // Wake::later queues without waking the deciding thread: the caller promises a wake() soon (an
  // event loop submitting the requests of one pass wakes it once after the pass, instead of a
  // futex wake, a sleep and a batch of one per request).
  enum class Wake { now, later };
  bool try_submit(Command command, Callback done, Wake wake = Wake::now);
  // The same for commands that belong together (a computer and its certificate): all are queued,
  // back to back, or none is (false: nothing of them will be decided). done[k] answers commands[k].
  bool try_submit_all(std::vector<Command> commands, std::vector<Callback> done, Wake wake = Wake::now);
  // Wakes the deciding thread if a Wake::later submission has not been announced yet; otherwise
  // nothing (no system call), so it is cheap to call after every pass of an event loop.
  void wake();
  size_t queued() const;
  SequencerStats stats() const {
    return {decided_batches_.load(), merged_batches_.load(),     checkpoints_.load(),          checkpoint_failures_.load(),
            checkpoint_ns_.load(),   checkpoint_write_ns_.load(), last_checkpoint_bytes_.load(), rebuild_failures_.load()};
  }

 private:
  // Wakes the deciding thread for jobs just queued, or notes them for the next wake().
  void announce(Wake wake);
  struct Job {
    Command command;
    std::promise<ubm::Result<Outcome>> done;
    Callback callback;  // when set, used instead of the promise
  };
  struct Decision {
    Market::Decided decided;
    std::vector<Job> jobs;
  };
  // Entries one merged write may hold at most (far below the ledger's max_batch_entries).
  static constexpr size_t kMaxMergedEntries = 20'000;
  bool fits_with(const Decision& waiting, const Decision& next) const;
  static void merge_into(Decision& waiting, Decision&& next);  // caller holds wmu_
  void loop();
  void write_loop();
  void recover();  // deciding thread, after a failed write
  void rebuild_market();  // deciding thread: Market::rebuild, a failure counted and the next retry spaced
  void retry_rebuild();   // deciding thread, while the market is failed(): rebuild_market when due
  void hand_off(Decision&& d);  // deciding thread: to the writer, or written and answered here
  void wait_written();  // deciding thread: until every decided batch is written (or failed)
  void maybe_checkpoint(size_t entries_decided);  // deciding thread
  void wait_checkpoint_written();                  // deciding thread, or close() once it has stopped
  static void answer(std::vector<Job>& jobs, std::vector<ubm::Result<Outcome>>& results);

  Market& market_;
  SequencerOptions options_;
  mutable std::mutex mu_;
  std::condition_variable work_, room_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::atomic<bool> unannounced_{false};  // a Wake::later job is queued and nobody woke the thread for it

  // Between the deciding and the writing thread.
  std::mutex wmu_;
  std::condition_variable decided_, written_;
  std::deque<Decision> writing_;
  bool writer_busy_ = false;
  std::atomic<uint64_t> decided_batches_{0}, merged_batches_{0}, checkpoints_{0}, checkpoint_failures_{0}, checkpoint_ns_{0},
      checkpoint_write_ns_{0}, last_checkpoint_bytes_{0}, rebuild_failures_{0};
  std::chrono::steady_clock::time_point next_rebuild_{};  // deciding thread: no retry before
  std::future<void> checkpoint_write_;  // the image captured last, being written (Storage::write_large)
  uint64_t since_checkpoint_ = 0;  // entries decided since; deciding thread only
  uint64_t next_checkpoint_ = 0;   // entries between checkpoints, from the last one's size
  std::atomic<bool> poisoned_{false};  // a write failed: what is queued stood on it
  std::vector<Decision> failed_;       // not answered until the market is rebuilt
  bool decided_all_ = false;

  std::thread thread_, writer_;
};

}  // namespace slap::market
