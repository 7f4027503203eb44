#pragma once
// Storage on an embedded RocksDB directory: one column family per ledger Family.
#include <filesystem>
#include <memory>

#include "ledger/storage.h"

namespace slap::ledger {

struct RocksDBOptions {
  bool create_if_missing = true;
  bool read_only = false;  // auditors verify and dump without taking the write lock
};

// Opens (or creates) the database at `dir`. Errors (locked, corrupt, permissions) are returned.
ubm::Result<std::shared_ptr<Storage>> open_rocksdb(const std::filesystem::path& dir, RocksDBOptions options = {});

}  // namespace slap::ledger
