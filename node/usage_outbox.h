#pragma once
// The usage journal between "measured" and "the master took it". It is kept in one file, written
// before anything else moves, with the baselines it advances and the instances' files it consumed:
// after a crash, or an answer lost on the way back, the same journal goes again, with the same
// periods, and the master counts each transaction once per (computer, reference, period). Without
// it, a journal the master took but whose answer never arrived was measured again under a longer
// period (the baselines had not moved), and the same CPU time was billed twice.
//
//   UsageOutbox box{journal, measured_only, baselines, files};
//   save_outbox(path, box);          // durable: from here on the journal will be delivered
//   apply_outbox(box);               // baselines and file renames (idempotent)
//   post(box.journal) ... remove_outbox(path);
#include <optional>
#include <string>
#include <vector>

#include "node/status.h"

namespace slap::node {

struct UsageOutbox {
  std::string journal;        // TioXML to post
  std::string measured_only;  // the same without the instances' own movements; "" when it has none
  struct Baseline {
    std::string state_dir, name, content;  // a file of a partition's state directory, as it becomes
  };
  std::vector<Baseline> baselines;
  std::vector<std::string> instance_files;  // consumed consumption files: renamed .reported (.refused)
  bool refused_full = false;                // the master refused `journal` with the instances' movements
};

Status save_outbox(const std::string& path, const UsageOutbox& box);
// nullopt when there is none; an error when it exists but cannot be read (it is then set aside).
Result<std::optional<UsageOutbox>> load_outbox(const std::string& path);
Status remove_outbox(const std::string& path);
// Writes the baselines and renames the consumed files; safe to repeat.
void apply_outbox(const UsageOutbox& box);

}  // namespace slap::node
