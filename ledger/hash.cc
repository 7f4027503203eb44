#include "ledger/hash.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace slap::ledger {

Hasher::Hasher() : ctx_(EVP_MD_CTX_new()), md_(EVP_MD_fetch(nullptr, "SHA256", nullptr)) {
  if (ctx_ == nullptr || md_ == nullptr) throw std::runtime_error("OpenSSL: SHA-256 unavailable");
}

Hasher::~Hasher() {
  EVP_MD_free(md_);
  EVP_MD_CTX_free(ctx_);
}

Hash Hasher::digest(std::initializer_list<std::string_view> parts) {
  Hash out{};
  unsigned len = 0;
  bool ok = EVP_DigestInit_ex2(ctx_, md_, nullptr) == 1;
  for (auto p : parts) ok = ok && EVP_DigestUpdate(ctx_, p.data(), p.size()) == 1;
  ok = ok && EVP_DigestFinal_ex(ctx_, out.data(), &len) == 1;
  // A failing SHA-256 means a broken OpenSSL: nothing sensible can continue.
  if (!ok || len != out.size()) std::abort();
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    s += kDigits[c >> 4];
    s += kDigits[c & 15];
  }
  return s;
}

std::string to_hex(const Hash& h) { return to_hex(as_bytes(h)); }

}  // namespace slap::ledger
