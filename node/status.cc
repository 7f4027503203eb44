#include "node/status.h"

namespace slap::node {

const char* errc_name(Errc c) {
  switch (c) {
    case Errc::kOk: return "ok";
    case Errc::kInvalid: return "invalid";
    case Errc::kNotFound: return "not_found";
    case Errc::kIo: return "io";
    case Errc::kUnreachable: return "unreachable";
    case Errc::kProtocol: return "protocol";
    case Errc::kChecksum: return "checksum";
    case Errc::kBuild: return "build";
    case Errc::kCycle: return "cycle";
    case Errc::kTimeout: return "timeout";
    case Errc::kPromise: return "promise";
    case Errc::kCancelled: return "cancelled";
    case Errc::kDeferred: return "deferred";
  }
  return "unknown";
}

}  // namespace slap::node
