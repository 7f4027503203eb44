#include "node/slap_client.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <thread>

#include "node/sys.h"

namespace slap::node {
namespace json = boost::json;

namespace {
std::string snippet(const std::string& s) {
  std::string out = s.substr(0, 300);
  for (auto& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return out;
}
bool transient(int status) { return status == 429 || status == 502 || status == 503 || status == 504; }
}  // namespace

SlapClient::SlapClient(std::string master_url, std::string computer_guid, HttpOptions http, RetryPolicy retry,
                       ViewLimits limits)
    : base_(std::move(master_url)),
      guid_(std::move(computer_guid)),
      http_(std::move(http)),
      retry_(retry),
      limits_(limits),
      sleep_([](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }) {
  while (!base_.empty() && base_.back() == '/') base_.pop_back();
}

Result<HttpResponse> SlapClient::call(const std::string& method, const std::string& path, const std::string& body,
                                      const std::map<std::string, std::string>& headers,
                                      std::chrono::milliseconds timeout) {
  auto backoff = retry_.first_backoff;
  Result<HttpResponse> last = make_error(Errc::kUnreachable, "no attempt made");
  for (int attempt = 1; attempt <= std::max(1, retry_.attempts); ++attempt) {
    last = http_.request(method, base_ + path, body, headers, timeout);
    bool retry = false;
    if (!last) {
      retry = last.error().code == Errc::kUnreachable || last.error().code == Errc::kTimeout;
    } else {
      retry = transient(last->status) || last->status >= 500;
    }
    if (!retry || attempt == retry_.attempts) break;
    spdlog::warn("master {} {}: attempt {} failed ({}), retrying in {} ms", method, path, attempt,
                 last ? "HTTP " + std::to_string(last->status) : last.error().to_string(), backoff.count());
    sleep_(backoff);
    backoff = std::min(backoff * 2, retry_.max_backoff);
  }
  if (!last) {
    if (last.error().code == Errc::kTimeout) return make_error(Errc::kUnreachable, last.error().detail);
    return last.error();
  }
  // Busy (429) like down: ask again later, never take it for a refusal of what was sent.
  if (last->status >= 500 || transient(last->status)) return make_error(Errc::kUnreachable, "master answered HTTP " + std::to_string(last->status));
  return last;
}

Result<ViewFetch> SlapClient::fetch_view(const std::string& etag, int wait_seconds) {
  std::string path = "/v1/computers/" + guid_;
  std::map<std::string, std::string> headers{{"Accept", "application/json"}};
  if (!etag.empty()) headers["If-None-Match"] = etag;
  auto timeout = std::chrono::milliseconds(0);
  if (wait_seconds > 0 && !etag.empty()) {
    wait_seconds = std::min(wait_seconds, 60);
    path += "?wait=" + std::to_string(wait_seconds);
    timeout = std::chrono::seconds(wait_seconds + 15);
  }
  auto r = call("GET", path, "", headers, timeout);
  if (!r) return r.error();
  ViewFetch out;
  if (r->status == 304) {
    out.not_modified = true;
    out.etag = etag;
    return out;
  }
  if (r->status != 200) {
    return make_error(Errc::kProtocol, "GET " + path + ": HTTP " + std::to_string(r->status) + " " + snippet(r->body));
  }
  auto view = parse_view(r->body, guid_, limits_, &out.refusals);
  if (!view) return view.error();
  out.view = std::move(*view);
  auto et = r->headers.find("etag");
  if (et != r->headers.end() && et->second.size() <= 128) out.etag = et->second;
  for (const auto& why : out.refusals) spdlog::error("computer view: {}", why);
  return out;
}

Result<std::string> SlapClient::rpc(const std::string& path, const std::string& json_body) {
  auto r = call("POST", path, json_body, {{"Content-Type", "application/json"}, {"Accept", "application/json"}},
                std::chrono::milliseconds(0));
  if (!r) return r.error();
  if (r->status != 200) {
    return make_error(Errc::kProtocol, path + ": HTTP " + std::to_string(r->status) + " " + snippet(r->body));
  }
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  if (ec || !v.is_object()) return make_error(Errc::kProtocol, path + ": answer is not a JSON object");
  return std::move(r->body);
}

Status SlapClient::declare_format(const std::vector<PartitionDeclaration>& partitions) {
  json::array list;
  for (const auto& p : partitions) {
    json::array ips;
    for (const auto& ip : p.ips) {
      json::object o{{"ip-address", ip.address}, {"network-interface", ip.interface_name}};
      if (!ip.gateway.empty()) o["gateway-ip-address"] = ip.gateway;
      if (!ip.netmask.empty()) o["netmask"] = ip.netmask;
      if (!ip.network.empty()) o["network-address"] = ip.network;
      ips.push_back(std::move(o));
    }
    list.push_back(json::object{{"partition_id", p.partition_id}, {"ip_list", std::move(ips)}});
  }
  json::object body{{"computer_guid", guid_}, {"compute_partition_list", std::move(list)}};
  auto r = rpc("/slapos.put.v0.compute_node_format", json::serialize(body));
  if (!r) return r.error();
  return {};
}

Status SlapClient::software_state(const std::string& url, const std::string& state) {
  json::object body{{"software_release_uri", url}, {"computer_guid", guid_}, {"reported_state", state}};
  auto r = rpc("/slapos.put.v0.software_installation_reported_state", json::serialize(body));
  if (!r) return r.error();
  return {};
}

Status SlapClient::software_error(const std::string& url, const std::string& message) {
  json::object body{{"software_release_uri", url}, {"computer_guid", guid_}, {"message", message}};
  auto r = rpc("/slapos.put.v0.software_installation_error", json::serialize(body));
  if (!r) return r.error();
  return {};
}

Status SlapClient::instance_state(const std::string& guid, const std::string& state) {
  json::object body{{"instance_guid", guid}, {"reported_state", state}};
  auto r = rpc("/slapos.put.v0.software_instance_reported_state", json::serialize(body));
  if (!r) return r.error();
  return {};
}

Status SlapClient::instance_error(const std::string& guid, const std::string& message) {
  json::object body{{"instance_guid", guid}, {"message", message}};
  auto r = rpc("/slapos.put.v0.software_instance_error", json::serialize(body));
  if (!r) return r.error();
  return {};
}

Status SlapClient::connection_parameters(const std::string& guid, const std::map<std::string, std::string>& params) {
  json::object dict;
  for (const auto& [k, v] : params) dict[k] = v;
  json::object body{{"instance_guid", guid}, {"connection_parameter_dict", std::move(dict)}};
  auto r = rpc("/slapos.put.v0.software_instance_connection_parameter", json::serialize(body));
  if (!r) return r.error();
  return {};
}

Result<InstanceCertificate> SlapClient::instance_certificate(const std::string& guid) {
  json::object body{{"instance_guid", guid}};
  auto r = rpc("/slapos.get.v0.software_instance_certificate", json::serialize(body));
  if (!r) return r.error();
  json::value v = json::parse(*r);
  const auto& o = v.as_object();
  auto* cert = o.if_contains("certificate");
  auto* key = o.if_contains("key");
  if (cert == nullptr || key == nullptr || !cert->is_string() || !key->is_string()) {
    return make_error(Errc::kProtocol, "certificate answer lacks certificate/key strings");
  }
  InstanceCertificate out{std::string(cert->as_string()), std::string(key->as_string())};
  if (out.certificate.size() > 64 * 1024 || out.key.size() > 64 * 1024 ||
      out.certificate.find("-----BEGIN") == std::string::npos || out.key.find("-----BEGIN") == std::string::npos) {
    return make_error(Errc::kProtocol, "certificate answer is not PEM");
  }
  return out;
}

Status SlapClient::post_usage(const std::string& tioxml) {
  json::object body{{"computer_guid", guid_}, {"tioxml", tioxml}};
  const std::string path = "/slapos.post.v0.compute_node_usage";
  auto r = call("POST", path, json::serialize(body), {{"Content-Type", "application/json"}, {"Accept", "application/json"}},
                std::chrono::milliseconds(0));
  if (!r) return r.error();
  if (r->status == 200) return {};
  // What the master refuses for the journal's content is refused again as it is: kInvalid. That
  // is a TioXML or a rule it does not take (422), a journal too large (413), or a transaction
  // naming an instance it does not know or that is not this computer's (403/404 naming the
  // transaction). Anything else (a certificate or computer mismatch, an older master without
  // the verb, a proxy in the way) is not about the journal and may pass later: kProtocol.
  const int s = r->status;
  const bool names_transaction = r->body.find("transaction[") != std::string::npos;
  const bool content = s == 422 || s == 413 || ((s == 403 || s == 404) && names_transaction);
  return make_error(content ? Errc::kInvalid : Errc::kProtocol, path + ": HTTP " + std::to_string(s) + " " + snippet(r->body));
}

}  // namespace slap::node
