// replay(): rebuilds projections from the whole log on two threads. A reader thread scans the
// log, checks every record exactly as scan_log() does (header, key, consecutive seqs, the entry
// decodes and names its own seq) and hands over batches of decoded views; the caller's thread
// applies each batch to every projection, in log order — the same batches-in-order contract the
// live ledger feeds them with. Scanning (block reads, checksums, decompression, copies) and
// folding then overlap instead of adding up, and a projection's per-call work (its lock, the
// virtual call) is paid once per batch, not once per entry.
//
// Bounded: kBatches batches exist, each of at most kBatchEntries entries and kBatchBytes of
// records (more only for a single larger record), so the reader runs at most kBatches - 1 batches
// ahead and memory does not grow with the log.
#include <condition_variable>
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
  // One decoder per entry: a view reads through its decoder's message reader, and a whole batch of
  // views is alive at once. Not a vector: a decoder cannot move.
  std::unique_ptr<EntryDecoder[]> decoders = std::make_unique<EntryDecoder[]>(kBatchEntries);
  std::vector<EntryView> views;
  bool end = false;    // nothing follows this batch
  ubm::Status status;  // why the log ended after `views`: ok, or the first bad record
  Batch() { views.reserve(kBatchEntries); }
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

// The reader thread: fills batches from seq 1 to the end of the log, or to the first bad record.
void read_log(const Storage& storage, Rotation& rotation) {
  auto c = storage.cursor(Family::log);
  c->seek(key_of(ubm::Seq{1}));
  ubm::Seq expected{1};
  for (;;) {
    Batch* b = rotation.take_free();
    if (b == nullptr) return;  // the caller stopped
    b->used = 0;
    b->views.clear();
    b->status = {};
    for (; c->valid() && b->views.size() < kBatchEntries; c->next()) {
      const std::string_view record = c->value();
      const size_t words = (record.size() + sizeof(capnp::word) - 1) / sizeof(capnp::word);
      if (b->used + words > b->bytes.size()) {
        if (!b->views.empty()) break;  // full: this record opens the next batch
        b->bytes = kj::heapArray<capnp::word>(words);  // no view points into the old bytes
      }
      char* copy = reinterpret_cast<char*>(b->bytes.begin() + b->used);
      std::memcpy(copy, record.data(), record.size());
      b->used += words;
      auto view = b->decoders[b->views.size()].decode(c->key(), std::string_view(copy, record.size()));
      if (!view) {
        b->status = view.error();
        b->end = true;
        break;
      }
      if (view->seq != expected) {
        b->status = missing(expected);
        b->end = true;
        break;
      }
      b->views.push_back(*view);
      expected = ubm::next(expected);
    }
    if (!b->end && !c->valid()) {
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
  for (;;) {
    Batch* b = rotation.take_full();  // never nullptr: only this thread stops the rotation
    if (!b->views.empty()) {
      const std::span<const EntryView> views(b->views);
      kj::Maybe<kj::Exception> ex = kj::runCatchingExceptions([&]() {
        for (auto* p : projections) p->apply(views);
      });
      if (ex != nullptr) {
        // A projection hit a malformed field somewhere in this batch; which entry is not known.
        const std::string first = std::to_string(views.front().seq.value()), last = std::to_string(views.back().seq.value());
        return ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, first == last ? "seq " + first : "seq " + first + ".." + last,
                               "entry content does not decode");
      }
      const ubm::Seq before = report.head;
      report.entries += views.size();
      report.head = views.back().seq;
      if (progress && (report.head.value() >> 16) != (before.value() >> 16)) progress(report.head);
    }
    if (b->end) {
      if (!b->status) return b->status.error();
      return report;
    }
    rotation.give_free(b);
  }
}

}  // namespace slap::ledger
