#include "ledger/rocksdb_storage.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <array>

namespace slap::ledger {
namespace {

constexpr std::array<const char*, kFamilyCount> kFamilyNames = {"log", "checkpoints", "meta"};

ubm::Error storage_error(const rocksdb::Status& s, std::string_view what) {
  return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "", std::string(what) + ": " + s.ToString());
}

rocksdb::Slice slice(std::string_view v) { return rocksdb::Slice(v.data(), v.size()); }

class RocksCursor final : public Cursor {
 public:
  explicit RocksCursor(std::unique_ptr<rocksdb::Iterator> it) : it_(std::move(it)) {}
  void seek(std::string_view key) override { it_->Seek(slice(key)); }
  void seek_to_first() override { it_->SeekToFirst(); }
  void seek_to_last() override { it_->SeekToLast(); }
  bool valid() const override { return it_->Valid(); }
  void next() override { it_->Next(); }
  void prev() override { it_->Prev(); }
  std::string_view key() const override { return {it_->key().data(), it_->key().size()}; }
  std::string_view value() const override { return {it_->value().data(), it_->value().size()}; }
  ubm::Status status() const override {
    if (it_->status().ok()) return {};
    return storage_error(it_->status(), "iterate");
  }

 private:
  std::unique_ptr<rocksdb::Iterator> it_;
};

class RocksStorage final : public Storage {
 public:
  RocksStorage(rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> handles) : db_(db), handles_(std::move(handles)) {}
  ~RocksStorage() override {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    delete db_;
  }

  ubm::Status write(const WriteBatch& batch, Sync sync) override {
    // Reused per thread: a fresh multi-megabyte buffer per write costs page faults, not copies.
    thread_local rocksdb::WriteBatch wb;
    if (auto s = convert(batch, wb); !s) return s;
    rocksdb::WriteOptions wo;
    wo.sync = static_cast<bool>(sync);
    const auto s = db_->Write(wo, &wb);
    // Clear() keeps the capacity: a cascade's would stay with the thread for good.
    if (wb.GetDataSize() > kKeptWriteBytes) wb = rocksdb::WriteBatch();
    if (!s.ok()) return storage_error(s, "write");
    return {};
  }

  // Writes of one group share one write-ahead-log append: a 54 MB checkpoint there made every
  // log write queued behind it wait for 54 MB to be written and synced (150-240 ms under HTTP
  // load). Without the WAL the batch only enters the memtable; the flush then writes it to its
  // own table file on RocksDB's background thread while log writes go on.
  ubm::Status write_large(const WriteBatch& batch) override {
    rocksdb::WriteBatch wb;
    if (auto s = convert(batch, wb); !s) return s;
    rocksdb::WriteOptions wo;
    wo.disableWAL = true;
    if (const auto s = db_->Write(wo, &wb); !s.ok()) return storage_error(s, "write");
    std::array<bool, kFamilyCount> touched{};
    for (size_t i = 0; i < batch.size(); ++i) touched[static_cast<size_t>(batch.op(i).family)] = true;
    std::vector<rocksdb::ColumnFamilyHandle*> flush;
    for (size_t f = 0; f < kFamilyCount; ++f) {
      if (touched[f]) flush.push_back(handle(static_cast<Family>(f)));
    }
    rocksdb::FlushOptions fo;
    fo.wait = true;
    fo.allow_write_stall = true;  // never wait for a stall to clear first: this is what clears it
    if (const auto s = db_->Flush(fo, flush); !s.ok()) return storage_error(s, "flush");
    return {};
  }

  ubm::Result<std::optional<std::string>> get(Family f, std::string_view key) const override {
    std::string value;
    const auto s = db_->Get(rocksdb::ReadOptions(), handle(f), slice(key), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return storage_error(s, "get");
    return std::optional<std::string>(std::move(value));
  }

  std::unique_ptr<Cursor> cursor(Family f) const override {
    rocksdb::ReadOptions ro;
    ro.readahead_size = 2 << 20;  // scans are sequential: replay, verify, dump
    ro.fill_cache = false;
    return std::make_unique<RocksCursor>(std::unique_ptr<rocksdb::Iterator>(db_->NewIterator(ro, handle(f))));
  }

 private:
  rocksdb::ColumnFamilyHandle* handle(Family f) const { return handles_[1 + static_cast<size_t>(f)]; }
  ubm::Status convert(const WriteBatch& batch, rocksdb::WriteBatch& wb) {
    wb.Clear();
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto op = batch.op(i);
      auto* cf = handle(op.family);
      const auto s = op.is_delete ? wb.Delete(cf, slice(op.key)) : wb.Put(cf, slice(op.key), slice(op.value));
      if (!s.ok()) return storage_error(s, "batch");
    }
    return {};
  }
  rocksdb::DB* db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // [default, log, checkpoints, meta]
};

}  // namespace

ubm::Result<std::shared_ptr<Storage>> open_rocksdb(const std::filesystem::path& dir, RocksDBOptions options) {
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.IncreaseParallelism(2);
  db_options.max_open_files = 512;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  db_options.keep_log_file_num = 4;
  // Every acknowledged write is synced, so only a write in progress at a crash (the WAL's last
  // record) may legitimately be incomplete. RocksDB's default (point in time) stops replaying the
  // WAL at the first bad record wherever it lies and opens anyway: a flipped byte mid-WAL silently
  // dropped acknowledged entries after it (the ledger then reused their sequence numbers) and an
  // auditor's read-only open saw a shorter, still valid-looking log. Here such a WAL refuses to
  // open, naming the corruption; a torn tail is still tolerated.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;

  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.write_buffer_size = 64 << 20;
  // LZ4 at every level, so tables are compressed once, when flushed (on a background thread).
  // With the lower levels alone compressed, RocksDB could not move a table down as it is (a
  // trivial move needs the same compression) and rewrote every table of the log, whose keys only
  // ever grow: under the HTTP allocation load that compaction thread took 2-3% of the master's
  // CPU, and the p999 latency was 59-77 ms against 45-51 ms now (README, HTTP run 12).
  cf_options.compression = rocksdb::kLZ4Compression;
  cf_options.bottommost_compression = rocksdb::kLZ4Compression;
  // Keys are big-endian sequence numbers appended in order: no need for bloom filters on the log.
  rocksdb::BlockBasedTableOptions table;
  table.block_size = 16 << 10;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_options);
  for (const char* name : kFamilyNames) descriptors.emplace_back(name, cf_options);

  std::error_code ec;
  if (options.create_if_missing && !options.read_only) std::filesystem::create_directories(dir, ec);
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s = options.read_only
                          ? rocksdb::DB::OpenForReadOnly(db_options, dir.string(), descriptors, &handles, &db)
                          : rocksdb::DB::Open(db_options, dir.string(), descriptors, &handles, &db);
  if (!s.ok()) return storage_error(s, "open " + dir.string());
  return std::shared_ptr<Storage>(std::make_shared<RocksStorage>(db, std::move(handles)));
}

}  // namespace slap::ledger
