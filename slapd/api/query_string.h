#pragma once
// URL query strings of the /v1/ routes: decoded key/value pairs, looked up by key. One parser for
// every route (billing's queries, listings' paging, long polls' waits).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slap::slapd {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// The pairs in order, '+' and %XX decoded; nullopt on a malformed escape or more than 64 pairs.
std::optional<QueryParams> parse_query(std::string_view query);
// The first value given for `key`, or nullptr.
const std::string* param(const QueryParams& ps, std::string_view key);
// The first key outside `allowed`, or nullptr: a route refuses what it does not read.
const std::string* unknown_key(const QueryParams& ps, std::span<const std::string_view> allowed);
// `key` as an unsigned integer: nullopt when absent; `bad` set when present but not one.
std::optional<uint64_t> uint_param(const QueryParams& ps, std::string_view key, bool& bad);

}  // namespace slap::slapd
