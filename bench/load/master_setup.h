#pragma once
// Set-up calls on the master (persons, computers, format, supply, instances, views), made in
// parallel over a few connections with the load engine. Any refusal throws std::runtime_error
// with the status and body of the first bad answer: a benchmark on a half-built fixture is worthless.
#include <boost/asio/ssl/context.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/load/engine.h"
#include "bench/load/tls.h"
#include "bench/load/url.h"

namespace slap::load {

// Where an instance landed, as a 200 answer to slapos.post.v0.software_instance says.
struct Allocation {
  std::string instance_guid;
  std::string computer_guid;
  std::string partition_id;
};

class MasterSetup {
 public:
  MasterSetup(Url master, std::string ca_pem, Identity admin, size_t connections);

  const Url& master() const { return master_; }
  const std::string& ca_pem() const { return ca_pem_; }
  boost::asio::ssl::context& tls(const Identity& who);  // cached per identity

  // Every call made as `who`; answers in the order of `calls`.
  std::vector<Answer> batch(const Identity& who, std::vector<Call> calls);

  Identity add_person(const std::string& name);                                // as the admin
  std::vector<Identity> register_computers(const Identity& person, size_t n);  // price_minor 1
  void format(const std::vector<std::string>& computers, size_t partitions);   // as the admin
  void supply(const Identity& owner, const std::vector<std::string>& computers, const std::string& release);
  // Requests one instance per title as `person`; every one must be allocated (200).
  std::vector<Allocation> request_instances(const Identity& person, const std::vector<std::string>& titles, const std::string& release);

 private:
  Url master_;
  std::string ca_pem_;
  Identity admin_;
  size_t connections_;
  std::map<std::string, std::shared_ptr<boost::asio::ssl::context>> contexts_;
};

// The body of a JSON-RPC instance request; the parameters make the 100-partition view about the
// size of a real one (~28 KB).
std::string instance_request_body(const std::string& title, const std::string& release);

// Parses a 200 answer to an instance request; false when a field is missing.
bool parse_allocation(const std::string& body, Allocation& out);

// A fresh release URL, so this run's instances land only on this run's computers.
std::string fresh_release();

}  // namespace slap::load
