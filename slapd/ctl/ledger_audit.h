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
};

// `ca_pem`: the CA certificate the auditor trusts. A log without any checkpoint is refused too:
// nothing then says this master wrote it.
CheckpointAudit audit_checkpoints(const ledger::Storage& storage, std::string_view ca_pem,
                                  const std::function<void(ubm::Seq)>& progress = {});

}  // namespace slap::ctl
