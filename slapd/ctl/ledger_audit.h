#pragma once
// `slapctl ledger verify --ca`: every signed checkpoint in the log must carry a signature that
// verifies against the CA's public key, over the chain hash the log really has at the attested
// seq. Run after ledger::verify() passed (the stored hashes it reads are then the chain's).
#include <functional>
#include <string>

#include "ledger/storage.h"
#include "ubm/ids.h"

namespace slap::ctl {

struct CheckpointAudit {
  bool ok = true;
  uint64_t verified = 0;       // checkpoints whose signature and hash were checked
  ubm::Seq attested{0};        // highest seq a verified checkpoint attests
  ubm::Seq first_bad{0};       // seq of the first refused checkpoint entry
  std::string problem;
  // The last entry that is not itself a checkpoint: entries after `attested` up to it are signed
  // by no checkpoint, so whoever held the log could have changed, added or removed them (and the
  // chain, which has no secret, would still verify). A master signs every --checkpoint-interval
  // and at shutdown: only a log cut short by a crash, or exported from a running master, ends so.
  ubm::Seq last_fact{0};
  uint64_t unsigned_entries = 0;  // entries that are not checkpoints, after `attested`
  uint64_t unsigned_tail() const { return unsigned_entries; }
};

// `ca_pem`: the CA certificate the auditor trusts. A log without any checkpoint is refused too:
// nothing then says this master wrote it.
CheckpointAudit audit_checkpoints(const ledger::Storage& storage, std::string_view ca_pem,
                                  const std::function<void(ubm::Seq)>& progress = {});

}  // namespace slap::ctl
