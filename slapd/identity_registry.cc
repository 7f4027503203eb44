#include "slapd/identity_registry.h"

#include <mutex>

#include "ledger/snapshot_codec.h"

namespace slap::slapd {

void IdentityRegistry::apply(std::span<const ledger::EntryView> entries) {
  std::unique_lock lock(mu_);
  for (const auto& e : entries) {
    last_ = e.seq;
    auto body = e.entry.getBody();
    if (!body.isIdentity()) continue;
    auto id = body.getIdentity();
    std::string serial(id.getSerial().cStr(), id.getSerial().size());
    if (id.getAction() == schema::IdentityAction::ISSUE) {
      Certificate c{std::string(id.getSubject().cStr()), std::string(id.getRole().cStr()), id.getNotAfterNs(), false};
      index(serial, c.subject);
      by_serial_[serial] = std::move(c);
    } else if (auto it = by_serial_.find(serial); it != by_serial_.end()) {
      it->second.revoked = true;
    }
  }
}

ubm::Seq IdentityRegistry::last_applied() const {
  std::shared_lock lock(mu_);
  return last_;
}

std::string IdentityRegistry::snapshot() const {
  std::shared_lock lock(mu_);
  ledger::SnapshotWriter w;
  write(w);
  return w.take();
}

std::vector<ledger::SnapshotRecord> IdentityRegistry::records() const {
  std::shared_lock lock(mu_);
  auto w = ledger::SnapshotWriter::marking();
  write(w);
  return w.records();
}

void IdentityRegistry::write(ledger::SnapshotWriter& w) const {
  w.u64(by_serial_.size());
  for (const auto& [serial, c] : by_serial_) {
    w.mark("certificate", serial);
    w.str(serial);
    w.str(c.subject);
    w.str(c.role);
    w.u64(static_cast<uint64_t>(c.not_after_ns));
    w.u8(c.revoked ? 1 : 0);
  }
}

ubm::Status IdentityRegistry::restore(std::string_view snapshot, ubm::Seq last_applied) {
  reset();
  ledger::SnapshotReader r(snapshot);
  std::map<std::string, Certificate, std::less<>> m;
  for (uint64_t n = r.u64(); r.ok() && n > 0; --n) {
    std::string serial = r.str();
    Certificate c;
    c.subject = r.str();
    c.role = r.str();
    c.not_after_ns = static_cast<int64_t>(r.u64());
    c.revoked = r.u8() != 0;
    m.emplace(std::move(serial), std::move(c));
  }
  std::map<std::string, std::set<std::string>, std::less<>> subjects;
  for (const auto& [serial, c] : m) subjects[c.subject].insert(serial);
  if (!r.ok() || !r.at_end()) return ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, "identities", "truncated snapshot");
  std::unique_lock lock(mu_);
  by_serial_ = std::move(m);
  by_subject_ = std::move(subjects);
  last_ = last_applied;
  return {};
}

void IdentityRegistry::reset() {
  std::unique_lock lock(mu_);
  by_serial_.clear();
  by_subject_.clear();
  last_ = ubm::Seq{0};
}

bool IdentityRegistry::valid(std::string_view serial, std::string_view subject) const {
  std::shared_lock lock(mu_);
  auto it = by_serial_.find(serial);
  return it != by_serial_.end() && !it->second.revoked && it->second.subject == subject;
}

std::optional<IdentityRegistry::Certificate> IdentityRegistry::certificate(std::string_view serial) const {
  std::shared_lock lock(mu_);
  auto it = by_serial_.find(serial);
  if (it == by_serial_.end()) return std::nullopt;
  return it->second;
}

void IdentityRegistry::index(const std::string& serial, const std::string& subject) { by_subject_[subject].insert(serial); }

std::set<std::string> IdentityRegistry::roles(std::string_view subject) const {
  std::shared_lock lock(mu_);
  std::set<std::string> out;
  auto it = by_subject_.find(subject);
  if (it == by_subject_.end()) return out;
  for (const auto& serial : it->second) {
    const auto& c = by_serial_.at(serial);
    if (!c.revoked && !c.role.empty()) out.insert(c.role);
  }
  return out;
}

std::vector<std::string> IdentityRegistry::serials_of(std::string_view subject) const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  auto it = by_subject_.find(subject);
  if (it == by_subject_.end()) return out;
  for (const auto& serial : it->second) {
    if (!by_serial_.at(serial).revoked) out.push_back(serial);
  }
  return out;
}

size_t IdentityRegistry::size() const {
  std::shared_lock lock(mu_);
  return by_serial_.size();
}

}  // namespace slap::slapd
