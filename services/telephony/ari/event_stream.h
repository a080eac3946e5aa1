// The ARI events WebSocket, as a client: connects to ws://<host>:<port>[/prefix]/ari/events?app=<app>&
// subscribeAll=false with HTTP Basic auth, hands every text frame to a callback, and reconnects when the
// connection drops or cannot be made, waiting 100 ms, doubling up to 5 s (EventStreamOptions), and back to
// 100 ms once a connection stands.
//
// What a drop costs: Asterisk does not replay the events it could not send (ari.h), so events of the
// seconds without a connection are gone; the telephony service's own call timeouts cover a call whose
// answer or hangup was lost.
//
// Keep-alive: a connection that stays silent (no frame, no pong) for idle_timeout is taken as dead: Beast
// pings at half of it and gives up at all of it, so a half-open TCP connection (Asterisk host gone, NAT
// state lost) is noticed without waiting for the kernel.
//
// Threading: one thread of its own runs the connection (Boost.Beast, asynchronous on one io_context) and
// calls on_frame, one frame at a time, in arrival order; on_frame may block (the provider retries its
// sink there), which holds up reading, never anything else. Stop() posts the close to that thread (so a
// pending read or connect ends at once) and joins it; it waits for an on_frame that is running to return
// and must never be called from on_frame. Only plain ws:// (ARI is served on loopback or a private
// network; wss:// is refused at Start).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace protectogram::telephony::ari {

// The events URL for ARI_HTTP_URL and ARI_APP: "http://127.0.0.1:8088" ->
// "ws://127.0.0.1:8088/ari/events?app=<app>&subscribeAll=false" (a path prefix, Asterisk's http.conf
// `prefix`, is kept: "http://h:8088/asterisk" -> "ws://h:8088/asterisk/ari/events?..."). INVALID_ARGUMENT
// for a URL that is not http://host[:port][/prefix] (https:// included: wss is not supported), or an empty
// app.
absl::StatusOr<std::string> EventsUrl(std::string_view http_url, std::string_view app);

struct EventStreamOptions {
  std::string url;  // ws://..., as EventsUrl makes it
  std::string username;
  std::string password;
  absl::Duration connect_timeout = absl::Seconds(5);  // resolve + connect, and the handshake
  absl::Duration reconnect_initial = absl::Milliseconds(100);
  absl::Duration reconnect_max = absl::Seconds(5);
  absl::Duration idle_timeout = absl::Seconds(30);
};

class EventStream {
 public:
  using OnFrame = std::function<void(std::string_view text)>;

  EventStream(EventStreamOptions options, OnFrame on_frame);
  ~EventStream();  // Stops.
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  // Starts connecting (in the background: the answer does not wait for a connection). INVALID_ARGUMENT for
  // a URL that is not ws://host[:port]/path[?query]; FAILED_PRECONDITION when started before.
  absl::Status Start();
  // Closes the connection, stops reconnecting and joins the thread. Safe to call more than once, and
  // without Start.
  void Stop();

  // A connection stands (its handshake is done and it has not dropped since): for readiness.
  bool connected() const { return connected_.load(); }
  // Handshakes done so far: 1 after the first connection, 2 after a reconnect, ...
  int connections() const { return connections_.load(); }

 private:
  struct Impl;

  const EventStreamOptions options_;
  const OnFrame on_frame_;
  std::atomic<bool> connected_{false};
  std::atomic<int> connections_{0};
  std::unique_ptr<Impl> impl_;
};

}  // namespace protectogram::telephony::ari
