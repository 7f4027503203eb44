#include "slapd/ctl/progress.h"

#include <unistd.h>

#include <cstdio>

namespace slap::ctl {

Progress::Progress(std::string label, uint64_t total)
    : label_(std::move(label)), total_(total), enabled_(isatty(STDERR_FILENO) == 1), start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() { finish(); }

void Progress::update(uint64_t done) {
  if (!enabled_ || total_ == 0) return;
  constexpr int kWidth = 40;
  const double fraction = done >= total_ ? 1.0 : static_cast<double>(done) / static_cast<double>(total_);
  const int filled = static_cast<int>(fraction * kWidth);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(stderr, "\r%s [%.*s%*s] %3d%% %llu/%llu %.0f/s", label_.c_str(), filled, "########################################",
               kWidth - filled, "", static_cast<int>(fraction * 100), static_cast<unsigned long long>(done),
               static_cast<unsigned long long>(total_), secs > 0 ? static_cast<double>(done) / secs : 0.0);
  std::fflush(stderr);
}

void Progress::finish() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  update(total_);
  std::fputc('\n', stderr);
}

}  // namespace slap::ctl
