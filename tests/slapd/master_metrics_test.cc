// GET /metrics on a real slapmaster: the Prometheus text format, requests counted by route and
// status class with a latency histogram, and the ledger's figures agreeing with the ledger itself
// (head, entries and bytes appended, group-commit writes, rejections).
#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>

#include "tests/ledger/test_util.h"
#include "tests/slapd/master_process.h"

using namespace slap;
using test::parse_object;

namespace {

// Sample lines "name{labels} value" by name with labels; comments and blank lines skipped.
std::map<std::string, double> samples(const std::string& body) {
  std::map<std::string, double> out;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    EXPECT_NE(space, std::string::npos) << line;
    if (space == std::string::npos) continue;
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

}  // namespace

TEST(MasterMetrics, CountRequestsByRouteAndClassAndAgreeWithTheLedger) {
  test::TempDir dir;
  // No signed checkpoint during the test: it would move the head between the two reads below.
  test::MasterProcess master(dir.path() / "master", {"--checkpoint-interval", "3600"});
  ASSERT_TRUE(master.ready());
  auto admin = master.client(master.admin());
  ASSERT_EQ(admin.post("/v1/persons", R"({"name":"Bob"})").status, 201u);
  ASSERT_EQ(admin.post("/v1/persons", R"({"name":"Carol"})").status, 201u);
  ASSERT_EQ(admin.post("/v1/persons", "{not json").status, 400u);
  ASSERT_EQ(admin.get("/v1/computers/COMP-NOBODY").status, 404u);
  // Fetching an instance's certificate issues one: routed (and counted) as a write, whatever the
  // verb's "get" says.
  const unsigned cert = admin.post("/slapos.get.v0.software_instance_certificate", R"({"instance_guid":"SOFTINST-404"})").status;
  ASSERT_EQ(cert / 100, 4u) << cert;
  const auto head = parse_object(admin.get("/v1/ledger/head").body);

  auto r = admin.get("/metrics");
  ASSERT_EQ(r.status, 200u);
  const auto m = samples(r.body);
  EXPECT_NE(r.body.find("# TYPE slap_http_requests_total counter"), std::string::npos);
  EXPECT_NE(r.body.find("# TYPE slap_http_request_duration_ms histogram"), std::string::npos);

  // Two persons written, one malformed body refused, one unknown computer.
  EXPECT_EQ(m.at(R"(slap_http_requests_total{route="v1_write",code="2xx"})"), 2);
  EXPECT_EQ(m.at(R"(slap_http_requests_total{route="v1_write",code="4xx"})"), 1);
  EXPECT_EQ(m.at(R"(slap_http_requests_total{route="v1_computer_view",code="4xx"})"), 1);
  EXPECT_EQ(m.at(R"(slap_http_requests_total{route="jsonrpc_write",code="4xx"})"), 1);
  EXPECT_EQ(m.count(R"(slap_http_requests_total{route="jsonrpc_read",code="4xx"})"), 0u);  // a zero count is not listed
  EXPECT_EQ(m.at(R"(slap_http_request_duration_ms_count{route="v1_write"})"), 3);
  EXPECT_EQ(m.at(R"(slap_http_request_duration_ms_bucket{route="v1_write",le="+Inf"})"), 3);

  // The ledger's own figures: this process initialised the ledger and appended everything in it.
  const double seq = static_cast<double>(head.at("seq").as_int64());
  EXPECT_EQ(m.at("slap_ledger_head"), seq);
  EXPECT_EQ(m.at("slap_ledger_appended_entries_total"), seq);
  EXPECT_GE(m.at("slap_ledger_appended_bytes_total"), 56 * seq);  // a 48-byte header and an entry each
  EXPECT_GE(m.at("slap_ledger_group_commit_writes_total"), 3);   // init, then a write per person at least
  EXPECT_LE(m.at("slap_ledger_group_commit_writes_total"), seq);
  EXPECT_EQ(m.at("slap_ledger_rejected_total"), 0);  // the malformed body never reached the ledger
  EXPECT_EQ(m.at("slap_sequencer_queued"), 0);
  // Far fewer entries than --projection-checkpoint-every: no projection checkpoint yet.
  EXPECT_EQ(m.at("slap_projection_checkpoints_total"), 0);
  EXPECT_EQ(m.at("slap_projection_checkpoint_failures_total"), 0);
  EXPECT_EQ(m.at("slap_projection_checkpoint_seconds_total"), 0);
  EXPECT_EQ(m.at("slap_projection_checkpoint_write_seconds_total"), 0);
  EXPECT_EQ(m.at("slap_projection_checkpoint_last_bytes"), 0);
}
