#pragma once
// Private to slapd/http: the server's shared state, seen by the acceptor (server.cc) and by each
// connection (session.cc).
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

struct Server::Impl {
  Impl(boost::asio::ssl::context& t, ServerOptions o, Handler h, ServerCounters& c)
      : tls(t), options(std::move(o)), handler(std::move(h)), counters(c), work(boost::asio::make_work_guard(io)) {}
  boost::asio::ssl::context& tls;
  ServerOptions options;
  Handler handler;
  ServerCounters& counters;
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> in_flight{0};  // requests handed to the handler and not answered yet
  void accept(boost::asio::ip::tcp::acceptor& acceptor);
};

// Starts serving one accepted connection (TLS handshake, then requests until either side closes).
void start_session(boost::asio::ip::tcp::socket socket, Server::Impl& server);

}  // namespace slap::http
