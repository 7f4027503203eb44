#pragma once
// Little helpers to write and read projection snapshots: fixed-width little-endian integers and
// length-prefixed strings. Reading is bounds-checked; a short or malformed snapshot sets !ok().
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace slap::ledger {

class SnapshotWriter {
 public:
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void i128(__int128 v) {
    u64(static_cast<uint64_t>(v));
    u64(static_cast<uint64_t>(static_cast<unsigned __int128>(v) >> 64));
  }
  void str(std::string_view s) {
    u64(s.size());
    out_.append(s);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class SnapshotReader {
 public:
  explicit SnapshotReader(std::string_view in) : in_(in) {}
  uint8_t u8() {
    if (!need(1)) return 0;
    return static_cast<uint8_t>(in_[pos_++]);
  }
  uint64_t u64() {
    if (!need(8)) return 0;
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(in_[pos_ + i]);
    pos_ += 8;
    return v;
  }
  __int128 i128() {
    const uint64_t lo = u64();
    const uint64_t hi = u64();
    return static_cast<__int128>((static_cast<unsigned __int128>(hi) << 64) | lo);
  }
  std::string str() {
    const uint64_t n = u64();
    if (!need(n)) return {};
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  bool ok() const noexcept { return ok_; }
  bool at_end() const noexcept { return pos_ == in_.size(); }

 private:
  bool need(uint64_t n) {
    if (!ok_ || n > in_.size() - pos_) {
      ok_ = false;
      return false;
    }
    return true;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace slap::ledger
