#pragma once
// SHA-256 (OpenSSL EVP) for the hash chain. A Hasher keeps its context to avoid a fetch per entry;
// it is not thread-safe, so each thread keeps its own.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

typedef struct evp_md_ctx_st EVP_MD_CTX;
typedef struct evp_md_st EVP_MD;

namespace slap::ledger {

using Hash = std::array<uint8_t, 32>;

class Hasher {
 public:
  Hasher();
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  // SHA-256 over the concatenation of the parts.
  Hash digest(std::initializer_list<std::string_view> parts);

 private:
  EVP_MD_CTX* ctx_;
  EVP_MD* md_;
};

std::string to_hex(const Hash& h);
std::string to_hex(std::string_view bytes);
inline std::string_view as_bytes(const Hash& h) { return {reinterpret_cast<const char*>(h.data()), h.size()}; }

}  // namespace slap::ledger
