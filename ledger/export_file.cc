#include "ledger/export_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "ledger/little_endian.h"
#include "ledger/record.h"

namespace slap::ledger {
namespace {

ubm::Error export_failed(std::string detail) { return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "export", std::move(detail)); }

// header := magic[16] version:u32 record-version:u32 frame-count:u64
std::string header(uint64_t frames) {
  std::string h(kExportHeaderSize, '\0');
  std::memcpy(h.data(), kExportMagic.data(), kExportMagic.size());
  le::put32(h.data() + 16, kExportVersion);
  le::put32(h.data() + 20, kRecordVersion);
  le::put64(h.data() + 24, frames);
  return h;
}

// One frame: the log key as stored, then the record.
struct Frame {
  std::string_view key;
  std::string_view record;
};

class ExportCursor final : public Cursor {
 public:
  explicit ExportCursor(const std::vector<Frame>* frames) : frames_(frames), at_(frames ? frames->size() : 0) {}
  void seek(std::string_view key) override {
    if (!frames_) return;
    at_ = static_cast<size_t>(std::lower_bound(frames_->begin(), frames_->end(), key, [](const Frame& f, std::string_view k) { return f.key < k; }) -
                              frames_->begin());
  }
  void seek_to_first() override { at_ = 0; }
  void seek_to_last() override { at_ = size() == 0 ? 0 : size() - 1; }
  bool valid() const override { return at_ < size(); }
  void next() override { ++at_; }
  void prev() override { at_ = at_ == 0 ? size() : at_ - 1; }
  std::string_view key() const override { return (*frames_)[at_].key; }
  std::string_view value() const override { return (*frames_)[at_].record; }
  ubm::Status status() const override { return {}; }

 private:
  size_t size() const { return frames_ ? frames_->size() : 0; }
  const std::vector<Frame>* frames_;
  size_t at_;
};

// The mapped file; the frames point into it.
class ExportStorage final : public Storage {
 public:
  ExportStorage(const char* base, size_t size, std::vector<Frame> frames) : base_(base), size_(size), frames_(std::move(frames)) {}
  ~ExportStorage() override {
    if (base_ != nullptr) munmap(const_cast<char*>(base_), size_);
  }
  ubm::Status write(const WriteBatch&, Sync) override { return export_failed("an export file is read-only"); }
  ubm::Result<std::optional<std::string>> get(Family f, std::string_view key) const override {
    if (f != Family::log) return std::optional<std::string>();
    ExportCursor c(&frames_);
    c.seek(key);
    if (!c.valid() || c.key() != key) return std::optional<std::string>();
    return std::optional<std::string>(std::string(c.value()));
  }
  std::unique_ptr<Cursor> cursor(Family f) const override { return std::make_unique<ExportCursor>(f == Family::log ? &frames_ : nullptr); }

 private:
  const char* base_;
  size_t size_;
  std::vector<Frame> frames_;
};

// fsync of a file or a directory by name (read-only descriptors sync as well on Linux).
bool fsync_path(const std::filesystem::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

ExportOpenError malformed(size_t offset, const std::string& what) {
  return {ExportOpenFailure::malformed, "malformed export at byte " + std::to_string(offset) + ": " + what};
}

}  // namespace

ubm::Result<ExportReport> write_export(const Storage& storage, const std::filesystem::path& out,
                                       const std::function<void(ubm::Seq)>& progress) {
  const std::filesystem::path tmp = out.string() + ".tmp";
  std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
  if (!f) return export_failed("cannot write " + tmp.string());
  f.write(header(0).data(), kExportHeaderSize);  // the frame count is patched in at the end
  ExportReport report;
  report.bytes = kExportHeaderSize;
  auto c = storage.cursor(Family::log);
  for (c->seek_to_first(); c->valid(); c->next()) {
    const std::string_view key = c->key(), record = c->value();
    if (key.size() != kKeySize || record.size() > UINT32_MAX) return export_failed("a stored log key or record has an impossible size");
    char frame[kExportFrameHeaderSize] = {};
    std::memcpy(frame, key.data(), kKeySize);
    le::put32(frame + 8, static_cast<uint32_t>(record.size()));
    f.write(frame, sizeof frame);
    f.write(record.data(), static_cast<std::streamsize>(record.size()));
    // Records are whole words (FORMAT.md), so every record starts 8-byte aligned in the file and
    // the reader decodes it in place; a record that is not stays readable (verify reports it).
    const size_t pad = (8 - record.size() % 8) % 8;
    if (pad != 0) f.write("\0\0\0\0\0\0\0", static_cast<std::streamsize>(pad));
    ++report.entries;
    report.bytes += sizeof frame + record.size() + pad;
    if (auto seq = decode_key(key)) report.head = *seq;
    if (progress && (report.entries & 0xffff) == 0) progress(report.head);
  }
  if (auto s = c->status(); !s) return s.error();
  f.seekp(0);
  f.write(header(report.entries).data(), kExportHeaderSize);
  f.flush();
  if (!f) return export_failed("writing " + tmp.string() + " failed");
  f.close();
  // The auditor's copy is whole on disk before it takes its name (and the name is on disk too).
  if (!fsync_path(tmp)) return export_failed("cannot sync " + tmp.string() + ": " + std::strerror(errno));
  std::error_code ec;
  std::filesystem::rename(tmp, out, ec);
  if (ec) return export_failed("cannot rename " + tmp.string() + ": " + ec.message());
  const auto dir = out.parent_path().empty() ? std::filesystem::path(".") : out.parent_path();
  if (!fsync_path(dir)) return export_failed("cannot sync " + dir.string() + ": " + std::strerror(errno));
  return report;
}

std::variant<std::shared_ptr<Storage>, ExportOpenError> open_export(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ExportOpenError{ExportOpenFailure::unreadable, "cannot open " + file.string() + ": " + std::strerror(errno)};
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    return ExportOpenError{ExportOpenFailure::unreadable, "cannot stat " + file.string()};
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < kExportHeaderSize) {
    ::close(fd);
    return malformed(0, "shorter than the 32-byte header");
  }
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return ExportOpenError{ExportOpenFailure::unreadable, "cannot map " + file.string()};
  const char* base = static_cast<const char*>(map);
  auto fail = [&](size_t offset, const std::string& what) -> ExportOpenError {
    munmap(map, size);
    return malformed(offset, what);
  };
  if (std::string_view(base, kExportMagic.size()) != kExportMagic) return fail(0, "not a slapledger export (magic)");
  if (le::get(base + 16, 4) != kExportVersion) return fail(16, "unknown export version");
  if (le::get(base + 20, 4) != kRecordVersion) return fail(20, "unknown record version");
  const uint64_t count = le::get(base + 24, 8);
  if (count > (size - kExportHeaderSize) / kExportFrameHeaderSize) return fail(24, "frame count larger than the file");
  std::vector<Frame> frames;
  frames.reserve(count);
  size_t at = kExportHeaderSize;
  for (uint64_t i = 0; i < count; ++i) {
    if (size - at < kExportFrameHeaderSize) return fail(at, "truncated frame header");
    const std::string_view key(base + at, kKeySize);
    const uint64_t length = le::get(base + at + 8, 4);
    if (le::get(base + at + 12, 4) != 0) return fail(at + 12, "non-zero frame padding");
    if (!frames.empty() && key <= frames.back().key) return fail(at, "keys out of order");
    at += kExportFrameHeaderSize;
    const size_t pad = (8 - length % 8) % 8;
    if (size - at < length + pad) return fail(at, "truncated record");
    frames.push_back({key, std::string_view(base + at, length)});
    for (size_t k = 0; k < pad; ++k) {
      if (base[at + length + k] != 0) return fail(at + length + k, "non-zero record padding");
    }
    at += length + pad;
  }
  if (at != size) return fail(at, "bytes after the last of " + std::to_string(count) + " frames");
  return std::shared_ptr<Storage>(std::make_shared<ExportStorage>(base, size, std::move(frames)));
}

}  // namespace slap::ledger
