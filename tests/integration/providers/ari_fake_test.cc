// AriProvider against FakeAri over loopback: the REST calls as Asterisk receives them, and the events
// WebSocket read by EventStream and parsed by ParseEvent into the CallEvents the telephony service gets.
// Scripted callees ring for milliseconds, so every test is quick.
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "libs/jobs/retry.h"
#include "libs/providers/ari/ari.h"
#include "libs/providers/ari/fake_ari.h"
#include "services/telephony/ari/ari_provider.h"
#include "services/telephony/ari/event_stream.h"

namespace protectogram::telephony::ari {
namespace {

using common::v1::CallEvent;
using providers::ari::CallScript;
using providers::ari::FakeAri;

constexpr char kNumber[] = "+79990001234";
constexpr char kCallerId[] = "+15557654321";
constexpr absl::Duration kWait = absl::Seconds(10);

// The events the provider handed to its sink, for tests to wait on.
class EventLog {
 public:
  absl::Status Take(const CallEvent& e) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(e);
    cv_.notify_all();
    return absl::OkStatus();
  }
  // The first event matching `match`, waiting for it.
  std::optional<CallEvent> WaitFor(const std::function<bool(const CallEvent&)>& match,
                                   absl::Duration timeout = kWait) {
    std::unique_lock<std::mutex> lock(mu_);
    std::optional<CallEvent> found;
    cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] {
      for (const CallEvent& e : events_) {
        if (match(e)) {
          found = e;
          return true;
        }
      }
      return false;
    });
    return found;
  }
  std::optional<CallEvent> WaitFor(std::string_view call_id, common::v1::CallEventType type,
                                   absl::Duration timeout = kWait) {
    return WaitFor([&](const CallEvent& e) { return e.call_id() == call_id && e.type() == type; }, timeout);
  }
  std::vector<CallEvent> Of(std::string_view call_id) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<CallEvent> out;
    for (const CallEvent& e : events_) {
      if (e.call_id() == call_id) out.push_back(e);
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<CallEvent> events_;
};

class AriFakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FakeAri>> fake =
        FakeAri::Start({.username = "pg", .password = "secret", .app = "protectogram"});
    ASSERT_TRUE(fake.ok()) << fake.status();
    fake_ = std::move(*fake);
    provider_ = NewProvider("secret");
    ASSERT_NE(provider_, nullptr);
    ASSERT_TRUE(provider_->StartEvents([this](const CallEvent& e) { return log_.Take(e); }).ok());
    ASSERT_TRUE(fake_->WaitFor(
        [&] { return provider_->events_connected() && fake_->subscriber_count() == 1; }, kWait));
  }

  void TearDown() override {
    if (provider_) provider_->StopEvents();
    if (fake_) fake_->Stop();
  }

  AriConfig Config(std::string password) const {
    return AriConfig{.http_url = fake_->http_url(),
                     .username = "pg",
                     .password = std::move(password),
                     .app = "protectogram",
                     .endpoint_template = "PJSIP/{number}@trunk",
                     .caller_id = kCallerId,
                     .timeout = absl::Seconds(5),
                     .connect_timeout = absl::Seconds(2),
                     .reconnect_initial = absl::Milliseconds(20),
                     .reconnect_max = absl::Milliseconds(200),
                     .sink_retry_initial = absl::Milliseconds(5),
                     .sink_retry_max = absl::Milliseconds(20)};
  }

  std::unique_ptr<AriProvider> NewProvider(std::string password) const {
    absl::StatusOr<std::unique_ptr<AriProvider>> p = AriProvider::Create(Config(std::move(password)));
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? std::move(*p) : nullptr;
  }

  static DialRequest Request(std::string dial_key, std::string number = kNumber) {
    DialRequest r;
    r.attempt_key = "attempt-" + dial_key;
    r.dial_key = std::move(dial_key);
    r.to_e164 = std::move(number);
    r.speak_text = "Тревога! Нажмите 1, чтобы подтвердить.";
    r.language = "ru-RU";
    r.ring_timeout = absl::Seconds(25);
    return r;
  }

  static Prompt PromptOf(const DialRequest& r) {
    Prompt p;
    p.speak_text = r.speak_text;
    p.language = r.language;
    p.valid_digits = "1";
    p.repeats = 3;
    return p;
  }

  std::vector<FakeAri::Command> CommandsOf(std::string_view action) const {
    std::vector<FakeAri::Command> out;
    for (const FakeAri::Command& c : fake_->Commands()) {
      if (c.action == action) out.push_back(c);
    }
    return out;
  }

  std::unique_ptr<FakeAri> fake_;
  std::unique_ptr<AriProvider> provider_;
  EventLog log_;
};

TEST_F(AriFakeTest, AnsweredPromptedAndConfirmedWithOne) {
  const DialRequest request = Request("6f1c2a9e-1b7d-4e0a-9a51-3c2d1e0f4a01");
  absl::StatusOr<PlacedCall> placed = provider_->Dial(request);
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_EQ(placed->provider_call_id, request.dial_key);  // our channelId

  // What Asterisk was asked.
  std::vector<FakeAri::Originate> originates = fake_->Originates();
  ASSERT_EQ(originates.size(), 1u);
  EXPECT_EQ(originates[0].endpoint, "PJSIP/+79990001234@trunk");
  EXPECT_EQ(originates[0].app, "protectogram");
  EXPECT_EQ(originates[0].app_args, request.attempt_key);
  EXPECT_EQ(originates[0].caller_id, kCallerId);
  EXPECT_EQ(originates[0].timeout_secs, 25);
  EXPECT_EQ(originates[0].channel_id, request.dial_key);

  ASSERT_TRUE(log_.WaitFor(request.dial_key, common::v1::CALL_EVENT_TYPE_RINGING));
  std::optional<CallEvent> answered = log_.WaitFor(request.dial_key, common::v1::CALL_EVENT_TYPE_ANSWERED);
  ASSERT_TRUE(answered);
  EXPECT_EQ(answered->provider(), common::v1::PROVIDER_ARI);
  EXPECT_EQ(answered->client_state(), request.attempt_key);
  EXPECT_EQ(answered->from(), kCallerId);
  EXPECT_EQ(answered->to(), kNumber);
  EXPECT_TRUE(answered->has_occurred_at());
  EXPECT_TRUE(answered->has_received_at());

  const CallRef call{.attempt_key = request.attempt_key,
                     .dial_key = request.dial_key,
                     .provider_call_id = placed->provider_call_id};
  ASSERT_TRUE(provider_->StartPrompt(call, PromptOf(request)).ok());
  std::vector<FakeAri::Command> plays = CommandsOf("play");
  ASSERT_EQ(plays.size(), 1u);
  EXPECT_EQ(plays[0].status, 201);
  EXPECT_EQ(plays[0].channel_id, request.dial_key);
  // One playback of the prompt listed `repeats` times, in the sound language.
  const std::string media = PromptMedia(provider_->config(), request.language, request.speak_text);
  EXPECT_EQ(media, "sound:protectogram/" + providers::ari::PromptSoundName("ru-RU", request.speak_text));
  EXPECT_EQ(plays[0].query.find("media")->second, media + "," + media + "," + media);
  EXPECT_EQ(plays[0].query.find("lang")->second, "ru");

  ASSERT_TRUE(log_.WaitFor(request.dial_key, common::v1::CALL_EVENT_TYPE_SPEAK_ENDED));
  std::optional<CallEvent> digit = log_.WaitFor(request.dial_key, common::v1::CALL_EVENT_TYPE_DTMF);
  ASSERT_TRUE(digit);
  EXPECT_EQ(digit->digits(), "1");

  ASSERT_TRUE(provider_->Hangup(call).ok());
  std::optional<CallEvent> hangup = log_.WaitFor(request.dial_key, common::v1::CALL_EVENT_TYPE_HANGUP);
  ASSERT_TRUE(hangup);
  EXPECT_EQ(hangup->hangup_cause(), "normal_clearing");
  EXPECT_EQ(hangup->status(), "16");

  // Answered exactly once (StasisStart; ChannelStateChange Up is OTHER), and every event id distinct.
  std::vector<CallEvent> events = log_.Of(request.dial_key);
  EXPECT_EQ(
      std::count_if(events.begin(), events.end(),
                    [](const CallEvent& e) { return e.type() == common::v1::CALL_EVENT_TYPE_ANSWERED; }),
      1);
  std::vector<std::string> ids;
  for (const CallEvent& e : events) ids.push_back(e.provider_event_id());
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::unique(ids.begin(), ids.end()), ids.end());
}

TEST_F(AriFakeTest, RepeatedDialRingsOnce) {
  const DialRequest request = Request("0b7e4d2c-9a3f-4c1e-8d6b-5f2a1e3c7b02");
  absl::StatusOr<PlacedCall> first = provider_->Dial(request);
  absl::StatusOr<PlacedCall> again = provider_->Dial(request);  // a retry after a timeout, say
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->provider_call_id, first->provider_call_id);
  EXPECT_EQ(fake_->OriginateCountFor(kNumber), 1);
  std::vector<FakeAri::Originate> originates = fake_->Originates();
  ASSERT_EQ(originates.size(), 2u);
  EXPECT_EQ(originates[0].status, 200);
  EXPECT_EQ(originates[1].status, 409);
  ASSERT_TRUE(log_.WaitFor(request.dial_key, common::v1::CALL_EVENT_TYPE_ANSWERED));
}

TEST_F(AriFakeTest, BusyCalleeHangsUpWithBusy) {
  fake_->Script(kNumber, CallScript::Busy());
  const DialRequest request = Request("1c9d3e5f-7a2b-4d8e-9f0a-6b4c2d1e8f03");
  ASSERT_TRUE(provider_->Dial(request).ok());
  // Dial BUSY first, then ChannelDestroyed with cause 17.
  std::optional<CallEvent> busy = log_.WaitFor(
      [&](const CallEvent& e) { return e.call_id() == request.dial_key && e.hangup_cause() == "busy"; });
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->type(), common::v1::CALL_EVENT_TYPE_HANGUP);
  EXPECT_EQ(busy->provider_event_type(), "Dial");
  std::optional<CallEvent> destroyed = log_.WaitFor(
      [&](const CallEvent& e) { return e.call_id() == request.dial_key && e.hangup_cause() == "user_busy"; });
  ASSERT_TRUE(destroyed);
  EXPECT_EQ(destroyed->status(), "17");
  for (const CallEvent& e : log_.Of(request.dial_key))
    EXPECT_NE(e.type(), common::v1::CALL_EVENT_TYPE_ANSWERED);
}

TEST_F(AriFakeTest, UnansweredCallEndsWithNoAnswer) {
  fake_->Script(kNumber, CallScript::NoAnswer(absl::Milliseconds(50)));
  const DialRequest request = Request("2d0e4f6a-8b3c-4e9f-a01b-7c5d3e2f9a04");
  ASSERT_TRUE(provider_->Dial(request).ok());
  std::optional<CallEvent> destroyed = log_.WaitFor([&](const CallEvent& e) {
    return e.call_id() == request.dial_key && e.provider_event_type() == "ChannelDestroyed";
  });
  ASSERT_TRUE(destroyed);
  EXPECT_EQ(destroyed->type(), common::v1::CALL_EVENT_TYPE_HANGUP);
  EXPECT_EQ(destroyed->hangup_cause(), "no_answer");
  EXPECT_EQ(destroyed->status(), "19");
  std::optional<CallEvent> dial = log_.WaitFor([&](const CallEvent& e) {
    return e.call_id() == request.dial_key && e.provider_event_type() == "Dial" && e.status() == "NOANSWER";
  });
  ASSERT_TRUE(dial);
  EXPECT_EQ(dial->hangup_cause(), "no_answer");
}

TEST_F(AriFakeTest, UnansweredCallGivesUpAtTheRingTimeout) {
  fake_->Script(kNumber, CallScript::NoAnswer());  // rings until the originate's timeout
  DialRequest request = Request("3e1f5a7b-9c4d-4fa0-b12c-8d6e4f3a0b05");
  request.ring_timeout = absl::Milliseconds(300);  // whole seconds at ARI: 1
  const absl::Time start = absl::Now();
  ASSERT_TRUE(provider_->Dial(request).ok());
  EXPECT_EQ(fake_->Originates().back().timeout_secs, 1);
  std::optional<CallEvent> destroyed = log_.WaitFor([&](const CallEvent& e) {
    return e.call_id() == request.dial_key && e.provider_event_type() == "ChannelDestroyed";
  });
  ASSERT_TRUE(destroyed);
  EXPECT_EQ(destroyed->hangup_cause(), "no_answer");
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(900));
}

TEST_F(AriFakeTest, HangupWhileRingingAndAgainWhenGone) {
  fake_->Script(kNumber, CallScript::NoAnswer());
  const DialRequest request = Request("4f2a6b8c-0d5e-4ab1-c23d-9e7f5a4b1c06");
  absl::StatusOr<PlacedCall> placed = provider_->Dial(request);
  ASSERT_TRUE(placed.ok()) << placed.status();
  ASSERT_TRUE(log_.WaitFor(request.dial_key, common::v1::CALL_EVENT_TYPE_RINGING));
  const CallRef call{.attempt_key = request.attempt_key,
                     .dial_key = request.dial_key,
                     .provider_call_id = placed->provider_call_id};
  ASSERT_TRUE(provider_->Hangup(call).ok());
  std::optional<CallEvent> hangup = log_.WaitFor([&](const CallEvent& e) {
    return e.call_id() == request.dial_key && e.provider_event_type() == "ChannelDestroyed";
  });
  ASSERT_TRUE(hangup);
  EXPECT_EQ(hangup->hangup_cause(), "normal_clearing");
  // Gone: 404 at Asterisk, OK for us.
  EXPECT_TRUE(provider_->Hangup(call).ok());
  std::vector<FakeAri::Command> hangups = CommandsOf("hangup");
  ASSERT_EQ(hangups.size(), 2u);
  EXPECT_EQ(hangups[0].status, 204);
  EXPECT_EQ(hangups[0].query.find("reason")->second, "normal");
  EXPECT_EQ(hangups[1].status, 404);
  // A prompt for a call that is gone: NOT_FOUND, permanent.
  absl::Status prompt = provider_->StartPrompt(call, PromptOf(request));
  EXPECT_EQ(prompt.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(jobs::IsPermanentError(prompt));
  EXPECT_EQ(jobs::FailureReasonOf(prompt), "not_found");
}

TEST_F(AriFakeTest, PromptBeforeTheAnswerIsRefused) {
  fake_->Script(kNumber, CallScript::NoAnswer());
  const DialRequest request = Request("5a3b7c9d-1e6f-4bc2-d34e-0f8a6b5c2d07");
  absl::StatusOr<PlacedCall> placed = provider_->Dial(request);
  ASSERT_TRUE(placed.ok());
  const CallRef call{.dial_key = request.dial_key, .provider_call_id = placed->provider_call_id};
  absl::Status prompt = provider_->StartPrompt(call, PromptOf(request));
  EXPECT_EQ(prompt.code(), absl::StatusCode::kFailedPrecondition);  // 409: not in Stasis
  EXPECT_TRUE(jobs::IsPermanentError(prompt));
  EXPECT_EQ(jobs::FailureReasonOf(prompt), "refused");
  EXPECT_TRUE(provider_->Hangup(call).ok());
}

TEST_F(AriFakeTest, DialplanTargetContinuesInsteadOfPrompting) {
  fake_->Script(kNumber, CallScript::NoDigit());
  const DialRequest request = Request("6b4c8d0e-2f7a-4cd3-e45f-1a9b7c6d3e08");
  absl::StatusOr<PlacedCall> placed = provider_->Dial(request);
  ASSERT_TRUE(placed.ok());
  ASSERT_TRUE(log_.WaitFor(request.dial_key, common::v1::CALL_EVENT_TYPE_ANSWERED));
  Prompt prompt = PromptOf(request);
  prompt.dialplan_context = "guardian-bridge";
  prompt.dialplan_extension = "s";
  const CallRef call{.dial_key = request.dial_key, .provider_call_id = placed->provider_call_id};
  ASSERT_TRUE(provider_->StartPrompt(call, prompt).ok());
  EXPECT_TRUE(CommandsOf("play").empty());
  std::vector<FakeAri::Command> continues = CommandsOf("continue");
  ASSERT_EQ(continues.size(), 1u);
  EXPECT_EQ(continues[0].query.find("context")->second, "guardian-bridge");
  EXPECT_EQ(continues[0].query.find("priority")->second, "1");
  ASSERT_TRUE(log_.WaitFor([&](const CallEvent& e) {
    return e.call_id() == request.dial_key && e.provider_event_type() == "StasisEnd";
  }));
}

TEST_F(AriFakeTest, RefusalsAndFailuresAreClassified) {
  fake_->Script(kNumber, CallScript::RejectOriginate(500));
  absl::StatusOr<PlacedCall> server_error = provider_->Dial(Request("7c5d9e1f-3a8b-4de4-f560-2b0c8d7e4f09"));
  EXPECT_EQ(server_error.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(jobs::IsPermanentError(server_error.status()));
  EXPECT_EQ(jobs::FailureReasonOf(server_error.status()), "server_error");

  fake_->Script(kNumber, CallScript::RejectOriginate(400));
  absl::StatusOr<PlacedCall> refused = provider_->Dial(Request("8d6e0f2a-4b9c-4ef5-0671-3c1d9e8f5a10"));
  EXPECT_TRUE(jobs::IsPermanentError(refused.status()));
  EXPECT_EQ(jobs::FailureReasonOf(refused.status()), "refused");

  // A number that is not E.164 never reaches Asterisk.
  absl::StatusOr<PlacedCall> bad_number =
      provider_->Dial(Request("9e7f1a3b-5c0d-4f06-1782-4d2e0f9a6b11", "8999"));
  EXPECT_TRUE(jobs::IsPermanentError(bad_number.status()));
  EXPECT_EQ(jobs::FailureReasonOf(bad_number.status()), "refused");
  EXPECT_EQ(fake_->Originates().size(), 2u);

  std::unique_ptr<AriProvider> wrong_password = NewProvider("wrong");
  absl::StatusOr<PlacedCall> unauthorized =
      wrong_password->Dial(Request("af801b4c-6d1e-4a17-2893-5e3f1a0b7c12"));
  EXPECT_EQ(unauthorized.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(jobs::IsPermanentError(unauthorized.status()));
  EXPECT_EQ(jobs::FailureReasonOf(unauthorized.status()), "unauthorized");
}

TEST_F(AriFakeTest, UnreachableAsteriskIsUnavailable) {
  absl::StatusOr<std::unique_ptr<FakeAri>> gone = FakeAri::Start({});
  ASSERT_TRUE(gone.ok());
  AriConfig config = Config("secret");
  config.http_url = (*gone)->http_url();
  (*gone)->Stop();  // nobody listens there now
  absl::StatusOr<std::unique_ptr<AriProvider>> provider = AriProvider::Create(config);
  ASSERT_TRUE(provider.ok());
  absl::StatusOr<PlacedCall> placed = (*provider)->Dial(Request("b0912c5d-7e2f-4b28-3904-6f4a2b1c8d13"));
  EXPECT_EQ(placed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(jobs::IsPermanentError(placed.status()));
  EXPECT_EQ(jobs::FailureReasonOf(placed.status()), "unavailable");
}

TEST_F(AriFakeTest, EventStreamReconnectsAfterADrop) {
  ASSERT_EQ(provider_->events_connections(), 1);
  fake_->DropSubscribers();
  ASSERT_TRUE(fake_->WaitFor(
      [&] { return provider_->events_connections() == 2 && fake_->subscriber_count() == 1; }, kWait));
  EXPECT_TRUE(provider_->events_connected());
  // Events flow on the new connection.
  const DialRequest request = Request("c1a23d6e-8f3a-4c39-4a15-7a5b3c2d9e14");
  ASSERT_TRUE(provider_->Dial(request).ok());
  ASSERT_TRUE(log_.WaitFor(request.dial_key, common::v1::CALL_EVENT_TYPE_ANSWERED));
  // The client sent Basic auth each time.
  EXPECT_EQ(CommandsOf("events").size(), 2u);
  for (const FakeAri::Command& c : CommandsOf("events")) EXPECT_EQ(c.status, 101);
}

TEST_F(AriFakeTest, EventsWithNoSubscriberAreDropped) {
  provider_->StopEvents();
  ASSERT_TRUE(fake_->WaitFor([&] { return fake_->subscriber_count() == 0; }, kWait));
  const DialRequest request = Request("d2b34e7f-9a4b-4d4a-5b26-8b6c4d3e0f15");
  ASSERT_TRUE(provider_->Dial(request).ok());
  ASSERT_TRUE(fake_->WaitFor(
      [&] {
        std::vector<FakeAri::Event> events = fake_->Events();
        return std::any_of(events.begin(), events.end(),
                           [](const FakeAri::Event& e) { return e.type == "StasisStart"; });
      },
      kWait));
  for (const FakeAri::Event& e : fake_->Events()) EXPECT_EQ(e.delivered, 0) << e.type;
  EXPECT_TRUE(log_.Of(request.dial_key).empty());
}

TEST_F(AriFakeTest, SinkIsRetriedUntilItTakesTheEvent) {
  provider_->StopEvents();
  ASSERT_TRUE(fake_->WaitFor([&] { return fake_->subscriber_count() == 0; }, kWait));
  std::mutex mu;
  int answered_calls = 0;  // sink calls for the ANSWERED event
  ASSERT_TRUE(provider_
                  ->StartEvents([&](const CallEvent& e) -> absl::Status {
                    if (e.type() == common::v1::CALL_EVENT_TYPE_ANSWERED) {
                      std::lock_guard<std::mutex> lock(mu);
                      if (++answered_calls <= 2) return absl::UnavailableError("postgres is down");
                    }
                    if (e.type() == common::v1::CALL_EVENT_TYPE_RINGING) {
                      return jobs::Permanent(absl::InvalidArgumentError("not ours"));  // dropped at once
                    }
                    return log_.Take(e);
                  })
                  .ok());
  ASSERT_TRUE(
      fake_->WaitFor([&] { return provider_->events_connected() && fake_->subscriber_count() == 1; }, kWait));
  const DialRequest request = Request("e3c45f8a-0b5c-4e5b-6c37-9c7d5e4f1a16");
  ASSERT_TRUE(provider_->Dial(request).ok());
  ASSERT_TRUE(log_.WaitFor(request.dial_key, common::v1::CALL_EVENT_TYPE_ANSWERED));
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(answered_calls, 3);
  }
  EXPECT_FALSE(log_.WaitFor(request.dial_key, common::v1::CALL_EVENT_TYPE_RINGING, absl::Milliseconds(50)));
}

TEST(AriProviderConfigTest, RefusesConfigsThatCannotWork) {
  AriConfig good{.username = "pg", .password = "secret"};
  EXPECT_TRUE(AriProvider::Create(good).ok());
  AriConfig https = good;
  https.http_url = "https://asterisk.example:8089";
  EXPECT_EQ(AriProvider::Create(https).status().code(), absl::StatusCode::kInvalidArgument);
  AriConfig no_number = good;
  no_number.endpoint_template = "PJSIP/trunk";
  EXPECT_EQ(AriProvider::Create(no_number).status().code(), absl::StatusCode::kInvalidArgument);
  AriConfig no_app = good;
  no_app.app = "";
  EXPECT_EQ(AriProvider::Create(no_app).status().code(), absl::StatusCode::kInvalidArgument);
  AriConfig no_user = good;
  no_user.username = "";
  EXPECT_EQ(AriProvider::Create(no_user).status().code(), absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(*EventsUrl("http://127.0.0.1:8088", "protectogram"),
            "ws://127.0.0.1:8088/ari/events?app=protectogram&subscribeAll=false");
  EXPECT_EQ(*EventsUrl("http://pbx:8088/asterisk/", "pg"),
            "ws://pbx:8088/asterisk/ari/events?app=pg&subscribeAll=false");
  EXPECT_EQ(EventsUrl("ftp://pbx", "pg").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(EventStreamTest, StopEndsAPendingConnectPromptly) {
  // A port nobody answers on: the stream keeps retrying, and Stop still returns at once.
  absl::StatusOr<std::unique_ptr<FakeAri>> gone = FakeAri::Start({});
  ASSERT_TRUE(gone.ok());
  const std::string url = *EventsUrl((*gone)->http_url(), "protectogram");
  (*gone)->Stop();
  EventStream stream({.url = url, .username = "pg", .password = "secret"}, [](std::string_view) {});
  ASSERT_TRUE(stream.Start().ok());
  EXPECT_EQ(stream.Start().code(), absl::StatusCode::kFailedPrecondition);
  absl::SleepFor(absl::Milliseconds(150));
  const absl::Time start = absl::Now();
  stream.Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_FALSE(stream.connected());
  EXPECT_EQ(stream.connections(), 0);
  EventStream wss({.url = "wss://pbx:8089/ari/events?app=pg"}, [](std::string_view) {});
  EXPECT_EQ(wss.Start().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace protectogram::telephony::ari
