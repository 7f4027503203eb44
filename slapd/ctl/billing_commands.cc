// slapctl for suppliers and billing analysts: `price set`, `billing` (queries), `billing statement`,
// `billing rerate` — over mutual TLS to the master's /v1/ billing API. Amounts are integers of the
// currency's minor unit on the wire; tables print them as exact decimals, never through a float.
#include <boost/json.hpp>
#include <cstdio>
#include <iostream>

#include "slapd/ctl/commands.h"
#include "slapd/ctl/master_client.h"

namespace slap::ctl {
namespace {

namespace bj = boost::json;

std::string text(const bj::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return {};
  if (v->is_string()) return std::string(v->as_string());
  return bj::serialize(*v);
}

std::string url_escape(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string o;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ',') o += static_cast<char>(c);
    else {
      o += '%';
      o += kHex[c >> 4];
      o += kHex[c & 15];
    }
  }
  return o;
}

struct QueryArgs {
  MasterSettings settings;
  std::string window, from, to, group_by, client, supplier, resource, computer, instance, month;
  bool compare = false, csv = false;
};

std::string query_string(const QueryArgs& a, bool statement) {
  std::vector<std::pair<std::string, std::string>> ps;
  auto add = [&](const char* k, const std::string& v) {
    if (!v.empty()) ps.emplace_back(k, v);
  };
  if (statement) add("month", a.month);
  else add("window", a.window);
  add("from", a.from);
  add("to", a.to);
  if (!statement) add("group_by", a.group_by);
  add("client", a.client);
  add("supplier", a.supplier);
  add("resource", a.resource);
  add("computer", a.computer);
  add("instance", a.instance);
  if (a.compare) add("compare", "previous");
  if (a.csv) add("format", "csv");
  std::string q;
  for (const auto& [k, v] : ps) q += (q.empty() ? "?" : "&") + k + "=" + url_escape(v);
  return q;
}

// The answer as an aligned table: one column per grouped dimension, then quantity and amount.
void print_table(const bj::object& o) {
  std::vector<std::string> cols;
  for (const auto& g : o.at("group_by").as_array()) cols.emplace_back(g.as_string());
  const bool compared = o.contains("previous");
  const std::string currency = text(o, "currency");
  std::vector<std::string> head = cols;
  for (const char* c : {"QUANTITY", "UNIT", "AMOUNT", "MOVEMENTS"}) head.emplace_back(c);
  if (compared) {
    head.emplace_back("PREVIOUS");
    head.emplace_back("CHANGE");
  }
  for (size_t i = 0; i < cols.size(); ++i) {
    for (auto& ch : head[i]) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  std::vector<std::vector<std::string>> rows{head};
  auto money = [&](int64_t minor) {
    // minor units -> exact decimal text with the currency's digits (2, or 0 for JPY and the like)
    const bool zero = currency == "JPY" || currency == "KRW";
    if (zero) return std::to_string(minor);
    const bool neg = minor < 0;
    const uint64_t a = neg ? 0 - static_cast<uint64_t>(minor) : static_cast<uint64_t>(minor);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%s%llu.%02llu", neg ? "-" : "", static_cast<unsigned long long>(a / 100), static_cast<unsigned long long>(a % 100));
    return std::string(buf);
  };
  for (const auto& rv : o.at("rows").as_array()) {
    const auto& r = rv.as_object();
    std::vector<std::string> line;
    for (const auto& c : cols) line.push_back(text(r, c));
    line.push_back(r.contains("quantity") ? text(r, "quantity") : "-");
    line.push_back(text(r, "unit").empty() ? "(mixed)" : text(r, "unit"));
    line.push_back(money(r.at("amount_minor").as_int64()));
    line.push_back(text(r, "movements"));
    if (compared) {
      line.push_back(money(r.at("previous_amount_minor").as_int64()));
      line.push_back(money(r.at("change_minor").as_int64()));
    }
    rows.push_back(std::move(line));
  }
  std::vector<size_t> width(head.size(), 0);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string out;
    for (size_t i = 0; i < r.size(); ++i) {
      const bool numeric = i >= cols.size() && i != cols.size() + 1;  // right-align numbers
      const std::string pad(width[i] - r[i].size(), ' ');
      out += numeric ? pad + r[i] : r[i] + pad;
      if (i + 1 < r.size()) out += "  ";
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    std::printf("%s\n", out.c_str());
  }
  std::printf("total %s %s (%s to %s, %s movements", money(o.at("total_minor").as_int64()).c_str(), currency.c_str(),
              text(o, "from").c_str(), text(o, "to").c_str(), text(o, "movements").c_str());
  if (o.at("unrated").as_int64() > 0) std::printf(", %s without a price", text(o, "unrated").c_str());
  if (const auto* ov = o.if_contains("overflowed"); ov != nullptr && ov->is_int64() && ov->as_int64() > 0) {
    std::printf(", %s day lines past 2^63-1 minor units counted 0", text(o, "overflowed").c_str());
  }
  if (compared) {
    const auto& p = o.at("previous").as_object();
    std::printf("; previous %s to %s: %s %s", text(p, "from").c_str(), text(p, "to").c_str(), money(p.at("total_minor").as_int64()).c_str(),
                currency.c_str());
  }
  std::printf(")\n");
}

template <typename F>
void on_run(CLI::App* cmd, MasterSettings* settings, F f) {
  cmd->callback([settings, f] {
    std::string error;
    auto client = MasterClient::connect(*settings, error);
    if (!client) {
      std::fprintf(stderr, "slapctl: %s\n", error.c_str());
      g_exit_code = kExitError;
      return;
    }
    g_exit_code = f(*client);
  });
}

int show(MasterClient& m, const QueryArgs& a, bool statement) {
  if (a.csv && m.settings().json) {
    std::fprintf(stderr, "slapctl: --csv and --json exclude each other\n");
    return kExitError;
  }
  auto r = m.get(std::string(statement ? "/v1/billing/statement" : "/v1/billing") + query_string(a, statement));
  if (r.status != 200) return report_failure(r);
  if (a.csv || m.settings().json) {
    std::cout << r.body << (r.body.empty() || r.body.back() != '\n' ? "\n" : "");
    return kExitOk;
  }
  if (!r.json.is_object()) {
    std::fprintf(stderr, "slapctl: the master answered something else than JSON\n");
    return kExitError;
  }
  print_table(r.json.as_object());
  return kExitOk;
}

void add_filters(CLI::App* cmd, QueryArgs& a, bool statement) {
  cmd->add_option("--from", a.from, "First day, YYYY-MM-DD (UTC)");
  cmd->add_option("--to", a.to, "Last day, YYYY-MM-DD (included)");
  if (!statement) {
    cmd->add_option("--client", a.client, "Only this client");
    cmd->add_option("--group-by", a.group_by, "Comma-separated: client,supplier,resource,computer,instance,day,month");
  }
  cmd->add_option("--supplier", a.supplier, "Only this supplier");
  cmd->add_option("--resource", a.resource, "Only this resource (usage/cpu_s, hosting/running, ...)");
  cmd->add_option("--computer", a.computer, "Only this computer");
  cmd->add_option("--instance", a.instance, "Only this instance");
  cmd->add_flag("--compare", a.compare, "Compare with the previous window of the same length");
  cmd->add_flag("--csv", a.csv, "CSV instead of a table");
  add_master_options(cmd, a.settings);
}

}  // namespace

void add_billing_commands(CLI::App& app) {
  // price set RESOURCE PRICE --unit U [--computer C] [--from DATE] [--correction]
  {
    auto* price = app.add_subcommand("price", "Price lists of suppliers");
    price->require_subcommand(1);
    struct A {
      MasterSettings settings;
      std::string resource, price, unit, computer, currency = "EUR", from;
      bool correction = false;
    };
    auto a = std::make_shared<A>();
    auto* cmd = price->add_subcommand("set", "Set your price for a resource, from a day on (tomorrow by default)");
    cmd->add_option("resource", a->resource, "usage/cpu_s, usage/ram_byte_s, hosting/running, custom/transaction, ...")->required();
    cmd->add_option("price", a->price, "Minor units of the currency per unit, exact decimal (12 = 0.12 EUR; 0.0035 allowed)")->required();
    cmd->add_option("--unit", a->unit, "The unit the price is per (cpu_s, byte_s, partition_h, transaction, ...)")->required();
    cmd->add_option("--computer", a->computer, "Only this computer of yours (default: all your computers)");
    cmd->add_option("--currency", a->currency, "ISO 4217 code (the market's)");
    cmd->add_option("--from", a->from, "First day it applies, YYYY-MM-DD (UTC); tomorrow at the earliest unless --correction");
    cmd->add_flag("--correction", a->correction, "Correct a past price (then `billing rerate` applies it)");
    add_master_options(cmd, a->settings);
    on_run(cmd, &a->settings, [a](MasterClient& m) {
      bj::object body{{"resource", a->resource}, {"unit", a->unit}, {"price", a->price}, {"currency", a->currency}};
      if (!a->computer.empty()) body["computer"] = a->computer;
      if (!a->from.empty()) body["effective"] = a->from;
      if (a->correction) body["correction"] = true;
      auto r = m.post("/v1/prices", body);
      if (r.status != 201) return report_failure(r);
      if (m.settings().json) std::cout << r.body << "\n";
      else std::printf("price recorded, effective %s\n", text(r.json.as_object(), "effective").c_str());
      return kExitOk;
    });
  }
  // billing [filters]  |  billing statement --client C [--month M]  |  billing rerate --from --to
  auto* billing = app.add_subcommand("billing", "Billing for analysts: amounts by client, supplier, resource, computer, instance, period");
  auto q = std::make_shared<QueryArgs>();
  billing->add_option("--window", q->window, "today, 7d, month (default), YYYY-MM or a date");
  add_filters(billing, *q, false);

  auto st = std::make_shared<QueryArgs>();
  auto* statement = billing->add_subcommand("statement", "A client's monthly statement");
  statement->add_option("--client", st->client, "The client (yourself unless you are an analyst)")->required();
  statement->add_option("--month", st->month, "YYYY-MM (default: this month)");
  add_filters(statement, *st, true);
  on_run(statement, &st->settings, [st](MasterClient& m) { return show(m, *st, true); });

  struct R {
    MasterSettings settings;
    std::string from, to, computer, reason;
  };
  auto rr = std::make_shared<R>();
  auto* rerate = billing->add_subcommand("rerate", "Re-rate your lines of past days with the price lists as they stand (recorded)");
  rerate->add_option("--from", rr->from, "First day, YYYY-MM-DD")->required();
  rerate->add_option("--to", rr->to, "Last day, YYYY-MM-DD (included)")->required();
  rerate->add_option("--computer", rr->computer, "Only this computer of yours");
  rerate->add_option("--reason", rr->reason, "Why (kept in the ledger)");
  add_master_options(rerate, rr->settings);
  on_run(rerate, &rr->settings, [rr](MasterClient& m) {
    bj::object body{{"from", rr->from}, {"to", rr->to}};
    if (!rr->computer.empty()) body["computer"] = rr->computer;
    if (!rr->reason.empty()) body["reason"] = rr->reason;
    auto r = m.post("/v1/billing/rerate", body);
    if (r.status != 201) return report_failure(r);
    if (m.settings().json) std::cout << r.body << "\n";
    else std::printf("re-rating recorded\n");
    return kExitOk;
  });

  // The query itself, when no sub-command was given.
  billing->callback([billing, statement, rerate, q] {
    if (statement->parsed() || rerate->parsed()) return;
    (void)billing;
    std::string error;
    auto client = MasterClient::connect(q->settings, error);
    if (!client) {
      std::fprintf(stderr, "slapctl: %s\n", error.c_str());
      g_exit_code = kExitError;
      return;
    }
    g_exit_code = show(*client, *q, false);
  });
}

}  // namespace slap::ctl
