// AriProvider: guardian calls through an Asterisk of our own, over ARI (the REST calls and the events
// WebSocket; facts in libs/providers/ari/ari.h).
//
// How a call goes:
//   Dial         POST /ari/channels: endpoint from ARI_ENDPOINT_TEMPLATE, app = ARI_APP, appArgs = the
//                attempt key (it comes back as StasisStart.args[0], our client_state), timeout = the ring
//                timeout, channelId = the dial key. A repeated Dial with the same dial key while that call
//                lasts is answered 409 "already exists": the earlier Dial placed it, so it is OK and the
//                call is the same channel (the channel id is the dial key). Once that channel is gone,
//                Asterisk takes the id afresh: a Dial repeated after its call ended rings again.
//   answered     StasisStart (ParseEvent: ANSWERED).
//   StartPrompt  with a dialplan context: continue there. Otherwise one play of the prompt's sound,
//                listed `repeats` times (one playback of the list, so one PlaybackFinished at the end):
//                media "sound:protectogram/prompt-<hash>" (PromptMedia), the file the render script made
//                for that language and text (scripts/render-call-sounds.sh). ARI has no TTS. The digit
//                comes as ChannelDtmfReceived (DTMF) whenever it is pressed, during the prompt or after.
//   Hangup       DELETE /ari/channels/{id}?reason=normal; 404 (gone already) is OK.
//   StartEvents  the events WebSocket (EventStream): every frame parsed (ParseEvent; a malformed one is
//                logged and dropped) and handed to the sink, retried with backoff while the sink fails
//                (it writes to Postgres): until it answers OK by default (provider.h), or at most
//                sink_attempts times; a permanent error (retry.h) drops the event at once.
// No answering-machine detection: an answering machine never presses 1, which is what the call waits for.
//
// Errors (provider.h): 401 / 403 Permanent "unauthorized"; 404 Permanent NOT_FOUND "not_found" (StartPrompt:
// the call is gone); 409 from play / continue Permanent FAILED_PRECONDITION "refused" (the channel is not in
// our application); other 4xx Permanent "refused"; 5xx UNAVAILABLE "server_error"; no answer: UNAVAILABLE
// "unavailable" (nothing sent) or DEADLINE_EXCEEDED "timeout" (maybe done); a bad number or a prompt we
// cannot build Permanent "refused".
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/telephony/provider.h"

namespace protectogram::http {
class Client;
}  // namespace protectogram::http

namespace protectogram::telephony::ari {

class EventStream;

struct AriConfig {
  std::string http_url = "http://127.0.0.1:8088";          // ARI_HTTP_URL (a path prefix is kept)
  std::string username;                                    // ARI_USERNAME (ari.conf user)
  std::string password;                                    // ARI_PASSWORD
  std::string app = "protectogram";                        // ARI_APP
  std::string endpoint_template = "PJSIP/{number}@trunk";  // ARI_ENDPOINT_TEMPLATE
  std::string caller_id;                                   // DEFAULT_CALLER_ID ("" = the trunk's)
  std::string sound_prefix = "sound:protectogram/";        // the media prefix of the rendered prompts
  int max_prompt_repeats = 5;                              // a Prompt's repeats are capped here
  absl::Duration timeout = absl::Seconds(10);              // one REST call
  // The events WebSocket (EventStreamOptions).
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration reconnect_initial = absl::Milliseconds(100);
  absl::Duration reconnect_max = absl::Seconds(5);
  absl::Duration idle_timeout = absl::Seconds(30);
  // Handing an event to the sink: 0 = until it answers OK (or StopEvents), else at most this many tries;
  // waits sink_retry_initial, doubling up to sink_retry_max, between tries.
  int sink_attempts = 0;
  absl::Duration sink_retry_initial = absl::Milliseconds(100);
  absl::Duration sink_retry_max = absl::Seconds(2);
};

// The media URI of a prompt: sound_prefix + PromptSoundName(language, text) (ari.h), e.g.
// "sound:protectogram/prompt-5fe0255f054ffae3".
std::string PromptMedia(const AriConfig& config, std::string_view language, std::string_view text);

class AriProvider final : public TelephonyProvider {
 public:
  // INVALID_ARGUMENT for a config that cannot work: http_url not http://host[:port][/prefix], an endpoint
  // template without {number}, an empty app, username or sound_prefix, max_prompt_repeats < 1. `client`
  // defaults to one of its own.
  static absl::StatusOr<std::unique_ptr<AriProvider>> Create(AriConfig config,
                                                             std::shared_ptr<http::Client> client = nullptr);
  ~AriProvider() override;  // StopEvents.

  std::string_view name() const override { return "ari"; }
  common::v1::Provider provider() const override { return common::v1::PROVIDER_ARI; }

  absl::StatusOr<PlacedCall> Dial(const DialRequest& request) override;
  absl::Status StartPrompt(const CallRef& call, const Prompt& prompt) override;
  absl::Status Hangup(const CallRef& call) override;
  // FAILED_PRECONDITION when started already; INVALID_ARGUMENT for an empty sink. Connects in the background
  // (events_connected()); StopEvents then StartEvents starts afresh.
  absl::Status StartEvents(CallEventSink sink) override;
  void StopEvents() override;

  // The events WebSocket is connected: for readiness.
  bool events_connected() const;
  // Handshakes of the events WebSocket so far (a reconnect makes it 2), for tests.
  int events_connections() const;
  const AriConfig& config() const { return config_; }

 private:
  AriProvider(AriConfig config, std::shared_ptr<http::Client> client);

  struct Answer {
    int status = 0;
    std::string body;
  };
  // Sends one request to ARI; a transport failure is an error with its reason, any HTTP status an Answer.
  absl::StatusOr<Answer> Send(std::string_view method, const std::string& path_and_query) const;
  // Parses a frame and hands it to the sink, retrying (runs on the stream's thread).
  void Deliver(std::string_view frame);
  // Waits `delay` unless StopEvents comes first; false when it did.
  bool SleepUnlessStopping(absl::Duration delay);

  const AriConfig config_;
  const std::string base_url_;  // http_url without a trailing '/'
  const std::string authorization_;
  std::shared_ptr<http::Client> client_;

  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  CallEventSink sink_;  // set before the stream starts, read only on its thread
  std::unique_ptr<EventStream> stream_ ABSL_GUARDED_BY(mu_);
};

}  // namespace protectogram::telephony::ari
