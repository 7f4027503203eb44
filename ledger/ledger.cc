#include "ledger/ledger.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <thread>

#include <boost/container_hash/hash.hpp>
#include <boost/unordered/unordered_flat_map.hpp>

#include <capnp/message.h>

#include "ledger/record.h"
#include "ubm/codec.h"
#include "ubm/validate.h"

namespace slap::ledger {
namespace {

constexpr uint32_t kFirstSegmentWords = 128;  // 1 KiB: a typical entry (an allocation: ~700 B) fits in one segment
// Buffers kept for the next append or group (the market's batches stay under 50,000 entries);
// larger ones are given back once written.
constexpr size_t kKeptSegmentWords = size_t{64} * 1024 * kFirstSegmentWords;  // 64 Ki entries: 64 MiB

ubm::Error storage_failed(std::string detail) {
  return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "", std::move(detail));
}

// References of a group-commit batch resolve against the directory plus the ids registered by the
// writers earlier in the same group (not yet applied to the directory).
class GroupResolver final : public ubm::Resolver {
 public:
  // Reads the directory under one shared lock for the group's whole validation (see lead()).
  explicit GroupResolver(const Directory& d) : dir_(d) {}
  std::optional<ubm::NodeKind> node_kind(std::string_view id) const override {
    // Most groups register no node at all: no hashing of the id for an empty map.
    if (!nodes_.empty()) {
      if (auto it = nodes_.find(id); it != nodes_.end()) return it->second;
    }
    return dir_.node_kind(id);
  }
  std::optional<ubm::ItemKind> item_kind(std::string_view id) const override {
    if (!items_.empty()) {
      if (auto it = items_.find(id); it != items_.end()) return it->second;
    }
    return dir_.item_kind(id);
  }
  void add(std::span<const ubm::EntryBody> bodies) {
    for (const auto& b : bodies) {
      if (const auto* n = std::get_if<ubm::Node>(&b)) nodes_.emplace(n->id.value(), n->kind);
      if (const auto* i = std::get_if<ubm::Item>(&b)) items_.emplace(i->id.value(), i->kind);
      if (const auto* m = std::get_if<ubm::Movement>(&b)) {
        for (const auto& i : m->registers) items_.emplace(i.id.value(), i.kind);
      }
    }
  }

 private:
  Directory::LockedReader dir_;
  boost::unordered_flat_map<std::string_view, ubm::NodeKind, boost::hash<std::string_view>> nodes_;
  boost::unordered_flat_map<std::string_view, ubm::ItemKind, boost::hash<std::string_view>> items_;
};

// A checkpoint's stored value: the last applied seq (u64 little-endian), then the snapshot. Built in
// place in the batch: a snapshot can be tens of megabytes, and each copy of it touches fresh pages.
void put_checkpoint(WriteBatch& batch, std::string_view name, ubm::Seq seq, std::string_view snap) {
  char* out = batch.put_uninitialized(Family::checkpoints, name, 8 + snap.size());
  const uint64_t last = seq.value();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((last >> (8 * i)) & 0xff);
  if (!snap.empty()) std::memcpy(out + 8, snap.data(), snap.size());
}

}  // namespace

struct Ledger::Writer {
  std::span<const ubm::EntryBody> bodies;
  std::deque<capnp::MallocMessageBuilder> drafts;
  ubm::Status status;
  Appended result{};
  bool done = false;
  bool barrier = false;  // checkpoint(): not an appender; a group never extends past it
  std::condition_variable cv;
};

Ledger::Ledger(LedgerOptions options) : options_(std::move(options)) {
  projections_.push_back(&directory_);
  for (auto* p : options_.projections) projections_.push_back(p);
}

Ledger::~Ledger() {
  // A clean shutdown leaves fresh checkpoints so the next open replays nothing.
  std::unique_lock lock(mu_);
  if (!broken_) (void)write_checkpoints(Sync::yes);
}

ubm::Result<std::unique_ptr<Ledger>> Ledger::open(LedgerOptions options) {
  if (!options.storage) return storage_failed("no storage given");
  if (options.clock == nullptr) return storage_failed("no clock given");
  std::unique_ptr<Ledger> ledger(new Ledger(std::move(options)));
  if (auto s = ledger->recover(); !s) return s.error();
  return ledger;
}

ubm::Status Ledger::recover() {
  Storage& storage = *options_.storage;
  // 1. Drop a torn batch at the tail: records whose batch continues past the last stored record
  // were never acknowledged (RocksDB writes are atomic; other stores may not be).
  {
    auto c = storage.cursor(Family::log);
    c->seek_to_last();
    if (c->valid()) {
      auto rec = parse_record(c->value());
      auto seq = decode_key(c->key());
      if (!rec || !seq) return storage_failed("the last log record is unreadable");
      if (rec->batch_last > *seq) {
        const ubm::Seq torn = rec->batch_last;
        WriteBatch drop;
        for (; c->valid(); c->prev()) {
          auto r = parse_record(c->value());
          if (!r || r->batch_last != torn) break;
          drop.remove(Family::log, c->key());
        }
        if (auto s = storage.write(drop, Sync::yes); !s) return s;
      }
    }
    if (auto s = c->status(); !s) return s;
  }
  // 2. Find the head.
  {
    auto c = storage.cursor(Family::log);
    c->seek_to_last();
    if (c->valid()) {
      EntryDecoder decoder;
      auto view = decoder.decode(c->key(), c->value());
      if (!view) return view.error();
      head_ = view->seq;
      head_hash_ = view->hash;
      last_timestamp_ = view->timestamp;
    }
  }
  // 3. Restore each projection from its checkpoint, if it is not ahead of the log.
  ubm::Seq from = ubm::next(head_);
  for (auto* p : projections_) {
    p->reset();
    auto cp = storage.get(Family::checkpoints, p->name());
    // A checkpoint the store cannot read (a bad block in its family) is no reason to refuse the
    // log, which is intact: the projection is rebuilt from it, as one that does not parse is.
    if (!cp) {
      stats_.checkpoints_ignored.push_back(std::string(p->name()) + ": " + cp.error().detail);
    } else if (cp->has_value() && (*cp)->size() < 8) {
      stats_.checkpoints_ignored.push_back(std::string(p->name()) + ": too short");
    } else if (cp->has_value()) {
      const std::string& v = **cp;
      uint64_t last = 0;
      for (int i = 7; i >= 0; --i) last = (last << 8) | static_cast<uint8_t>(v[i]);
      if (last > head_.value()) {
        stats_.checkpoints_ignored.push_back(std::string(p->name()) + ": ahead of the log (at " + std::to_string(last) + ")");
      } else if (auto s = p->restore(std::string_view(v).substr(8), ubm::Seq{last}); !s) {
        p->reset();
        stats_.checkpoints_ignored.push_back(std::string(p->name()) + ": " + s.error().detail);
      }
    }
    from = std::min(from, ubm::next(p->last_applied()));
  }
  // 4. Replay the tail each projection has not seen.
  if (from <= head_) {
    auto s = scan_log(storage, from, head_, [&](const EntryView& v) {
      for (auto* p : projections_) {
        if (p->last_applied() < v.seq) p->apply(std::span<const EntryView>(&v, 1));
      }
      return true;
    });
    if (!s) return s;
  }
  return {};
}

ubm::Result<Appended> Ledger::append(std::span<const ubm::EntryBody> batch) {
  auto reject = [&](ubm::Error e) -> ubm::Result<Appended> {
    std::lock_guard lock(mu_);
    ++stats_.rejected;
    return e;
  };
  if (batch.empty()) return reject(ubm::make_error(ubm::Rejection::EMPTY_BATCH, "entries", "nothing to append"));
  if (batch.size() > options_.max_batch_entries) {
    return reject(ubm::make_error(ubm::Rejection::BATCH_TOO_LARGE, "entries",
                                  std::to_string(batch.size()) + " entries exceed the limit of " + std::to_string(options_.max_batch_entries)));
  }
  // Structure and encoding happen on the caller's thread, in parallel with other appenders;
  // only sequencing, reference checks, hashing and the write are serialised.
  // The drafts' first segments are slices of one zeroed buffer, reused by this thread's next
  // append (append returns only once its entries are written and applied), instead of a calloc
  // per entry.
  thread_local std::vector<capnp::word> first_segments;
  first_segments.assign(batch.size() * kFirstSegmentWords, capnp::word{});
  // An append far above the usual (one command's cascade, up to max_batch_entries: a gigabyte of
  // segments) does not leave its buffer with the thread. Declared before the writer, so it runs
  // after the drafts into this buffer are gone.
  struct Release {
    std::vector<capnp::word>& buffer;
    ~Release() {
      if (buffer.capacity() > kKeptSegmentWords) std::vector<capnp::word>().swap(buffer);
    }
  } release{first_segments};
  Writer w;
  w.bodies = batch;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (auto s = ubm::validate_structure_at(batch[i], i); !s) return reject(s.error());
    auto& draft = w.drafts.emplace_back(kj::arrayPtr(first_segments.data() + i * kFirstSegmentWords, kFirstSegmentWords));
    ubm::encode(batch[i], draft.initRoot<schema::Entry>());
  }

  std::unique_lock lock(mu_);
  queue_.push_back(&w);
  w.cv.wait(lock, [&] { return w.done || queue_.front() == &w; });
  if (!w.done) lead(lock, w);
  if (!w.status) {
    ++stats_.rejected;
    return w.status.error();
  }
  return w.result;
}

void Ledger::lead(std::unique_lock<std::mutex>& lock, Writer& self) {
  // Take as many waiting writers as fit in one write; self is first in the queue.
  std::vector<Writer*> group;
  size_t entries = 0;
  for (Writer* x : queue_) {
    if (x->barrier) break;
    if (!group.empty() && entries + x->drafts.size() > options_.max_group_entries) break;
    group.push_back(x);
    entries += x->drafts.size();
  }
  ubm::Seq head = head_;
  Hash hash = head_hash_;
  const bool broken = broken_;
  ubm::TimestampNs ts = std::max(options_.clock->now(), last_timestamp_);
  lock.unlock();

  // Leadership is exclusive until the group is popped below: hasher_, projections and the
  // directory are touched by this thread only.
  std::vector<Writer*> accepted;
  std::vector<Hash> hashes;
  hashes.reserve(entries);
  WriteBatch& batch = batch_;  // reused: keeps its capacity across groups
  batch.clear();
  // Holds the directory's shared lock until reset below, before the projections apply the group
  // (the directory's apply locks it exclusively on this thread).
  std::optional<GroupResolver> resolver(std::in_place, directory_);
  char key[kKeySize];
  uint64_t record_bytes = 0;
  for (Writer* x : group) {
    if (broken) {
      x->status = storage_failed("an earlier write failed; the ledger must be reopened");
      continue;
    }
    if (auto s = ubm::validate_references(x->bodies, *resolver); !s) {
      x->status = s;
      continue;
    }
    resolver->add(x->bodies);
    const ubm::Seq first = ubm::next(head);
    const ubm::Seq last{head.value() + x->drafts.size()};
    for (auto& draft : x->drafts) {
      head = ubm::next(head);
      auto root = draft.getRoot<schema::Entry>();
      root.setSeq(head.value());
      root.setTimestampNs(ts.value());
      auto segments = draft.getSegmentsForOutput();
      encode_key(head, key);
      const size_t record_size = kRecordHeaderSize + flat_array_size(segments);
      char* out = batch.put_uninitialized(Family::log, std::string_view(key, kKeySize), record_size);
      record_bytes += record_size;
      hash = write_record(hasher_, hash, last, segments, out);
      hashes.push_back(hash);
    }
    x->result = Appended{first, last, ts};
    accepted.push_back(x);
  }
  resolver.reset();

  ubm::Status written;
  if (!batch.empty()) {
    written = options_.storage->write(batch, Sync(options_.durability == Durability::sync_each_write));
    if (batch.byte_size() > kKeptWriteBytes) batch_ = WriteBatch();
  }
  if (written && !accepted.empty()) {
    std::vector<EntryView> views;
    views.reserve(hashes.size());
    size_t h = 0;
    for (Writer* x : accepted) {
      for (auto& draft : x->drafts) {
        auto r = draft.getRoot<schema::Entry>().asReader();
        views.push_back(EntryView{ubm::Seq{r.getSeq()}, ts, hashes[h++], r});
      }
    }
    for (auto* p : projections_) p->apply(views);
    since_checkpoint_ += views.size();
    if (options_.checkpoint_every != 0 && since_checkpoint_ >= options_.checkpoint_every) {
      since_checkpoint_ = 0;
      // Unsynced is enough: it is ordered after the log write it covers, so a crash can lose the
      // checkpoint but never keep it without its entries.
      (void)write_checkpoints(Sync::no);
    }
  }
  if (!written) {
    // Not "nothing was written": the store may have taken the batch before failing (an fsync
    // error after the log append, or part of it on a store that is not atomic), and the next open
    // keeps what it finds whole. The caller must take the outcome as unknown.
    const ubm::Error unknown = ubm::make_error(ubm::Rejection::STORAGE_ERROR, "ledger",
                                              "the write failed (" + written.error().detail +
                                                  "); whether it reached the disk is unknown: this master writes nothing more until it "
                                                  "is restarted, and keeps the write then if it did (ask again: requests are idempotent)");
    for (Writer* x : accepted) x->status = unknown;
  }

  lock.lock();
  if (!written) {
    // The store may hold part of the batch (a torn write): stop writing until reopened, where
    // recovery drops the torn tail.
    broken_ = true;
  } else if (!accepted.empty()) {
    head_ = head;
    head_hash_ = hash;
    last_timestamp_ = ts;
    ++stats_.writes;
    stats_.entries += hashes.size();
    stats_.bytes += record_bytes;
    stats_.max_group_entries = std::max<uint64_t>(stats_.max_group_entries, hashes.size());
  }
  for (Writer* x : group) {
    queue_.pop_front();
    x->done = true;
    if (x != &self) x->cv.notify_one();
  }
  if (!queue_.empty()) queue_.front()->cv.notify_one();
}

Ledger::CheckpointImage Ledger::capture(unsigned threads) {
  const size_t n = projections_.size();
  last_snapshot_bytes_.resize(n, 0);
  // Largest first: with two threads the biggest projection runs alone while the rest share the
  // other thread (longest-processing-time-first scheduling).
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return last_snapshot_bytes_[a] > last_snapshot_bytes_[b]; });
  std::vector<std::optional<std::pair<ubm::Seq, std::string>>> taken(n);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t k; (k = next.fetch_add(1, std::memory_order_relaxed)) < n;) taken[order[k]] = projections_[order[k]]->checkpoint();
  };
  {
    std::vector<std::jthread> helpers;
    for (unsigned t = 1; t < std::min<size_t>(threads, n); ++t) helpers.emplace_back(work);
    work();
  }
  CheckpointImage image;
  size_t total = 0;
  for (const auto& cp : taken) total += cp ? 8 + cp->second.size() : 0;
  image.batch.reserve(n, total + 64 * n);
  for (size_t i = 0; i < n; ++i) {
    if (!taken[i]) continue;
    last_snapshot_bytes_[i] = taken[i]->second.size();
    image.bytes += taken[i]->second.size();
    put_checkpoint(image.batch, projections_[i]->name(), taken[i]->first, taken[i]->second);
    taken[i].reset();  // tens of megabytes: give them back before the next copy
  }
  return image;
}

ubm::Status Ledger::counted(ubm::Status written, const CheckpointImage& image) {
  if (written) {
    checkpoints_written_.fetch_add(1, std::memory_order_relaxed);
    last_checkpoint_bytes_.store(image.bytes, std::memory_order_relaxed);
  }
  return written;
}

ubm::Status Ledger::write_checkpoint(const CheckpointImage& image) {
  if (image.batch.empty()) return {};
  return counted(options_.storage->write_large(image.batch), image);
}

ubm::Status Ledger::write_checkpoints(Sync sync) {
  // Callers hold mu_ except the leader, whose thread alone writes checkpoints while it leads.
  CheckpointImage image = capture(1);
  if (image.batch.empty()) return {};
  return counted(options_.storage->write(image.batch, sync), image);
}

void Ledger::begin_barrier(std::unique_lock<std::mutex>& lock, Writer& w) {
  // Become the leader's equal: wait until no group is being written; appenders queue behind.
  w.barrier = true;
  queue_.push_back(&w);
  w.cv.wait(lock, [&] { return queue_.front() == &w; });
}

void Ledger::end_barrier() {
  queue_.pop_front();
  if (!queue_.empty()) queue_.front()->cv.notify_one();
}

ubm::Status Ledger::checkpoint() {
  std::unique_lock lock(mu_);
  Writer w;
  begin_barrier(lock, w);
  ubm::Status s = write_checkpoints(Sync::yes);
  end_barrier();
  return s;
}

Ledger::CheckpointImage Ledger::capture_checkpoint(unsigned threads) {
  std::unique_lock lock(mu_);
  Writer w;
  begin_barrier(lock, w);
  // Appenders wait for the barrier's turn to end, not for mu_: head() and stats() still answer.
  lock.unlock();
  CheckpointImage image = capture(threads);
  lock.lock();
  end_barrier();
  return image;
}

ubm::Seq Ledger::head() const {
  std::lock_guard lock(mu_);
  return head_;
}

bool Ledger::writable() const {
  std::lock_guard lock(mu_);
  return !broken_;
}

Hash Ledger::head_hash() const {
  std::lock_guard lock(mu_);
  return head_hash_;
}

size_t Ledger::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

LedgerStats Ledger::stats() const {
  std::lock_guard lock(mu_);
  LedgerStats s = stats_;
  s.checkpoints = checkpoints_written_.load(std::memory_order_relaxed);
  s.last_checkpoint_bytes = last_checkpoint_bytes_.load(std::memory_order_relaxed);
  return s;
}

ubm::Status Ledger::scan(ubm::Seq from, ubm::Seq to, const std::function<bool(const EntryView&)>& fn) const {
  const ubm::Seq head = this->head();
  if (to.value() == 0 || to > head) to = head;
  return scan_log(*options_.storage, from, to, fn);
}

// --- free functions -------------------------------------------------------------------------

ubm::Result<ubm::Seq> stored_head(const Storage& storage) {
  auto c = storage.cursor(Family::log);
  c->seek_to_last();
  if (auto s = c->status(); !s) return s.error();
  if (!c->valid()) return ubm::Seq{0};
  return decode_key(c->key());
}

ubm::Status scan_log(const Storage& storage, ubm::Seq from, ubm::Seq to, const std::function<bool(const EntryView&)>& fn) {
  if (from.value() == 0) from = ubm::Seq{1};
  auto c = storage.cursor(Family::log);
  c->seek(key_of(from));
  EntryDecoder decoder;
  ubm::Seq expected = from;
  bool failed = false;
  ubm::Error error;
  for (; c->valid(); c->next()) {
    auto view = decoder.decode(c->key(), c->value());
    if (!view) return view.error();
    if (to.value() != 0 && view->seq > to) break;
    if (view->seq != expected) {
      return ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, "seq " + std::to_string(expected.value()), "entry missing from the log");
    }
    bool more = true;
    kj::Maybe<kj::Exception> ex = kj::runCatchingExceptions([&]() { more = fn(*view); });
    if (ex != nullptr) {
      failed = true;
      error = ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, "seq " + std::to_string(expected.value()), "entry content does not decode");
      break;
    }
    if (!more) return {};
    expected = ubm::next(expected);
  }
  if (failed) return error;
  if (auto s = c->status(); !s) return s;
  if (to.value() != 0 && expected <= to) {
    return ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, "seq " + std::to_string(expected.value()), "entry missing from the log");
  }
  return {};
}

VerifyReport verify(const Storage& storage, const std::function<void(ubm::Seq)>& progress) {
  VerifyReport report;
  Hasher hasher;
  Hash prev{};
  ubm::Seq expected{1};
  ubm::Seq batch_start{1};
  ubm::Seq batch_last{0};
  auto fail = [&](ubm::Seq at, std::string why) {
    report.ok = false;
    report.first_bad = at;
    report.problem = std::move(why);
  };
  kj::Array<capnp::word> aligned;  // not std::vector: capnp::word is not copyable (clang refuses)
  auto c = storage.cursor(Family::log);
  for (c->seek_to_first(); c->valid(); c->next()) {
    auto seq = decode_key(c->key());
    if (!seq) return fail(expected, "malformed key"), report;
    if (*seq != expected) return fail(expected, "entry missing (next stored is " + std::to_string(seq->value()) + ")"), report;
    auto rec = parse_record(c->value());
    if (!rec) return fail(expected, rec.error().detail), report;
    if (chain_hash(hasher, prev, rec->hashed_header, rec->entry) != rec->hash) return fail(expected, "hash mismatch"), report;
    if (rec->batch_last < expected) return fail(expected, "batch end before the entry itself"), report;
    if (expected > batch_last) {  // first record of a batch
      batch_start = expected;
      batch_last = rec->batch_last;
    } else if (rec->batch_last != batch_last) {
      return fail(expected, "batch boundary mismatch"), report;
    }
    // The entry must decode and name its own seq.
    {
      const std::string_view e = rec->entry;
      const capnp::word* words = reinterpret_cast<const capnp::word*>(e.data());
      if (reinterpret_cast<uintptr_t>(e.data()) % alignof(capnp::word) != 0) {
        if (aligned.size() < e.size() / sizeof(capnp::word)) aligned = kj::heapArray<capnp::word>(e.size() / sizeof(capnp::word));
        std::memcpy(aligned.begin(), e.data(), e.size());
        words = aligned.begin();
      }
      bool ok = false;
      kj::Maybe<kj::Exception> ex = kj::runCatchingExceptions([&]() {
        capnp::FlatArrayMessageReader reader(kj::ArrayPtr<const capnp::word>(words, e.size() / sizeof(capnp::word)));
        const auto root = reader.getRoot<schema::Entry>();
        // Every pointer followed and bounds-checked (Cap'n Proto reads lazily: a body of garbage
        // pointers would otherwise pass here and fail replay later).
        (void)root.totalSize();
        ok = root.getSeq() == expected.value();
      });
      if (ex != nullptr || !ok) return fail(expected, "entry does not decode to its own seq"), report;
    }
    prev = rec->hash;
    report.head = expected;
    report.head_hash = prev;
    ++report.entries;
    report.bytes += c->key().size() + c->value().size();
    if (progress && (expected.value() & 0xffff) == 0) progress(expected);
    expected = ubm::next(expected);
  }
  if (auto s = c->status(); !s) return fail(expected, s.error().to_string()), report;
  if (batch_last > report.head) {
    // The last batch is incomplete: never acknowledged; the ledger drops it when it next opens.
    report.head = ubm::Seq{batch_start.value() - 1};
    return fail(batch_start, "incomplete batch at the tail (ends at " + std::to_string(batch_last.value()) + ")"), report;
  }
  return report;
}

}  // namespace slap::ledger
