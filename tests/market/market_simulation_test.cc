// Seeded simulation (TigerBeetle's VOPR in miniature): random command streams — computers appear
// and vanish, capacity changes, supplies, requests, shared instances, destroys — checked after
// every step against (a) a replay of the ledger from scratch and (b) a deliberately simple
// reference model written here, independently of market/. The seed is printed on failure;
// SLAP_SEED=<n> reruns one seed.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <cstdio>
#include <set>

#include "market_fixture.h"
#include "reference_model.h"

namespace slap::market::testing {
namespace {

const std::vector<std::string> kReleases = {kRelease, kRelease2};
const std::vector<std::string> kTypes = {"default", "frontend"};
const std::vector<std::string> kRegions = {"fr", "de", "jp"};
// The owner of every computer requests too: its closed computers serve it when it names them.
const std::vector<std::string> kClients = {"alice", "bob", "carol", "owner"};

std::string cat(const char* prefix, uint64_t n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

class Simulation {
 public:
  explicit Simulation(uint64_t seed) : rng_(seed) {
    w_.party("owner");
    for (const auto& c : kClients) {
      if (c != "owner") w_.party(c);
    }
  }

  void step(int n) {
    const int pick = std::uniform_int_distribution<int>(0, 99)(rng_);
    if (pick < 10) register_computer();
    else if (pick < 22) format();
    else if (pick < 30) supply();
    else if (pick < 32) remove_software();
    else if (pick < 80) request();
    else report();
    check(n);
  }

  World& world() { return w_; }
  struct Stats {
    int accepted = 0, refused = 0, written = 0, attached = 0, allocated = 0;
    int closed = 0;  // placements on (or attachments to a host on) a closed computer
  } stats;

 private:
  template <typename T>
  const T& any(const std::vector<T>& v) { return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng_)]; }
  int dice(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  std::string some_computer() { return cat("COMP-", static_cast<uint64_t>(dice(6))); }

  // Runs a command the model predicted: accepted or refused.
  void expect(const Command& c, bool accepted, const char* what) {
    auto r = w_.run(c);
    if (std::getenv("SLAP_TRACE")) {
      std::printf("%s %s", what, r.ok() ? "ok" : r.error().to_string().c_str());
      if (const auto* q = std::get_if<RequestInstance>(&c)) {
        std::printf(" %s/%s rel=%s type=%s shared=%d state=%d ->%s %s %s", q->requester.c_str(), q->title.c_str(), q->release.c_str(),
                    q->software_type.c_str(), q->shared, static_cast<int>(q->state), r.ok() ? r->instance.c_str() : "",
                    r.ok() ? r->computer.c_str() : "", r.ok() ? r->host.c_str() : "");
        for (const auto& [k, v] : q->sla) std::printf(" %s=%s", k.c_str(), v.c_str());
      }
      if (const auto* q = std::get_if<ReportState>(&c)) std::printf(" %s %s", q->instance.c_str(), q->computer.c_str());
      std::printf("\n");
    }
    ++(r.ok() ? stats.accepted : stats.refused);
    if (r.ok() && r->written) ++stats.written;
    if (r.ok() && !r->host.empty()) ++stats.attached;
    if (r.ok() && !r->computer.empty() && std::holds_alternative<RequestInstance>(c)) ++stats.allocated;
    ASSERT_EQ(r.ok(), accepted) << what << ": " << (r.ok() ? std::string("accepted") : r.error().to_string());
  }

  void register_computer() {
    const std::string guid = some_computer();
    auto it = m_.computers.find(guid);
    const bool open = dice(4) != 0;  // computers vanish (close) and come back
    const int64_t price = it != m_.computers.end() ? it->second.price : dice(4);
    const std::string region = it != m_.computers.end() ? it->second.region : any(kRegions);
    expect(RegisterComputer{guid, "owner", "net-1", open ? Scope::open : Scope::close, price, "EUR", "", {{"region", region}}}, true, "register");
    auto& c = m_.computers[guid];
    c.owner = "owner";
    c.price = price;
    c.region = region;
    const bool changed = it == m_.computers.end() || c.open != open;
    c.open = open;
    if (changed) m_.serve();
  }

  void format() {
    const std::string guid = some_computer();
    const int n = dice(5);
    DeclareCapacity d{guid, {}};
    for (int k = 0; k < n; ++k) d.partitions.push_back(PartitionSpec{cat("p", static_cast<uint64_t>(k)), {cat("10.0.0.", static_cast<uint64_t>(k))}, {}, ""});
    // Now and then a virtual machine's tap with its route (a new gateway: a new declaration).
    if (n > 0 && dice(3) == 0) d.partitions[0].routed.push_back(RoutedAddress{dice(2) ? "tap0" : "", "10.9.0.2", cat("10.9.0.", static_cast<uint64_t>(1 + dice(2))), "255.255.255.0", dice(2) ? "10.9.0.0" : ""});
    auto it = m_.computers.find(guid);
    if (it == m_.computers.end()) return expect(d, false, "format unknown");
    auto& c = it->second;
    bool in_use = false, changed = false;
    for (const auto& ref : c.partitions) {
      const bool kept = std::stoi(ref.substr(1)) < n;
      if (!kept && c.present.count(ref)) {
        changed = true;
        if (c.holder.count(ref)) in_use = true;
      }
    }
    if (in_use) return expect(d, false, "format in use");
    expect(d, true, "format");
    for (int k = 0; k < n; ++k) {
      const std::string ref = cat("p", static_cast<uint64_t>(k));
      if (std::find(c.partitions.begin(), c.partitions.end(), ref) == c.partitions.end()) c.partitions.push_back(ref);
      if (c.present.insert(ref).second) changed = true;
    }
    for (const auto& ref : c.partitions) {
      if (std::stoi(ref.substr(1)) >= n) c.present.erase(ref);
    }
    if (changed) m_.serve();
  }

  void supply() {
    const std::string guid = some_computer();
    const std::string release = any(kReleases);
    const bool available = dice(4) != 0;
    Supply s{"owner", guid, release, available};
    auto it = m_.computers.find(guid);
    if (it == m_.computers.end()) return expect(s, false, "supply unknown");
    auto& c = it->second;
    if (!available) {
      for (const auto& [ref, g] : c.holder) {
        if (m_.find(g)->release == release) return expect(s, false, "unsupply in use");
      }
    }
    expect(s, true, "supply");
    const bool changed = available ? c.supplied.insert(release).second : c.supplied.erase(release) > 0;
    if (available && changed) m_.serve();
  }

  // The node removed a release: accepted unless it is still wanted; only one requested destroyed
  // leaves the list (checked against the computer view).
  void remove_software() {
    const std::string guid = some_computer();
    const std::string release = any(kReleases);
    SoftwareRemoved s{guid, release};
    auto it = m_.computers.find(guid);
    if (it == m_.computers.end()) return expect(s, false, "remove unknown");
    auto& c = it->second;
    if (c.supplied.count(release)) return expect(s, false, "remove wanted");
    expect(s, true, "remove");
    auto view = w_.market().computers().get(guid);
    ASSERT_TRUE(view);
    EXPECT_EQ(find_value(view->supplies, release), nullptr) << release << " still listed on " << guid;
  }

  void request() {
    const std::string requester = any(kClients);
    const std::string title = cat("t", static_cast<uint64_t>(dice(10)));
    Model::Instance* existing = m_.find(requester, title);
    const bool shared = existing ? existing->shared : dice(5) == 0;
    const std::string release = existing && dice(3) != 0 ? existing->release : any(kReleases);
    const std::string type = existing && dice(3) != 0 ? existing->type : any(kTypes);
    StringMap sla;
    switch (requester == "owner" ? dice(3) : dice(5)) {  // the owner names a computer more often: closed ones serve it then
      case 0: sla.emplace_back("region", any(kRegions)); break;
      case 1: sla.emplace_back("max_price", std::to_string(dice(4))); break;
      case 2: sla.emplace_back("computer_guid", some_computer()); break;
      default: break;
    }
    if (existing && dice(2) == 0) sla = existing->sla;
    RequestedState state = dice(4) == 0 ? RequestedState::destroyed : RequestedState::started;
    RequestInstance r{requester, title, release, type, {}, sla, shared, state};
    if (existing == nullptr) {
      if (state == RequestedState::destroyed) return expect(r, false, "destroy unknown");
      expect(r, true, "new request");
      Model::Instance i{cat("SOFTINST-", m_.instances.size() + 1), requester, title, release, type, normalized(sla), shared, state, {}, {}, {}, false, 0};
      m_.instances.push_back(i);
      m_.place_or_queue(m_.instances.back());
      m_.serve();
      return;
    }
    Model::Instance& i = *existing;
    if (state == RequestedState::destroyed) {  // the instance as it is, whatever release it names
      expect(r, true, "destroy");
      if (i.state != RequestedState::destroyed) m_.destroy(i);
      return;
    }
    if (i.release == release && i.type == type && i.sla == normalized(sla) && i.state == state) return expect(r, true, "same request");
    if (i.release != release && !i.computer.empty() && !m_.computers.at(i.computer).supplied.count(release)) {
      return expect(r, false, "release not supplied");
    }
    expect(r, true, "changed request");
    m_.change(i, release, type, normalized(sla), state);
  }

  // Counts placements first seen while their computer is closed: only its owner, naming it, gets one.
  void count_closed() {
    for (const auto& i : m_.instances) {
      const Model::Instance* h = i.host.empty() ? &i : m_.find(i.host);
      if (h == nullptr || h->computer.empty()) continue;
      if (!placements_.insert(i.guid + " " + i.computer + "/" + i.partition + " " + i.host).second) continue;
      if (!m_.computers.at(h->computer).open) ++stats.closed;
    }
  }

  void report() {
    std::vector<Model::Instance*> placed;
    for (auto& i : m_.instances) if (!i.computer.empty()) placed.push_back(&i);
    if (placed.empty()) return;
    Model::Instance& i = *any(placed);
    const bool destroy = dice(3) != 0;
    if (!destroy) {
      expect(ReportState{i.computer, i.guid, ReportedState::started}, true, "report started");
      return;
    }
    if (i.state != RequestedState::destroyed) return expect(ReportState{i.computer, i.guid, ReportedState::destroyed}, false, "report destroyed early");
    expect(ReportState{i.computer, i.guid, ReportedState::destroyed}, true, "report destroyed");
    m_.free(i);
    m_.serve();
  }

  void check(int n) {
    const auto& reg = w_.market().instances();
    // (b) the reference model
    ASSERT_EQ(reg.size(), m_.instances.size());
    for (const auto& mi : m_.instances) {
      auto i = reg.get(mi.guid);
      ASSERT_TRUE(i) << mi.guid;
      EXPECT_EQ(i->computer, mi.computer) << mi.guid;
      EXPECT_EQ(i->partition, mi.partition) << mi.guid;
      EXPECT_EQ(i->host, mi.host) << mi.guid;
      EXPECT_EQ(i->pending, mi.pending) << mi.guid;
    }
    EXPECT_EQ(reg.pending(), m_.queue) << "pending requests are served in order";
    // invariants, on the market alone
    std::set<std::pair<std::string, std::string>> taken;
    for (const auto& mi : m_.instances) {
      auto i = reg.get(mi.guid);
      if (i->request.shared) {
        EXPECT_TRUE(i->computer.empty()) << "a shared instance holds a partition";
        if (!i->host.empty()) {
          auto h = reg.get(i->host);
          EXPECT_TRUE(h && h->request.release == i->request.release && h->request.software_type == i->request.software_type)
              << mi.guid << " is attached to a host of another release or type";
        }
      }
      if (i->computer.empty()) continue;
      EXPECT_TRUE(taken.emplace(i->computer, i->partition).second) << "two instances on " << i->computer << "/" << i->partition;
      auto c = w_.market().computers().get(i->computer);
      EXPECT_TRUE(c->supplies_release(i->request.release)) << i->computer << " runs a release it does not supply";
      EXPECT_EQ(c->partition(i->partition)->instance, mi.guid);
    }
    count_closed();
    EXPECT_EQ(w_.market().capacity().free_partitions(), w_.market().capacity().recount_free_partitions())
        << "the free partitions the folds count drifted";
    EXPECT_TRUE(w_.market().instances().queues_consistent()) << "the pending queues or groups the folds keep drifted";
    // (a) replay from scratch (every step early on, then every 5th)
    if (n < 50 || n % 5 == 0) w_.expect_replay_equal();
  }

  World w_;
  Model m_;
  std::set<std::string> placements_;  // "guid computer/partition host" seen so far
  std::mt19937_64 rng_;
};

TEST(MarketSimulation, RandomCommandStreamsMatchReplayAndTheReferenceModel) {
  std::vector<uint64_t> seeds;
  if (const char* env = std::getenv("SLAP_SEED")) {
    seeds.push_back(std::strtoull(env, nullptr, 10));
  } else {
    std::random_device rd;
    const uint64_t base = (uint64_t{rd()} << 32) | rd();
    for (uint64_t k = 0; k < 24; ++k) seeds.push_back(base + k);
  }
  Simulation::Stats total;
  for (uint64_t seed : seeds) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with SLAP_SEED=" + std::to_string(seed) + ")");
    Simulation sim(seed);
    for (int n = 0; n < 300; ++n) {
      sim.step(n);
      if (::testing::Test::HasFailure()) {
        ADD_FAILURE() << "failed at step " << n << " of seed " << seed;
        return;
      }
    }
    total.accepted += sim.stats.accepted;
    total.refused += sim.stats.refused;
    total.written += sim.stats.written;
    total.attached += sim.stats.attached;
    total.allocated += sim.stats.allocated;
    total.closed += sim.stats.closed;
    // A restart from checkpoints equals the live state too.
    Market restored(MarketOptions{.clock = &sim.world().clock});
    auto live = sim.world().market().projections();
    auto fresh = restored.projections();
    for (size_t k = 0; k < live.size(); ++k) {
      ASSERT_TRUE(fresh[k]->restore(live[k]->snapshot(), live[k]->last_applied()).ok());
      EXPECT_EQ(fresh[k]->snapshot(), live[k]->snapshot());
    }
  }
  std::printf("accepted %d refused %d written %d attached %d allocated %d on closed computers %d\n", total.accepted, total.refused,
              total.written, total.attached, total.allocated, total.closed);
  // The streams reach every part of the rules.
  EXPECT_GT(total.refused, 0);
  EXPECT_GT(total.attached, 0);
  EXPECT_GT(total.allocated, 0);
  EXPECT_GT(total.closed, 0);
}

}  // namespace
}  // namespace slap::market::testing
