#include "slapd/ctl/ledger_audit.h"

#include <algorithm>
#include <deque>

#include "ledger/ledger.h"
#include "ledger/record.h"
#include "slapd/ca/certificate_authority.h"
#include "ubm/model.h"

namespace slap::ctl {
namespace {

std::string bytes(capnp::Data::Reader d) { return std::string(reinterpret_cast<const char*>(d.begin()), d.size()); }

// The chain hash stored in the record at `seq` (verified by ledger::verify beforehand).
ubm::Result<ledger::Hash> hash_at(const ledger::Storage& storage, ubm::Seq seq) {
  auto v = storage.get(ledger::Family::log, ledger::key_of(seq));
  if (!v) return v.error();
  if (!v->has_value()) return ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, "seq " + std::to_string(seq.value()), "no such entry");
  auto rec = ledger::parse_record(**v);
  if (!rec) return rec.error();
  return rec->hash;
}

}  // namespace

CheckpointAudit audit_checkpoints(const ledger::Storage& storage, std::string_view ca_pem, const std::function<void(ubm::Seq)>& progress) {
  CheckpointAudit audit;
  auto refuse = [&](ubm::Seq at, std::string why) {
    audit.ok = false;
    audit.first_bad = at;
    audit.problem = std::move(why);
    return false;
  };
  if (!ca::fingerprint_of_pem(ca_pem)) {
    audit.ok = false;
    audit.problem = "the CA certificate does not parse";
    return audit;
  }
  std::deque<uint64_t> unsigned_facts;  // seqs of the entries (not checkpoints) after the highest attested so far
  auto s = ledger::scan_log(storage, ubm::Seq{1}, ubm::Seq{0}, [&](const ledger::EntryView& v) {
    if (progress && (v.seq.value() & 0xffff) == 0) progress(v.seq);
    auto body = v.entry.getBody();
    if (!body.isCheckpoint()) {
      audit.last_fact = v.seq;
      unsigned_facts.push_back(v.seq.value());
      return true;
    }
    auto c = body.getCheckpoint();
    const ubm::Seq attested{c.getSeq()};
    const std::string head_hash = bytes(c.getHeadHash()), signature = bytes(c.getSignature());
    if (attested.value() == 0 || attested >= v.seq) {
      return refuse(v.seq, "the checkpoint attests seq " + std::to_string(attested.value()) + ", not an earlier entry");
    }
    auto chain = hash_at(storage, attested);
    if (!chain) return refuse(v.seq, "cannot read the attested entry: " + chain.error().to_string());
    if (head_hash != ledger::as_bytes(*chain)) {
      return refuse(v.seq, "the signed hash " + ledger::to_hex(head_hash) + " is not the chain's hash at seq " + std::to_string(attested.value()) +
                               " (" + ledger::to_hex(*chain) + ")");
    }
    if (!ca::verify_signature(ca_pem, ubm::checkpoint_message(attested, head_hash), signature)) {
      return refuse(v.seq, "the signature does not verify against the given CA's key (signed by another key, or altered)");
    }
    ++audit.verified;
    audit.attested = std::max(audit.attested, attested);
    while (!unsigned_facts.empty() && unsigned_facts.front() <= audit.attested.value()) unsigned_facts.pop_front();
    return true;
  });
  audit.unsigned_entries = unsigned_facts.size();
  if (!s && audit.ok) {
    audit.ok = false;
    audit.problem = s.error().to_string();
  }
  if (audit.ok && audit.verified == 0) {
    audit.ok = false;
    audit.problem = "the log holds no signed checkpoint: nothing attests that this CA's master wrote it";
  }
  return audit;
}

}  // namespace slap::ctl
