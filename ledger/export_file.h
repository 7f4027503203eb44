#pragma once
// A ledger export: one self-contained file holding the log's records exactly as stored, so an
// auditor can verify the hash chain and replay it offline, without RocksDB or the master
// (FORMAT.md, "Export file"). Writing copies raw bytes (nothing is re-encoded); reading maps the
// file and serves it as a read-only Storage, so verify(), replay() and scan_log() work unchanged.
#include <filesystem>
#include <cstdint>
#include <functional>
#include <memory>
#include <variant>

#include "ledger/storage.h"
#include "ubm/ids.h"

namespace slap::ledger {

inline constexpr std::string_view kExportMagic{"slapledger-log\n\0", 16};
inline constexpr uint32_t kExportVersion = 1;
inline constexpr size_t kExportHeaderSize = 32;
inline constexpr size_t kExportFrameHeaderSize = 16;

struct ExportReport {
  uint64_t entries = 0;
  uint64_t bytes = 0;   // of the file
  ubm::Seq head{0};
};

// Writes every record of `storage`'s log to `out` (through a temporary file renamed into place, so
// a crash never leaves a half file under the final name). `progress` is called now and then.
[[nodiscard]] ubm::Result<ExportReport> write_export(const Storage& storage, const std::filesystem::path& out,
                                                     const std::function<void(ubm::Seq)>& progress = {});

// Why an export could not be opened: the file is missing or unreadable (an operator's problem), or
// it is not a well-formed export (what an auditor must treat as tampering).
enum class ExportOpenFailure { unreadable, malformed };
struct ExportOpenError {
  ExportOpenFailure failure;
  std::string detail;  // names the byte offset for a malformed file
};

// Maps `file` and checks its framing: magic, version, frame count, ascending keys, zero padding,
// nothing after the last frame. Records are not checked here: verify() does that. Only the log
// family has content; writes fail.
std::variant<std::shared_ptr<Storage>, ExportOpenError> open_export(const std::filesystem::path& file);

}  // namespace slap::ledger
