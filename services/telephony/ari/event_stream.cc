// One connection at a time, as a chain of asynchronous steps on the stream's own io_context: resolve ->
// connect -> WebSocket handshake -> read, read, ...; any error closes the connection and arms the backoff
// timer, whose expiry starts the chain again with a new stream. Everything runs on the one thread that runs
// the io_context, so the steps need no lock; Stop() reaches them only by posting to it.
#include "services/telephony/ari/event_stream.h"

#include <algorithm>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/websocket.hpp"
#include "boost/url/parse.hpp"
#include "libs/crypto/encoding.h"
#include "libs/kernel/log.h"
#include "libs/providers/ari/ari.h"

namespace protectogram::telephony::ari {
namespace {

namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

std::string ToString(boost::urls::string_view s) { return std::string(s.data(), s.size()); }

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

struct WsTarget {
  std::string host;         // for resolving
  std::string port;         // "8088"
  std::string host_header;  // "127.0.0.1:8088"
  std::string target;       // "/ari/events?app=..."
};

absl::StatusOr<WsTarget> ParseWsUrl(std::string_view url) {
  auto parsed = boost::urls::parse_absolute_uri(boost::urls::string_view(url.data(), url.size()));
  if (!parsed) return absl::InvalidArgumentError("ari events: malformed URL");
  if (Lower(ToString(parsed->scheme())) != "ws") {
    return absl::InvalidArgumentError("ari events: the URL must be ws:// (wss is not supported)");
  }
  if (!parsed->has_authority() || parsed->encoded_host().empty()) {
    return absl::InvalidArgumentError("ari events: the URL has no host");
  }
  WsTarget t;
  t.host = parsed->host_address();
  t.port = parsed->has_port() ? ToString(parsed->port()) : "80";
  t.host_header = ToString(parsed->encoded_host_and_port());
  t.target = ToString(parsed->encoded_path());
  if (t.target.empty()) t.target = "/";
  if (parsed->has_query()) absl::StrAppend(&t.target, "?", ToString(parsed->encoded_query()));
  return t;
}

std::chrono::steady_clock::duration Chrono(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(absl::ToChronoNanoseconds(d));
}

}  // namespace

absl::StatusOr<std::string> EventsUrl(std::string_view http_url, std::string_view app) {
  if (app.empty()) return absl::InvalidArgumentError("ari: the app is required");
  auto parsed = boost::urls::parse_absolute_uri(boost::urls::string_view(http_url.data(), http_url.size()));
  if (!parsed || Lower(ToString(parsed->scheme())) != "http" || !parsed->has_authority() ||
      parsed->encoded_host().empty() || parsed->has_query() || parsed->has_fragment() ||
      parsed->has_userinfo()) {
    return absl::InvalidArgumentError("ari: ARI_HTTP_URL must be http://host[:port][/prefix]");
  }
  std::string prefix = ToString(parsed->encoded_path());
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  return absl::StrCat("ws://", ToString(parsed->encoded_host_and_port()), prefix,
                      providers::ari::EventsPath(std::string(app)));
}

struct EventStream::Impl {
  Impl(EventStream& owner, WsTarget target) : owner(owner), target(std::move(target)) {}

  // The chain. Each step runs on the io_context's thread.
  void Connect() {
    if (stopping) return;
    ws.emplace(ioc);
    resolver.async_resolve(
        target.host, target.port, [this](beast::error_code ec, tcp::resolver::results_type results) {
          if (ec) return Fail("resolve", ec);
          beast::get_lowest_layer(*ws).expires_after(Chrono(owner.options_.connect_timeout));
          beast::get_lowest_layer(*ws).async_connect(
              results, [this](beast::error_code ec, const tcp::endpoint&) { OnConnect(ec); });
        });
  }

  void OnConnect(beast::error_code ec) {
    if (ec) return Fail("connect", ec);
    // The stream's own timer stops here; the WebSocket's timeouts take over (handshake, then idle).
    beast::get_lowest_layer(*ws).expires_never();
    websocket::stream_base::timeout timeouts;
    timeouts.handshake_timeout = Chrono(owner.options_.connect_timeout);
    timeouts.idle_timeout = Chrono(owner.options_.idle_timeout);
    timeouts.keep_alive_pings = true;
    ws->set_option(timeouts);
    const std::string authorization =
        "Basic " + crypto::Base64Encode(owner.options_.username + ":" + owner.options_.password);
    ws->set_option(websocket::stream_base::decorator([authorization](websocket::request_type& request) {
      request.set(beast::http::field::authorization, authorization);
      request.set(beast::http::field::user_agent, "protectogram");
    }));
    ws->async_handshake(target.host_header, target.target, [this](beast::error_code ec) { OnHandshake(ec); });
  }

  void OnHandshake(beast::error_code ec) {
    if (ec) return Fail("handshake", ec);
    backoff = owner.options_.reconnect_initial;
    owner.connected_.store(true);
    const int n = owner.connections_.fetch_add(1) + 1;
    kernel::LogInfo("ari events connected", {{"connections", n}});
    failures = 0;
    Read();
  }

  void Read() {
    ws->async_read(buffer, [this](beast::error_code ec, size_t) {
      if (ec) return Fail("read", ec);
      if (ws->got_text()) {
        const std::string text = beast::buffers_to_string(buffer.data());
        buffer.consume(buffer.size());
        owner.on_frame_(text);
      } else {
        buffer.consume(buffer.size());
      }
      Read();
    });
  }

  // Closes the connection and tries again after the backoff. The stream is replaced only in Connect, out of
  // its own completion handlers.
  void Fail(std::string_view step, beast::error_code ec) {
    const bool was_connected = owner.connected_.exchange(false);
    if (ws) {
      beast::error_code ignored;
      beast::get_lowest_layer(*ws).socket().close(ignored);
    }
    if (stopping) return;
    // One warning per outage; the retries behind it are debug lines.
    const kernel::LogLevel level =
        (was_connected || failures == 0) ? kernel::LogLevel::kWarn : kernel::LogLevel::kDebug;
    kernel::Log(
        level, "ari events connection failed",
        {{"step", step}, {"error", ec.message()}, {"retry_in_ms", absl::ToInt64Milliseconds(backoff)}});
    ++failures;
    buffer.consume(buffer.size());
    timer.expires_after(Chrono(backoff));
    backoff = std::min(backoff * 2, owner.options_.reconnect_max);
    timer.async_wait([this](beast::error_code ec) {
      if (!ec) Connect();
    });
  }

  // Posted by Stop: closes the connection and stops the io_context, so run() returns at once. (Letting the
  // cancelled operations finish is not enough: the WebSocket's keep-alive timer stays pending up to
  // idle_timeout / 2.) What is still queued is destroyed with the io_context, never run.
  void Shutdown() {
    stopping = true;
    timer.cancel();
    resolver.cancel();
    if (ws) {
      beast::error_code ignored;
      beast::get_lowest_layer(*ws).socket().shutdown(tcp::socket::shutdown_both, ignored);
      beast::get_lowest_layer(*ws).socket().close(ignored);
    }
    ioc.stop();
  }

  EventStream& owner;
  const WsTarget target;
  net::io_context ioc;  // first: destroyed after everything that uses it
  tcp::resolver resolver{ioc};
  net::steady_timer timer{ioc};
  std::optional<websocket::stream<beast::tcp_stream>> ws;
  beast::flat_buffer buffer;
  absl::Duration backoff;
  int failures = 0;
  bool stopping = false;  // only touched on the io thread
  std::thread thread;
};

EventStream::EventStream(EventStreamOptions options, OnFrame on_frame)
    : options_(std::move(options)), on_frame_(std::move(on_frame)) {}

EventStream::~EventStream() { Stop(); }

absl::Status EventStream::Start() {
  if (impl_) return absl::FailedPreconditionError("ari events: started already");
  absl::StatusOr<WsTarget> target = ParseWsUrl(options_.url);
  if (!target.ok()) return target.status();
  impl_ = std::make_unique<Impl>(*this, std::move(*target));
  impl_->backoff = options_.reconnect_initial;
  Impl* impl = impl_.get();
  net::post(impl->ioc, [impl] { impl->Connect(); });
  impl->thread = std::thread([impl] { impl->ioc.run(); });
  return absl::OkStatus();
}

void EventStream::Stop() {
  if (!impl_) return;
  Impl* impl = impl_.get();
  if (impl->thread.joinable()) {
    net::post(impl->ioc, [impl] { impl->Shutdown(); });
    impl->thread.join();
  }
  connected_.store(false);
}

}  // namespace protectogram::telephony::ari
