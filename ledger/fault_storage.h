#pragma once
// Storage that misbehaves on demand, to prove the ledger loses nothing acknowledged
// (LevelDB's fault_injection_test). It keeps two memories: what the process sees (`live`) and what
// would survive a power cut (`durable`: synced writes only). Faults:
//   fail_next_writes(n)   the next n writes fail and change nothing
//   tear_next_write(k)    the next write persists only its first k operations, then fails
//                         (a crash in the middle of a batch, as a non-atomic store would do)
//   crash()               forget every unsynced write: live becomes durable, as after a restart
//   fail_gets(family)     every get() of that family fails (a bad block under its keys)
//   fail_scans_after(n)   log cursors made from now on fail after n records (a bad block mid-log)
//   clear_faults()        disarm what was armed and did not fire (a batch that wrote nothing),
//                         and the read faults
// Thread-safe.
#include <mutex>

#include "ledger/memory_storage.h"

namespace slap::ledger {

class FaultStorage final : public Storage {
 public:
  ubm::Status write(const WriteBatch& batch, Sync sync) override;
  ubm::Result<std::optional<std::string>> get(Family f, std::string_view key) const override;
  std::unique_ptr<Cursor> cursor(Family f) const override;

  void fail_next_writes(int n);
  void tear_next_write(size_t keep_ops);
  void crash();
  void fail_gets(Family f);
  void fail_scans_after(size_t records);
  void clear_faults();


  size_t writes() const;          // successful writes so far
  size_t synced_writes() const;
  size_t failed_writes() const;
  size_t unsynced_writes() const;  // writes a crash() now would forget

 private:
  mutable std::mutex mu_;
  MemoryStorage live_;
  MemoryStorage durable_;
  std::vector<WriteBatch> unsynced_;  // applied to live_, not yet to durable_
  int fail_next_ = 0;
  std::optional<size_t> tear_next_;
  std::optional<Family> fail_gets_;
  std::optional<size_t> fail_scans_after_;
  size_t writes_ = 0, synced_ = 0, failed_ = 0;
};

}  // namespace slap::ledger
