// A synchronous HTTP/1.1 client for provider APIs (https, verified) and loopback simulators (plain http).
// Each call blocks the calling thread until the response has arrived or the deadline passed. A Client is
// thread-safe: calls from several threads run in parallel, each on its own connection. Idle keep-alive
// connections are kept per scheme://host:port and reused.
//
// HTTPS verifies the server's certificate against the system CA store (plus ClientOptions::ca_pem), sends
// SNI and checks that the certificate names the host (DNS name or IP address).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace protectogram::http {

struct ClientOptions {
  // Resolving, connecting and the TLS handshake together; counts against `timeout` too.
  std::chrono::milliseconds connect_timeout{5000};
  // The whole call, from starting to connect to the last byte of the response; a ClientRequest may
  // override it.
  std::chrono::milliseconds timeout{30000};
  // Extra trusted CA certificates (PEM), in addition to the system store; tests use it for their own CA.
  std::string ca_pem;
  size_t max_response_body = 16 << 20;  // bigger responses fail with RESOURCE_EXHAUSTED
  size_t max_idle_per_host = 4;         // idle keep-alive connections kept per host; 0 disables reuse
  std::chrono::milliseconds max_idle_time{30000};  // an idle connection older than this is not reused
  std::string user_agent = "protectogram";
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct ClientRequest {
  std::string method = "GET";
  std::string url;     // http://host[:port]/path?query or https://...
  HeaderList headers;  // Host, User-Agent and Content-Length are set by the client unless given here
  std::string body;
  std::chrono::milliseconds timeout{0};  // 0: ClientOptions::timeout
};

struct ClientResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased; repeated headers joined with ","
  std::string body;

  // The header's value, or "" when absent. `name` must be lower case.
  std::string_view Header(std::string_view name) const;
};

class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends the request and reads the response; any HTTP status (including 4xx/5xx) is a response, not an
  // error. Errors: INVALID_ARGUMENT for a malformed URL or a scheme other than http/https, or a bad ca_pem;
  // UNAVAILABLE when the host cannot be resolved or reached, the connection or TLS handshake fails (including
  // certificate verification) or times out, or the connection breaks after the request was sent (nothing was
  // sent in the first cases: safe to retry);
  // DEADLINE_EXCEEDED when the deadline passes after the request started to be sent (it may have been
  // processed); RESOURCE_EXHAUSTED for a response over max_response_body; INTERNAL for a malformed response.
  absl::StatusOr<ClientResponse> Do(const ClientRequest& request);

  absl::StatusOr<ClientResponse> Get(std::string_view url, HeaderList headers = {});
  absl::StatusOr<ClientResponse> Post(std::string_view url, std::string_view content_type, std::string body,
                                      HeaderList headers = {});
  // application/x-www-form-urlencoded (FormEncode).
  absl::StatusOr<ClientResponse> PostForm(std::string_view url,
                                          const std::map<std::string, std::string>& fields,
                                          HeaderList headers = {});
  // application/json; `json` is sent as it is.
  absl::StatusOr<ClientResponse> PostJson(std::string_view url, std::string json, HeaderList headers = {});

  // Idle connections currently pooled (for tests).
  size_t IdleConnectionsForTest() const;

 private:
  struct Connection;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace protectogram::http
