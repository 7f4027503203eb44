#pragma once
// The bytes of one log record and of its key (see FORMAT.md): a fixed 48-byte header (version,
// entry length, the last seq of the batch it was written in, the chain hash) and the entry as a
// Cap'n Proto flat array, 8-byte aligned inside the record.
#include <cstdint>
#include <string>
#include <string_view>

#include <capnp/message.h>

#include "ledger/hash.h"
#include "ubm/error.h"
#include "ubm/ids.h"

namespace slap::ledger {

inline constexpr uint8_t kRecordVersion = 1;
inline constexpr size_t kRecordHeaderSize = 48;
inline constexpr size_t kHashedHeaderSize = 16;  // bytes [0,16) are covered by the chain hash
inline constexpr size_t kHashOffset = 16;
inline constexpr size_t kKeySize = 8;
static_assert(kHashOffset + sizeof(Hash) == kRecordHeaderSize);
static_assert(kRecordHeaderSize % 8 == 0, "entry bytes must stay word-aligned inside a record");

// Big-endian so RocksDB's byte order is seq order.
void encode_key(ubm::Seq seq, char out[kKeySize]);
std::string key_of(ubm::Seq seq);
// Fails unless the key is exactly 8 bytes.
ubm::Result<ubm::Seq> decode_key(std::string_view key);

struct RecordView {
  ubm::Seq batch_last;
  Hash hash;
  std::string_view hashed_header;  // the 16 header bytes covered by the hash
  std::string_view entry;          // Cap'n Proto flat array
};

// Checks the header and lengths only (not the hash, not the entry's content).
ubm::Result<RecordView> parse_record(std::string_view record);

// hash_n = SHA-256(hash_{n-1} || header[0,16) || entry bytes)
Hash chain_hash(Hasher& hasher, const Hash& prev, std::string_view hashed_header, std::string_view entry);

// Size of the flat-array serialisation of a message's segments (segment table + segments).
size_t flat_array_size(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments);
// Writes a full record into `out` (kRecordHeaderSize + flat_array_size bytes) and returns its hash.
Hash write_record(Hasher& hasher, const Hash& prev, ubm::Seq batch_last,
                  kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments, char* out);

}  // namespace slap::ledger
