#pragma once
// slapctl's connection to the master: where it is and which certificate to present, from flags,
// then SLAPCTL_* environment variables, then a config file (INI: master, cert, key, ca). Requests
// go through the node's HTTPS client (node/http_client.h), the one SLAP client of the project.
#include <CLI/CLI.hpp>
#include <boost/json/value.hpp>
#include <memory>
#include <string>

namespace slap::ctl {

struct MasterSettings {
  std::string master, cert, key, ca, config;
  bool json = false;  // print raw JSON instead of tables
};

// Adds --master --cert --key --ca --config --json to a command.
void add_master_options(CLI::App* cmd, MasterSettings& s);

struct Reply {
  int status = 0;        // HTTP status; 0 when the master could not be reached
  std::string body;
  boost::json::value json;  // parsed body (null when not JSON)
  std::string error;     // transport failure or the master's error detail
};

class MasterClient {
 public:
  // Resolves flags, environment and config file; an incomplete setting is an error message.
  static std::unique_ptr<MasterClient> connect(MasterSettings s, std::string& error);
  ~MasterClient();
  Reply get(const std::string& path);
  Reply post(const std::string& path, const boost::json::value& body);
  const MasterSettings& settings() const { return s_; }

 private:
  explicit MasterClient(MasterSettings s);
  Reply call(const std::string& method, const std::string& path, const std::string& body);
  struct Impl;
  MasterSettings s_;
  std::unique_ptr<Impl> impl_;
};

// Prints the master's error for a failed reply and returns the exit code for it.
int report_failure(const Reply& r);

}  // namespace slap::ctl
