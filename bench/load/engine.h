#pragma once
// The load engine: N keep-alive HTTPS connections (with a client certificate) multiplexed on T
// threads, one single-threaded io_context per thread so a connection never needs a strand. Each
// connection is a closed loop — `pipeline` requests in flight (HTTP/1.1 pipelining; 1: the next
// sent when the answer is read), a new one sent as each answer is read — so the latency measured
// is the server's (plus the loopback and the client's own work). Requests are serialised by hand
// and those ready together leave in one write: the client must cost little, it shares the cores.
//
// A scenario supplies the calls (`next`) and judges the answers (`judge`); the engine measures,
// counts transport failures and reconnects (after a failure or when the server closes).
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace slap::load {

struct Call {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string target;  // path and query
  std::string body;    // sent as application/json when non-empty or for POST
  std::string if_none_match;
  uint64_t tag = 0;  // the scenario's own reference (e.g. an index into its results)
};

struct Answer {
  unsigned status = 0;  // 0 when the transport failed
  std::string body;
  std::string etag;
  std::string error;  // transport failure, else empty
};

struct Plan {
  boost::asio::ip::tcp::endpoint endpoint;
  std::string host = "localhost";  // Host header
  boost::asio::ssl::context* tls = nullptr;
  size_t connections = 1;
  unsigned threads = 1;
  size_t pipeline = 1;  // requests in flight per connection
  // 0: run until every connection's `next` says there is nothing more; otherwise stop sending
  // new requests once this much time has passed (the requests in flight still complete).
  std::chrono::nanoseconds duration{0};
  // Fills the next call of connection `conn`; false when that connection has nothing more to send.
  // Called on the connection's thread.
  std::function<bool(size_t conn, Call&)> next;
  // Judges an answer on the connection's thread (also for transport failures, status 0); false
  // counts it as an error.
  std::function<bool(size_t conn, const Call&, Answer&&)> judge;
};

struct Outcome {
  uint64_t requests = 0;  // answered, whatever the status
  uint64_t errors = 0;    // transport failures and answers judged wrong
  uint64_t transport_errors = 0;
  uint64_t reconnects = 0;  // new connections after the first (server closed, or failure)
  double seconds = 0;       // from the first request sent to the last answer read
  std::vector<uint32_t> latencies_us;  // one per answered request, unsorted
  std::string first_transport_error;
};

// Connects every connection first (TLS handshakes are not timed), then runs the plan.
Outcome run(const Plan& plan);

}  // namespace slap::load
