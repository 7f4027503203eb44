#pragma once
// The JSON shapes the API returns: an instance as the JSON-RPC API describes it, and a computer's
// whole view for its node (/v1/computers/{guid}).
#include <boost/json/object.hpp>

#include "market/market.h"
#include "slapd/api/api.h"

namespace slap::slapd {

boost::json::object string_map_json(const market::StringMap& m);
// The title of the root of an instance's tree (InstanceRegistry::View::root_title).
std::string root_title(const market::Market& market, const market::InstanceRegistry::Instance& i);
// An instance as the JSON-RPC API shows it, as JSON text written in place from the registry
// (json_text.h); nullopt for an unknown guid. processing_timestamp is in microseconds, as the
// SlapOS master gives it (slapgrid processes a partition again when it grows).
std::optional<std::string> instance_text(Api& api, std::string_view guid);
boost::json::object computer_view_json(Api& api, const market::ComputerSnapshot& s);

// May `caller` read this instance? Its client, itself, its parent, its host, the computer running
// it (or its host), an admin.
bool may_read(Api& api, const Caller& caller, const market::InstanceRegistry::Instance& i);
// The same rule given the instance's host (nullptr: none), for callers already inside the
// registry's lock (InstanceRegistry::page), where looking the host up again would lock it twice.
bool may_read(const Caller& caller, const market::InstanceRegistry::Instance& i, const market::InstanceRegistry::Instance* host);
// May `caller` act for this instance as its node (state, connection parameters, errors)? The
// computer running it (or running its host), the instance itself, or its host for a shared
// instance — never its parent or its client.
bool may_act_for(Api& api, const Caller& caller, const market::InstanceRegistry::Instance& i);
// Whether an instance identity still speaks for a running instance: it holds a partition and was
// not requested destroyed. A destroyed instance's certificate acts for nothing (no children, no
// reports, no new certificate), whether or not it was revoked yet.
bool live_instance(Api& api, const std::string& guid);
bool live_instance(const market::InstanceRegistry::Instance& i);

// The answer to a caller who named an id it may not see, or one that does not exist: the same
// 403 for both, so that nobody learns which ids exist by probing (a 404 for the unknown beside a
// 403 for the foreign told them apart). Only an administrator, who may see every id, is told that
// an id is unknown (404, `unknown_code`). `exists`: whether the id names anything.
http::Response unseen(Dialect d, const Caller& caller, bool exists, const std::string& unknown_code, const std::string& id,
                      const std::string& refusal);

}  // namespace slap::slapd
