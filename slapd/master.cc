#include "slapd/master.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <fstream>
#include <sstream>

#include "ledger/rocksdb_storage.h"

namespace slap::slapd {
namespace {

namespace fs = std::filesystem;

ubm::Result<std::string> read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "state", "cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ubm::Error state_error(std::string what) { return ubm::make_error(ubm::Rejection::STORAGE_ERROR, "state", std::move(what)); }

}  // namespace

Master::Master(MasterOptions options)
    : options_(std::move(options)), paths_{options_.state_dir}, market_(market::MarketOptions{.clock = options_.clock}) {}

Master::~Master() { stop(); }

ubm::Result<std::unique_ptr<Master>> Master::open(MasterOptions options) {
  std::unique_ptr<Master> m(new Master(std::move(options)));
  std::error_code ec;
  fs::create_directories(m->paths_.dir, ec);
  if (ec) return state_error("cannot create " + m->paths_.dir.string() + ": " + ec.message());
  fs::permissions(m->paths_.dir, fs::perms::owner_all, ec);

  // The CA and the server's own certificate.
  if (!fs::exists(m->paths_.ca_key())) {
    // A new CA over an existing ledger would lock every identity out (their certificates chain to
    // the old one) and leave the signed checkpoints unverifiable with the ca.crt auditors hold.
    if (fs::exists(m->paths_.ledger() / "CURRENT")) {
      return state_error(m->paths_.ca_key().string() + " is missing but " + m->paths_.ledger().string() +
                         " holds a ledger: restore ca.key and ca.crt from a backup (a new CA would lock every identity out)");
    }
    spdlog::info("initialising a new certificate authority in {}", m->paths_.dir.string());
    auto authority = ca::CertificateAuthority::create("slapledger master CA");
    if (!authority) return authority.error();
    if (auto s = authority->save(m->paths_.dir); !s) return s.error();
  }
  auto authority = ca::CertificateAuthority::load(m->paths_.dir);
  if (!authority) return authority.error();
  m->authority_.emplace(std::move(authority.value()));
  // The server certificate names localhost and the loopback addresses, and every --server-name:
  // issued again when that set changes (a node reaching the master as master.example.org checks
  // that name against it).
  std::vector<std::string> dns{"localhost"}, ips{"127.0.0.1", "::1"};
  for (const auto& n : m->options_.server_names) {
    boost::system::error_code bad;
    (void)boost::asio::ip::make_address(n, bad);
    auto& into = bad ? dns : ips;
    if (std::find(into.begin(), into.end(), n) == into.end()) into.push_back(n);
  }
  std::string names, listed;  // one per line, as recorded; and for the log
  for (const auto* list : {&dns, &ips}) {
    for (const auto& n : *list) {
      names += n + "\n";
      listed += (listed.empty() ? "" : ", ") + n;
    }
  }
  const fs::path names_file = m->paths_.dir / "server.names";
  const auto recorded = read_text(names_file);
  // A state directory from before server.names existed holds a localhost-only certificate.
  const std::string had = recorded ? *recorded : std::string("localhost\n127.0.0.1\n::1\n");
  if (!fs::exists(m->paths_.server_key()) || had != names) {
    auto cert = m->authority_->issue({.subject = dns.size() > 1 ? dns[1] : std::string("localhost"), .kind = ca::IdentityKind::server,
                                      .validity = std::chrono::hours(24 * 3650), .dns_names = dns, .ip_addresses = ips});
    if (!cert) return cert.error();
    if (auto s = ca::write_file(m->paths_.server_crt(), cert->certificate_pem, fs::perms(0644)); !s) return s.error();
    if (auto s = ca::write_file(m->paths_.server_key(), cert->private_key_pem, fs::perms(0600)); !s) return s.error();
    if (auto s = ca::write_file(names_file, names, fs::perms(0644)); !s) return s.error();
    spdlog::info("server certificate for {}", listed);
  }

  // Ledger, market, identities, sequencer.
  auto storage = ledger::open_rocksdb(m->paths_.ledger());
  if (!storage) return storage.error();
  auto projections = m->market_.projections();
  projections.push_back(&m->identities_);
  projections.push_back(&m->signed_head_);
  // Checkpoints come from the sequencer (checkpoint_every below), the one place that can wait
  // until the market's projections are not ahead of the ledger; the ledger takes none of its own.
  auto led = ledger::Ledger::open({.storage = storage.value(), .clock = m->options_.clock, .checkpoint_every = 0, .projections = projections});
  if (!led) return led.error();
  for (const auto& why : led.value()->stats().checkpoints_ignored) spdlog::warn("checkpoint ignored, projection rebuilt from the log: {}", why);
  m->ledger_ = std::move(led.value());
  m->market_.attach(*m->ledger_);
  Master* self = m.get();
  m->durable_gate_ = std::make_unique<DurableGate>(DurableGateSources{[self] { return self->ledger_->head().value(); },
                                                                      [self] { return self->market_.generation(); },
                                                                      [self] { return self->market_.failed(); }});
  m->sequencer_ = std::make_unique<market::Sequencer>(
      m->market_, market::SequencerOptions{.max_batch = m->options_.sequencer_batch,
                                           .checkpoint_every = m->options_.projection_checkpoint_every,
                                           .after_write = [self] { self->durable_gate_->notify(); }});
  if (auto s = m->ensure_admin(); !s) return s.error();
  m->signer_ = std::make_unique<CheckpointSigner>(*m->ledger_, m->signed_head_, *m->authority_, *m->sequencer_, m->options_.checkpoint_interval);

  m->long_poll_ = std::make_unique<LongPoll>();
  m->api_ = std::make_unique<Api>(ApiContext{m->market_, *m->sequencer_, *m->ledger_, m->identities_, *m->authority_, *m->long_poll_, *m->durable_gate_,
                                             m->metrics_, m->reports_, *m->options_.clock, m->signed_head_, m->options_.api});
  spdlog::info("ledger head {} ({} computers, {} instances)", m->ledger_->head().value(), m->market_.computers().size(),
               m->market_.instances().size());
  return m;
}

ubm::Status Master::ensure_admin() {
  // Idempotent, so an init interrupted at any point completes on the next start.
  if (fs::exists(paths_.admin_key())) return {};
  std::vector<market::Command> commands;
  if (!ledger_->directory().node_kind(kAdminId)) {
    commands.push_back(market::RegisterParty{std::string(kAdminId), ubm::NodeKind::person, "Administrator"});
  }
  auto cert = authority_->issue({.subject = std::string(kAdminId), .kind = ca::IdentityKind::person});
  if (!cert) return cert.error();
  commands.push_back(market::RecordIdentity{ubm::Identity{ubm::IdentityAction::issue, std::string(kAdminId), cert->serial_hex,
                                                          cert->fingerprint_sha256, ubm::TimestampNs{cert->not_before_ns},
                                                          ubm::TimestampNs{cert->not_after_ns}, "admin"}});
  // Removing admin.key and starting again is how the administrator's certificate is renewed
  // (expired) or rotated (leaked): the previous ones are revoked with it.
  for (const auto& serial : identities_.serials_of(kAdminId)) commands.push_back(revocation(std::string(kAdminId), serial));
  for (auto& c : commands) {
    auto r = sequencer_->submit(std::move(c)).get();
    if (!r) return r.error();
  }
  if (auto s = ca::write_file(paths_.admin_crt(), cert->certificate_pem, fs::perms(0644)); !s) return s;
  return ca::write_file(paths_.admin_key(), cert->private_key_pem, fs::perms(0600));
}

ubm::Status Master::serve() {
  auto cert = read_text(paths_.server_crt());
  if (!cert) return cert.error();
  auto key = read_text(paths_.server_key());
  if (!key) return key.error();
  auto tls = http::make_server_tls(*cert, *key, authority_->certificate_pem());
  if (!tls) return tls.error();
  tls_ = tls.value();
  auto options = options_.server;
  options.listen = options_.listen;
  Api* api = api_.get();
  // Commands submitted while an I/O thread runs its ready handlers wake the sequencer once, after
  // the pass (HTTP request scenario: one futex wake per request and a deciding thread that slept
  // and woke for batches of one).
  market::Sequencer* sequencer = sequencer_.get();
  options.after_pass = [sequencer] { sequencer->wake(); };
  api->ctx().submit_wake = market::Sequencer::Wake::later;
  server_ = std::make_unique<http::Server>(*tls_, options, [api](http::Request&& req, http::Respond respond) { api->handle(std::move(req), std::move(respond)); });
  if (auto s = server_->start(); !s) return s;
  for (const auto& ep : server_->endpoints()) spdlog::info("listening on https://{}", (ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string()) + ":" + std::to_string(ep.port()));
  return {};
}

void Master::stop() {
  // Order matters: parked long polls and queued commands answer while the I/O threads still run;
  // only then are the threads joined and the objects destroyed (nothing refers to a dead one).
  if (signer_) signer_->stop();          // no periodic checkpoint races the final one
  if (long_poll_) long_poll_->close();   // park no more; answer every parked poll now
  if (sequencer_) sequencer_->close();   // decide what is queued (durably), refuse the rest
  if (durable_gate_) durable_gate_->close();  // replies still held (none once all is written) answer 503
  record_final_checkpoint();             // the ledger can still be written
  signer_.reset();
  if (server_) {
    server_->stop();                     // replies in flight go out; threads joined
    server_.reset();
  }
  api_.reset();
  long_poll_.reset();
  sequencer_.reset();
  if (ledger_) {
    spdlog::info("ledger closed at head {}", ledger_->head().value());
    ledger_.reset();  // writes checkpoints
  }
}

void Master::record_final_checkpoint() {
  if (!signer_ || !ledger_) return;
  auto command = signer_->prepare();
  if (!command) {
    spdlog::error("final signed checkpoint: {}", command.error().to_string());
    return;
  }
  if (!*command) return;  // the head is a checkpoint already
  // The sequencer's thread has ended (close() joined it), so this thread is now the market's only
  // caller, as its threading contract requires.
  auto recorded = market_.execute(**command);
  if (!recorded) {
    spdlog::error("final signed checkpoint not recorded: {}", recorded.error().to_string());
    return;
  }
  spdlog::info("signed checkpoint of seq {}", (*command)->checkpoint.seq.value());
}

std::vector<boost::asio::ip::tcp::endpoint> Master::endpoints() const {
  return server_ ? server_->endpoints() : std::vector<boost::asio::ip::tcp::endpoint>{};
}

}  // namespace slap::slapd
