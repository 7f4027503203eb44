// Crash test of the real daemon: concurrent JSON-RPC instance requests while the test kills
// slapmaster with SIGKILL at random moments (after a random number of acknowledgements, so no
// sleep decides when). After each round: the ledger verifies, and after a restart every
// acknowledged request is there with the same instance and partition, and no partition is shared;
// `slapctl ledger verify --ca` (the chain and every signed checkpoint) and `slapctl ledger replay
// --check` (every projection checkpoint equals a replay from scratch) pass on the dead daemon's
// ledger and again on the restarted daemon's (read-only, beside the writer).
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/ledger/test_util.h"
#include "tests/slapd/master_process.h"

using namespace slap;
using test::parse_object;
using test::str;

TEST(MasterCrash, SigkillUnderLoadLosesNoAcknowledgedRequest) {
  const char* forced = std::getenv("SLAP_CRASH_SEED");
  const uint64_t seed = forced ? std::strtoull(forced, nullptr, 10) : std::random_device{}();
  std::printf("master crash test seed=%llu (rerun with SLAP_CRASH_SEED=%llu)\n", static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  test::TempDir dir;
  const auto state = dir.path() / "master";
  // Signed checkpoints every second, so kills land before, during and after them.
  test::MasterProcess master(state, {"--rate", "1000000", "--checkpoint-interval", "1"});
  ASSERT_TRUE(master.ready());
  std::string guid;
  test::ClientCert person_cert, computer_cert;
  {
    auto admin = master.client(master.admin());
    person_cert = test::cert_of(parse_object(admin.post("/v1/persons", R"({"name":"load"})").body));
    auto person = master.client(person_cert);
    auto comp = parse_object(person.post("/v1/computers", "{}").body);
    guid = str(comp, "computer_guid");
    computer_cert = test::cert_of(comp);
    std::string parts;
    for (int p = 0; p < 8000; ++p) parts += (p ? "," : "") + std::string(R"({"partition_id":"slappart)") + std::to_string(p) + "\"}";
    auto computer = master.client(computer_cert);
    ASSERT_EQ(computer.post("/slapos.put.v0.compute_node_format", R"({"computer_guid":")" + guid + R"(","compute_partition_list":[)" + parts + "]}").status, 200u);
    ASSERT_EQ(person.post("/slapos.post.v0.software_installation", R"({"computer_guid":")" + guid + R"(","software_release_uri":"file:///sr"})").status, 200u);
  }

  // One clean stop first, so the ledger holds projection checkpoints (and a final signed
  // checkpoint) for replay --check to compare with from the first round on.
  {
    const int status = master.kill(SIGTERM);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    master.start();
    ASSERT_TRUE(master.ready());
  }
  const std::string db = (state / "ledger").string(), ca = (state / "ca.crt").string();
  auto audit = [&](const char* when) {
    const std::string verify = std::string(SLAPCTL) + " ledger verify --db " + db + " --ca " + ca + " > /dev/null";
    EXPECT_EQ(std::system(verify.c_str()), 0) << "ledger verify --ca failed " << when;
    const std::string check = std::string(SLAPCTL) + " ledger replay --check --db " + db + " > /dev/null";
    EXPECT_EQ(std::system(check.c_str()), 0) << "ledger replay --check failed " << when;
  };

  std::map<std::string, std::string> acknowledged;  // title -> instance guid
  constexpr int kRounds = 20, kClients = 4;
  constexpr int kMaxAcksPerRound = 350;  // 20 x (350 + in flight) < 8,000 partitions
  static_assert(kRounds * (kMaxAcksPerRound + kClients) < 8000);
  // Signed checkpoints in the log, as GET /v1/ledger/head counts them.
  auto checkpoints = [&] {
    auto head = parse_object(master.client(master.admin()).get("/v1/ledger/head").body);
    auto* n = head.if_contains("checkpoints");
    return n && n->is_int64() ? n->as_int64() : int64_t{-1};
  };
  int kills_after_checkpoint = 0;
  for (int round = 0; round < kRounds; ++round) {
    // Every fourth round kills only once a periodic checkpoint was signed under this load (the
    // load goes on meanwhile, up to a second: the partitions above leave room for it).
    const bool after_checkpoint = round % 4 == 3;
    const int64_t checkpoints_before = after_checkpoint ? checkpoints() : 0;
    SCOPED_TRACE("round " + std::to_string(round) + " seed " + std::to_string(seed));
    std::mutex mu;
    std::atomic<int> acks{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        test::TlsClient client("127.0.0.1", master.port(), master.ca(), person_cert);
        for (int k = 0; !stop && client.connected(); ++k) {
          if (acks.load() >= kMaxAcksPerRound) return;  // bounded: the computer's partitions must last every round
          const std::string title = "r" + std::to_string(round) + "c" + std::to_string(c) + "k" + std::to_string(k);
          auto r = client.post("/slapos.post.v0.software_instance", R"({"title":")" + title + R"(","software_release_uri":"file:///sr","software_type":"default"})");
          if (!r.error.empty()) return;  // the master is gone: this request is not acknowledged
          if (r.status != 200) continue;
          std::lock_guard lock(mu);
          acknowledged[title] = str(parse_object(r.body), "instance_guid");
          ++acks;
        }
      });
    }
    const int kill_after = static_cast<int>(rng() % 100);
    ASSERT_TRUE(test::wait_until([&] { return acks.load() >= kill_after; }));
    if (after_checkpoint) {
      ASSERT_TRUE(test::wait_until([&] { return checkpoints() > checkpoints_before; })) << "no signed checkpoint under load";
      ++kills_after_checkpoint;
    }
    master.kill(SIGKILL);
    stop = true;
    for (auto& t : clients) t.join();

    // The chain and its signed checkpoints verify on disk, and the projection checkpoints equal
    // a replay, with the daemon dead.
    audit("after the kill");
    if (HasFailure()) return;

    master.start();
    ASSERT_TRUE(master.ready());
    auto person = master.client(person_cert);
    for (const auto& [title, instance] : acknowledged) {
      auto r = person.post("/slapos.get.v0.instance_tree", R"({"title":")" + title + "\"}");
      ASSERT_EQ(r.status, 200u) << title << " was acknowledged and is gone: " << r.body;
      ASSERT_EQ(str(parse_object(r.body), "instance_guid"), instance) << title;
    }
    // Nothing half there: every instance the master knows holds its own partition.
    auto view = parse_object(master.client(computer_cert).get("/v1/computers/" + guid).body);
    std::set<std::string> hosted;
    for (const auto& p : view.at("partitions").as_array()) {
      const auto i = str(p.as_object(), "instance_guid");
      if (!i.empty()) {
        ASSERT_TRUE(hosted.insert(i).second) << i << " holds two partitions";
      }
    }
    boost::json::array list;  // every page of the listing
    for (std::string path = "/v1/instances";;) {
      auto page = parse_object(person.get(path).body);
      for (const auto& i : page.at("instances").as_array()) list.push_back(i);
      if (!page.contains("next")) break;
      path = "/v1/instances?after=" + std::to_string(page.at("next").as_int64());
    }
    for (const auto& i : list) {
      const auto& o = i.as_object();
      ASSERT_FALSE(str(o, "compute_partition_id").empty()) << str(o, "instance_guid") << " has no partition";
      ASSERT_TRUE(hosted.count(str(o, "instance_guid"))) << str(o, "instance_guid") << " is not in the computer view";
    }
    ASSERT_GE(list.size(), acknowledged.size());
    audit("beside the restarted daemon");
    if (HasFailure()) return;
  }
  std::printf("master crash test: %d SIGKILL rounds (%d right after a signed checkpoint), %zu acknowledged requests, none lost\n", kRounds,
              kills_after_checkpoint, acknowledged.size());
  // What the audits covered, for the record (the live daemon keeps writing; this is a snapshot).
  const std::string summary = std::string(SLAPCTL) + " ledger verify --db " + db + " --ca " + ca + " | sed -n 2p; " + SLAPCTL +
                              " ledger replay --check --db " + db + " | tail -1";
  EXPECT_EQ(std::system(summary.c_str()), 0);
}
