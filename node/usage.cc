#include "node/usage.h"

#include <dirent.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <pugixml.hpp>
#include <set>
#include <sstream>

#include "node/sys.h"

namespace slap::node {
namespace json = boost::json;

long clock_ticks_per_second() { return ::sysconf(_SC_CLK_TCK); }

namespace {
// Fields of /proc/<pid>/stat after the ")" closing the command name.
bool stat_fields(pid_t pid, std::vector<std::string>& fields) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/stat", 4096);
  if (!text) return false;
  size_t close = text->rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream in(text->substr(close + 1));
  std::string f;
  fields.clear();
  while (in >> f) fields.push_back(f);
  return fields.size() > 22;
}
uint64_t to_u64(const std::string& s) {
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}
}  // namespace

Result<ProcessSample> sample_process(pid_t pid) {
  std::vector<std::string> f;
  if (!stat_fields(pid, f)) return make_error(Errc::kNotFound, "no process " + std::to_string(pid));
  // After ')': [0]=state [1]=ppid ... [11]=utime [12]=stime [19]=starttime [21]=rss pages
  ProcessSample s;
  s.pid = pid;
  s.cpu_ticks = to_u64(f[11]) + to_u64(f[12]);
  s.start_ticks = to_u64(f[19]);
  s.rss_bytes = to_u64(f[21]) * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  s.zombie = f[0] == "Z" || f[0] == "X";
  return s;
}

std::vector<pid_t> process_tree(const std::vector<pid_t>& roots) { return process_tree(roots, process_children()); }

ProcessChildren process_children() {
  ProcessChildren children;
  if (DIR* d = ::opendir("/proc")) {
    while (dirent* e = ::readdir(d)) {
      char* end = nullptr;
      long pid = std::strtol(e->d_name, &end, 10);
      if (*end != '\0' || pid <= 0) continue;
      std::vector<std::string> f;
      if (!stat_fields(static_cast<pid_t>(pid), f)) continue;
      children.emplace(static_cast<pid_t>(to_u64(f[1])), static_cast<pid_t>(pid));
    }
    ::closedir(d);
  }
  return children;
}

std::vector<pid_t> process_tree(const std::vector<pid_t>& roots, const ProcessChildren& children) {
  std::vector<pid_t> out;
  std::set<pid_t> seen;
  std::vector<pid_t> todo(roots.begin(), roots.end());
  while (!todo.empty() && out.size() < 100000) {
    pid_t p = todo.back();
    todo.pop_back();
    if (p <= 0 || !seen.insert(p).second) continue;
    out.push_back(p);
    auto [a, b] = children.equal_range(p);
    for (auto it = a; it != b; ++it) todo.push_back(it->second);
  }
  return out;
}

std::string tio_date(int64_t epoch_s) {
  std::time_t t = static_cast<std::time_t>(epoch_s);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string format_quantity(double q) {
  if (!std::isfinite(q)) return "0";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, q, std::chars_format::fixed, 3);
  std::string s(buf, r.ptr);
  while (s.find('.') != std::string::npos && (s.back() == '0' || s.back() == '.')) {
    bool dot = s.back() == '.';
    s.pop_back();
    if (dot) break;
  }
  return s;
}

namespace {
// An empty TioXML journal: the declaration and the root element, which is returned.
pugi::xml_node new_journal(pugi::xml_document& doc) {
  auto decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "utf-8";
  return doc.append_child("journal");
}
}  // namespace

std::string merge_tioxml(const std::vector<std::string>& journals) {
  pugi::xml_document doc;
  auto journal = new_journal(doc);
  for (const auto& j : journals) {
    pugi::xml_document part;
    if (!part.load_string(j.c_str())) continue;  // written by build_tioxml: cannot happen
    for (auto tx : part.child("journal").children("transaction")) journal.append_copy(tx);
  }
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw);
  return out.str();
}

std::string build_tioxml(const std::string& computer_guid, const std::vector<PartitionUsage>& partitions) {
  pugi::xml_document doc;
  auto journal = new_journal(doc);
  for (const auto& p : partitions) {
    if (p.movements.empty()) continue;  // the schema needs at least one movement
    auto tx = journal.append_child("transaction");
    tx.append_attribute("type") = "Sale Packing List";
    tx.append_child("title").text() = ("Resource consumptions of " + p.title).c_str();
    tx.append_child("start_date").text() = tio_date(p.start).c_str();
    tx.append_child("stop_date").text() = tio_date(p.stop).c_str();
    tx.append_child("reference").text() = p.partition_id.c_str();
    tx.append_child("currency");
    tx.append_child("payment_mode");
    tx.append_child("category");
    auto src = tx.append_child("arrow");
    src.append_attribute("type") = "Source";
    src.append_child("source").text() = computer_guid.c_str();
    auto dst = tx.append_child("arrow");
    dst.append_attribute("type") = "Destination";
    dst.append_child("destination").text() = p.instance_guid.c_str();
    for (const auto& m : p.movements) {
      auto mv = tx.append_child("movement");
      mv.append_child("resource").text() = m.resource.c_str();
      mv.append_child("title").text() = m.title.c_str();
      mv.append_child("reference").text() = m.reference.c_str();
      mv.append_child("quantity").text() = m.quantity.c_str();
      mv.append_child("price").text() = "0.0";
      mv.append_child("VAT");
      if (m.categories.empty()) mv.append_child("category");
      for (const auto& c : m.categories) mv.append_child("category").text() = c.c_str();
    }
  }
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw);
  return out.str();
}

namespace {
// A non-negative exact decimal as the master takes it: digits, then at most one point and digits
// (no sign, no exponent, no nan): "3", "0.25".
bool plain_decimal(std::string_view q) {
  if (q.empty() || q.size() > 40) return false;
  const size_t point = q.find('.');
  const std::string_view whole = q.substr(0, point);
  const std::string_view frac = point == std::string_view::npos ? std::string_view() : q.substr(point + 1);
  auto digits = [](std::string_view s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos; };
  return digits(whole) && (point == std::string_view::npos || digits(frac));
}
}  // namespace

Result<std::vector<UsageMovement>> parse_partition_consumption(std::string_view xml) {
  if (xml.size() > (1u << 20)) return make_error(Errc::kInvalid, "consumption file larger than 1 MiB");
  pugi::xml_document doc;
  auto r = doc.load_buffer(xml.data(), xml.size(), pugi::parse_default & ~pugi::parse_doctype);
  if (!r) return make_error(Errc::kInvalid, std::string("consumption file is not XML: ") + r.description());
  auto root = doc.child("consumption");
  if (!root) return make_error(Errc::kInvalid, "root element is not <consumption>");
  std::vector<UsageMovement> out;
  for (auto mv : root.children()) {
    if (std::string_view(mv.name()) != "movement") return make_error(Errc::kInvalid, "unexpected <" + std::string(mv.name()) + ">");
    UsageMovement m;
    m.resource = mv.child_value("resource");
    m.title = mv.child_value("title");
    m.reference = mv.child_value("reference");
    std::string q = mv.child_value("quantity");
    if (m.resource.empty() || m.resource.size() > 256 || !plain_decimal(q) || !mv.child("price") || !mv.child("VAT")) {
      return make_error(Errc::kInvalid, "movement lacks resource, a quantity (digits, one optional point), price or VAT");
    }
    // What the node measures itself is not for an instance to add to (or, were it negative, take from).
    if (m.resource.rfind("usage/", 0) == 0) return make_error(Errc::kInvalid, "resource " + m.resource + " is the node's to measure");
    // The master records these itself and refuses a journal reporting them (market/encoding.h).
    for (const char* market : {"capacity/", "software/", "hosting/", "billing/"}) {
      if (m.resource.rfind(market, 0) == 0) return make_error(Errc::kInvalid, "resource " + m.resource + " is the master's to record");
    }
    m.quantity = q;
    for (auto c : mv.children("category")) {
      if (*c.child_value()) m.categories.emplace_back(c.child_value());
    }
    out.push_back(std::move(m));
    if (out.size() > 10000) return make_error(Errc::kInvalid, "too many movements");
  }
  if (out.empty()) return make_error(Errc::kInvalid, "no movement");
  return out;
}

std::string baseline_instance(const std::string& state_dir, const std::string& name) {
  auto text = read_file(state_dir + "/" + name, 1 << 20);
  if (!text) return {};
  boost::system::error_code ec;
  json::value v = json::parse(*text, ec);
  if (ec || !v.is_object()) return {};
  auto* g = v.as_object().if_contains("instance_guid");
  return g != nullptr && g->is_string() ? std::string(g->as_string()) : std::string();
}

namespace {
json::object group_json(const GroupReading& g) {
  return json::object{{"id", static_cast<int64_t>(g.id)}, {"usage_us", static_cast<int64_t>(g.usage_us)},
                      {"carry_us", static_cast<int64_t>(g.carry_us)}};
}

uint64_t carried_us(const std::string& state_dir) {
  auto text = read_file(state_dir + "/" + kCpuCarryFile, 64);
  if (!text) return 0;
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  (void)end;
  return ec == std::errc() ? v : 0;
}

// The ticks each process was last sampled at in a baseline's "procs" ("pid:start" -> ticks).
std::map<std::string, uint64_t> sampled_ticks(const json::object& baseline) {
  std::map<std::string, uint64_t> out;
  if (auto* procs = baseline.if_contains("procs"); procs != nullptr && procs->is_object()) {
    for (const auto& [k, x] : procs->as_object()) {
      if (x.is_int64() && x.as_int64() >= 0) out[std::string(k)] = static_cast<uint64_t>(x.as_int64());
    }
  }
  return out;
}

std::string process_key(const ProcessSample& s) { return std::to_string(s.pid) + ":" + std::to_string(s.start_ticks); }
}  // namespace

std::optional<GroupReading> read_group(const CpuGroups& groups, const std::string& partition, const std::string& state_dir) {
  auto r = groups.read(partition);
  if (r) r->carry_us = carried_us(state_dir);
  return r;
}

Status carry_since_baseline(const std::string& state_dir, const std::vector<ProcessSample>& samples) {
  std::map<std::string, uint64_t> sampled;
  if (auto text = read_file(state_dir + "/" + kCpuBaselineFile, 1 << 20)) {
    boost::system::error_code ec;
    json::value v = json::parse(*text, ec);
    if (!ec && v.is_object()) sampled = sampled_ticks(v.as_object());
  }
  uint64_t ticks = 0;
  for (const auto& s : samples) {
    if (s.zombie) continue;
    auto it = sampled.find(process_key(s));
    const uint64_t before = it == sampled.end() ? 0 : it->second;
    ticks += s.cpu_ticks >= before ? s.cpu_ticks - before : s.cpu_ticks;
  }
  if (ticks == 0) return {};
  const uint64_t us = ticks * 1'000'000 / static_cast<uint64_t>(clock_ticks_per_second());
  return write_state_file(state_dir, kCpuCarryFile, std::to_string(carried_us(state_dir) + us) + "\n");
}

Status adopt_with_carry(CpuGroups& groups, const std::string& partition, const std::string& state_dir, const std::set<pid_t>& pids) {
  if (pids.empty()) return {};
  const std::set<pid_t> already = groups.members(partition);  // inside: the counter has them
  std::vector<ProcessSample> samples;
  std::set<pid_t> moving;
  for (pid_t pid : pids) {
    if (already.count(pid)) continue;
    auto s = sample_process(pid);
    if (!s || s->zombie) continue;  // a zombie cannot be moved, and the group may have its CPU
    samples.push_back(*s);
    moving.insert(pid);
  }
  auto moved = groups.adopt(partition, moving);
  if (!moved) return moved.error();
  // Carried only for the processes now in the group: one left outside is billed on its own at the
  // next measurement, from its sample in the baseline, and carried again by nobody.
  const std::set<pid_t> inside = groups.members(partition);
  std::erase_if(samples, [&](const ProcessSample& s) { return !inside.count(s.pid); });
  return carry_since_baseline(state_dir, samples);
}

void start_cpu_baseline(const std::string& state_dir, const std::string& instance_guid, int64_t now, const GroupReading* group) {
  // A baseline naming no instance (written before they named one) is taken as this instance's, as
  // cpu_since_last takes it: replaced, its processes would be billed from their start again.
  std::error_code ec;
  if (std::filesystem::exists(state_dir + "/" + kCpuBaselineFile, ec)) {
    const std::string holder = baseline_instance(state_dir, kCpuBaselineFile);
    if (holder.empty() || holder == instance_guid) return;
  }
  json::object baseline{{"time", now}, {"procs", json::object{}}, {"instance_guid", instance_guid}};
  if (group != nullptr) baseline["group"] = group_json(*group);
  (void)write_state_file(state_dir, kCpuBaselineFile, json::serialize(baseline) + "\n");
}

CpuDelta cpu_since_last(const std::string& state_dir, const std::vector<ProcessSample>& now_samples, int64_t now,
                        bool persist, const std::string& instance_guid, const GroupReading* group) {
  std::string path = state_dir + "/" + kCpuBaselineFile;
  std::map<std::string, uint64_t> previous;
  std::optional<GroupReading> previous_group;
  CpuDelta out;
  if (auto text = read_file(path, 1 << 20)) {
    boost::system::error_code ec;
    json::value v = json::parse(*text, ec);
    const auto* g = !ec && v.is_object() ? v.as_object().if_contains("instance_guid") : nullptr;
    const bool other = !instance_guid.empty() && g != nullptr && (!g->is_string() || g->as_string() != instance_guid);
    if (!ec && v.is_object() && !other) {
      if (auto* t = v.as_object().if_contains("time"); t != nullptr && t->is_int64()) out.previous_time = t->as_int64();
      if (auto* grp = v.as_object().if_contains("group"); grp != nullptr && grp->is_object()) {
        const auto* id = grp->as_object().if_contains("id");
        const auto* us = grp->as_object().if_contains("usage_us");
        const auto* carry = grp->as_object().if_contains("carry_us");
        if (id != nullptr && us != nullptr && id->is_int64() && us->is_int64() && us->as_int64() >= 0) {
          previous_group = GroupReading{static_cast<uint64_t>(id->as_int64()), static_cast<uint64_t>(us->as_int64()),
                                        carry != nullptr && carry->is_int64() && carry->as_int64() >= 0 ? static_cast<uint64_t>(carry->as_int64()) : 0};
        }
      }
      previous = sampled_ticks(v.as_object());
    }
  }
  json::object procs;
  uint64_t ticks = 0;
  for (const auto& s : now_samples) {
    if (s.zombie) continue;  // gone: the group has its CPU if it died there (usage.h)
    out.rss_bytes += s.rss_bytes;
    std::string key = process_key(s);
    // Kept for every process, in the group or not: should the group be gone next time, each
    // process goes on from its own sample, not from its start.
    procs[key] = static_cast<int64_t>(s.cpu_ticks);
    // Its CPU is the group's, counted from the baseline's reading of it; with no such reading (an
    // older baseline), the process is billed on its own once more.
    if (s.in_group && group != nullptr && previous_group) continue;
    auto it = previous.find(key);
    uint64_t before = it == previous.end() ? 0 : it->second;
    ticks += s.cpu_ticks >= before ? s.cpu_ticks - before : s.cpu_ticks;
  }
  uint64_t group_us = 0;
  if (group != nullptr && previous_group) {
    // The kernel's counter of a group made again (or rebooted) since the baseline is new whole;
    // the carry is the node's own, kept across both: only what was carried since.
    if (previous_group->id != group->id) group_us = group->usage_us;
    else if (group->usage_us >= previous_group->usage_us) group_us = group->usage_us - previous_group->usage_us;
    if (group->carry_us >= previous_group->carry_us) group_us += group->carry_us - previous_group->carry_us;
  }
  out.cpu_seconds = static_cast<double>(ticks) / static_cast<double>(clock_ticks_per_second()) + static_cast<double>(group_us) / 1e6;
  json::object baseline{{"time", now}, {"procs", std::move(procs)}};
  if (group != nullptr) baseline["group"] = group_json(*group);
  if (!instance_guid.empty()) baseline["instance_guid"] = instance_guid;
  out.baseline = json::serialize(baseline) + "\n";
  if (persist) (void)write_state_file(state_dir, kCpuBaselineFile, out.baseline);
  return out;
}

}  // namespace slap::node
