#include "market/sequencer.h"

#include <pthread.h>

#include <algorithm>
#include <cassert>
#include <chrono>

namespace slap::market {

Sequencer::Sequencer(Market& market, SequencerOptions options) : market_(market), options_(options) {
  options_.max_batch = std::clamp<size_t>(options_.max_batch, 1, kMaxBatchCommands);
  options_.max_queue = std::max<size_t>(options_.max_queue, 1);
  // Named, so that top -H, perf and /proc tell the deciding and the writing thread apart.
  if (options_.pipeline > 0) {
    writer_ = std::thread([this] { write_loop(); });
    pthread_setname_np(writer_.native_handle(), "slap-write");
  }
  thread_ = std::thread([this] { loop(); });
  pthread_setname_np(thread_.native_handle(), "slap-decide");
}

Sequencer::~Sequencer() { close(); }

void Sequencer::close() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  room_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (writer_.joinable()) writer_.join();
  // The deciding thread has stopped: the last image it captured is on disk before the ledger
  // writes its own final checkpoints over it.
  wait_checkpoint_written();
}

std::future<ubm::Result<Outcome>> Sequencer::submit(Command command) {
  std::unique_lock lock(mu_);
  room_.wait(lock, [&] { return stopping_ || queue_.size() < options_.max_queue; });
  if (stopping_) {
    std::promise<ubm::Result<Outcome>> closed;
    closed.set_value(ubm::make_error(ubm::Rejection::LEDGER_CLOSED, "", "the master is shutting down"));
    return closed.get_future();
  }
  queue_.push_back(Job{std::move(command), {}});
  auto f = queue_.back().done.get_future();
  lock.unlock();
  work_.notify_one();
  return f;
}

bool Sequencer::try_submit(Command command, Callback done, Wake wake) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= options_.max_queue || stopping_) return false;
    queue_.push_back(Job{std::move(command), {}, std::move(done)});
  }
  announce(wake);
  return true;
}

void Sequencer::announce(Wake wake) {
  if (wake == Wake::now) {
    work_.notify_one();
  } else {
    unannounced_.store(true, std::memory_order_release);
  }
}

bool Sequencer::try_submit_all(std::vector<Command> commands, std::vector<Callback> done, Wake wake) {
  assert(commands.size() == done.size());
  {
    std::lock_guard lock(mu_);
    if (queue_.size() + commands.size() > options_.max_queue || stopping_) return false;
    for (size_t k = 0; k < commands.size(); ++k) queue_.push_back(Job{std::move(commands[k]), {}, std::move(done[k])});
  }
  announce(wake);
  return true;
}

void Sequencer::wake() {
  if (!unannounced_.load(std::memory_order_acquire) || !unannounced_.exchange(false, std::memory_order_acq_rel)) return;
  // The jobs were queued under mu_: the deciding thread has either not checked the queue since
  // (and will see them) or is waiting (and gets this notification).
  work_.notify_one();
}

size_t Sequencer::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void Sequencer::answer(std::vector<Job>& jobs, std::vector<ubm::Result<Outcome>>& results) {
  for (size_t k = 0; k < jobs.size(); ++k) {
    if (jobs[k].callback) {
      jobs[k].callback(std::move(results[k]));
    } else {
      jobs[k].done.set_value(std::move(results[k]));
    }
  }
}

bool Sequencer::fits_with(const Decision& waiting, const Decision& next) const {
  return waiting.jobs.size() + next.jobs.size() <= options_.max_batch &&
         waiting.decided.entries.size() + next.decided.entries.size() <= kMaxMergedEntries;
}

void Sequencer::merge_into(Decision& waiting, Decision&& next) {
  Market::Decided& a = waiting.decided;
  Market::Decided& b = next.decided;
  // b was decided on top of a: its entries, when it has any, follow a's in the log.
  if (a.entries.empty()) a.first = b.first;
  assert(b.entries.empty() || b.first.value() == a.first.value() + a.entries.size());
  const size_t offset = a.results.size();
  a.results.reserve(offset + b.results.size());
  for (auto& r : b.results) a.results.push_back(std::move(r));
  a.entries.reserve(a.entries.size() + b.entries.size());
  for (auto& e : b.entries) a.entries.push_back(std::move(e));
  for (size_t w : b.wrote) a.wrote.push_back(offset + w);
  waiting.jobs.reserve(waiting.jobs.size() + next.jobs.size());
  for (auto& j : next.jobs) waiting.jobs.push_back(std::move(j));
}

void Sequencer::loop() {
  std::vector<Job> jobs;
  std::vector<Command> commands;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      auto ready = [&] { return stopping_ || !queue_.empty() || poisoned_.load(); };
      // A failed market is rebuilt again below even when no command comes (readers wait for it).
      if (market_.failed()) work_.wait_for(lock, std::chrono::seconds(1), ready);
      else work_.wait(lock, ready);
      if (stopping_ && queue_.empty() && !poisoned_.load()) break;  // stopping and drained
      const size_t n = std::min(queue_.size(), options_.max_batch);
      for (size_t k = 0; k < n; ++k) {
        jobs.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    room_.notify_all();
    if (poisoned_.load()) recover();
    if (market_.failed()) retry_rebuild();
    if (jobs.empty()) continue;
    commands.clear();
    for (auto& j : jobs) commands.push_back(std::move(j.command));
    Market::Decided decided = market_.decide_batch(commands);
    if (decided.results.size() < jobs.size()) {
      // The batch filled up (kMaxBatchEntries): the commands it did not decide go back to the
      // front of the queue, in order, for the next batch.
      std::lock_guard lock(mu_);
      for (size_t k = jobs.size(); k-- > decided.results.size();) {
        jobs[k].command = std::move(commands[k]);
        queue_.push_front(std::move(jobs[k]));
      }
      jobs.resize(decided.results.size());
    }
    Decision d{std::move(decided), std::move(jobs)};
    jobs.clear();
    decided_batches_.fetch_add(1, std::memory_order_relaxed);
    const size_t entries = d.decided.entries.size();
    hand_off(std::move(d));
    maybe_checkpoint(entries);
  }
  if (options_.pipeline == 0) return;
  {
    std::unique_lock wl(wmu_);
    decided_all_ = true;
    decided_.notify_one();
    written_.wait(wl, [&] { return writing_.empty() && !writer_busy_; });
  }
  if (poisoned_.load()) recover();
}

void Sequencer::hand_off(Decision&& d) {
  if (options_.pipeline == 0) {
    if (!market_.commit_batch(d.decided)) rebuild_market();
    if (options_.after_write) options_.after_write();
    answer(d.jobs, d.decided.results);
    return;
  }
  {
    std::unique_lock wl(wmu_);
    if (d.decided.entries.empty() && writing_.empty() && !writer_busy_ && !poisoned_.load()) {
      // Nothing to write and nothing in flight that the answers could depend on: answer here.
      wl.unlock();
      answer(d.jobs, d.decided.results);
      return;
    }
    if (!writing_.empty() && !poisoned_.load() && fits_with(writing_.back(), d)) {
      // A decided batch still waits for the writer: this one joins it, and both land in one
      // synced write. Without this, each batch paid its own fsync and held only what arrived
      // while the previous one was decided (HTTP request scenario: ~9 requests per write, the
      // writer busy with fsyncs and the decided batches queueing behind it).
      merge_into(writing_.back(), std::move(d));
      merged_batches_.fetch_add(1, std::memory_order_relaxed);
      return;  // the writer was told when that batch was queued
    }
    written_.wait(wl, [&] { return writing_.size() < options_.pipeline; });  // the writer never blocks
    writing_.push_back(std::move(d));
  }
  decided_.notify_one();
}

void Sequencer::wait_written() {
  if (options_.pipeline == 0) return;  // the deciding thread wrote everything itself
  std::unique_lock wl(wmu_);
  written_.wait(wl, [&] { return writing_.empty() && !writer_busy_; });
}

namespace {
uint64_t ns_since(std::chrono::steady_clock::time_point t) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t).count());
}
}  // namespace

void Sequencer::maybe_checkpoint(size_t entries_decided) {
  if (options_.checkpoint_every == 0) return;
  since_checkpoint_ += entries_decided;
  if (since_checkpoint_ < std::max(options_.checkpoint_every, next_checkpoint_)) return;
  // Decide nothing more until what is decided is written: the market's projections then hold
  // exactly what the ledger holds, and are captured with the others. Only the capture stops
  // deciding; the image is written on its own thread while deciding goes on (54 MB under HTTP
  // load: 0.48 s standing still when both happened here).
  const auto started = std::chrono::steady_clock::now();
  wait_written();
  if (poisoned_.load()) return;  // a write failed: recover() runs first, a later batch retries
  // Images land in the order they were taken. The previous one had a whole spacing to be written
  // (under HTTP load ~1.7M entries for 54 MB), so this wait is a formality unless the disk is far
  // slower than deciding.
  wait_checkpoint_written();
  since_checkpoint_ = 0;
  auto image = market_.capture_checkpoint(options_.checkpoint_threads);
  checkpoint_ns_.fetch_add(ns_since(started), std::memory_order_relaxed);
  if (!image) {
    checkpoint_failures_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (image->batch.empty()) return;  // every projection declined: nothing to write
  next_checkpoint_ = image->bytes / std::max<uint64_t>(options_.checkpoint_bytes_per_entry, 1);
  checkpoint_write_ = std::async(std::launch::async, [this, image = std::move(*image)] {
    const auto begun = std::chrono::steady_clock::now();
    if (market_.write_checkpoint(image)) {
      checkpoints_.fetch_add(1, std::memory_order_relaxed);
      last_checkpoint_bytes_.store(image.bytes, std::memory_order_relaxed);
    } else {
      checkpoint_failures_.fetch_add(1, std::memory_order_relaxed);  // the log is intact: a later one retries
    }
    checkpoint_write_ns_.fetch_add(ns_since(begun), std::memory_order_relaxed);
  });
}

void Sequencer::wait_checkpoint_written() {
  if (checkpoint_write_.valid()) checkpoint_write_.get();
}

void Sequencer::recover() {
  // Everything decided before now stood on the failed batch: let the writer fail all of it, then
  // start again from what the ledger holds, and only then answer.
  std::vector<Decision> failed;
  {
    std::unique_lock wl(wmu_);
    written_.wait(wl, [&] { return writing_.empty() && !writer_busy_; });
    failed.swap(failed_);
    poisoned_.store(false);
  }
  rebuild_market();
  if (options_.after_write) options_.after_write();
  for (auto& d : failed) answer(d.jobs, d.decided.results);
}

void Sequencer::rebuild_market() {
  const auto started = std::chrono::steady_clock::now();
  if (market_.rebuild()) return;
  rebuild_failures_.fetch_add(1, std::memory_order_relaxed);
  // A full scan of the log each time: the next one (retry_rebuild) waits from this one's end, and
  // at least twice as long as it took, so a scan failing late in a large log does not keep the
  // deciding thread replaying it back to back.
  const auto ended = std::chrono::steady_clock::now();
  next_rebuild_ = ended + std::max<std::chrono::steady_clock::duration>(std::chrono::seconds(1), 2 * (ended - started));
}

void Sequencer::retry_rebuild() {
  if (std::chrono::steady_clock::now() < next_rebuild_) return;  // the commands meanwhile are refused by decide_batch
  rebuild_market();
  if (options_.after_write) options_.after_write();  // replies held for the rebuild's end learn it
}

void Sequencer::write_loop() {
  for (;;) {
    Decision d;
    {
      std::unique_lock wl(wmu_);
      decided_.wait(wl, [&] { return decided_all_ || !writing_.empty(); });
      if (writing_.empty()) return;  // everything decided is written
      d = std::move(writing_.front());
      writing_.pop_front();
      writer_busy_ = true;
    }
    written_.notify_all();
    bool failed = false;
    if (poisoned_.load()) {
      // Decided on top of a batch that did not land: nothing of it may be written.
      const ubm::Error error = ubm::make_error(ubm::Rejection::STORAGE_ERROR, "ledger", "an earlier write failed; the command was not recorded");
      std::vector<ubm::Result<Outcome>> refused;
      refused.reserve(d.jobs.size());
      for (size_t k = 0; k < d.jobs.size(); ++k) refused.emplace_back(error);
      d.decided.results = std::move(refused);
      failed = true;
    } else if (!market_.commit_batch(d.decided)) {
      failed = true;
    }
    bool newly_poisoned = false;
    {
      // Idle before answering: whoever learns an answer finds nothing in flight any more. Poisoned
      // in the same step: nobody may see the writer idle and the failure not yet known.
      std::lock_guard wl(wmu_);
      if (failed) {
        failed_.push_back(std::move(d));
        newly_poisoned = !poisoned_.exchange(true);
      }
      writer_busy_ = false;
    }
    written_.notify_all();
    if (options_.after_write) options_.after_write();
    if (!failed) answer(d.jobs, d.decided.results);
    if (newly_poisoned) {
      std::lock_guard lock(mu_);  // the deciding thread may be waiting for work: wake it
      work_.notify_one();
    }
  }
}

}  // namespace slap::market
