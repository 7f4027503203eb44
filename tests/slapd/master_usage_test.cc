// Usage journals posted by nodes: accounted once, only for the posting computer's own partitions,
// refused whole when any movement is bad — and what is accepted is in the ledger.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "tests/ledger/test_util.h"
#include "tests/slapd/master_process.h"

using namespace slap;
using test::parse_object;
using test::str;

namespace {

// Periods from `start` to a minute from now: they overlap the instances' tenancy of their
// partitions, which began when the test allocated them (a partition's usage is billed to whoever
// held it during the period, and refused when nobody did).
std::string journal(const std::string& partition, const std::string& start, const std::string& quantity) {
  std::string xml = "<?xml version='1.0'?><journal><transaction type=\"Sale Packing List\"><start_date>" + start +
                    "</start_date><stop_date>" + test::tio_date_from_now(1) + "</stop_date><reference>" + partition +
                    "</reference><currency/><payment_mode/><arrow type=\"Source\"><source>x</source></arrow>"
                    "<movement><resource>usage/cpu_s</resource><reference>" + partition + "</reference><quantity>" + quantity +
                    "</quantity><price>0.0</price><VAT/></movement>"
                    "<movement><resource>usage/ram_byte_s</resource><reference>" + partition +
                    "</reference><quantity>1024</quantity><price>0.0</price><VAT/></movement></transaction></journal>";
  boost::json::object body{{"tioxml", xml}};
  return boost::json::serialize(body);
}

std::string with_computer(std::string body, const std::string& guid) {
  auto o = parse_object(body);
  o["computer_guid"] = guid;
  return boost::json::serialize(o);
}

size_t usage_lines(test::TlsClient& admin) {
  auto r = admin.get("/v1/ledger?from=1&limit=10000");
  size_t n = 0;
  for (size_t pos = 0; (pos = r.body.find("\"resource\":\"usage/", pos)) != std::string::npos; ++pos) ++n;
  return n;
}

}  // namespace

TEST(MasterUsage, JournalsAreAccountedOnceAndOnlyForTheirComputer) {
  test::TempDir dir;
  test::MasterProcess master(dir.path() / "master");
  ASSERT_TRUE(master.ready());
  auto admin = master.client(master.admin());
  auto person = master.client(test::cert_of(parse_object(admin.post("/v1/persons", R"({"name":"P"})").body)));
  std::vector<std::string> guids;
  std::vector<test::ClientCert> certs;
  for (int k = 0; k < 2; ++k) {
    auto o = parse_object(person.post("/v1/computers", "{}").body);
    guids.push_back(str(o, "computer_guid"));
    certs.push_back(test::cert_of(o));
    auto c = master.client(certs.back());
    ASSERT_EQ(c.post("/slapos.put.v0.compute_node_format", R"({"computer_guid":")" + guids[k] + R"(","compute_partition_list":[{"partition_id":"slappart0"},{"partition_id":"slappart1"}]})").status, 200u);
    ASSERT_EQ(person.post("/slapos.post.v0.software_installation", R"({"computer_guid":")" + guids[k] + R"(","software_release_uri":"file:///sr"})").status, 200u);
    ASSERT_EQ(person.post("/slapos.post.v0.software_instance", R"({"title":"i)" + std::to_string(k) + R"(","software_release_uri":"file:///sr","software_type":"default","sla_parameters":{"computer_guid":")" + guids[k] + R"("}})").status, 200u);
  }
  auto a = master.client(certs[0]);
  const auto body = with_computer(journal("slappart0", test::tio_date_from_now(-60), "76.4371428571"), guids[0]);
  auto first = a.post("/slapos.post.v0.compute_node_usage", body);
  ASSERT_EQ(first.status, 200u) << first.body;
  EXPECT_EQ(usage_lines(admin), 2u);
  // The same journal again: accounted once.
  auto second = a.post("/slapos.post.v0.compute_node_usage", body);
  ASSERT_EQ(second.status, 200u) << second.body;
  EXPECT_NE(second.body.find("already"), std::string::npos);
  EXPECT_EQ(usage_lines(admin), 2u);
  // The exact quantity is in the ledger, as a decimal string.
  EXPECT_NE(admin.get("/v1/ledger?from=1&limit=10000").body.find("\"quantity\":\"76.4371428571\""), std::string::npos);

  const std::string head = admin.get("/v1/ledger/head").body;
  // Computer A posting for computer B, or for a partition it does not have: 403.
  EXPECT_EQ(a.post("/slapos.post.v0.compute_node_usage", with_computer(journal("slappart0", test::tio_date_from_now(-90), "1"), guids[1])).status, 403u);
  EXPECT_EQ(a.post("/slapos.post.v0.compute_node_usage", with_computer(journal("slappart9", test::tio_date_from_now(-90), "1"), guids[0])).status, 403u);
  // A partition nobody held during the period: 404 naming the transaction (a node sets it aside).
  auto free_partition = a.post("/slapos.post.v0.compute_node_usage", with_computer(journal("slappart1", test::tio_date_from_now(-90), "1"), guids[0]));
  EXPECT_EQ(free_partition.status, 404u) << free_partition.body;
  EXPECT_NE(free_partition.body.find("transaction[0]"), std::string::npos) << free_partition.body;
  // A negative or overflowing quantity, malformed XML: 422 naming the movement.
  auto negative = a.post("/slapos.post.v0.compute_node_usage", with_computer(journal("slappart0", test::tio_date_from_now(-90), "-1"), guids[0]));
  EXPECT_EQ(negative.status, 422u);
  EXPECT_NE(negative.body.find("transaction[0].movement[0].quantity"), std::string::npos) << negative.body;
  EXPECT_EQ(a.post("/slapos.post.v0.compute_node_usage", with_computer(journal("slappart0", test::tio_date_from_now(-90), "99999999999999999999"), guids[0])).status, 422u);
  auto malformed = a.post("/slapos.post.v0.compute_node_usage", R"({"computer_guid":")" + guids[0] + R"(","tioxml":"<journal><trans"})");
  EXPECT_EQ(malformed.status, 422u) << malformed.body;
  EXPECT_EQ(admin.get("/v1/ledger/head").body, head) << "a refused journal wrote to the ledger";
}

// A SlapOS node's own daily journal (slapos.core's collector), as the reference holds it, with its
// computer, day and partition users made this test's: the master takes it whole.
TEST(MasterUsage, ASlapOSNodesDailyConsumptionJournalIsAccepted) {
  std::ifstream in(std::string(SHARED_REFERENCE) + "/tioxml-example-2019-10-07.xml");
  if (!in) GTEST_SKIP() << "../shared/reference is not beside the checkout";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string xml = ss.str();
  test::TempDir dir;
  test::MasterProcess master(dir.path() / "master");
  ASSERT_TRUE(master.ready());
  auto admin = master.client(master.admin());
  auto person = master.client(test::cert_of(parse_object(admin.post("/v1/persons", R"({"name":"P"})").body)));
  auto o = parse_object(person.post("/v1/computers", "{}").body);
  const std::string guid = str(o, "computer_guid");
  auto node = master.client(test::cert_of(o));
  ASSERT_EQ(node.post("/slapos.put.v0.compute_node_format", R"({"computer_guid":")" + guid + R"(","compute_partition_list":[{"partition_id":"slappart0"}]})").status, 200u);
  ASSERT_EQ(person.post("/slapos.post.v0.software_installation", R"({"computer_guid":")" + guid + R"(","software_release_uri":"file:///sr"})").status, 200u);
  ASSERT_EQ(person.post("/slapos.post.v0.software_instance", R"({"title":"eco","software_release_uri":"file:///sr","software_type":"default","sla_parameters":{"computer_guid":")" + guid + R"("}})").status, 200u);
  xml = std::regex_replace(xml, std::regex("COMP-192938"), guid);
  xml = std::regex_replace(xml, std::regex("slapuser[0-9]+"), "slapuser0");
  xml = std::regex_replace(xml, std::regex("2019-10-07 00:00:00"), test::tio_date_from_now(-60));
  xml = std::regex_replace(xml, std::regex("2019-10-07 23:59:59"), test::tio_date_from_now(1));
  boost::json::object body{{"computer_guid", guid}, {"tioxml", xml}};
  auto r = node.post("/slapos.post.v0.compute_node_usage", boost::json::serialize(body));
  ASSERT_EQ(r.status, 200u) << r.body;
  const std::string ledger = admin.get("/v1/ledger?from=1&limit=10000").body;
  size_t lines = 0, movements = 0;
  for (size_t pos = 0; (pos = ledger.find("\"resource\":\"service_module/", pos)) != std::string::npos; ++pos) ++lines;
  for (size_t pos = 0; (pos = xml.find("<movement>", pos)) != std::string::npos; ++pos) ++movements;
  EXPECT_EQ(lines, movements - 1) << "every line but the unmeasured zero-emission ratio";
  EXPECT_NE(ledger.find("\"quantity\":\"76.4371428571\""), std::string::npos);
  EXPECT_NE(ledger.find("\"unit\":\"percent\""), std::string::npos);
  EXPECT_NE(ledger.find("\"unit\":\"mebibyte\""), std::string::npos);
  // A day with no sample: only the ratio never tested. Nothing to account, and it says so.
  const std::string head = admin.get("/v1/ledger/head").body;
  const std::string only_ratio =
      "<journal><transaction type=\"Sale Packing List\"><title>Eco Information for " + guid + " </title><start_date>" + test::tio_date_from_now(-30) +
      "</start_date><stop_date>" + test::tio_date_from_now(0) + "</stop_date><reference>x-global</reference><currency></currency><payment_mode></payment_mode>"
      "<category></category><arrow type=\"Destination\"/><movement><resource>service_module/zero_emission_ratio</resource><title>Zero Emission Ratio</title>"
      "<reference>" + guid + "</reference><quantity>-1</quantity><price>0.0</price><VAT></VAT><category></category></movement></transaction></journal>";
  auto nothing = node.post("/slapos.post.v0.compute_node_usage", boost::json::serialize(boost::json::object{{"computer_guid", guid}, {"tioxml", only_ratio}}));
  ASSERT_EQ(nothing.status, 200u) << nothing.body;
  EXPECT_NE(nothing.body.find("measures nothing"), std::string::npos) << nothing.body;
  EXPECT_EQ(admin.get("/v1/ledger/head").body, head);
}
