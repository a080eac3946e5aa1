// A small HTTP/1.1 server on Boost.Beast, shaped like Beast's own examples: listener -> session -> Router.
// Handlers are plain functions from a request to a response; they never touch a socket.
// The server enforces the limits in ServerOptions itself: oversized bodies get 413, oversized headers 431,
// slow clients are cut off after read_timeout (408 when a request had started), and at most max_connections
// are open at once (extra connections get 503 and are closed). Malformed requests get 400. Every error the
// server produces itself is a JSON body shaped like Response::Error and is followed by closing the
// connection.
//
// Threading: `threads` I/O threads run the sockets; handlers run on a separate pool of `handler_threads`
// threads, so a handler that blocks (a Postgres commit, a provider call) holds up only its own connection,
// never another connection's reads, writes or timeouts. With handler_threads = 0 handlers run inline on the
// I/O threads (only for handlers that never block, such as a metrics endpoint).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace protectogram::http {

struct Request {
  std::string method;                             // "GET", "POST", ...
  std::string target;                             // raw target, path + query
  std::string path;                               // decoded path, no query
  std::multimap<std::string, std::string> query;  // decoded query parameters ('+' is a space)
  std::map<std::string, std::string> headers;     // names lower-cased; repeated headers joined with ","
  std::string body;                               // raw bytes as received
  std::string remote_address;

  // The header's value, or "" when absent. `name` must be lower case.
  std::string_view Header(std::string_view name) const;
  // The first value of a query parameter, or "" when absent.
  std::string_view QueryParam(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Extra headers. Content-Length, Connection and Server are always set by the server and ignored here.
  std::vector<std::pair<std::string, std::string>> headers;

  static Response Json(int status, std::string body);
  static Response Text(int status, std::string body);  // text/plain; charset=utf-8
  // {"error":"<code>","message":"<message>"}, both JSON-escaped.
  static Response Error(int status, std::string_view code, std::string_view message);
};

using Handler = std::function<Response(const Request&)>;

// Route labels for responses no route produced; every label is low-cardinality (safe as a metric label).
inline constexpr std::string_view kRouteUnmatched = "unmatched";  // 404 from the router
inline constexpr std::string_view kRouteRejected = "rejected";    // 400/408/413/431/503 from the server

// Routes by method and exact path, or by path prefix ("/webhook/" matches "/webhook/alpha").
// An exact route wins over a prefix route; among prefixes the longest wins.
// Unknown path -> 404; known path, wrong method -> 405 with an Allow header.
// A handler that throws gets a 500 JSON error (and an error log line) instead.
// Add/AddPrefix are for setup; Dispatch is const and safe to call from many threads.
class Router {
 public:
  void Add(std::string method, std::string path, Handler handler);
  void AddPrefix(std::string method, std::string prefix, Handler handler);
  // The route label used for metrics: the registered path or prefix ("unmatched" when none matched).
  Response Dispatch(const Request& request, std::string* route_label) const;

 private:
  struct Route {
    std::string method;
    std::string path;
    bool prefix;
    Handler handler;
  };
  std::vector<Route> routes_;
};

struct ServerOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 8080;  // 0 picks a free port; see Server::port()
  int threads = 2;       // I/O threads (sockets, parsing, timers)
  // Threads that run handlers; size it for how many handlers may block at once. 0 runs handlers on the
  // I/O threads.
  int handler_threads = 16;
  size_t body_limit = 1 << 20;      // 1 MiB -> 413 above
  size_t header_limit = 16 * 1024;  // -> 431 above (request line and headers together)
  // The whole request (headers and body) must arrive within this time of its first byte (and a new
  // connection must start sending within it); otherwise 408 (or a silent close if nothing was received).
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};   // keep-alive connection with no request
  std::chrono::milliseconds write_timeout{10000};  // writing one response
  size_t max_connections = 1024;
  // Called after every response with the route label, status code and handling time (from the request
  // being read to its response being written). Runs on an I/O thread, possibly on several at once: it must
  // be thread-safe and quick.
  std::function<void(std::string_view route, int status, std::chrono::nanoseconds elapsed)> observer;
};

class Server {
 public:
  Server(ServerOptions options, Router router);
  ~Server();  // Stops if still running.
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts the I/O threads. Returns UNAVAILABLE if the port cannot be bound, INVALID_ARGUMENT for
  // a bad address, FAILED_PRECONDITION if called twice.
  absl::Status Start();
  // The bound port (useful when options.port was 0).
  uint16_t port() const;
  // Stops accepting, lets in-flight requests finish for up to `drain` (their responses carry
  // "Connection: close"; idle keep-alive connections are closed at once), then closes everything and joins
  // the threads. A handler still running after `drain` cannot be interrupted: Stop returns when it does
  // (its response is dropped). Safe to call more than once, and without Start; never from a handler or the
  // observer (it joins the threads they run on).
  void Stop(std::chrono::milliseconds drain = std::chrono::milliseconds(5000));
  size_t open_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace protectogram::http
