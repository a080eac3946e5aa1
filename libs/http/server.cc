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
// Reading. The session reads with async_read_some into a fixed 16 KiB buffer and feeds the bytes to the
// strict RequestParser, which consumes every complete line and every body byte as it comes; so a connection
// holds at most one incomplete line (bounded by the parser's limits), its body (bounded by the route's limit)
// and one read buffer, whatever the client sends.
//
// Timeouts. Reads are bounded by our own per-session timer that *cancels* the pending read rather than by
// beast::tcp_stream::expires_after, because tcp_stream closes the socket when it expires and a slow client
// must still be sent its 408. Cancelling alone is not enough: a cancellation that lands while no read is
// pending (between two reads of a client that keeps trickling bytes) would be lost, so the deadline is also
// checked against the clock before every read and after every completion. Writes use
// tcp_stream::expires_after (closing is the right answer there).
//
// Closing. After an error response (a refusal, or an answer given from the head without reading the body) the
// client may still be sending; closing a socket with unread data makes the kernel send RST, which can destroy
// the response before the client reads it. So the session shuts down its sending side and discards input for
// a short while ("lingering close"), as nginx does, before closing.
#include "libs/http/server.h"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

#include "absl/base/thread_annotations.h"
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

// Connection errors that are part of normal life (clients hang up) and are logged at debug level only.
bool IsRoutineError(const beast::error_code& ec) {
  return ec == net::error::operation_aborted || ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe || ec == beast::error::timeout || ec == bhttp::error::end_of_stream ||
         ec == bhttp::error::partial_message;
}

class HttpSession;
class Listener;

// Calls a response's on_complete exactly once: with the outcome of its write, or with false when it is
// destroyed first (the response was dropped: the session closed meanwhile, or the server stopped with the
// answer still queued). Shared between the task that carries the response and the session that writes it,
// so whichever lets go last reports a response nobody wrote.
class Completion {
 public:
  explicit Completion(std::function<void(bool)> fn) : fn_(std::move(fn)) {}
  ~Completion() { Done(false); }
  Completion(const Completion&) = delete;
  Completion& operator=(const Completion&) = delete;

  void Done(bool written) {
    if (!fn_) return;
    std::function<void(bool)> fn = std::move(fn_);
    fn_ = nullptr;
    try {
      fn(written);
    } catch (const std::exception& e) {
      kernel::LogError("http on_complete threw", {{"error", e.what()}});
    }
  }

 private:
  std::function<void(bool)> fn_;
};

// The response's on_complete, taken out of it; nullptr when it has none.
std::shared_ptr<Completion> TakeCompletion(Response& response) {
  if (!response.on_complete) return nullptr;
  auto completion = std::make_shared<Completion>(std::move(response.on_complete));
  response.on_complete = nullptr;
  return completion;
}

// Open connections per client, for ServerOptions::max_connections_per_client.
class ClientSlots {
 public:
  explicit ClientSlots(size_t cap) : cap_(cap) {}
  bool enabled() const { return cap_ > 0; }
  // Takes one of `client`'s slots; false when it has none left.
  bool Acquire(const std::string& client) {
    std::lock_guard<std::mutex> lock(mu_);
    size_t& n = counts_[client];
    if (n >= cap_) {
      if (n == 0) counts_.erase(client);
      return false;
    }
    ++n;
    return true;
  }
  void Release(const std::string& client) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = counts_.find(client);
    if (it == counts_.end()) return;
    if (--it->second == 0) counts_.erase(it);
  }

 private:
  const size_t cap_;
  std::mutex mu_;
  std::unordered_map<std::string, size_t> counts_ ABSL_GUARDED_BY(mu_);
};

// Everything the listener and the sessions share; Server::Impl is this (a private name they cannot use).
struct ServerState {
  ServerState(ServerOptions o, Router r)
      : options(std::move(o)), router(std::move(r)), client_slots(options.max_connections_per_client) {}

  void Observe(std::string_view route, int status, std::chrono::nanoseconds elapsed) const {
    if (!options.observer) return;
    try {
      options.observer(route, status, elapsed);
    } catch (const std::exception& e) {
      kernel::LogError("http observer threw", {{"error", e.what()}});
    }
  }

  void ObserveRefusal(std::string_view route, const Refusal& refusal, std::string_view client) const {
    if (!options.refusal_observer) return;
    try {
      options.refusal_observer(route, refusal, client);
    } catch (const std::exception& e) {
      kernel::LogError("http refusal observer threw", {{"error", e.what()}});
    }
  }

  const ServerOptions options;
  const Router router;
  ClientSlots client_slots;

  mutable std::mutex mu;
  std::condition_variable cv;  // signalled when a session ends
  std::unordered_map<HttpSession*, std::weak_ptr<HttpSession>> sessions ABSL_GUARDED_BY(mu);
  std::atomic<size_t> open_connections{0};  // admitted sessions still alive
  std::atomic<bool> stopping{false};
  bool started ABSL_GUARDED_BY(mu) = false;
  bool stopped ABSL_GUARDED_BY(mu) = false;
  std::atomic<uint16_t> port{0};
  std::vector<std::thread> io_threads;

  // Destroyed in reverse order: the pool (its queued tasks hold sessions), the listener, then the io_context
  // (its queued handlers hold sessions whose sockets belong to it), while the registry above is still alive.
  net::io_context ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::shared_ptr<Listener> listener;
  std::unique_ptr<net::thread_pool> handler_pool;
};

// A header value that may go on the wire: no CR, LF or NUL (a handler must not be able to split a response).
bool IsSafeHeaderValue(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool IsToken(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || std::string_view("\"(),/:;<=>?@[\\]{}").find(c) != std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// The client named by a trusted proxy header: the rightmost element of a list, trimmed.
// "" when the header names nobody (empty elements only).
std::string ClientFromHeader(std::string_view value) {
  auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  };
  for (;;) {
    const size_t comma = value.rfind(',');
    const std::string_view last = trim(comma == std::string_view::npos ? value : value.substr(comma + 1));
    if (!last.empty()) return std::string(last.substr(0, 64));
    if (comma == std::string_view::npos) return std::string();
    value = value.substr(0, comma);
  }
}

// One connection: reads requests one after another, each answered before the next is read.
// All members are used on the session's strand only, except Run/OnServerStopping/ForceClose, which post.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, std::string peer, ServerState& server, bool admitted, bool peer_slot)
      : server_(server),
        stream_(std::move(socket)),
        timer_(stream_.get_executor()),
        admitted_(admitted),
        peer_address_(std::move(peer)) {
    beast::error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);
    if (peer_slot) slot_client_ = peer_address_;
  }

  ~HttpSession() {
    if (slot_client_.has_value()) server_.client_slots.Release(*slot_client_);
    std::lock_guard<std::mutex> lock(server_.mu);
    server_.sessions.erase(this);
    if (admitted_) server_.open_connections.fetch_sub(1);
    server_.cv.notify_all();
  }

  // Starts serving; a connection over a cap is sent 503 (the server's) or 429 (its client's) and closed.
  void Run(std::optional<RefusalReason> turned_away) {
    {
      std::lock_guard<std::mutex> lock(server_.mu);
      server_.sessions.emplace(this, weak_from_this());
    }
    net::dispatch(stream_.get_executor(), [self = shared_from_this(), turned_away] {
      if (self->server_.stopping) return self->Close(false);
      if (turned_away.has_value()) {
        return self->Refuse(Refusal{*turned_away, *turned_away == RefusalReason::kOverCapacity
                                                      ? "too many open connections"
                                                      : "too many open connections "
                                                        "from this client"});
      }
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
  static constexpr size_t kReadSize = 16 * 1024;

  // Waits for the first byte of the next request, up to read_timeout on a new connection and idle_timeout
  // between keep-alive requests; if none comes the connection is closed silently.
  void WaitForRequest() {
    if (server_.stopping) return Close(false);
    state_ = State::kIdle;
    if (!pending_.empty()) return StartRequest();  // a pipelined request is already here
    // An idle connection holds no buffers: a thousand of them cost their sockets and little else.
    read_buffer_.reset();
    pending_.shrink_to_fit();
    ArmTimer(SteadyClock::now() +
             (first_request_ ? server_.options.read_timeout : server_.options.idle_timeout));
    stream_.socket().async_wait(tcp::socket::wait_read,
                                beast::bind_front_handler(&HttpSession::OnReadable, shared_from_this()));
  }

  void OnReadable(beast::error_code ec) {
    if (state_ != State::kIdle) return;
    DisarmTimer();
    if (ec || server_.stopping) return Close(false);  // idle timeout, stop, or the socket failed
    StartRequest();
  }

  // From its first byte, the head must arrive within header_timeout and the whole request within
  // read_timeout.
  void StartRequest() {
    state_ = State::kReading;
    first_request_ = false;
    parser_.emplace(server_.options.limits);
    head_seen_ = false;
    route_ = nullptr;
    route_label_ = std::string(kRouteRejected);
    request_ = Request{};
    head_only_ = false;
    version_minor_ = 1;
    const SteadyClock::time_point now = SteadyClock::now();
    request_deadline_ = now + server_.options.read_timeout;
    ArmTimer(std::min(now + server_.options.header_timeout, request_deadline_));
    Parse();
  }

  // Feeds what was read to the parser and decides what comes next: more reading, the head's checks, the
  // handler, or a refusal.
  void Parse() {
    const size_t used = parser_->Feed(pending_);
    pending_.erase(0, used);
    if (parser_->failed()) return Refuse(parser_->refusal());
    if (!parser_->head_done()) return ReadMore();
    if (!head_seen_) {
      head_seen_ = true;
      version_minor_ = parser_->head().version_minor;
      if (!OnHead()) return;  // answered or refused from the head
      if (parser_->failed()) return Refuse(parser_->refusal());
      ArmTimer(request_deadline_);
      if (parser_->head().expect_continue && !parser_->done() && version_minor_ >= 1) {
        stream_.expires_after(server_.options.write_timeout);
        net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                         beast::bind_front_handler(&HttpSession::OnContinueWritten, shared_from_this()));
        return;
      }
      return Parse();  // the body may be here already
    }
    if (parser_->done()) {
      DisarmTimer();
      return Handle();
    }
    ReadMore();
  }

  void ReadMore() {
    // Checked before every read, not only when the timer fires: a client that keeps sending must not be able
    // to outrun a cancellation that lands between two reads.
    if (SteadyClock::now() >= deadline_) return Refuse(TimeoutRefusal());
    if (!read_buffer_) read_buffer_ = std::make_unique<std::array<char, kReadSize>>();
    stream_.socket().async_read_some(net::buffer(*read_buffer_),
                                     beast::bind_front_handler(&HttpSession::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t bytes) {
    if (state_ != State::kReading) return;
    if (timer_fired_ || SteadyClock::now() >= deadline_) return Refuse(TimeoutRefusal());
    if (ec) {
      // The client hung up in the middle of a request (or the socket failed): nobody to answer.
      fail(ec, "read");
      return Close(false);
    }
    pending_.append(read_buffer_->data(), bytes);
    Parse();
  }

  void OnContinueWritten(beast::error_code ec, size_t /*bytes*/) {
    if (state_ != State::kReading) return;
    stream_.expires_never();
    if (ec) {
      fail(ec, "write 100-continue");
      return Close(false);
    }
    Parse();
  }

  Refusal TimeoutRefusal() const {
    return Refusal{RefusalReason::kTimeout,
                   head_seen_ ? "request body not received in time" : "request headers not received in time"};
  }

  // The head is complete: build the request, find its route, apply the route's limit and checks. False when
  // the request was answered here.
  bool OnHead() {
    RequestHead& head = parser_->mutable_head();
    head_only_ = head.method == "HEAD";
    keep_alive_ = head.keep_alive;
    request_.method = std::move(head.method);
    request_.target = std::move(head.target);
    for (auto& [name, value] : head.fields) {
      auto [it, inserted] = request_.headers.emplace(name, value);
      if (!inserted) absl::StrAppend(&it->second, ",", value);
    }
    request_.peer_address = peer_address_;
    request_.remote_address = peer_address_;
    const std::string& header = server_.options.client_address_header;
    if (!header.empty()) {
      if (auto it = request_.headers.find(header); it != request_.headers.end() && !it->second.empty()) {
        std::string client = ClientFromHeader(it->second);
        if (!client.empty()) request_.remote_address = std::move(client);
      }
      // Behind a proxy, a connection counts for the client of its latest request.
      if (server_.client_slots.enabled() && slot_client_ != request_.remote_address) {
        if (slot_client_.has_value()) server_.client_slots.Release(*slot_client_);
        slot_client_.reset();
        if (!server_.client_slots.Acquire(request_.remote_address)) {
          Refuse(Refusal{RefusalReason::kClientOverCapacity, "too many open connections from this client"});
          return false;
        }
        slot_client_ = request_.remote_address;
      }
    }

    auto url = boost::urls::parse_origin_form(request_.target);
    if (!url) url = boost::urls::parse_absolute_uri(request_.target);  // "GET http://host/path HTTP/1.1"
    if (!url) {
      Refuse(Refusal{RefusalReason::kBadHttp, "malformed request target"});
      return false;
    }
    request_.path = url->path();
    if (request_.path.empty()) request_.path = "/";
    for (const auto& param : url->params(boost::urls::encoding_opts(/*space_as_plus=*/true))) {
      request_.query.emplace(param.key, param.has_value ? param.value : std::string());
    }

    Router::Match match = server_.router.Find(request_.method, request_.path);
    route_label_ = std::move(match.label);
    started_ = SteadyClock::now();
    const bool has_body = parser_->head().has_body();
    if (match.route == nullptr) {
      // 404 / 405 at once; a body nobody wants is not read (so the connection closes after the answer).
      Write(std::move(match.refusal), /*close=*/has_body || !keep_alive_);
      return false;
    }
    route_ = match.route;
    if (route_->options.body_limit > 0) parser_->LimitBody(route_->options.body_limit);
    if (parser_->failed()) {
      Refuse(parser_->refusal());
      return false;
    }
    if (route_->options.precheck) {
      std::optional<Response> refused;
      try {
        refused = route_->options.precheck(request_);
      } catch (const std::exception& e) {
        kernel::LogError("http precheck threw", {{"route", route_label_}, {"error", e.what()}});
        refused = Response::Error(500, "internal", "internal error");
      }
      if (refused.has_value()) {
        Write(*std::move(refused), /*close=*/has_body || !keep_alive_);
        return false;
      }
    }
    return true;
  }

  // Runs the route's handler on the handler pool.
  void Handle() {
    state_ = State::kHandling;
    started_ = SteadyClock::now();
    request_.body = std::move(parser_->body());
    parser_.reset();
    if (!server_.handler_pool) {
      Response response = Router::Run(*route_, request_);
      std::shared_ptr<Completion> completion = TakeCompletion(response);
      return OnHandled(std::move(response), std::move(completion));
    }
    net::post(*server_.handler_pool, [self = shared_from_this()] {
      Response response = Router::Run(*self->route_, self->request_);
      std::shared_ptr<Completion> completion = TakeCompletion(response);
      net::post(self->stream_.get_executor(),
                [self, response = std::move(response), completion = std::move(completion)]() mutable {
                  self->OnHandled(std::move(response), std::move(completion));
                });
    });
  }

  // `completion` (may be null) reports the response's fate; dropping it unreported reports false.
  void OnHandled(Response response, std::shared_ptr<Completion> completion) {
    if (state_ != State::kHandling) return;  // force-closed meanwhile
    request_ = Request{};                    // the body can be large: do not keep it while idle
    if (response.drop_connection) {
      if (completion) completion->Done(false);
      return Close(false);
    }
    // Only a handler that asked to know pays for the check: a client that gave up (closed, or reset) before
    // the answer was ready has left its EOF or RST unread in the socket.
    peer_gone_ = completion != nullptr && PeerHasClosed();
    completion_ = std::move(completion);
    Write(std::move(response), !keep_alive_);
  }

  // True when the client has closed its side or reset the connection (seen without consuming anything).
  bool PeerHasClosed() {
    char byte;
    const ssize_t n = ::recv(stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
  }

  // A refusal of the server's own; the connection is closed after it.
  void Refuse(const Refusal& refusal) {
    DisarmTimer();
    if (!head_seen_) route_label_ = std::string(kRouteRejected);
    started_ = SteadyClock::now();
    server_.ObserveRefusal(route_label_, refusal,
                           request_.remote_address.empty() ? peer_address_ : request_.remote_address);
    Write(Response::Error(RefusalStatus(refusal.reason), RefusalLabel(refusal.reason), refusal.message),
          /*close=*/true);
  }

  void Write(Response response, bool close) {
    // The read deadline is over: an answer given from the head must not be cancelled by it (the write has
    // its own, write_timeout).
    DisarmTimer();
    state_ = State::kWriting;
    close_after_write_ = close || server_.stopping;
    if (response.status < 200 || response.status > 999) {
      kernel::LogError("http handler returned an invalid status",
                       {{"route", route_label_}, {"status", response.status}});
      response = Response::Error(500, "internal", "internal error");
    }
    status_ = response.status;
    Serialize(response);
    stream_.expires_after(server_.options.write_timeout);
    net::async_write(stream_, net::buffer(out_),
                     beast::bind_front_handler(&HttpSession::OnWrite, shared_from_this()));
  }

  // The response on the wire. HEAD gets the status and headers GET would have, Content-Length included, and
  // no body (RFC 9110 §9.3.2); 204 and 304 never carry one.
  void Serialize(const Response& response) {
    const bool no_content = response.status == 204 || response.status == 304;
    out_.clear();
    const auto status = static_cast<bhttp::status>(response.status);
    const beast::string_view reason = bhttp::obsolete_reason(status);
    absl::StrAppend(&out_, "HTTP/1.", version_minor_ == 0 ? 0 : 1, " ", response.status, " ",
                    std::string_view(reason.data(), reason.size()) == "<unknown-status>"
                        ? std::string("Unknown")
                        : std::string(reason.data(), reason.size()),
                    "\r\nServer: protectogram\r\n");
    std::string_view content_type = response.content_type;
    for (const auto& [name, value] : response.headers) {
      if (beast::iequals(name, "content-type")) content_type = value;
    }
    if (!content_type.empty() && IsSafeHeaderValue(content_type)) {
      absl::StrAppend(&out_, "Content-Type: ", std::string(content_type), "\r\n");
    }
    for (const auto& [name, value] : response.headers) {
      if (beast::iequals(name, "content-type") || beast::iequals(name, "content-length") ||
          beast::iequals(name, "connection") || beast::iequals(name, "server") ||
          beast::iequals(name, "transfer-encoding")) {
        continue;
      }
      if (!IsToken(name) || !IsSafeHeaderValue(value)) {
        kernel::LogError("http handler returned a header that cannot be sent", {{"route", route_label_}});
        continue;
      }
      absl::StrAppend(&out_, name, ": ", value, "\r\n");
    }
    if (!no_content) absl::StrAppend(&out_, "Content-Length: ", response.body.size(), "\r\n");
    if (close_after_write_) {
      out_.append("Connection: close\r\n");
    } else if (version_minor_ == 0) {
      out_.append("Connection: keep-alive\r\n");
    }
    out_.append("\r\n");
    if (!no_content && !head_only_) out_.append(response.body);
  }

  void OnWrite(beast::error_code ec, size_t /*bytes*/) {
    if (state_ != State::kWriting) return;
    stream_.expires_never();
    if (completion_) {
      completion_->Done(!ec && !peer_gone_);
      completion_.reset();
    }
    server_.Observe(route_label_, status_, SteadyClock::now() - started_);
    if (ec) {
      fail(ec, "write");
      return Close(false);
    }
    out_.clear();
    out_.shrink_to_fit();
    if (close_after_write_) return Close(/*linger=*/true);
    WaitForRequest();
  }

  // Closes the connection; with `linger`, first stops sending and discards input for up to kLingerTime.
  void Close(bool linger) {
    if (state_ == State::kClosed) return;
    DisarmTimer();
    beast::error_code ec;
    if (linger && !server_.stopping && state_ != State::kLingering) {
      state_ = State::kLingering;
      pending_.clear();
      pending_.shrink_to_fit();
      parser_.reset();
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      if (!ec) {
        if (!read_buffer_) read_buffer_ = std::make_unique<std::array<char, kReadSize>>();
        ArmTimer(SteadyClock::now() + kLingerTime);
        return Discard();
      }
    }
    state_ = State::kClosed;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  void Discard() {
    stream_.socket().async_read_some(
        net::buffer(*read_buffer_), [self = shared_from_this()](beast::error_code ec, size_t /*bytes*/) {
          if (self->state_ != State::kLingering) return;
          if (ec || self->timer_fired_)
            return self->Close(false);  // the client closed, or kLingerTime passed
          self->Discard();
        });
  }

  // Our deadline: when it passes, the pending read or wait is cancelled (the socket stays open for a 408).
  void ArmTimer(SteadyClock::time_point deadline) {
    timer_fired_ = false;
    deadline_ = deadline;
    const uint64_t generation = ++timer_generation_;
    timer_.expires_at(deadline);
    timer_.async_wait([self = shared_from_this(), generation](beast::error_code ec) {
      if (ec || generation != self->timer_generation_) return;  // disarmed or re-armed meanwhile
      self->timer_fired_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
  }

  void DisarmTimer() {
    ++timer_generation_;
    timer_fired_ = false;
    deadline_ = SteadyClock::time_point::max();
    timer_.cancel();
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
  net::steady_timer timer_;
  uint64_t timer_generation_ = 0;
  bool timer_fired_ = false;
  SteadyClock::time_point deadline_ = SteadyClock::time_point::max();
  SteadyClock::time_point request_deadline_;
  const bool admitted_;  // counted in open_connections; false for a connection over the cap
  const std::string peer_address_;
  std::optional<std::string> slot_client_;  // the client whose slot this connection holds
  State state_ = State::kIdle;
  bool first_request_ = true;
  std::unique_ptr<std::array<char, kReadSize>> read_buffer_;
  std::string
      pending_;  // bytes read and not yet consumed by the parser (at most a line, or the next request)
  std::optional<RequestParser> parser_;
  bool head_seen_ = false;
  const Router::Route* route_ = nullptr;
  std::string route_label_;
  Request request_;
  bool head_only_ = false;
  int version_minor_ = 1;
  bool keep_alive_ = false;
  std::string out_;
  int status_ = 0;
  bool close_after_write_ = false;
  SteadyClock::time_point started_;
  std::shared_ptr<Completion> completion_;  // the response being written asked to know its fate
  bool peer_gone_ = false;                  // the client had closed its side before that response was ready
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
    beast::error_code remote_ec;
    const tcp::endpoint remote = socket.remote_endpoint(remote_ec);
    std::string peer = remote_ec ? std::string() : remote.address().to_string();
    std::optional<RefusalReason> turned_away;
    if (!admitted) turned_away = RefusalReason::kOverCapacity;
    // Without a trusted proxy header the peer is the client, known now; behind a proxy, the session
    // attributes itself to a client when a request names one.
    bool peer_slot = false;
    if (admitted && server_.client_slots.enabled() && server_.options.client_address_header.empty()) {
      peer_slot = server_.client_slots.Acquire(peer);
      if (!peer_slot) turned_away = RefusalReason::kClientOverCapacity;
    }
    std::make_shared<HttpSession>(std::move(socket), std::move(peer), server_, admitted, peer_slot)
        ->Run(turned_away);
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
