#pragma once
// Long polls: requests parked until what they watch changes or their deadline passes. One thread
// re-checks the parked requests whenever notify() says something may have changed (after each
// sequencer batch), and fires those whose deadline passed. Bounded: at most `max_waiters`.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

namespace slap::slapd {

class LongPoll {
 public:
  using Changed = std::function<bool()>;       // true when the watched thing changed
  using Fire = std::function<void(bool changed)>;  // called once, from the long-poll thread

  explicit LongPoll(size_t max_waiters = 10'000);
  ~LongPoll();  // close()
  // Fires every waiter with changed=false and refuses new ones (wait() returns false); joins the
  // thread. The object stays usable (notify() does nothing) until destroyed.
  void close();
  LongPoll(const LongPoll&) = delete;
  LongPoll& operator=(const LongPoll&) = delete;

  // False when full (the caller answers at once instead).
  bool wait(std::chrono::steady_clock::time_point deadline, Changed changed, Fire fire);
  void notify();
  size_t waiting() const;

 private:
  struct Waiter {
    std::chrono::steady_clock::time_point deadline;
    Changed changed;
    Fire fire;
  };
  void loop();

  size_t max_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::list<Waiter> waiters_;
  bool dirty_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace slap::slapd
