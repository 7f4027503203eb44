// One HTTPS connection: TLS handshake, then requests read back to back (HTTP/1.1 pipelining) and
// answered strictly in the order they came, whatever order the handlers finish in. Answers that
// are ready together leave in one write (one TLS record, one system call): under load a client
// with several requests in flight costs the server far fewer wake-ups and syscalls per request.
//
// Everything here runs on the connection's io_context, which one thread runs (server_impl.h): its handlers
// never run concurrently. Deadlines use one timer that is re-armed
// lazily (a deadline moving later costs a store, not a timer operation):
//   read:  a whole request must arrive within read_timeout while we owe the client nothing (a
//          client waiting for an answer, e.g. a long poll, is not slow);
//   write: each write must finish within write_timeout.
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstring>
#include <deque>
#include <optional>

#include "slapd/http/server_impl.h"
#include "slapd/http/wire.h"

namespace slap::http {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// Requests read ahead and not yet answered, per connection. Past it the server stops reading until
// an answer is written, so a client cannot queue unbounded work.
constexpr size_t kMaxPipelined = 16;

Response internal_error(const char* what) {
  Response r;
  r.status = 500;
  r.body = std::string(R"({"error":"internal","detail":")") + (std::strchr(what, '"') ? "see the master's log" : what) + "\"}";
  return r;
}

// Runs a reply maker; an exception becomes a 500 instead of unwinding through Asio.
Response guarded(Respond::Make& make) {
  try {
    return make();
  } catch (const std::exception& e) {
    return internal_error(e.what());
  }
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Server::Impl& server)
      : stream_(std::move(socket), server.tls), timer_(stream_.get_executor()), server_(server) {}
  ~Session() { --server_.counters.connections_open; }

  void run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->handshake(); });
  }

 private:
  // An answer owed to the client, in request order.
  struct Slot {
    unsigned version = 11;
    bool keep_alive = true;
    bool ready = false;
    bool close = false;  // close the connection once this answer is written
    std::string wire;    // the serialised answer, once ready
  };

  void handshake() {
    beast::get_lowest_layer(stream_).expires_after(server_.options.handshake_timeout);
    stream_.async_handshake(net::ssl::stream_base::server, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->close_tcp();
      beast::get_lowest_layer(self->stream_).expires_never();  // our own timer from now on
      beast::error_code rec;
      auto remote = beast::get_lowest_layer(self->stream_).socket().remote_endpoint(rec);
      if (!rec) self->remote_ = remote.address().to_string();
      self->identify();
      self->read();
    });
  }

  // The TLS layer accepted any certificate (see make_server_tls); decide here what it is worth.
  void identify() {
    SSL* ssl = stream_.native_handle();
    X509* cert = SSL_get1_peer_certificate(ssl);
    if (cert == nullptr) {
      problem_ = "no client certificate";
      return;
    }
    const long verdict = SSL_get_verify_result(ssl);
    if (verdict != X509_V_OK) {
      problem_ = std::string("client certificate refused: ") + X509_verify_cert_error_string(verdict);
    } else {
      auto id = ca::identity_of_x509(cert);
      if (id) {
        peer_ = std::move(id.value());
      } else {
        problem_ = id.error().detail;
      }
    }
    X509_free(cert);
  }

  // --- reading ---------------------------------------------------------------------------------

  void read() {
    if (reading_ || read_stopped_ || closing_ || closed_) return;
    if (server_.stopping) {
      read_stopped_ = true;
      return finish_if_done();
    }
    if (pending_.size() >= kMaxPipelined) return;  // resumed by on_written
    reading_ = true;
    parser_.emplace();
    parser_->body_limit(server_.options.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(server_.options.max_header_bytes));
    read_started_ = Clock::now();
    arm();
    bhttp::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    reading_ = false;
    if (closed_) return;
    if (ec == bhttp::error::end_of_stream || ec == net::ssl::error::stream_truncated) {
      read_stopped_ = true;  // answer what was asked, then close
      return finish_if_done();
    }
    if (ec == bhttp::error::body_limit || ec == bhttp::error::header_limit) {
      ++server_.counters.oversized;
      const bool body = ec == bhttp::error::body_limit;
      Response r;
      r.status = body ? 413 : 431;
      r.body = std::string(R"({"error":")") + (body ? "payload_too_large" : "header_too_large") + R"(","detail":"limit is )" +
               std::to_string(body ? server_.options.max_body_bytes : server_.options.max_header_bytes) + R"( bytes"})";
      r.close = true;
      return answer_and_stop(std::move(r));
    }
    if (ec) {
      if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category()) {  // malformed HTTP
        Response r;
        r.status = 400;
        r.body = R"({"error":"bad_request","detail":"malformed HTTP request"})";
        r.close = true;
        return answer_and_stop(std::move(r));
      }
      return close_tcp();
    }
    auto msg = parser_->release();
    const bool keep_alive = msg.keep_alive();
    if (!keep_alive) read_stopped_ = true;
    pending_.push_back(Slot{msg.version(), keep_alive});
    const uint64_t seq = first_seq_ + pending_.size() - 1;

    Request req;
    req.method = msg.method();
    req.target = std::string(msg.target());
    req.body = std::move(msg.body());
    if (auto it = msg.find(bhttp::field::if_none_match); it != msg.end()) req.if_none_match = std::string(it->value());
    req.remote = remote_;
    req.peer = peer_;
    req.certificate_problem = problem_;
    ++server_.in_flight;
    // Exactly one reply per request: a second call is dropped rather than answering twice.
    auto answered = std::make_shared<std::atomic<bool>>(false);
    Respond respond(
        [self = shared_from_this(), answered, seq](Respond::Make make) {
          if (answered->exchange(true)) return;
          net::post(self->stream_.get_executor(), [self, seq, make = std::move(make)]() mutable {
            --self->server_.in_flight;
            self->complete(seq, guarded(make));
          });
        },
        [self = shared_from_this()](std::function<void()> fn) { net::post(self->stream_.get_executor(), std::move(fn)); });
    try {
      server_.handler(std::move(req), respond);
    } catch (const std::exception& e) {  // a handler bug must not take the I/O thread down
      respond(internal_error(e.what()));
    }
    read();  // the client may already have sent its next request
  }

  // A refusal at the HTTP layer: answered after whatever is owed before it, then the connection
  // closes (the stream cannot be trusted to find the next request).
  void answer_and_stop(Response r) {
    read_stopped_ = true;
    pending_.push_back(Slot{version_of_last(), false});
    complete(first_seq_ + pending_.size() - 1, std::move(r));
  }

  unsigned version_of_last() const { return pending_.empty() ? 11 : pending_.back().version; }

  // --- writing ---------------------------------------------------------------------------------

  void complete(uint64_t seq, Response r) {
    if (closed_ || closing_ || seq < first_seq_) return;  // the connection is going away
    Slot& s = pending_[seq - first_seq_];
    s.close = r.close || !s.keep_alive || server_.stopping;
    append_response(s.wire, r, s.version, !s.close);
    s.ready = true;
    // Not at once: the answers decided in the same batch are already queued behind this one on the connection's
    // io_context, and flushing after them sends them together.
    if (flush_scheduled_ || writing_) return;  // on_written flushes too
    flush_scheduled_ = true;
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      self->flush_scheduled_ = false;
      self->flush();
    });
  }

  // Writes every answer that is ready at the head of the queue, in one go.
  void flush() {
    if (writing_ || closing_ || closed_) return;
    write_buf_.clear();
    while (!pending_.empty() && pending_.front().ready) {
      Slot& s = pending_.front();
      if (write_buf_.empty()) {
        write_buf_.swap(s.wire);
      } else {
        write_buf_.append(s.wire);
      }
      const bool close = s.close;
      pending_.pop_front();
      ++first_seq_;
      if (close) {
        closing_ = true;  // what was read after it is not answered
        break;
      }
    }
    if (write_buf_.empty()) return finish_if_done();
    writing_ = true;
    write_started_ = Clock::now();
    arm();
    net::async_write(stream_, net::buffer(write_buf_), [self = shared_from_this()](beast::error_code ec, size_t) { self->on_written(ec); });
  }

  void on_written(beast::error_code ec) {
    writing_ = false;
    if (closed_) return;
    if (ec) return close_tcp();
    if (closing_) return reading_ ? close_tcp() : shutdown();  // no TLS close under a pending read
    if (pending_.empty() && reading_) read_started_ = Clock::now();  // idle from now on
    flush();
    read();
    arm();
  }

  // The client will send nothing more: close once everything owed is written.
  void finish_if_done() {
    if (read_stopped_ && pending_.empty() && !writing_ && !reading_ && !closing_) {
      closing_ = true;
      shutdown();
    }
  }

  // --- deadlines -------------------------------------------------------------------------------

  Clock::time_point next_deadline() const {
    auto at = Clock::time_point::max();
    if (reading_ && pending_.empty() && !writing_) at = read_started_ + server_.options.read_timeout;
    if (writing_) at = std::min(at, write_started_ + server_.options.write_timeout);
    return at;
  }

  void arm() {
    const auto at = next_deadline();
    if (at == Clock::time_point::max() || (timer_armed_ && timer_at_ <= at) || closed_) return;
    timer_armed_ = true;
    timer_at_ = at;
    timer_.expires_at(at);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) { self->on_timer(ec); });
  }

  void on_timer(beast::error_code ec) {
    if (ec == net::error::operation_aborted || closed_) return;  // re-armed or closed
    timer_armed_ = false;
    if (next_deadline() <= Clock::now()) {
      ++server_.counters.timeouts;
      return close_tcp();
    }
    arm();  // the deadline moved later meanwhile
  }

  // --- closing ---------------------------------------------------------------------------------

  void shutdown() {
    if (closed_) return;
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) { self->close_tcp(); });
  }

  void close_tcp() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    beast::error_code ec;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(stream_).close();
  }

  beast::ssl_stream<beast::tcp_stream> stream_;
  net::steady_timer timer_;
  Server::Impl& server_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<ca::PeerIdentity> peer_;
  std::string problem_;
  std::string remote_;

  std::deque<Slot> pending_;  // answers owed, oldest first; pending_[0] answers request first_seq_
  uint64_t first_seq_ = 0;
  std::string write_buf_;     // what the write in progress sends
  bool reading_ = false, writing_ = false, flush_scheduled_ = false;
  bool read_stopped_ = false;  // no more requests will be read (client closed, or Connection: close)
  bool closing_ = false;       // the last answer is written or being written
  bool closed_ = false;
  Clock::time_point read_started_, write_started_;
  bool timer_armed_ = false;
  Clock::time_point timer_at_;
};

}  // namespace

void start_session(tcp::socket socket, Server::Impl& server) { std::make_shared<Session>(std::move(socket), server)->run(); }

}  // namespace slap::http
