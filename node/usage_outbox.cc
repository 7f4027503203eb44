#include "node/usage_outbox.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>

#include "node/sys.h"

namespace slap::node {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {
constexpr size_t kMaxOutboxBytes = 64 << 20;

}  // namespace

Status save_outbox(const std::string& path, const UsageOutbox& box) {
  json::array baselines, files;
  for (const auto& b : box.baselines) baselines.push_back(json::object{{"state_dir", b.state_dir}, {"name", b.name}, {"content", b.content}});
  for (const auto& f : box.instance_files) files.push_back(json::string(f));
  json::object o{{"journal", box.journal},
                 {"measured_only", box.measured_only},
                 {"baselines", std::move(baselines)},
                 {"instance_files", std::move(files)},
                 {"refused_full", box.refused_full}};
  // slapnode's own directory (0700, not a link, its owner's): no partition user can plant the
  // outbox, or its baselines, to be billed less.
  if (auto st = ensure_private_dir(fs::path(path).parent_path().string()); !st) return st;
  return write_file_atomic(path, json::serialize(o), 0600);
}

Result<std::optional<UsageOutbox>> load_outbox(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec))) return std::optional<UsageOutbox>{};
  auto raw = read_file(path, kMaxOutboxBytes);
  if (!raw) return raw.error();
  boost::system::error_code jec;
  json::value v = json::parse(*raw, jec);
  auto bad = [&](const std::string& why) { return make_error(Errc::kInvalid, path + ": " + why); };
  if (jec || !v.is_object()) return bad("not a JSON object");
  const auto& o = v.as_object();
  auto str = [&](const json::object& from, const char* key, std::string& out) {
    auto* x = from.if_contains(key);
    if (x == nullptr || !x->is_string()) return false;
    out = std::string(x->as_string());
    return true;
  };
  UsageOutbox box;
  if (!str(o, "journal", box.journal) || !str(o, "measured_only", box.measured_only)) return bad("journal missing");
  auto* baselines = o.if_contains("baselines");
  auto* files = o.if_contains("instance_files");
  auto* refused = o.if_contains("refused_full");
  if (baselines == nullptr || !baselines->is_array() || files == nullptr || !files->is_array() || refused == nullptr || !refused->is_bool()) {
    return bad("fields missing");
  }
  for (const auto& b : baselines->as_array()) {
    if (!b.is_object()) return bad("a baseline is not an object");
    UsageOutbox::Baseline x;
    if (!str(b.as_object(), "state_dir", x.state_dir) || !str(b.as_object(), "name", x.name) || !str(b.as_object(), "content", x.content)) {
      return bad("a baseline lacks a field");
    }
    box.baselines.push_back(std::move(x));
  }
  for (const auto& f : files->as_array()) {
    if (!f.is_string()) return bad("an instance file is not a string");
    box.instance_files.emplace_back(f.as_string());
  }
  box.refused_full = refused->as_bool();
  return std::optional<UsageOutbox>(std::move(box));
}

Status remove_outbox(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return make_error(Errc::kIo, "cannot remove " + path);
  return {};
}

void apply_outbox(const UsageOutbox& box) {
  for (const auto& b : box.baselines) {
    if (auto st = write_state_file(b.state_dir, b.name, b.content); !st) {
      spdlog::warn("usage: baseline {}/{}: {}", b.state_dir, b.name, st.error().to_string());
    }
  }
  const char* suffix = box.refused_full ? ".refused" : ".reported";
  for (const auto& f : box.instance_files) {
    std::error_code ec;
    if (fs::exists(fs::symlink_status(f, ec))) fs::rename(f, f + suffix, ec);
    // Set aside as reported before the master refused the movements it held: now refused.
    if (box.refused_full && fs::exists(fs::symlink_status(f + ".reported", ec))) fs::rename(f + ".reported", f + ".refused", ec);
  }
}

}  // namespace slap::node
