#pragma once
// Little-endian integers in byte buffers: the record header (record.h) and the export file
// (export_file.h) store their lengths and sequence numbers this way, whatever the host order.
#include <cstdint>

namespace slap::ledger::le {

inline void put32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
inline void put64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
// The `n`-byte (n <= 8) little-endian unsigned integer at p.
inline uint64_t get(const char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline uint32_t get32(const char* p) { return static_cast<uint32_t>(get(p, 4)); }
inline uint64_t get64(const char* p) { return get(p, 8); }

}  // namespace slap::ledger::le
