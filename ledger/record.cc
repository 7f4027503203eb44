#include "ledger/record.h"

#include <cstring>

#include "ledger/little_endian.h"

namespace slap::ledger {

void encode_key(ubm::Seq seq, char out[kKeySize]) {
  const uint64_t v = seq.value();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (56 - 8 * i)) & 0xff);
}

std::string key_of(ubm::Seq seq) {
  std::string k(kKeySize, '\0');
  encode_key(seq, k.data());
  return k;
}

ubm::Result<ubm::Seq> decode_key(std::string_view key) {
  if (key.size() != kKeySize) return ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, "key", "a log key is 8 bytes");
  uint64_t v = 0;
  for (char c : key) v = (v << 8) | static_cast<uint8_t>(c);
  return ubm::Seq{v};
}

ubm::Result<RecordView> parse_record(std::string_view r) {
  auto bad = [](std::string d) { return ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, "record", std::move(d)); };
  if (r.size() < kRecordHeaderSize) return bad("shorter than its header");
  if (static_cast<uint8_t>(r[0]) != kRecordVersion) return bad("unknown record version " + std::to_string(static_cast<uint8_t>(r[0])));
  const uint32_t len = le::get32(r.data() + 4);
  if (len % 8 != 0 || len < 8) return bad("entry length is not a positive multiple of 8");
  if (r.size() != kRecordHeaderSize + len) return bad("length does not match the header");
  RecordView v;
  v.batch_last = ubm::Seq{le::get64(r.data() + 8)};
  std::memcpy(v.hash.data(), r.data() + kHashOffset, v.hash.size());
  v.hashed_header = r.substr(0, kHashedHeaderSize);
  v.entry = r.substr(kRecordHeaderSize);
  return v;
}

Hash chain_hash(Hasher& hasher, const Hash& prev, std::string_view hashed_header, std::string_view entry) {
  return hasher.digest({as_bytes(prev), hashed_header, entry});
}

size_t flat_array_size(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) {
  // Segment table: u32 (count-1), u32 size per segment, padded to a whole word.
  size_t table_words = (segments.size() + 2) / 2;
  size_t words = table_words;
  for (auto s : segments) words += s.size();
  return words * sizeof(capnp::word);
}

Hash write_record(Hasher& hasher, const Hash& prev, ubm::Seq batch_last,
                  kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments, char* out) {
  const size_t entry_len = flat_array_size(segments);
  std::memset(out, 0, kRecordHeaderSize);
  out[0] = static_cast<char>(kRecordVersion);
  le::put32(out + 4, static_cast<uint32_t>(entry_len));
  le::put64(out + 8, batch_last.value());
  char* p = out + kRecordHeaderSize;
  const size_t table_words = (segments.size() + 2) / 2;
  std::memset(p, 0, table_words * sizeof(capnp::word));
  le::put32(p, static_cast<uint32_t>(segments.size() - 1));
  for (size_t i = 0; i < segments.size(); ++i) le::put32(p + 4 + 4 * i, static_cast<uint32_t>(segments[i].size()));
  p += table_words * sizeof(capnp::word);
  for (auto s : segments) {
    std::memcpy(p, s.begin(), s.size() * sizeof(capnp::word));
    p += s.size() * sizeof(capnp::word);
  }
  const Hash h = chain_hash(hasher, prev, std::string_view(out, kHashedHeaderSize), std::string_view(out + kRecordHeaderSize, entry_len));
  std::memcpy(out + kHashOffset, h.data(), h.size());
  return h;
}

}  // namespace slap::ledger
