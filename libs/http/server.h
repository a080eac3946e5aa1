// A small HTTP/1.1 server on Boost.Asio: listener -> session -> Router. Handlers are plain functions from a
// request to a response; they never touch a socket.
//
// Hostile clients. Requests are read by our own strict parser (request_parser.h), which bounds every part of
// a request (request line, each field, all fields, chunk-size lines, chunked framing, trailers, body) and
// refuses ambiguous framing; the session bounds time: the head must arrive within header_timeout of its first
// byte and the whole request within read_timeout, checked after every read, so a client trickling bytes is
// cut off as surely as a silent one. A route names its own body limit and may check the head before any body
// is read (RouteOptions). At most max_connections are open at once, and at most max_connections_per_client
// per client. Every refusal is the status a client can act on with a JSON body {"error": <reason label>}, and
// is followed by closing the connection (nothing after a refused request is ever taken as a request).
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
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/http/request_parser.h"

namespace protectogram::http {

struct Request {
  std::string method;                             // "GET", "POST", ...
  std::string target;                             // raw target, path + query
  std::string path;                               // decoded path, no query
  std::multimap<std::string, std::string> query;  // decoded query parameters ('+' is a space)
  std::map<std::string, std::string> headers;     // names lower-cased; repeated headers joined with ","
  std::string body;                               // raw bytes as received (decoded from chunks)
  // The client: the trusted proxy header's address when ServerOptions::client_address_header is set and
  // present, else the peer's.
  std::string remote_address;
  std::string peer_address;  // the TCP peer (a proxy, when there is one)

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
  // For a handler that must know whether its answer got out (a provider fake recording what its client saw):
  // called exactly once, with true when every byte of the response was written to the socket while the
  // client was still connected; false when it was not: the client had closed its side (or reset the
  // connection) before the response was ready, the write failed or timed out, the connection was closed or
  // the server stopped first, or `drop_connection` is set. A client that half-closes after its request
  // counts as gone. Runs on one of the server's threads or the one calling Stop: it must be thread-safe,
  // quick and never block. Unset (the default) changes nothing about how the response is sent.
  std::function<void(bool written)> on_complete;
  // Closes the connection without writing any of this response (a fake provider that drops connections);
  // status, body and headers are ignored, and the observer is not called.
  bool drop_connection = false;

  static Response Json(int status, std::string body);
  static Response Text(int status, std::string body);  // text/plain; charset=utf-8
  // {"error":"<code>","message":"<message>"}, both JSON-escaped.
  static Response Error(int status, std::string_view code, std::string_view message);
};

using Handler = std::function<Response(const Request&)>;

struct RouteOptions {
  // The route's body limit, when lower than the server's (ParserLimits::body); 0 = the server's.
  size_t body_limit = 0;
  // Runs on the request head, before any body is read (`body` is empty): a response refuses the request
  // there, without reading its body (the connection is then closed). For checks that need no body, such as a
  // webhook's secret. Runs on an I/O thread: it must be quick and never block.
  std::function<std::optional<Response>(const Request& head)> precheck;
};

// Route labels for responses no route produced; every label is low-cardinality (safe as a metric label).
inline constexpr std::string_view kRouteUnmatched = "unmatched";  // 404 from the router
inline constexpr std::string_view kRouteRejected = "rejected";    // refused by the server (RefusalReason)

// Routes by method and exact path, or by path prefix ("/webhook/" matches "/webhook/alpha").
// An exact route wins over a prefix route; among prefixes the longest wins.
// Unknown path -> 404; known path, wrong method -> 405 with an Allow header. HEAD is answered by the GET
// route of the path (the server sends its status and headers without the body).
// A handler that throws gets a 500 JSON error (and an error log line) instead.
// Add/AddPrefix are for setup; Find, Run and Dispatch are const and safe to call from many threads.
class Router {
 public:
  struct Route {
    std::string method;
    std::string path;
    bool prefix;
    Handler handler;
    RouteOptions options;
  };
  struct Match {
    const Route* route = nullptr;  // nullptr: `refusal` is the answer (404 or 405)
    Response refusal;
    std::string label;  // the route label used for metrics: the registered path or prefix, or "unmatched"
  };

  void Add(std::string method, std::string path, Handler handler, RouteOptions options = {});
  void AddPrefix(std::string method, std::string prefix, Handler handler, RouteOptions options = {});
  Match Find(std::string_view method, std::string_view path) const;
  // Calls the route's handler; a throwing handler is a 500.
  static Response Run(const Route& route, const Request& request);
  // Find + Run.
  Response Dispatch(const Request& request, std::string* route_label) const;

 private:
  std::vector<Route> routes_;
};

struct ServerOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 8080;  // 0 picks a free port; see Server::port()
  int threads = 2;       // I/O threads (sockets, parsing, timers)
  // Threads that run handlers; size it for how many handlers may block at once. 0 runs handlers on the
  // I/O threads.
  int handler_threads = 16;
  ParserLimits limits;  // what one request may hold (request_parser.h)
  // The head (request line and header fields) must arrive within header_timeout of the request's first
  // byte, and the whole request (head and body) within read_timeout; otherwise 408. A new connection must
  // start sending within read_timeout, else it is closed silently.
  std::chrono::milliseconds header_timeout{5000};
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};   // keep-alive connection with no request
  std::chrono::milliseconds write_timeout{10000};  // writing one response
  size_t max_connections = 1024;                   // open connections; more get 503 and are closed
  // Open connections of one client; more get 429 and are closed. 0: no per-client cap.
  size_t max_connections_per_client = 0;
  // A header naming the client, set by a trusted proxy in front (e.g. "fly-client-ip"), lower case; "" to
  // take the TCP peer. When set, a connection counts for the client named by its latest request (behind a
  // proxy every connection comes from the proxy); the rightmost element of a list is taken (the one the
  // nearest proxy added). Set it only when clients cannot reach the server except through that proxy.
  std::string client_address_header;
  // Called after every response with the route label, status code and handling time (from the request
  // being read to its response being written). Runs on an I/O thread, possibly on several at once: it must
  // be thread-safe and quick.
  std::function<void(std::string_view route, int status, std::chrono::nanoseconds elapsed)> observer;
  // Called for every request the server refuses by itself (the reasons of request_parser.h), with the route
  // label when the head named a route ("rejected" otherwise) and the client's address. Same rules as
  // observer.
  std::function<void(std::string_view route, const Refusal& refusal, std::string_view client)>
      refusal_observer;
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
