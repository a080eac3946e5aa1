// A small HTTP/1.1 server on Boost.Beast, shaped like Beast's own examples: listener -> session -> Router.
// Handlers are plain functions from a request to a response; they never touch a socket.
// The server enforces the limits in ServerOptions itself: oversized bodies get 413, oversized headers 431,
// slow clients are cut off after read_timeout (408 when a request had started), and at most max_connections
// are open at once (extra connections get 503 and are closed).
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
  std::multimap<std::string, std::string> query;  // decoded query parameters
  std::map<std::string, std::string> headers;     // names lower-cased
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
  std::vector<std::pair<std::string, std::string>> headers;

  static Response Json(int status, std::string body);
  static Response Text(int status, std::string body);
  // {"error":"<code>","message":"<message>"}
  static Response Error(int status, std::string_view code, std::string_view message);
};

using Handler = std::function<Response(const Request&)>;

// Routes by method and exact path, or by path prefix ("/webhook/" matches "/webhook/alpha").
// Unknown path -> 404; known path, wrong method -> 405 with an Allow header.
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
  int threads = 2;
  size_t body_limit = 1 << 20;      // 1 MiB -> 413 above
  size_t header_limit = 16 * 1024;  // -> 431 above
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};  // keep-alive connection with no request
  size_t max_connections = 1024;
  // Called after every response with the route label, status code and handling time.
  std::function<void(std::string_view route, int status, std::chrono::nanoseconds elapsed)> observer;
};

class Server {
 public:
  Server(ServerOptions options, Router router);
  ~Server();  // Stops if still running.
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts the I/O threads. Returns UNAVAILABLE if the port cannot be bound.
  absl::Status Start();
  // The bound port (useful when options.port was 0).
  uint16_t port() const;
  // Stops accepting, lets in-flight requests finish for up to `drain`, then closes everything.
  void Stop(std::chrono::milliseconds drain = std::chrono::milliseconds(5000));
  size_t open_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace protectogram::http
