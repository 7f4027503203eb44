#include "slapd/node_reports.h"

namespace slap::slapd {

void NodeReports::put(std::map<std::string, std::string, std::less<>>& m, std::string key, std::string value) {
  if (value.size() > kMaxMessage) value.resize(kMaxMessage);
  std::lock_guard lock(mu_);
  if (m.size() >= kMaxEntries && m.find(key) == m.end()) m.erase(m.begin());  // bounded: drop the oldest key
  m[std::move(key)] = std::move(value);
}

void NodeReports::software(const std::string& computer, const std::string& url, std::string state, std::string message) {
  put(software_, computer + '\n' + url, message.empty() ? state : state + ": " + message);
}

void NodeReports::instance(const std::string& guid, std::string message) { put(instances_, guid, std::move(message)); }
void NodeReports::computer(const std::string& computer, std::string message) { put(computers_, computer, std::move(message)); }

std::optional<std::string> NodeReports::software_state(const std::string& computer, const std::string& url) const {
  std::lock_guard lock(mu_);
  auto it = software_.find(computer + '\n' + url);
  if (it == software_.end()) return std::nullopt;
  return it->second;
}

std::string NodeReports::instance_message(std::string_view guid) const {
  std::lock_guard lock(mu_);
  auto it = instances_.find(guid);
  return it == instances_.end() ? std::string() : it->second;
}

std::string NodeReports::computer_message(const std::string& computer) const {
  std::lock_guard lock(mu_);
  auto it = computers_.find(computer);
  return it == computers_.end() ? std::string() : it->second;
}

}  // namespace slap::slapd
