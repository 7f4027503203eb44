#pragma once
// A progress bar on stderr when it is a terminal; silent otherwise (scripts, CI logs).
#include <chrono>
#include <cstdint>
#include <string>

namespace slap::ctl {

class Progress {
 public:
  Progress(std::string label, uint64_t total);
  ~Progress();
  void update(uint64_t done);
  void finish();

 private:
  std::string label_;
  uint64_t total_;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace slap::ctl
