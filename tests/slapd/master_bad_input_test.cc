// Bad input gets a clear error and writes nothing: malformed JSON, wrong types, unknown fields and
// guids, rule refusals, oversized bodies, rate limits — the ledger head never moves.
#include <gtest/gtest.h>

#include <set>

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
      // Unknown guids are refused as someone else's would be: whether they exist is not the
      // caller's to learn (authorization_matrix_test).
      {"/slapos.get.v0.software_instance", R"({"instance_guid":"SOFTINST-404"})", 403, "may not read SOFTINST-404"},
      {"/slapos.post.v0.software_installation", R"({"computer_guid":"COMP-404","software_release_uri":"u"})", 403, "does not own COMP-404"},
      {"/slapos.put.v0.software_instance_title", R"({"instance_guid":"SOFTINST-404","title":"x"})", 403, "may not act on SOFTINST-404"},
      {"/slapos.no.v0.such_verb", "{}", 404, "no such verb"},
      {"/v1/persons", R"({"name":"Q"})", 403, "administrator"},
      {"/v1/computers", R"({"price_minor":-5})", 400, "price_minor"},
      {"/v1/computers", R"({"scope":"sideways"})", 400, "scope"},
      // Named like a person's id: refused whether that person exists or not (no probing).
      {"/v1/computers", R"({"network":"PERSON-0123456789ab"})", 400, "may not start with PERSON-"},
      {"/v1/certificates/revoke", R"({"serial":"00"})", 403, "may not revoke 00"},
      {"/v1/nowhere", "{}", 404, "no such path"},
      // A key twice in one object, at any depth: which one counts would be the parser's whim.
      {"/slapos.post.v0.software_instance", R"({"title":"a","title":"b","software_release_uri":"u","software_type":"t"})", 400, "'title': a key given twice"},
      {"/slapos.post.v0.software_instance", R"({"title":"t","software_release_uri":"u","software_type":"t","parameters":{"k":"1","k":"2"}})", 400, "'k': a key given twice"},
      {"/slapos.post.v0.software_instance", R"({"title":"t","software_release_uri":"u","software_type":"t","parameters":{"j":"[{\"a\":1}]","x":[{"a":1,"a":2}]}})", 400, "'a': a key given twice"},
  };
  for (const auto& c : cases) {
    auto r = p.post(c.path, c.body);
    EXPECT_EQ(r.status, c.status) << c.path << " " << c.body << " -> " << r.body;
    EXPECT_NE(r.body.find(c.says), std::string::npos) << c.path << " " << c.body << " -> " << r.body;
  }
  // A network named like an existing person and like an unknown one: one answer.
  const std::string existing = str(person, "guid");
  auto as_network = [&](const std::string& id) {
    auto r = p.post("/v1/computers", R"({"network":")" + id + "\"}");
    return std::to_string(r.status) + " " + r.body;
  };
  EXPECT_EQ(as_network(existing), as_network("PERSON-0123456789ab"));
  // JSON-RPC verbs are POST; a too-large body is refused before it is read whole.
  EXPECT_EQ(p.get("/slapos.get.v0.software_instance").status, 405u);
  test::TlsClient big("127.0.0.1", master.port(), master.ca(), test::cert_of(person));
  EXPECT_EQ(big.post("/slapos.post.v0.software_instance", std::string(8192, ' ')).status, 413u);
  EXPECT_EQ(admin.post("/v1/persons", R"({"name":""})").status, 400u);
  EXPECT_EQ(admin.post("/v1/persons", R"({"name":"  "})").status, 400u);
  // A title's 200 is characters (JSON Schema's maxLength), not bytes: 201 two-byte letters are
  // one too many, whatever their bytes.
  std::string e201;
  for (int k = 0; k < 201; ++k) e201 += "\xc3\xa9";  // é
  auto long_title = p.post("/slapos.post.v0.software_instance", R"({"title":")" + e201 + R"(","software_release_uri":"u","software_type":"t"})");
  EXPECT_EQ(long_title.status, 400u);
  EXPECT_NE(long_title.body.find("longer than 200 characters"), std::string::npos) << long_title.body;
  EXPECT_EQ(admin.get("/v1/ledger/head").body, head) << "a refused request wrote to the ledger";
  // 200 of them (400 bytes) are a title.
  const std::string e200 = e201.substr(2);
  auto title = p.post("/slapos.post.v0.software_instance", R"({"title":")" + e200 + R"(","software_release_uri":"u","software_type":"t"})");
  EXPECT_EQ(title.status, 200u) << title.body;
  EXPECT_EQ(str(parse_object(title.body), "title"), e200);
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

// GET /v1/instances comes in pages of what the caller may read: following `next` lists each of
// its instances once and nobody else's; bad paging parameters are refused.
TEST(MasterBadInput, InstanceListingsComeInPagesOfWhatTheCallerMayRead) {
  test::TempDir dir;
  test::MasterProcess master(dir.path() / "master");
  ASSERT_TRUE(master.ready());
  auto admin = master.client(master.admin());
  auto x = master.client(test::cert_of(parse_object(admin.post("/v1/persons", R"({"name":"X"})").body)));
  auto y = master.client(test::cert_of(parse_object(admin.post("/v1/persons", R"({"name":"Y"})").body)));
  auto comp = parse_object(x.post("/v1/computers", R"({"price_minor":1})").body);
  const std::string guid = str(comp, "computer_guid");
  std::string parts;
  for (int p = 0; p < 14; ++p) parts += (p ? "," : "") + std::string(R"({"partition_id":"slappart)") + std::to_string(p) + R"("})";
  ASSERT_EQ(master.client(test::cert_of(comp)).post("/slapos.put.v0.compute_node_format", R"({"computer_guid":")" + guid + R"(","compute_partition_list":[)" + parts + "]}").status, 200u);
  ASSERT_EQ(x.post("/slapos.post.v0.software_installation", R"({"computer_guid":")" + guid + R"(","software_release_uri":"file:///sr"})").status, 200u);
  // X's and Y's instances interleaved in the registry.
  std::set<std::string> mine;
  for (int k = 0; k < 7; ++k) {
    for (auto* who : {&x, &y}) {
      auto r = who->post("/slapos.post.v0.software_instance",
                         R"({"title":"i)" + std::to_string(k) + R"(","software_release_uri":"file:///sr","software_type":"default"})");
      ASSERT_EQ(r.status, 200u) << r.body;
      if (who == &x) mine.insert(str(parse_object(r.body), "instance_guid"));
    }
  }
  std::multiset<std::string> listed;
  std::string path = "/v1/instances?limit=3";
  int pages = 0;
  for (; pages < 20; ++pages) {
    auto r = x.get(path);
    ASSERT_EQ(r.status, 200u) << r.body;
    auto o = parse_object(r.body);
    const auto& page = o.at("instances").as_array();
    EXPECT_LE(page.size(), 3u);
    for (const auto& i : page) listed.insert(str(i.as_object(), "instance_guid"));
    if (!o.contains("next")) break;
    path = "/v1/instances?limit=3&after=" + std::to_string(o.at("next").as_int64());
  }
  EXPECT_EQ(pages, 2) << "7 instances in pages of 3";
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()), mine);
  EXPECT_EQ(listed.size(), mine.size()) << "an instance listed twice";
  // The admin reads everyone's, without a limit in pages of up to 1000.
  auto all = parse_object(admin.get("/v1/instances").body);
  EXPECT_EQ(all.at("instances").as_array().size(), 14u);
  EXPECT_FALSE(all.contains("next"));
  for (const char* bad : {"?limit=0", "?limit=1001", "?limit=x", "?after=-1", "?colour=blue"}) {
    EXPECT_EQ(x.get(std::string("/v1/instances") + bad).status, 400u) << bad;
  }
  EXPECT_EQ(admin.get("/v1/ledger?limit=0").status, 400u);
}
