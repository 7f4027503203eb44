#include "market/sequencer.h"

#include <algorithm>

namespace slap::market {

Sequencer::Sequencer(Market& market, SequencerOptions options) : market_(market), options_(options) {
  options_.max_batch = std::clamp<size_t>(options_.max_batch, 1, kMaxBatchCommands);
  options_.max_queue = std::max<size_t>(options_.max_queue, 1);
  if (options_.pipeline > 0) writer_ = std::thread([this] { write_loop(); });
  thread_ = std::thread([this] { loop(); });
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

bool Sequencer::try_submit(Command command, Callback done) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= options_.max_queue || stopping_) return false;
    queue_.push_back(Job{std::move(command), {}, std::move(done)});
  }
  work_.notify_one();
  return true;
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

void Sequencer::loop() {
  std::vector<Job> jobs;
  std::vector<Command> commands;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      work_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;  // stopping and drained
      const size_t n = std::min(queue_.size(), options_.max_batch);
      for (size_t k = 0; k < n; ++k) {
        jobs.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    room_.notify_all();
    if (options_.pipeline > 0) {
      // A failed write: wait until everything decided on top of it has failed, then start again
      // from what the ledger holds.
      std::unique_lock wl(wmu_);
      if (poisoned_) {
        written_.wait(wl, [&] { return writing_.empty() && !writer_busy_; });
        poisoned_ = false;
        wl.unlock();
        (void)market_.rebuild();
      }
    }
    commands.clear();
    for (auto& j : jobs) commands.push_back(std::move(j.command));
    Decision d{market_.decide_batch(commands), std::move(jobs)};
    jobs.clear();
    if (options_.pipeline == 0) {
      write(d);
      continue;
    }
    {
      std::unique_lock wl(wmu_);
      written_.wait(wl, [&] { return writing_.size() < options_.pipeline; });
      writing_.push_back(std::move(d));
    }
    decided_.notify_one();
  }
  {
    std::lock_guard wl(wmu_);
    decided_all_ = true;
  }
  decided_.notify_one();
}

void Sequencer::write(Decision& d) {
  if (!market_.commit_batch(d.decided)) {
    if (options_.pipeline == 0) {
      (void)market_.rebuild();
    } else {
      std::lock_guard wl(wmu_);
      poisoned_ = true;
    }
  }
  answer(d.jobs, d.decided.results);
}

void Sequencer::write_loop() {
  for (;;) {
    Decision d;
    bool poisoned = false;
    {
      std::unique_lock wl(wmu_);
      decided_.wait(wl, [&] { return decided_all_ || !writing_.empty(); });
      if (writing_.empty()) return;  // everything decided is written
      d = std::move(writing_.front());
      writing_.pop_front();
      writer_busy_ = true;
      poisoned = poisoned_;
    }
    written_.notify_all();
    if (poisoned) {
      // Decided on top of a batch that did not land: nothing of it may be written or answered as
      // if it had been decided on the ledger's state.
      const ubm::Error error = ubm::make_error(ubm::Rejection::STORAGE_ERROR, "ledger", "an earlier write failed; the command was not recorded");
      std::vector<ubm::Result<Outcome>> failed;
      failed.reserve(d.jobs.size());
      for (size_t k = 0; k < d.jobs.size(); ++k) failed.emplace_back(error);
      answer(d.jobs, failed);
    } else {
      write(d);
    }
    {
      std::lock_guard wl(wmu_);
      writer_busy_ = false;
    }
    written_.notify_all();
  }
}

}  // namespace slap::market
