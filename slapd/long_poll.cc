#include "slapd/long_poll.h"

namespace slap::slapd {

LongPoll::LongPoll(size_t max_waiters) : max_(max_waiters), thread_([this] { loop(); }) {}

LongPoll::~LongPoll() { close(); }

void LongPoll::close() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool LongPoll::wait(std::chrono::steady_clock::time_point deadline, Changed changed, Fire fire) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || waiters_.size() >= max_) return false;
    waiters_.push_back(Waiter{deadline, std::move(changed), std::move(fire)});
    dirty_ = true;  // check it once now: the change may have happened before it was parked
  }
  cv_.notify_all();
  return true;
}

void LongPoll::notify() {
  {
    std::lock_guard lock(mu_);
    if (waiters_.empty() || stopping_) return;
    dirty_ = true;
  }
  cv_.notify_all();
}

size_t LongPoll::waiting() const {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

void LongPoll::loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    auto next = std::chrono::steady_clock::time_point::max();
    for (const auto& w : waiters_) next = std::min(next, w.deadline);
    cv_.wait_until(lock, next, [&] { return stopping_ || dirty_ || std::chrono::steady_clock::now() >= next; });
    const bool check = dirty_;
    dirty_ = false;
    const auto now = std::chrono::steady_clock::now();
    std::list<std::pair<Fire, bool>> due;
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      const bool changed = (check || stopping_) && it->changed();
      if (changed || stopping_ || it->deadline <= now) {
        due.emplace_back(std::move(it->fire), changed);
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
    const bool stop = stopping_;
    lock.unlock();
    for (auto& [fire, changed] : due) fire(changed);
    lock.lock();
    if (stop && waiters_.empty()) return;
  }
}

}  // namespace slap::slapd
