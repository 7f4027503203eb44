#pragma once
// The usage journal between "measured" and "the master took it". It is kept in one file, written
// before anything else moves, with the baselines it advances and the instances' files it consumed:
// after a crash, or an answer lost on the way back, the same transactions go again, with the same
// periods, and the master counts each once per (computer, reference, period). Without it, a
// journal the master took but whose answer never arrived was measured again under a longer period
// (the baselines had not moved), and the same CPU time was billed twice.
//
//   save_outbox(path, box);          // durable: from here on these transactions will be delivered
//   apply_outbox(box, current);      // baselines and file renames (safe to repeat)
//   post ... remove_outbox(path);
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "node/beneath.h"
#include "node/status.h"

namespace slap::node {

// An instance's consumption file, by name in <partition>/var/xml_report, with the identity it had
// when read: a later file under the same name is a new report, never renamed in its place.
struct ConsumedFile {
  std::string partition;  // the partition's directory
  std::string name;
  FileId id;
};
inline constexpr const char* kConsumptionDir = "var/xml_report";

struct UsageOutbox {
  struct Transaction {  // one partition's
    std::string journal;        // TioXML of this one transaction
    std::string measured_only;  // the same without the instance's own movements; "" when it has none
    std::vector<ConsumedFile> files;
    bool refused_full = false;  // the master refused `journal`: measured_only goes, the files are .refused
    const std::string& current() const { return refused_full ? measured_only : journal; }
  };
  std::vector<Transaction> transactions;
  struct Baseline {
    std::string state_dir, name, content;  // a file of a partition's state directory, as it becomes
    std::string instance;                  // the instance it was measured for
  };
  std::vector<Baseline> baselines;
};

Status save_outbox(const std::string& path, const UsageOutbox& box);
// nullopt when there is none; an error when it exists but cannot be read.
Result<std::optional<UsageOutbox>> load_outbox(const std::string& path);
Status remove_outbox(const std::string& path);
// Writes the baselines `current` accepts (Node::baseline_current), and renames the consumed files
// still there under the identity they were read with. Safe to repeat.
// False when a baseline `current` accepts could not be written (the journal must not go then).
[[nodiscard]] bool apply_outbox(const UsageOutbox& box, const std::function<bool(const UsageOutbox::Baseline&)>& current);
// Renames a consumed file (`from_suffix` appended to its name, "" for the file itself) to its name
// and `to_suffix`, if it still has the identity it was read with.
void rename_consumed(const ConsumedFile& f, const char* from_suffix, const char* to_suffix);

}  // namespace slap::node
