#pragma once
// Projection of the master's signed checkpoints (schema SignedCheckpoint): the latest one and how
// many the log holds. The master reads it to skip signing when nothing was appended since its last
// checkpoint and to answer GET /v1/ledger/head. It knows nothing of keys or signatures' validity:
// `slapctl ledger verify --ca` checks those.
// Thread-safe: readers take a shared lock.
#include <optional>
#include <shared_mutex>

#include "ledger/projection.h"
#include "ubm/model.h"

namespace slap::ledger {

class SignedHead final : public Projection {
 public:
  struct Latest {
    ubm::Seq entry;             // seq of the checkpoint entry itself
    ubm::TimestampNs recorded;  // its timestamp
    ubm::Checkpoint checkpoint; // what it attests (seq < entry) and the signature
  };

  std::string_view name() const override { return "signed_head"; }
  void apply(std::span<const EntryView> entries) override;
  ubm::Seq last_applied() const override;
  std::string snapshot() const override;
  [[nodiscard]] ubm::Status restore(std::string_view snapshot, ubm::Seq last_applied) override;
  void reset() override;

  std::optional<Latest> latest() const;
  uint64_t count() const;

 private:
  mutable std::shared_mutex mu_;
  std::optional<Latest> latest_;
  uint64_t count_ = 0;
  ubm::Seq last_{0};
};

}  // namespace slap::ledger
