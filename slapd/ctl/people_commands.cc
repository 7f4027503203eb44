// slapctl for people: computers, supply, requests, instances, persons, certificates — over mutual
// TLS to the master. Tables for humans, --json for scripts.
#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include "slapd/ca/certificate_authority.h"
#include "slapd/ctl/commands.h"
#include "slapd/ctl/master_client.h"
#include "ubm/decimal.h"

namespace slap::ctl {
namespace {

namespace bj = boost::json;
namespace fs = std::filesystem;

std::string s(const bj::object& o, const char* key) {
  auto* v = o.if_contains(key);
  if (v == nullptr) return {};
  if (v->is_string()) return std::string(v->as_string());
  return bj::serialize(*v);
}

// "k=v" pairs into a JSON object; a pair without '=' is a usage error.
bool pairs(const std::vector<std::string>& in, bj::object& out, const char* what) {
  for (const auto& p : in) {
    const auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "slapctl: %s '%s' is not key=value\n", what, p.c_str());
      return false;
    }
    out[p.substr(0, eq)] = p.substr(eq + 1);
  }
  return true;
}

// Writes <dir>/<guid>.crt and .key (0600) from an issued identity.
bool write_identity(const std::string& dir, const std::string& guid, const bj::object& o) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  const auto crt = ca::write_file(fs::path(dir) / (guid + ".crt"), s(o, "certificate"), fs::perms(0644));
  const auto key = ca::write_file(fs::path(dir) / (guid + ".key"), s(o, "key"), fs::perms(0600));
  if (!crt || !key) {
    std::fprintf(stderr, "slapctl: cannot write the certificate into %s\n", dir.c_str());
    return false;
  }
  return true;
}

void print_instance(const bj::object& i) {
  std::printf("%-14s %s\n", "instance", s(i, "instance_guid").c_str());
  for (const char* k : {"title", "state", "software_release_uri", "software_type", "computer_guid", "compute_partition_id", "access_status_message"}) {
    std::printf("%-14s %s\n", k, s(i, k).c_str());
  }
  for (const char* k : {"parameters", "sla_parameters", "connection_parameters"}) {
    if (auto* m = i.if_contains(k); m && m->is_object()) {
      for (const auto& [key, v] : m->as_object()) std::printf("%-14s %s = %s\n", k, std::string(key).c_str(), v.is_string() ? std::string(v.as_string()).c_str() : bj::serialize(v).c_str());
    }
  }
}

struct Common {
  MasterSettings settings;
};

template <typename F>
void on_run(CLI::App* cmd, std::shared_ptr<Common> c, F f) {
  cmd->callback([c, f] {
    std::string error;
    auto client = MasterClient::connect(c->settings, error);
    if (!client) {
      std::fprintf(stderr, "slapctl: %s\n", error.c_str());
      g_exit_code = kExitError;
      return;
    }
    g_exit_code = f(*client);
  });
}

int emit(const MasterClient& m, const Reply& r, const std::function<void(const bj::value&)>& table) {
  if (r.status < 200 || r.status >= 300) return report_failure(r);
  if (m.settings().json) {
    std::cout << r.body << "\n";
  } else {
    table(r.json);
  }
  return kExitOk;
}

}  // namespace

void add_people_commands(CLI::App& app) {
  // computer register | show
  auto* computer = app.add_subcommand("computer", "Register and inspect computers");
  computer->require_subcommand(1);
  {
    auto c = std::make_shared<Common>();
    struct A {
      std::string name, region, out = ".", price, currency = "EUR", capability, scope;
      std::vector<std::string> categories;
    };
    auto a = std::make_shared<A>();
    auto* cmd = computer->add_subcommand("register", "Register a computer you own; writes DIR/<guid>.crt and .key");
    cmd->add_option("name", a->name, "A title for the computer")->required();
    cmd->add_option("--region", a->region, "Region (an SLA category)");
    cmd->add_option("--category", a->categories, "key=value SLA category (repeatable)");
    cmd->add_option("--price", a->price, "Price per partition-hour, e.g. 0.12 (in --currency)");
    cmd->add_option("--currency", a->currency, "ISO 4217 code");
    cmd->add_option("--capability", a->capability, "Capability (exact-match SLA)");
    cmd->add_option("--scope", a->scope, "open or close")->check(CLI::IsMember({"open", "close"}));
    cmd->add_option("--out", a->out, "Directory for the certificate and key");
    add_master_options(cmd, c->settings);
    on_run(cmd, c, [a](MasterClient& m) {
      bj::object body{{"title", a->name}, {"currency", a->currency}};
      if (!a->region.empty()) body["region"] = a->region;
      if (!a->capability.empty()) body["capability"] = a->capability;
      if (!a->scope.empty()) body["scope"] = a->scope;
      bj::object cats;
      if (!pairs(a->categories, cats, "--category")) return kExitError;
      body["categories"] = cats;
      if (!a->price.empty()) {
        // Money is integers: 0.12 EUR -> 12 minor units, exactly; a finer price is refused.
        auto d = ubm::Decimal::parse(a->price);
        auto minor = d ? ubm::Decimal::multiply(*d, ubm::Decimal::integer(100), 2) : d;
        if (!minor || minor->mantissa() % 100 != 0 || minor->is_negative()) {
          std::fprintf(stderr, "slapctl: --price %s is not a non-negative amount in whole cents\n", a->price.c_str());
          return kExitError;
        }
        body["price_minor"] = minor->mantissa() / 100;
      }
      auto r = m.post("/v1/computers", body);
      if (r.status != 201) return report_failure(r);
      const auto& o = r.json.as_object();
      const std::string guid = s(o, "computer_guid");
      if (!write_identity(a->out, guid, o)) return kExitFailed;
      if (m.settings().json) {
        std::cout << bj::serialize(bj::object{{"computer_guid", guid}, {"certificate_file", (fs::path(a->out) / (guid + ".crt")).string()}}) << "\n";
      } else {
        std::printf("%s\n", guid.c_str());
      }
      return kExitOk;
    });
  }
  {
    auto c = std::make_shared<Common>();
    auto guid = std::make_shared<std::string>();
    auto* cmd = computer->add_subcommand("show", "Show a computer's partitions and software");
    cmd->add_option("guid", *guid, "Computer guid")->required();
    add_master_options(cmd, c->settings);
    on_run(cmd, c, [guid](MasterClient& m) {
      // What the node reported of each release (building, available, error and why), when it did.
      std::map<std::string, std::pair<std::string, std::string>> reported;
      if (!m.settings().json) {
        auto st = m.get("/v1/computers/" + *guid + "/software");
        if (st.status == 200 && st.json.is_object()) {
          for (const auto& sw : st.json.as_object().at("software").as_array()) {
            const auto& so = sw.as_object();
            reported[s(so, "url")] = {s(so, "reported"), s(so, "message")};
          }
        }
      }
      return emit(m, m.get("/v1/computers/" + *guid), [&reported](const bj::value& v) {
        const auto& o = v.as_object();
        std::printf("computer %s  version %s\n", s(o, "computer_guid").c_str(), s(o, "version").c_str());
        for (const auto& sw : o.at("software").as_array()) {
          const std::string url = s(sw.as_object(), "url");
          const auto& [rep, msg] = reported[url];
          std::printf("software  %-10s %-10s %s\n", s(sw.as_object(), "state").c_str(), rep.empty() ? "-" : rep.c_str(), url.c_str());
          if (!msg.empty()) std::printf("          %s\n", msg.substr(0, msg.find('\n')).c_str());
        }
        std::printf("%-12s %-10s %-16s %-20s %s\n", "PARTITION", "STATE", "INSTANCE", "TITLE", "RELEASE");
        for (const auto& p : o.at("partitions").as_array()) {
          const auto& po = p.as_object();
          std::printf("%-12s %-10s %-16s %-20s %s\n", s(po, "partition_id").c_str(), s(po, "state").c_str(), s(po, "instance_guid").c_str(),
                      s(po, "title").c_str(), s(po, "software_release_uri").c_str());
        }
      });
    });
  }

  // supply URL --computer GUID
  {
    auto c = std::make_shared<Common>();
    struct A {
      std::string url, computer;
      bool destroy = false;
    };
    auto a = std::make_shared<A>();
    auto* cmd = app.add_subcommand("supply", "Supply (or with --destroy, unsupply) a software release on your computer");
    cmd->add_option("url", a->url, "Software release URL")->required();
    cmd->add_option("--computer", a->computer, "Computer guid")->required();
    cmd->add_flag("--destroy", a->destroy, "Request the release destroyed");
    add_master_options(cmd, c->settings);
    on_run(cmd, c, [a](MasterClient& m) {
      bj::object body{{"software_release_uri", a->url}, {"computer_guid", a->computer}, {"state", a->destroy ? "destroyed" : "available"}};
      return emit(m, m.post("/slapos.post.v0.software_installation", body), [](const bj::value& v) { std::printf("%s\n", s(v.as_object(), "title").c_str()); });
    });
  }

  // request TITLE URL
  {
    auto c = std::make_shared<Common>();
    struct A {
      std::string title, url, type = "default", state;
      std::vector<std::string> params, sla;
      bool shared = false;
    };
    auto a = std::make_shared<A>();
    auto* cmd = app.add_subcommand("request", "Request an instance (idempotent by title)");
    cmd->add_option("title", a->title, "Your reference name for the instance")->required();
    cmd->add_option("url", a->url, "Software release URL")->required();
    cmd->add_option("--type", a->type, "Software type");
    cmd->add_option("--param", a->params, "key=value instance parameter (repeatable)");
    cmd->add_option("--sla", a->sla, "key=value SLA condition (repeatable)");
    cmd->add_flag("--shared", a->shared, "Ask for a shared instance");
    cmd->add_option("--state", a->state, "started, stopped or destroyed")->check(CLI::IsMember({"started", "stopped", "destroyed"}));
    add_master_options(cmd, c->settings);
    on_run(cmd, c, [a](MasterClient& m) {
      bj::object params, sla;
      if (!pairs(a->params, params, "--param") || !pairs(a->sla, sla, "--sla")) return kExitError;
      bj::object body{{"title", a->title}, {"software_release_uri", a->url}, {"software_type", a->type},
                      {"parameters", params}, {"sla_parameters", sla}, {"shared", a->shared}};
      if (!a->state.empty()) body["state"] = a->state;
      auto r = m.post("/slapos.post.v0.software_instance", body);
      // A request waiting for capacity is answered like one placed (200, the instance, with no
      // computer yet and "pending: <why>" as its access status): not a failure.
      return emit(m, r, [](const bj::value& v) { print_instance(v.as_object()); });
    });
  }

  // instance show TITLE | list
  auto* instance = app.add_subcommand("instance", "Read your instances");
  instance->require_subcommand(1);
  {
    auto c = std::make_shared<Common>();
    auto title = std::make_shared<std::string>();
    auto* cmd = instance->add_subcommand("show", "Show one instance by title");
    cmd->add_option("title", *title, "Title")->required();
    add_master_options(cmd, c->settings);
    on_run(cmd, c, [title](MasterClient& m) {
      return emit(m, m.post("/slapos.get.v0.instance_tree", bj::object{{"title", *title}}), [](const bj::value& v) { print_instance(v.as_object()); });
    });
  }
  {
    auto c = std::make_shared<Common>();
    auto* cmd = instance->add_subcommand("list", "List the instances you may read");
    add_master_options(cmd, c->settings);
    on_run(cmd, c, [](MasterClient& m) {
      // The master answers in pages (`next` until the last): every page, one listing.
      bj::array all;
      std::string path = "/v1/instances";
      for (;;) {
        auto r = m.get(path);
        if (r.status < 200 || r.status >= 300 || !r.json.is_object()) return emit(m, r, [](const bj::value&) {});
        const auto& o = r.json.as_object();
        if (const auto* page = o.if_contains("instances"); page != nullptr && page->is_array()) {
          for (const auto& i : page->as_array()) all.push_back(i);
        }
        const auto* next = o.if_contains("next");
        if (next == nullptr || !next->is_int64()) break;
        path = "/v1/instances?after=" + std::to_string(next->as_int64());
      }
      if (m.settings().json) {
        std::cout << bj::serialize(bj::object{{"instances", std::move(all)}}) << "\n";
        return kExitOk;
      }
      std::printf("%-16s %-24s %-10s %-20s %-12s\n", "INSTANCE", "TITLE", "STATE", "COMPUTER", "PARTITION");
      for (const auto& i : all) {
        const auto& o = i.as_object();
        std::printf("%-16s %-24s %-10s %-20s %-12s\n", s(o, "instance_guid").c_str(), s(o, "title").c_str(), s(o, "state").c_str(),
                    s(o, "computer_guid").c_str(), s(o, "compute_partition_id").c_str());
      }
      return kExitOk;
    });
  }

  // person add NAME [--role R]
  auto* person = app.add_subcommand("person", "Manage people (administrators)");
  person->require_subcommand(1);
  {
    auto c = std::make_shared<Common>();
    struct A {
      std::string name, role, out = ".";
    };
    auto a = std::make_shared<A>();
    auto* cmd = person->add_subcommand("add", "Add a person; writes DIR/<guid>.crt and .key");
    cmd->add_option("name", a->name, "Name")->required();
    cmd->add_option("--role", a->role, "analyst or auditor")->check(CLI::IsMember({"analyst", "auditor", "admin"}));
    cmd->add_option("--out", a->out, "Directory for the certificate and key");
    add_master_options(cmd, c->settings);
    on_run(cmd, c, [a](MasterClient& m) {
      bj::object body{{"name", a->name}};
      if (!a->role.empty()) body["role"] = a->role;
      auto r = m.post("/v1/persons", body);
      if (r.status != 201) return report_failure(r);
      const auto& o = r.json.as_object();
      const std::string guid = s(o, "guid");
      if (!write_identity(a->out, guid, o)) return kExitFailed;
      if (m.settings().json) std::cout << bj::serialize(bj::object{{"guid", guid}}) << "\n";
      else std::printf("%s\n", guid.c_str());
      return kExitOk;
    });
  }

  // person renew GUID: a new certificate for an existing person (the others are revoked)
  {
    auto c = std::make_shared<Common>();
    struct A {
      std::string guid, out = ".";
    };
    auto a = std::make_shared<A>();
    auto* cmd = person->add_subcommand("renew", "A new certificate for an existing person (yours, or anyone's as admin); "
                                                "revokes the others; writes DIR/<guid>.crt and .key");
    cmd->add_option("guid", a->guid, "The person's guid")->required();
    cmd->add_option("--out", a->out, "Directory for the certificate and key");
    add_master_options(cmd, c->settings);
    on_run(cmd, c, [a](MasterClient& m) {
      auto r = m.post("/v1/persons/" + a->guid + "/certificate", bj::object{});
      if (r.status != 201) return report_failure(r);
      if (!write_identity(a->out, a->guid, r.json.as_object())) return kExitFailed;
      if (m.settings().json) std::cout << bj::serialize(bj::object{{"guid", a->guid}}) << "\n";
      else std::printf("%s\n", a->guid.c_str());
      return kExitOk;
    });
  }

  // cert revoke SERIAL
  auto* cert = app.add_subcommand("cert", "Certificates");
  cert->require_subcommand(1);
  {
    auto c = std::make_shared<Common>();
    auto serial = std::make_shared<std::string>();
    auto* cmd = cert->add_subcommand("revoke", "Revoke a certificate by serial (hex), or by the certificate file");
    cmd->add_option("serial", *serial, "Serial in hex, or a PEM file")->required();
    add_master_options(cmd, c->settings);
    on_run(cmd, c, [serial](MasterClient& m) {
      std::string sn = *serial;
      if (fs::exists(sn)) {
        std::ifstream in(sn);
        std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        auto id = ca::identity_of_pem(pem);
        if (!id) {
          std::fprintf(stderr, "slapctl: %s is not a slapledger certificate\n", serial->c_str());
          return kExitError;
        }
        sn = id->serial_hex;
      }
      return emit(m, m.post("/v1/certificates/revoke", bj::object{{"serial", sn}}), [&](const bj::value&) { std::printf("revoked %s\n", sn.c_str()); });
    });
  }
}

}  // namespace slap::ctl
