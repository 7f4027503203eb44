#pragma once
// What nodes report that is status, not business fact: software build states and errors, instance
// errors, bang messages. Kept in memory (as SlapOS keeps access status in a cache): a restart
// forgets them until the nodes report again on their next pass. Thread-safe, bounded.
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace slap::slapd {

class NodeReports {
 public:
  static constexpr size_t kMaxEntries = 1'000'000;
  static constexpr size_t kMaxMessage = 4096;

  void software(const std::string& computer, const std::string& url, std::string state, std::string message);
  void instance(const std::string& guid, std::string message);
  void computer(const std::string& computer, std::string message);
  std::optional<std::string> software_state(const std::string& computer, const std::string& url) const;
  std::string instance_message(std::string_view guid) const;
  std::string computer_message(const std::string& computer) const;

 private:
  void put(std::map<std::string, std::string, std::less<>>& m, std::string key, std::string value);
  mutable std::mutex mu_;
  std::map<std::string, std::string, std::less<>> software_;  // computer + '\n' + url -> "state: message"
  std::map<std::string, std::string, std::less<>> instances_;
  std::map<std::string, std::string, std::less<>> computers_;
};

}  // namespace slap::slapd
