#pragma once
// A read-only view of one ledger entry, and the decoder that makes views from stored records
// without copying them when their bytes are word-aligned (one reused buffer otherwise: Cap'n Proto
// requires 8-byte alignment).
#include <optional>
#include <string_view>
#include <vector>

#include <capnp/serialize.h>

#include "ledger/hash.h"
#include "schema/ledger.capnp.h"
#include "ubm/error.h"
#include "ubm/ids.h"

namespace slap::ledger {

struct EntryView {
  ubm::Seq seq;
  ubm::TimestampNs timestamp;
  Hash hash;                    // chain hash up to and including this entry
  schema::Entry::Reader entry;  // valid while the source of the view is
};

class EntryDecoder {
 public:
  // Parses the record stored under `key`. The returned view is valid until the next decode() call
  // and while `record` is. Checks the header, the key and that the entry's seq equals the key.
  ubm::Result<EntryView> decode(std::string_view key, std::string_view record);
  uint64_t copies() const noexcept { return copies_; }  // decodes that needed the aligned buffer

 private:
  std::optional<capnp::FlatArrayMessageReader> reader_;
  kj::Array<capnp::word> scratch_;  // not std::vector: capnp::word is not copyable (clang refuses)
  uint64_t copies_ = 0;
};

}  // namespace slap::ledger
