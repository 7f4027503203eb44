#include "slapd/ctl/master_client.h"

#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "node/http_client.h"
#include "slapd/ctl/commands.h"

namespace slap::ctl {

namespace bj = boost::json;

struct MasterClient::Impl {
  explicit Impl(node::HttpOptions o) : http(std::move(o)) {}
  node::HttpClient http;
};

void add_master_options(CLI::App* cmd, MasterSettings& s) {
  cmd->add_option("--master", s.master, "Master URL, e.g. https://127.0.0.1:8443 (or SLAPCTL_MASTER)");
  cmd->add_option("--cert", s.cert, "Client certificate PEM (or SLAPCTL_CERT)");
  cmd->add_option("--key", s.key, "Client key PEM (or SLAPCTL_KEY)");
  cmd->add_option("--ca", s.ca, "The master's CA certificate (or SLAPCTL_CA)");
  cmd->add_option("--config", s.config, "INI file with master=, cert=, key=, ca= (or SLAPCTL_CONFIG)");
  cmd->add_flag("--json", s.json, "Print JSON for scripts");
}

namespace {

void from_env(std::string& v, const char* name) {
  if (v.empty()) {
    if (const char* e = std::getenv(name)) v = e;
  }
}

void from_config(MasterSettings& s) {
  if (s.config.empty()) return;
  std::ifstream in(s.config);
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos || line[0] == '#' || line[0] == ';') continue;
    auto trim = [](std::string x) {
      const auto b = x.find_first_not_of(" \t\r");
      const auto e = x.find_last_not_of(" \t\r");
      return b == std::string::npos ? std::string() : x.substr(b, e - b + 1);
    };
    const std::string k = trim(line.substr(0, eq)), v = trim(line.substr(eq + 1));
    if (k == "master" && s.master.empty()) s.master = v;
    if (k == "cert" && s.cert.empty()) s.cert = v;
    if (k == "key" && s.key.empty()) s.key = v;
    if (k == "ca" && s.ca.empty()) s.ca = v;
  }
}

}  // namespace

std::unique_ptr<MasterClient> MasterClient::connect(MasterSettings s, std::string& error) {
  from_env(s.master, "SLAPCTL_MASTER");
  from_env(s.cert, "SLAPCTL_CERT");
  from_env(s.key, "SLAPCTL_KEY");
  from_env(s.ca, "SLAPCTL_CA");
  from_env(s.config, "SLAPCTL_CONFIG");
  from_config(s);
  for (auto [v, name] : {std::pair{&s.master, "--master"}, {&s.cert, "--cert"}, {&s.key, "--key"}, {&s.ca, "--ca"}}) {
    if (v->empty()) {
      error = std::string(name) + " is required (flag, SLAPCTL_* variable or config file)";
      return nullptr;
    }
  }
  while (!s.master.empty() && s.master.back() == '/') s.master.pop_back();
  return std::unique_ptr<MasterClient>(new MasterClient(std::move(s)));
}

MasterClient::MasterClient(MasterSettings s)
    : s_(std::move(s)), impl_(std::make_unique<Impl>(node::HttpOptions{.ca_file = s_.ca, .cert_file = s_.cert, .key_file = s_.key})) {}
MasterClient::~MasterClient() = default;

Reply MasterClient::call(const std::string& method, const std::string& path, const std::string& body) {
  Reply out;
  auto r = impl_->http.request(method, s_.master + path, body, {{"content-type", "application/json"}});
  if (!r) {
    out.error = r.error().to_string();
    return out;
  }
  out.status = r->status;
  out.body = r->body;
  boost::system::error_code ec;
  out.json = bj::parse(out.body, ec);
  if (ec) out.json = nullptr;
  if (out.status >= 400 && out.json.is_object()) {
    const auto& o = out.json.as_object();
    if (auto* d = o.if_contains("detail"); d && d->is_string()) out.error = std::string(d->as_string());
    if (auto* m = o.if_contains("message"); m && m->is_string()) out.error = std::string(m->as_string());
  }
  if (out.status >= 400 && out.error.empty()) out.error = out.body;
  return out;
}

Reply MasterClient::get(const std::string& path) { return call("GET", path, ""); }
Reply MasterClient::post(const std::string& path, const bj::value& body) { return call("POST", path, bj::serialize(body)); }

int report_failure(const Reply& r) {
  if (r.status == 0) {
    std::fprintf(stderr, "slapctl: master unreachable: %s\n", r.error.c_str());
    return kExitError;
  }
  std::fprintf(stderr, "slapctl: refused (%d): %s\n", r.status, r.error.c_str());
  return kExitFailed;
}

}  // namespace slap::ctl
