#pragma once
// The master's own certificate authority (OpenSSL). Every identity — person, computer, software
// instance, and the master's TLS endpoint — gets a certificate naming it:
//   CN = identity id (PERSON-…, COMP-…, SOFTINST-…), OU = kind, O = slapledger
// The CA key never leaves the state directory (mode 0600). Exceptions are not used: every call
// returns a Result.
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ubm/error.h"

namespace slap::ca {

enum class IdentityKind { person, computer, instance, server };
std::string_view to_string(IdentityKind k);
std::optional<IdentityKind> kind_from_string(std::string_view s);

struct IssuedCertificate {
  std::string certificate_pem;
  std::string private_key_pem;
  std::string serial_hex;
  std::string fingerprint_sha256;  // 32 raw bytes of SHA-256 over the DER certificate
  int64_t not_before_ns = 0;
  int64_t not_after_ns = 0;
};

struct IssueRequest {
  std::string subject;  // becomes CN
  IdentityKind kind = IdentityKind::person;
  std::chrono::seconds validity = std::chrono::hours(24 * 365);
  std::chrono::seconds backdate = std::chrono::seconds(0);  // tests: certificates already expired
  std::vector<std::string> dns_names;  // server certificates: subjectAltName
  std::vector<std::string> ip_addresses;
};

class CertificateAuthority {
 public:
  ~CertificateAuthority();
  CertificateAuthority(CertificateAuthority&&) noexcept;
  CertificateAuthority& operator=(CertificateAuthority&&) noexcept;

  // Creates a new CA (EC P-256 key, self-signed, 10 years) named `name`.
  static ubm::Result<CertificateAuthority> create(std::string_view name);
  // Loads ca.crt and ca.key from `dir`.
  static ubm::Result<CertificateAuthority> load(const std::filesystem::path& dir);
  // Writes ca.crt (0644) and ca.key (0600) into `dir`.
  [[nodiscard]] ubm::Status save(const std::filesystem::path& dir) const;

  // A new key pair and a certificate signed by this CA.
  ubm::Result<IssuedCertificate> issue(const IssueRequest& request) const;
  // Signs `data` with the CA key (ECDSA SHA-256, DER signature).
  ubm::Result<std::string> sign(std::string_view data) const;

  const std::string& certificate_pem() const;

 private:
  struct Impl;
  explicit CertificateAuthority(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// What a peer certificate says about its holder (after the TLS layer verified it against the CA).
struct PeerIdentity {
  std::string subject;  // CN
  IdentityKind kind = IdentityKind::person;
  std::string serial_hex;
  int64_t not_after_ns = 0;
};

// Reads CN, OU, serial and expiry from a PEM or from an X509* (void* to keep OpenSSL out of headers).
ubm::Result<PeerIdentity> identity_of_pem(std::string_view pem);
ubm::Result<PeerIdentity> identity_of_x509(const void* x509);

// SHA-256 of a PEM certificate's DER form (32 raw bytes): names a signer, e.g. the CA that signs
// ledger checkpoints.
ubm::Result<std::string> fingerprint_of_pem(std::string_view pem);

// Verifies an ECDSA signature made by sign() with the CA certificate in `ca_pem`.
bool verify_signature(std::string_view ca_pem, std::string_view data, std::string_view signature);

// Writes `content` to `path` with `mode`, atomically (temp file + rename).
ubm::Status write_file(const std::filesystem::path& path, std::string_view content, std::filesystem::perms mode);

}  // namespace slap::ca
