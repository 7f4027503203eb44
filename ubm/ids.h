#pragma once
// Identifiers and instants used across the ledger. Each is its own type.
#include <cstdint>
#include <string>

#include "ubm/strong_type.h"

namespace slap::ubm {

// Position of an entry in the ledger, from 1; 0 means "none yet".
using Seq = StrongType<uint64_t, struct SeqTag>;
// Nanoseconds since the Unix epoch, from an injected clock (never read the wall clock directly).
using TimestampNs = StrongType<int64_t, struct TimestampTag>;
// A party (person, organisation, network).
using NodeId = StrongType<std::string, struct NodeIdTag>;
// A thing movements are about (computer, partition, release, instance, subscription).
using ItemId = StrongType<std::string, struct ItemIdTag>;

inline Seq next(Seq s) { return Seq{s.value() + 1}; }

// Ids are printable ASCII without spaces or control characters, 1..kMaxIdLength bytes: they are
// used as keys, in URLs and in certificate subjects.
inline constexpr size_t kMaxIdLength = 128;
bool is_valid_id(std::string_view id) noexcept;

}  // namespace slap::ubm
