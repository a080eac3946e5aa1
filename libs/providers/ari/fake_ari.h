// An Asterisk ARI on loopback, for integration tests and the local simulator: the REST calls the telephony
// service makes and the events WebSocket, on one port as Asterisk serves them (ari.h lists the facts), with
// a scripted callee per number. It records every request and every event it sent.
//
//   auto ari = FakeAri::Start({.username = "pg", .password = "secret", .app = "protectogram"});
//   (*ari)->Script("+79990001234", CallScript::Busy());
//   // AriProvider{http_url = (*ari)->http_url(), ...} dials; its event stream sees Dial BUSY, ...
//   (*ari)->WaitFor([&] { return (*ari)->OriginateCountFor("+79990001234") == 1; }, absl::Seconds(5));
//
// Why not http::Server: it has no WebSocket upgrade, and ARI serves REST and events on one port. So this is
// Boost.Beast directly: an io_context on FakeAriOptions::threads threads, each connection on its own strand;
// an HTTP connection whose request is a WebSocket upgrade becomes an event subscriber.
//
// REST (all need Basic auth or api_key=<user>:<password>, else 401 {"message":"Authentication required"}):
// - POST /ari/channels: 400 without endpoint, 400 when app is not the configured application; 409
//   {"message":"Channel with given unique ID already exists"} for the channelId of a channel that still
//   exists; otherwise 200 with the Channel (state "Down"), or the script's kRejectOriginate status.
// - DELETE /ari/channels/{id}: 204, or 404 {"message":"Channel not found"}.
// - POST /ari/channels/{id}/play: 201 with the Playback, 404 when gone, 409 {"message":"Channel not in Stasis
//   application"} before the answer, 400 without media.
// - POST /ari/channels/{id}/continue: 204 (the channel leaves Stasis: StasisEnd), 404, 409 as play.
// - GET /ari/channels/{id}: 200 with the Channel, 404 when gone.
// Events (WebSocket GET /ari/events?app=<a>[,<b>]), each to every subscriber of the channel's application;
// an event with no subscriber connected is dropped, as Asterisk drops it. A call as scripted
// (CallScript):
// - after the originate: ChannelStateChange Ringing and Dial RINGING;
// - after ring_time: kPressDigit / kNoDigit answer: Dial ANSWER, ChannelStateChange Up, StasisStart {args:
//   appArgs split on ','}; kBusy: Dial BUSY, ChannelDestroyed 17 "User busy"; kNoAnswer: Dial NOANSWER,
//   ChannelDestroyed 19 "User alerting, no answer" (at the originate's timeout unless ring_time is set);
// - after a play: PlaybackStarted, after playback_time PlaybackFinished, and for kPressDigit after
//   digit_after ChannelDtmfReceived with the digit (once per call);
// - DELETE (or RemoteHangup): ChannelHangupRequest, StasisEnd when in Stasis, Dial CANCEL when still
//   ringing, ChannelDestroyed (16 "Normal Clearing", or the cause of DELETE's reason).
// A number with no script answers and presses 1 (CallScript::PressDigit()).
//
// Deviations on purpose: one configured application; no bridges, recordings or dialplan; continue only ends
// Stasis; every subscriber of an application gets its events (Asterisk gives them to the newest WebSocket
// only, sending ApplicationReplaced to the older).
//
// Threading: every method is thread-safe. Stop() (and the destructor) closes every connection and joins the
// threads; what was recorded can still be read afterwards.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace protectogram::providers::ari {

enum class CallOutcome {
  kPressDigit,       // answers, listens to the prompt, presses `digit`
  kNoDigit,          // answers, listens, presses nothing
  kNoAnswer,         // rings until it gives up
  kBusy,             // busy
  kRejectOriginate,  // Asterisk refuses the originate with `reject_status`
};

struct CallScript {
  CallOutcome outcome = CallOutcome::kPressDigit;
  std::string digit = "1";
  int reject_status = 500;
  // From the originate to the answer or BUSY; for kNoAnswer to NOANSWER, where infinite means "at the
  // originate's timeout" (NoAnswer()'s default).
  absl::Duration ring_time = absl::Milliseconds(20);
  absl::Duration playback_time = absl::Milliseconds(10);  // from a play to PlaybackFinished
  absl::Duration digit_after = absl::Milliseconds(10);    // from PlaybackFinished to the digit

  static CallScript PressDigit(std::string digit = "1");
  static CallScript NoDigit();
  static CallScript NoAnswer(absl::Duration after = absl::InfiniteDuration());
  static CallScript Busy();
  static CallScript RejectOriginate(int status);
};

struct FakeAriOptions {
  std::string username = "protectogram";
  std::string password = "secret";
  std::string app = "protectogram";
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: an ephemeral port (see http_url())
  int threads = 2;
  std::string asterisk_id = "52:54:00:12:34:56";
};

class FakeAri {
 public:
  struct Originate {
    absl::Time received_at;
    std::string endpoint;
    std::string number;  // NumberOfEndpoint(endpoint)
    std::string app;
    std::string app_args;
    std::string caller_id;
    std::string channel_id;  // the one asked for ("" none)
    int timeout_secs = 30;
    int status = 0;  // answered: 200 created, 409 exists already, 4xx/5xx refused
  };
  struct Command {
    absl::Time received_at;
    std::string method;      // "POST", "DELETE", "GET"
    std::string action;      // "originate", "hangup", "play", "continue", "get", "events", "unknown"
    std::string channel_id;  // from the path ("" for originate and events)
    std::multimap<std::string, std::string> query;  // decoded
    int status = 0;                                 // answered (101 for an accepted WebSocket)
  };
  struct Event {
    std::string channel_id;
    std::string type;
    std::string json;   // the frame as sent
    int delivered = 0;  // subscribers it was sent to (0: dropped)
  };

  // Binds options.address:options.port and starts serving. UNAVAILABLE if the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<FakeAri>> Start(FakeAriOptions options);
  ~FakeAri();  // Stops.
  FakeAri(const FakeAri&) = delete;
  FakeAri& operator=(const FakeAri&) = delete;

  // "http://127.0.0.1:<port>": ARI_HTTP_URL.
  std::string http_url() const;
  uint16_t port() const;

  // How calls to `number` (E.164, as in the endpoint) go from now on.
  void Script(std::string_view number, CallScript script);
  void ClearScripts();
  // The callee hangs up (as DELETE does, cause 16). False when the channel does not exist (any more).
  bool RemoteHangup(std::string_view channel_id);

  // Every originate request, in arrival order (including refused and repeated ones).
  std::vector<Originate> Originates() const;
  // The channels created for `number`: originates answered 200.
  int OriginateCountFor(std::string_view number) const;
  // Every request, the originates and the WebSocket upgrades included, in arrival order.
  std::vector<Command> Commands() const;
  // Every event, in the order sent.
  std::vector<Event> Events() const;
  // The event WebSockets connected now.
  size_t subscriber_count() const;
  // Closes every event WebSocket at once, without a close frame (as a crashed Asterisk or a broken network
  // would); their clients see the connection drop.
  void DropSubscribers();

  // True once `done()` holds; false after `timeout`. `done` is checked after every change the fake sees (a
  // request, an event, a subscriber coming or going) and every 50 ms; it may call the fake.
  bool WaitFor(const std::function<bool()>& done, absl::Duration timeout) const;

  // Closes every connection and joins the threads. Safe to call more than once.
  void Stop();

 private:
  struct State;
  struct Io;
  FakeAri() = default;

  std::shared_ptr<State> state_;  // shared with the connections and the scheduled events
  std::unique_ptr<Io> io_;        // the io_context, its threads and the listener
};

}  // namespace protectogram::providers::ari
