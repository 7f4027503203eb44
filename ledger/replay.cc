// replay(): rebuilds projections from the whole log on two threads. A reader thread scans the
// log and copies its records, as they are, into batches; the caller's thread checks and decodes
// each batch's records exactly as scan_log() does (header, key, consecutive seqs, the entry decodes
// and names its own seq) and applies the batch to every projection, in log order — the same
// batches-in-order contract the live ledger feeds them with. Scanning (block reads, checksums,
// decompression, copies) and folding then overlap instead of adding up, and a projection's
// per-call work (its lock, the virtual call, billing's rating) is paid once per batch, not once
// per entry.
//
// Why the decoding is on the caller's thread (profiled on billing_bench, 3M usage movements): a
// Cap'n Proto reader is a few hundred bytes of arena per entry, and a view reads through it. Built
// by the reader thread, 3,072 of them went round between the two cores; the reader then spent
// more than twice what the scan costs and bounded the replay, while the folding thread waited.
// Decoded where they are read, 1,024 decoders stay in that core's cache.
//
// Bounded: kBatches batches exist, each of at most kBatchEntries entries and kBatchBytes of
// records (more only for a single larger record), so the reader runs at most kBatches - 1 batches
// ahead and memory does not grow with the log.
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "ledger/ledger.h"
#include "ledger/record.h"

namespace slap::ledger {
namespace {

constexpr size_t kBatchEntries = 1024;
constexpr size_t kBatchBytes = 1 << 20;
constexpr size_t kBatches = 3;

struct Batch {
  kj::Array<capnp::word> bytes = kj::heapArray<capnp::word>(kBatchBytes / sizeof(capnp::word));
  size_t used = 0;  // words of `bytes` holding records (each copied to a word boundary)
  struct Record {
    char key[kKeySize];
    uint8_t key_size;  // 0 for a key longer than a log key: decode() refuses it as it is
    size_t word;       // where the record starts in `bytes`
    size_t size;       // bytes
  };
  std::vector<Record> records;
  bool end = false;    // nothing follows this batch
  ubm::Status status;  // why the log ended after `records`: ok, or a storage error
  Batch() { records.reserve(kBatchEntries); }
};

// The batches go round: free -> reader fills -> full -> caller applies -> free.
class Rotation {
 public:
  explicit Rotation(std::span<Batch> batches) {
    for (auto& b : batches) free_.push_back(&b);
  }
  // nullptr once stopped.
  Batch* take_free() { return take(free_); }
  Batch* take_full() { return take(full_); }
  void give_free(Batch* b) { give(free_, b); }
  void give_full(Batch* b) { give(full_, b); }
  void stop() {
    std::lock_guard lock(mu_);
    stopped_ = true;
    cv_.notify_all();
  }

 private:
  Batch* take(std::deque<Batch*>& q) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return stopped_ || !q.empty(); });
    if (stopped_) return nullptr;
    Batch* b = q.front();
    q.pop_front();
    return b;
  }
  void give(std::deque<Batch*>& q, Batch* b) {
    std::lock_guard lock(mu_);
    q.push_back(b);
    cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch*> free_, full_;
  bool stopped_ = false;
};

ubm::Error missing(ubm::Seq seq) {
  return ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, "seq " + std::to_string(seq.value()), "entry missing from the log");
}

// The reader thread: fills batches with the records from seq 1 to the end of the log, as stored.
void read_log(const Storage& storage, Rotation& rotation) {
  auto c = storage.cursor(Family::log);
  c->seek(key_of(ubm::Seq{1}));
  for (;;) {
    Batch* b = rotation.take_free();
    if (b == nullptr) return;  // the caller stopped
    b->used = 0;
    b->records.clear();
    b->status = {};
    for (; c->valid() && b->records.size() < kBatchEntries; c->next()) {
      const std::string_view key = c->key(), record = c->value();
      const size_t words = (record.size() + sizeof(capnp::word) - 1) / sizeof(capnp::word);
      if (b->used + words > b->bytes.size()) {
        if (!b->records.empty()) break;  // full: this record opens the next batch
        b->bytes = kj::heapArray<capnp::word>(words);
      }
      Batch::Record& r = b->records.emplace_back();
      r.key_size = key.size() <= kKeySize ? static_cast<uint8_t>(key.size()) : 0;
      std::memcpy(r.key, key.data(), r.key_size);
      r.word = b->used;
      r.size = record.size();
      std::memcpy(b->bytes.begin() + b->used, record.data(), record.size());
      b->used += words;
    }
    if (!c->valid()) {
      b->end = true;
      b->status = c->status();
    }
    const bool end = b->end;
    rotation.give_full(b);
    if (end) return;
  }
}

// Stops and joins the reader however the caller's loop ends (an error, an exception).
struct ReaderThread {
  Rotation& rotation;
  std::thread thread;
  ~ReaderThread() {
    rotation.stop();
    thread.join();
  }
};

}  // namespace

ubm::Result<ReplayReport> replay(const Storage& storage, std::span<Projection* const> projections,
                                 const std::function<void(ubm::Seq)>& progress, ReplayReader reader_kind) {
  for (auto* p : projections) p->reset();
  ReplayReport report;
  if (reader_kind == ReplayReader::inline_) {
    auto s = scan_log(storage, ubm::Seq{1}, ubm::Seq{0}, [&](const EntryView& v) {
      for (auto* p : projections) p->apply(std::span<const EntryView>(&v, 1));
      ++report.entries;
      report.head = v.seq;
      if (progress && (v.seq.value() & 0xffff) == 0) progress(v.seq);
      return true;
    });
    if (!s) return s.error();
    return report;
  }
  auto batches = std::make_unique<Batch[]>(kBatches);
  Rotation rotation(std::span<Batch>(batches.get(), kBatches));
  ReaderThread reader{rotation, std::thread([&storage, &rotation] { read_log(storage, rotation); })};
  // One decoder per entry of a batch: a view reads through its decoder's message reader, and a
  // whole batch of views is alive at once. Not a vector: a decoder cannot move.
  auto decoders = std::make_unique<EntryDecoder[]>(kBatchEntries);
  std::vector<EntryView> views;
  views.reserve(kBatchEntries);
  ubm::Seq expected{1};
  for (;;) {
    Batch* b = rotation.take_full();  // never nullptr: only this thread stops the rotation
    views.clear();
    ubm::Status bad;  // the first record that does not check: the log ends before it
    for (size_t i = 0; i < b->records.size(); ++i) {
      const Batch::Record& r = b->records[i];
      const std::string_view record(reinterpret_cast<const char*>(b->bytes.begin() + r.word), r.size);
      auto view = decoders[i].decode(std::string_view(r.key, r.key_size), record);
      if (!view) {
        bad = view.error();
        break;
      }
      if (view->seq != expected) {
        bad = missing(expected);
        break;
      }
      views.push_back(*view);
      expected = ubm::next(expected);
    }
    if (!views.empty()) {
      const std::span<const EntryView> applied(views);
      kj::Maybe<kj::Exception> ex = kj::runCatchingExceptions([&]() {
        for (auto* p : projections) p->apply(applied);
      });
      if (ex != nullptr) {
        // A projection hit a malformed field somewhere in this batch; which entry is not known.
        const std::string first = std::to_string(applied.front().seq.value()), last = std::to_string(applied.back().seq.value());
        return ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, first == last ? "seq " + first : "seq " + first + ".." + last,
                               "entry content does not decode");
      }
      const ubm::Seq before = report.head;
      report.entries += applied.size();
      report.head = applied.back().seq;
      if (progress && (report.head.value() >> 16) != (before.value() >> 16)) progress(report.head);
    }
    if (!bad) return bad.error();
    if (b->end) {
      if (!b->status) return b->status.error();
      return report;
    }
    rotation.give_free(b);
  }
}

}  // namespace slap::ledger
