#include "market/market.h"

#include <algorithm>
#include <cassert>
#include <optional>
#include <set>

#include "ledger/hash.h"
#include "billing/entries.h"
#include "market/merged_queues.h"
#include "market/price_rules.h"
#include "market/partition_tenancy.h"
#include "market/sla.h"
#include "market/usage_split.h"
#include "ubm/validate.h"

namespace slap::market {
namespace {

using ubm::Rejection;

ubm::Error reject(Rejection code, std::string field, std::string detail) {
  return ubm::make_error(code, std::move(field), std::move(detail));
}

bool valid_text(std::string_view s) { return !s.empty() && s.size() <= kMaxTextLength; }

ubm::Status check_map(const StringMap& m, std::string_view field) {
  if (m.size() > kMaxMapEntries) return reject(Rejection::INVALID_PARAMETER, std::string(field), "too many entries");
  for (const auto& [k, v] : m) {
    if (k.size() > kMaxTextLength || v.size() > kMaxTextLength) {
      return reject(Rejection::INVALID_PARAMETER, std::string(field) + "." + k, "key or value too long");
    }
  }
  return {};
}

ubm::Error not_attached() { return ubm::make_error(ubm::Rejection::LEDGER_CLOSED, "ledger", "the market is not attached to a ledger"); }

}  // namespace

using ubm::Status;

// What one execute_batch accumulates.
struct Market::Batch {
  ubm::Seq first{0};  // where entries[0] will land
  std::vector<ubm::EntryBody> entries;
  boost::unordered_flat_set<std::string> registered;            // ids registered by this batch (not in the directory yet)
  boost::unordered_flat_map<std::string, ubm::NodeKind> nodes;  // the nodes among them
  boost::unordered_flat_set<std::string> journals;              // usage journals accounted by this batch
  size_t reasons = 0;  // pending reasons rewritten by this batch's passes over the queue (kMaxReasonUpdatesPerBatch)
};

Market::Market(MarketOptions options) : options_(std::move(options)) {}

std::vector<ledger::Projection*> Market::projections() { return {&computers_, &instances_, &capacity_, &journals_, &hosting_, &billing_}; }

void Market::attach(ledger::Ledger& ledger) {
  ledger_ = &ledger;
  last_at_ = instances_.last_at();
}

std::string Market::release_id(std::string_view url) {
  ledger::Hasher h;
  const ledger::Hash d = h.digest({url});
  return "SR-" + ledger::to_hex(std::string_view(reinterpret_cast<const char*>(d.data()), 16));
}

ubm::Result<uint64_t> Market::checkpoint() {
  if (ledger_ == nullptr) return not_attached();
  const uint64_t before = ledger_->stats().checkpoints;
  if (auto s = ledger_->checkpoint(); !s) return s.error();
  const auto after = ledger_->stats();
  return after.checkpoints == before ? 0 : after.last_checkpoint_bytes;  // 0: every projection declined
}

ubm::Result<ledger::Ledger::CheckpointImage> Market::capture_checkpoint(unsigned threads) {
  if (ledger_ == nullptr) return not_attached();
  return ledger_->capture_checkpoint(threads);
}

ubm::Status Market::write_checkpoint(const ledger::Ledger::CheckpointImage& image) {
  if (ledger_ == nullptr) return not_attached();
  return ledger_->write_checkpoint(image);
}

ubm::Status Market::rebuild() {
  // Odd while the projections are half-built (what was read meanwhile is); even again once they
  // are whole. A failed rebuild leaves it odd: it is already odd when the next one starts.
  if (generation_.load(std::memory_order_acquire) % 2 == 0) generation_.fetch_add(1, std::memory_order_acq_rel);
  std::vector<ledger::Projection*> ps = projections();
  for (auto* p : ps) p->reset();
  if (ledger_ == nullptr) {
    generation_.fetch_add(1, std::memory_order_acq_rel);
    failed_.store(false, std::memory_order_release);
    return {};
  }
  in_flight_.clear();
  in_flight_ids_.clear();
  in_flight_journals_.clear();
  stale_reasons_ = true;  // which reasons a failed batch left behind is not known
  prepared_groups_.clear();  // not needed (the capacity index's names_version moved on): memory
  decided_head_ = ubm::Seq{0};
  auto s = ledger_->scan(ubm::Seq{1}, ubm::Seq{0}, [&](const ledger::EntryView& v) {
    for (auto* p : ps) p->apply(std::span<const ledger::EntryView>(&v, 1));
    return true;
  });
  if (!s) {
    // Part of the log is folded: readers are refused (failed()) and the generation stays odd.
    failed_.store(true, std::memory_order_release);
    return s;
  }
  last_at_ = std::max(last_at_, instances_.last_at());
  folded_until_.store(ledger_->head().value(), std::memory_order_release);  // replayed: all durable
  // Even first, then not failed: a reader that sees failed() false (the gate reads it first) then
  // reads the generation of the whole projections.
  generation_.fetch_add(1, std::memory_order_acq_rel);
  failed_.store(false, std::memory_order_release);
  return s;
}

// Ids the market mints or derives itself: instances "SOFTINST-<n>", releases "SR-<hex>",
// subscriptions "SUB-<instance>", partitions "<computer>/<ref>", and its own node. A party, network
// or computer registered first under one of them would make the ledger refuse, as a duplicate id,
// the batch that later mints it; the market rebuilds and mints the same id again, so every later
// batch holding that command would fail the same way.
namespace {
// An instance guid the market minted ("SOFTINST-<n>"): only the market registers such ids (since
// reserved_id; an older ledger may hold a party or computer under one, see registered()).
bool is_minted_instance(std::string_view id) { return id.starts_with("SOFTINST-"); }
bool reserved_id(std::string_view id) {
  return id.starts_with("SOFTINST-") || id.starts_with("SR-") || id.starts_with("SUB-") ||
         id.find('/') != std::string_view::npos || id == kMarketNode;
}
ubm::Error reserved(std::string field, std::string_view id) {
  return reject(Rejection::INVALID_ID, std::move(field),
                "'" + std::string(id) + "' is reserved: the market names instances SOFTINST-*, releases SR-*, "
                "subscriptions SUB-* and partitions computer/ref");
}
}  // namespace

// --- the rules -------------------------------------------------------------------------------

struct Market::Handler {
  Market& m;
  Batch& b;
  ubm::TimestampNs at;
  bool wrote = false;
  std::optional<ubm::Item> introduced;  // registered by the next movement emitted (introduce)
  // Shared instances this command sent back to the queue, with why (requeue_slaves): the pass over
  // the queue that follows leaves that reason to them rather than the matcher's.
  boost::unordered_flat_set<std::string> requeued;
  // The last place taken in the pending queue before this command: the instances it queues come
  // after. With the host changes the registry notes (mark_host_changes, at the start of each
  // command), they tell a pass which shared instances it must try (serve_pending).
  const uint64_t queued_before = m.instances_.last_arrival();

  // Registration state: the directory plus what this batch registered.
  bool registered(const std::string& id) const {
    // An instance is registered by the movement that introduces it, folded into the registry at
    // once: the registry answers for every minted guid, in this batch, in flight or durable, so
    // they are kept out of the batch's and in-flight id sets (four string copies and hashes less
    // per request on the deciding thread). A miss reads on: a ledger older than reserved_id may
    // hold a party or computer under such an id.
    if (is_minted_instance(id) && m.instances_.find(id) != nullptr) return true;
    if (b.registered.count(id) || m.in_flight_ids_.count(id)) return true;
    const auto& d = m.ledger_->directory();
    return d.node_kind(id).has_value() || d.item_kind(id).has_value();
  }
  std::optional<ubm::NodeKind> node_kind(const std::string& id) const {
    if (auto it = b.nodes.find(id); it != b.nodes.end()) return it->second;
    if (auto it = m.in_flight_ids_.find(id); it != m.in_flight_ids_.end()) return it->second;
    return m.ledger_->directory().node_kind(id);
  }
  void node(std::string id, ubm::NodeKind kind, std::string title) {
    b.registered.insert(id);
    b.nodes.emplace(id, kind);
    b.entries.push_back(ubm::Node{ubm::NodeId(std::move(id)), kind, std::move(title), {}});
    wrote = true;
  }
  // An item this batch registers (noted for registered()), ready for an entry or a movement.
  ubm::Item registering(std::string id, ubm::ItemKind kind, std::string title, std::string owner, std::string parent) {
    if (!is_minted_instance(id)) b.registered.insert(id);
    return ubm::Item{ubm::ItemId(std::move(id)), kind, std::move(title), ubm::NodeId(std::move(owner)), ubm::ItemId(std::move(parent)), {}};
  }
  void item(std::string id, ubm::ItemKind kind, std::string title, std::string owner = {}, std::string parent = {}) {
    b.entries.push_back(registering(std::move(id), kind, std::move(title), std::move(owner), std::move(parent)));
    wrote = true;
  }
  // An instance is registered by the movement that first names it (its request), not by an Item
  // entry of its own: one entry per allocation (schema/ledger.capnp `registers`).
  void introduce(std::string id, ubm::ItemKind kind, std::string title, std::string owner, std::string parent) {
    assert(!introduced.has_value());
    introduced = registering(std::move(id), kind, std::move(title), std::move(owner), std::move(parent));
  }
  void ensure_market_node() {
    // Once the directory holds it, it holds it for good (it never forgets an id; a rebuild
    // replays the market's projections, not the directory): no lookup per request again.
    if (m.market_node_durable_) return;
    const std::string id(kMarketNode);
    if (!registered(id)) return node(id, ubm::NodeKind::organisation, "SlapOS market");
    m.market_node_durable_ = m.ledger_->directory().node_kind(id).has_value();
  }
  std::string release_item(const std::string& url) {
    auto it = m.release_ids_.find(url);
    if (it == m.release_ids_.end()) it = m.release_ids_.emplace(url, ReleaseId{release_id(url), false}).first;
    ReleaseId& r = it->second;
    if (!r.in_directory) {
      // The directory never forgets an id (a rebuild replays it back), so once there, the
      // release needs no lookup again.
      r.in_directory = m.ledger_->directory().item_kind(r.id).has_value();
      if (!r.in_directory && !registered(r.id)) item(r.id, ubm::ItemKind::software_release, url);
    }
    return r.id;
  }
  void emit(fact::Body body, Envelope env) {
    if (env.source == env.destination) env.source = std::string(kMarketNode);
    Fact f{at, std::move(body)};
    ubm::Movement mv = encode(f, std::move(env));
    if (introduced) {
      assert(std::find(mv.items.begin(), mv.items.end(), introduced->id) != mv.items.end());
      mv.registers.push_back(std::move(*introduced));
      introduced.reset();
    }
    b.entries.push_back(std::move(mv));
    // Raised before the fact is folded: a reader that sees the fold (through the projection's
    // lock) and reads folded_until() afterwards reads a bound that covers it.
    m.folded_until_.store(b.first.value() + b.entries.size() - 1, std::memory_order_release);
    // Instances before computers: a computer's version is what HTTP readers key their cached view
    // on (slapd Api::computer_view), and they read the version first, then the instances. Folded
    // the other way, a reader between the two folds cached the old instances under the new
    // version, and nodes polling with that version were answered "not modified" with them.
    m.instances_.apply_fact(f);
    m.computers_.apply_fact(f);
    m.capacity_.apply_fact(f);
    m.hosting_.apply_fact(f);
    wrote = true;
  }
  // Who supplies hosting, and usage, to `client` on computer `c`: its owner, or its network when
  // the owner runs its own instances there (a movement never goes from a party to itself). One
  // rule for every movement about an instance, so that its hosting and its usage are billed by
  // the same supplier to the same client (DESIGN.md §3).
  static const std::string& supplier_of(const ComputerView::Computer& c, std::string_view client) {
    return c.props.owner == client ? c.props.network : c.props.owner;
  }
  static std::string partition_item(std::string_view computer, std::string_view ref) {
    std::string s(computer);
    s += '/';
    s += ref;
    return s;
  }
  ubm::Money price_of(const ComputerView::Computer& c) const {
    return ubm::Money{ubm::Decimal::integer(c.props.price_minor), c.props.currency};
  }

  // A placement decision for an instance that needs one, recorded as a fact.
  Outcome place(const std::string& guid) {
    const InstanceRegistry::Instance* i = m.instances_.find(guid);
    assert(i != nullptr);
    // Copies of what is read after emitting (emitting changes the instance); not of
    // the whole request, whose parameters can be large.
    struct {
      std::string release, software_type, client;
      bool shared;
    } const q{i->request.release, i->request.software_type, i->request.client, i->request.shared};
    Outcome out{true, guid, {}, {}, {}, {}};
    auto conditions = parse_sla(i->request.sla);
    if (!conditions) {  // cannot happen: validated when requested
      out.pending = conditions.error().detail;
    } else if (q.shared) {
      Placement p = m.matcher_.host(q.release, q.software_type, q.client, *conditions);
      if (p.placed()) {
        emit(fact::Attached{guid, p.host}, {std::string(kMarketNode), q.client, {guid, p.host}, {}});
        out.host = p.host;
        return out;
      }
      out.pending = p.reason;
    } else {
      Placement p = m.matcher_.place(q.release, q.client, *conditions);
      if (p.placed()) {
        const ComputerView::Computer* c = m.computers_.find(p.computer);
        emit(fact::Allocated{guid, p.computer, p.partition},
             {supplier_of(*c, q.client), q.client,
              {guid, partition_item(p.computer, p.partition), release_item(q.release)}, price_of(*c)});
        out.computer = p.computer;
        out.partition = p.partition;
        return out;
      }
      out.pending = p.reason;
    }
    if (!i->pending || i->pending_reason != out.pending) {
      emit(fact::Pending{guid, out.pending}, {q.client, std::string(kMarketNode), {guid}, {}});
    }
    return out;
  }

  // Offers capacity to the pending queue, oldest first, visiting only the requests the command's
  // change may serve (at the end of each command no waiting request can be placed: only what the
  // command changed can serve one). Those not visited keep their reason.
  // - `hosts`, after a request (partitions were taken, not freed): shared instances only, those
  //   of the groups of the hosts this command made, changed or removed (InstanceRegistry::
  //   host_changes: their release and type, their guid named as instance_guid) and those this
  //   command queued (sent back by their host, or new). Every shared instance was tried for every
  //   request and free: 5,000 waiting for a host that was down, 3.5 ms each.
  // - every pass: the groups of shared instances an earlier batch's bound on reason rewrites left
  //   with an out-of-date reason, from the first left behind (Market::stale_shared_groups_).
  // - `freed`, a partition freed on computer `on`: the groups of requests that computer suits
  //   (Matcher::could_place_on, checked once per group: every other capacity refused them
  //   already), the requests the matcher's walk gave up on (kScanBoundReason), and, once no
  //   partition is free anywhere, none of them; of the shared instances, those this command
  //   queued or whose host changed (a free makes no host). Each request was tried for every
  //   partition freed: 20,000 waiting on conditions no computer of 1,000 meets, 137 ms a free.
  // - `computer` (its properties) and `capacity` (its partitions or supplies), on computer `on`:
  //   the requests waiting for a partition, in arrival order, rewriting the reasons that changed.
  //   `computer`: every one of them (a computer's categories, scope or price may change the
  //   reason of any request, whatever its release: one naming a region no computer had, say).
  //   `capacity`: those of the releases `on` supplies, or of `release` alone when given (a supply
  //   of it): the matcher's candidates and reasons for another release do not read `on`'s
  //   partitions or supplies (a request naming `on` reads its supplies first), and a pass places
  //   only on `on`. Two exceptions: a release URL new to the capacity index is a new name there,
  //   which any request may ask for (Supply marks every reason to be asked again); and with more
  //   than kMaxScan computers in one region or network, `on` joining that order moves the walk's
  //   bound for other releases (a scan-bound reason, or one given up on, may stay as it was).
  //   Every request, unless Market::stale_reasons_: then as `computer`. A reason that the
  //   market's answer left behind otherwise (a placement since, by this pass or another command)
  //   is asked again by the next pass of a computer supplying its release, or registering; any
  //   capacity pass did so before, at whatever time it came. A supply walked every request
  //   waiting, of any release: 20,000 waiting, 4.6 ms. The matcher's answer is the same for each
  //   request of a group (same release, conditions and, when they name a computer, client; its
  //   walk gives up on them alike), so it is asked once per group until a placement changes what
  //   it would answer. The matcher was asked for each
  //   request: 20,000 waiting on conditions no computer of 1,000 meets, 124 ms a supply. Hosts
  //   may serve other shared instances only when their computer's properties change (`computer`:
  //   Matcher::host_fits reads nothing else of it), then the groups of the hosts on it are tried.
  // In every walk a host placed serves the shared instances queued after it in the same walk; one
  // more pass (`hosts`) offers it to those queued before, as a walk of the whole queue did.
  enum class Offer { computer, capacity, freed, hosts };
  void serve_pending(Offer offer, std::string_view on = {}, std::string_view release = {}) {
    if (m.instances_.pending_count() == 0) return;
    if (offer == Offer::hosts && m.instances_.pending_shared_count() == 0) return;
    bool new_host = false;
    // Walked in place (the queue was copied for each pass) up to the last queued when the pass
    // began.
    const uint64_t last = m.instances_.last_arrival();
    const CapacityIndex::Computer* freed = offer == Offer::freed ? m.capacity_.find(on) : nullptr;
    const bool by_group = offer == Offer::computer || offer == Offer::capacity;
    const OfferedReleases offered = m.stale_reasons_ ? OfferedReleases{} : offered_releases(offer, on, release);
    bool cut = false;  // a reason this pass should rewrite is left as it is
    // More host changes than the registry notes: every shared instance is offered, as before.
    const bool every_shared = m.instances_.host_changes_overflowed();
    std::vector<std::string> groups, shared_groups;
    if (offer == Offer::freed && freed != nullptr && freed->has_free()) {
      // Of the releases it supplies only: it could serve no other request (Matcher::could_place_on).
      for (const auto& g : groups_of(OfferedReleases{false, supplied_by(on)})) {
        if (could_serve(*freed, g)) groups.emplace_back(g.key);
      }
    } else if (by_group) {
      for (const auto& g : offered.every ? m.instances_.pending_groups() : groups_of(offered)) groups.emplace_back(g.key);
    }
    if (!every_shared) {
      shared_groups.assign(m.instances_.host_changes().begin(), m.instances_.host_changes().end());
      if (offer == Offer::computer) {
        for (auto& key : shared_groups_hosted_on(on)) shared_groups.push_back(std::move(key));
      }
    }
    std::vector<std::pair<std::string, uint64_t>> stale;  // those still left behind come back below
    if (b.reasons < kMaxReasonUpdatesPerBatch && !m.stale_shared_groups_.empty()) {
      stale.assign(m.stale_shared_groups_.begin(), m.stale_shared_groups_.end());
      m.stale_shared_groups_.clear();
    }
    if (offer == Offer::hosts && !every_shared && shared_groups.empty() && stale.empty() && m.instances_.last_arrival() == queued_before) {
      return;
    }
    const size_t walked_groups = groups.size();  // last_group() is a position among them
    MergedQueues queues(m.instances_, every_shared ? 0 : queued_before, std::move(groups), std::move(shared_groups));
    for (const auto& [key, after] : stale) queues.add_shared_group(key, after);
    // Only shared instances to serve: a walk of their queues alone (a request with one shared
    // instance waiting walked every request waiting for a partition: 4 ms a request with 50,000).
    const bool partitions = offer != Offer::hosts;
    auto next = [&](uint64_t after) {
      const bool any_free = m.capacity_.free_partitions() != 0;
      return queues.next(after, partitions && (by_group || any_free), by_group || (freed != nullptr && freed->has_free()));
    };
    // `computer` and `capacity`: the matcher's answer to a request of each group, valid while its
    // placements count is the pass's (a placement changes what the matcher would answer; counting
    // them spares clearing every group's answer at each).
    struct Answer {
      size_t placements = 0;  // the pass's count when asked; 0: never asked
      std::string reason;
    };
    std::vector<Answer> answers(by_group ? walked_groups : 0);
    size_t placements = 1;
    auto answered = [&](std::optional<size_t> g) { return g && answers[*g].placements == placements; };
    size_t hosts_seen = m.instances_.host_changes().size();
    for (auto queued = next(0); queued.instance != nullptr && queued.arrival <= last; queued = next(queued.arrival)) {
      const InstanceRegistry::Instance* i = queued.instance;
      // A request that keeps its reason costs a comparison. (A scan-bound request may come from
      // its group or from the scan-bound queue: asked in full from the latter.)
      const std::optional<size_t> g = by_group ? queues.last_group() : std::nullopt;
      // The scan-bound queue holds every release: the capacity offered serves some only.
      if (!g && !i->request.shared && !offered.has(i->request.release)) continue;
      if (answered(g) && answers[*g].reason == i->pending_reason) continue;
      const std::string guid = i->request.instance;  // place() folds, which may move the registry's strings
      auto conditions = parse_sla(i->request.sla);
      if (!conditions) continue;
      const fact::Request& q = i->request;  // not read past place(), which changes the instance
      const bool shared = q.shared;
      Placement p;
      if (shared) {
        p = m.matcher_.host(q.release, q.software_type, q.client, *conditions);
      } else if (answered(g)) {
        p.reason = answers[*g].reason;
      } else {
        p = m.matcher_.place(q.release, q.client, *conditions);
        if (g && !p.placed()) answers[*g] = {placements, p.reason};
      }
      if (!p.placed()) {
        // Still waiting, maybe for another reason now (the release is supplied, but above its
        // max_price): the reason a client reads is the market's present one, not the first.
        if (p.reason != i->pending_reason && !requeued.contains(guid)) {
          if (b.reasons < kMaxReasonUpdatesPerBatch) {
            ++b.reasons;
            ensure_market_node();
            emit(fact::Pending{guid, std::move(p.reason)}, {q.client, std::string(kMarketNode), {guid}, {}});
          } else if (shared) {
            auto [left, fresh] = m.stale_shared_groups_.try_emplace(InstanceRegistry::shared_group_key(q), queued.arrival - 1);
            if (!fresh) left->second = std::min(left->second, queued.arrival - 1);
          } else {
            cut = true;
          }
        }
        continue;
      }
      ensure_market_node();
      place(guid);
      if (shared) continue;  // attached: it took no partition and made no host
      new_host = true;
      ++placements;  // a partition taken: every answer is asked again
      if (m.instances_.host_changes_overflowed()) {
        queues.add_every_shared(queued.arrival);
      } else {
        for (const auto& key : m.instances_.host_changes().subspan(hosts_seen)) queues.add_shared_group(key, queued.arrival);
        hosts_seen = m.instances_.host_changes().size();
      }
    }
    if (cut) {
      m.stale_reasons_ = true;
    } else if (by_group && offered.every) {
      m.stale_reasons_ = false;  // every request for a partition was asked, every answer written
    }
    if (new_host) serve_pending(Offer::hosts);
  }

  // The releases whose requests a pass offering `offer` on computer `on` (of `release` alone when
  // given) may serve, or change the reason of (see serve_pending): every release but for
  // `capacity`. Copies: the pass folds facts.
  struct OfferedReleases {
    bool every = true;
    std::vector<std::string> releases;  // sorted
    bool has(std::string_view r) const { return every || std::binary_search(releases.begin(), releases.end(), r, std::less<>{}); }
  };
  OfferedReleases offered_releases(Offer offer, std::string_view on, std::string_view release) const {
    OfferedReleases o;
    if (offer != Offer::capacity) return o;
    o.every = false;
    if (!release.empty()) {
      o.releases.emplace_back(release);
    } else {
      o.releases = supplied_by(on);
    }
    return o;
  }
  // The releases `computer` supplies, sorted: the only ones its partitions may run.
  std::vector<std::string> supplied_by(std::string_view computer) const {
    const ComputerView::Computer* c = m.computers_.find(computer);
    return c != nullptr ? c->supplied_releases() : std::vector<std::string>{};
  }
  // The groups of requests waiting for releases `o` holds (not every release): looked up by
  // release when they are under half of the groups waiting (InstanceRegistry::pending_groups_of, a
  // hash lookup each), else every group listed and those of other releases dropped (a binary
  // search of `o` each, no lookup).
  std::vector<InstanceRegistry::PendingGroup> groups_of(const OfferedReleases& o) const {
    size_t theirs = 0;
    for (const auto& r : o.releases) theirs += m.instances_.pending_group_count_of(r);
    std::vector<InstanceRegistry::PendingGroup> out;
    if (2 * theirs < m.instances_.pending_group_count()) {
      out.reserve(theirs);
      for (const auto& r : o.releases) m.instances_.pending_groups_of(r, out);
    } else {
      out = m.instances_.pending_groups();
      std::erase_if(out, [&](const InstanceRegistry::PendingGroup& g) { return !o.has(g.release); });
    }
    return out;
  }

  // Whether computer `c` could take the requests of group `g` now (one of them checked). The
  // group's conditions are compiled once and kept (Market::prepared_groups_): parsing and
  // compiling them for every group at every free cost 0.5-1 us a group: 11-20 ms a free with
  // 20,000 groups of one waiting (2 ms now, most of it listing the groups).
  bool could_serve(const CapacityIndex::Computer& c, const InstanceRegistry::PendingGroup& g) const {
    if (!g.named.empty() && g.named != c.guid) return false;  // names another computer
    auto it = m.prepared_groups_.find(g.key);
    if (it == m.prepared_groups_.end() || it->second.names_version != m.capacity_.names_version()) {
      auto conditions = parse_sla(g.oldest->request.sla);
      if (!conditions) return false;
      // Forgotten wholesale once it holds many groups no longer waiting (each is compiled again
      // at its next free).
      if (m.prepared_groups_.size() > 2 * m.instances_.pending_group_count() + 1024) m.prepared_groups_.clear();
      it = m.prepared_groups_.insert_or_assign(std::string(g.key), m.matcher_.prepare(g.release, *conditions)).first;
    }
    // The client matters only to a request naming the computer (a closed one admits its owner's):
    // the group's key holds it then, and a group whose conditions are kept is not read otherwise.
    const std::string_view client = g.named.empty() ? std::string_view() : std::string_view(g.oldest->request.client);
    return m.matcher_.could_place_on(c, client, it->second);
  }

  // The groups of shared instances that the hosts on `computer` may take (MergedQueues drops the
  // repeated ones).
  std::vector<std::string> shared_groups_hosted_on(std::string_view computer) const {
    std::vector<std::string> groups;
    if (const ComputerView::Computer* c = m.computers_.find(computer)) {
      for (const auto& p : c->partitions) {
        if (p.instance.empty()) continue;
        const InstanceRegistry::Instance* i = m.instances_.find(p.instance);
        if (i == nullptr) continue;
        for (auto& key : InstanceRegistry::shared_groups_of_host(i->request)) groups.push_back(std::move(key));
      }
    }
    return groups;
  }

  Outcome outcome_of(const std::string& guid, bool written) const {
    const InstanceRegistry::Instance* i = m.instances_.find(guid);
    return Outcome{written, guid, i->computer, i->partition, i->host, i->pending ? i->pending_reason : std::string()};
  }

  // Sends the shared instances a host serves back to the pending queue, in attach order. Each
  // leaves the host last-attached first (removing the end of the host's list costs nothing; from
  // its front, each free shifted the rest: quadratic in the shared instances of one host), then
  // all queue up in attach order (a Pending fact takes the next place in the queue).
  void requeue_slaves(const std::string& host, const std::string& why) {
    const std::vector<std::string> slaves = m.instances_.find(host)->slaves;
    std::vector<std::pair<const std::string*, std::string>> freed;  // slave, its client
    freed.reserve(slaves.size());
    for (auto s = slaves.rbegin(); s != slaves.rend(); ++s) {
      const InstanceRegistry::Instance* si = m.instances_.find(*s);
      if (si == nullptr) continue;
      freed.emplace_back(&*s, si->request.client);
      emit(fact::Freed{*s, {}, {}, true}, {freed.back().second, std::string(kMarketNode), {*s, host}, {}});
    }
    const std::string reason = "its host " + host + " " + why;
    for (auto f = freed.rbegin(); f != freed.rend(); ++f) {
      emit(fact::Pending{*f->first, reason}, {f->second, std::string(kMarketNode), {*f->first}, {}});
      requeued.insert(*f->first);
    }
  }

  // Whether the host a shared instance is attached to meets its conditions (and is the host they
  // name, if they name one).
  bool host_still_serves(const std::string& guid, const Conditions& c, const std::string& client) const {
    const InstanceRegistry::Instance* i = m.instances_.find(guid);
    const InstanceRegistry::Instance* h = m.instances_.find(i->host);
    return h != nullptr && m.matcher_.still_hosts(*h, i->request.release, client, c);
  }

  // After an instance's request turned to destroyed: an allocated instance waits for its node to
  // confirm; the rest go at once.
  void destroyed(const std::string& guid, bool was_pending, bool was_placed) {
    const InstanceRegistry::Instance* i = m.instances_.find(guid);
    if (was_pending || (was_placed && i->computer.empty())) free(guid);
  }

  // An instance destroyed takes the instances it requested with it, down its whole subtree, as
  // SlapOS destroys the instances of a destroyed tree: each is requested destroyed as it is, then
  // freed like any other. Without this the children kept their partitions, and their hosting ran
  // on, forever: nobody could address them any more (their requester, destroyed, requests nothing;
  // a request names its requester's children only).
  void destroy_descendants(const std::string& guid) {
    const std::vector<std::string>& children = m.instances_.find(guid)->children;
    std::deque<std::string> todo(children.begin(), children.end());
    // Bounded like every walk of a tree (a child is younger than its requester, so there is no
    // loop to fall into; a corrupted projection must not hang the deciding thread all the same).
    for (size_t steps = 0; !todo.empty() && steps <= m.instances_.size(); ++steps) {
      const std::string g = std::move(todo.front());
      todo.pop_front();
      const InstanceRegistry::Instance* i = m.instances_.find(g);
      if (i == nullptr) continue;
      todo.insert(todo.end(), i->children.begin(), i->children.end());
      if (i->request.state == RequestedState::destroyed) continue;
      const bool was_pending = i->pending, was_placed = i->placed();
      fact::Requested f;
      static_cast<fact::Request&>(f) = i->request;
      f.state = RequestedState::destroyed;
      const std::string client = f.client, rel = release_item(f.release);
      emit(std::move(f), {client, std::string(kMarketNode), {g, rel}, {}});
      destroyed(g, was_pending, was_placed);
    }
  }

  // Frees an instance's partition or host, re-queueing the shared instances it served.
  void free(const std::string& guid) {
    requeue_slaves(guid, "was destroyed");
    const InstanceRegistry::Instance* i = m.instances_.find(guid);
    const std::string client = i->request.client;
    const std::string computer = i->computer, partition = i->partition;
    if (!computer.empty()) {
      const ComputerView::Computer* c = m.computers_.find(computer);
      emit(fact::Freed{guid, computer, partition, false},
           {client, supplier_of(*c, client), {guid, partition_item(computer, partition)}, {}});
    } else if (!i->host.empty()) {  // a shared instance leaves its host
      const std::string host = i->host;
      emit(fact::Freed{guid, {}, {}, false}, {client, std::string(kMarketNode), {guid, host}, {}});
    } else {  // a request that never got a partition or a host
      emit(fact::Freed{guid, {}, {}, false}, {client, std::string(kMarketNode), {guid}, {}});
    }
  }

  // --- commands ---

  ubm::Result<Outcome> operator()(const RegisterParty& c) {
    if (!ubm::is_valid_id(c.id)) return reject(Rejection::INVALID_ID, "id", "a party id is 1..128 printable characters without spaces");
    if (c.kind != ubm::NodeKind::person && c.kind != ubm::NodeKind::organisation) {
      return reject(Rejection::INVALID_PARAMETER, "kind", "a party is a person or an organisation");
    }
    if (c.id == kMarketNode || registered(c.id)) return reject(Rejection::DUPLICATE_ID, "id", "'" + c.id + "' is already registered");
    if (reserved_id(c.id)) return reserved("id", c.id);
    node(c.id, c.kind, c.title);
    return Outcome{true, {}, {}, {}, {}, {}};
  }

  ubm::Result<Outcome> operator()(const RegisterComputer& c) {
    for (const auto& [field, id] : {std::pair{"computer", &c.computer}, {"owner", &c.owner}, {"network", &c.network}}) {
      if (!ubm::is_valid_id(*id)) return reject(Rejection::INVALID_ID, field, "'" + *id + "' is not a valid id");
    }
    if (c.price_minor < 0) return reject(Rejection::INVALID_PARAMETER, "price", "a price is never negative");
    if (c.currency != m.options_.currency) {
      return reject(Rejection::INVALID_PARAMETER, "currency", "this market prices in " + m.options_.currency);
    }
    if (c.capability.size() > kMaxTextLength) return reject(Rejection::INVALID_PARAMETER, "capability", "too long");
    if (auto s = check_map(c.categories, "categories"); !s) return s.error();
    for (const auto& [k, v] : c.categories) {
      if (!is_category_key(k)) return reject(Rejection::INVALID_PARAMETER, "categories." + k, "unknown category '" + k + "'");
      if (v.empty()) return reject(Rejection::INVALID_PARAMETER, "categories." + k, "a category needs a value");
    }
    auto owner = node_kind(c.owner);
    if (!owner) return reject(Rejection::UNKNOWN_PARTY, "owner", "'" + c.owner + "' is not registered");
    if (*owner == ubm::NodeKind::network) return reject(Rejection::KIND_MISMATCH, "owner", "a network cannot own a computer");
    auto network = node_kind(c.network);
    if (network && *network != ubm::NodeKind::network) return reject(Rejection::KIND_MISMATCH, "network", "'" + c.network + "' is not a network");
    if (c.network == kMarketNode) return reject(Rejection::KIND_MISMATCH, "network", "reserved id");
    if (!network) {  // a new network node: its id must be free among items too
      if (reserved_id(c.network)) return reserved("network", c.network);
      if (registered(c.network) || c.network == c.computer) {
        return reject(Rejection::KIND_MISMATCH, "network", "'" + c.network + "' is registered, and not as a network");
      }
    }
    fact::ComputerSet f{c.computer, c.owner, c.network, c.scope, c.price_minor, c.currency, c.capability, normalized(c.categories)};
    const ComputerView::Computer* existing = m.computers_.find(c.computer);
    if (existing != nullptr) {
      if (existing->props.owner != c.owner) return reject(Rejection::NOT_OWNER, "owner", "computer " + c.computer + " belongs to someone else");
      const auto& p = existing->props;
      if (p.network == f.network && p.scope == f.scope && p.price_minor == f.price_minor && p.capability == f.capability &&
          p.categories == f.categories) {
        return Outcome{false, {}, {}, {}, {}, {}};
      }
    } else if (registered(c.computer)) {
      return reject(Rejection::DUPLICATE_ID, "computer", "'" + c.computer + "' is already registered");
    } else if (reserved_id(c.computer)) {
      return reserved("computer", c.computer);
    }
    ensure_market_node();
    if (!network) node(c.network, ubm::NodeKind::network, c.network);
    if (existing == nullptr) item(c.computer, ubm::ItemKind::computer, c.computer, c.owner);
    emit(std::move(f), {c.network, c.owner, {c.computer}, ubm::Money{ubm::Decimal::integer(c.price_minor), c.currency}});
    serve_pending(Offer::computer, c.computer);
    return Outcome{true, {}, {}, {}, {}, {}};
  }

  ubm::Result<Outcome> operator()(const DeclareCapacity& c) {
    const ComputerView::Computer* comp = m.computers_.find(c.computer);
    if (comp == nullptr) return reject(Rejection::UNKNOWN_COMPUTER, "computer", "'" + c.computer + "' is not registered");
    if (c.partitions.size() > kMaxPartitionsPerComputer) return reject(Rejection::INVALID_PARAMETER, "partitions", "too many partitions");
    std::vector<std::string_view> refs;
    for (size_t k = 0; k < c.partitions.size(); ++k) {
      const auto& p = c.partitions[k];
      const std::string field = "partitions[" + std::to_string(k) + "]";
      if (!ubm::is_valid_id(p.ref) || !ubm::is_valid_id(partition_item(c.computer, p.ref))) {
        return reject(Rejection::INVALID_ID, field + ".ref", "a partition ref is a short id without spaces");
      }
      for (const auto* list : {&p.ipv4, &p.ipv6}) {
        for (const auto& a : *list) {
          if (a.empty() || a.size() > 64 || a.find_first_of(",| ") != std::string::npos) {
            return reject(Rejection::INVALID_PARAMETER, field + ".address", "'" + a + "' is not an address");
          }
        }
      }
      if (p.tap.size() > 64 || p.tap.find_first_of(",| ") != std::string::npos) return reject(Rejection::INVALID_PARAMETER, field + ".tap", "bad tap name");
      if (p.routed.size() > 64) return reject(Rejection::INVALID_PARAMETER, field + ".routed", "more than 64 routed addresses");
      for (const auto& r : p.routed) {
        for (const std::string* v : {&r.iface, &r.address, &r.gateway, &r.netmask, &r.network}) {
          if (v->size() > 64 || v->find_first_of(",| ") != std::string::npos) {
            return reject(Rejection::INVALID_PARAMETER, field + ".routed", "'" + *v + "' is not an interface, address, gateway, netmask or network");
          }
        }
        if (r.address.empty() || r.gateway.empty() || r.netmask.empty()) {
          return reject(Rejection::INVALID_PARAMETER, field + ".routed", "a routed address has an address, a gateway and a netmask");
        }
      }
      refs.push_back(p.ref);
    }
    std::sort(refs.begin(), refs.end());
    if (std::adjacent_find(refs.begin(), refs.end()) != refs.end()) {
      return reject(Rejection::INVALID_PARAMETER, "partitions", "a partition ref is declared twice");
    }
    fact::Formatted f;
    f.computer = c.computer;
    std::vector<PartitionSpec> updated;
    std::vector<std::string> brand_new;
    for (const auto& p : c.partitions) {
      const ComputerView::Partition* old = comp->partition(p.ref);
      if (old == nullptr || !old->present) {
        f.upserts.push_back(p);
        if (old == nullptr) brand_new.push_back(p.ref);
      } else if (old->addresses != pack_addresses(p)) {
        updated.push_back(p);
        if (!old->instance.empty()) f.touched.push_back(old->instance);
      }
    }
    f.added = static_cast<uint32_t>(f.upserts.size());
    for (auto& p : updated) f.upserts.push_back(std::move(p));
    for (const auto& old : comp->partitions) {
      if (!old.present || std::binary_search(refs.begin(), refs.end(), std::string_view(old.ref))) continue;
      if (!old.instance.empty()) {
        return reject(Rejection::PARTITION_IN_USE, "partitions", "partition " + old.ref + " hosts " + old.instance + " and cannot be removed");
      }
      f.retired.push_back(old.ref);
    }
    if (f.upserts.empty() && f.retired.empty()) return Outcome{false, {}, {}, {}, {}, {}};
    const std::string owner = comp->props.owner, network = comp->props.network;
    Envelope env{network, owner, {c.computer}, {}};
    for (const auto& ref : brand_new) item(partition_item(c.computer, ref), ubm::ItemKind::partition, ref, owner, c.computer);
    for (const auto& p : f.upserts) env.items.push_back(partition_item(c.computer, p.ref));
    emit(std::move(f), std::move(env));
    serve_pending(Offer::capacity, c.computer);
    return Outcome{true, {}, {}, {}, {}, {}};
  }

  ubm::Result<Outcome> operator()(const Supply& c) {
    const ComputerView::Computer* comp = m.computers_.find(c.computer);
    if (comp == nullptr) return reject(Rejection::UNKNOWN_COMPUTER, "computer", "'" + c.computer + "' is not registered");
    if (comp->props.owner != c.actor) return reject(Rejection::NOT_OWNER, "computer", c.actor + " does not own " + c.computer);
    if (!valid_text(c.release)) return reject(Rejection::INVALID_PARAMETER, "release", "a release URL is 1..4096 bytes");
    const std::string* state = find_value(comp->supplies, c.release);
    const bool now_available = state != nullptr && *state == "available";
    if (c.available == now_available && (c.available || state != nullptr)) return Outcome{false, {}, {}, {}, {}, {}};
    if (!c.available) {
      for (const auto& p : comp->partitions) {
        if (p.instance.empty()) continue;
        const InstanceRegistry::Instance* i = m.instances_.find(p.instance);
        if (i != nullptr && i->request.release == c.release) {
          return reject(Rejection::RELEASE_IN_USE, "release", "partition " + p.ref + " runs it (" + p.instance + ")");
        }
      }
    }
    const std::string owner = comp->props.owner, network = comp->props.network;
    const std::string rel = release_item(c.release);
    // A release URL the capacity index has never seen becomes a name there, beside capability,
    // network and category names: a request of any release asking for that text (capability=gpu,
    // a release called "gpu") is then compiled otherwise (Matcher::compile), so every request is
    // asked again.
    if (m.capacity_.id(c.release) == kNone) m.stale_reasons_ = true;
    emit(fact::Supplied{c.computer, c.release, c.available}, {owner, network, {rel, c.computer}, {}});
    if (c.available) serve_pending(Offer::capacity, c.computer, c.release);
    return Outcome{true, {}, {}, {}, {}, {}};
  }

  ubm::Result<Outcome> operator()(const SoftwareRemoved& c) {
    const ComputerView::Computer* comp = m.computers_.find(c.computer);
    if (comp == nullptr) return reject(Rejection::UNKNOWN_COMPUTER, "computer", "'" + c.computer + "' is not registered");
    const std::string* state = find_value(comp->supplies, c.release);
    if (state == nullptr) return Outcome{false, {}, {}, {}, {}, {}};  // forgotten already (a report sent again)
    if (*state != "destroyed") {
      return reject(Rejection::INVALID_STATE, "release", c.release + " is requested " + *state + " on " + c.computer + ", not destroyed");
    }
    const std::string owner = comp->props.owner, network = comp->props.network;
    const std::string rel = release_item(c.release);
    emit(fact::Supplied{c.computer, c.release, false, true}, {network, owner, {rel, c.computer}, {}});
    return Outcome{true, {}, {}, {}, {}, {}};
  }

  ubm::Result<Outcome> operator()(const RequestInstance& c) {
    if (!valid_text(c.title)) return reject(Rejection::INVALID_PARAMETER, "title", "a title is 1..4096 bytes");
    if (!valid_text(c.release)) return reject(Rejection::INVALID_PARAMETER, "release", "a release URL is 1..4096 bytes");
    if (c.software_type.size() > kMaxTextLength) return reject(Rejection::INVALID_PARAMETER, "software_type", "too long");
    if (auto s = check_map(c.parameters, "parameters"); !s) return s.error();
    if (auto s = check_map(c.sla, "sla"); !s) return s.error();
    StringMap sla = normalized(c.sla);
    auto conditions = parse_sla(sla);
    if (!conditions) return conditions.error();
    if (!c.shared && !conditions->instance_guid.empty()) {
      return reject(Rejection::INVALID_PARAMETER, "sla.instance_guid", "instance_guid names the host of a shared instance");
    }
    std::string client;
    std::string parent;
    bool requester_destroyed = false;
    if (const InstanceRegistry::Instance* r = m.instances_.find(c.requester)) {
      requester_destroyed = r->request.state == RequestedState::destroyed;
      client = r->request.client;
      parent = c.requester;
    } else {
      auto kind = node_kind(c.requester);
      if (!kind || *kind == ubm::NodeKind::network || c.requester == kMarketNode) {
        return reject(Rejection::UNKNOWN_PARTY, "requester", "'" + c.requester + "' is neither a registered party nor an instance");
      }
      client = c.requester;
    }
    fact::Requested f{{{}, c.requester, c.title, client, c.release, c.software_type, normalized(c.parameters), std::move(sla), c.shared, c.state}};
    const InstanceRegistry::Instance* existing = m.instances_.find(c.requester, c.title);
    // A destroyed instance's children were destroyed with it (destroy_descendants): a new or
    // revived one would be an orphan. Destroying one again changes nothing and is answered so.
    if (requester_destroyed && !(existing != nullptr && c.state == RequestedState::destroyed)) {
      return reject(Rejection::INVALID_STATE, "requester", c.requester + " was requested destroyed: it requests nothing");
    }
    if (existing == nullptr) {
      if (c.state == RequestedState::destroyed) return reject(Rejection::INVALID_STATE, "state", "nothing to destroy: no such instance");
      f.instance = "SOFTINST-" + std::to_string(m.instances_.next_guid());
      const std::string guid = f.instance;
      ensure_market_node();
      introduce(guid, ubm::ItemKind::instance, c.title, client, parent);
      const std::string rel = release_item(c.release);
      if (!c.shared) {
        // Decided before it is recorded (the matcher reads no instance), so that an allocation
        // is one entry: the request and its partition together, the movement of DESIGN.md §3.
        Placement p = m.matcher_.place(c.release, client, *conditions);
        if (p.placed()) {
          const ComputerView::Computer* comp = m.computers_.find(p.computer);
          Envelope env{supplier_of(*comp, client), client,
                       {guid, partition_item(p.computer, p.partition), rel}, price_of(*comp)};
          f.computer = std::move(p.computer);
          f.partition = std::move(p.partition);
          emit(std::move(f), std::move(env));
        } else {
          emit(std::move(f), {client, std::string(kMarketNode), {guid, rel}, {}});
          emit(fact::Pending{guid, std::move(p.reason)}, {client, std::string(kMarketNode), {guid}, {}});
        }
      } else {
        emit(std::move(f), {client, std::string(kMarketNode), {guid, rel}, {}});
        place(guid);
      }
      serve_pending(Offer::hosts);  // a new host may serve waiting shared instances
      return outcome_of(guid, true);
    }
    const fact::Request& old = existing->request;
    f.instance = old.instance;
    const std::string guid = old.instance;
    if (old.shared != c.shared && c.state != RequestedState::destroyed) {
      return reject(Rejection::INVALID_STATE, "shared", "an instance cannot change between shared and not shared");
    }
    if (c.state == RequestedState::destroyed) {
      // A destroy destroys the instance as it is: whatever release, type, parameters or SLA the
      // request names are not recorded, and no supply check stands in its way (a client naming
      // the product's current release URL must still be able to destroy an older instance).
      f.release = old.release;
      f.software_type = old.software_type;
      f.parameters = old.parameters;
      f.sla = old.sla;
      f.shared = old.shared;
    }
    if (old.release == f.release && old.software_type == f.software_type && old.parameters == f.parameters &&
        old.sla == f.sla && old.state == f.state) {
      return outcome_of(guid, false);
    }
    if (old.release != f.release && !existing->computer.empty()) {
      const ComputerView::Computer* comp = m.computers_.find(existing->computer);
      if (comp == nullptr || !comp->supplies_release(f.release)) {
        return reject(Rejection::NOT_SUPPLIED, "release", "computer " + existing->computer + " does not supply the new release");
      }
    }
    const bool was_placed = existing->placed(), was_pending = existing->pending;
    // A shared instance runs inside a host of its release and type; a host serves only those.
    const bool kind_changed = old.release != f.release || old.software_type != f.software_type;
    const bool sla_changed = old.sla != f.sla;
    const std::string rel = release_item(f.release);
    emit(std::move(f), {client, std::string(kMarketNode), {guid, rel}, {}});
    if (c.state == RequestedState::destroyed) {
      destroyed(guid, was_pending, was_placed);
      destroy_descendants(guid);
    } else if (c.shared && was_placed && (kind_changed || (sla_changed && !host_still_serves(guid, *conditions, client)))) {
      // A new release or type, or conditions its host no longer meets (another host named, a
      // region or price its host's computer fails): it moves to a host that serves it, or waits.
      const std::string host = m.instances_.find(guid)->host;
      emit(fact::Freed{guid, {}, {}, true}, {client, std::string(kMarketNode), {guid, host}, {}});
      place(guid);
    } else if (kind_changed && was_placed) {
      requeue_slaves(guid, "changed release or software type");
    } else if (!was_placed) {
      // Revived after being destroyed, or still waiting with new conditions. Any capacity it may
      // take now was refused by every older pending request already, so arrival order holds.
      place(guid);
    }
    serve_pending(Offer::hosts);  // a host that changed release or type may serve waiting shared instances
    return outcome_of(guid, true);
  }

  ubm::Result<Outcome> operator()(const ReportState& c) {
    const InstanceRegistry::Instance* i = m.instances_.find(c.instance);
    if (i == nullptr) return reject(Rejection::UNKNOWN_INSTANCE, "instance", "'" + c.instance + "' is not known");
    if (m.computers_.find(c.computer) == nullptr) return reject(Rejection::UNKNOWN_COMPUTER, "computer", "'" + c.computer + "' is not registered");
    if (i->computer.empty()) return reject(Rejection::INVALID_STATE, "instance", c.instance + " holds no partition");
    if (i->computer != c.computer) return reject(Rejection::NOT_OWNER, "computer", c.instance + " does not run on " + c.computer);
    if (c.state == ReportedState::none) return reject(Rejection::INVALID_PARAMETER, "state", "report started, stopped or destroyed");
    if (c.state == ReportedState::destroyed && i->request.state != RequestedState::destroyed) {
      return reject(Rejection::INVALID_STATE, "state", c.instance + " was not requested destroyed");
    }
    if (i->reported == c.state) return outcome_of(c.instance, false);
    std::vector<ubm::Identity> revocations;  // checked before anything is emitted
    if (c.state == ReportedState::destroyed) {
      for (const auto& serial : c.revoke_when_freed) {
        ubm::Identity id{ubm::IdentityAction::revoke, c.instance, serial, "", {}, {}, ""};
        if (auto st = ubm::validate_structure(ubm::EntryBody{id}, "revoke_when_freed"); !st) return st.error();
        revocations.push_back(std::move(id));
      }
    }
    const std::string client = i->request.client;
    const ComputerView::Computer* comp = m.computers_.find(c.computer);
    const std::string supplier = supplier_of(*comp, client);
    std::vector<std::string> items = hosting_items(c.instance);
    const std::optional<ubm::TimestampNs> since = m.hosting_.since(c.instance);
    emit(fact::Reported{c.instance, c.state}, {supplier, client, items, {}});
    if (since && c.state != ReportedState::started) {
      // The delivery that just ended, as one closed interval: what billing rates (billing/entries.h).
      b.entries.push_back(billing::encode_interval({supplier, client, std::move(items), since->value(), at.value(),
                                                    std::string(to_string(c.state))}));
    }
    if (c.state == ReportedState::destroyed) {
      ensure_market_node();
      free(c.instance);
      for (auto& id : revocations) b.entries.push_back(std::move(id));
      serve_pending(Offer::freed, c.computer);
    }
    return outcome_of(c.instance, true);
  }

  // A hosting movement's items: instance, partition, computer, release and subscription (the
  // instance tree, named after its root; registered on first use).
  std::vector<std::string> hosting_items(const std::string& guid) {
    const InstanceRegistry::Instance* i = m.instances_.find(guid);
    const std::string computer = i->computer, partition = i->partition, release = i->request.release;
    const std::string client = i->request.client;
    // Its root alone: the whole tree was listed here to read its first guid, for every state a node
    // reported, so confirming the destruction of a tree of 59,000 instances took 4 minutes.
    const InstanceRegistry::Instance* r = m.instances_.root_of(guid);
    const std::string root = r != nullptr ? r->request.instance : guid;
    const std::string subscription = "SUB-" + root;
    if (!registered(subscription)) item(subscription, ubm::ItemKind::subscription, r != nullptr ? r->request.title : root, client);
    return {guid, partition_item(computer, partition), computer, release_item(release), subscription};
  }

  // Prices and re-ratings (market/price_rules.h): one entry each, addressed to the market.
  PriceContext price_context() const {
    PriceContext ctx;
    ctx.now = at;
    ctx.currency = m.options_.currency;
    ctx.market_node = std::string(kMarketNode);
    ctx.node_kind = [this](const std::string& id) { return node_kind(id); };
    ctx.owner_of = [this](const std::string& computer) -> const std::string* {
      const ComputerView::Computer* c = m.computers_.find(computer);
      return c == nullptr ? nullptr : &c->props.owner;
    };
    return ctx;
  }
  ubm::Result<Outcome> record(ubm::Result<ubm::Movement> decided) {
    if (!decided) return decided.error();
    ensure_market_node();
    b.entries.push_back(std::move(*decided));
    wrote = true;
    Outcome out;
    out.written = true;
    return out;
  }
  ubm::Result<Outcome> operator()(const SetPrice& c) { return record(decide_price(c, price_context())); }
  ubm::Result<Outcome> operator()(const Rerate& c) { return record(decide_rerate(c, price_context())); }

  ubm::Result<Outcome> operator()(const ReportConnection& c) {
    const InstanceRegistry::Instance* i = m.instances_.find(c.instance);
    if (i == nullptr) return reject(Rejection::UNKNOWN_INSTANCE, "instance", "'" + c.instance + "' is not known");
    const ComputerView::Computer* at_comp = m.computers_.location(c.instance);
    if (at_comp == nullptr) return reject(Rejection::INVALID_STATE, "instance", c.instance + " is not placed");
    if (at_comp->props.computer != c.computer) return reject(Rejection::NOT_OWNER, "computer", c.instance + " is not served by " + c.computer);
    if (auto s = check_map(c.parameters, "parameters"); !s) return s.error();
    StringMap params = normalized(c.parameters);
    if (params == i->connection) return outcome_of(c.instance, false);
    const std::string client = i->request.client;
    emit(fact::Connection{c.instance, std::move(params)}, {supplier_of(*at_comp, client), client, {c.instance}, {}});
    return outcome_of(c.instance, true);
  }

  Status authorize(const InstanceRegistry::Instance& i, const std::string& actor) const {
    if (actor == i.request.requester || actor == i.request.client || actor == i.request.instance) return {};
    return reject(Rejection::NOT_OWNER, "actor", actor + " may not act on " + i.request.instance);
  }

  ubm::Result<Outcome> operator()(const Bang& c) {
    const InstanceRegistry::Instance* i = m.instances_.find(c.instance);
    if (i == nullptr) return reject(Rejection::UNKNOWN_INSTANCE, "instance", "'" + c.instance + "' is not known");
    if (auto s = authorize(*i, c.actor); !s) return s.error();
    const std::string client = i->request.client;
    ensure_market_node();
    emit(fact::Banged{c.instance, m.instances_.tree(c.instance)}, {client, std::string(kMarketNode), {c.instance}, {}});
    return outcome_of(c.instance, true);
  }

  ubm::Result<Outcome> operator()(const RecordCheckpoint& c) {
    if (auto st = ubm::validate_structure(ubm::EntryBody{c.checkpoint}, "checkpoint"); !st) return st.error();
    if (c.checkpoint.seq > m.ledger_->head()) return reject(Rejection::INVALID_STATE, "checkpoint.seq", "attests an entry not written yet");
    b.entries.push_back(c.checkpoint);
    wrote = true;
    Outcome out;
    out.written = true;
    return out;
  }

  ubm::Result<Outcome> operator()(const RecordIdentity& c) {
    if (auto st = ubm::validate_structure(ubm::EntryBody{c.identity}, "identity"); !st) return st.error();
    if (!registered(c.identity.subject)) {
      return reject(Rejection::UNRESOLVED_REFERENCE, "identity.subject", "'" + c.identity.subject + "' is not registered");
    }
    b.entries.push_back(c.identity);
    wrote = true;
    Outcome out;
    out.written = true;
    return out;
  }

  // Usage from a node's TioXML journal becomes usage Movements, once per (computer, transaction
  // reference, period): an instance's usage from its supplier to its client, as its hosting
  // (supplier_of: the network when the owner uses its own computer); the computer's own usage (no
  // instance named) from the owner to the market node.
  ubm::Result<Outcome> operator()(const ReportUsage& c) {
    const ComputerView::Computer* comp = m.computers_.find(c.computer);
    if (comp == nullptr) return reject(Rejection::UNKNOWN_COMPUTER, "computer", "'" + c.computer + "' is not known");
    const std::string owner = comp->props.owner;
    struct Pending {
      std::string key;
      std::vector<ubm::Movement> movements;
    };
    std::vector<Pending> accepted;
    std::set<std::string> here;  // keys of this journal: a transaction repeated inside it counts once
    // Who a movement's reference names, on this computer only, for the transaction's period:
    // one holder (the instance, or "" for the computer itself), or, for a partition that changed
    // hands during the period, each instance that held it, with the part of the period it did.
    // Usage is measured before it is reported, so the period is taken as ending by now (a node's
    // clock may run a little ahead, up to kUsageClockAllowanceNs): none of it is dated to a time
    // still to come, nor goes to whoever might hold the partition then.
    // Buffers reused from line to line: a journal of thousands of lines allocates for none of them.
    std::vector<Share> holders;
    std::vector<int64_t> weights;
    std::vector<ubm::Decimal> parts;
    auto holders_of = [&](const std::string& ref, const UsageTransaction& tx) -> ubm::Status {
      const int64_t start = tx.start.value(), stop = tx.stop.value();
      const int64_t until = std::min(stop, at.value()), from = std::min(start, until);
      auto whole = [&](std::string_view instance) {
        holders.assign(1, Share{instance, from, until, 1});
        return ubm::Status{};
      };
      std::string partition;
      if (ref.rfind("slapuser", 0) == 0) partition = "slappart" + ref.substr(8);
      else if (ref.rfind("slappart", 0) == 0) partition = ref;
      if (!partition.empty()) return partition_holders(m, comp, partition, c.computer, from, until, holders);
      if (const auto* i = m.instances_.find(ref)) {
        const ComputerView::Computer* loc = m.computers_.location(ref);
        if (loc != nullptr && loc->props.computer == c.computer) return whole(i->request.instance);
        // Destroyed (or moved) since: its usage up to then is still its own.
        if (held_before(m.computers_, *comp, ref, start, stop)) return whole(i->request.instance);
      } else if (ref.empty() || ref == c.computer) {
        if (tx.reference.rfind("slappart", 0) == 0) return partition_holders(m, comp, tx.reference, c.computer, from, until, holders);
        return whole("");  // the computer itself
      }
      // Another computer's instance is refused as an unknown one: a node must not learn, by
      // reporting usage for guids, which instances exist elsewhere.
      return reject(Rejection::UNKNOWN_INSTANCE, "reference", "'" + ref + "' names no instance or partition of " + c.computer);
    };
    for (size_t t = 0; t < c.transactions.size(); ++t) {
      const auto& tx = c.transactions[t];
      const std::string where = "transaction[" + std::to_string(t) + "]";
      if (tx.stop < tx.start) return reject(Rejection::STOP_BEFORE_START, where, "stop_date is before start_date");
      // Usage is reported once measured. A period ending ahead of the master's clock by more than a
      // node's clock may drift is refused for now (409: a node posts it again later, and once the
      // master's clock has caught up it is taken): accepted, it would be billed to a day still to
      // come, before prices for that day are even set.
      if (tx.stop.value() > at.value() + kUsageClockAllowanceNs) {
        return reject(Rejection::INVALID_STATE, where + ".stop_date",
                      "the period ends ahead of the master's clock by more than " + std::to_string(kUsageClockAllowanceNs / 60'000'000'000) +
                          " minutes: post it again once it has passed (is the node's clock right?)");
      }
      std::string key = c.computer + "|" + tx.reference + "|" + std::to_string(tx.start.value()) + "|" + std::to_string(tx.stop.value());
      if (m.journals_.seen(key) || b.journals.count(key) || m.in_flight_journals_.count(key) || !here.insert(key).second) continue;  // accounted already: idempotent
      Pending p{key, {}};
      for (size_t k = 0; k < tx.lines.size(); ++k) {
        const auto& l = tx.lines[k];
        if (is_market_resource(l.resource)) {
          return reject(Rejection::INVALID_PARAMETER, where + ".movement[" + std::to_string(k) + "].resource",
                        "'" + l.resource + "' is recorded by the market itself (capacity/, software/, hosting/, billing/), not reported in usage");
        }
        if (auto found = holders_of(l.reference, tx); !found) {
          auto e = found.error();
          e.field = where + ".movement[" + std::to_string(k) + "]." + e.field;
          return e;
        }
        // One movement per holder: a partition that changed hands during the period splits the
        // quantity by the time each held it (usage_split.h), each part dated to its holding. A
        // zero goes whole to the longest holder (the earliest on ties): nothing to split.
        if (holders.size() > 1 && l.quantity.is_zero()) {
          const Share longest = *std::max_element(holders.begin(), holders.end(), [](const auto& x, const auto& y) { return x.weight < y.weight; });
          holders.assign(1, longest);  // a copy: assign() from one of its own elements is not for every library
        }
        const bool split = holders.size() > 1;
        int64_t total = 0;  // the holders' time, for the split attribute
        if (split) {
          weights.clear();
          for (const auto& x : holders) {
            weights.push_back(x.weight);
            total += x.weight;
          }
          parts = split_by_weight(l.quantity, weights);
        } else {
          parts.assign(1, l.quantity);  // one holder (nearly every line): nothing to split
        }
        for (size_t h = 0; h < holders.size(); ++h) {
          if (parts[h].is_zero() && !l.quantity.is_zero()) continue;  // too short a hold for a unit of the last digit
          const auto& holder = holders[h];
          ubm::Movement mv;
          mv.resource = l.resource;
          mv.quantity = {parts[h], l.unit};
          mv.price = {ubm::Decimal{}, ""};  // rated by billing, not here
          // Dated to its holder's hold (the journal's period, when it held the partition all of it),
          // so billing puts it on the days, at the prices, of when it was used.
          mv.start = ubm::TimestampNs{holder.start};
          mv.stop = ubm::TimestampNs{holder.stop};
          mv.attributes = {{std::string(kUsageJournalAttribute), key}, {"reference", l.reference}};
          if (!l.title.empty()) mv.attributes.push_back({"title", l.title});
          if (split) {
            // What an auditor needs to redo the split: this holder's time and the holders' total.
            mv.attributes.push_back({"split", std::to_string(holder.weight) + "/" + std::to_string(total)});
          }
          if (holder.instance.empty()) {
            mv.source = ubm::NodeId{owner};
            mv.destination = ubm::NodeId{std::string(kMarketNode)};
            mv.items = {ubm::ItemId{c.computer}};
          } else {
            const auto* i = m.instances_.find(holder.instance);
            if (i == nullptr) {  // a view that names an instance the registry lacks: a bug, or a bad checkpoint
              return reject(Rejection::INVALID_STATE, where + ".movement[" + std::to_string(k) + "].reference",
                            std::string(holder.instance) + " is not a known instance");
            }
            mv.source = ubm::NodeId{supplier_of(*comp, i->request.client)};
            mv.destination = ubm::NodeId{i->request.client};
            mv.items = {ubm::ItemId{std::string(holder.instance)}, ubm::ItemId{c.computer}};
          }
          if (auto st = ubm::validate_structure(ubm::EntryBody{mv}, where + ".movement[" + std::to_string(k) + "]"); !st) return st.error();
          p.movements.push_back(std::move(mv));
        }
      }
      accepted.push_back(std::move(p));
    }
    size_t movements = 0;
    for (const auto& p : accepted) movements += p.movements.size();
    if (movements > kMaxBatchEntries) {
      return reject(Rejection::BATCH_TOO_LARGE, "transactions",
                    "the journal makes " + std::to_string(movements) + " usage movements, more than " + std::to_string(kMaxBatchEntries) +
                        " in one: post its transactions in several journals");
    }
    // Everything validated: only now emit (a rejected journal writes nothing).
    Outcome out;
    for (auto& p : accepted) {
      if (p.movements.empty()) continue;
      ensure_market_node();
      b.journals.insert(p.key);
      for (auto& mv : p.movements) b.entries.push_back(std::move(mv));
      wrote = true;
      out.written = true;
    }
    out.computer = c.computer;
    return out;
  }

  // The instances that held `partition` during [start, stop]. A partition nobody held then is
  // refused as a reference that names nothing (404, naming the transaction: a node sets that
  // transaction aside rather than posting the journal again forever, as it would after a 409).
  static ubm::Status partition_holders(const Market& m, const ComputerView::Computer* comp, const std::string& partition,
                                       const std::string& computer, int64_t start, int64_t stop, std::vector<Share>& out) {
    const ComputerView::Partition* p = comp->partition(partition);
    if (p == nullptr) return reject(Rejection::NOT_OWNER, "reference", partition + " is not a partition of " + computer);
    market::holders(m.computers_, *comp, *p, start, stop, out);
    if (out.empty()) {
      return reject(Rejection::UNKNOWN_INSTANCE, "reference", partition + " of " + computer + " hosted no instance during the period");
    }
    return {};
  }

  ubm::Result<Outcome> operator()(const Rename& c) {
    const InstanceRegistry::Instance* i = m.instances_.find(c.instance);
    if (i == nullptr) return reject(Rejection::UNKNOWN_INSTANCE, "instance", "'" + c.instance + "' is not known");
    if (auto s = authorize(*i, c.actor); !s) return s.error();
    if (!valid_text(c.title)) return reject(Rejection::INVALID_PARAMETER, "title", "a title is 1..4096 bytes");
    if (c.title == i->request.title) return outcome_of(c.instance, false);
    if (m.instances_.find(i->request.requester, c.title) != nullptr) {
      return reject(Rejection::TITLE_TAKEN, "title", i->request.requester + " already has an instance titled '" + c.title + "'");
    }
    const std::string client = i->request.client;
    ensure_market_node();
    // A root's title is shown by every instance of its tree (root_instance_title): their nodes must
    // see them change (timestamps, computer versions), or they kept rendering the old one.
    std::vector<std::string> tree;
    if (m.instances_.find(i->request.requester) == nullptr) tree = m.instances_.tree(c.instance);
    emit(fact::Renamed{c.instance, c.title, std::move(tree)}, {client, std::string(kMarketNode), {c.instance}, {}});
    return outcome_of(c.instance, true);
  }
};

// --- execution ---------------------------------------------------------------------------------

ubm::Result<Outcome> Market::run(const Command& command, Batch& batch) {
  const ubm::TimestampNs now = options_.clock->now();
  const ubm::TimestampNs at = std::max(now, ubm::TimestampNs{last_at_.value() + 1});
  instances_.mark_host_changes();  // what this command changes of the hosts, for serve_pending
  Handler h{*this, batch, at};
  auto result = std::visit(h, command);
  if (h.wrote) last_at_ = at;
  return result;
}

ubm::Result<Outcome> Market::execute(const Command& command) {
  auto results = execute_batch(std::span<const Command>(&command, 1));
  return std::move(results.front());
}

std::vector<ubm::Result<Outcome>> Market::execute_batch(std::span<const Command> commands) {
  if (failed()) (void)rebuild();  // the log may read again; if not, decide_batch refuses
  std::vector<ubm::Result<Outcome>> results;
  results.reserve(commands.size());
  while (results.size() < commands.size()) {  // in more than one batch when their entries fill one
    Decided d = decide_batch(commands.subspan(results.size()));
    if (!commit_batch(d)) (void)rebuild();
    for (auto& r : d.results) results.push_back(std::move(r));
  }
  return results;
}

void Market::forget_applied() {
  const ubm::Seq head = ledger_->head();
  while (!in_flight_.empty() && in_flight_.front().last <= head) {
    for (const auto& id : in_flight_.front().ids) in_flight_ids_.erase(id);
    for (const auto& key : in_flight_.front().journals) in_flight_journals_.erase(key);
    in_flight_.pop_front();
  }
}

Market::Decided Market::decide_batch(std::span<const Command> commands) {
  assert(ledger_ != nullptr);
  assert(commands.size() <= kMaxBatchCommands);
  Decided d;
  d.results.reserve(commands.size());
  if (failed()) {
    // The projections hold part of the log: nothing is decided on them (the caller retries the
    // rebuild first: execute_batch, Sequencer::recover).
    const ubm::Error e = ubm::make_error(Rejection::STORAGE_ERROR, "ledger",
                                         "the market could not be rebuilt from its ledger (the storage cannot be read); restart the master");
    for (size_t k = 0; k < commands.size(); ++k) d.results.emplace_back(e);
    return d;
  }
  forget_applied();
  Batch batch;
  // Batches still being written come first: this one stands on them. Only this thread appends,
  // so the ledger's head cannot pass decided_head_ while the batch is decided.
  batch.first = ubm::next(std::max(ledger_->head(), decided_head_));
  batch.entries.reserve(2 * commands.size());  // an allocation writes one entry, a pending request two
  for (size_t k = 0; k < commands.size(); ++k) {
    // Full: the rest go in the next batch (the first command is always decided).
    if (k > 0 && batch.entries.size() >= kMaxBatchEntries) break;
    const size_t before = batch.entries.size();
    d.results.push_back(run(commands[k], batch));
    // A rejected command must not have emitted anything (rules validate before they emit).
    assert(d.results.back().ok() || batch.entries.size() == before);
    if (batch.entries.size() != before) d.wrote.push_back(k);
  }
  if (batch.entries.empty()) return d;

  d.first = batch.first;
  const ubm::Seq last{d.first.value() + batch.entries.size() - 1};
  computers_.speculated_until(last);
  instances_.speculated_until(last);
  capacity_.speculated_until(last);
  hosting_.speculated_until(last);
  decided_head_ = last;
  InFlight f{last, {}, {}};
  f.ids.reserve(batch.registered.size());
  for (const auto& id : batch.registered) {
    auto kind = batch.nodes.find(id);
    in_flight_ids_.emplace(id, kind == batch.nodes.end() ? std::nullopt : std::optional(kind->second));
    f.ids.push_back(id);
  }
  for (const auto& key : batch.journals) in_flight_journals_.insert(key);
  f.journals.assign(batch.journals.begin(), batch.journals.end());
  in_flight_.push_back(std::move(f));
  d.entries = std::move(batch.entries);
  return d;
}

bool Market::commit_batch(Decided& d) {
  if (d.entries.empty()) return true;
  auto appended = ledger_->append(d.entries);
  if (appended && appended->first == d.first) return true;
  // The projections folded what the ledger does not hold (or holds elsewhere): the writing
  // commands fail; the caller rebuilds.
  const ubm::Error error = appended ? ubm::make_error(ubm::Rejection::STORAGE_ERROR, "ledger", "the ledger moved under the market")
                                    : appended.error();
  // Not only the writing commands: every answer decided after the first of them stood on what it
  // folded (the same command again answered "unchanged", a second registration "duplicate"), and
  // the rebuild takes that back. The answers before it read only what was durable or in flight
  // before this batch (had that failed, this batch would have been refused whole).
  assert(!d.wrote.empty());
  std::vector<ubm::Result<Outcome>> results;  // rebuilt, not assigned in place (GCC 12 warns of that)
  results.reserve(d.results.size());
  for (size_t k = 0; k < d.results.size(); ++k) {
    if (k < d.wrote.front()) results.push_back(std::move(d.results[k]));
    else results.emplace_back(error);
  }
  d.results = std::move(results);
  return false;
}

// --- reading ---------------------------------------------------------------------------------

Placement Market::decide(const RequestInstance& r) const {
  auto conditions = parse_sla(normalized(r.sla));
  if (!conditions) return Placement{{}, {}, {}, conditions.error().detail};
  std::string client = r.requester;
  if (const auto* i = instances_.find(r.requester)) client = i->request.client;
  return r.shared ? matcher_.host(r.release, r.software_type, client, *conditions) : matcher_.place(r.release, client, *conditions);
}

std::optional<ComputerSnapshot> Market::computer_snapshot(std::string_view guid) const {
  auto c = computers_.get(guid);
  if (!c) return std::nullopt;
  ComputerSnapshot s;
  s.props = c->props;
  s.version = c->version;
  s.releases = c->supplies;
  for (const auto& p : c->partitions) {
    PartitionRun run;
    run.spec = p.spec();
    run.present = p.present;
    if (!p.instance.empty()) {
      run.instance = instances_.get(p.instance);
      if (run.instance) {
        for (const auto& g : run.instance->slaves) {
          if (auto si = instances_.get(g)) run.shared.push_back(std::move(*si));
        }
      }
    }
    s.partitions.push_back(std::move(run));
  }
  return s;
}

}  // namespace slap::market
