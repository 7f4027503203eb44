// Read replies never show a decision before it is durable: the master's real Api, market,
// ledger and sequencer, in process, on a storage whose writes the test holds and releases (or
// fails). A node polling its computer while an allocation's write is still on its way gets the
// reply only once the allocation is on disk; if that write fails, it gets a 503 and never sees
// the instance that was taken back.
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "ledger/fault_storage.h"
#include "market/market.h"
#include "market/sequencer.h"
#include "slapd/api/api.h"
#include "slapd/durable_gate.h"

using namespace slap;
using namespace std::chrono_literals;

namespace {

// Writes go to memory; hold() makes the next write wait inside write() until release().
class HeldStorage final : public ledger::Storage {
 public:
  ubm::Status write(const ledger::WriteBatch& batch, ledger::Sync sync) override {
    std::unique_lock lock(mu_);
    if (armed_) {
      armed_ = false;
      waiting_ = true;
      cv_.notify_all();
      cv_.wait(lock, [&] { return released_.has_value(); });
      const bool ok = *released_;
      released_.reset();
      waiting_ = false;
      armed_ = hold_next_;
      hold_next_ = false;
      ++consumed_;
      cv_.notify_all();  // release() returns once the held write took its verdict
      if (!ok) return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "storage", "the test failed this write");
    }
    return memory_.write(batch, sync);
  }
  ubm::Result<std::optional<std::string>> get(ledger::Family f, std::string_view key) const override { return memory_.get(f, key); }
  std::unique_ptr<ledger::Cursor> cursor(ledger::Family f) const override { return memory_.cursor(f); }

  void hold() {
    std::lock_guard lock(mu_);
    armed_ = true;
  }
  // True once a write is waiting for release() (bounded wait, no sleep).
  bool wait_held(std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return waiting_; });
  }
  // `hold_next`: the write after this one is held in turn.
  void release(bool ok, bool hold_next = false) {
    std::unique_lock lock(mu_);
    released_ = ok;
    hold_next_ = hold_next;
    cv_.notify_all();
    const uint64_t target = consumed_ + 1;
    cv_.wait(lock, [&] { return consumed_ >= target; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false, waiting_ = false, hold_next_ = false;
  uint64_t consumed_ = 0;  // held writes that took their verdict
  std::optional<bool> released_;
  ledger::FaultStorage memory_;

 public:
  ledger::FaultStorage& faults() { return memory_; }  // read faults (scans, gets) for the test to arm
};

constexpr const char* kAdmin = "PERSON-admin";
constexpr const char* kRelease = "https://lab.example.org/kvm/software.cfg";

struct World {
  std::shared_ptr<HeldStorage> storage = std::make_shared<HeldStorage>();
  market::Market market;
  slapd::IdentityRegistry identities;
  ledger::SignedHead signed_head;
  std::unique_ptr<ledger::Ledger> ledger;
  std::unique_ptr<slapd::DurableGate> gate;
  std::unique_ptr<market::Sequencer> sequencer;
  ca::CertificateAuthority authority = ca::CertificateAuthority::create("test CA").value();
  slapd::LongPoll long_poll;
  slapd::Metrics metrics;
  slapd::NodeReports reports;
  std::unique_ptr<slapd::Api> api;

  World() {
    auto projections = market.projections();
    projections.push_back(&identities);
    projections.push_back(&signed_head);
    ledger = std::move(ledger::Ledger::open({.storage = storage, .checkpoint_every = 0, .projections = projections}).value());
    market.attach(*ledger);
    gate = std::make_unique<slapd::DurableGate>(
        slapd::DurableGateSources{[this] { return ledger->head().value(); }, [this] { return market.generation(); }});
    sequencer = std::make_unique<market::Sequencer>(market, market::SequencerOptions{.after_write = [this] { gate->notify(); }});
    api = std::make_unique<slapd::Api>(slapd::ApiContext{market, *sequencer, *ledger, identities, authority, long_poll, *gate, metrics,
                                                         reports, ledger::SystemClock::instance(), signed_head, {}});
    for (market::Command c : std::vector<market::Command>{
             market::RegisterParty{kAdmin, ubm::NodeKind::person, "admin"},
             market::RecordIdentity{ubm::Identity{ubm::IdentityAction::issue, kAdmin, "a1", std::string(32, 'f'), ubm::TimestampNs{1},
                                                  ubm::TimestampNs{4'000'000'000'000'000'000}, "admin"}},
             market::RegisterComputer{"COMP-1", kAdmin, "NET-1", market::Scope::open, 1, "EUR", "", {}},
             market::DeclareCapacity{"COMP-1", {market::PartitionSpec{"slappart0", {"10.0.0.1"}, {}, ""}}},
             market::Supply{kAdmin, "COMP-1", kRelease, true}}) {
      auto r = sequencer->submit(std::move(c)).get();
      EXPECT_TRUE(r) << r.error().to_string();
    }
  }
  ~World() {
    long_poll.close();
    sequencer.reset();
    gate->close();
  }

  // GET `target` (POST with a body) as the administrator; the reply lands in the returned future.
  std::future<http::Response> get(const std::string& target, std::string body = {}) {
    auto promise = std::make_shared<std::promise<http::Response>>();
    auto reply = promise->get_future();
    http::Request req;
    req.target = target;
    if (!body.empty()) req.method = boost::beast::http::verb::post;
    req.body = std::move(body);
    req.peer = ca::PeerIdentity{kAdmin, ca::IdentityKind::person, "a1", 0};
    api->handle(std::move(req), http::Respond([promise](http::Respond::Make make) { promise->set_value(make()); }));
    return reply;
  }

  // A request whose write the storage holds: returns once it is decided (folded) and waiting.
  std::future<ubm::Result<market::Outcome>> request_held(const std::string& title) {
    storage->hold();
    auto outcome = sequencer->submit(market::RequestInstance{kAdmin, title, kRelease, "default", {}, {}, false, market::RequestedState::started});
    EXPECT_TRUE(storage->wait_held(10s));
    return outcome;
  }
};

// Polls `done` until it holds, for at most 10 s (a bound, not a delay: it returns as soon as it holds).
bool test_wait(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

bool ready(std::future<http::Response>& f, std::chrono::milliseconds limit = 0ms) { return f.wait_for(limit) == std::future_status::ready; }

}  // namespace

TEST(DurableReads, AnIdleMasterAnswersAtOnce) {
  World w;
  auto view = w.get("/v1/computers/COMP-1");
  ASSERT_TRUE(ready(view));  // answered inside handle(): nothing was waiting to be written
  EXPECT_EQ(view.get().status, 200u);
  EXPECT_EQ(w.gate->waiting(), 0u);
}

TEST(DurableReads, AComputerViewWaitsForTheAllocationItShowsToBeDurable) {
  World w;
  auto outcome = w.request_held("db");
  // Decided and folded: the view shows the partition taken, but the write has not landed.
  const auto* taken = w.market.instances().find(kAdmin, "db");
  ASSERT_NE(taken, nullptr);
  const std::string guid = taken->request.instance;
  auto view = w.get("/v1/computers/COMP-1");
  auto listed = w.get("/slapos.allDocs.v0.compute_node_instance_list", R"({"computer_guid":"COMP-1"})");
  EXPECT_FALSE(ready(view));
  EXPECT_FALSE(ready(listed));
  EXPECT_EQ(w.gate->waiting(), 2u);
  w.storage->release(true);
  ASSERT_TRUE(outcome.get());
  ASSERT_TRUE(ready(view, 10s));
  const http::Response r = view.get();
  EXPECT_EQ(r.status, 200u);
  EXPECT_NE(r.body.find(guid), std::string::npos) << r.body;
  ASSERT_TRUE(ready(listed, 10s));
  const http::Response l = listed.get();
  EXPECT_EQ(l.status, 200u);
  EXPECT_NE(l.body.find(guid), std::string::npos) << l.body;
}

TEST(DurableReads, AViewOfADecisionWhoseWriteFailsIsNeverSent) {
  World w;
  const uint64_t head = w.ledger->head().value();
  auto outcome = w.request_held("db");
  const auto* taken = w.market.instances().find(kAdmin, "db");
  ASSERT_NE(taken, nullptr);
  const std::string guid = taken->request.instance;
  auto view = w.get("/v1/computers/COMP-1");
  EXPECT_FALSE(ready(view));
  w.storage->release(false);
  EXPECT_FALSE(outcome.get());  // the request failed: nothing was written
  ASSERT_TRUE(ready(view, 10s));
  const http::Response r = view.get();
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(r.body.find(guid), std::string::npos) << r.body;
  EXPECT_EQ(w.ledger->head().value(), head);
  // Asked again, the view is the durable one, without the instance, at once.
  auto again = w.get("/v1/computers/COMP-1");
  ASSERT_TRUE(ready(again));
  const http::Response a = again.get();
  EXPECT_EQ(a.status, 200u);
  EXPECT_EQ(a.body.find(guid), std::string::npos) << a.body;
}

TEST(DurableReads, TheGateSendsOnlyWhatIsDurableInTheGenerationItWasRead) {
  using V = slapd::DurableGate::Verdict;
  uint64_t head = 0, generation = 6;
  slapd::DurableGate gate({[&] { return head; }, [&] { return generation; }});
  std::vector<V> fired;
  auto record = [&](V v) { fired.push_back(v); };
  gate.after(5, 6, record);
  gate.after(3, 6, record);
  EXPECT_TRUE(fired.empty());
  head = 4;
  gate.notify();
  EXPECT_EQ(fired, std::vector<V>({V::durable}));  // bound 3 reached, bound 5 not yet
  gate.after(4, 4, record);  // read in an older generation: moved, at once
  EXPECT_EQ(fired, std::vector<V>({V::durable, V::moved}));
  generation = 7;  // a rebuild starts: what waits may have been undone
  gate.notify();
  EXPECT_EQ(fired, std::vector<V>({V::durable, V::moved, V::moved}));
  gate.after(0, 7, record);  // read while rebuilding: half-built, so it waits for the rebuild's end
  gate.notify();
  EXPECT_EQ(fired.size(), 3u);
  generation = 8;
  gate.notify();
  EXPECT_EQ(fired.back(), V::moved);
  gate.after(9, 8, record);
  gate.close();
  EXPECT_EQ(fired.back(), V::refused);
  gate.after(0, 8, record);  // closed: refused
  EXPECT_EQ(fired.size(), 6u);
  EXPECT_EQ(fired.back(), V::refused);
}

// A rebuild that could not read the log leaves the projections half-built and the generation odd
// for good: the replies waiting for its end, and every later one, are refused (503), never held
// until the master stops, never sent.
TEST(DurableReads, TheGateRefusesEveryReplyWhileTheMarketCannotBeRebuilt) {
  using V = slapd::DurableGate::Verdict;
  uint64_t head = 0, generation = 7;
  bool failed = false;
  slapd::DurableGate gate({[&] { return head; }, [&] { return generation; }, [&] { return failed; }});
  std::vector<V> fired;
  auto record = [&](V v) { fired.push_back(v); };
  gate.after(0, 7, record);  // read while rebuilding: waits
  gate.after(0, 7, record, true);
  EXPECT_TRUE(fired.empty());
  failed = true;  // the rebuild failed: the generation stays 7
  gate.notify();
  EXPECT_EQ(fired, std::vector<V>({V::refused, V::refused}));
  gate.after(0, 7, record);
  EXPECT_EQ(fired.back(), V::refused);
  EXPECT_EQ(fired.size(), 3u);
  failed = false;  // rebuilt at last
  generation = 8;
  gate.after(0, 8, record);
  EXPECT_EQ(fired.back(), V::durable);
}

// The gate holds at most so many replies: past that a read is refused (503, ask again), never a
// write's reply, whose command is recorded already (a client told to retry would repeat it).
TEST(DurableReads, TheGateRefusesReadsPastItsCapacityButNeverAWritesReply) {
  using V = slapd::DurableGate::Verdict;
  uint64_t head = 0, generation = 2;
  slapd::DurableGate gate({[&] { return head; }, [&] { return generation; }}, 1);
  std::vector<V> reads, writes;
  gate.after(5, 2, [&](V v) { reads.push_back(v); });
  gate.after(5, 2, [&](V v) { reads.push_back(v); });  // past the capacity: refused at once
  EXPECT_EQ(reads, std::vector<V>({V::refused}));
  gate.after(5, 2, [&](V v) { writes.push_back(v); }, true);
  gate.after(5, 2, [&](V v) { writes.push_back(v); }, true);
  EXPECT_TRUE(writes.empty()) << "a write's reply waits whatever the number held";
  head = 5;
  gate.notify();
  EXPECT_EQ(reads, std::vector<V>({V::refused, V::durable}));
  EXPECT_EQ(writes, std::vector<V>({V::durable, V::durable}));
}

// A write's reply is rendered from the projections once its own command is durable, but a later
// batch may be folded by then: a changed request's reply shows the instance's connection
// parameters, and must not show ones whose write is still on its way, or that it then loses.
TEST(DurableReads, AWriteReplyShowsOnlyDurableStateOfLaterBatches) {
  for (const bool later_write_lands : {true, false}) {
    SCOPED_TRACE(later_write_lands ? "the later write lands" : "the later write fails");
    World w;
    auto first = w.sequencer->submit(market::RequestInstance{kAdmin, "db", kRelease, "default", {}, {}, false, market::RequestedState::started}).get();
    ASSERT_TRUE(first);
    const std::string guid = first->instance;
    // Batch k: the request changed (stopped), its write held.
    w.storage->hold();
    auto reply = w.get("/slapos.post.v0.software_instance",
                       R"({"title":"db","software_release_uri":")" + std::string(kRelease) + R"(","software_type":"default","state":"stopped"})");
    ASSERT_TRUE(w.storage->wait_held(10s));
    // Batch k+1, decided while k is written: connection parameters for the same instance.
    const uint64_t folded = w.market.folded_until();
    auto later = w.sequencer->submit(market::ReportConnection{"COMP-1", guid, {{"url", "later-secret"}}});
    ASSERT_TRUE(test_wait([&] { return w.market.folded_until() > folded; }));
    // k lands and is answered while k+1 waits for its own write: the reply is held.
    w.storage->release(true, /*hold_next=*/true);
    ASSERT_TRUE(w.storage->wait_held(10s));
    EXPECT_FALSE(ready(reply));
    EXPECT_EQ(w.gate->waiting(), 1u);
    w.storage->release(later_write_lands);
    EXPECT_EQ(later.get().ok(), later_write_lands);
    ASSERT_TRUE(ready(reply, 10s));
    const http::Response r = reply.get();
    EXPECT_EQ(r.status, 200u) << r.body;  // k's command is done either way: rendered again if need be
    EXPECT_NE(r.body.find("stopped"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("later-secret") != std::string::npos, later_write_lands) << r.body;
  }
}

// /healthz tells an operator (and a load balancer) what the master can still do: after a failed
// write every write is refused until a restart (read_only), and while the market cannot be rebuilt
// from its ledger nothing is answered (failed); both are 503, and the second gives way to the
// first once the log reads again.
TEST(Health, SaysWhenTheMasterCanNoLongerWriteOrAnswer) {
  auto health = [](World& w) {
    auto f = w.get("/healthz");
    EXPECT_TRUE(ready(f, 10s));
    return f.get();
  };
  {
    World w;
    auto ok = health(w);
    EXPECT_EQ(ok.status, 200u);
    EXPECT_NE(ok.body.find("\"status\":\"ok\""), std::string::npos) << ok.body;
    auto outcome = w.request_held("db");
    w.storage->release(false);
    EXPECT_FALSE(outcome.get());
    auto read_only = health(w);
    EXPECT_EQ(read_only.status, 503u);
    EXPECT_NE(read_only.body.find("\"status\":\"read_only\""), std::string::npos) << read_only.body;
    // Reads are still answered.
    auto view = w.get("/v1/computers/COMP-1");
    ASSERT_TRUE(ready(view, 10s));
    EXPECT_EQ(view.get().status, 200u);
  }
  {
    World w;
    auto outcome = w.request_held("db");
    w.storage->faults().fail_scans_after(0);  // the rebuild after the failed write cannot read the log
    w.storage->release(false);
    EXPECT_FALSE(outcome.get());
    EXPECT_TRUE(test_wait([&] { return w.market.failed(); }));
    auto failed = health(w);
    EXPECT_EQ(failed.status, 503u);
    EXPECT_NE(failed.body.find("\"status\":\"failed\""), std::string::npos) << failed.body;
    w.storage->faults().clear_faults();  // the deciding thread's next retry reads the log
    EXPECT_TRUE(test_wait([&] { return !w.market.failed(); }));
    auto read_only = health(w);
    EXPECT_EQ(read_only.status, 503u);
    EXPECT_NE(read_only.body.find("\"status\":\"read_only\""), std::string::npos) << read_only.body;
  }
}
