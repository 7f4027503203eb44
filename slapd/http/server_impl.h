#pragma once
// Private to slapd/http: the server's shared state, seen by the acceptor (server.cc) and by each
// connection (session.cc).
#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "slapd/http/server.h"

namespace slap::http {

// One io_context per I/O thread, each connection on one of them for its whole life (round robin
// at accept): a connection's handlers never hop between threads, and an I/O thread waits in its own
// epoll, not on a lock and condition variable shared with the others as threads sharing one
// io_context do (HTTP request scenario, 2 threads on one io_context: ~6 futex calls per request).
struct Server::Impl {
  using Work = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  Impl(boost::asio::ssl::context& t, ServerOptions o, Handler h, ServerCounters& c)
      : tls(t), options(std::move(o)), handler(std::move(h)), counters(c) {
    const unsigned n = std::max(1u, options.io_threads);
    for (unsigned i = 0; i < n; ++i) {
      ios.push_back(std::make_unique<boost::asio::io_context>(1));  // one thread runs it
      work.push_back(boost::asio::make_work_guard(*ios.back()));
    }
  }
  boost::asio::ssl::context& tls;
  ServerOptions options;
  Handler handler;
  ServerCounters& counters;
  std::vector<std::unique_ptr<boost::asio::io_context>> ios;  // ios[0] also runs the acceptors
  std::vector<Work> work;
  size_t next_io = 0;  // the io_context of the next accepted connection (the acceptors' thread only)
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> in_flight{0};  // requests handed to the handler and not answered yet
  void accept(boost::asio::ip::tcp::acceptor& acceptor);
};

// Starts serving one accepted connection (TLS handshake, then requests until either side closes).
void start_session(boost::asio::ip::tcp::socket socket, Server::Impl& server);

}  // namespace slap::http
