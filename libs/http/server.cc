// The server, shaped like Beast's async server examples: a Listener accepts connections and hands each to an
// HttpSession, which reads a request, has the Router answer it and writes the response, until the client or
// a limit closes the connection.
//
// Threading model. The io_context runs on `threads` I/O threads; every session lives on its own strand, so
// its handlers never run concurrently. Handlers run on a separate thread pool (`handler_threads`), not on the
// I/O threads: the edge's handlers block on Postgres commits and gRPC calls, and a blocked I/O thread would
// stall every connection it serves (reads, writes and timeouts included). With a separate pool, 64 wrk
// connections keep being read and answered while up to handler_threads handlers block; more requests than
// that queue for a handler thread without holding up any I/O. The response is posted back to the session's
// strand to be written.
//
// Timeouts. Reads are bounded by our own per-session timer that *cancels* the pending read rather than by
// beast::tcp_stream::expires_after, because tcp_stream closes the socket when it expires and a slow client
// must still be sent its 408. Writes use tcp_stream::expires_after (closing is the right answer there).
//
// Closing. After an error response (400/408/413/431/503) the client may still be sending; closing a socket
// with unread data makes the kernel send RST, which can destroy the response before the client reads it. So
// the session shuts down its sending side and discards input for a short while ("lingering close"), as
// nginx does, before closing.
#include "libs/http/server.h"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/bind_executor.hpp"
#include "boost/asio/dispatch.hpp"
#include "boost/asio/executor_work_guard.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/strand.hpp"
#include "boost/asio/thread_pool.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/url/parse.hpp"
#include "libs/kernel/log.h"

namespace protectogram::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

// How long a closing connection keeps discarding what the client still sends (see "Closing" above).
constexpr std::chrono::milliseconds kLingerTime{1000};
constexpr std::chrono::milliseconds kAcceptRetryDelay{50};
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

template <typename StringView>
std::string ToString(const StringView& s) {
  return std::string(s.data(), s.size());
}

std::string AsciiLower(beast::string_view s) {
  std::string out(s.data(), s.size());
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool IsHttpParseError(const beast::error_code& ec) {
  return ec.category() == beast::error_code(bhttp::error::bad_method).category();
}

// Connection errors that are part of normal life (clients hang up) and are logged at debug level only.
bool IsRoutineError(const beast::error_code& ec) {
  return ec == net::error::operation_aborted || ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe || ec == beast::error::timeout || ec == bhttp::error::end_of_stream ||
         ec == bhttp::error::partial_message;
}

class HttpSession;
class Listener;

// Everything the listener and the sessions share; Server::Impl is this (a private name they cannot use).
struct ServerState {
  ServerState(ServerOptions o, Router r) : options(std::move(o)), router(std::move(r)) {}

  void Observe(std::string_view route, int status, std::chrono::nanoseconds elapsed) const {
    if (!options.observer) return;
    try {
      options.observer(route, status, elapsed);
    } catch (const std::exception& e) {
      kernel::LogError("http observer threw", {{"error", e.what()}});
    }
  }

  const ServerOptions options;
  const Router router;

  mutable std::mutex mu;
  std::condition_variable cv;                                             // signalled when a session ends
  std::unordered_map<HttpSession*, std::weak_ptr<HttpSession>> sessions;  // guarded by mu
  std::atomic<size_t> open_connections{0};                                // admitted sessions still alive
  std::atomic<bool> stopping{false};
  bool started = false;  // guarded by mu
  bool stopped = false;  // guarded by mu
  std::atomic<uint16_t> port{0};
  std::vector<std::thread> io_threads;

  // Destroyed in reverse order: the pool (its queued tasks hold sessions), the listener, then the io_context
  // (its queued handlers hold sessions whose sockets belong to it), while the registry above is still alive.
  net::io_context ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::shared_ptr<Listener> listener;
  std::unique_ptr<net::thread_pool> handler_pool;
};

// One connection: reads requests one after another, each answered before the next is read.
// All members are used on the session's strand only, except Run/OnServerStopping/ForceClose, which post.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, ServerState& server, bool admitted)
      : server_(server), stream_(std::move(socket)), deadline_(stream_.get_executor()), admitted_(admitted) {
    beast::error_code ec;
    const tcp::endpoint remote = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_address_ = remote.address().to_string();
    stream_.socket().set_option(tcp::no_delay(true), ec);
  }

  ~HttpSession() {
    std::lock_guard<std::mutex> lock(server_.mu);
    server_.sessions.erase(this);
    if (admitted_) server_.open_connections.fetch_sub(1);
    server_.cv.notify_all();
  }

  // Starts serving; a connection over the cap is sent a 503 and closed instead.
  void Run() {
    {
      std::lock_guard<std::mutex> lock(server_.mu);
      server_.sessions.emplace(this, weak_from_this());
    }
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (self->server_.stopping) return self->Close(false);
      if (!self->admitted_) return self->Reject(503, "overloaded", "too many open connections");
      self->WaitForRequest();
    });
  }

  // The server is stopping: idle connections close now; a request in progress is finished first.
  void OnServerStopping() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->state_ == State::kIdle || self->state_ == State::kLingering) self->Close(false);
    });
  }

  void ForceClose() {
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->Close(false); });
  }

 private:
  enum class State { kIdle, kReading, kHandling, kWriting, kLingering, kClosed };

  // Waits for the first byte of the next request, up to read_timeout on a new connection and idle_timeout
  // between keep-alive requests; if none comes the connection is closed silently.
  void WaitForRequest() {
    if (server_.stopping) return Close(false);
    state_ = State::kIdle;
    if (buffer_.size() > 0) return ReadRequest();  // a pipelined request is already here
    ArmDeadline(first_request_ ? server_.options.read_timeout : server_.options.idle_timeout);
    stream_.socket().async_wait(tcp::socket::wait_read,
                                beast::bind_front_handler(&HttpSession::OnReadable, shared_from_this()));
  }

  void OnReadable(beast::error_code ec) {
    if (state_ != State::kIdle) return;
    DisarmDeadline();
    if (ec || server_.stopping) return Close(false);  // idle timeout, stop, or the socket failed
    ReadRequest();
  }

  // Reads one request; from its first byte the whole of it must arrive within read_timeout.
  void ReadRequest() {
    state_ = State::kReading;
    first_request_ = false;
    parser_.emplace();
    parser_->body_limit(static_cast<uint64_t>(server_.options.body_limit));
    parser_->header_limit(static_cast<uint32_t>(
        std::min<size_t>(server_.options.header_limit, std::numeric_limits<uint32_t>::max())));
    ArmDeadline(server_.options.read_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&HttpSession::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, size_t /*bytes*/) {
    if (state_ != State::kReading) return;
    if (ec) return OnReadError(ec);
    // The body limit was already checked against Content-Length, so it is safe to invite the body.
    if (!parser_->is_done() && beast::iequals(parser_->get()[bhttp::field::expect], "100-continue")) {
      net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                       beast::bind_front_handler(&HttpSession::OnContinueWritten, shared_from_this()));
      return;
    }
    ReadBody();
  }

  void OnContinueWritten(beast::error_code ec, size_t /*bytes*/) {
    if (state_ != State::kReading) return;
    if (ec) {
      DisarmDeadline();
      fail(ec, "write 100-continue");
      return Close(false);
    }
    ReadBody();
  }

  void ReadBody() {
    if (parser_->is_done()) return OnRead({}, 0);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&HttpSession::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t /*bytes*/) {
    if (state_ != State::kReading) return;
    if (ec) return OnReadError(ec);
    DisarmDeadline();
    Handle();
  }

  void OnReadError(beast::error_code ec) {
    const bool timed_out = deadline_fired_ && ec == net::error::operation_aborted;
    DisarmDeadline();
    if (timed_out) return Reject(408, "request_timeout", "request not received in time");
    if (ec == bhttp::error::body_limit) {
      return Reject(413, "payload_too_large",
                    absl::StrCat("request body is over ", server_.options.body_limit, " bytes"));
    }
    if (ec == bhttp::error::header_limit) {
      return Reject(431, "headers_too_large",
                    absl::StrCat("request headers are over ", server_.options.header_limit, " bytes"));
    }
    // The client hung up, before a request or in the middle of one: nobody to answer.
    if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) return Close(false);
    if (IsHttpParseError(ec)) return Reject(400, "bad_request", "malformed HTTP request");
    fail(ec, "read");
    Close(false);
  }

  // Turns the parsed message into a Request and runs the router on the handler pool.
  void Handle() {
    state_ = State::kHandling;
    started_ = SteadyClock::now();
    bhttp::request<bhttp::string_body> message = parser_->release();
    parser_.reset();
    version_ = message.version();
    keep_alive_ = message.keep_alive();

    Request request;
    request.method = ToString(message.method_string());
    request.target = ToString(message.target());
    auto url = boost::urls::parse_origin_form(request.target);
    if (!url) url = boost::urls::parse_absolute_uri(request.target);  // "GET http://host/path HTTP/1.1"
    if (!url) return Reject(400, "bad_request", "malformed request target");
    request.path = url->path();
    if (request.path.empty()) request.path = "/";
    for (const auto& param : url->params(boost::urls::encoding_opts(/*space_as_plus=*/true))) {
      request.query.emplace(param.key, param.has_value ? param.value : std::string());
    }
    for (const auto& field : message) {
      auto [it, inserted] = request.headers.emplace(AsciiLower(field.name_string()), ToString(field.value()));
      if (!inserted) absl::StrAppend(&it->second, ",", ToString(field.value()));
    }
    request.body = std::move(message.body());
    request.remote_address = remote_address_;

    if (!server_.handler_pool) {
      std::string route;
      Response response = server_.router.Dispatch(request, &route);
      return OnHandled(std::move(response), std::move(route));
    }
    net::post(*server_.handler_pool, [self = shared_from_this(), request = std::move(request)] {
      std::string route;
      Response response = self->server_.router.Dispatch(request, &route);
      net::post(self->stream_.get_executor(),
                [self, response = std::move(response), route = std::move(route)]() mutable {
                  self->OnHandled(std::move(response), std::move(route));
                });
    });
  }

  void OnHandled(Response response, std::string route) {
    if (state_ != State::kHandling) return;  // force-closed meanwhile
    route_ = std::move(route);
    Write(std::move(response), !keep_alive_);
  }

  // An error the server answers itself; the connection is closed after it.
  void Reject(int status, std::string_view code, std::string_view message) {
    route_ = std::string(kRouteRejected);
    started_ = SteadyClock::now();
    Write(Response::Error(status, code, message), /*close=*/true);
  }

  void Write(Response response, bool close) {
    state_ = State::kWriting;
    close_after_write_ = close || server_.stopping;
    if (response.status < 200 || response.status > 999) {
      kernel::LogError("http handler returned an invalid status",
                       {{"route", route_}, {"status", response.status}});
      response = Response::Error(500, "internal", "internal error");
    }
    if (response.status == 204 || response.status == 304) response.body.clear();
    status_ = response.status;

    response_ = {};
    response_.version(version_);
    response_.result(static_cast<unsigned>(response.status));
    response_.set(bhttp::field::server, "protectogram");
    if (!response.content_type.empty()) response_.set(bhttp::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) {
      const bhttp::field f = bhttp::string_to_field(name);
      if (f == bhttp::field::content_length || f == bhttp::field::connection || f == bhttp::field::server ||
          f == bhttp::field::transfer_encoding) {
        continue;
      }
      if (f == bhttp::field::content_type) {
        response_.set(f, value);
      } else {
        response_.insert(name, value);
      }
    }
    response_.body() = std::move(response.body);
    response_.keep_alive(!close_after_write_);
    response_.prepare_payload();

    stream_.expires_after(server_.options.write_timeout);
    bhttp::async_write(stream_, response_,
                       beast::bind_front_handler(&HttpSession::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, size_t /*bytes*/) {
    if (state_ != State::kWriting) return;
    stream_.expires_never();
    server_.Observe(route_, status_, SteadyClock::now() - started_);
    if (ec) {
      fail(ec, "write");
      return Close(false);
    }
    response_ = {};
    if (close_after_write_) return Close(/*linger=*/true);
    WaitForRequest();
  }

  // Closes the connection; with `linger`, first stops sending and discards input for up to kLingerTime.
  void Close(bool linger) {
    if (state_ == State::kClosed) return;
    DisarmDeadline();
    beast::error_code ec;
    if (linger && !server_.stopping && state_ != State::kLingering) {
      state_ = State::kLingering;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      if (!ec) {
        drain_.resize(4096);
        ArmDeadline(kLingerTime);
        return Discard();
      }
    }
    state_ = State::kClosed;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  void Discard() {
    stream_.socket().async_read_some(
        net::buffer(drain_), [self = shared_from_this()](beast::error_code ec, size_t /*bytes*/) {
          if (self->state_ != State::kLingering) return;
          if (ec) return self->Close(false);  // the client closed, or kLingerTime passed
          self->Discard();
        });
  }

  // Our read deadline: when it passes, the pending read is cancelled (the socket stays open for a 408).
  void ArmDeadline(SteadyClock::duration timeout) {
    deadline_fired_ = false;
    const uint64_t generation = ++deadline_generation_;
    deadline_.expires_after(timeout);
    deadline_.async_wait([self = shared_from_this(), generation](beast::error_code ec) {
      if (ec || generation != self->deadline_generation_) return;  // disarmed or re-armed meanwhile
      self->deadline_fired_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
  }

  void DisarmDeadline() {
    ++deadline_generation_;
    deadline_.cancel();
  }

  void fail(beast::error_code ec, const char* what) {
    const std::string error = ec.message();
    if (IsRoutineError(ec)) {
      kernel::LogDebug("http connection error", {{"op", what}, {"error", error}});
    } else {
      kernel::LogWarn("http connection error", {{"op", what}, {"error", error}});
    }
  }

  ServerState& server_;
  beast::tcp_stream stream_;
  net::steady_timer deadline_;
  uint64_t deadline_generation_ = 0;
  bool deadline_fired_ = false;
  const bool admitted_;  // counted in open_connections; false for a connection over the cap
  State state_ = State::kIdle;
  bool first_request_ = true;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bhttp::response<bhttp::string_body> response_;
  int status_ = 0;
  bool close_after_write_ = false;
  std::string route_;
  SteadyClock::time_point started_;
  std::string remote_address_;
  std::string drain_;
};

// Accepts connections and starts a session for each.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  explicit Listener(ServerState& server)
      : server_(server), acceptor_(net::make_strand(server.ioc)), retry_timer_(acceptor_.get_executor()) {}

  absl::Status Open(const tcp::endpoint& endpoint) {
    beast::error_code ec;
    const std::string where = absl::StrCat(endpoint.address().to_string(), ":", endpoint.port());
    acceptor_.open(endpoint.protocol(), ec);
    if (ec) return absl::UnavailableError(absl::StrCat("open ", where, ": ", ec.message()));
    acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (ec) return absl::UnavailableError(absl::StrCat("set_option ", where, ": ", ec.message()));
    acceptor_.bind(endpoint, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("bind ", where, ": ", ec.message()));
    acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("listen ", where, ": ", ec.message()));
    return absl::OkStatus();
  }

  uint16_t port() const {
    beast::error_code ec;
    return acceptor_.local_endpoint(ec).port();
  }

  void Run() {
    net::dispatch(acceptor_.get_executor(), beast::bind_front_handler(&Listener::Accept, shared_from_this()));
  }

  void Close() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
      beast::error_code ignored;
      self->acceptor_.close(ignored);
      self->retry_timer_.cancel();
    });
  }

 private:
  void Accept() {
    acceptor_.async_accept(net::make_strand(server_.ioc),
                           beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
  }

  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (!acceptor_.is_open()) return;  // closed by Stop
    if (ec) {
      // Typically EMFILE: back off briefly instead of spinning; the connection stays in the backlog.
      fail(ec, "accept");
      retry_timer_.expires_after(kAcceptRetryDelay);
      retry_timer_.async_wait([self = shared_from_this()](beast::error_code timer_ec) {
        if (!timer_ec && self->acceptor_.is_open()) self->Accept();
      });
      return;
    }
    // Only this strand increments the count, so checking and incrementing here cannot overshoot the cap.
    const bool admitted = server_.open_connections.load() < server_.options.max_connections;
    if (admitted) server_.open_connections.fetch_add(1);
    std::make_shared<HttpSession>(std::move(socket), server_, admitted)->Run();
    Accept();
  }

  void fail(beast::error_code ec, const char* what) {
    const std::string error = ec.message();
    kernel::LogWarn("http listener error", {{"op", what}, {"error", error}});
  }

  ServerState& server_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_timer_;
};

}  // namespace

struct Server::Impl : ServerState {
  using ServerState::ServerState;
};

Server::Server(ServerOptions options, Router router)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(router))) {}

Server::~Server() { Stop(); }

absl::Status Server::Start() {
  Impl& s = *impl_;
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.started || s.stopped) return absl::FailedPreconditionError("http server already started");
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(s.options.address, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("bad listen address: ", s.options.address));

  auto listener = std::make_shared<Listener>(s);
  const absl::Status opened = listener->Open(tcp::endpoint(address, s.options.port));
  if (!opened.ok()) return opened;
  s.listener = std::move(listener);
  s.port = s.listener->port();
  s.started = true;
  s.work.emplace(s.ioc.get_executor());
  if (s.options.handler_threads > 0) {
    s.handler_pool = std::make_unique<net::thread_pool>(static_cast<size_t>(s.options.handler_threads));
  }
  s.listener->Run();
  const int threads = std::max(1, s.options.threads);
  for (int i = 0; i < threads; ++i) {
    s.io_threads.emplace_back([&s] {
      for (;;) {
        try {
          s.ioc.run();
          return;
        } catch (const std::exception& e) {
          kernel::LogError("http I/O thread caught an exception", {{"error", e.what()}});
        }
      }
    });
  }
  return absl::OkStatus();
}

uint16_t Server::port() const { return impl_->port; }

size_t Server::open_connections() const { return impl_->open_connections.load(); }

void Server::Stop(std::chrono::milliseconds drain) {
  Impl& s = *impl_;
  std::vector<std::shared_ptr<HttpSession>> sessions;
  // Called under s.mu with `sessions` empty, so that no session can be destroyed (and lock s.mu) inside.
  auto snapshot = [&] {
    for (auto& [ptr, weak] : s.sessions) {
      if (auto session = weak.lock()) sessions.push_back(std::move(session));
    }
  };
  {
    std::unique_lock<std::mutex> lock(s.mu);
    if (!s.started || s.stopped) {
      s.stopped = true;
      return;
    }
    s.stopped = true;
    s.stopping = true;
    // 1. No new connections; idle ones close now, busy ones finish their request and close.
    s.listener->Close();
    snapshot();
  }
  for (auto& session : sessions) session->OnServerStopping();
  sessions.clear();
  {
    // 2. Wait for the in-flight requests, up to `drain`.
    std::unique_lock<std::mutex> lock(s.mu);
    s.cv.wait_for(lock, drain, [&] { return s.open_connections.load() == 0; });
    // 3. Close whatever is left (a handler still running, a client still sending).
    snapshot();
  }
  for (auto& session : sessions) session->ForceClose();
  sessions.clear();
  // 4. The I/O threads return once the closed sessions' operations have completed.
  s.work.reset();
  for (std::thread& t : s.io_threads) t.join();
  s.io_threads.clear();
  // 5. Wait for handlers still running (they cannot be interrupted); queued ones are dropped.
  if (s.handler_pool) {
    s.handler_pool->stop();
    s.handler_pool->join();
    s.handler_pool.reset();
  }
  // 6. Release sessions whose last handlers were queued after the I/O threads left (all are closed).
  s.ioc.restart();
  s.ioc.poll();
}

}  // namespace protectogram::http
