// Bad input gets a clear error and writes nothing: malformed JSON, wrong types, unknown fields and
// guids, rule refusals, oversized bodies, rate limits — the ledger head never moves.
#include <gtest/gtest.h>

#include "tests/ledger/test_util.h"
#include "tests/slapd/master_process.h"

using namespace slap;
using test::parse_object;
using test::str;

TEST(MasterBadInput, RefusedRequestsNameTheProblemAndWriteNothing) {
  test::TempDir dir;
  test::MasterProcess master(dir.path() / "master", {"--max-body", "4096"});
  ASSERT_TRUE(master.ready());
  auto admin = master.client(master.admin());
  auto person = parse_object(admin.post("/v1/persons", R"({"name":"P"})").body);
  auto p = master.client(test::cert_of(person));
  const std::string head = admin.get("/v1/ledger/head").body;

  struct Case {
    std::string path, body;
    unsigned status;
    std::string says;  // a fragment the error must contain
  };
  const std::vector<Case> cases = {
      {"/slapos.post.v0.software_instance", "{not json", 400, "malformed JSON"},
      {"/slapos.post.v0.software_instance", "[1,2]", 400, "JSON object"},
      {"/slapos.post.v0.software_instance", R"({"title":1,"software_release_uri":"u","software_type":"t"})", 400, "'title'"},
      {"/slapos.post.v0.software_instance", R"({"software_release_uri":"u","software_type":"t"})", 400, "'title': required"},
      {"/slapos.post.v0.software_instance", R"({"title":"t","software_release_uri":"u","software_type":"t","color":"red"})", 400, "'color': unknown field"},
      {"/slapos.post.v0.software_instance", R"({"title":"t","software_release_uri":"u","software_type":"t","state":"exploded"})", 400, "'state'"},
      {"/slapos.post.v0.software_instance", R"({"title":"t","software_release_uri":"u","software_type":"t","parameters":"x"})", 400, "'parameters': expected an object"},
      {"/slapos.post.v0.software_instance", R"({"title":"t","software_release_uri":"u","software_type":"t","sla_parameters":{"colour":"blue"}})", 422, "colour"},
      {"/slapos.get.v0.software_instance", R"({"instance_guid":"SOFTINST-404"})", 404, "not known"},
      {"/slapos.post.v0.software_installation", R"({"computer_guid":"COMP-404","software_release_uri":"u"})", 404, "unknown_computer"},
      {"/slapos.put.v0.software_instance_title", R"({"instance_guid":"SOFTINST-404","title":"x"})", 404, "unknown_instance"},
      {"/slapos.no.v0.such_verb", "{}", 404, "no such verb"},
      {"/v1/persons", R"({"name":"Q"})", 403, "administrator"},
      {"/v1/computers", R"({"price_minor":-5})", 400, "price_minor"},
      {"/v1/computers", R"({"scope":"sideways"})", 400, "scope"},
      {"/v1/certificates/revoke", R"({"serial":"00"})", 404, "no certificate"},
      {"/v1/nowhere", "{}", 404, "no such path"},
  };
  for (const auto& c : cases) {
    auto r = p.post(c.path, c.body);
    EXPECT_EQ(r.status, c.status) << c.path << " " << c.body << " -> " << r.body;
    EXPECT_NE(r.body.find(c.says), std::string::npos) << c.path << " " << c.body << " -> " << r.body;
  }
  // JSON-RPC verbs are POST; a too-large body is refused before it is read whole.
  EXPECT_EQ(p.get("/slapos.get.v0.software_instance").status, 405u);
  test::TlsClient big("127.0.0.1", master.port(), master.ca(), test::cert_of(person));
  EXPECT_EQ(big.post("/slapos.post.v0.software_instance", std::string(8192, ' ')).status, 413u);
  EXPECT_EQ(admin.get("/v1/ledger/head").body, head) << "a refused request wrote to the ledger";
}

TEST(MasterBadInput, EachIdentityIsRateLimited) {
  test::TempDir dir;
  test::MasterProcess master(dir.path() / "master", {"--rate", "5"});
  ASSERT_TRUE(master.ready());
  auto admin = master.client(master.admin());
  auto person = parse_object(admin.post("/v1/persons", R"({"name":"P"})").body);
  ASSERT_FALSE(test::cert_of(person).cert_pem.empty());
  unsigned ok = 0, limited = 0;
  for (int k = 0; k < 40; ++k) {
    auto r = admin.get("/v1/instances");
    if (r.status == 200) ++ok;
    if (r.status == 429) ++limited;
  }
  EXPECT_GT(limited, 0u);
  EXPECT_GE(ok, 5u);  // the burst
  // Another identity has its own budget; /healthz needs none.
  EXPECT_EQ(master.client(test::cert_of(person)).get("/v1/instances").status, 200u);
  test::TlsClient anonymous("127.0.0.1", master.port(), master.ca());
  EXPECT_EQ(anonymous.get("/healthz").status, 200u);
}
