#include "slapd/checkpoint_signer.h"

#include <spdlog/spdlog.h>

namespace slap::slapd {

CheckpointSigner::CheckpointSigner(const ledger::Ledger& ledger, const ledger::SignedHead& signed_head,
                                   const ca::CertificateAuthority& authority, market::Sequencer& sequencer, std::chrono::milliseconds interval)
    : ledger_(ledger), signed_head_(signed_head), authority_(authority), sequencer_(sequencer), interval_(interval) {
  thread_ = std::thread([this] { loop(); });
}

CheckpointSigner::~CheckpointSigner() { stop(); }

void CheckpointSigner::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

ubm::Result<std::optional<market::RecordCheckpoint>> CheckpointSigner::prepare() const {
  const ubm::Seq head = ledger_.head();
  if (head.value() == 0) return std::optional<market::RecordCheckpoint>();
  // The ledger applies an entry to its projections before it moves the head, so when the head is
  // a checkpoint the projection has seen it: nothing new to attest.
  if (auto latest = signed_head_.latest(); latest && latest->entry >= head) return std::optional<market::RecordCheckpoint>();
  // The hash as stored with the head entry: seq and hash come from the same record.
  ledger::Hash hash{};
  bool found = false;
  auto s = ledger_.scan(head, head, [&](const ledger::EntryView& v) {
    hash = v.hash;
    found = true;
    return false;
  });
  if (!s) return s.error();
  if (!found) return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "checkpoint", "the head entry is not readable");
  const std::string hash_bytes(ledger::as_bytes(hash));
  auto signature = authority_.sign(ubm::checkpoint_message(head, hash_bytes));
  if (!signature) return signature.error();
  return std::optional<market::RecordCheckpoint>(market::RecordCheckpoint{ubm::Checkpoint{head, hash_bytes, std::move(*signature)}});
}

void CheckpointSigner::loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    // A timer, not a synchronisation: wake every interval, or at once when stopping.
    if (wake_.wait_for(lock, interval_, [&] { return stopping_; })) return;
    lock.unlock();
    auto command = prepare();
    if (!command) {
      spdlog::warn("signed checkpoint: {}", command.error().to_string());
    } else if (*command) {
      const uint64_t seq = (*command)->checkpoint.seq.value();
      auto recorded = sequencer_.submit(std::move(**command)).get();
      if (!recorded) spdlog::warn("signed checkpoint of seq {} not recorded: {}", seq, recorded.error().to_string());
    }
    lock.lock();
  }
}

}  // namespace slap::slapd
