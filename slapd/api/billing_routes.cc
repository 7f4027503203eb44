// /v1/ for billing: price lists (POST /v1/prices), explicit re-rating (POST /v1/billing/rerate),
// analysts' queries (GET /v1/billing: roles analyst or admin) and a client's monthly statement
// (GET /v1/billing/statement: the client itself, analysts, admins). Queries read the market's
// billing projection (billing/projection.h), never the log; commands go through the sequencer.
#include <boost/json.hpp>

#include <algorithm>
#include <optional>
#include <span>

#include "billing/calendar.h"
#include "billing/query.h"
#include "slapd/api/api.h"
#include "slapd/api/query_string.h"

namespace slap::slapd {
namespace {

namespace bj = boost::json;
constexpr Dialect kD = Dialect::v1;
constexpr size_t kMaxRows = 100'000;  // a bigger answer is refused: narrow the window or the grouping

http::Response forbidden(const std::string& why) { return error_response(kD, 403, "forbidden", why); }
http::Response bad(std::string field, std::string detail) { return error_response(kD, 400, "bad_request", field + ": " + detail); }

// A text cell. One a spreadsheet would read as a formula (=, +, -, @, or a tab or carriage return
// first) is prefixed with ', so that a resource name a node reported, say, cannot run in the
// analyst's spreadsheet (the OWASP rule for CSV injection).
std::string csv_field(const std::string& text) {
  std::string s = text;
  if (!s.empty() && std::string_view("=+-@\t\r").find(s[0]) != std::string_view::npos) s.insert(0, 1, '\'');
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

// A row's change against the previous window; nullopt when int64 does not hold it.
std::optional<int64_t> change(const billing::Row& row) {
  int64_t d = 0;
  if (__builtin_sub_overflow(row.amount, row.previous_amount, &d)) return std::nullopt;
  return d;
}

http::Response render(const billing::Answer& a, const billing::Query& q, bool compared, const billing::Query& prev, bool csv) {
  std::vector<billing::Dim> dims;
  for (size_t i = 0; i < billing::kDims; ++i) {
    if (q.groups(static_cast<billing::Dim>(i))) dims.push_back(static_cast<billing::Dim>(i));
  }
  if (csv) {
    http::Response r;
    r.content_type = "text/csv";
    for (auto d : dims) r.body += std::string(billing::to_string(d)) + ",";
    r.body += "unit,quantity,currency,amount_minor,amount,movements,unrated,overflowed";
    if (compared) r.body += ",previous_amount_minor,change_minor";
    r.body += "\n";
    for (const auto& row : a.rows) {
      for (auto d : dims) r.body += csv_field(row.key[static_cast<size_t>(d)]) + ",";
      r.body += csv_field(row.unit) + "," + (row.unit.empty() || row.quantity_out_of_range ? "" : billing::q18_to_string(row.quantity)) + "," + a.currency + "," +
                std::to_string(row.amount) + "," + billing::format_minor(row.amount, a.currency) + "," +
                std::to_string(row.movements) + "," + std::to_string(row.unrated) + "," + std::to_string(row.overflowed);
      if (compared) r.body += "," + std::to_string(row.previous_amount) + "," + std::to_string(change(row).value_or(0));
      r.body += "\n";
    }
    return r;
  }
  bj::array rows;
  for (const auto& row : a.rows) {
    bj::object o;
    for (auto d : dims) o[billing::to_string(d)] = row.key[static_cast<size_t>(d)];
    o["unit"] = row.unit;
    if (row.quantity_out_of_range) o["quantity_out_of_range"] = true;  // the sum does not fit: no quantity, never a wrong one
    else if (!row.unit.empty()) o["quantity"] = billing::q18_to_string(row.quantity);  // exact decimal as text
    o["amount_minor"] = row.amount;
    o["amount"] = billing::format_minor(row.amount, a.currency);
    o["movements"] = row.movements;
    o["unrated"] = row.unrated;
    o["overflowed"] = row.overflowed;
    if (compared) {
      o["previous_amount_minor"] = row.previous_amount;
      o["change_minor"] = change(row).value_or(0);
    }
    rows.push_back(std::move(o));
  }
  bj::array group;
  for (auto d : dims) group.push_back(bj::string(billing::to_string(d)));
  bj::object out{{"currency", a.currency},
                 {"from", billing::format_date(a.from_day)},
                 {"to", billing::format_date(a.to_day)},
                 {"group_by", std::move(group)},
                 {"rows", std::move(rows)},
                 {"total_minor", a.amount},
                 {"total", billing::format_minor(a.amount, a.currency)},
                 {"movements", a.movements},
                 {"unrated", a.unrated},
                 {"overflowed", a.overflowed},
                 {"quantity_out_of_range", a.quantity_out_of_range},
                 {"rounding", "each day line: quantity x unit price, rounded half away from zero to the minor unit; totals are sums of lines"}};
  if (compared) {
    out["previous"] = bj::object{{"from", billing::format_date(prev.from_day)},
                                 {"to", billing::format_date(prev.to_day)},
                                 {"total_minor", a.previous_amount}};
  }
  return json_response(200, out);
}

void query(Api& api, const Caller& caller, const std::string& qs, bool statement, Reply reply) {
  auto ps = parse_query(qs);
  if (!ps) return reply(bad("query", "malformed query string"));
  // Each route its own parameters: one the route does not read is refused, never ignored (a
  // `month` on an analyst's query answered this month's figures, silently).
  static constexpr std::string_view kQueryKeys[] = {"window", "from", "to", "group_by", "client", "supplier", "resource",
                                                    "computer", "instance", "compare", "format"};
  static constexpr std::string_view kStatementKeys[] = {"month", "from", "to", "client", "supplier", "resource",
                                                        "computer", "instance", "compare", "format"};
  const auto keys = statement ? std::span<const std::string_view>(kStatementKeys) : std::span<const std::string_view>(kQueryKeys);
  if (const std::string* k = unknown_key(*ps, keys)) {
    return reply(bad(*k, statement ? "unknown parameter for a statement (month, from, to, filters, compare, format)" : "unknown parameter"));
  }
  const std::string* client = param(*ps, "client");
  if (statement) {
    if (client == nullptr || client->empty()) return reply(bad("client", "a statement is for one client"));
    if (!caller.has_role("analyst") && caller.subject != *client) return reply(forbidden(caller.subject + " may not read the statement of " + *client));
  } else if (!caller.has_role("analyst")) {
    return reply(forbidden("billing queries are for analysts"));
  }
  const int32_t today = billing::day_of(api.ctx().clock.now().value());
  billing::Query q;
  const std::string* window = param(*ps, statement ? "month" : "window");
  const std::string* from = param(*ps, "from");
  const std::string* to = param(*ps, "to");
  if (window != nullptr && (from != nullptr || to != nullptr)) return reply(bad("window", "give a window or from/to, not both"));
  if (from != nullptr || to != nullptr) {
    auto f = from != nullptr ? billing::parse_date(*from) : std::optional<int32_t>(today);
    auto t = to != nullptr ? billing::parse_date(*to) : std::optional<int32_t>(today);
    if (!f) return reply(bad("from", "expected YYYY-MM-DD"));
    if (!t) return reply(bad("to", "expected YYYY-MM-DD"));
    q.from_day = *f;
    q.to_day = *t;
  } else {
    if (statement && window != nullptr && *window != "month" && !billing::parse_month(*window)) {
      return reply(bad("month", "a statement is for a month: YYYY-MM, or month for this one"));
    }
    auto w = billing::parse_window(window != nullptr ? *window : "month", today);
    if (!w) return reply(bad(statement ? "month" : "window", "expected today, 7d, month, YYYY-MM or a date"));
    q.from_day = w->from_day;
    q.to_day = w->to_day;
  }
  if (q.to_day < q.from_day) return reply(bad("to", "is before from"));
  if (q.to_day - q.from_day > 3660) return reply(bad("to", "a window is at most ten years"));
  if (statement) {
    for (auto d : {billing::Dim::supplier, billing::Dim::resource, billing::Dim::computer, billing::Dim::instance}) {
      q.group |= 1u << static_cast<unsigned>(d);
    }
  } else if (const std::string* g = param(*ps, "group_by"); g != nullptr && !g->empty()) {
    size_t pos = 0;
    while (pos <= g->size()) {
      size_t comma = g->find(',', pos);
      if (comma == std::string::npos) comma = g->size();
      auto d = billing::parse_dim(std::string_view(*g).substr(pos, comma - pos));
      if (!d) return reply(bad("group_by", "expected client, supplier, resource, computer, instance, day or month"));
      q.group |= 1u << static_cast<unsigned>(*d);
      pos = comma + 1;
    }
  }
  for (size_t i = 0; i < billing::kFilterDims; ++i) {
    if (const std::string* f = param(*ps, billing::to_string(static_cast<billing::Dim>(i)))) q.filter[i] = *f;
  }
  const std::string* compare = param(*ps, "compare");
  if (compare != nullptr && *compare != "previous") return reply(bad("compare", "expected previous"));
  const std::string* format = param(*ps, "format");
  if (format != nullptr && *format != "json" && *format != "csv") return reply(bad("format", "expected json or csv"));
  const auto& projection = api.ctx().market.billing();
  billing::Answer a = projection.query(q);
  const billing::Query prev = billing::previous_window(q);
  if (compare != nullptr) billing::compare(a, projection.query(prev));
  if (a.rows.size() > kMaxRows) return reply(error_response(kD, 413, "too_large", "more than 100000 rows: narrow the window, the grouping or the filters"));
  const bool change_out_of_range =
      compare != nullptr && std::any_of(a.rows.begin(), a.rows.end(), [](const billing::Row& r) { return !change(r).has_value(); });
  if (a.out_of_range || change_out_of_range) {
    return reply(error_response(kD, 422, "amount_out_of_range",
                                "an amount exceeds 2^63-1 minor units (a price far too high for its unit?): group more finely, narrow the window, or correct the price"));
  }
  reply(render(a, q, compare != nullptr, prev, format != nullptr && *format == "csv"));
}

void set_price(Api& api, const Caller& caller, const json::Body& body, Reply reply) {
  if (caller.kind != ca::IdentityKind::person) return reply(forbidden("prices are set by people and organisations"));
  json::FieldError e;
  if (!body.only_keys({"computer", "resource", "unit", "price", "currency", "effective", "correction"}, e)) return reply(bad_request(kD, e));
  auto resource = body.string("resource", e, 128);
  if (!resource) return reply(bad_request(kD, e));
  auto unit = body.string("unit", e, 32);
  if (!unit) return reply(bad_request(kD, e));
  auto price = body.string("price", e, 40);  // a decimal as text: never a float
  if (!price) return reply(bad_request(kD, e));
  bool failed = false;
  auto computer = body.optional_string("computer", e, failed, 128);
  auto currency = failed ? std::nullopt : body.optional_string("currency", e, failed, 3);
  auto effective = failed ? std::nullopt : body.optional_string("effective", e, failed, 10);
  auto correction = failed ? std::nullopt : body.optional_bool("correction", e, failed);
  if (failed) return reply(bad_request(kD, e));
  auto value = ubm::Decimal::parse(*price);
  if (!value) return reply(bad("price", "an exact decimal in minor units, e.g. \"12\" or \"0.0035\""));
  const int32_t today = billing::day_of(api.ctx().clock.now().value());
  auto day = effective ? billing::parse_date(*effective) : std::optional<int32_t>(today + 1);
  if (!day) return reply(bad("effective", "expected YYYY-MM-DD"));
  market::SetPrice c{caller.subject, computer.value_or(""), *resource, *unit, *value, currency.value_or("EUR"), *day, correction.value_or(false)};
  const std::string eff = billing::format_date(*day);
  api.submit(std::move(c), kD, std::move(reply), [eff](const market::Outcome&) {
    return json_response(201, bj::object{{"effective", eff}, {"recorded", true}});
  });
}

void rerate(Api& api, const Caller& caller, const json::Body& body, Reply reply) {
  if (caller.kind != ca::IdentityKind::person) return reply(forbidden("re-rating is for suppliers"));
  json::FieldError e;
  if (!body.only_keys({"computer", "from", "to", "reason"}, e)) return reply(bad_request(kD, e));
  auto from = body.string("from", e, 10);
  if (!from) return reply(bad_request(kD, e));
  auto to = body.string("to", e, 10);
  if (!to) return reply(bad_request(kD, e));
  bool failed = false;
  auto computer = body.optional_string("computer", e, failed, 128);
  auto reason = failed ? std::nullopt : body.optional_string("reason", e, failed, 4096);
  if (failed) return reply(bad_request(kD, e));
  auto f = billing::parse_date(*from), t = billing::parse_date(*to);
  if (!f) return reply(bad("from", "expected YYYY-MM-DD"));
  if (!t) return reply(bad("to", "expected YYYY-MM-DD"));
  market::Rerate c{caller.subject, computer.value_or(""), *f, *t, reason.value_or("")};
  api.submit(std::move(c), kD, std::move(reply), [](const market::Outcome&) {
    return json_response(201, bj::object{{"recorded", true}});
  });
}

}  // namespace

void billing_route(Api& api, const Caller& caller, http::Request& req, const std::string& path, const std::string& qs, Reply reply) {
  using boost::beast::http::verb;
  if (req.method == verb::get && path == "/v1/billing") return query(api, caller, qs, false, std::move(reply));
  if (req.method == verb::get && path == "/v1/billing/statement") return query(api, caller, qs, true, std::move(reply));
  if (req.method == verb::post && (path == "/v1/prices" || path == "/v1/billing/rerate")) {
    json::FieldError e;
    auto body = json::Body::parse(req.body.empty() ? std::string_view("{}") : std::string_view(req.body), e);
    if (!body) return reply(bad_request(kD, e));
    if (path == "/v1/prices") return set_price(api, caller, *body, std::move(reply));
    return rerate(api, caller, *body, std::move(reply));
  }
  reply(error_response(kD, 404, "not_found", "no such billing path: " + path));
}

}  // namespace slap::slapd
