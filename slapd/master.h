#pragma once
// slapmaster assembled: the ledger on RocksDB, the market and its sequencer (the one writer), the
// identity registry, the CA, the long-poll waiter, the API and the HTTPS server.
//
//   auto master = Master::open({.state_dir = dir, .listen = {...}});   // initialises an empty dir
//   (*master)->serve();  ...  (*master)->stop();
#include <filesystem>
#include <memory>

#include "ledger/ledger.h"
#include "ledger/signed_head.h"
#include "market/market.h"
#include "market/sequencer.h"
#include "slapd/api/api.h"
#include "slapd/ca/certificate_authority.h"
#include "slapd/checkpoint_signer.h"
#include "slapd/http/server.h"
#include "slapd/durable_gate.h"
#include "slapd/identity_registry.h"
#include "slapd/long_poll.h"
#include "slapd/metrics.h"
#include "slapd/node_reports.h"

namespace slap::slapd {

inline constexpr std::string_view kAdminId = "PERSON-admin";

// Files in the state directory.
struct StatePaths {
  std::filesystem::path dir;
  std::filesystem::path ledger() const { return dir / "ledger"; }
  std::filesystem::path ca_crt() const { return dir / "ca.crt"; }
  std::filesystem::path ca_key() const { return dir / "ca.key"; }
  std::filesystem::path admin_crt() const { return dir / "admin.crt"; }
  std::filesystem::path admin_key() const { return dir / "admin.key"; }
  std::filesystem::path server_crt() const { return dir / "server.crt"; }
  std::filesystem::path server_key() const { return dir / "server.key"; }
};

struct MasterOptions {
  std::filesystem::path state_dir;
  std::vector<boost::asio::ip::tcp::endpoint> listen;
  http::ServerOptions server;  // limits; `listen` above wins
  ApiLimits api;
  ledger::Clock* clock = &ledger::SystemClock::instance();
  size_t sequencer_batch = 1000;
  uint64_t projection_checkpoint_every = 100'000;  // entries between projection checkpoints, at least (SequencerOptions)
  std::chrono::milliseconds checkpoint_interval{60'000};  // between signed checkpoints (skipped when idle)
  // Names and addresses nodes and people reach the master by (DNS names or IP literals), in the
  // server certificate beside localhost, 127.0.0.1 and ::1; the certificate is issued again when
  // the set changes (recorded in server.names).
  std::vector<std::string> server_names;
};

class Master {
 public:
  // Opens the state directory, creating the ledger, the CA (ca.crt, ca.key 0600), the server
  // certificate and the administrator (admin.crt, admin.key 0600) when they are missing.
  static ubm::Result<std::unique_ptr<Master>> open(MasterOptions options);
  ~Master();

  [[nodiscard]] ubm::Status serve();
  // Stops accepting, answers what is in flight, drains the sequencer, records a signed checkpoint
  // of the final head, checkpoints the ledger's projections.
  void stop();
  std::vector<boost::asio::ip::tcp::endpoint> endpoints() const;
  ledger::Ledger& ledger() { return *ledger_; }

 private:
  explicit Master(MasterOptions options);
  ubm::Status ensure_admin();
  void record_final_checkpoint();

  MasterOptions options_;
  StatePaths paths_;
  std::optional<ca::CertificateAuthority> authority_;
  IdentityRegistry identities_;
  ledger::SignedHead signed_head_;
  market::Market market_;
  std::unique_ptr<ledger::Ledger> ledger_;
  std::unique_ptr<DurableGate> durable_gate_;  // declared before the sequencer that notifies it: outlives it
  std::unique_ptr<market::Sequencer> sequencer_;
  std::unique_ptr<CheckpointSigner> signer_;
  Metrics metrics_;
  NodeReports reports_;
  std::unique_ptr<LongPoll> long_poll_;
  std::unique_ptr<Api> api_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  std::unique_ptr<http::Server> server_;
};

}  // namespace slap::slapd
