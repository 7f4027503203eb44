#pragma once
// A ledger entry as JSON, for `slapctl ledger dump` and the auditors' ledger stream. Quantities and
// prices are strings holding exact decimals, never JSON numbers (which readers parse as doubles).
#include <boost/json/object.hpp>

#include "ledger/entry.h"

namespace slap::json {

boost::json::object entry_to_json(const ledger::EntryView& view);

}  // namespace slap::json
