// Asterisk REST Interface (ARI): the requests we send (paths with their query strings), the Channel answer,
// the events of the WebSocket, and the prompt sound names. Pure functions, no I/O (AriProvider in
// services/telephony/ari/ sends; FakeAri in fake_ari.h answers like Asterisk on loopback).
//
// Protocol facts relied on (sources: asterisk/asterisk rest-api/api-docs/channels.json and events.json,
// res/ari/resource_channels.c; docs.asterisk.org "Asterisk REST Interface"):
// - Auth: HTTP Basic with an ari.conf user, or the query parameter api_key=<user>:<password>.
// - Parameters go in the query string; Asterisk decodes it as a form ('+' is a space), so every value is
//   percent-encoded here ("+1555..." must travel as "%2B1555...").
// - POST /ari/channels (originate): endpoint ("PJSIP/+15551234567@trunk"), app (our Stasis application),
//   appArgs (one string that Stasis splits on ',' into StasisStart.args), callerId, timeout (seconds the
//   callee may ring; Asterisk's default 30), channelId (ours). An originate naming the channelId of a channel
//   that still exists is answered 409 "Channel with given unique ID already exists": channelId makes a
//   retried originate idempotent while the call lasts (once the channel is gone the id is free again).
//   Answer: the Channel {id, name, state, caller{name,number}, connected{name,number}, dialplan{context,
//   exten,priority}, creationtime, language}.
// - DELETE /ari/channels/{id}?reason=normal hangs up (404 when the channel is gone).
// - POST /ari/channels/{id}/play?media=..&lang=..&playbackId=..: media is a list (comma-separated, played
//   in order as one playback, Asterisk 14+); "sound:<name>" names a file under the sounds directory.
//   404 when the channel is gone, 409 when it is not in a Stasis application. ARI has no text-to-speech:
//   prompts are rendered beforehand (scripts/render-call-sounds.sh) under PromptSoundName.
// - POST /ari/channels/{id}/continue?context=&extension=&priority= leaves Stasis for the dialplan.
// - GET /ari/channels/{id}: the Channel (404 when gone).
// - Events: WebSocket GET /ari/events?app=<name>&subscribeAll=false; one JSON text frame per event
//   {type, application, timestamp ("2019-04-01T19:57:23.302+0200": milliseconds and a +hhmm offset),
//   asterisk_id, ...}. Per type: StasisStart {args[], channel}, StasisEnd {channel}, ChannelStateChange
//   {channel} (channel.state: Down, Rsrved, OffHook, Dialing, Ring, Ringing, Up, Busy, ...),
//   ChannelDtmfReceived {digit, duration_ms, channel}, ChannelHangupRequest {cause, soft, channel},
//   ChannelDestroyed {cause (Q.850 number), cause_txt, channel}, Dial {caller?, peer, dialstatus: "",
//   RINGING, ANSWER, BUSY, NOANSWER, CONGESTION, CHANUNAVAIL, CANCEL, ...}, PlaybackStarted /
//   PlaybackFinished {playback {id, media_uri, target_uri "channel:<id>", state}}.
// - Events carry no id of their own, and Asterisk never replays them (events of a channel whose
//   application has no WebSocket connected are dropped).
// - No answering-machine detection through ARI: ARI calls report no machine result (a machine never
//   presses 1, which is what the call waits for).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "protectogram/common/v1/events.pb.h"

namespace protectogram::providers::ari {

inline constexpr char kNumberPlaceholder[] = "{number}";

// The dial string for `e164` ("+15551234567"): `endpoint_template` ("PJSIP/{number}@trunk",
// ARI_ENDPOINT_TEMPLATE) with every {number} replaced. INVALID_ARGUMENT when the template has no {number},
// or `e164` is not '+' and 7 to 15 digits (nothing else may reach a dial string).
absl::StatusOr<std::string> EndpointFor(std::string_view endpoint_template, std::string_view e164);

// The number an endpoint dials: what follows the last '/' up to an '@' ("PJSIP/+1555@trunk" -> "+1555").
std::string NumberOfEndpoint(std::string_view endpoint);

struct Originate {
  std::string endpoint;
  std::string app;
  std::string app_args;   // we pass the attempt key; becomes StasisStart.args[0]
  std::string caller_id;  // "" = the trunk's default
  int timeout_secs = 30;
  std::string channel_id;  // ours (the dial key): makes the originate idempotent
};
// "/ari/channels?endpoint=..&app=..&appArgs=..&callerId=..&timeout=..&channelId=.." (empty optional fields
// left out), every value percent-encoded. INVALID_ARGUMENT when endpoint or app is empty, app_args contains
// ',' (Stasis would split it into two arguments), or timeout_secs is outside 1..600 (ours).
absl::StatusOr<std::string> OriginateQuery(const Originate& originate);

// "/ari/channels/<id>" (GET).
std::string ChannelPath(std::string_view channel_id);
// "/ari/channels/<id>/play?media=<m1>,<m2>..[&lang=..][&playbackId=..]". INVALID_ARGUMENT when `media` is
// empty or one of them is empty or contains ','.
absl::StatusOr<std::string> PlayPath(std::string_view channel_id, const std::vector<std::string>& media,
                                     std::string_view lang, std::string_view playback_id);
// "/ari/channels/<id>[?reason=<reason>]" (DELETE).
std::string HangupPath(std::string_view channel_id, std::string_view reason = "normal");
// "/ari/channels/<id>/continue[?context=..][&extension=..][&priority=..]" (empty / non-positive left out).
std::string ContinuePath(std::string_view channel_id, std::string_view context, std::string_view extension,
                         int priority);
// "/ari/events?app=<app>&subscribeAll=false" (the WebSocket).
std::string EventsPath(std::string_view app);

// The language's primary subtag, as Asterisk names its sound directories: "ru-RU" -> "ru", "en_US" -> "en".
std::string SoundLanguage(std::string_view language);

// The sound file name of a rendered prompt: "prompt-" + the first 16 hex digits of
// SHA-256(language + "|" + text), e.g. PromptSoundName("ru-RU", "...") -> "prompt-3f1c...". The render script
// (scripts/render-call-sounds.sh) names its files by the same rule, so a text needs no registry: the same
// text in the same language always plays the same file, and a changed text is a new file.
std::string PromptSoundName(std::string_view language, std::string_view text);

struct Channel {
  std::string id;
  std::string name;   // "PJSIP/trunk-00000001"
  std::string state;  // "Down", "Ringing", "Up", ...
};
// The Channel answer of originate and GET. INVALID_ARGUMENT (reason kMalformed, libs/providers/common/
// error.h) for malformed JSON or a missing id.
absl::StatusOr<Channel> ParseChannel(std::string_view body);

// One event frame as a CallEvent: provider ARI, provider_event_type = type, call_id = the channel's id
// (Dial: the peer's; Playback*: the channel of target_uri "channel:<id>"), client_state = StasisStart
// args[0], from = channel.caller.number, to = channel.connected.number, occurred_at = timestamp.
// provider_event_id: ARI events have no id, so we make a stable one from what identifies the event:
// "<call id>:<type>:<timestamp>[:<detail>]", detail being the digit (DTMF), the new state
// (ChannelStateChange), the dialstatus (Dial) or the playback id (Playback*); the same frame always gets the
// same id, and two events of a call differ in type, time or detail. Without a timestamp (optional in the
// schema) the time part is "sha256:<first 16 hex of the frame>".
// Types:
//   StasisStart -> ANSWERED (for an originate into our app it comes when the callee answered and the
//     channel entered the app; ChannelStateChange Up -> OTHER, so an answer is reported once);
//   ChannelStateChange Ringing / Ring -> RINGING (Dial RINGING -> OTHER, for the same reason), other states
//     -> OTHER; status = the new state;
//   ChannelDtmfReceived -> DTMF (digits = digit);
//   Dial BUSY -> HANGUP (hangup_cause "busy"), NOANSWER -> HANGUP ("no_answer"), CHANUNAVAIL / CONGESTION
//     -> HANGUP ("failed"); status = dialstatus; other dialstatus -> OTHER. The channel's ChannelDestroyed
//     follows with a second HANGUP of the same call (its cause is the Q.850 one): the first one decides;
//   ChannelDestroyed -> HANGUP: hangup_cause from cause (16 normal_clearing, 17 user_busy, 18 and 19
//     no_answer, 21 call_rejected, else cause_txt in lower snake case, "cause_<n>" when it has none),
//     status = the cause number;
//   PlaybackFinished -> SPEAK_ENDED (status = playback.state);
//   anything else (StasisEnd, ChannelHangupRequest, PlaybackStarted, ...) -> OTHER.
// INVALID_ARGUMENT with reason kMalformed (libs/providers/common/error.h) for malformed JSON, a missing type,
// a field of the wrong type, or a timestamp that is not ARI's time form (there is no id to miss).
absl::StatusOr<common::v1::CallEvent> ParseEvent(std::string_view text);

// A stable low-cardinality reason for an ARI HTTP status, for WithFailureReason: 2xx "ok", 401 / 403
// "unauthorized", 404 "not_found", 409 "already_exists", other 4xx "refused", 5xx "server_error", anything
// else "unexpected_status".
std::string_view ClassifyError(int http_status);

}  // namespace protectogram::providers::ari
