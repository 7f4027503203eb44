// Fuzzes the ledger's reading of stored bytes: the input is an 8-byte log key followed by a record
// (48-byte header + Cap'n Proto flat array, ledger/FORMAT.md). parse_record, then
// EntryDecoder::decode on a word-aligned copy and on a misaligned one (the scratch-buffer path),
// then ubm::decode on each view, and the chain hash of the record.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "ledger/entry.h"
#include "ledger/record.h"
#include "ubm/codec.h"

using namespace slap;

namespace {

void decode_all(ledger::EntryDecoder& decoder, std::string_view key, std::string_view record) {
  auto view = decoder.decode(key, record);
  if (!view) return;
  auto body = ubm::decode(view->entry);
  (void)body;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ledger::Hasher hasher;
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  (void)ledger::parse_record(all);
  if (size < ledger::kKeySize) return 0;
  const std::string_view key = all.substr(0, ledger::kKeySize);
  const std::string_view record = all.substr(ledger::kKeySize);
  if (auto r = ledger::parse_record(record)) (void)ledger::chain_hash(hasher, ledger::Hash{}, r->hashed_header, r->entry);

  ledger::EntryDecoder decoder;
  // Word-aligned: the decoder reads the bytes in place.
  std::vector<uint64_t> aligned(record.size() / 8 + 1);
  std::memcpy(aligned.data(), record.data(), record.size());
  decode_all(decoder, key, std::string_view(reinterpret_cast<const char*>(aligned.data()), record.size()));
  // Misaligned by one byte: the decoder copies into its scratch buffer (reused across calls).
  std::vector<char> shifted(record.size() + 1);
  std::memcpy(shifted.data() + 1, record.data(), record.size());
  decode_all(decoder, key, std::string_view(shifted.data() + 1, record.size()));
  decode_all(decoder, key, std::string_view(reinterpret_cast<const char*>(aligned.data()), record.size()));
  return 0;
}
