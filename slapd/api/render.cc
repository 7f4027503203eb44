#include "slapd/api/render.h"

#include "slapd/api/json_text.h"

namespace slap::slapd {

namespace bj = boost::json;

bj::object string_map_json(const market::StringMap& m) {
  bj::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

std::string root_title(const market::Market& market, const market::InstanceRegistry::Instance& i) {
  std::string title = i.request.title;
  market.instances().read(i.request.instance, [&](const market::InstanceRegistry::View& v) { title = v.root_title; });
  return title;
}

namespace {

bj::array ip_list(const market::PartitionSpec& p) {
  bj::array out;
  const std::string iface = p.tap.empty() ? p.ref : p.tap;
  for (const auto& a : p.ipv4) out.push_back(bj::array{bj::string(iface), bj::string(a)});
  for (const auto& a : p.ipv6) out.push_back(bj::array{bj::string(iface), bj::string(a)});
  return out;
}

void string_map_text(JsonText& j, const market::StringMap& m) {
  j.open_object();
  for (const auto& [k, v] : m) j.key(k).string(v);  // sorted, unique keys (market/types.h)
  j.close_object();
}

}  // namespace

std::optional<std::string> instance_text(Api& api, std::string_view guid) {
  auto& market = api.ctx().market;
  // The node's last report is read before the registry's lock and the partition's addresses after
  // it, so no two projections' locks are ever held together.
  const std::string reported = api.ctx().reports.instance_message(guid);
  std::string out;
  JsonText j(out);
  std::string computer, partition;
  const bool found = market.instances().read(guid, [&](const market::InstanceRegistry::View& v) {
    const auto& i = v.instance;
    computer = v.computer;
    partition = v.partition;
    out.reserve(512);
    j.open_object();
    j.key("computer_guid").string(v.computer);
    j.key("instance_guid").string(i.request.instance);
    j.key("root_instance_title").string(v.root_title);
    j.key("title").string(i.request.title);
    j.key("state").string(market::to_string(i.request.state));
    j.key("compute_partition_id").string(v.partition);
    j.key("software_release_uri").string(i.request.release);
    j.key("software_type").string(i.request.software_type);
    j.key("shared").boolean(i.request.shared);
    j.key("processing_timestamp").number(static_cast<int64_t>(i.timestamp.value() / 1'000));
    j.key("access_status_message").string(i.pending ? "pending: " + i.pending_reason : reported);
    string_map_text(j.key("parameters"), i.request.parameters);
    string_map_text(j.key("sla_parameters"), i.request.sla);
    string_map_text(j.key("connection_parameters"), i.connection);
  });
  if (!found) return std::nullopt;
  // Both address lists from one read of the partition (a declaration in between would otherwise
  // show an address in both or neither); routed ones (a tap with its gateway) as the SlapOS master
  // lists them.
  bool listed = false;
  if (!computer.empty()) {
    listed = market.computers().read_partition(computer, partition, [&](const market::ComputerView::Partition& p) {
      j.key("ip_list").open_array();
      p.for_each_address([&](std::string_view iface, std::string_view address) { j.open_array().string(iface).string(address).close_array(); });
      j.close_array();
      j.key("full_ip_list").open_array();
      p.for_each_routed([&](std::string_view iface, std::string_view address, std::string_view gateway, std::string_view netmask, std::string_view network) {
        j.open_array().string(iface).string(address).string(gateway).string(netmask).string(network).close_array();
      });
      j.close_array();
    });
  }
  if (!listed) {
    j.key("ip_list").open_array().close_array();
    j.key("full_ip_list").open_array().close_array();
  }
  j.close_object();
  return out;
}

bj::object computer_view_json(Api& api, const market::ComputerSnapshot& s) {
  auto& market = api.ctx().market;
  bj::array software;
  for (const auto& [url, state] : s.releases) software.push_back(bj::object{{"url", url}, {"state", state}});
  bj::array partitions;
  for (const auto& p : s.partitions) {
    if (!p.present && !p.instance) continue;
    bj::object o{{"partition_id", p.spec.ref}, {"ip_list", ip_list(p.spec)}};
    if (p.instance) {
      const auto& i = *p.instance;
      o["instance_guid"] = i.request.instance;
      o["title"] = i.request.title;
      o["root_instance_title"] = root_title(market, i);
      o["state"] = std::string(market::to_string(i.request.state));
      o["software_release_uri"] = i.request.release;
      o["software_type"] = i.request.software_type;
      o["timestamp"] = std::to_string(i.timestamp.value());
      o["parameters"] = string_map_json(i.request.parameters);
      o["sla_parameters"] = string_map_json(i.request.sla);
      o["connection_parameters"] = string_map_json(i.connection);
      bj::array shared;
      for (const auto& si : p.shared) {
        shared.push_back(bj::object{{"instance_guid", si.request.instance},
                                    {"title", si.request.title},
                                    {"state", std::string(market::to_string(si.request.state))},
                                    {"parameters", string_map_json(si.request.parameters)},
                                    {"connection_parameters", string_map_json(si.connection)}});
      }
      o["shared_instances"] = std::move(shared);
    } else {
      o["state"] = "free";
    }
    partitions.push_back(std::move(o));
  }
  return bj::object{{"computer_guid", s.props.computer}, {"version", s.version}, {"software", std::move(software)},
                    {"partitions", std::move(partitions)}};
}

bool live_instance(const market::InstanceRegistry::Instance& i) {
  return !i.computer.empty() && i.request.state != market::RequestedState::destroyed;
}

bool live_instance(Api& api, const std::string& guid) {
  auto i = api.ctx().market.instances().get(guid);
  return i && live_instance(*i);
}

bool may_act_for(Api& api, const Caller& c, const market::InstanceRegistry::Instance& i) {
  switch (c.kind) {
    case ca::IdentityKind::instance:
      if (i.request.instance == c.subject) return live_instance(i);
      return !i.host.empty() && i.host == c.subject && live_instance(api, c.subject);
    case ca::IdentityKind::computer: {
      if (i.computer == c.subject) return true;
      if (i.host.empty()) return false;
      auto host = api.ctx().market.instances().get(i.host);
      return host && host->computer == c.subject;
    }
    default:
      return false;
  }
}

bool may_read(const Caller& c, const market::InstanceRegistry::Instance& i, const market::InstanceRegistry::Instance* host) {
  if (c.admin()) return true;
  switch (c.kind) {
    case ca::IdentityKind::person:
      return i.request.client == c.subject || i.request.requester == c.subject;
    case ca::IdentityKind::instance:
      return i.request.instance == c.subject || i.request.requester == c.subject || i.host == c.subject;
    case ca::IdentityKind::computer:
      return i.computer == c.subject || (host != nullptr && host->computer == c.subject);
    case ca::IdentityKind::server:
      return false;
  }
  return false;
}

bool may_read(Api& api, const Caller& c, const market::InstanceRegistry::Instance& i) {
  if (c.admin() || c.kind != ca::IdentityKind::computer || i.host.empty()) return may_read(c, i, nullptr);
  auto host = api.ctx().market.instances().get(i.host);
  return may_read(c, i, host ? &*host : nullptr);
}

http::Response unseen(Dialect d, const Caller& caller, bool exists, const std::string& unknown_code, const std::string& id,
                      const std::string& refusal) {
  if (!exists && caller.admin()) return error_response(d, 404, unknown_code, "'" + id + "' is not known");
  return error_response(d, 403, "forbidden", refusal);
}

}  // namespace slap::slapd
