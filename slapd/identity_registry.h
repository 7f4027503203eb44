#pragma once
// Projection of Identity entries: which certificates were issued to whom, with which role, and
// which were revoked. The master consults it on every request (a revoked certificate is refused
// even on an open connection). Thread-safe readers (shared lock).
#include <map>
#include <set>
#include <shared_mutex>
#include <string>

#include "ledger/projection.h"

namespace slap::slapd {

class IdentityRegistry final : public ledger::Projection {
 public:
  struct Certificate {
    std::string subject;
    std::string role;
    int64_t not_after_ns = 0;
    bool revoked = false;
  };

  std::string_view name() const override { return "slapd.identities"; }
  void apply(std::span<const ledger::EntryView> entries) override;
  ubm::Seq last_applied() const override;
  std::string snapshot() const override;
  ubm::Status restore(std::string_view snapshot, ubm::Seq last_applied) override;
  void reset() override;
  std::vector<ledger::SnapshotRecord> records() const override;  // one per certificate serial

  // Known, not revoked, and naming `subject`.
  bool valid(std::string_view serial, std::string_view subject) const;
  std::optional<Certificate> certificate(std::string_view serial) const;
  // Roles granted to a subject by any of its valid certificates ("admin", "analyst", "auditor").
  std::set<std::string> roles(std::string_view subject) const;
  // Serials of a subject's valid certificates.
  std::vector<std::string> serials_of(std::string_view subject) const;
  size_t size() const;

 private:
  void write(ledger::SnapshotWriter& w) const;  // caller holds mu_

  mutable std::shared_mutex mu_;
  std::map<std::string, Certificate, std::less<>> by_serial_;
  // subject -> its serials: per-request role lookups must not scan every certificate.
  std::map<std::string, std::set<std::string>, std::less<>> by_subject_;
  void index(const std::string& serial, const std::string& subject);
  ubm::Seq last_{0};
};

}  // namespace slap::slapd
