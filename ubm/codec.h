#pragma once
// Between ubm values and their Cap'n Proto form (schema/ledger.capnp). Encoding fills the body of
// an entry; the ledger sets seq and timestamp. Decoding never trusts its input: a malformed or
// hostile message gives an error, never a crash.
#include "schema/ledger.capnp.h"
#include "ubm/error.h"
#include "ubm/model.h"

namespace slap::ubm {

void encode(const EntryBody& body, schema::Entry::Builder out);
Result<EntryBody> decode(schema::Entry::Reader in);

}  // namespace slap::ubm
