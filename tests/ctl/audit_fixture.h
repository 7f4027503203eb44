#pragma once
// A master's ledger for audit tests, made the real way: slapmaster serves, a person registers a
// computer, formats it, supplies a release and requests instances, signed checkpoints are taken at
// a one-second interval, then SIGTERM (the final checkpoint, the projections' checkpoints).
// Helpers run the real slapctl binary.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>

#include "tests/ledger/test_util.h"
#include "tests/slapd/master_process.h"

namespace slap::test {

struct CtlRun {
  int code;
  std::string out;
};

inline CtlRun slapctl(const std::string& args) {
  const std::string cmd = std::string(SLAPCTL) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// GET /v1/ledger/head as the administrator (who holds every role).
inline boost::json::object ledger_head(const MasterProcess& master) {
  auto admin = master.client(master.admin());
  return parse_object(admin.get("/v1/ledger/head").body);
}

inline bool has_checkpoint(const boost::json::object& head) {
  auto* c = head.if_contains("checkpoint");
  return c != nullptr && c->is_object();
}

// Builds the ledger in `state` and stops the master with SIGTERM. Instance titles are "audit-<n>".
inline void make_master_ledger(const std::filesystem::path& state, int instances = 5) {
  MasterProcess master(state, {"--checkpoint-interval", "1"});
  ASSERT_TRUE(master.ready());
  auto admin = master.client(master.admin());
  auto person_json = parse_object(admin.post("/v1/persons", R"({"name":"Auditee"})").body);
  auto person = master.client(cert_of(person_json));
  auto comp = parse_object(person.post("/v1/computers", R"({"region":"eu-west"})").body);
  const std::string guid = str(comp, "computer_guid");
  ASSERT_FALSE(guid.empty());
  auto computer = master.client(cert_of(comp));
  std::string parts;
  for (int p = 0; p <= instances; ++p) parts += (p ? "," : "") + std::string(R"({"partition_id":"slappart)") + std::to_string(p) + "\"}";
  ASSERT_EQ(computer.post("/slapos.put.v0.compute_node_format", R"({"computer_guid":")" + guid + R"(","compute_partition_list":[)" + parts + "]}").status, 200u);
  ASSERT_EQ(person.post("/slapos.post.v0.software_installation", R"({"computer_guid":")" + guid + R"(","software_release_uri":"file:///sr"})").status, 200u);
  for (int i = 0; i < instances; ++i) {
    auto r = person.post("/slapos.post.v0.software_instance",
                         R"({"title":"audit-)" + std::to_string(i) + R"(","software_release_uri":"file:///sr","software_type":"default"})");
    ASSERT_EQ(r.status, 200u) << r.body;
  }
  // A periodic checkpoint attests the requests (bounded wait on the observed condition).
  const uint64_t head = parse_object(admin.get("/v1/ledger/head").body).at("seq").as_int64();
  ASSERT_TRUE(wait_until([&] {
    auto h = ledger_head(master);
    return has_checkpoint(h) && h.at("checkpoint").as_object().at("seq").as_int64() >= static_cast<int64_t>(head);
  })) << "no signed checkpoint within the deadline";
  auto more = person.post("/slapos.post.v0.software_instance", R"({"title":"audit-last","software_release_uri":"file:///sr","software_type":"default"})");
  ASSERT_EQ(more.status, 200u) << more.body;
  const int status = master.kill(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "slapmaster did not exit cleanly on SIGTERM";
}

}  // namespace slap::test
