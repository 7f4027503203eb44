#include "ledger/entry.h"

#include <cstring>

#include "ledger/record.h"

namespace slap::ledger {

ubm::Result<EntryView> EntryDecoder::decode(std::string_view key, std::string_view record) {
  auto seq = decode_key(key);
  if (!seq) return seq.error();
  auto rec = parse_record(record);
  if (!rec) {
    auto e = rec.error();
    e.field = "seq " + std::to_string(seq->value());
    return e;
  }
  const char* data = rec->entry.data();
  const size_t words = rec->entry.size() / sizeof(capnp::word);
  if (reinterpret_cast<uintptr_t>(data) % alignof(capnp::word) != 0) {
    if (scratch_.size() < words) {
      reader_.reset();  // it may point into the old buffer
      scratch_ = kj::heapArray<capnp::word>(words);
    }
    std::memcpy(scratch_.begin(), data, rec->entry.size());
    data = reinterpret_cast<const char*>(scratch_.begin());
    ++copies_;
  }
  EntryView view{*seq, ubm::TimestampNs{0}, rec->hash, {}};
  bool ok = false;
  kj::Maybe<kj::Exception> failure = kj::runCatchingExceptions([&]() {
    reader_.reset();
    reader_.emplace(kj::ArrayPtr<const capnp::word>(reinterpret_cast<const capnp::word*>(data), words));
    view.entry = reader_->getRoot<schema::Entry>();
    view.timestamp = ubm::TimestampNs{view.entry.getTimestampNs()};
    ok = view.entry.getSeq() == seq->value();
  });
  if (failure != nullptr) {
    reader_.reset();
    return ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, "seq " + std::to_string(seq->value()), "entry does not decode");
  }
  if (!ok) return ubm::make_error(ubm::Rejection::MALFORMED_ENTRY, "seq " + std::to_string(seq->value()), "entry's seq differs from its key");
  return view;
}

}  // namespace slap::ledger
