#pragma once
// Little helpers to write and read projection snapshots: fixed-width little-endian integers and
// length-prefixed strings. Reading is bounds-checked; a short or malformed snapshot sets !ok().
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace slap::ledger {

// One keyed piece of a projection's state (see Projection::records).
struct SnapshotRecord {
  std::string key;    // printable: "computer COMP-1", or "(head)" for what precedes the first key
  std::string value;  // the record's snapshot bytes; equal states give equal values
  friend bool operator==(const SnapshotRecord&, const SnapshotRecord&) = default;
};

class SnapshotWriter {
 public:
  // A marking writer also remembers where each keyed record starts, so the snapshot can be cut
  // into records (Projection::records). A plain writer ignores marks at the cost of one branch.
  static SnapshotWriter marking() {
    SnapshotWriter w;
    w.marking_ = true;
    return w;
  }
  // The bytes written from here to the next mark belong to the record `kind id`.
  void mark(std::string_view kind, std::string_view id = {}) {
    if (!marking_) return;
    std::string key(kind);
    if (!id.empty()) key.append(" ").append(id);
    marks_.push_back({std::move(key), out_.size()});
  }
  // The snapshot cut at its marks; bytes before the first mark form the record "(head)".
  std::vector<SnapshotRecord> records() const {
    std::vector<SnapshotRecord> out;
    const size_t first = marks_.empty() ? out_.size() : marks_[0].offset;
    if (first > 0) out.push_back({"(head)", out_.substr(0, first)});
    for (size_t i = 0; i < marks_.size(); ++i) {
      const size_t end = i + 1 < marks_.size() ? marks_[i + 1].offset : out_.size();
      out.push_back({marks_[i].key, out_.substr(marks_[i].offset, end - marks_[i].offset)});
    }
    return out;
  }
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u64(uint64_t v) {
    // One append of 8 bytes, not 8 push_backs each checking the capacity: a checkpoint writes
    // millions of these while the deciding thread waits.
    char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    out_.append(b, 8);
  }
  void i128(__int128 v) {
    u64(static_cast<uint64_t>(v));
    u64(static_cast<uint64_t>(static_cast<unsigned __int128>(v) >> 64));
  }
  void str(std::string_view s) {
    u64(s.size());
    out_.append(s);
  }
  // Bytes already in the snapshot's encoding (a projection that keeps its state encoded).
  void raw(std::string_view s) { out_.append(s); }
  void reserve(size_t more) { out_.reserve(out_.size() + more); }
  bool is_marking() const noexcept { return marking_; }
  std::string take() { return std::move(out_); }

 private:
  struct Mark {
    std::string key;
    size_t offset;
  };
  std::string out_;
  bool marking_ = false;
  std::vector<Mark> marks_;
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
