#include "node/usage_outbox.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstring>
#include <filesystem>

#include "node/sys.h"

namespace slap::node {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {
constexpr size_t kMaxOutboxBytes = 64 << 20;

bool get(const json::object& o, const char* key, std::string& out) {
  auto* x = o.if_contains(key);
  if (x == nullptr || !x->is_string()) return false;
  out = std::string(x->as_string());
  return true;
}
bool get(const json::object& o, const char* key, uint64_t& out) {
  auto* x = o.if_contains(key);
  if (x == nullptr || !x->is_number()) return false;
  boost::system::error_code ec;
  out = x->to_number<uint64_t>(ec);
  return !ec;
}
}  // namespace

Status save_outbox(const std::string& path, const UsageOutbox& box) {
  json::array txs, baselines;
  for (const auto& t : box.transactions) {
    json::array files;
    for (const auto& f : t.files) {
      files.push_back(json::object{{"partition", f.partition}, {"name", f.name}, {"ino", f.id.ino}, {"size", f.id.size},
                                   {"mtime_ns", static_cast<uint64_t>(f.id.mtime_ns)}});
    }
    txs.push_back(json::object{{"journal", t.journal}, {"measured_only", t.measured_only}, {"files", std::move(files)},
                               {"refused_full", t.refused_full}});
  }
  for (const auto& b : box.baselines) {
    baselines.push_back(json::object{{"state_dir", b.state_dir}, {"name", b.name}, {"content", b.content}, {"instance", b.instance}});
  }
  // slapnode's own directory (0700, not a link, its owner's): no partition user can plant an
  // outbox, or its baselines, to be billed less.
  if (auto st = ensure_private_dir(fs::path(path).parent_path().string()); !st) return st;
  return write_file_atomic(path, json::serialize(json::object{{"transactions", std::move(txs)}, {"baselines", std::move(baselines)}}), 0600);
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
  const auto* txs = v.as_object().if_contains("transactions");
  const auto* baselines = v.as_object().if_contains("baselines");
  if (txs == nullptr || !txs->is_array() || baselines == nullptr || !baselines->is_array()) return bad("fields missing");
  UsageOutbox box;
  for (const auto& t : txs->as_array()) {
    if (!t.is_object()) return bad("a transaction is not an object");
    const auto& o = t.as_object();
    UsageOutbox::Transaction x;
    const auto* files = o.if_contains("files");
    const auto* refused = o.if_contains("refused_full");
    if (!get(o, "journal", x.journal) || !get(o, "measured_only", x.measured_only) || files == nullptr || !files->is_array() ||
        refused == nullptr || !refused->is_bool()) {
      return bad("a transaction lacks a field");
    }
    x.refused_full = refused->as_bool();
    for (const auto& f : files->as_array()) {
      if (!f.is_object()) return bad("a file is not an object");
      ConsumedFile c;
      uint64_t mtime = 0;
      if (!get(f.as_object(), "partition", c.partition) || !get(f.as_object(), "name", c.name) || !get(f.as_object(), "ino", c.id.ino) ||
          !get(f.as_object(), "size", c.id.size) || !get(f.as_object(), "mtime_ns", mtime)) {
        return bad("a file lacks a field");
      }
      c.id.mtime_ns = static_cast<int64_t>(mtime);
      x.files.push_back(std::move(c));
    }
    box.transactions.push_back(std::move(x));
  }
  for (const auto& b : baselines->as_array()) {
    if (!b.is_object()) return bad("a baseline is not an object");
    UsageOutbox::Baseline x;
    const auto& o = b.as_object();
    if (!get(o, "state_dir", x.state_dir) || !get(o, "name", x.name) || !get(o, "content", x.content) || !get(o, "instance", x.instance)) {
      return bad("a baseline lacks a field");
    }
    box.baselines.push_back(std::move(x));
  }
  return std::optional<UsageOutbox>(std::move(box));
}

Status remove_outbox(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return make_error(Errc::kIo, "cannot remove " + path);
  return {};
}

void rename_consumed(const ConsumedFile& f, const char* from_suffix, const char* to_suffix) {
  auto dir = open_dir_beneath(f.partition, kConsumptionDir, false, std::nullopt);
  if (!dir) return;  // gone with its partition, or no longer a plain directory: nothing to rename
  const std::string from = f.name + from_suffix, to = f.name + to_suffix;
  struct stat st;
  if (::fstatat(dir->get(), from.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) || !(file_id(st) == f.id)) return;
  if (::renameat(dir->get(), from.c_str(), dir->get(), to.c_str()) != 0) {
    spdlog::warn("usage: cannot rename {}/{}/{}: {}", f.partition, kConsumptionDir, from, std::strerror(errno));
  }
}

bool apply_outbox(const UsageOutbox& box, const std::function<bool(const UsageOutbox::Baseline&)>& current) {
  bool written = true;
  for (const auto& b : box.baselines) {
    if (!current(b)) continue;
    if (auto st = write_state_file(b.state_dir, b.name, b.content); !st) {
      spdlog::error("usage: baseline {}/{}: {}", b.state_dir, b.name, st.error().to_string());
      written = false;
    }
  }
  for (const auto& t : box.transactions) {
    for (const auto& f : t.files) {
      rename_consumed(f, "", t.refused_full ? ".refused" : ".reported");
      // Set aside as reported before the master refused the movements it held: now refused.
      if (t.refused_full) rename_consumed(f, ".reported", ".refused");
    }
  }
  return written;
}

}  // namespace slap::node
