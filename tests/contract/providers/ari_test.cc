// Asterisk ARI contract: the request paths we send and the events of the WebSocket, on literal frames shaped
// as Asterisk 18/20 writes them (ast_json of the channel snapshot, pretty=no: one line, fields in
// Asterisk's order), and what each becomes as a CallEvent.
#include "libs/providers/ari/ari.h"

#include <gtest/gtest.h>

#include "google/protobuf/util/time_util.h"
#include "libs/crypto/digest.h"
#include "libs/providers/common/error.h"

namespace protectogram::providers::ari {
namespace {

using common::v1::CallEvent;

constexpr char kChannelId[] = "5b9e0e36-0f6c-4bb7-9f0e-2b1f7a8f4c21";

// The channel of an originate to +79990001234 with callerId +15557654321, once answered.
#define ARI_CHANNEL(state)                                                                                      \
  R"("channel":{"id":"5b9e0e36-0f6c-4bb7-9f0e-2b1f7a8f4c21","name":"PJSIP/trunk-0000002a","state":")" state     \
  R"(","protocol_id":"","caller":{"name":"","number":"+15557654321"},"connected":{"name":"",)"                  \
  R"("number":"+79990001234"},"accountcode":"","dialplan":{"context":"default","exten":"s","priority":1,)"      \
  R"("app_name":"Stasis","app_data":"protectogram,attempt-42"},"creationtime":"2024-03-05T10:15:30.120+0300",)" \
  R"("language":"en"})"

constexpr char kStasisStart[] =
    R"({"type":"StasisStart","timestamp":"2024-03-05T10:15:36.480+0300","args":["attempt-42"],)" ARI_CHANNEL(
        "Up") R"(,"asterisk_id":"52:54:00:12:34:56","application":"protectogram"})";
constexpr char kRinging[] =
    R"({"type":"ChannelStateChange","timestamp":"2024-03-05T10:15:31.002+0300",)" ARI_CHANNEL(
        "Ringing") R"(,"asterisk_id":"52:54:00:12:34:56","application":"protectogram"})";
constexpr char kUp[] =
    R"({"type":"ChannelStateChange","timestamp":"2024-03-05T10:15:36.470+0300",)" ARI_CHANNEL(
        "Up") R"(,"asterisk_id":"52:54:00:12:34:56","application":"protectogram"})";
constexpr char kDtmf[] =
    R"({"type":"ChannelDtmfReceived","timestamp":"2024-03-05T10:15:41.930+0300","digit":"1",)"
    R"("duration_ms":120,)" ARI_CHANNEL(
        "Up") R"(,"asterisk_id":"52:54:00:12:34:56","application":"protectogram"})";
constexpr char kDestroyed[] =
    R"({"type":"ChannelDestroyed","timestamp":"2024-03-05T10:15:45.011+0300","cause":16,)"
    R"("cause_txt":"Normal Clearing",)" ARI_CHANNEL(
        "Up") R"(,"asterisk_id":"52:54:00:12:34:56","application":"protectogram"})";
constexpr char kDialBusy[] =
    R"({"type":"Dial","timestamp":"2024-03-05T10:15:32.640+0300","dialstatus":"BUSY","forward":"",)"
    R"("dialstring":"+79990001234@trunk","peer":{"id":"5b9e0e36-0f6c-4bb7-9f0e-2b1f7a8f4c21",)"
    R"("name":"PJSIP/trunk-0000002a","state":"Ringing","protocol_id":"","caller":{"name":"",)"
    R"("number":"+15557654321"},"connected":{"name":"","number":"+79990001234"},"accountcode":"",)"
    R"("dialplan":{"context":"default","exten":"s","priority":1,"app_name":"AppDial2",)"
    R"x("app_data":"(Outgoing Line)"},)x"
    R"("creationtime":"2024-03-05T10:15:30.120+0300","language":"en"},"asterisk_id":"52:54:00:12:34:56",)"
    R"("application":"protectogram"})";
constexpr char kPlaybackFinished[] =
    R"({"type":"PlaybackFinished","timestamp":"2024-03-05T10:15:40.101+0300","playback":{)"
    R"("id":"c0ffee00-1111-2222-3333-444455556666","media_uri":"sound:protectogram/prompt-0123456789abcdef",)"
    R"("target_uri":"channel:5b9e0e36-0f6c-4bb7-9f0e-2b1f7a8f4c21","language":"ru","state":"done"},)"
    R"("asterisk_id":"52:54:00:12:34:56","application":"protectogram"})";

absl::Time At(const char* rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << err;
  return t;
}

absl::Time OccurredAt(const CallEvent& e) {
  return absl::FromUnixSeconds(e.occurred_at().seconds()) + absl::Nanoseconds(e.occurred_at().nanos());
}

CallEvent Parse(std::string_view text) {
  absl::StatusOr<CallEvent> e = ParseEvent(text);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.value_or(CallEvent());
}

TEST(AriRequestTest, EndpointFromTemplate) {
  EXPECT_EQ(*EndpointFor("PJSIP/{number}@trunk", "+15551234567"), "PJSIP/+15551234567@trunk");
  EXPECT_EQ(*EndpointFor("SIP/trunk/{number}", "+79990001234"), "SIP/trunk/+79990001234");
  EXPECT_EQ(*EndpointFor("Local/{number}@out/{number}", "+12345678"), "Local/+12345678@out/+12345678");
  EXPECT_EQ(EndpointFor("PJSIP/trunk", "+15551234567").status().code(), absl::StatusCode::kInvalidArgument);
  // Nothing but an E.164 number reaches a dial string.
  for (const char* bad : {"", "15551234567", "+1555", "+1555123456789012", "+1555&app=x", "+1555 123 4567",
                          "+15551234567@evil"}) {
    EXPECT_EQ(EndpointFor("PJSIP/{number}@trunk", bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(NumberOfEndpoint("PJSIP/+15551234567@trunk"), "+15551234567");
  EXPECT_EQ(NumberOfEndpoint("SIP/trunk/+79990001234"), "+79990001234");
}

TEST(AriRequestTest, OriginateQueryIsPercentEncoded) {
  absl::StatusOr<std::string> q = OriginateQuery({.endpoint = "PJSIP/+15551234567@trunk",
                                                  .app = "protectogram",
                                                  .app_args = "attempt:42",
                                                  .caller_id = "+15557654321",
                                                  .timeout_secs = 25,
                                                  .channel_id = kChannelId});
  ASSERT_TRUE(q.ok()) << q.status();
  // '+' must not travel as itself: Asterisk decodes the query as a form and would read a space.
  EXPECT_EQ(*q,
            "/ari/channels?endpoint=PJSIP%2F%2B15551234567%40trunk&app=protectogram&appArgs=attempt%3A42"
            "&callerId=%2B15557654321&timeout=25&channelId=5b9e0e36-0f6c-4bb7-9f0e-2b1f7a8f4c21");
  // Optional fields are left out.
  EXPECT_EQ(*OriginateQuery({.endpoint = "PJSIP/1@t", .app = "a"}),
            "/ari/channels?endpoint=PJSIP%2F1%40t&app=a&timeout=30");
}

TEST(AriRequestTest, OriginateQueryRefusesWhatAsteriskWouldMisread) {
  EXPECT_EQ(OriginateQuery({.app = "a"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OriginateQuery({.endpoint = "PJSIP/1@t"}).status().code(), absl::StatusCode::kInvalidArgument);
  // Stasis splits its arguments on ',': args[0] would no longer be the attempt key.
  EXPECT_EQ(OriginateQuery({.endpoint = "PJSIP/1@t", .app = "a", .app_args = "x,y"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OriginateQuery({.endpoint = "PJSIP/1@t", .app = "a", .timeout_secs = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OriginateQuery({.endpoint = "PJSIP/1@t", .app = "a", .timeout_secs = 601}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(AriRequestTest, ChannelCommandPaths) {
  EXPECT_EQ(ChannelPath("1554141443.29"), "/ari/channels/1554141443.29");
  EXPECT_EQ(HangupPath(kChannelId), "/ari/channels/5b9e0e36-0f6c-4bb7-9f0e-2b1f7a8f4c21?reason=normal");
  EXPECT_EQ(HangupPath("a/b", ""), "/ari/channels/a%2Fb");
  EXPECT_EQ(
      *PlayPath("c1", {"sound:protectogram/prompt-0123456789abcdef"}, "ru", "pb-1"),
      "/ari/channels/c1/play?media=sound%3Aprotectogram%2Fprompt-0123456789abcdef&lang=ru&playbackId=pb-1");
  // Several media: one playback of the list, in order.
  EXPECT_EQ(*PlayPath("c1", {"sound:a", "sound:a"}, "", ""),
            "/ari/channels/c1/play?media=sound%3Aa%2Csound%3Aa");
  EXPECT_EQ(PlayPath("c1", {}, "ru", "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PlayPath("c1", {"sound:a,b"}, "ru", "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ContinuePath("c1", "guardian-bridge", "s", 1),
            "/ari/channels/c1/continue?context=guardian-bridge&extension=s&priority=1");
  EXPECT_EQ(ContinuePath("c1", "ctx", "", 0), "/ari/channels/c1/continue?context=ctx");
  EXPECT_EQ(EventsPath("protectogram"), "/ari/events?app=protectogram&subscribeAll=false");
}

TEST(AriSoundTest, PromptSoundNameIsTheRenderScriptsRule) {
  // Literals from coreutils, independently of our code: printf '%s|%s' <language> <text> | sha256sum | cut -c1-16
  EXPECT_EQ(PromptSoundName("ru-RU", "Нажмите 1"), "prompt-5fe0255f054ffae3");
  EXPECT_EQ(PromptSoundName("en-US", "hello"), "prompt-42ea0849618b0f87");
  EXPECT_EQ(PromptSoundName("ru-RU", "abc"), "prompt-" + crypto::Sha256Hex("ru-RU|abc").substr(0, 16));
  EXPECT_NE(PromptSoundName("ru-RU", "abc"), PromptSoundName("en-US", "abc"));
  EXPECT_EQ(PromptSoundName("ru-RU", "abc").size(), 7u + 16u);
  EXPECT_EQ(SoundLanguage("ru-RU"), "ru");
  EXPECT_EQ(SoundLanguage("en_US"), "en");
  EXPECT_EQ(SoundLanguage("RU"), "ru");
}

TEST(AriChannelTest, ParsesTheOriginateAnswer) {
  absl::StatusOr<Channel> c = ParseChannel(
      R"({"id":"5b9e0e36-0f6c-4bb7-9f0e-2b1f7a8f4c21","name":"PJSIP/trunk-0000002a","state":"Down",)"
      R"("protocol_id":"","caller":{"name":"","number":"+15557654321"},"connected":{"name":"","number":""},)"
      R"("accountcode":"","dialplan":{"context":"default","exten":"s","priority":1,"app_name":"",)"
      R"("app_data":""},"creationtime":"2024-03-05T10:15:30.120+0300","language":"en"})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->id, kChannelId);
  EXPECT_EQ(c->name, "PJSIP/trunk-0000002a");
  EXPECT_EQ(c->state, "Down");
  EXPECT_EQ(ParseChannel("{").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ProviderErrorOf(ParseChannel("{").status()), ProviderError::kMalformed);
  EXPECT_EQ(ParseChannel(R"({"name":"x"})").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseChannel(R"({"id":7})").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AriEventTest, StasisStartIsTheAnswer) {
  CallEvent e = Parse(kStasisStart);
  EXPECT_EQ(e.provider(), common::v1::PROVIDER_ARI);
  EXPECT_EQ(e.type(), common::v1::CALL_EVENT_TYPE_ANSWERED);
  EXPECT_EQ(e.provider_event_type(), "StasisStart");
  EXPECT_EQ(e.call_id(), kChannelId);
  EXPECT_EQ(e.client_state(), "attempt-42");
  EXPECT_EQ(e.from(), "+15557654321");
  EXPECT_EQ(e.to(), "+79990001234");
  EXPECT_EQ(e.provider_event_id(),
            "5b9e0e36-0f6c-4bb7-9f0e-2b1f7a8f4c21:StasisStart:2024-03-05T10:15:36.480+0300");
  // ARI's "+0300" offset form, with milliseconds.
  EXPECT_EQ(OccurredAt(e), At("2024-03-05T07:15:36.48Z"));
}

TEST(AriEventTest, StateChanges) {
  CallEvent ringing = Parse(kRinging);
  EXPECT_EQ(ringing.type(), common::v1::CALL_EVENT_TYPE_RINGING);
  EXPECT_EQ(ringing.status(), "Ringing");
  EXPECT_EQ(ringing.client_state(), "");  // only StasisStart carries the args
  EXPECT_EQ(ringing.provider_event_id(),
            "5b9e0e36-0f6c-4bb7-9f0e-2b1f7a8f4c21:ChannelStateChange:2024-03-05T10:15:31.002+0300:Ringing");
  // Up is the answer only through StasisStart, so an answered call is answered once.
  CallEvent up = Parse(kUp);
  EXPECT_EQ(up.type(), common::v1::CALL_EVENT_TYPE_OTHER);
  EXPECT_EQ(up.status(), "Up");
  EXPECT_NE(up.provider_event_id(), ringing.provider_event_id());
}

TEST(AriEventTest, DtmfDigit) {
  CallEvent e = Parse(kDtmf);
  EXPECT_EQ(e.type(), common::v1::CALL_EVENT_TYPE_DTMF);
  EXPECT_EQ(e.digits(), "1");
  EXPECT_EQ(e.call_id(), kChannelId);
  EXPECT_EQ(e.provider_event_id(),
            "5b9e0e36-0f6c-4bb7-9f0e-2b1f7a8f4c21:ChannelDtmfReceived:2024-03-05T10:15:41.930+0300:1");
}

TEST(AriEventTest, ChannelDestroyedCauses) {
  CallEvent e = Parse(kDestroyed);
  EXPECT_EQ(e.type(), common::v1::CALL_EVENT_TYPE_HANGUP);
  EXPECT_EQ(e.hangup_cause(), "normal_clearing");
  EXPECT_EQ(e.status(), "16");
  struct Case {
    int cause;
    const char* txt;
    const char* want;
  };
  for (const Case& c :
       {Case{17, "User busy", "user_busy"}, Case{18, "No user responding", "no_answer"},
        Case{19, "User alerting, no answer", "no_answer"}, Case{21, "Call Rejected", "call_rejected"},
        Case{1, "Unallocated (unassigned) number", "unallocated_unassigned_number"},
        Case{34, "Circuit/channel congestion", "circuit_channel_congestion"}, Case{127, "", "cause_127"}}) {
    std::string frame = R"({"type":"ChannelDestroyed","timestamp":"2024-03-05T10:15:45.011+0300","cause":)" +
                        std::to_string(c.cause) + R"(,"cause_txt":")" + c.txt +
                        R"(","channel":{"id":"c1","state":"Ring"},"application":"protectogram"})";
    CallEvent d = Parse(frame);
    EXPECT_EQ(d.type(), common::v1::CALL_EVENT_TYPE_HANGUP);
    EXPECT_EQ(d.hangup_cause(), c.want) << c.cause;
    EXPECT_EQ(d.status(), std::to_string(c.cause));
  }
}

TEST(AriEventTest, DialStatuses) {
  CallEvent busy = Parse(kDialBusy);
  EXPECT_EQ(busy.type(), common::v1::CALL_EVENT_TYPE_HANGUP);
  EXPECT_EQ(busy.hangup_cause(), "busy");
  EXPECT_EQ(busy.status(), "BUSY");
  EXPECT_EQ(busy.call_id(), kChannelId);  // the peer: the channel being dialled
  EXPECT_EQ(busy.to(), "+79990001234");
  EXPECT_EQ(busy.provider_event_id(),
            "5b9e0e36-0f6c-4bb7-9f0e-2b1f7a8f4c21:Dial:2024-03-05T10:15:32.640+0300:BUSY");
  struct Case {
    const char* dialstatus;
    common::v1::CallEventType type;
    const char* cause;
  };
  for (const Case& c : {Case{"NOANSWER", common::v1::CALL_EVENT_TYPE_HANGUP, "no_answer"},
                        Case{"CHANUNAVAIL", common::v1::CALL_EVENT_TYPE_HANGUP, "failed"},
                        Case{"CONGESTION", common::v1::CALL_EVENT_TYPE_HANGUP, "failed"},
                        Case{"RINGING", common::v1::CALL_EVENT_TYPE_OTHER, ""},
                        Case{"ANSWER", common::v1::CALL_EVENT_TYPE_OTHER, ""},
                        Case{"CANCEL", common::v1::CALL_EVENT_TYPE_OTHER, ""},
                        Case{"", common::v1::CALL_EVENT_TYPE_OTHER, ""}}) {
    CallEvent d =
        Parse(std::string(R"({"type":"Dial","timestamp":"2024-03-05T10:15:32.640+0300","dialstatus":")") +
              c.dialstatus + R"(","peer":{"id":"c1","state":"Ringing"},"application":"protectogram"})");
    EXPECT_EQ(d.type(), c.type) << c.dialstatus;
    EXPECT_EQ(d.hangup_cause(), c.cause) << c.dialstatus;
    EXPECT_EQ(d.call_id(), "c1");
  }
}

TEST(AriEventTest, PlaybackFinishedEndsThePrompt) {
  CallEvent e = Parse(kPlaybackFinished);
  EXPECT_EQ(e.type(), common::v1::CALL_EVENT_TYPE_SPEAK_ENDED);
  EXPECT_EQ(e.call_id(), kChannelId);  // from target_uri
  EXPECT_EQ(e.status(), "done");
  EXPECT_EQ(e.provider_event_id(),
            "5b9e0e36-0f6c-4bb7-9f0e-2b1f7a8f4c21:PlaybackFinished:2024-03-05T10:15:40.101+0300:"
            "c0ffee00-1111-2222-3333-444455556666");
  std::string started(kPlaybackFinished);
  started.replace(started.find("PlaybackFinished"), 16, "PlaybackStarted");
  EXPECT_EQ(Parse(started).type(), common::v1::CALL_EVENT_TYPE_OTHER);
}

TEST(AriEventTest, EverythingElseIsOther) {
  for (const char* type : {"StasisEnd", "ChannelHangupRequest", "ChannelVarset", "ChannelDialplan"}) {
    CallEvent e = Parse(std::string(R"({"type":")") + type +
                        R"(","timestamp":"2024-03-05T10:15:45.001+0300","cause":16,"soft":true,)" +
                        ARI_CHANNEL("Up") R"(,"application":"protectogram"})");
    EXPECT_EQ(e.type(), common::v1::CALL_EVENT_TYPE_OTHER) << type;
    EXPECT_EQ(e.call_id(), kChannelId) << type;
  }
  // An event of no channel at all.
  CallEvent replaced = Parse(R"({"type":"ApplicationReplaced","timestamp":"2024-03-05T10:15:45.001+0300",)"
                             R"("application":"protectogram"})");
  EXPECT_EQ(replaced.type(), common::v1::CALL_EVENT_TYPE_OTHER);
  EXPECT_EQ(replaced.call_id(), "");
}

TEST(AriEventTest, EventIdIsStable) {
  EXPECT_EQ(Parse(kDtmf).provider_event_id(), Parse(kDtmf).provider_event_id());
  // Without a timestamp (optional in the schema) the frame's hash stands in for the time.
  const std::string frame = R"({"type":"StasisEnd","channel":{"id":"c1"},"application":"protectogram"})";
  CallEvent e = Parse(frame);
  EXPECT_EQ(e.provider_event_id(), "c1:StasisEnd:sha256:" + crypto::Sha256Hex(frame).substr(0, 16));
  EXPECT_FALSE(e.has_occurred_at());
}

TEST(AriEventTest, RfcOffsetsAreTakenToo) {
  CallEvent e = Parse(R"({"type":"StasisEnd","timestamp":"2024-03-05T07:15:45.5Z","channel":{"id":"c1"}})");
  EXPECT_EQ(OccurredAt(e), At("2024-03-05T07:15:45.5Z"));
  CallEvent colon =
      Parse(R"({"type":"StasisEnd","timestamp":"2024-03-05T10:15:45.500+03:00","channel":{"id":"c1"}})");
  EXPECT_EQ(OccurredAt(colon), At("2024-03-05T07:15:45.5Z"));
}

TEST(AriEventTest, MalformedFramesAreRefused) {
  for (const char* bad :
       {"", "{", "[]", R"({"timestamp":"2024-03-05T10:15:45.011+0300"})", R"({"type":""})", R"({"type":7})",
        R"({"type":"StasisStart","timestamp":"yesterday"})", R"({"type":"StasisStart","channel":"c1"})",
        R"({"type":"StasisStart","args":[7]})", R"({"type":"StasisStart","args":"attempt"})",
        R"({"type":"ChannelDestroyed","cause":"16","channel":{"id":"c1"}})",
        R"({"type":"ChannelDtmfReceived","digit":1,"channel":{"id":"c1"}})",
        R"({"type":"Dial","peer":{"id":5}})"}) {
    absl::StatusOr<CallEvent> e = ParseEvent(bad);
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(ProviderErrorOf(e.status()), ProviderError::kMalformed) << bad;
  }
}

TEST(AriErrorTest, ClassifiesStatuses) {
  EXPECT_EQ(ClassifyError(200), "ok");
  EXPECT_EQ(ClassifyError(204), "ok");
  EXPECT_EQ(ClassifyError(400), "refused");
  EXPECT_EQ(ClassifyError(422), "refused");
  EXPECT_EQ(ClassifyError(401), "unauthorized");
  EXPECT_EQ(ClassifyError(403), "unauthorized");
  EXPECT_EQ(ClassifyError(404), "not_found");
  EXPECT_EQ(ClassifyError(409), "already_exists");
  EXPECT_EQ(ClassifyError(500), "server_error");
  EXPECT_EQ(ClassifyError(503), "server_error");
  EXPECT_EQ(ClassifyError(302), "unexpected_status");
}

}  // namespace
}  // namespace protectogram::providers::ari
