// The master end to end, with real processes on loopback: init, serve, register a computer, format
// it with 10 partitions over JSON-RPC, supply, request 10 instances as a person, read them back,
// report started and connection parameters as the computer, read them as the person, long poll,
// 304, kill -9 and restart: everything is back, identical.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <optional>
#include <set>
#include <map>

#include "tests/ledger/test_util.h"
#include "tests/slapd/master_process.h"

using namespace slap;
using test::parse_object;
using test::str;

TEST(MasterEndToEnd, FullLifecycleSurvivesKillNine) {
  test::TempDir dir;
  const auto state = dir.path() / "master";
  test::MasterProcess master(state);
  ASSERT_TRUE(master.ready());
  auto admin = master.client(master.admin());
  ASSERT_TRUE(admin.connected()) << admin.error();

  // A person, who registers a computer.
  auto person_reply = admin.post("/v1/persons", R"({"name":"Alice"})");
  ASSERT_EQ(person_reply.status, 201u) << person_reply.body;
  auto person_json = parse_object(person_reply.body);
  auto alice = master.client(test::cert_of(person_json));
  auto comp_reply = alice.post("/v1/computers", R"({"region":"eu-west","price_minor":12,"currency":"EUR"})");
  ASSERT_EQ(comp_reply.status, 201u) << comp_reply.body;
  auto comp_json = parse_object(comp_reply.body);
  const std::string guid = str(comp_json, "computer_guid");
  auto computer = master.client(test::cert_of(comp_json));

  // Format with 10 partitions, as the computer.
  std::string parts;
  for (int p = 0; p < 10; ++p) {
    parts += (p ? "," : "") + std::string(R"({"partition_id":"slappart)") + std::to_string(p) + R"(","ip_list":[{"ip-address":"127.1.0.)" +
             std::to_string(p + 1) + R"(","network-interface":"lo"}]})";
  }
  auto fmt = computer.post("/slapos.put.v0.compute_node_format", R"({"computer_guid":")" + guid + R"(","compute_partition_list":[)" + parts + "]}");
  ASSERT_EQ(fmt.status, 200u) << fmt.body;
  EXPECT_EQ(str(parse_object(fmt.body), "type"), "success");

  // Supply, as the owner.
  auto supply = alice.post("/slapos.post.v0.software_installation", R"({"computer_guid":")" + guid + R"(","software_release_uri":"file:///srv/kvm.cfg"})");
  ASSERT_EQ(supply.status, 200u) << supply.body;

  // The view and its ETag; 304 when nothing changed.
  auto view = computer.get("/v1/computers/" + guid);
  ASSERT_EQ(view.status, 200u);
  ASSERT_FALSE(view.etag.empty());
  EXPECT_EQ(computer.get("/v1/computers/" + guid, view.etag).status, 304u);

  // A long poll parked on the current version wakes when the requests change the view.
  test::TlsClient poller("127.0.0.1", master.port(), master.ca(), test::cert_of(comp_json));
  auto woken = std::async(std::launch::async, [&] { return poller.get("/v1/computers/" + guid + "?wait=30", view.etag); });

  // Ten instances, as the person.
  std::vector<std::string> instances;
  for (int k = 0; k < 10; ++k) {
    auto r = alice.post("/slapos.post.v0.software_instance", R"({"title":"vm)" + std::to_string(k) +
                                                                  R"(","software_release_uri":"file:///srv/kvm.cfg","software_type":"default","parameters":{"ram":"2048"}})");
    ASSERT_EQ(r.status, 200u) << r.body;
    auto o = parse_object(r.body);
    EXPECT_EQ(str(o, "computer_guid"), guid);
    // It says where it runs: its partition's address, and itself as the root of its tree.
    const std::string part = str(o, "compute_partition_id");
    ASSERT_EQ(part.rfind("slappart", 0), 0u) << r.body;
    const auto& ips = o.at("ip_list").as_array();
    ASSERT_EQ(ips.size(), 1u) << r.body;
    EXPECT_EQ(ips[0].as_array().at(1).as_string(), "127.1.0." + std::to_string(std::stoi(part.substr(8)) + 1));
    EXPECT_EQ(str(o, "root_instance_title"), "vm" + std::to_string(k));
    instances.push_back(str(o, "instance_guid"));
  }
  auto poll = woken.get();
  EXPECT_EQ(poll.status, 200u);
  EXPECT_NE(poll.etag, view.etag);

  // Requesting again is idempotent: same instance, nothing new.
  auto again = alice.post("/slapos.post.v0.software_instance", R"({"title":"vm3","software_release_uri":"file:///srv/kvm.cfg","software_type":"default","parameters":{"ram":"2048"}})");
  EXPECT_EQ(str(parse_object(again.body), "instance_guid"), instances[3]);

  // The node reports started and publishes connection parameters.
  for (const auto& i : instances) {
    auto s = computer.post("/slapos.put.v0.software_instance_reported_state", R"({"instance_guid":")" + i + R"(","reported_state":"started"})");
    ASSERT_EQ(s.status, 200u) << s.body;
    auto c = computer.post("/slapos.put.v0.software_instance_connection_parameter",
                           R"({"instance_guid":")" + i + R"(","connection_parameter_dict":{"url":"https://)" + i + R"(.example"}})");
    ASSERT_EQ(c.status, 200u) << c.body;
  }
  // The person reads them.
  auto read = alice.post("/slapos.get.v0.software_instance", R"({"instance_guid":")" + instances[7] + R"("})");
  ASSERT_EQ(read.status, 200u);
  auto read_json = parse_object(read.body);
  EXPECT_EQ(str(read_json.at("connection_parameters").as_object(), "url"), "https://" + instances[7] + ".example");
  auto list = alice.post("/slapos.allDocs.v0.instance_tree_list", "{}");
  EXPECT_EQ(parse_object(list.body).at("result_list").as_array().size(), 10u);

  // Everything the state holds, before the crash.
  const auto before_view = computer.get("/v1/computers/" + guid);
  const auto before_instance = alice.post("/slapos.get.v0.software_instance", R"({"instance_guid":")" + instances[2] + R"("})");
  const auto before_head = admin.get("/v1/ledger/head");
  ASSERT_EQ(before_head.status, 200u) << before_head.body;

  master.kill(SIGKILL);
  master.start();
  ASSERT_TRUE(master.ready());
  auto admin2 = master.client(master.admin());
  auto alice2 = master.client(test::cert_of(person_json));
  auto computer2 = master.client(test::cert_of(comp_json));
  EXPECT_EQ(admin2.get("/v1/ledger/head").body, before_head.body);
  auto after_view = computer2.get("/v1/computers/" + guid);
  EXPECT_EQ(after_view.body, before_view.body);
  EXPECT_EQ(after_view.etag, before_view.etag);
  EXPECT_EQ(alice2.post("/slapos.get.v0.software_instance", R"({"instance_guid":")" + instances[2] + R"("})").body, before_instance.body);
  // The ledger verifies after the crash.
  EXPECT_EQ(master.kill(SIGTERM), 0);
}

// slapos.allDocs.v0.instance_node_instance_list is the reference API's "Slave Instance Search":
// the shared instances a host serves (with their software type), for whoever may read the host;
// not the host's own children (what it listed before).
namespace {
// A master with Alice, who owns computer `guid` (two partitions, formatted by its node), and Bob.
class AlicesComputer : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(master.ready());
    master.connect(admin_c, master.admin());
    master.connect(alice_c, test::cert_of(parse_object(admin_c->post("/v1/persons", R"({"name":"Alice"})").body)));
    master.connect(bob_c, test::cert_of(parse_object(admin_c->post("/v1/persons", R"({"name":"Bob"})").body)));
    auto comp = parse_object(alice_c->post("/v1/computers", R"({"price_minor":1})").body);
    guid = str(comp, "computer_guid");
    master.connect(node_c, test::cert_of(comp));
    ASSERT_EQ(node_c->post("/slapos.put.v0.compute_node_format", R"({"computer_guid":")" + guid +
                                                                     R"(","compute_partition_list":[{"partition_id":"slappart0"},{"partition_id":"slappart1"}]})")
                  .status,
              200u);
  }
  void supply(const std::string& url) {
    ASSERT_EQ(alice_c->post("/slapos.post.v0.software_installation", R"({"computer_guid":")" + guid + R"(","software_release_uri":")" + url + R"("})").status, 200u);
  }
  test::TempDir dir;
  test::MasterProcess master{dir.path() / "master"};
  std::optional<test::TlsClient> admin_c, alice_c, bob_c, node_c;  // built in place: a client holds its stream
  std::string guid;
};
}  // namespace

TEST_F(AlicesComputer, SlaveInstanceSearchListsTheSharedInstancesOfAHost) {
  auto& alice = *alice_c;
  auto& bob = *bob_c;
  auto& node = *node_c;
  supply("file:///front");
  auto request = [](test::TlsClient& who, const std::string& title, bool shared, const std::string& params) {
    auto r = who.post("/slapos.post.v0.software_instance", R"({"title":")" + title + R"(","software_release_uri":"file:///front","software_type":"frontend","shared":)" +
                                                             (shared ? "true" : "false") + R"(,"parameters":)" + params + "}");
    EXPECT_EQ(r.status, 200u) << r.body;
    return str(parse_object(r.body), "instance_guid");
  };
  const std::string front = request(alice, "front", false, "{}");
  auto front_cert = test::cert_of(parse_object(node.post("/slapos.get.v0.software_instance_certificate", R"({"instance_guid":")" + front + R"("})").body));
  auto front_client = master.client(front_cert);
  const std::string child = request(front_client, "front-child", false, "{}");  // a child of the host, not a shared instance
  ASSERT_FALSE(child.empty());
  const std::string site = request(bob, "site", true, R"({"url":"https://bob.example"})");
  auto list = [&](test::TlsClient& who) { return who.post("/slapos.allDocs.v0.instance_node_instance_list", R"({"instance_guid":")" + front + R"("})"); };
  for (auto* who : {&node, &alice, &front_client}) {
    auto r = list(*who);
    ASSERT_EQ(r.status, 200u) << r.body;
    const auto answer = parse_object(r.body);
    const auto& items = answer.at("result_list").as_array();
    ASSERT_EQ(items.size(), 1u) << r.body;
    const auto& o = items[0].as_object();
    EXPECT_EQ(str(o, "instance_guid"), site);
    EXPECT_EQ(str(o, "title"), "site");
    EXPECT_EQ(str(o, "software_type"), "frontend");
    EXPECT_EQ(str(o, "state"), "started");
    EXPECT_EQ(str(o.at("parameters").as_object(), "url"), "https://bob.example");
  }
  EXPECT_EQ(list(bob).status, 403u) << "bob's site is served by it, but bob may not read alice's host";
}

// A computer's owner sees what its node reported of each release it supplied: building, available,
// or a failed build with its message (before, reports were stored and never shown).
TEST_F(AlicesComputer, TheOwnerSeesWhatTheNodeReportedOfEachRelease) {
  auto& alice = *alice_c;
  auto& bob = *bob_c;
  auto& node = *node_c;
  for (const char* url : {"file:///good.cfg", "file:///bad.cfg", "file:///new.cfg"}) supply(url);
  auto put = [&](const std::string& verb, const std::string& url, const std::string& field, const std::string& value) {
    auto r = node.post("/slapos.put.v0." + verb, boost::json::serialize(boost::json::object{{"computer_guid", guid}, {"software_release_uri", url}, {field, value}}));
    EXPECT_EQ(r.status, 200u) << r.body;
  };
  put("software_installation_reported_state", "file:///good.cfg", "reported_state", "available");
  put("software_installation_error", "file:///bad.cfg", "message", "part [x]: make failed\nlast lines...");
  auto r = alice.get("/v1/computers/" + guid + "/software");
  ASSERT_EQ(r.status, 200u) << r.body;
  std::map<std::string, std::pair<std::string, std::string>> seen;
  const auto answer = parse_object(r.body);
  for (const auto& sw : answer.at("software").as_array()) {
    const auto& o = sw.as_object();
    EXPECT_EQ(str(o, "requested"), "available");
    seen[str(o, "url")] = {str(o, "reported"), str(o, "message")};
  }
  EXPECT_EQ(seen["file:///good.cfg"], std::make_pair(std::string("available"), std::string()));
  EXPECT_EQ(seen["file:///bad.cfg"], std::make_pair(std::string("error"), std::string("part [x]: make failed\nlast lines...")));
  EXPECT_EQ(seen["file:///new.cfg"], std::make_pair(std::string(), std::string())) << "nothing reported yet";
  EXPECT_EQ(node.get("/v1/computers/" + guid + "/software").status, 200u);
  EXPECT_EQ(bob.get("/v1/computers/" + guid + "/software").status, 403u);
  // An unknown computer is refused as someone else's is (authorization_matrix_test).
  EXPECT_EQ(alice.get("/v1/computers/COMP-none/software").status, 403u);
  const auto named_software = alice.get("/v1/computers/software");
  EXPECT_EQ(named_software.status, 403u);
  EXPECT_NE(named_software.body.find("may not read software"), std::string::npos) << "the view of a computer named software: " << named_software.body;
}

// A release its node removed, as asked, is no longer listed for the computer; reported again (an
// answer lost) it changes nothing; one still wanted is not forgotten by a stray report.
TEST_F(AlicesComputer, AReleaseItsNodeRemovedIsNoLongerListed) {
  auto& alice = *alice_c;
  auto& node = *node_c;
  for (const char* url : {"file:///keep.cfg", "file:///old.cfg"}) supply(url);
  ASSERT_EQ(alice.post("/slapos.post.v0.software_installation", R"({"computer_guid":")" + guid + R"(","software_release_uri":"file:///old.cfg","state":"destroyed"})").status, 200u);
  auto listed = [&] {
    std::map<std::string, std::string> out;
    const auto o = parse_object(node.post("/slapos.allDocs.v0.compute_node_software_installation_list", R"({"computer_guid":")" + guid + "\"}").body);
    for (const auto& e : o.at("result_list").as_array()) out[str(e.as_object(), "software_release_uri")] = str(e.as_object(), "state");
    return out;
  };
  EXPECT_EQ(listed(), (std::map<std::string, std::string>{{"file:///keep.cfg", "available"}, {"file:///old.cfg", "destroyed"}}));
  auto destroyed = [&](const char* url) {
    return node.post("/slapos.put.v0.software_installation_reported_state",
                     R"({"computer_guid":")" + guid + R"(","software_release_uri":")" + url + R"(","reported_state":"destroyed"})");
  };
  auto r = destroyed("file:///old.cfg");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(listed(), (std::map<std::string, std::string>{{"file:///keep.cfg", "available"}}));
  const std::string head = admin_c->get("/v1/ledger/head").body;
  r = destroyed("file:///old.cfg");
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(admin_c->get("/v1/ledger/head").body, head) << "a report sent again writes nothing";
  r = destroyed("file:///keep.cfg");  // still wanted: recorded as reported, not forgotten
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(listed(), (std::map<std::string, std::string>{{"file:///keep.cfg", "available"}}));
  EXPECT_EQ(admin_c->get("/v1/ledger/head").body, head);
}

namespace {
// The subjectAltName entries of a PEM certificate: DNS names as they are, IP addresses as text.
std::set<std::string> alt_names(const std::string& pem) {
  std::set<std::string> out;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (x == nullptr) return out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type == GEN_DNS) {
      out.insert(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)), ASN1_STRING_length(n->d.dNSName)));
    } else if (n->type == GEN_IPADD) {
      const int len = ASN1_STRING_length(n->d.iPAddress);
      char text[INET6_ADDRSTRLEN] = {};
      inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(n->d.iPAddress), text, sizeof text);
      out.insert(text);
    }
  }
  GENERAL_NAMES_free(names);
  X509_free(x);
  return out;
}
int slapmaster(const std::string& args) { return std::system((std::string(SLAPMASTER) + " " + args + " >/dev/null 2>&1").c_str()); }
}  // namespace

// Nodes reach the master by its name: --server-name puts names and addresses in its server
// certificate (localhost-only before, so no remote node could verify it), issued again only when
// the set changes. And a state directory whose ledger exists never gets a new CA in place of a
// lost ca.key: every identity would be locked out, every signed checkpoint unverifiable.
TEST(MasterEndToEnd, TheServerCertificateNamesTheMasterAndALedgersCaIsNeverReplaced) {
  test::TempDir dir;
  const auto state = dir.path() / "master";
  const std::string init = "init --state-dir " + state.string();
  ASSERT_EQ(slapmaster(init + " --server-name master.example.test --server-name 10.9.8.7"), 0);
  const std::string first = test::read_file(state / "server.crt");
  EXPECT_EQ(alt_names(first), (std::set<std::string>{"localhost", "master.example.test", "127.0.0.1", "::1", "10.9.8.7"}));
  ASSERT_EQ(slapmaster(init + " --server-name 10.9.8.7 --server-name master.example.test"), 0);
  EXPECT_EQ(test::read_file(state / "server.crt"), first) << "the same names: the same certificate";
  ASSERT_EQ(slapmaster(init), 0);
  EXPECT_EQ(alt_names(test::read_file(state / "server.crt")), (std::set<std::string>{"localhost", "127.0.0.1", "::1"}));
  EXPECT_NE(slapmaster(init + " --server-name 'bad name'"), 0);

  const std::string ca = test::read_file(state / "ca.crt");
  std::filesystem::remove(state / "ca.key");
  EXPECT_NE(slapmaster(init), 0) << "a new CA over an existing ledger";
  EXPECT_FALSE(std::filesystem::exists(state / "ca.key"));
  EXPECT_EQ(test::read_file(state / "ca.crt"), ca);
}

// A request the market cannot place yet is answered as the SlapOS master answers it for an
// instance that exists: 200 with the instance, no computer yet, and why it waits. Once capacity
// comes, the same request reads where it runs. processing_timestamp is in microseconds, as the
// master gives it; an error body names the error as "type" and says it as "title" too.
TEST(MasterEndToEnd, ARequestWaitingForCapacityIsAnsweredWithTheInstanceAndWhyItWaits) {
  test::TempDir dir;
  test::MasterProcess master(dir.path() / "master");
  ASSERT_TRUE(master.ready());
  auto admin = master.client(master.admin());
  auto person_json = parse_object(admin.post("/v1/persons", R"({"name":"Alice"})").body);
  auto alice = master.client(test::cert_of(person_json));
  const std::string request = R"({"title":"db","software_release_uri":"file:///srv/db.cfg","software_type":"default"})";
  const auto before_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto r = alice.post("/slapos.post.v0.software_instance", request);
  ASSERT_EQ(r.status, 200u) << r.body;
  auto o = parse_object(r.body);
  const std::string guid = str(o, "instance_guid");
  EXPECT_FALSE(guid.empty());
  EXPECT_EQ(str(o, "computer_guid"), "");
  EXPECT_EQ(str(o, "compute_partition_id"), "");
  EXPECT_EQ(str(o, "access_status_message").rfind("pending: ", 0), 0u) << r.body;
  EXPECT_TRUE(o.at("ip_list").as_array().empty());
  const auto after_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const int64_t stamp = o.at("processing_timestamp").as_int64();
  EXPECT_GE(stamp, before_us - 1'000'000) << "microseconds since the epoch";
  EXPECT_LE(stamp, after_us + 1'000'000);

  // Capacity comes: the same request now says where it runs, under a later timestamp.
  auto comp_json = parse_object(alice.post("/v1/computers", R"({"price_minor":1,"currency":"EUR"})").body);
  const std::string comp = str(comp_json, "computer_guid");
  auto computer = master.client(test::cert_of(comp_json));
  // One partition with an address and a virtual machine's tap (gateway, netmask, network).
  auto fmt = computer.post("/slapos.put.v0.compute_node_format", R"({"computer_guid":")" + comp + R"(","compute_partition_list":[{"partition_id":"slappart0","ip_list":[)"
                           R"({"ip-address":"127.1.0.1","network-interface":"lo"},)"
                           R"({"ip-address":"10.0.2.2","network-interface":"slaptap0","gateway-ip-address":"10.0.2.1","netmask":"255.255.255.0","network-address":"10.0.2.0"}]}]})");
  ASSERT_EQ(fmt.status, 200u) << fmt.body;
  ASSERT_EQ(alice.post("/slapos.post.v0.software_installation", R"({"computer_guid":")" + comp + R"(","software_release_uri":"file:///srv/db.cfg"})").status, 200u);
  auto placed = parse_object(alice.post("/slapos.post.v0.software_instance", request).body);
  EXPECT_EQ(str(placed, "instance_guid"), guid);
  EXPECT_EQ(str(placed, "computer_guid"), comp);
  EXPECT_EQ(str(placed, "compute_partition_id"), "slappart0");
  EXPECT_GT(placed.at("processing_timestamp").as_int64(), stamp);
  // Its addresses as the SlapOS master lists them: the routed one (with its gateway) in
  // full_ip_list only.
  EXPECT_EQ(boost::json::serialize(placed.at("ip_list")), R"([["lo","127.1.0.1"]])");
  EXPECT_EQ(boost::json::serialize(placed.at("full_ip_list")), R"([["slaptap0","10.0.2.2","10.0.2.1","255.255.255.0","10.0.2.0"]])");
  // A gateway that is not a string is refused.
  EXPECT_EQ(computer.post("/slapos.put.v0.compute_node_format", R"({"computer_guid":")" + comp + R"(","compute_partition_list":[{"partition_id":"slappart0","ip_list":[{"ip-address":"10.0.2.2","gateway-ip-address":1}]}]})").status, 400u);

  auto refused = alice.post("/slapos.get.v0.software_instance", R"({"instance_guid":"SOFTINST-999999"})");
  EXPECT_GE(refused.status, 400u);
  auto e = parse_object(refused.body);
  EXPECT_EQ(str(e, "type"), str(e, "name")) << refused.body;
  EXPECT_FALSE(str(e, "title").empty()) << refused.body;
  EXPECT_EQ(e.at("status").as_int64(), static_cast<int64_t>(refused.status));
}
