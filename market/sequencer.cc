#include "market/sequencer.h"

#include <algorithm>

namespace slap::market {

Sequencer::Sequencer(Market& market, SequencerOptions options) : market_(market), options_(options) {
  options_.max_batch = std::clamp<size_t>(options_.max_batch, 1, kMaxBatchCommands);
  options_.max_queue = std::max<size_t>(options_.max_queue, 1);
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

void Sequencer::loop() {
  std::vector<Job> jobs;
  std::vector<Command> commands;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      work_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      const size_t n = std::min(queue_.size(), options_.max_batch);
      for (size_t k = 0; k < n; ++k) {
        jobs.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    room_.notify_all();
    commands.clear();
    for (auto& j : jobs) commands.push_back(std::move(j.command));
    auto results = market_.execute_batch(commands);
    for (size_t k = 0; k < jobs.size(); ++k) {
      if (jobs[k].callback) {
        jobs[k].callback(std::move(results[k]));
      } else {
        jobs[k].done.set_value(std::move(results[k]));
      }
    }
    jobs.clear();
  }
}

}  // namespace slap::market
