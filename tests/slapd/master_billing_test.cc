// Billing through a real slapmaster: prices set over /v1/prices (rejections write nothing), a
// node's usage journal rated, /v1/billing only for analysts (403 otherwise), statements for their
// client, and slapctl billing as a table, --json and --csv.
#include <gtest/gtest.h>

#include <cstdio>
#include <optional>

#include "billing/calendar.h"
#include "tests/ledger/test_util.h"
#include "tests/slapd/master_process.h"

using namespace slap;
using test::parse_object;
using test::str;

namespace {

// The day's journal so far, as SlapOS nodes post them: from midnight, so the partition held the
// instance (allocated today) during part of it.
std::string journal(const std::string& guid, const std::string& partition, const std::string& date, const std::string& quantity) {
  std::string xml = "<?xml version='1.0'?><journal><transaction type=\"Sale Packing List\"><start_date>" + date +
                    " 00:00:00</start_date><stop_date>" + test::tio_date_from_now(1) + "</stop_date><reference>" + partition +
                    "</reference><currency/><payment_mode/><arrow type=\"Source\"><source>x</source></arrow>"
                    "<movement><resource>usage/cpu_s</resource><reference>" + partition + "</reference><quantity>" + quantity +
                    "</quantity><price>0.0</price><VAT/></movement></transaction></journal>";
  return boost::json::serialize(boost::json::object{{"tioxml", xml}, {"computer_guid", guid}});
}

// A journal of one movement of `resource` (unit given by a category) on `date`, for `instance`
// (named by its guid: a partition is billed to whoever held it then, and the instance was
// allocated today, after yesterday's journals begin).
std::string journal_of(const std::string& guid, const std::string& instance, const std::string& date, const std::string& resource,
                       const std::string& unit, const std::string& quantity) {
  std::string xml = "<?xml version='1.0'?><journal><transaction type=\"Sale Packing List\"><start_date>" + date +
                    " 00:00:00</start_date><stop_date>" + date + " 00:00:01</stop_date><reference>slappart0-" + resource +
                    "</reference><currency/><payment_mode/><arrow type=\"Source\"><source>x</source></arrow>"
                    "<movement><resource>" + resource + "</resource><reference>" + instance + "</reference><quantity>" + quantity +
                    "</quantity><price>0.0</price><VAT/><category>unit:" + unit + "</category></movement></transaction></journal>";
  return boost::json::serialize(boost::json::object{{"tioxml", xml}, {"computer_guid", guid}});
}

std::string run(const std::string& cmd, int& status) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  status = pclose(p);
  return out;
}

void write(const std::filesystem::path& p, const std::string& s) { std::ofstream(p) << s; }

// A supplier's computer (one partition, formatted) supplying file:///sr, a client's instance "db"
// on it, and an analyst: what both billing tests start from.
class MasterBilling : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(master.ready());
    master.connect(admin_c, master.admin());
    supplier_o = parse_object(admin_c->post("/v1/persons", R"({"name":"Supplier"})").body);
    client_o = parse_object(admin_c->post("/v1/persons", R"({"name":"Client"})").body);
    analyst_o = parse_object(admin_c->post("/v1/persons", R"({"name":"Ann","role":"analyst"})").body);
    master.connect(supplier_c, test::cert_of(supplier_o));
    master.connect(client_c, test::cert_of(client_o));
    master.connect(analyst_c, test::cert_of(analyst_o));
    client_id = str(client_o, "guid");
    auto comp_o = parse_object(supplier_c->post("/v1/computers", "{}").body);
    guid = str(comp_o, "computer_guid");
    master.connect(node_c, test::cert_of(comp_o));
    ASSERT_EQ(node_c->post("/slapos.put.v0.compute_node_format", R"({"computer_guid":")" + guid + R"(","compute_partition_list":[{"partition_id":"slappart0"}]})").status, 200u);
    ASSERT_EQ(supplier_c->post("/slapos.post.v0.software_installation", R"({"computer_guid":")" + guid + R"(","software_release_uri":"file:///sr"})").status, 200u);
    auto requested = client_c->post("/slapos.post.v0.software_instance", R"({"title":"db","software_release_uri":"file:///sr","software_type":"default","sla_parameters":{"computer_guid":")" + guid + R"("}})");
    ASSERT_EQ(requested.status, 200u);
    instance = str(parse_object(requested.body), "instance_guid");
    today = billing::day_of(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  }
  test::TempDir dir;
  test::MasterProcess master{dir.path() / "master"};
  std::optional<test::TlsClient> admin_c, supplier_c, client_c, analyst_c, node_c;  // built in place: a client holds its stream
  boost::json::object supplier_o, client_o, analyst_o;
  std::string client_id, guid, instance;
  int32_t today = 0;
};

}  // namespace

TEST_F(MasterBilling, PricesUsageQueriesAndAuthorization) {
  auto &admin = *admin_c, &supplier = *supplier_c, &client = *client_c, &analyst = *analyst_c, &node = *node_c;

  const std::string day = billing::format_date(today);
  // Refused price commands write nothing.
  const std::string head = admin.get("/v1/ledger/head").body;
  EXPECT_EQ(client.post("/v1/prices", R"({"computer":")" + guid + R"(","resource":"usage/cpu_s","unit":"cpu_s","price":"1"})").status, 403u);
  EXPECT_EQ(supplier.post("/v1/prices", R"({"resource":"usage/cpu_s","unit":"parsec","price":"1"})").status, 422u);
  EXPECT_EQ(supplier.post("/v1/prices", R"({"resource":"usage/cpu_s","unit":"cpu_s","price":"-1"})").status, 422u);
  EXPECT_EQ(supplier.post("/v1/prices", R"({"resource":"usage/cpu_s","unit":"cpu_s","price":1.5})").status, 400u);  // never a float
  EXPECT_EQ(supplier.post("/v1/prices", R"({"resource":"usage/cpu_s","unit":"cpu_s","price":"1","effective":")" + day + R"("})").status, 422u);
  EXPECT_EQ(node.post("/v1/prices", R"({"resource":"usage/cpu_s","unit":"cpu_s","price":"1"})").status, 403u);
  EXPECT_EQ(admin.get("/v1/ledger/head").body, head);
  // A price from tomorrow, and a correction for today (what a journal of today is rated with).
  EXPECT_EQ(supplier.post("/v1/prices", R"({"resource":"usage/cpu_s","unit":"cpu_s","price":"0.4"})").status, 201u);
  auto corr = supplier.post("/v1/prices", R"({"resource":"usage/cpu_s","unit":"cpu_s","price":"0.5","correction":true,"effective":")" + day + R"("})");
  ASSERT_EQ(corr.status, 201u) << corr.body;
  auto posted = node.post("/slapos.post.v0.compute_node_usage", journal(guid, "slappart0", day, "100.5"));
  ASSERT_EQ(posted.status, 200u) << posted.body;

  // Analysts only.
  EXPECT_EQ(client.get("/v1/billing?window=today").status, 403u);
  EXPECT_EQ(supplier.get("/v1/billing").status, 403u);
  EXPECT_EQ(analyst.get("/v1/billing?window=yesterday").status, 400u);
  EXPECT_EQ(analyst.get("/v1/billing?group_by=planet").status, 400u);
  auto r = analyst.get("/v1/billing?window=today&group_by=client,resource&compare=previous");
  ASSERT_EQ(r.status, 200u) << r.body;
  auto o = parse_object(r.body);
  ASSERT_EQ(o.at("rows").as_array().size(), 1u) << r.body;
  const auto& row = o.at("rows").as_array()[0].as_object();
  EXPECT_EQ(str(row, "client"), client_id);
  EXPECT_EQ(str(row, "resource"), "usage/cpu_s");
  EXPECT_EQ(str(row, "quantity"), "100.5");
  EXPECT_EQ(row.at("amount_minor").as_int64(), 50);  // 100.5 x 0.5 = 50.25 -> 50
  EXPECT_EQ(row.at("previous_amount_minor").as_int64(), 0);
  EXPECT_EQ(o.at("total_minor").as_int64(), 50);
  EXPECT_EQ(analyst.get("/v1/billing?window=today&client=nobody").body.find("\"rows\":[]") != std::string::npos, true);
  auto csv = analyst.get("/v1/billing?window=today&group_by=client,resource&format=csv");
  ASSERT_EQ(csv.status, 200u);
  EXPECT_EQ(csv.body.substr(0, csv.body.find('\n')), "client,resource,unit,quantity,currency,amount_minor,amount,movements,unrated,overflowed");
  // Statements: the client itself or an analyst.
  EXPECT_EQ(client.get("/v1/billing/statement?client=" + client_id).status, 200u);
  EXPECT_EQ(supplier.get("/v1/billing/statement?client=" + client_id).status, 403u);
  EXPECT_EQ(analyst.get("/v1/billing/statement?client=" + client_id + "&month=" + day.substr(0, 7)).status, 200u);
  // Re-rating is recorded; it changes nothing here (today's line already has today's price).
  EXPECT_EQ(supplier.post("/v1/billing/rerate", R"({"from":")" + day + R"(","to":")" + day + R"(","reason":"check"})").status, 201u);
  EXPECT_EQ(client.post("/v1/billing/rerate", R"({"computer":")" + guid + R"(","from":")" + day + R"(","to":")" + day + R"("})").status, 403u);

  // slapctl billing: table, --json, --csv.
  write(dir.path() / "a.crt", str(analyst_o, "certificate"));
  write(dir.path() / "a.key", str(analyst_o, "key"));
  write(dir.path() / "ca.crt", master.ca());
  const std::string base = std::string(SLAPCTL) + " billing --master https://127.0.0.1:" + std::to_string(master.port()) + " --cert " +
                           (dir.path() / "a.crt").string() + " --key " + (dir.path() / "a.key").string() + " --ca " +
                           (dir.path() / "ca.crt").string() + " --window today --group-by client,resource";
  int status = -1;
  const std::string table = run(base, status);
  EXPECT_EQ(status, 0) << table;
  EXPECT_EQ(table.rfind("CLIENT", 0), 0u) << table;
  EXPECT_NE(table.find("usage/cpu_s"), std::string::npos) << table;
  EXPECT_NE(table.find("100.5"), std::string::npos) << table;
  EXPECT_NE(table.find("total 0.50 EUR"), std::string::npos) << table;
  const std::string json = run(base + " --json --compare", status);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(parse_object(json).at("total_minor").as_int64(), 50) << json;
  EXPECT_TRUE(parse_object(json).contains("previous"));
  const std::string csv_out = run(base + " --csv", status);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(csv_out.rfind("client,resource,unit,quantity", 0), 0u) << csv_out;
  EXPECT_NE(csv_out.find(",usage/cpu_s,cpu_s,100.5,EUR,50,0.50,1,0"), std::string::npos) << csv_out;
  // Without the analyst role: refused, exit 1.
  write(dir.path() / "c.crt", str(client_o, "certificate"));
  write(dir.path() / "c.key", str(client_o, "key"));
  const std::string refused = run(std::string(SLAPCTL) + " billing --master https://127.0.0.1:" + std::to_string(master.port()) + " --cert " +
                                      (dir.path() / "c.crt").string() + " --key " + (dir.path() / "c.key").string() + " --ca " +
                                      (dir.path() / "ca.crt").string() + " 2>&1",
                                  status);
  EXPECT_EQ(WEXITSTATUS(status), 1) << refused;
  EXPECT_NE(refused.find("403"), std::string::npos) << refused;
}

// What an analyst must never be shown silently: amounts past int64 (a price far too high for its
// unit) are refused with a reason, not wrapped; a line that overflowed by itself is counted; a
// parameter the route does not read is refused, not ignored; a text cell that a spreadsheet would
// run as a formula is quoted; a computer's price in a unit the usage is not in leaves the
// supplier's price in force.
TEST_F(MasterBilling, WhatAnAnalystIsNeverShownSilently) {
  auto &supplier = *supplier_c, &client = *client_c, &analyst = *analyst_c, &node = *node_c;
  const std::string day = billing::format_date(today), yesterday = billing::format_date(today - 1);
  auto price = [&](const std::string& body) {
    auto r = supplier.post("/v1/prices", body);
    EXPECT_EQ(r.status, 201u) << body << " " << r.body;
  };
  auto post = [&](const std::string& date, const std::string& resource, const std::string& unit, const std::string& quantity) {
    auto r = node.post("/slapos.post.v0.compute_node_usage", journal_of(guid, instance, date, resource, unit, quantity));
    ASSERT_EQ(r.status, 200u) << r.body;
  };
  // 9e16 minor units per transaction: one line of 100 fits in int64 (9e18), two do not.
  price(R"({"resource":"custom/big","unit":"transaction","price":"90000000000000000","correction":true,"effective":")" + yesterday + R"("})");
  post(yesterday, "custom/big", "transaction", "100");
  post(day, "custom/big", "transaction", "100");
  // 1e18 per transaction x 100 overflows the line itself: it counts 0 and is reported.
  price(R"({"resource":"custom/huge","unit":"transaction","price":"1000000000000000000","correction":true,"effective":")" + day + R"("})");
  post(day, "custom/huge", "transaction", "100");
  auto one_day = analyst.get("/v1/billing?window=today&resource=custom/big");
  ASSERT_EQ(one_day.status, 200u) << one_day.body;
  EXPECT_EQ(parse_object(one_day.body).at("total_minor").as_int64(), 9'000'000'000'000'000'000);
  auto two_days = analyst.get("/v1/billing?window=7d&resource=custom/big&group_by=day");
  EXPECT_EQ(two_days.status, 422u) << "two lines of 9e18 summed past int64: " << two_days.body;
  EXPECT_NE(two_days.body.find("amount_out_of_range"), std::string::npos) << two_days.body;
  auto huge = analyst.get("/v1/billing?window=today&resource=custom/huge");
  ASSERT_EQ(huge.status, 200u) << huge.body;
  EXPECT_EQ(parse_object(huge.body).at("total_minor").as_int64(), 0);
  EXPECT_EQ(parse_object(huge.body).at("overflowed").as_int64(), 1);

  // Parameters of the other route, or a statement that is not a month: 400.
  EXPECT_EQ(analyst.get("/v1/billing?month=" + day.substr(0, 7)).status, 400u);
  EXPECT_EQ(client.get("/v1/billing/statement?client=" + client_id + "&window=" + day.substr(0, 7)).status, 400u);
  EXPECT_EQ(client.get("/v1/billing/statement?client=" + client_id + "&group_by=resource").status, 400u);
  EXPECT_EQ(client.get("/v1/billing/statement?client=" + client_id + "&month=7d").status, 400u);
  EXPECT_EQ(client.get("/v1/billing/statement?client=" + client_id + "&month=" + day).status, 400u);

  // A resource named like a formula is quoted in CSV.
  price(R"({"resource":"custom/small","unit":"transaction","price":"1","correction":true,"effective":")" + day + R"("})");
  post(day, "=HYPERLINK(x)", "transaction", "2");
  auto csv = analyst.get("/v1/billing?window=today&group_by=resource&format=csv");
  ASSERT_EQ(csv.status, 200u) << csv.body;
  EXPECT_NE(csv.body.find("\n'=HYPERLINK(x),transaction,2,"), std::string::npos) << csv.body;

  // The supplier prices cpu_s per cpu_s; a price of this computer per hour does not convert from
  // cpu_s: the supplier's price rates the line (before, the computer's left it unrated).
  price(R"({"resource":"usage/cpu_s","unit":"cpu_s","price":"2","correction":true,"effective":")" + day + R"("})");
  price(R"({"resource":"usage/cpu_s","unit":"hour","price":"1","correction":true,"effective":")" + day + R"(","computer":")" + guid + R"("})");
  post(day, "usage/cpu_s", "cpu_s", "10");
  auto cpu = analyst.get("/v1/billing?window=today&resource=usage/cpu_s");
  ASSERT_EQ(cpu.status, 200u) << cpu.body;
  EXPECT_EQ(parse_object(cpu.body).at("total_minor").as_int64(), 20) << cpu.body;
  EXPECT_EQ(parse_object(cpu.body).at("unrated").as_int64(), 0) << cpu.body;
}
