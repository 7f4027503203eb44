#include "bench/load/master_setup.h"

#include <openssl/rand.h>

#include <boost/json.hpp>
#include <cstdio>
#include <stdexcept>

namespace slap::load {

namespace bj = boost::json;
using boost::beast::http::verb;

namespace {

std::string json_string(const bj::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

bj::object parse_object(const std::string& body, const std::string& what) {
  boost::system::error_code ec;
  auto v = bj::parse(body, ec);
  if (ec || !v.is_object()) throw std::runtime_error(what + ": not a JSON object: " + body.substr(0, 400));
  return std::move(v.as_object());
}

// Throws with the first answer whose status is not `expected`.
void expect_all(const std::vector<Answer>& answers, unsigned expected, const std::string& what) {
  for (const auto& a : answers) {
    if (a.status == expected) continue;
    throw std::runtime_error(what + ": expected " + std::to_string(expected) + ", got " +
                             (a.status ? std::to_string(a.status) + " " + a.body.substr(0, 400) : "transport error: " + a.error));
  }
}

Call post(const std::string& target, std::string body) { return Call{verb::post, target, std::move(body), "", 0}; }

}  // namespace

std::string instance_request_body(const std::string& title, const std::string& release) {
  return R"({"title":")" + title + R"(","software_release_uri":")" + release +
         R"(","software_type":"default","parameters":{"ram":"2048","cpu":"2"}})";
}

bool parse_allocation(const std::string& body, Allocation& out) {
  boost::system::error_code ec;
  auto v = bj::parse(body, ec);
  if (ec || !v.is_object()) return false;
  const auto& o = v.as_object();
  out.instance_guid = json_string(o, "instance_guid");
  out.computer_guid = json_string(o, "computer_guid");
  out.partition_id = json_string(o, "compute_partition_id");
  return !out.instance_guid.empty() && !out.computer_guid.empty() && !out.partition_id.empty();
}

std::string fresh_release() {
  unsigned char bytes[6];
  RAND_bytes(bytes, sizeof bytes);
  char hex[13];
  for (size_t k = 0; k < sizeof bytes; ++k) std::snprintf(hex + 2 * k, 3, "%02x", bytes[k]);
  return std::string("https://lab.example/load/") + hex + "/software.cfg";
}

MasterSetup::MasterSetup(Url master, std::string ca_pem, Identity admin, size_t connections)
    : master_(std::move(master)), ca_pem_(std::move(ca_pem)), admin_(std::move(admin)), connections_(std::max<size_t>(1, connections)) {}

boost::asio::ssl::context& MasterSetup::tls(const Identity& who) {
  auto& slot = contexts_[who.guid + "\n" + who.certificate_pem];
  if (!slot) slot = client_tls(ca_pem_, who);
  return *slot;
}

std::vector<Answer> MasterSetup::batch(const Identity& who, std::vector<Call> calls) {
  std::vector<Answer> answers(calls.size());
  std::atomic<size_t> cursor{0};
  Plan plan;
  plan.endpoint = master_.endpoint;
  plan.host = master_.host;
  plan.tls = &tls(who);
  plan.connections = std::min(connections_, std::max<size_t>(1, calls.size()));
  plan.threads = 1;  // set-up is not measured; one thread leaves the cores to the master
  plan.next = [&](size_t, Call& c) {
    const size_t k = cursor.fetch_add(1);
    if (k >= calls.size()) return false;
    c = calls[k];
    c.tag = k;
    return true;
  };
  plan.judge = [&](size_t, const Call& c, Answer&& a) {
    answers[c.tag] = std::move(a);
    return true;
  };
  run(plan);
  return answers;
}

Identity MasterSetup::add_person(const std::string& name) {
  auto answers = batch(admin_, {post("/v1/persons", bj::serialize(bj::object{{"name", name}}))});
  expect_all(answers, 201, "POST /v1/persons");
  auto o = parse_object(answers[0].body, "POST /v1/persons");
  return Identity{json_string(o, "guid"), json_string(o, "certificate"), json_string(o, "key")};
}

std::vector<Identity> MasterSetup::register_computers(const Identity& person, size_t n) {
  std::vector<Call> calls(n, post("/v1/computers", R"({"price_minor":1})"));
  auto answers = batch(person, std::move(calls));
  expect_all(answers, 201, "POST /v1/computers");
  std::vector<Identity> out;
  for (const auto& a : answers) {
    auto o = parse_object(a.body, "POST /v1/computers");
    out.push_back(Identity{json_string(o, "computer_guid"), json_string(o, "certificate"), json_string(o, "key")});
  }
  return out;
}

void MasterSetup::format(const std::vector<std::string>& computers, size_t partitions) {
  std::string list;
  for (size_t p = 0; p < partitions; ++p) {
    list += (p ? "," : "") + std::string(R"({"partition_id":"slappart)") + std::to_string(p) + R"(","ip_list":[{"ip-address":"10.)" +
            std::to_string(p / 62500) + "." + std::to_string(p / 250 % 250) + "." + std::to_string(p % 250 + 1) +
            R"(","network-interface":"slaptap)" + std::to_string(p) + R"("}]})";
  }
  std::vector<Call> calls;
  for (const auto& g : computers) calls.push_back(post("/slapos.put.v0.compute_node_format", R"({"computer_guid":")" + g + R"(","compute_partition_list":[)" + list + "]}"));
  expect_all(batch(admin_, std::move(calls)), 200, "slapos.put.v0.compute_node_format");
}

void MasterSetup::supply(const Identity& owner, const std::vector<std::string>& computers, const std::string& release) {
  std::vector<Call> calls;
  for (const auto& g : computers) {
    calls.push_back(post("/slapos.post.v0.software_installation", bj::serialize(bj::object{{"computer_guid", g}, {"software_release_uri", release}})));
  }
  expect_all(batch(owner, std::move(calls)), 200, "slapos.post.v0.software_installation");
}

std::vector<Allocation> MasterSetup::request_instances(const Identity& person, const std::vector<std::string>& titles, const std::string& release) {
  std::vector<Call> calls;
  for (const auto& t : titles) calls.push_back(post("/slapos.post.v0.software_instance", instance_request_body(t, release)));
  auto answers = batch(person, std::move(calls));
  expect_all(answers, 200, "slapos.post.v0.software_instance");
  std::vector<Allocation> out(answers.size());
  for (size_t k = 0; k < answers.size(); ++k) {
    if (!parse_allocation(answers[k].body, out[k])) throw std::runtime_error("slapos.post.v0.software_instance: incomplete answer " + answers[k].body.substr(0, 400));
  }
  return out;
}

}  // namespace slap::load
