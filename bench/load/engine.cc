#include "bench/load/engine.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <deque>
#include <memory>
#include <optional>
#include <thread>

namespace slap::load {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using Clock = std::chrono::steady_clock;
using Stream = beast::ssl_stream<beast::tcp_stream>;

// Generous: a timeout here means the server stalled, which the run reports as an error.
constexpr auto kIoTimeout = std::chrono::seconds(30);
// A connection that fails this many times in a row stops (so a dead server cannot loop us forever).
constexpr int kMaxConsecutiveFailures = 3;
// Responses are at most a computer view; the limit only guards against a runaway server.
constexpr uint64_t kBodyLimit = 64u << 20;

// One per thread; only its own thread touches it while the io_context runs.
struct Worker {
  net::io_context io{1};  // concurrency hint 1: a single thread runs it, so no internal locking
  std::vector<uint32_t> latencies_us;
  uint64_t requests = 0, errors = 0, transport_errors = 0, reconnects = 0;
  std::string first_transport_error;
};

class Connection {
 public:
  Connection(const Plan& plan, Worker& worker, size_t index, const Clock::time_point& deadline)
      : plan_(plan), w_(worker), index_(index), deadline_(deadline), depth_(std::max<size_t>(1, plan.pipeline)) {
    buffer_.reserve(64 << 10);  // room for a whole view: no regrowth on the first answers
  }

  Worker& worker() { return w_; }

  // Phase 1: TCP connect and TLS handshake, then `then`.
  void connect(std::function<void()> then) {
    stream_.emplace(w_.io, *plan_.tls);
    connected_ = false;
    beast::get_lowest_layer(*stream_).expires_after(kIoTimeout);
    beast::get_lowest_layer(*stream_).async_connect(plan_.endpoint, [this, then](beast::error_code ec) {
      if (ec) return connect_failed(ec, then);
      beast::get_lowest_layer(*stream_).socket().set_option(net::ip::tcp::no_delay(true), ec);
      stream_->async_handshake(net::ssl::stream_base::client, [this, then](beast::error_code hec) {
        if (hec) return connect_failed(hec, then);
        connected_ = true;
        failures_ = 0;
        then();
      });
    });
  }

  // Phase 2: the request loop.
  void start() {
    if (connected_) fill();
  }

 private:
  struct InFlight {
    Call call;
    Clock::time_point sent;
  };

  void note_transport_error(const beast::error_code& ec) {
    ++w_.transport_errors;
    ++w_.errors;
    if (w_.first_transport_error.empty()) w_.first_transport_error = ec.message();
  }

  void close_socket() {
    if (stream_) beast::get_lowest_layer(*stream_).close();
    connected_ = false;
  }

  void connect_failed(const beast::error_code& ec, const std::function<void()>& then) {
    note_transport_error(ec);
    close_socket();
    if (++failures_ >= kMaxConsecutiveFailures) return;  // this connection gives up
    ++w_.reconnects;
    connect(then);
  }

  // Sends calls until `depth_` are in flight (or the plan has nothing more), then reads.
  void fill() {
    if (broken_ || !connected_) return;
    const auto now = Clock::now();
    while (!done_sending_ && in_flight_.size() < depth_) {
      if (now >= deadline_) {
        done_sending_ = true;
        break;
      }
      InFlight f;
      if (!plan_.next(index_, f.call)) {
        done_sending_ = true;
        break;
      }
      append_request(f.call);
      f.sent = now;
      in_flight_.push_back(std::move(f));
    }
    if (in_flight_.empty()) return close_socket();  // done
    // Another answer already (partly) here: read it first, so the calls it frees leave together.
    if (buffer_.size() == 0) write();
    read();
  }

  void append_request(const Call& c) {
    out_.append(bhttp::to_string(c.method)).append(" ").append(c.target).append(" HTTP/1.1\r\nHost: ").append(plan_.host).append("\r\n");
    if (!c.if_none_match.empty()) out_.append("If-None-Match: ").append(c.if_none_match).append("\r\n");
    if (!c.body.empty() || c.method == bhttp::verb::post) {
      out_.append("Content-Type: application/json\r\nContent-Length: ").append(std::to_string(c.body.size())).append("\r\n\r\n");
      out_.append(c.body);
    } else {
      out_.append("\r\n");
    }
  }

  void write() {
    if (writing_ || out_.empty()) return;
    writing_ = true;
    sending_.swap(out_);
    out_.clear();
    beast::get_lowest_layer(*stream_).expires_after(kIoTimeout);
    net::async_write(*stream_, net::buffer(sending_), [this](beast::error_code ec, size_t) {
      writing_ = false;
      sending_.clear();
      if (ec || broken_) return failed(ec);
      write();
    });
  }

  void read() {
    if (reading_ || in_flight_.empty()) return write();
    reading_ = true;
    parser_.emplace();
    parser_->body_limit(kBodyLimit);
    bhttp::async_read(*stream_, buffer_, *parser_, [this](beast::error_code ec, size_t) {
      reading_ = false;
      if (ec || broken_) return failed(ec);
      on_answer();
    });
  }

  void on_answer() {
    InFlight f = std::move(in_flight_.front());
    in_flight_.pop_front();
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - f.sent).count();
    w_.latencies_us.push_back(static_cast<uint32_t>(us));
    ++w_.requests;
    auto res = parser_->release();
    Answer a;
    a.status = res.result_int();
    if (auto it = res.find(bhttp::field::etag); it != res.end()) a.etag = std::string(it->value());
    a.body = std::move(res.body());
    const bool keep = res.keep_alive();
    if (!plan_.judge(index_, f.call, std::move(a))) ++w_.errors;
    if (keep) return fill();
    // The server closes (e.g. a per-connection request cap): what was sent behind this answer is
    // lost; open a new connection, not an error unless requests were lost.
    closed_by_server_ = true;
    failed(beast::error_code());
  }

  // A transport failure (or the server closing): every call in flight is judged failed, and once
  // no operation is pending on the old stream a new connection takes over.
  void failed(const beast::error_code& ec) {
    if (!broken_) {
      broken_ = true;
      if (ec) note_transport_error(ec);
      for (auto& f : in_flight_) {
        if (!ec) note_transport_error(net::error::connection_aborted);
        Answer a;
        a.error = ec ? ec.message() : "connection closed by the server with requests in flight";
        plan_.judge(index_, f.call, std::move(a));
      }
      in_flight_.clear();
      out_.clear();
      close_socket();
    }
    if (reading_ || writing_) return;  // the other operation completes (aborted) first
    broken_ = false;
    if (!closed_by_server_ && ++failures_ >= kMaxConsecutiveFailures) return;
    closed_by_server_ = false;
    ++w_.reconnects;
    connect([this] { fill(); });
  }

  const Plan& plan_;
  Worker& w_;
  const size_t index_;
  const Clock::time_point& deadline_;
  const size_t depth_;
  std::optional<Stream> stream_;  // re-created on reconnect: an SSL stream cannot be reused
  beast::flat_buffer buffer_;
  std::optional<bhttp::response_parser<bhttp::string_body>> parser_;
  std::deque<InFlight> in_flight_;  // sent, oldest first
  std::string out_;                 // requests not yet handed to a write
  std::string sending_;             // the write in progress
  bool reading_ = false, writing_ = false;
  bool done_sending_ = false;
  bool broken_ = false;            // failed: waiting for the pending operations to end
  bool closed_by_server_ = false;
  bool connected_ = false;
  int failures_ = 0;
};

void run_workers(std::vector<std::unique_ptr<Worker>>& workers) {
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&io = w->io] { io.run(); });
  for (auto& t : threads) t.join();
  for (auto& w : workers) w->io.restart();
}

}  // namespace

Outcome run(const Plan& plan) {
  const size_t connections = std::max<size_t>(1, plan.connections);
  const unsigned threads = static_cast<unsigned>(std::min<size_t>(std::max(1u, plan.threads), connections));
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned t = 0; t < threads; ++t) workers.push_back(std::make_unique<Worker>());
  Clock::time_point deadline = Clock::time_point::max();  // set before phase 2 starts its threads
  std::vector<std::unique_ptr<Connection>> conns;
  for (size_t k = 0; k < connections; ++k) conns.push_back(std::make_unique<Connection>(plan, *workers[k % threads], k, deadline));

  for (auto& c : conns) net::post(c->worker().io, [c = c.get()] { c->connect([] {}); });
  run_workers(workers);

  const auto start = Clock::now();
  if (plan.duration.count() > 0) deadline = start + plan.duration;
  for (auto& c : conns) net::post(c->worker().io, [c = c.get()] { c->start(); });
  run_workers(workers);
  const auto end = Clock::now();

  Outcome out;
  out.seconds = std::chrono::duration<double>(end - start).count();
  for (auto& w : workers) {
    out.requests += w->requests;
    out.errors += w->errors;
    out.transport_errors += w->transport_errors;
    out.reconnects += w->reconnects;
    if (out.first_transport_error.empty()) out.first_transport_error = w->first_transport_error;
    out.latencies_us.insert(out.latencies_us.end(), w->latencies_us.begin(), w->latencies_us.end());
  }
  return out;
}

}  // namespace slap::load
