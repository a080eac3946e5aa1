// Each connection owns a small io_context, and every step (connect, handshake, write, read) is an async
// operation run to completion on the calling thread. That gives us beast::tcp_stream's timeouts on a
// synchronous API, lets calls on different connections run in parallel without a shared I/O thread, and lets
// a pooled connection move from one calling thread to the next.
#include "libs/http/client.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/ssl.hpp"
#include "boost/url/parse.hpp"
#include "libs/http/form.h"

namespace protectogram::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

constexpr uint32_t kResponseHeaderLimit = 64 * 1024;

template <typename StringView>
std::string ToString(const StringView& s) {
  return std::string(s.data(), s.size());
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

struct Target {
  bool tls = false;
  std::string host;         // for resolving and certificate checks: "example.com", "127.0.0.1", "::1"
  std::string port;         // "443"
  std::string host_header;  // "example.com", "127.0.0.1:8081", "[::1]:8081"
  std::string target;       // "/path?query"
  std::string key;          // "https://example.com:443", the pool key
};

absl::StatusOr<Target> ParseTarget(std::string_view url) {
  auto parsed = boost::urls::parse_absolute_uri(boost::urls::string_view(url.data(), url.size()));
  if (!parsed) return absl::InvalidArgumentError(absl::StrCat("malformed URL: ", std::string(url)));
  Target t;
  const std::string scheme = AsciiLower(ToString(parsed->scheme()));
  if (scheme == "https") {
    t.tls = true;
  } else if (scheme != "http") {
    return absl::InvalidArgumentError(absl::StrCat("unsupported URL scheme: ", scheme));
  }
  if (!parsed->has_authority() || parsed->encoded_host().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("URL has no host: ", std::string(url)));
  }
  t.host = parsed->host_address();  // IPv6 literals without brackets
  t.port = parsed->has_port() ? ToString(parsed->port()) : (t.tls ? "443" : "80");
  t.host_header = ToString(parsed->encoded_host_and_port());
  t.target = ToString(parsed->encoded_path());
  if (t.target.empty()) t.target = "/";
  if (parsed->has_query()) absl::StrAppend(&t.target, "?", ToString(parsed->encoded_query()));
  t.key = absl::StrCat(scheme, "://", ToString(parsed->encoded_host()), ":", t.port);
  return t;
}

bool IsIdempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" || method == "OPTIONS";
}

bool IsIpAddress(const std::string& host) {
  beast::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

// Starts one async operation and runs `ioc` until it completes; returns its error code.
template <typename Start>
beast::error_code RunOp(net::io_context& ioc, Start&& start) {
  beast::error_code result = net::error::would_block;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

}  // namespace

struct Client::Connection {
  net::io_context ioc;  // first: destroyed after the streams that use it
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  SteadyClock::time_point idle_since;

  beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

struct Client::Impl {
  explicit Impl(ClientOptions o) : options(std::move(o)), tls_context(ssl::context::tls_client) {
    tls_context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                            ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    beast::error_code ec;
    tls_context.set_default_verify_paths(ec);
    if (!options.ca_pem.empty()) {
      tls_context.add_certificate_authority(net::buffer(options.ca_pem), ec);
      if (ec) setup_error = absl::InvalidArgumentError(absl::StrCat("bad ca_pem: ", ec.message()));
    }
    tls_context.set_verify_mode(ssl::verify_peer);
  }

  absl::StatusOr<std::unique_ptr<Connection>> Connect(const Target& t, SteadyClock::time_point deadline);
  // One request/response on `conn`. `retryable` is set when the failure means a reused connection had gone
  // stale before the server could have acted on the request.
  absl::StatusOr<ClientResponse> Exchange(Connection& conn, const Target& t, const ClientRequest& request,
                                          SteadyClock::time_point deadline, bool* keep_alive,
                                          bool* retryable);
  std::unique_ptr<Connection> TakeIdle(const std::string& key);
  void PutIdle(const std::string& key, std::unique_ptr<Connection> conn);

  const ClientOptions options;
  ssl::context tls_context;
  absl::Status setup_error;

  mutable std::mutex mu;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle ABSL_GUARDED_BY(mu);
};

absl::StatusOr<std::unique_ptr<Client::Connection>> Client::Impl::Connect(const Target& t,
                                                                          SteadyClock::time_point deadline) {
  const std::string where = absl::StrCat(t.host, ":", t.port);
  auto conn = std::make_unique<Connection>();
  // Name resolution is bounded by the system resolver only; the edge's hosts are IPs or cached names.
  tcp::resolver resolver(conn->ioc);
  tcp::resolver::results_type endpoints;
  beast::error_code ec = RunOp(conn->ioc, [&](auto handler) {
    resolver.async_resolve(t.host, t.port,
                           [&endpoints, handler](beast::error_code e, tcp::resolver::results_type r) mutable {
                             endpoints = std::move(r);
                             handler(e);
                           });
  });
  if (ec) return absl::UnavailableError(absl::StrCat("resolve ", t.host, ": ", ec.message()));

  if (t.tls) {
    conn->tls.emplace(conn->ioc, tls_context);
  } else {
    conn->plain.emplace(conn->ioc);
  }
  const auto connect_deadline = std::min(deadline, SteadyClock::now() + options.connect_timeout);
  conn->tcp().expires_at(connect_deadline);
  ec = RunOp(conn->ioc, [&](auto handler) { conn->tcp().async_connect(endpoints, handler); });
  if (ec == beast::error::timeout)
    return absl::UnavailableError(absl::StrCat("connect to ", where, " timed out"));
  if (ec) return absl::UnavailableError(absl::StrCat("connect to ", where, ": ", ec.message()));
  conn->tcp().socket().set_option(tcp::no_delay(true), ec);

  if (t.tls) {
    if (!IsIpAddress(t.host) && !SSL_set_tlsext_host_name(conn->tls->native_handle(), t.host.c_str())) {
      return absl::UnavailableError(absl::StrCat("TLS: cannot set SNI for ", t.host));
    }
    conn->tls->set_verify_callback(ssl::host_name_verification(t.host));
    ec = RunOp(conn->ioc,
               [&](auto handler) { conn->tls->async_handshake(ssl::stream_base::client, handler); });
    if (ec == beast::error::timeout) {
      return absl::UnavailableError(absl::StrCat("TLS handshake with ", where, " timed out"));
    }
    if (ec) return absl::UnavailableError(absl::StrCat("TLS handshake with ", where, ": ", ec.message()));
  }
  conn->tcp().expires_never();
  return conn;
}

absl::StatusOr<ClientResponse> Client::Impl::Exchange(Connection& conn, const Target& t,
                                                      const ClientRequest& request,
                                                      SteadyClock::time_point deadline, bool* keep_alive,
                                                      bool* retryable) {
  *keep_alive = false;
  *retryable = false;
  const std::string where = absl::StrCat(t.host, ":", t.port);

  bhttp::request<bhttp::string_body> req;
  req.version(11);
  const bhttp::verb verb = bhttp::string_to_verb(request.method);
  if (verb == bhttp::verb::unknown) {
    req.method_string(request.method);
  } else {
    req.method(verb);
  }
  req.target(t.target);
  req.set(bhttp::field::host, t.host_header);
  req.set(bhttp::field::user_agent, options.user_agent);
  for (const auto& [name, value] : request.headers) req.set(name, value);
  req.body() = request.body;
  if (!request.body.empty() || verb == bhttp::verb::post || verb == bhttp::verb::put ||
      verb == bhttp::verb::patch) {
    req.content_length(request.body.size());
  }
  req.keep_alive(options.max_idle_per_host > 0);

  conn.tcp().expires_at(deadline);
  auto write = [&](auto& stream) {
    return RunOp(conn.ioc, [&](auto handler) { bhttp::async_write(stream, req, handler); });
  };
  beast::error_code ec = conn.tls ? write(*conn.tls) : write(*conn.plain);
  if (ec == beast::error::timeout) {
    return absl::DeadlineExceededError(absl::StrCat("sending the request to ", where, " timed out"));
  }
  if (ec) {
    *retryable = true;  // the server closed the connection before we could send: it saw nothing
    return absl::UnavailableError(absl::StrCat("send to ", where, ": ", ec.message()));
  }

  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(static_cast<uint64_t>(options.max_response_body));
  parser.header_limit(kResponseHeaderLimit);
  auto read = [&](auto& stream) {
    return RunOp(conn.ioc, [&](auto handler) { bhttp::async_read(stream, conn.buffer, parser, handler); });
  };
  ec = conn.tls ? read(*conn.tls) : read(*conn.plain);
  if (ec == beast::error::timeout) {
    return absl::DeadlineExceededError(absl::StrCat("no response from ", where, " in time"));
  }
  if (ec == bhttp::error::body_limit) {
    return absl::ResourceExhaustedError(
        absl::StrCat("response from ", where, " is over ", options.max_response_body, " bytes"));
  }
  if (ec == bhttp::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
      ec == bhttp::error::partial_message || ec == ssl::error::stream_truncated ||
      ec == net::error::broken_pipe) {
    *retryable = !parser.got_some() && IsIdempotent(request.method);
    return absl::UnavailableError(absl::StrCat("connection to ", where, " closed: ", ec.message()));
  }
  if (ec && ec.category() == beast::error_code(bhttp::error::bad_method).category()) {
    return absl::InternalError(absl::StrCat("malformed response from ", where, ": ", ec.message()));
  }
  if (ec) return absl::UnavailableError(absl::StrCat("read from ", where, ": ", ec.message()));
  conn.tcp().expires_never();

  *keep_alive = parser.keep_alive() && conn.buffer.size() == 0;
  bhttp::response<bhttp::string_body> message = parser.release();
  ClientResponse response;
  response.status = static_cast<int>(message.result_int());
  for (const auto& field : message) {
    auto [it, inserted] =
        response.headers.emplace(AsciiLower(ToString(field.name_string())), ToString(field.value()));
    if (!inserted) absl::StrAppend(&it->second, ",", ToString(field.value()));
  }
  response.body = std::move(message.body());
  return response;
}

std::unique_ptr<Client::Connection> Client::Impl::TakeIdle(const std::string& key) {
  for (;;) {
    std::unique_ptr<Connection> conn;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = idle.find(key);
      if (it == idle.end() || it->second.empty()) return nullptr;
      conn = std::move(it->second.back());
      it->second.pop_back();
    }
    // Skip connections that are too old or that the server has closed (readable at rest means EOF or junk).
    if (SteadyClock::now() - conn->idle_since > options.max_idle_time) continue;
    char byte;
    const ssize_t n = ::recv(conn->tcp().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return conn;
  }
}

void Client::Impl::PutIdle(const std::string& key, std::unique_ptr<Connection> conn) {
  conn->idle_since = SteadyClock::now();
  std::lock_guard<std::mutex> lock(mu);
  auto& list = idle[key];
  if (list.size() < options.max_idle_per_host) list.push_back(std::move(conn));
}

std::string_view ClientResponse::Header(std::string_view name) const {
  auto it = headers.find(std::string(name));
  return it == headers.end() ? std::string_view() : std::string_view(it->second);
}

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Client::~Client() = default;

absl::StatusOr<ClientResponse> Client::Do(const ClientRequest& request) {
  if (!impl_->setup_error.ok()) return impl_->setup_error;
  absl::StatusOr<Target> target = ParseTarget(request.url);
  if (!target.ok()) return target.status();
  const auto timeout = request.timeout.count() > 0 ? request.timeout : impl_->options.timeout;
  const auto deadline = SteadyClock::now() + timeout;

  // A reused connection may turn out to be closed by the server; then the request goes once more on a new
  // one.
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Connection> conn = attempt == 0 ? impl_->TakeIdle(target->key) : nullptr;
    const bool reused = conn != nullptr;
    if (!conn) {
      absl::StatusOr<std::unique_ptr<Connection>> connected = impl_->Connect(*target, deadline);
      if (!connected.ok()) return connected.status();
      conn = std::move(*connected);
    }
    bool keep_alive = false;
    bool retryable = false;
    absl::StatusOr<ClientResponse> response =
        impl_->Exchange(*conn, *target, request, deadline, &keep_alive, &retryable);
    if (!response.ok() && reused && retryable) continue;
    if (response.ok() && keep_alive && impl_->options.max_idle_per_host > 0) {
      impl_->PutIdle(target->key, std::move(conn));
    }
    return response;
  }
}

absl::StatusOr<ClientResponse> Client::Get(std::string_view url, HeaderList headers) {
  ClientRequest request;
  request.method = "GET";
  request.url = std::string(url);
  request.headers = std::move(headers);
  return Do(request);
}

absl::StatusOr<ClientResponse> Client::Post(std::string_view url, std::string_view content_type,
                                            std::string body, HeaderList headers) {
  ClientRequest request;
  request.method = "POST";
  request.url = std::string(url);
  request.headers = std::move(headers);
  request.headers.emplace_back("Content-Type", std::string(content_type));
  request.body = std::move(body);
  return Do(request);
}

absl::StatusOr<ClientResponse> Client::PostForm(std::string_view url,
                                                const std::map<std::string, std::string>& fields,
                                                HeaderList headers) {
  return Post(url, "application/x-www-form-urlencoded", FormEncode(fields), std::move(headers));
}

absl::StatusOr<ClientResponse> Client::PostJson(std::string_view url, std::string json, HeaderList headers) {
  return Post(url, "application/json", std::move(json), std::move(headers));
}

size_t Client::IdleConnectionsForTest() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  size_t n = 0;
  for (const auto& [key, list] : impl_->idle) n += list.size();
  return n;
}

}  // namespace protectogram::http
