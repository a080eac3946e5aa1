// The fake's parts: a Listener accepts connections; an HttpSession reads requests and has the Core answer
// them, until a request is a WebSocket upgrade, when the connection becomes a WsSession (an event
// subscriber). The Core holds everything the fake knows under one lock: the scripts, the channels, the
// records and the subscribers. Scripted steps of a call run on timers of the io_context; each takes the lock,
// moves the channel on and emits its events, so a call's events come out in the order its script gives.
//
// Locking: events are handed to a subscriber by posting to its strand (never written under the lock), and
// nothing the lock guards is touched by a destructor, so a session dying anywhere can never deadlock.
#include "libs/providers/ari/fake_ari.h"

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/dispatch.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/strand.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/websocket.hpp"
#include "libs/crypto/encoding.h"
#include "libs/http/form.h"
#include "libs/providers/ari/ari.h"

namespace protectogram::providers::ari {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
namespace net = boost::asio;
namespace json = boost::json;
using tcp = net::ip::tcp;
using Request = bhttp::request<bhttp::string_body>;
using Query = std::multimap<std::string, std::string>;

constexpr char kServer[] = "Asterisk/20.5.0";
constexpr std::chrono::seconds kReadTimeout{60};
constexpr std::chrono::seconds kWriteTimeout{10};

json::string_view Key(std::string_view s) { return json::string_view(s.data(), s.size()); }

// ARI's time form: milliseconds and a +hhmm offset (ast_json_timeval).
std::string AriTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3S%z", t, absl::UTCTimeZone());
}

std::string Param(const Query& query, std::string_view name) {
  auto it = query.find(std::string(name));
  return it == query.end() ? "" : it->second;
}

// `s` split at every `sep`, empty parts dropped. (Not absl::StrSplit: Debian's Abseil has its own
// string_view, which std::string_view does not convert to.)
std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const size_t at = s.find(sep);
    if (at != 0) out.emplace_back(s.substr(0, at));
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return out;
}

struct Reply {
  int status = 200;
  std::string body;  // JSON; "" for none
  std::vector<std::pair<std::string, std::string>> headers;
};

// Asterisk's error answers: {"message": "..."}.
Reply Message(int status, std::string_view message) {
  json::object o;
  o["message"] = Key(message);
  return Reply{.status = status, .body = json::serialize(o)};
}

// "Alert <+15557654321>" -> {"Alert", "+15557654321"}; a bare number has no name.
std::pair<std::string, std::string> SplitCallerId(std::string_view caller_id) {
  const size_t open = caller_id.find('<');
  const size_t close = caller_id.rfind('>');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return {"", std::string(caller_id)};
  }
  std::string name(caller_id.substr(0, open));
  while (!name.empty() && (name.back() == ' ' || name.back() == '"')) name.pop_back();
  while (!name.empty() && name.front() == '"') name.erase(0, 1);
  return {name, std::string(caller_id.substr(open + 1, close - open - 1))};
}

struct FakeChannel {
  uint64_t serial = 0;  // tells a channel from a later one that reuses its id
  std::string id;
  std::string name;
  std::string number;
  std::string caller_id;
  std::string app;
  std::string app_args;
  int timeout_secs = 30;
  CallScript script;
  std::string state = "Down";
  absl::Time created;
  bool alive = true;
  bool in_stasis = false;
  bool digit_sent = false;
};

json::object ChannelJson(const FakeChannel& c) {
  auto [caller_name, caller_number] = SplitCallerId(c.caller_id);
  json::object caller;
  caller["name"] = caller_name;
  caller["number"] = caller_number;
  json::object connected;
  connected["name"] = "";
  connected["number"] = c.number;
  json::object dialplan;
  dialplan["context"] = "default";
  dialplan["exten"] = "s";
  dialplan["priority"] = 1;
  dialplan["app_name"] = c.in_stasis ? "Stasis" : "";
  dialplan["app_data"] = c.in_stasis ? c.app + (c.app_args.empty() ? "" : "," + c.app_args) : "";
  json::object o;
  o["id"] = c.id;
  o["name"] = c.name;
  o["state"] = c.state;
  o["protocol_id"] = "";
  o["caller"] = std::move(caller);
  o["connected"] = std::move(connected);
  o["accountcode"] = "";
  o["dialplan"] = std::move(dialplan);
  o["creationtime"] = AriTime(c.created);
  o["language"] = "en";
  return o;
}

// Q.850 cause of DELETE's reason (resource_channels.c ast_ari_channels_hangup); nullopt for an unknown one.
std::optional<std::pair<int, std::string>> CauseOfReason(std::string_view reason) {
  if (reason.empty() || reason == "normal") return std::pair<int, std::string>(16, "Normal Clearing");
  if (reason == "busy") return std::pair<int, std::string>(17, "User busy");
  if (reason == "no_answer") return std::pair<int, std::string>(19, "User alerting, no answer");
  if (reason == "congestion") return std::pair<int, std::string>(34, "Circuit/channel congestion");
  return std::nullopt;
}

class WsSession;

// Everything the fake knows, and what it does; FakeAri::State is this (a private name the sessions cannot
// use).
class Core : public std::enable_shared_from_this<Core> {
 public:
  explicit Core(FakeAriOptions o) : options(std::move(o)) {}

  // --- called by the connections (I/O threads) ---

  // The answer to a REST request.
  Reply HandleRest(const Request& request);
  // The refusal of a WebSocket upgrade, or nullopt with the applications it subscribes to.
  std::optional<Reply> CheckSubscribe(const Request& request, std::set<std::string>* apps);
  void AddSubscriber(const std::shared_ptr<WsSession>& session, std::set<std::string> apps);
  void RemoveSubscriber(const WsSession* session);

  // --- called by FakeAri ---

  void Attach(net::io_context* ioc) {
    std::lock_guard<std::mutex> lock(mu);
    ioc_ = ioc;
  }
  void Detach() {
    std::lock_guard<std::mutex> lock(mu);
    ioc_ = nullptr;
    subscribers_.clear();
    ChangedLocked();
  }
  void Script(std::string_view number, CallScript script) {
    std::lock_guard<std::mutex> lock(mu);
    scripts_[std::string(number)] = std::move(script);
  }
  void ClearScripts() {
    std::lock_guard<std::mutex> lock(mu);
    scripts_.clear();
  }
  bool RemoteHangup(std::string_view channel_id) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = channels_.find(std::string(channel_id));
    if (it == channels_.end() || !it->second.alive) return false;
    HangupLocked(it->second, 16, "Normal Clearing");
    return true;
  }
  std::vector<FakeAri::Originate> Originates() const {
    std::lock_guard<std::mutex> lock(mu);
    return originates_;
  }
  int OriginateCountFor(std::string_view number) const {
    std::lock_guard<std::mutex> lock(mu);
    int n = 0;
    for (const FakeAri::Originate& o : originates_) n += o.number == number && o.status == 200;
    return n;
  }
  std::vector<FakeAri::Command> Commands() const {
    std::lock_guard<std::mutex> lock(mu);
    return commands_;
  }
  std::vector<FakeAri::Event> Events() const {
    std::lock_guard<std::mutex> lock(mu);
    return events_;
  }
  size_t SubscriberCount() const;
  void DropSubscribers();
  bool WaitFor(const std::function<bool()>& done, absl::Duration timeout) const;

  const FakeAriOptions options;

 private:
  struct Subscriber {
    std::weak_ptr<WsSession> session;
    std::set<std::string> apps;
  };

  void ChangedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    ++version_;
    changed_.notify_all();
  }
  bool Authorized(const Request& request, const Query& query) const;
  Reply DispatchLocked(const Request& request, const std::vector<std::string>& segments, const Query& query,
                       FakeAri::Command& command) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  Reply OriginateLocked(const Query& query) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  Reply PlayLocked(FakeChannel& channel, const Query& query) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Runs `step` on the channel after `delay`, under the lock, if the channel is still the one it was.
  void AfterLocked(absl::Duration delay, const FakeChannel& channel, std::function<void(FakeChannel&)> step)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void RingLocked(FakeChannel& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void AnswerLocked(FakeChannel& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void DestroyLocked(FakeChannel& c, int cause, std::string_view cause_txt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void HangupLocked(FakeChannel& c, int cause, std::string_view cause_txt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Sends {type, timestamp, <fields>, asterisk_id, application} to the subscribers of the channel's app.
  void EmitLocked(std::string_view type, const FakeChannel& c, json::object fields)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void EmitChannelEventLocked(std::string_view type, const FakeChannel& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    json::object fields;
    fields["channel"] = ChannelJson(c);
    EmitLocked(type, c, std::move(fields));
  }
  void EmitDialLocked(const FakeChannel& c, std::string_view dialstatus) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    json::object fields;
    fields["dialstatus"] = Key(dialstatus);
    fields["forward"] = "";
    fields["dialstring"] = c.number + "@trunk";
    fields["peer"] = ChannelJson(c);
    EmitLocked("Dial", c, std::move(fields));
  }

  mutable std::mutex mu;
  mutable std::condition_variable changed_;
  uint64_t version_ ABSL_GUARDED_BY(mu) = 0;            // counts changes, for WaitFor
  net::io_context* ioc_ ABSL_GUARDED_BY(mu) = nullptr;  // null before Start and after Stop
  std::map<std::string, CallScript> scripts_ ABSL_GUARDED_BY(mu);
  std::map<std::string, FakeChannel> channels_ ABSL_GUARDED_BY(mu);  // by id, ended ones included
  std::vector<FakeAri::Originate> originates_ ABSL_GUARDED_BY(mu);
  std::vector<FakeAri::Command> commands_ ABSL_GUARDED_BY(mu);
  std::vector<FakeAri::Event> events_ ABSL_GUARDED_BY(mu);
  std::map<const WsSession*, Subscriber> subscribers_ ABSL_GUARDED_BY(mu);
  uint64_t next_serial_ ABSL_GUARDED_BY(mu) = 0;
  uint64_t next_playback_ ABSL_GUARDED_BY(mu) = 0;
};

// An event subscriber: events are queued on its strand and written one at a time; what the client sends
// is read and dropped (Beast answers pings and close frames while reading).
class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(tcp::socket socket, std::shared_ptr<Core> core)
      : ws_(std::move(socket)), core_(std::move(core)) {}

  // Subscribes first, then accepts: by the time the client sees the handshake answer, events for it are
  // already being queued (they are written once the handshake is done).
  void Run(Request request, std::set<std::string> apps) {
    request_ = std::move(request);
    core_->AddSubscriber(shared_from_this(), std::move(apps));
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& response) { response.set(bhttp::field::server, kServer); }));
    net::dispatch(ws_.get_executor(), [self = shared_from_this()] {
      self->ws_.async_accept(self->request_, [self](beast::error_code ec) { self->OnAccept(ec); });
    });
  }

  // Thread-safe.
  void Send(std::string text) {
    net::post(ws_.get_executor(), [self = shared_from_this(), text = std::move(text)]() mutable {
      self->queue_.push_back(std::move(text));
      self->MaybeWrite();
    });
  }

  // Thread-safe: closes the TCP connection with no close frame.
  void Drop() {
    net::post(ws_.get_executor(), [self = shared_from_this()] {
      self->closed_ = true;
      beast::error_code ec;
      beast::get_lowest_layer(self->ws_).socket().shutdown(tcp::socket::shutdown_both, ec);
      beast::get_lowest_layer(self->ws_).close();
    });
  }

 private:
  void OnAccept(beast::error_code ec) {
    if (ec) {
      Fail();
      return;
    }
    accepted_ = true;
    MaybeWrite();
    DoRead();
  }

  void DoRead() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, size_t n) {
      if (ec) {
        self->Fail();
        return;
      }
      self->buffer_.consume(n);
      self->DoRead();
    });
  }

  void MaybeWrite() {
    if (!accepted_ || closed_ || writing_ || queue_.empty()) return;
    writing_ = true;
    ws_.text(true);
    ws_.async_write(net::buffer(queue_.front()), [self = shared_from_this()](beast::error_code ec, size_t) {
      self->writing_ = false;
      if (ec) {
        self->Fail();
        return;
      }
      self->queue_.pop_front();
      self->MaybeWrite();
    });
  }

  void Fail() {
    closed_ = true;
    core_->RemoveSubscriber(this);
  }

  websocket::stream<beast::tcp_stream> ws_;
  std::shared_ptr<Core> core_;
  Request request_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  bool accepted_ = false;
  bool writing_ = false;
  bool closed_ = false;
};

// One HTTP connection: keep-alive REST requests, or one upgrade that hands the socket to a WsSession.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, std::shared_ptr<Core> core)
      : stream_(std::move(socket)), core_(std::move(core)) {}

  void Run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->DoRead(); });
  }

 private:
  void DoRead() {
    request_ = {};
    stream_.expires_after(kReadTimeout);
    bhttp::async_read(stream_, buffer_, request_,
                      [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec) {
      Close();
      return;
    }
    if (websocket::is_upgrade(request_)) {
      std::set<std::string> apps;
      if (std::optional<Reply> refusal = core_->CheckSubscribe(request_, &apps)) {
        Write(*refusal, /*close=*/true);
        return;
      }
      stream_.expires_never();
      std::make_shared<WsSession>(stream_.release_socket(), core_)->Run(std::move(request_), std::move(apps));
      return;
    }
    Write(core_->HandleRest(request_), !request_.keep_alive());
  }

  void Write(const Reply& reply, bool close) {
    auto response = std::make_shared<bhttp::response<bhttp::string_body>>();
    response->version(request_.version());
    response->result(static_cast<unsigned>(reply.status));
    response->set(bhttp::field::server, kServer);
    if (!reply.body.empty()) response->set(bhttp::field::content_type, "application/json");
    for (const auto& [name, value] : reply.headers) response->set(name, value);
    response->keep_alive(!close);
    response->body() = reply.body;
    response->prepare_payload();
    stream_.expires_after(kWriteTimeout);
    bhttp::async_write(stream_, *response,
                       [self = shared_from_this(), response, close](beast::error_code ec, size_t) {
                         if (ec || close) {
                           self->Close();
                           return;
                         }
                         self->DoRead();
                       });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  std::shared_ptr<Core> core_;
  beast::flat_buffer buffer_;
  Request request_;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, tcp::acceptor acceptor, std::shared_ptr<Core> core)
      : ioc_(ioc), acceptor_(std::move(acceptor)), core_(std::move(core)) {}

  void Accept() {
    acceptor_.async_accept(net::make_strand(ioc_),
                           [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                             if (ec == net::error::operation_aborted || !self->acceptor_.is_open()) return;
                             if (!ec) std::make_shared<HttpSession>(std::move(socket), self->core_)->Run();
                             self->Accept();
                           });
  }

 private:
  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  std::shared_ptr<Core> core_;
};

// --- Core ---

bool Core::Authorized(const Request& request, const Query& query) const {
  const std::string expected = options.username + ":" + options.password;
  if (auto it = request.find(bhttp::field::authorization); it != request.end()) {
    std::string_view value(it->value().data(), it->value().size());
    if (value.starts_with("Basic ")) {
      absl::StatusOr<std::string> decoded = crypto::Base64Decode(value.substr(6));
      if (decoded.ok() && *decoded == expected) return true;
    }
  }
  return Param(query, "api_key") == expected;
}

Reply Core::HandleRest(const Request& request) {
  const std::string_view target(request.target().data(), request.target().size());
  const size_t question = target.find('?');
  const Query query =
      question == std::string_view::npos ? Query() : http::FormDecode(target.substr(question + 1));
  std::vector<std::string> segments;
  for (const std::string& s : Split(target.substr(0, question), '/')) {
    segments.push_back(http::PercentDecode(s));
  }
  FakeAri::Command command{.received_at = absl::Now(),
                           .method = std::string(request.method_string()),
                           .action = "unknown",
                           .query = query};
  std::lock_guard<std::mutex> lock(mu);
  Reply reply = Authorized(request, query) ? DispatchLocked(request, segments, query, command)
                                           : Message(401, "Authentication required");
  if (reply.status == 401) {
    reply.headers.emplace_back("WWW-Authenticate", "Basic realm=\"Asterisk REST Interface\"");
  }
  command.status = reply.status;
  commands_.push_back(std::move(command));
  ChangedLocked();
  return reply;
}

Reply Core::DispatchLocked(const Request& request, const std::vector<std::string>& segments,
                           const Query& query, FakeAri::Command& command) {
  const bhttp::verb method = request.method();
  if (segments.size() < 2 || segments[0] != "ari") return Message(404, "Resource not found");
  if (segments[1] == "events") {
    command.action = "events";
    return Message(400, "Invalid request: a WebSocket upgrade is required");
  }
  if (segments[1] != "channels" || segments.size() > 4) return Message(404, "Resource not found");
  if (segments.size() == 2) {
    command.action = "originate";
    if (method != bhttp::verb::post) return Message(405, "Invalid method");
    return OriginateLocked(query);
  }
  command.channel_id = segments[2];
  const std::string action = segments.size() == 4 ? segments[3] : "";
  if (action.empty()) {
    if (method == bhttp::verb::delete_) {
      command.action = "hangup";
    } else if (method == bhttp::verb::get) {
      command.action = "get";
    } else {
      return Message(405, "Invalid method");
    }
  } else if (action == "play" || action == "continue") {
    command.action = action;
    if (method != bhttp::verb::post) return Message(405, "Invalid method");
  } else {
    return Message(404, "Resource not found");
  }
  auto it = channels_.find(command.channel_id);
  if (it == channels_.end() || !it->second.alive) return Message(404, "Channel not found");
  FakeChannel& channel = it->second;
  if (command.action == "get") return Reply{.status = 200, .body = json::serialize(ChannelJson(channel))};
  if (command.action == "hangup") {
    std::optional<std::pair<int, std::string>> cause = CauseOfReason(Param(query, "reason"));
    if (!cause) return Message(400, "Invalid reason for hangup provided");
    HangupLocked(channel, cause->first, cause->second);
    return Reply{.status = 204};
  }
  if (!channel.in_stasis) return Message(409, "Channel not in Stasis application");
  if (command.action == "play") return PlayLocked(channel, query);
  // continue: the channel leaves our application for the dialplan.
  channel.in_stasis = false;
  EmitChannelEventLocked("StasisEnd", channel);
  return Reply{.status = 204};
}

Reply Core::OriginateLocked(const Query& query) {
  FakeAri::Originate record{.received_at = absl::Now(),
                            .endpoint = Param(query, "endpoint"),
                            .app = Param(query, "app"),
                            .app_args = Param(query, "appArgs"),
                            .caller_id = Param(query, "callerId"),
                            .channel_id = Param(query, "channelId")};
  record.number = NumberOfEndpoint(record.endpoint);
  const std::string timeout = Param(query, "timeout");
  Reply reply;
  if (!timeout.empty() && !absl::SimpleAtoi(timeout, &record.timeout_secs)) {
    reply = Message(400, "timeout must be an integer");
  } else if (record.endpoint.empty()) {
    reply = Message(400, "Endpoint must be specified");
  } else if (record.app.empty()) {
    reply = Message(400, "Application or extension must be specified");
  } else if (record.app != options.app) {
    reply = Message(400, absl::StrCat("Stasis application '", record.app, "' is not registered"));
  } else if (auto it = channels_.find(record.channel_id);
             !record.channel_id.empty() && it != channels_.end() && it->second.alive) {
    reply = Message(409, "Channel with given unique ID already exists");
  } else {
    auto script = scripts_.find(record.number);
    const CallScript call_script = script == scripts_.end() ? CallScript::PressDigit() : script->second;
    if (call_script.outcome == CallOutcome::kRejectOriginate) {
      reply = Message(call_script.reject_status, "Allocation failed");
    } else {
      FakeChannel c;
      c.serial = ++next_serial_;
      c.created = record.received_at;
      c.id = record.channel_id.empty() ? absl::StrCat(absl::ToUnixSeconds(c.created), ".", c.serial)
                                       : record.channel_id;
      char name[32];
      std::snprintf(name, sizeof(name), "PJSIP/trunk-%08llx", static_cast<unsigned long long>(c.serial));
      c.name = name;
      c.number = record.number;
      c.caller_id = record.caller_id;
      c.app = record.app;
      c.app_args = record.app_args;
      c.timeout_secs = record.timeout_secs;
      c.script = call_script;
      FakeChannel& stored = channels_[c.id] = std::move(c);
      reply = Reply{.status = 200, .body = json::serialize(ChannelJson(stored))};
      AfterLocked(absl::ZeroDuration(), stored, [this](FakeChannel& ch) { RingLocked(ch); });
    }
  }
  record.status = reply.status;
  originates_.push_back(std::move(record));
  return reply;
}

Reply Core::PlayLocked(FakeChannel& channel, const Query& query) {
  const std::string media = Param(query, "media");
  if (media.empty()) return Message(400, "media must be specified");
  std::string id = Param(query, "playbackId");
  if (id.empty()) id = absl::StrCat("playback-", ++next_playback_);
  json::object playback;
  playback["id"] = id;
  playback["media_uri"] = media;
  playback["target_uri"] = "channel:" + channel.id;
  playback["language"] = Param(query, "lang").empty() ? "en" : Param(query, "lang");
  playback["state"] = "queued";
  Reply reply{.status = 201, .body = json::serialize(playback)};
  auto emit = [this](FakeChannel& ch, json::object pb, std::string_view type, std::string_view state) {
    pb["state"] = Key(state);
    json::object fields;
    fields["playback"] = std::move(pb);
    EmitLocked(type, ch, std::move(fields));
  };
  AfterLocked(absl::ZeroDuration(), channel, [this, playback, emit](FakeChannel& ch) {
    emit(ch, playback, "PlaybackStarted", "playing");
    AfterLocked(ch.script.playback_time, ch, [this, playback, emit](FakeChannel& ch) {
      emit(ch, playback, "PlaybackFinished", "done");
      if (ch.script.outcome != CallOutcome::kPressDigit || ch.digit_sent) return;
      AfterLocked(ch.script.digit_after, ch, [this](FakeChannel& ch) {
        if (!ch.in_stasis || ch.digit_sent) return;
        ch.digit_sent = true;
        json::object fields;
        fields["digit"] = ch.script.digit;
        fields["duration_ms"] = 100;
        fields["channel"] = ChannelJson(ch);
        EmitLocked("ChannelDtmfReceived", ch, std::move(fields));
      });
    });
  });
  return reply;
}

void Core::AfterLocked(absl::Duration delay, const FakeChannel& channel,
                       std::function<void(FakeChannel&)> step) {
  if (ioc_ == nullptr) return;
  auto timer = std::make_shared<net::steady_timer>(
      *ioc_, absl::ToChronoNanoseconds(std::clamp(delay, absl::ZeroDuration(), absl::Hours(1))));
  timer->async_wait([self = shared_from_this(), timer, id = channel.id, serial = channel.serial,
                     step = std::move(step)](beast::error_code ec) {
    if (ec) return;
    std::lock_guard<std::mutex> lock(self->mu);
    auto it = self->channels_.find(id);
    if (it == self->channels_.end() || it->second.serial != serial || !it->second.alive) return;
    step(it->second);
    self->ChangedLocked();
  });
}

void Core::RingLocked(FakeChannel& c) {
  c.state = "Ringing";
  EmitChannelEventLocked("ChannelStateChange", c);
  EmitDialLocked(c, "RINGING");
  switch (c.script.outcome) {
    case CallOutcome::kPressDigit:
    case CallOutcome::kNoDigit:
      AfterLocked(c.script.ring_time, c, [this](FakeChannel& ch) { AnswerLocked(ch); });
      break;
    case CallOutcome::kBusy:
      AfterLocked(c.script.ring_time, c, [this](FakeChannel& ch) {
        EmitDialLocked(ch, "BUSY");
        DestroyLocked(ch, 17, "User busy");
      });
      break;
    case CallOutcome::kNoAnswer: {
      const absl::Duration give_up =
          c.script.ring_time == absl::InfiniteDuration() ? absl::Seconds(c.timeout_secs) : c.script.ring_time;
      AfterLocked(give_up, c, [this](FakeChannel& ch) {
        EmitDialLocked(ch, "NOANSWER");
        DestroyLocked(ch, 19, "User alerting, no answer");
      });
      break;
    }
    case CallOutcome::kRejectOriginate:
      break;  // never created
  }
}

void Core::AnswerLocked(FakeChannel& c) {
  EmitDialLocked(c, "ANSWER");
  c.state = "Up";
  EmitChannelEventLocked("ChannelStateChange", c);
  c.in_stasis = true;
  json::array args;
  if (!c.app_args.empty()) {
    for (const std::string& arg : Split(c.app_args, ',')) args.emplace_back(Key(arg));
  }
  json::object fields;
  fields["args"] = std::move(args);
  fields["channel"] = ChannelJson(c);
  EmitLocked("StasisStart", c, std::move(fields));
}

void Core::DestroyLocked(FakeChannel& c, int cause, std::string_view cause_txt) {
  c.alive = false;
  json::object fields;
  fields["cause"] = cause;
  fields["cause_txt"] = Key(cause_txt);
  fields["channel"] = ChannelJson(c);
  EmitLocked("ChannelDestroyed", c, std::move(fields));
}

void Core::HangupLocked(FakeChannel& c, int cause, std::string_view cause_txt) {
  json::object request;
  request["cause"] = cause;
  request["soft"] = false;
  request["channel"] = ChannelJson(c);
  EmitLocked("ChannelHangupRequest", c, std::move(request));
  if (c.in_stasis) {
    c.in_stasis = false;
    EmitChannelEventLocked("StasisEnd", c);
  }
  if (c.state != "Up") EmitDialLocked(c, "CANCEL");
  DestroyLocked(c, cause, cause_txt);
}

void Core::EmitLocked(std::string_view type, const FakeChannel& c, json::object fields) {
  json::object e;
  e["type"] = Key(type);
  e["timestamp"] = AriTime(absl::Now());
  for (auto& field : fields) e[field.key()] = std::move(field.value());
  e["asterisk_id"] = options.asterisk_id;
  e["application"] = c.app;
  FakeAri::Event event{.channel_id = c.id, .type = std::string(type), .json = json::serialize(e)};
  for (auto it = subscribers_.begin(); it != subscribers_.end();) {
    std::shared_ptr<WsSession> session = it->second.session.lock();
    if (session == nullptr) {
      it = subscribers_.erase(it);
      continue;
    }
    if (it->second.apps.contains(c.app)) {
      session->Send(event.json);
      ++event.delivered;
    }
    ++it;
  }
  events_.push_back(std::move(event));
  ChangedLocked();
}

std::optional<Reply> Core::CheckSubscribe(const Request& request, std::set<std::string>* apps) {
  const std::string_view target(request.target().data(), request.target().size());
  const size_t question = target.find('?');
  const Query query =
      question == std::string_view::npos ? Query() : http::FormDecode(target.substr(question + 1));
  FakeAri::Command command{.received_at = absl::Now(), .method = "GET", .action = "events", .query = query};
  std::optional<Reply> refusal;
  if (http::PercentDecode(target.substr(0, question)) != "/ari/events") {
    command.action = "unknown";
    refusal = Message(404, "Resource not found");
  } else if (!Authorized(request, query)) {
    refusal = Message(401, "Authentication required");
  } else {
    for (const std::string& app : Split(Param(query, "app"), ',')) {
      apps->emplace(app);
    }
    if (apps->empty()) refusal = Message(400, "app parameter is required");
  }
  std::lock_guard<std::mutex> lock(mu);
  command.status = refusal ? refusal->status : 101;
  commands_.push_back(std::move(command));
  ChangedLocked();
  return refusal;
}

void Core::AddSubscriber(const std::shared_ptr<WsSession>& session, std::set<std::string> apps) {
  std::lock_guard<std::mutex> lock(mu);
  if (ioc_ == nullptr) return;  // stopping
  subscribers_.insert_or_assign(session.get(), Subscriber{.session = session, .apps = std::move(apps)});
  ChangedLocked();
}

void Core::RemoveSubscriber(const WsSession* session) {
  std::lock_guard<std::mutex> lock(mu);
  if (subscribers_.erase(session) > 0) ChangedLocked();
}

size_t Core::SubscriberCount() const {
  std::lock_guard<std::mutex> lock(mu);
  size_t n = 0;
  for (const auto& [ptr, subscriber] : subscribers_) n += !subscriber.session.expired();
  return n;
}

void Core::DropSubscribers() {
  std::vector<std::shared_ptr<WsSession>> dropped;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [ptr, subscriber] : subscribers_) {
      if (std::shared_ptr<WsSession> session = subscriber.session.lock())
        dropped.push_back(std::move(session));
    }
    subscribers_.clear();
    ChangedLocked();
  }
  // Outside the lock: the last reference to a session may go here.
  for (const std::shared_ptr<WsSession>& session : dropped) session->Drop();
}

bool Core::WaitFor(const std::function<bool()>& done, absl::Duration timeout) const {
  const auto deadline =
      std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(std::min(timeout, absl::Hours(24)));
  std::unique_lock<std::mutex> lock(mu);
  while (true) {
    const uint64_t seen = version_;
    lock.unlock();
    const bool ok = done();
    lock.lock();
    if (ok) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    changed_.wait_until(lock, std::min(deadline, now + std::chrono::milliseconds(50)),
                        [&] { return version_ != seen; });
  }
}

}  // namespace

CallScript CallScript::PressDigit(std::string digit) {
  CallScript s;
  s.outcome = CallOutcome::kPressDigit;
  s.digit = std::move(digit);
  return s;
}

CallScript CallScript::NoDigit() {
  CallScript s;
  s.outcome = CallOutcome::kNoDigit;
  return s;
}

CallScript CallScript::NoAnswer(absl::Duration after) {
  CallScript s;
  s.outcome = CallOutcome::kNoAnswer;
  s.ring_time = after;
  return s;
}

CallScript CallScript::Busy() {
  CallScript s;
  s.outcome = CallOutcome::kBusy;
  return s;
}

CallScript CallScript::RejectOriginate(int status) {
  CallScript s;
  s.outcome = CallOutcome::kRejectOriginate;
  s.reject_status = status;
  return s;
}

struct FakeAri::State : public Core {
  using Core::Core;
};

// Destroyed in reverse order: the threads (joined by then), then the io_context, whose queued handlers hold
// the listener, the sessions and the timers (and through them their sockets).
struct FakeAri::Io {
  net::io_context ioc;
  std::vector<std::thread> threads;
  uint16_t port = 0;
};

absl::StatusOr<std::unique_ptr<FakeAri>> FakeAri::Start(FakeAriOptions options) {
  std::unique_ptr<FakeAri> fake(new FakeAri());
  fake->state_ = std::make_shared<State>(std::move(options));
  fake->io_ = std::make_unique<Io>();
  const FakeAriOptions& o = fake->state_->options;
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(o.address, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("fake ari: bad address ", o.address));
  tcp::acceptor acceptor(fake->io_->ioc);
  const tcp::endpoint endpoint(address, o.port);
  if (acceptor.open(endpoint.protocol(), ec); ec) return absl::UnavailableError(ec.message());
  acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (acceptor.bind(endpoint, ec); ec)
    return absl::UnavailableError(absl::StrCat("fake ari: bind: ", ec.message()));
  if (acceptor.listen(net::socket_base::max_listen_connections, ec); ec) {
    return absl::UnavailableError(absl::StrCat("fake ari: listen: ", ec.message()));
  }
  fake->io_->port = acceptor.local_endpoint().port();
  std::shared_ptr<Core> core = fake->state_;
  core->Attach(&fake->io_->ioc);
  std::make_shared<Listener>(fake->io_->ioc, std::move(acceptor), core)->Accept();
  for (int i = 0; i < std::max(1, o.threads); ++i) {
    fake->io_->threads.emplace_back([io = fake->io_.get()] { io->ioc.run(); });
  }
  return fake;
}

FakeAri::~FakeAri() { Stop(); }

void FakeAri::Stop() {
  if (!io_) return;
  state_->Detach();  // no more timers or subscribers
  io_->ioc.stop();
  for (std::thread& t : io_->threads) {
    if (t.joinable()) t.join();
  }
  io_.reset();  // closes every socket
}

std::string FakeAri::http_url() const {
  return absl::StrCat("http://", state_->options.address, ":", port());
}

uint16_t FakeAri::port() const { return io_ ? io_->port : 0; }

void FakeAri::Script(std::string_view number, CallScript script) {
  state_->Script(number, std::move(script));
}

void FakeAri::ClearScripts() { state_->ClearScripts(); }

bool FakeAri::RemoteHangup(std::string_view channel_id) { return state_->RemoteHangup(channel_id); }

std::vector<FakeAri::Originate> FakeAri::Originates() const { return state_->Originates(); }

int FakeAri::OriginateCountFor(std::string_view number) const { return state_->OriginateCountFor(number); }

std::vector<FakeAri::Command> FakeAri::Commands() const { return state_->Commands(); }

std::vector<FakeAri::Event> FakeAri::Events() const { return state_->Events(); }

size_t FakeAri::subscriber_count() const { return state_->SubscriberCount(); }

void FakeAri::DropSubscribers() { state_->DropSubscribers(); }

bool FakeAri::WaitFor(const std::function<bool()>& done, absl::Duration timeout) const {
  return state_->WaitFor(done, timeout);
}

}  // namespace protectogram::providers::ari
