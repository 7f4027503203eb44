// Every cross-identity action is refused (403), every untrusted certificate is unauthenticated
// (401), and none of them writes anything: the ledger head is unchanged.
#include <gtest/gtest.h>

#include <future>
#include <optional>
#include <vector>

#include "slapd/ca/certificate_authority.h"
#include "tests/ledger/test_util.h"
#include "tests/slapd/master_process.h"

using namespace slap;
using test::parse_object;
using test::str;

namespace {

struct World {
  test::ClientCert x, y, a, b, ix1, ix2, iy;
  std::string a_guid, b_guid, ix1_guid, ix2_guid, iy_guid, a_serial;
};

std::string format_body(const std::string& guid) {
  return R"({"computer_guid":")" + guid + R"(","compute_partition_list":[{"partition_id":"slappart0"},{"partition_id":"slappart1"},{"partition_id":"slappart2"}]})";
}

}  // namespace

TEST(AuthorizationMatrix, CrossIdentityActionsAreRefusedAndWriteNothing) {
  test::TempDir dir;
  test::MasterProcess master(dir.path() / "master");
  ASSERT_TRUE(master.ready());
  auto admin = master.client(master.admin());
  World w;
  auto person = [&](const char* name) { return test::cert_of(parse_object(admin.post("/v1/persons", std::string(R"({"name":")") + name + "\"}").body)); };
  w.x = person("X");
  w.y = person("Y");
  auto cx = master.client(w.x), cy = master.client(w.y);
  auto computer = [&](test::TlsClient& owner, std::string& guid) {
    auto o = parse_object(owner.post("/v1/computers", R"({"price_minor":1})").body);
    guid = str(o, "computer_guid");
    return test::cert_of(o);
  };
  w.a = computer(cx, w.a_guid);
  w.b = computer(cy, w.b_guid);
  auto ca_ = master.client(w.a), cb = master.client(w.b);
  ASSERT_EQ(ca_.post("/slapos.put.v0.compute_node_format", format_body(w.a_guid)).status, 200u);
  ASSERT_EQ(cb.post("/slapos.put.v0.compute_node_format", format_body(w.b_guid)).status, 200u);
  ASSERT_EQ(cx.post("/slapos.post.v0.software_installation", R"({"computer_guid":")" + w.a_guid + R"(","software_release_uri":"file:///sr"})").status, 200u);
  ASSERT_EQ(cy.post("/slapos.post.v0.software_installation", R"({"computer_guid":")" + w.b_guid + R"(","software_release_uri":"file:///sr"})").status, 200u);
  auto request = [&](test::TlsClient& who, const std::string& title, const std::string& comp) {
    auto r = who.post("/slapos.post.v0.software_instance", R"({"title":")" + title + R"(","software_release_uri":"file:///sr","software_type":"default","sla_parameters":{"computer_guid":")" + comp + R"("}})");
    EXPECT_EQ(r.status, 200u) << r.body;
    return str(parse_object(r.body), "instance_guid");
  };
  w.ix1_guid = request(cx, "x1", w.a_guid);
  w.ix2_guid = request(cx, "x2", w.a_guid);
  w.iy_guid = request(cy, "y1", w.b_guid);
  auto instance_cert = [&](test::TlsClient& node, const std::string& guid) {
    auto r = node.post("/slapos.get.v0.software_instance_certificate", R"({"instance_guid":")" + guid + R"("})");
    EXPECT_EQ(r.status, 200u) << r.body;
    return test::cert_of(parse_object(r.body));
  };
  w.ix1 = instance_cert(ca_, w.ix1_guid);
  w.ix2 = instance_cert(ca_, w.ix2_guid);
  auto cix1 = master.client(w.ix1);
  // A certificate of computer A we will revoke, to prove a revoked certificate is refused.
  auto extra = cx.post("/slapos.post.v0.compute_node_certificate", R"({"computer_guid":")" + w.a_guid + R"("})");
  ASSERT_EQ(extra.status, 200u) << extra.body;
  const auto a_extra = test::cert_of(parse_object(extra.body));
  const auto a_extra_id = ca::identity_of_pem(a_extra.cert_pem).value();
  ASSERT_EQ(cx.post("/v1/certificates/revoke", R"({"serial":")" + a_extra_id.serial_hex + R"("})").status, 200u);

  const std::string head = admin.get("/v1/ledger/head").body;
  ASSERT_NE(head.find("\"seq\""), std::string::npos) << head;

  struct Case {
    const char* what;
    test::TlsClient* client;
    std::string path;
    std::string body;
    unsigned expected;
  };
  auto iy = w.iy_guid, ix2 = w.ix2_guid, b = w.b_guid;
  auto partition_of = [&](const std::string& guid) {
    return str(parse_object(cx.post("/slapos.get.v0.software_instance", R"({"instance_guid":")" + guid + "\"}").body), "compute_partition_id");
  };
  const std::string ix1_part = partition_of(w.ix1_guid), ix2_part = partition_of(ix2);
  ASSERT_FALSE(ix1_part.empty());
  ASSERT_NE(ix1_part, ix2_part);
  std::vector<Case> cases = {
      {"computer A formats computer B", &ca_, "/slapos.put.v0.compute_node_format", format_body(b), 403},
      {"computer A lists B's software", &ca_, "/slapos.allDocs.v0.compute_node_software_installation_list", R"({"computer_guid":")" + b + "\"}", 403},
      {"computer A lists B's instances", &ca_, "/slapos.allDocs.v0.compute_node_instance_list", R"({"computer_guid":")" + b + "\"}", 403},
      {"computer A reports B's instance started", &ca_, "/slapos.put.v0.software_instance_reported_state", R"({"instance_guid":")" + iy + R"(","reported_state":"started"})", 403},
      {"computer A publishes B's instance parameters", &ca_, "/slapos.put.v0.software_instance_connection_parameter", R"({"instance_guid":")" + iy + R"(","connection_parameter_dict":{"a":"b"}})", 403},
      {"computer A takes B's instance certificate", &ca_, "/slapos.get.v0.software_instance_certificate", R"({"instance_guid":")" + iy + "\"}", 403},
      {"computer A reads B's view", &ca_, "/v1/computers/" + b, "", 403},
      {"computer A reports B's software", &ca_, "/slapos.put.v0.software_installation_reported_state", R"({"computer_guid":")" + b + R"(","software_release_uri":"file:///sr","reported_state":"available"})", 403},
      {"person X reads Y's instance", &cx, "/slapos.get.v0.software_instance", R"({"instance_guid":")" + iy + "\"}", 403},
      {"person X renames Y's instance", &cx, "/slapos.put.v0.software_instance_title", R"({"instance_guid":")" + iy + R"(","title":"mine"})", 403},
      {"person X bangs Y's instance", &cx, "/slapos.put.v0.software_instance_bang", R"({"instance_guid":")" + iy + R"(","message":"x"})", 403},
      {"person X supplies Y's computer", &cx, "/slapos.post.v0.software_installation", R"({"computer_guid":")" + b + R"(","software_release_uri":"file:///evil"})", 403},
      {"person X takes a certificate of Y's computer", &cx, "/slapos.post.v0.compute_node_certificate", R"({"computer_guid":")" + b + "\"}", 403},
      {"person X revokes Y's computer certificates", &cx, "/slapos.remove.v0.compute_node_certificate", R"({"computer_guid":")" + b + "\"}", 403},
      {"person X reads Y's computer view", &cx, "/v1/computers/" + b, "", 403},
      {"person X adds a person", &cx, "/v1/persons", R"({"name":"Z"})", 403},
      {"person X reads the ledger", &cx, "/v1/ledger/head", "", 403},
      {"person X reports an instance state", &cx, "/slapos.put.v0.software_instance_reported_state", R"({"instance_guid":")" + w.ix1_guid + R"(","reported_state":"started"})", 403},
      {"instance x1 reads its sibling", &cix1, "/slapos.get.v0.software_instance", R"({"instance_guid":")" + ix2 + "\"}", 403},
      {"instance x1 publishes its sibling's parameters", &cix1, "/slapos.put.v0.software_instance_connection_parameter", R"({"instance_guid":")" + ix2 + R"(","connection_parameter_dict":{"a":"b"}})", 403},
      {"instance x1 renames its sibling", &cix1, "/slapos.put.v0.software_instance_title", R"({"instance_guid":")" + ix2 + R"(","title":"t"})", 403},
      {"instance x1 reads Y's instance", &cix1, "/slapos.get.v0.software_instance", R"({"instance_guid":")" + iy + "\"}", 403},
      {"instance x1 formats computer A", &cix1, "/slapos.put.v0.compute_node_format", format_body(w.a_guid), 403},
      {"instance x1 registers a computer", &cix1, "/v1/computers", "{}", 403},
      {"instance x1 reads its sibling's partition", &cix1, "/slapos.get.v0.compute_partition", R"({"computer_guid":")" + w.a_guid + R"(","compute_partition_id":")" + ix2_part + "\"}", 403},
      {"instance x1 lists computer B's instances", &cix1, "/slapos.allDocs.v0.compute_node_instance_list", R"({"computer_guid":")" + b + "\"}", 403},
      {"instance x1 reads a partition of computer B", &cix1, "/slapos.get.v0.compute_partition", R"({"computer_guid":")" + b + R"(","compute_partition_id":"slappart0"})", 403},
      {"instance x1 reports its sibling started", &cix1, "/slapos.put.v0.software_instance_reported_state", R"({"instance_guid":")" + ix2 + R"(","reported_state":"started"})", 403},
      {"instance x1 reports itself destroyed", &cix1, "/slapos.put.v0.software_instance_reported_state", R"({"instance_guid":")" + w.ix1_guid + R"(","reported_state":"destroyed"})", 403},
      // Its certificate is in its software's hands: a "stopped" from it would end the client's bill.
      {"instance x1 reports itself stopped", &cix1, "/slapos.put.v0.software_instance_reported_state", R"({"instance_guid":")" + w.ix1_guid + R"(","reported_state":"stopped"})", 403},
      {"person X bangs Y's computer", &cx, "/slapos.put.v0.compute_node_bang", R"({"computer_guid":")" + b + R"(","message":"m"})", 403},
  };
  // Untrusted certificates.
  test::TlsClient none("127.0.0.1", master.port(), master.ca());
  auto revoked = master.client(a_extra);
  auto other_ca = ca::CertificateAuthority::create("another CA").value();
  auto foreign_cert = other_ca.issue({.subject = w.a_guid, .kind = ca::IdentityKind::computer}).value();
  test::TlsClient foreign("127.0.0.1", master.port(), master.ca(), test::ClientCert{foreign_cert.certificate_pem, foreign_cert.private_key_pem});
  auto our_ca = ca::CertificateAuthority::load(dir.path() / "master").value();
  auto expired_cert = our_ca.issue({.subject = w.a_guid, .kind = ca::IdentityKind::computer, .validity = std::chrono::hours(1), .backdate = std::chrono::hours(2)}).value();
  test::TlsClient expired("127.0.0.1", master.port(), master.ca(), test::ClientCert{expired_cert.certificate_pem, expired_cert.private_key_pem});
  auto unknown_cert = our_ca.issue({.subject = w.a_guid, .kind = ca::IdentityKind::computer}).value();  // signed by the CA, never recorded
  test::TlsClient unrecorded("127.0.0.1", master.port(), master.ca(), test::ClientCert{unknown_cert.certificate_pem, unknown_cert.private_key_pem});
  for (auto* c : {&none, &revoked, &foreign, &expired, &unrecorded}) {
    cases.push_back({"untrusted certificate formats A", c, "/slapos.put.v0.compute_node_format", format_body(w.a_guid), 401});
    cases.push_back({"untrusted certificate reads A's view", c, "/v1/computers/" + w.a_guid, "", 401});
    cases.push_back({"untrusted certificate requests", c, "/slapos.post.v0.software_instance", R"({"title":"t","software_release_uri":"file:///sr","software_type":"default"})", 401});
  }

  for (auto& c : cases) {
    auto r = c.body.empty() && c.path.rfind("/slapos.", 0) != 0 ? c.client->get(c.path) : c.client->post(c.path, c.body);
    EXPECT_EQ(r.status, c.expected) << c.what << ": " << r.body << r.error;
  }
  EXPECT_EQ(admin.get("/v1/ledger/head").body, head) << "a refused action wrote to the ledger";
  // The legitimate counterparts still work (the matrix refuses only what it should).
  EXPECT_EQ(cy.post("/slapos.get.v0.software_instance", R"({"instance_guid":")" + iy + "\"}").status, 200u);
  EXPECT_EQ(cix1.post("/slapos.get.v0.software_instance", R"({"instance_guid":")" + w.ix1_guid + "\"}").status, 200u);
  EXPECT_EQ(ca_.get("/v1/computers/" + w.a_guid).status, 200u);
  // An instance's own slap client (its buildout, with its own certificate) reads its partition and
  // lists itself on its computer; the computer's owner may bang it.
  auto own = cix1.post("/slapos.get.v0.compute_partition", R"({"computer_guid":")" + w.a_guid + R"(","compute_partition_id":")" + ix1_part + "\"}");
  ASSERT_EQ(own.status, 200u) << own.body;
  EXPECT_EQ(str(parse_object(own.body), "instance_guid"), w.ix1_guid);
  auto listed = cix1.post("/slapos.allDocs.v0.compute_node_instance_list", R"({"computer_guid":")" + w.a_guid + "\"}");
  ASSERT_EQ(listed.status, 200u) << listed.body;
  const auto listed_json = parse_object(listed.body);
  const auto& entries = listed_json.at("result_list").as_array();
  ASSERT_EQ(entries.size(), 1u) << "itself, not its sibling: " << listed.body;
  EXPECT_EQ(str(entries[0].as_object(), "instance_guid"), w.ix1_guid);
  EXPECT_EQ(parse_object(ca_.post("/slapos.allDocs.v0.compute_node_instance_list", R"({"computer_guid":")" + w.a_guid + "\"}").body).at("result_list").as_array().size(), 2u)
      << "the node sees both";
  EXPECT_EQ(cx.post("/slapos.put.v0.compute_node_bang", R"({"computer_guid":")" + w.a_guid + R"(","message":"owner says reprocess"})").status, 200u);

  // Guids cannot be probed: naming someone else's instance, computer, person or certificate and
  // naming one that does not exist get the same answer. (They were 403 and 404: anyone could list
  // which SOFTINST-n or COMP-... exist by asking.)
  const std::string y_guid = str(parse_object(admin.post("/v1/persons", R"({"name":"Y2"})").body), "guid");
  const std::string b_serial = ca::identity_of_pem(w.b.cert_pem).value().serial_hex;
  const std::string probed_head = admin.get("/v1/ledger/head").body;
  struct Probe {
    const char* what;
    test::TlsClient* client;
    std::string path;       // "@ID@" stands for the id
    std::string body;       // likewise; empty: a GET
    std::string foreign, unknown;
  };
  const std::string unknown_instance = "SOFTINST-987654", unknown_computer = "COMP-0123456789ab";
  const std::vector<Probe> probes = {
      {"person X reads an instance", &cx, "/slapos.get.v0.software_instance", R"({"instance_guid":"@ID@"})", iy, unknown_instance},
      {"person X renames an instance", &cx, "/slapos.put.v0.software_instance_title", R"({"instance_guid":"@ID@","title":"t"})", iy, unknown_instance},
      {"person X bangs an instance", &cx, "/slapos.put.v0.software_instance_bang", R"({"instance_guid":"@ID@","message":"m"})", iy, unknown_instance},
      {"person X lists an instance's shared instances", &cx, "/slapos.allDocs.v0.instance_node_instance_list", R"({"instance_guid":"@ID@"})", iy, unknown_instance},
      {"person X supplies a computer", &cx, "/slapos.post.v0.software_installation", R"({"computer_guid":"@ID@","software_release_uri":"file:///sr"})", b, unknown_computer},
      {"person X takes a computer certificate", &cx, "/slapos.post.v0.compute_node_certificate", R"({"computer_guid":"@ID@"})", b, unknown_computer},
      {"person X reads a computer's status", &cx, "/slapos.get.v0.compute_node_status", R"({"computer_guid":"@ID@"})", b, unknown_computer},
      {"person X reads a computer's view", &cx, "/v1/computers/@ID@", "", b, unknown_computer},
      {"person X reads a computer's software", &cx, "/v1/computers/@ID@/software", "", b, unknown_computer},
      {"person X renews a person's certificate", &cx, "/v1/persons/@ID@/certificate", "{}", y_guid, "PERSON-0123456789ab"},
      {"person X revokes a certificate", &cx, "/v1/certificates/revoke", R"({"serial":"@ID@"})", b_serial, "00ff00ff"},
      {"computer A reports an instance's state", &ca_, "/slapos.put.v0.software_instance_reported_state", R"({"instance_guid":"@ID@","reported_state":"started"})", iy, unknown_instance},
      {"computer A publishes an instance's parameters", &ca_, "/slapos.put.v0.software_instance_connection_parameter", R"({"instance_guid":"@ID@","connection_parameter_dict":{"a":"b"}})", iy, unknown_instance},
      {"computer A takes an instance's certificate", &ca_, "/slapos.get.v0.software_instance_certificate", R"({"instance_guid":"@ID@"})", iy, unknown_instance},
  };
  auto with = [](std::string text, const std::string& id) {
    if (const size_t at = text.find("@ID@"); at != std::string::npos) text.replace(at, 4, id);
    return text;
  };
  auto ask = [&](const Probe& p, const std::string& id) {
    return p.body.empty() ? p.client->get(with(p.path, id)) : p.client->post(with(p.path, id), with(p.body, id));
  };
  // The same status, error code and words (the id itself aside).
  auto answer = [](const test::HttpReply& r, const std::string& id) {
    std::string body = r.body;
    for (size_t at = body.find(id); at != std::string::npos; at = body.find(id, at)) body.replace(at, id.size(), "<id>");
    return std::to_string(r.status) + " " + body;
  };
  for (const auto& p : probes) {
    const auto theirs = ask(p, p.foreign), unknown = ask(p, p.unknown);
    EXPECT_EQ(theirs.status, 403u) << p.what << ": " << theirs.body;
    EXPECT_EQ(answer(unknown, p.unknown), answer(theirs, p.foreign)) << p.what << ": someone else's id and an unknown one are told apart";
  }
  EXPECT_EQ(admin.get("/v1/ledger/head").body, probed_head) << "a probe wrote to the ledger";
  // The administrator, who may read every id, is still told which ones are unknown.
  EXPECT_EQ(admin.get("/v1/computers/" + unknown_computer).status, 404u);
  EXPECT_EQ(admin.post("/slapos.get.v0.software_instance", R"({"instance_guid":")" + unknown_instance + "\"}").status, 404u);
  EXPECT_EQ(admin.post("/v1/certificates/revoke", R"({"serial":"00ff00ff"})").status, 404u);
}

// A master with person X and X's formatted computer A, which supplies file:///sr.
class InstanceIdentities : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(master.ready());
    master.connect(admin, master.admin());
    master.connect(cx, test::cert_of(parse_object(admin->post("/v1/persons", R"({"name":"X"})").body)));
    auto o = parse_object(cx->post("/v1/computers", R"({"price_minor":1})").body);
    a = str(o, "computer_guid");
    a_cert = test::cert_of(o);
    master.connect(ca, a_cert);
    ASSERT_EQ(ca->post("/slapos.put.v0.compute_node_format", format_body(a)).status, 200u);
    ASSERT_EQ(cx->post("/slapos.post.v0.software_installation", R"({"computer_guid":")" + a + R"(","software_release_uri":"file:///sr"})").status, 200u);
  }
  test::TempDir dir;
  test::MasterProcess master{dir.path() / "master"};
  std::optional<test::TlsClient> admin, cx, ca;  // the administrator, X, computer A
  std::string a;
  test::ClientCert a_cert;
};

// An instance's certificate speaks for it only while it runs: once requested destroyed it
// requests no children, publishes nothing and takes no new certificate, and once its node confirms
// the destruction its certificates are revoked (the TLS layer then refuses them).
TEST_F(InstanceIdentities, ADestroyedInstanceCertificateActsForNothing) {
  auto& ca_ = *ca;
  auto request = [&](test::TlsClient& who, const std::string& title, const std::string& state) {
    return who.post("/slapos.post.v0.software_instance", R"({"title":")" + title + R"(","software_release_uri":"file:///sr","software_type":"default","state":")" +
                                                            state + R"(","sla_parameters":{"computer_guid":")" + a + R"("}})");
  };
  auto r = request(*cx, "x1", "started");
  ASSERT_EQ(r.status, 200u) << r.body;
  const std::string x1 = str(parse_object(r.body), "instance_guid");
  auto cert = ca_.post("/slapos.get.v0.software_instance_certificate", R"({"instance_guid":")" + x1 + R"("})");
  ASSERT_EQ(cert.status, 200u) << cert.body;
  const auto x1_cert = test::cert_of(parse_object(cert.body));
  auto ix1 = master.client(x1_cert);
  r = request(ix1, "child", "started");
  EXPECT_EQ(r.status, 200u) << "a running instance requests children: " << r.body;

  ASSERT_EQ(request(*cx, "x1", "destroyed").status, 200u);
  const std::string head = admin->get("/v1/ledger/head").body;
  EXPECT_EQ(request(ix1, "child2", "started").status, 403u);
  EXPECT_EQ(ix1.post("/slapos.get.v0.software_instance_certificate", R"({"instance_guid":")" + x1 + R"("})").status, 403u);
  EXPECT_EQ(ix1.post("/slapos.put.v0.software_instance_connection_parameter", R"({"instance_guid":")" + x1 + R"(","connection_parameter_dict":{"a":"b"}})").status, 403u);
  EXPECT_EQ(ca_.post("/slapos.get.v0.software_instance_certificate", R"({"instance_guid":")" + x1 + R"("})").status, 403u);
  // Another computer reporting it destroyed is refused and revokes nothing: its certificates were
  // revoked in the same request as the refused report before (the sequencer took them apart).
  auto b_cert = test::cert_of(parse_object(cx->post("/v1/computers", R"({"price_minor":1})").body));
  const std::string head_b = admin->get("/v1/ledger/head").body;
  auto cb = master.client(b_cert);
  EXPECT_EQ(cb.post("/slapos.put.v0.software_instance_reported_state", R"({"instance_guid":")" + x1 + R"(","reported_state":"destroyed"})").status, 403u);
  EXPECT_EQ(admin->get("/v1/ledger/head").body, head_b) << "a refused report wrote to the ledger";
  EXPECT_NE(master.client(x1_cert).post("/slapos.get.v0.software_instance", R"({"instance_guid":")" + x1 + R"("})").status, 401u)
      << "its certificate was revoked by a refused report";

  ASSERT_EQ(ca_.post("/slapos.put.v0.software_instance_reported_state", R"({"instance_guid":")" + x1 + R"(","reported_state":"destroyed"})").status, 200u);
  auto fresh = master.client(x1_cert);  // a new connection: certificates are checked at the handshake
  EXPECT_EQ(fresh.post("/slapos.get.v0.software_instance", R"({"instance_guid":")" + x1 + R"("})").status, 401u) << "its certificate was revoked";
}

// One valid certificate per instance, even when its node fetches several at once: each fetch
// revokes the others, those not yet durable included, so exactly one of them still connects.
TEST_F(InstanceIdentities, ConcurrentCertificateFetchesLeaveOneValid) {
  auto r = cx->post("/slapos.post.v0.software_instance", R"({"title":"x1","software_release_uri":"file:///sr","software_type":"default"})");
  ASSERT_EQ(r.status, 200u) << r.body;
  const std::string x1 = str(parse_object(r.body), "instance_guid");

  constexpr int kFetches = 8;
  std::vector<std::future<test::ClientCert>> fetches;
  for (int k = 0; k < kFetches; ++k) {
    fetches.push_back(std::async(std::launch::async, [&] {
      auto node = master.client(a_cert);
      auto res = node.post("/slapos.get.v0.software_instance_certificate", R"({"instance_guid":")" + x1 + R"("})");
      EXPECT_EQ(res.status, 200u) << res.body;
      return res.status == 200u ? test::cert_of(parse_object(res.body)) : test::ClientCert{};
    }));
  }
  // Every fetch answered before any certificate is tried: one tried while a later fetch was still
  // on its way was rightly valid then (the test checked too early, and saw two now and then).
  std::vector<test::ClientCert> certs;
  for (auto& f : fetches) certs.push_back(f.get());
  int valid = 0;
  for (const auto& cert : certs) {
    if (cert.cert_pem.empty()) continue;
    auto as_instance = master.client(cert);
    const auto status = as_instance.post("/slapos.get.v0.software_instance", R"({"instance_guid":")" + x1 + R"("})").status;
    EXPECT_TRUE(status == 200u || status == 401u) << status;
    valid += status == 200u;
  }
  EXPECT_EQ(valid, 1) << "certificates of one instance still valid after " << kFetches << " concurrent fetches";
}

// A long poll is authenticated when it arrives and again when it is answered: a certificate
// revoked while its poll was parked (a stolen computer key) is not sent the view that changed
// meanwhile, where it was before.
TEST_F(InstanceIdentities, ALongPollParkedByARevokedCertificateIsNotAnswered) {
  auto extra = cx->post("/slapos.post.v0.compute_node_certificate", R"({"computer_guid":")" + a + R"("})");
  ASSERT_EQ(extra.status, 200u) << extra.body;
  const auto stolen = test::cert_of(parse_object(extra.body));
  test::TlsClient thief("127.0.0.1", master.port(), master.ca(), stolen);
  auto view = thief.get("/v1/computers/" + a);
  ASSERT_EQ(view.status, 200u) << view.body;
  auto parked = std::async(std::launch::async, [&] { return thief.get("/v1/computers/" + a + "?wait=30", view.etag); });
  // Parked: the master holds it (a long poll gauge above zero).
  ASSERT_TRUE(test::wait_until([&] { return admin->get("/metrics").body.find("slap_long_polls 1") != std::string::npos; }, std::chrono::seconds(10)));
  const auto serial = ca::identity_of_pem(stolen.cert_pem).value().serial_hex;
  ASSERT_EQ(cx->post("/v1/certificates/revoke", R"({"serial":")" + serial + R"("})").status, 200u);
  // The view changes: an instance is requested on A.
  ASSERT_EQ(cx->post("/slapos.post.v0.software_instance", R"({"title":"x1","software_release_uri":"file:///sr","software_type":"default","sla_parameters":{"computer_guid":")" + a + R"("}})").status, 200u);
  ASSERT_EQ(parked.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  const auto answer = parked.get();
  EXPECT_EQ(answer.status, 401u) << answer.body;
  EXPECT_EQ(answer.body.find("slappart"), std::string::npos) << "the view reached a revoked certificate: " << answer.body;
}

// Certificates expire: a person renews its own (the administrator anyone's) and keeps its guid,
// role, computers and instances; the others are revoked with it. The administrator's own is
// renewed (or rotated, when leaked) by removing admin.key and starting the master again: the
// previous one is revoked.
TEST(Certificates, PeopleAndTheAdministratorRenewTheirsAndTheOldOnesStopWorking) {
  test::TempDir dir;
  auto master = std::make_unique<test::MasterProcess>(dir.path() / "master", std::vector<std::string>{"--checkpoint-interval", "3600"});
  ASSERT_TRUE(master->ready());
  auto admin = master->client(master->admin());
  auto ann_o = parse_object(admin.post("/v1/persons", R"({"name":"Ann","role":"analyst"})").body);
  auto bob_o = parse_object(admin.post("/v1/persons", R"({"name":"Bob"})").body);
  const std::string ann = str(ann_o, "guid"), bob = str(bob_o, "guid");
  auto old_ann = master->client(test::cert_of(ann_o));
  auto bob_c = master->client(test::cert_of(bob_o));
  EXPECT_EQ(bob_c.post("/v1/persons/" + ann + "/certificate", "{}").status, 403u) << "not one's own";
  EXPECT_EQ(old_ann.post("/v1/persons/" + ann + "/certificate", R"({"x":1})").status, 400u);
  EXPECT_EQ(admin.post("/v1/persons/PERSON-nobody/certificate", "{}").status, 404u);
  auto renewed = old_ann.post("/v1/persons/" + ann + "/certificate", "{}");
  ASSERT_EQ(renewed.status, 201u) << renewed.body;
  auto new_ann = master->client(test::cert_of(parse_object(renewed.body)));
  EXPECT_EQ(new_ann.get("/v1/billing?window=today").status, 200u) << "the analyst role goes with the guid";
  EXPECT_EQ(master->client(test::cert_of(ann_o)).get("/v1/billing?window=today").status, 401u) << "the old certificate is revoked";
  auto by_admin = admin.post("/v1/persons/" + bob + "/certificate", "{}");
  ASSERT_EQ(by_admin.status, 201u) << by_admin.body;
  EXPECT_EQ(master->client(test::cert_of(parse_object(by_admin.body))).get("/v1/instances").status, 200u);
  EXPECT_EQ(master->client(test::cert_of(bob_o)).get("/v1/instances").status, 401u);

  // The administrator: admin.key removed, the master started again.
  const test::ClientCert old_admin = master->admin();
  master->kill(SIGTERM);
  master.reset();
  std::filesystem::remove(dir.path() / "master" / "admin.key");
  master = std::make_unique<test::MasterProcess>(dir.path() / "master", std::vector<std::string>{"--checkpoint-interval", "3600"});
  ASSERT_TRUE(master->ready());
  EXPECT_EQ(master->client(master->admin()).get("/v1/instances").status, 200u);
  EXPECT_EQ(master->client(old_admin).get("/v1/instances").status, 401u) << "the previous administrator certificate is revoked";
}
