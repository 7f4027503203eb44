#include "slapd/ca/certificate_authority.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace slap::ca {
namespace {

ubm::Error ssl_error(std::string what) {
  const unsigned long code = ERR_get_error();
  char buf[256] = {0};
  if (code != 0) ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "ca", what + (code != 0 ? std::string(": ") + buf : ""));
}

struct PkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct X509Free { void operator()(X509* p) const { X509_free(p); } };
struct BioFree { void operator()(BIO* p) const { BIO_free(p); } };
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using Bio = std::unique_ptr<BIO, BioFree>;

Pkey new_key() { return Pkey(EVP_EC_gen("P-256")); }

std::string bio_string(BIO* bio) {
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(bio, &mem);
  return std::string(mem->data, mem->length);
}

std::string pem_of(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return bio_string(bio.get());
}

std::string pem_of(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_string(bio.get());
}

int64_t asn1_time_ns(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm)) * 1'000'000'000;
}

std::string serial_hex(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), nullptr);
  char* hex = BN_bn2hex(bn);
  std::string s(hex);
  OPENSSL_free(hex);
  BN_free(bn);
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// Fills serial, validity, subject; the caller adds extensions and signs.
Cert new_cert(EVP_PKEY* key, const std::string& cn, const std::string& ou, std::chrono::seconds validity, std::chrono::seconds backdate) {
  Cert cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return Cert(nullptr);  // no serial without the generator: no certificate
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -static_cast<long>(backdate.count()) - 60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(validity.count() - backdate.count()));
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("slapledger"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(ou.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return cert;
}

std::string name_entry(X509_NAME* name, int nid) {
  const int idx = X509_NAME_get_index_by_NID(name, nid, -1);
  if (idx < 0) return {};
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return {};
  std::string s(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return s;
}

ubm::Result<std::string> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "ca", "cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string_view to_string(IdentityKind k) {
  switch (k) {
    case IdentityKind::person: return "person";
    case IdentityKind::computer: return "computer";
    case IdentityKind::instance: return "instance";
    case IdentityKind::server: return "server";
  }
  return "?";
}

std::optional<IdentityKind> kind_from_string(std::string_view s) {
  if (s == "person") return IdentityKind::person;
  if (s == "computer") return IdentityKind::computer;
  if (s == "instance") return IdentityKind::instance;
  if (s == "server") return IdentityKind::server;
  return std::nullopt;
}

struct CertificateAuthority::Impl {
  Pkey key;
  Cert cert;
  std::string cert_pem;
};

CertificateAuthority::CertificateAuthority(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CertificateAuthority::~CertificateAuthority() = default;
CertificateAuthority::CertificateAuthority(CertificateAuthority&&) noexcept = default;
CertificateAuthority& CertificateAuthority::operator=(CertificateAuthority&&) noexcept = default;
const std::string& CertificateAuthority::certificate_pem() const { return impl_->cert_pem; }

ubm::Result<CertificateAuthority> CertificateAuthority::create(std::string_view name) {
  auto impl = std::make_unique<Impl>();
  impl->key = new_key();
  if (!impl->key) return ssl_error("generate CA key");
  impl->cert = new_cert(impl->key.get(), std::string(name), "ca", std::chrono::hours(24 * 3650), std::chrono::seconds(0));
  if (!impl->cert) return ssl_error("random serial");
  X509_set_issuer_name(impl->cert.get(), X509_get_subject_name(impl->cert.get()));
  if (!add_ext(impl->cert.get(), impl->cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
      !add_ext(impl->cert.get(), impl->cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature") ||
      !add_ext(impl->cert.get(), impl->cert.get(), NID_subject_key_identifier, "hash")) {
    return ssl_error("CA extensions");
  }
  if (X509_sign(impl->cert.get(), impl->key.get(), EVP_sha256()) == 0) return ssl_error("self-sign CA");
  impl->cert_pem = pem_of(impl->cert.get());
  return CertificateAuthority(std::move(impl));
}

ubm::Result<CertificateAuthority> CertificateAuthority::load(const std::filesystem::path& dir) {
  auto cert_pem = read_file(dir / "ca.crt");
  if (!cert_pem) return cert_pem.error();
  auto key_pem = read_file(dir / "ca.key");
  if (!key_pem) return key_pem.error();
  auto impl = std::make_unique<Impl>();
  Bio cb(BIO_new_mem_buf(cert_pem->data(), static_cast<int>(cert_pem->size())));
  impl->cert.reset(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  Bio kb(BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size())));
  impl->key.reset(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!impl->cert || !impl->key) return ssl_error("parse CA files in " + dir.string());
  if (X509_check_private_key(impl->cert.get(), impl->key.get()) != 1) return ssl_error("CA key does not match its certificate");
  impl->cert_pem = std::move(cert_pem.value());
  return CertificateAuthority(std::move(impl));
}

ubm::Status CertificateAuthority::save(const std::filesystem::path& dir) const {
  if (auto s = write_file(dir / "ca.crt", impl_->cert_pem, std::filesystem::perms(0644)); !s) return s;
  return write_file(dir / "ca.key", pem_of(impl_->key.get()), std::filesystem::perms(0600));
}

ubm::Result<IssuedCertificate> CertificateAuthority::issue(const IssueRequest& r) const {
  if (r.subject.empty() || r.subject.size() > 64) {
    return ubm::make_error(ubm::Rejection::INVALID_ID, "subject", "a certificate subject is 1..64 characters");
  }
  Pkey key = new_key();
  if (!key) return ssl_error("generate key");
  Cert cert = new_cert(key.get(), r.subject, std::string(to_string(r.kind)), r.validity, r.backdate);
  if (!cert) return ssl_error("random serial");
  X509_set_issuer_name(cert.get(), X509_get_subject_name(impl_->cert.get()));
  bool ok = add_ext(cert.get(), impl_->cert.get(), NID_basic_constraints, "critical,CA:FALSE") &&
            add_ext(cert.get(), impl_->cert.get(), NID_authority_key_identifier, "keyid:always");
  if (r.kind == IdentityKind::server) {
    std::string san;
    for (const auto& d : r.dns_names) san += (san.empty() ? "" : ",") + ("DNS:" + d);
    for (const auto& ip : r.ip_addresses) san += (san.empty() ? "" : ",") + ("IP:" + ip);
    ok = ok && add_ext(cert.get(), impl_->cert.get(), NID_ext_key_usage, "serverAuth");
    if (!san.empty()) ok = ok && add_ext(cert.get(), impl_->cert.get(), NID_subject_alt_name, san);
  } else {
    ok = ok && add_ext(cert.get(), impl_->cert.get(), NID_ext_key_usage, "clientAuth");
  }
  if (!ok) return ssl_error("certificate extensions");
  if (X509_sign(cert.get(), impl_->key.get(), EVP_sha256()) == 0) return ssl_error("sign certificate");
  IssuedCertificate out;
  out.certificate_pem = pem_of(cert.get());
  out.private_key_pem = pem_of(key.get());
  out.serial_hex = serial_hex(cert.get());
  unsigned char md[32];
  unsigned len = 0;
  X509_digest(cert.get(), EVP_sha256(), md, &len);
  out.fingerprint_sha256.assign(reinterpret_cast<char*>(md), len);
  out.not_before_ns = asn1_time_ns(X509_get0_notBefore(cert.get()));
  out.not_after_ns = asn1_time_ns(X509_get0_notAfter(cert.get()));
  return out;
}

ubm::Result<std::string> CertificateAuthority::sign(std::string_view data) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  std::string sig;
  bool ok = EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, impl_->key.get()) == 1 &&
            EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  if (ok) {
    sig.resize(len);
    ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
    sig.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) return ssl_error("sign");
  return sig;
}

ubm::Result<PeerIdentity> identity_of_x509(const void* x509) {
  X509* cert = const_cast<X509*>(static_cast<const X509*>(x509));
  if (cert == nullptr) return ubm::make_error(ubm::Rejection::INVALID_ID, "certificate", "no certificate");
  X509_NAME* name = X509_get_subject_name(cert);
  PeerIdentity id;
  id.subject = name_entry(name, NID_commonName);
  auto kind = kind_from_string(name_entry(name, NID_organizationalUnitName));
  if (id.subject.empty() || !kind) return ubm::make_error(ubm::Rejection::INVALID_ID, "certificate", "certificate names no slapledger identity");
  id.kind = *kind;
  id.serial_hex = serial_hex(cert);
  id.not_after_ns = asn1_time_ns(X509_get0_notAfter(cert));
  return id;
}

ubm::Result<PeerIdentity> identity_of_pem(std::string_view pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return ssl_error("parse certificate");
  return identity_of_x509(cert.get());
}

ubm::Result<std::string> fingerprint_of_pem(std::string_view pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return ssl_error("parse certificate");
  unsigned char md[32];
  unsigned len = 0;
  if (X509_digest(cert.get(), EVP_sha256(), md, &len) != 1) return ssl_error("certificate digest");
  return std::string(reinterpret_cast<char*>(md), len);
}

bool verify_signature(std::string_view ca_pem, std::string_view data, std::string_view signature) {
  Bio bio(BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size())));
  Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return false;
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
                  EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                                   reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

namespace {
// fsync of a file or a directory by name (read-only descriptors sync as well on Linux).
bool fsync_path(const std::filesystem::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}
}  // namespace

ubm::Status write_file(const std::filesystem::path& path, std::string_view content, std::filesystem::perms mode) {
  const auto tmp = path.string() + ".tmp";
  {
    // Created with its final mode, never through a link, and new: a key is never readable by
    // anyone else, not even for the moment between creating and restricting it (a descriptor
    // opened then would have read the key once written).
    std::filesystem::remove(tmp);  // a leftover of an interrupted write
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, static_cast<mode_t>(mode) & 0777);
    if (fd < 0) return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "file", "cannot create " + tmp + ": " + std::strerror(errno));
    bool ok = ::fchmod(fd, static_cast<mode_t>(mode) & 0777) == 0;  // the umask narrowed it, maybe
    for (size_t done = 0; ok && done < content.size();) {
      const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
      if (n < 0 && errno == EINTR) continue;
      ok = n > 0;
      if (ok) done += static_cast<size_t>(n);
    }
    ::close(fd);
    if (!ok) return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "file", "cannot write " + tmp);
  }
  // The key on disk before its name, the name after it: a power cut right after initialisation
  // must not leave ca.key empty (the CA, and every certificate it signed, would be lost).
  if (!fsync_path(tmp)) return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "file", "cannot sync " + tmp);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "file", "cannot rename " + tmp + ": " + ec.message());
  const auto dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  if (!fsync_path(dir)) return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "file", "cannot sync " + dir.string());
  return {};
}

}  // namespace slap::ca
