#pragma once
// The master's signed checkpoints: at a fixed interval, on its own thread (never an I/O thread),
// it signs (head seq, chain hash at head) with the CA key and hands the signature to the market,
// the single writer, which records it as a Checkpoint entry. Nothing is signed when no entry was
// appended since the latest checkpoint. On shutdown the master calls prepare() once more itself.
//
//   CheckpointSigner signer(ledger, signed_head, authority, sequencer, std::chrono::seconds(60));
//   ...  signer.stop();   // joins the thread; idempotent
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "ledger/ledger.h"
#include "ledger/signed_head.h"
#include "market/sequencer.h"
#include "slapd/ca/certificate_authority.h"

namespace slap::slapd {

class CheckpointSigner {
 public:
  CheckpointSigner(const ledger::Ledger& ledger, const ledger::SignedHead& signed_head, const ca::CertificateAuthority& authority,
                   market::Sequencer& sequencer, std::chrono::milliseconds interval);
  ~CheckpointSigner();
  CheckpointSigner(const CheckpointSigner&) = delete;
  CheckpointSigner& operator=(const CheckpointSigner&) = delete;

  void stop();

  // The signed current head as a command for the market; nullopt when the newest entry already is
  // a checkpoint (or the log is empty). Any thread.
  ubm::Result<std::optional<market::RecordCheckpoint>> prepare() const;

 private:
  void loop();

  const ledger::Ledger& ledger_;
  const ledger::SignedHead& signed_head_;
  const ca::CertificateAuthority& authority_;
  market::Sequencer& sequencer_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace slap::slapd
