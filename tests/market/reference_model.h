#pragma once
// The reference model of placement, shared by the market simulation and the whole-master
// simulation (tests/sim/): plain maps, brute force, no indexes — deliberately independent of
// market/ so that a bug there is not copied here.
#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "market/types.h"

namespace slap::market::testing {

// --- the reference model: plain maps, brute force, no indexes -----------------------------------
struct Model {
  struct Computer {
    int64_t price = 0;
    bool open = true;
    std::string owner;  // a closed computer serves its owner alone
    std::string region;
    std::vector<std::string> partitions;  // refs, first declaration order
    std::set<std::string> present;
    std::map<std::string, std::string> holder;  // ref -> instance
    std::set<std::string> supplied;
    // ref -> who held it, in time order (the last one still holding it when `to` is kHeld).
    struct Tenure {
      std::string instance;
      int64_t from = 0, to = 0;
    };
    static constexpr int64_t kHeld = -1;
    std::map<std::string, std::vector<Tenure>> tenures;
  };
  struct Instance {
    std::string guid, requester, title, release, type;
    StringMap sla;
    bool shared = false;
    RequestedState state = RequestedState::started;
    std::string computer, partition, host;
    bool pending = false;
    uint64_t attached = 0;  // when it attached to its host (shared instances)
  };
  std::map<std::string, Computer> computers;
  std::vector<Instance> instances;  // creation order
  std::vector<std::string> queue;   // pending, arrival order
  uint64_t attachments = 0;
  int64_t now = 0;  // when the command being modelled is decided (ns): dates tenures

  Instance* find(const std::string& guid) {
    for (auto& i : instances) if (i.guid == guid) return &i;
    return nullptr;
  }
  Instance* find(const std::string& requester, const std::string& title) {
    for (auto& i : instances) if (i.requester == requester && i.title == title) return &i;
    return nullptr;
  }
  // The party an instance acts for: its requester, or its root requester's for a child instance.
  std::string client(const Instance& i) {
    const Instance* at = &i;
    while (const Instance* parent = find(at->requester)) at = parent;
    return at->requester;
  }
  // Open computers serve anyone; a closed one its owner only, and only when the request names it.
  static bool admits(const Computer& c, const std::string& client, bool named) {
    return c.open || (named && !c.owner.empty() && c.owner == client);
  }
  static bool fits(const Computer& c, const StringMap& sla) {
    for (const auto& [k, v] : sla) {
      if (k == "region" && c.region != v) return false;
      if (k == "max_price" && c.price > std::stoll(v)) return false;
    }
    return true;
  }
  std::optional<std::string> free_partition(const Computer& c) const {
    for (const auto& ref : c.partitions) {
      if (c.present.count(ref) && !c.holder.count(ref)) return ref;
    }
    return std::nullopt;
  }
  // Whether `h` may host the shared instance `i`: a running host of its release and type, on the
  // computer it names, admitted and meeting its conditions.
  bool serves(const Instance& h, Instance& i) {
    if (h.shared || h.computer.empty() || h.state == RequestedState::destroyed) return false;
    if (h.release != i.release || h.type != i.type) return false;
    const std::string* want = find_value(i.sla, "computer_guid");
    if (want && h.computer != *want) return false;
    // A closed computer's hosts serve its owner only, as its partitions do.
    return admits(computers.at(h.computer), client(i), want != nullptr) && fits(computers.at(h.computer), i.sla);
  }
  bool try_place(Instance& i) {
    const std::string* want = find_value(i.sla, "computer_guid");
    const std::string party = client(i);
    if (i.shared) {
      for (auto& h : instances) {
        if (!serves(h, i)) continue;
        i.host = h.guid;
        i.attached = ++attachments;
        return true;
      }
      return false;
    }
    const Computer* best = nullptr;
    std::string best_guid;
    auto busy = [](const Computer& c) { return c.holder.size(); };
    for (const auto& [guid, c] : computers) {
      if (want && guid != *want) continue;
      if (!admits(c, party, want != nullptr) || !c.supplied.count(i.release) || !free_partition(c) || !fits(c, i.sla)) continue;
      if (best == nullptr || std::tuple(c.price, busy(c), guid) < std::tuple(best->price, busy(*best), best_guid)) {
        best = &c;
        best_guid = guid;
      }
    }
    if (best == nullptr) return false;
    Computer& c = computers.at(best_guid);
    const std::string ref = *free_partition(c);
    c.holder[ref] = i.guid;
    c.tenures[ref].push_back({i.guid, now, Computer::kHeld});
    i.computer = best_guid;
    i.partition = ref;
    return true;
  }
  void place_or_queue(Instance& i) {
    if (try_place(i)) {
      if (i.pending) std::erase(queue, i.guid);
      i.pending = false;
    } else if (!i.pending) {
      i.pending = true;
      queue.push_back(i.guid);
    }
  }
  // Offers the queue, oldest first, again and again until a pass places nothing (an instance
  // placed late in a pass may host a shared instance passed over earlier in it).
  void serve() {
    for (bool placed = true; placed;) {
      placed = false;
      const std::vector<std::string> q = queue;
      for (const auto& g : q) {
        Instance* i = find(g);
        if (i->pending && try_place(*i)) {
          i->pending = false;
          std::erase(queue, g);
          placed = true;
        }
      }
    }
  }
  // Shared instances `h` served go back to the queue, in attach order.
  void requeue_slaves(const Instance& h) {
    std::vector<Instance*> served;
    for (auto& s : instances) {
      if (s.host == h.guid) served.push_back(&s);
    }
    std::sort(served.begin(), served.end(), [](auto* a, auto* b) { return a->attached < b->attached; });
    for (auto* s : served) {
      s->host.clear();
      s->pending = true;
      queue.push_back(s->guid);
    }
  }
  // A destroy: the instance as it is (whatever else the request says), then every instance below
  // it, breadth first in request order; a placed one keeps its partition until its node confirms.
  void destroy(Instance& i) {
    std::deque<std::string> todo{i.guid};
    while (!todo.empty()) {
      Instance& d = *find(todo.front());
      todo.pop_front();
      for (const auto& c : instances) {
        if (c.requester == d.guid) todo.push_back(c.guid);
      }
      if (d.state == RequestedState::destroyed) continue;
      d.state = RequestedState::destroyed;
      if (d.pending || !d.host.empty()) free(d);
    }
    serve();
  }
  // An accepted change to an existing instance's request.
  void change(Instance& i, const std::string& release, const std::string& type, StringMap sla, RequestedState state) {
    if (state == RequestedState::destroyed) return destroy(i);
    const bool was_placed = !i.computer.empty() || !i.host.empty();
    const bool kind_changed = i.release != release || i.type != type;
    const bool sla_changed = i.sla != sla;
    i.release = release;
    i.type = type;
    i.sla = std::move(sla);
    i.state = state;
    if (kind_changed && i.shared && was_placed) {
      i.host.clear();  // its host runs another release or type now
      place_or_queue(i);
    } else if (i.shared && was_placed && sla_changed && !serves(*find(i.host), i)) {
      i.host.clear();  // its host no longer meets its conditions
      place_or_queue(i);
    } else if (kind_changed && was_placed) {
      requeue_slaves(i);  // they ran its old release or type
    } else if (!was_placed) {
      place_or_queue(i);  // revived, or waiting with new conditions: tried at once
    }
    serve();
  }
  void free(Instance& i) {
    if (i.pending) std::erase(queue, i.guid);
    i.pending = false;
    if (!i.computer.empty()) {
      requeue_slaves(i);
      Computer& c = computers.at(i.computer);
      c.holder.erase(i.partition);
      c.tenures[i.partition].back().to = now;
    }
    i.computer.clear();
    i.partition.clear();
    i.host.clear();
  }
};

}  // namespace slap::market::testing
