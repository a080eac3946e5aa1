// TelnyxProvider driven against FakeTelnyx over real loopback HTTP, with a small webhook receiver that treats
// every webhook as the edge does: checks its Ed25519 signature (VerifyWebhook with the fake's public key) and
// parses it (ParseEvent). What the service sees for each scripted callee and fault: the statuses and reasons
// of provider.h, and the events in the order (or disorder) they arrive.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "boost/json.hpp"
#include "libs/crypto/encoding.h"
#include "libs/http/client.h"
#include "libs/http/server.h"
#include "libs/jobs/retry.h"
#include "libs/providers/telnyx/commands.h"
#include "libs/providers/telnyx/fake_call_control.h"
#include "libs/providers/telnyx/telnyx.h"
#include "services/telephony/telnyx/telnyx_provider.h"

namespace protectogram::telephony {
namespace {

namespace tx = providers::telnyx;
namespace json = boost::json;
using common::v1::CallEvent;
using tx::CallScript;
using tx::FakeTelnyx;

constexpr absl::Duration kWait = absl::Seconds(10);
// 25 s of ringing in 250 ms; a 2 s answer in 20 ms.
constexpr double kTimeScale = 0.01;
constexpr char kConnectionId[] = "1494404757140276705";
constexpr char kFrom[] = "+15557654321";
constexpr char kTo[] = "+79990001234";

// The edge's side of the webhooks: every delivery is verified and parsed; those that pass are recorded.
class WebhookReceiver {
 public:
  void Start() {
    http::ServerOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    options.threads = 1;
    options.handler_threads = 4;
    http::Router router;
    router.Add("POST", kTelnyxWebhookPath, [this](const http::Request& r) { return Handle(r); });
    server_ = std::make_unique<http::Server>(std::move(options), std::move(router));
    ASSERT_TRUE(server_->Start().ok());
  }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + std::string(kTelnyxWebhookPath);
  }

  // The next `count` verified webhooks are answered `status` and not recorded.
  void FailNext(int count, int status) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_next_ = count;
    fail_status_ = status;
  }

  std::vector<CallEvent> Events(std::string_view call_id = {}) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<CallEvent> out;
    for (const CallEvent& e : events_) {
      if (call_id.empty() || e.call_id() == call_id) out.push_back(e);
    }
    return out;
  }

  // True once `count` events of `type` for the call have arrived.
  bool WaitFor(std::string_view call_id, std::string_view type, size_t count = 1) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(kWait),
                        [&] { return CountLocked(call_id, type) >= count; });
  }

  size_t Count(std::string_view call_id, std::string_view type) const {
    std::lock_guard<std::mutex> lock(mu_);
    return CountLocked(call_id, type);
  }

  int refused() const {
    std::lock_guard<std::mutex> lock(mu_);
    return refused_;
  }

 private:
  size_t CountLocked(std::string_view call_id, std::string_view type) const {
    return static_cast<size_t>(std::count_if(events_.begin(), events_.end(), [&](const CallEvent& e) {
      return e.call_id() == call_id && e.provider_event_type() == type;
    }));
  }

  http::Response Handle(const http::Request& r) {
    const absl::Status verified = tx::VerifyWebhook(tx::kFakePublicKey, r.Header(tx::kSignatureHeader),
                                                    r.Header(tx::kTimestampHeader), r.body, absl::Now());
    absl::StatusOr<CallEvent> event = tx::ParseEvent(r.body);
    std::lock_guard<std::mutex> lock(mu_);
    if (!verified.ok() || !event.ok()) {
      ++refused_;
      ADD_FAILURE() << "webhook refused: " << verified << " / " << event.status() << "\n" << r.body;
      return http::Response::Error(403, "refused", "refused");
    }
    if (fail_next_ > 0) {
      --fail_next_;
      return http::Response::Json(fail_status_, "{}");
    }
    events_.push_back(*std::move(event));
    cv_.notify_all();
    return http::Response::Json(200, "{}");
  }

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<CallEvent> events_;
  int fail_next_ = 0;
  int fail_status_ = 500;
  int refused_ = 0;
  std::unique_ptr<http::Server> server_;
};

// The position of the first event of `type` in `events`; -1 when absent.
int IndexOf(const std::vector<CallEvent>& events, std::string_view type) {
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].provider_event_type() == type) return static_cast<int>(i);
  }
  return -1;
}

json::object BodyOf(const FakeTelnyx::Command& command) { return json::parse(command.body_json).as_object(); }

class TelnyxFakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    receiver_.Start();
    // Webhooks go where each dial says (the provider's webhook_url), as in production.
    StartFake({.time_scale = kTimeScale, .webhook_retry_delays = {absl::Seconds(1), absl::Seconds(1)}});
  }

  void StartFake(tx::FakeTelnyxOptions options) {
    fake_.reset();
    absl::StatusOr<std::unique_ptr<FakeTelnyx>> fake = FakeTelnyx::Start(std::move(options));
    ASSERT_TRUE(fake.ok()) << fake.status();
    fake_ = *std::move(fake);
  }

  TelnyxConfig Config() {
    return {.api_base_url = fake_->base_url(),
            .api_key = tx::kFakeApiKey,
            .connection_id = kConnectionId,
            .from_number = kFrom,
            .webhook_url = receiver_.url(),
            .timeout = absl::Seconds(5)};
  }

  TelnyxProvider Provider() { return TelnyxProvider(Config(), client_); }

  static DialRequest Request(std::string_view key, std::string_view to = kTo) {
    DialRequest r;
    r.attempt_key = "attempt:" + std::string(key);
    r.dial_key = "5f0c1c1e-0000-4000-8000-" + std::string(12 - std::min<size_t>(12, key.size()), '0') +
                 std::string(key.substr(0, 12));
    r.to_e164 = std::string(to);
    r.speak_text = "Тревога! Нажмите 1, чтобы подтвердить.";
    r.language = "ru-RU";
    r.valid_digits = "1";
    return r;
  }

  static Prompt PromptOf(const DialRequest& r) {
    return {.speak_text = r.speak_text,
            .language = r.language,
            .valid_digits = r.valid_digits,
            .repeats = r.prompt_repeats};
  }

  static CallRef RefOf(const DialRequest& r, const PlacedCall& placed) {
    return {
        .attempt_key = r.attempt_key, .dial_key = r.dial_key, .provider_call_id = placed.provider_call_id};
  }

  std::vector<FakeTelnyx::Command> CommandsNamed(std::string_view action) {
    std::vector<FakeTelnyx::Command> out;
    for (const FakeTelnyx::Command& c : fake_->Commands()) {
      if (c.action == action) out.push_back(c);
    }
    return out;
  }

  WebhookReceiver receiver_;  // outlives fake_, which posts to it
  http::Client client_;
  std::unique_ptr<FakeTelnyx> fake_;
};

TEST_F(TelnyxFakeTest, AnsweredAndDigitOne) {
  TelnyxProvider provider = Provider();
  EXPECT_EQ(provider.name(), "telnyx");
  EXPECT_EQ(provider.provider(), common::v1::PROVIDER_TELNYX);
  const DialRequest request = Request("1");
  absl::StatusOr<PlacedCall> placed = provider.Dial(request);
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_TRUE(placed->provider_call_id.starts_with("v3:")) << placed->provider_call_id;
  EXPECT_FALSE(placed->call_session_id.empty());
  const std::string& id = placed->provider_call_id;

  ASSERT_TRUE(receiver_.WaitFor(id, "call.answered"));
  ASSERT_TRUE(provider.StartPrompt(RefOf(request, *placed), PromptOf(request)).ok());
  ASSERT_TRUE(receiver_.WaitFor(id, "call.gather.ended"));
  ASSERT_TRUE(provider.Hangup(RefOf(request, *placed)).ok());
  ASSERT_TRUE(receiver_.WaitFor(id, "call.hangup"));

  const std::vector<CallEvent> events = receiver_.Events(id);
  const int initiated = IndexOf(events, "call.initiated");
  const int answered = IndexOf(events, "call.answered");
  const int gathered = IndexOf(events, "call.gather.ended");
  const int hangup = IndexOf(events, "call.hangup");
  EXPECT_EQ(initiated, 0);
  EXPECT_LT(initiated, answered);
  EXPECT_LT(answered, gathered);
  EXPECT_LT(gathered, hangup);
  for (const CallEvent& e : events) {
    EXPECT_EQ(e.client_state(), request.attempt_key) << e.provider_event_type();
    EXPECT_EQ(e.call_session_id(), placed->call_session_id);
    EXPECT_EQ(e.to(), kTo);
    EXPECT_EQ(e.from(), kFrom);
  }
  EXPECT_EQ(events[static_cast<size_t>(initiated)].type(), common::v1::CALL_EVENT_TYPE_INITIATED);
  EXPECT_EQ(events[static_cast<size_t>(gathered)].type(), common::v1::CALL_EVENT_TYPE_GATHER_ENDED);
  EXPECT_EQ(events[static_cast<size_t>(gathered)].digits(), "1");
  EXPECT_EQ(events[static_cast<size_t>(gathered)].status(), "valid");
  EXPECT_EQ(events[static_cast<size_t>(hangup)].hangup_cause(), "normal_clearing");
  // AMD was asked for ("detect" by default): a person answered.
  ASSERT_TRUE(receiver_.WaitFor(id, "call.machine.detection.ended")) << "AMD result missing";

  // What went over the wire.
  const std::vector<FakeTelnyx::Command> dials = fake_->Dials();
  ASSERT_EQ(dials.size(), 1u);
  EXPECT_TRUE(dials[0].authorized);
  EXPECT_TRUE(dials[0].placed);
  EXPECT_EQ(dials[0].status, 200);
  json::object dial = BodyOf(dials[0]);
  EXPECT_EQ(dial["connection_id"].as_string(), kConnectionId);
  EXPECT_EQ(dial["from"].as_string(), kFrom);
  EXPECT_EQ(dial["to"].as_string(), kTo);
  EXPECT_EQ(dial["command_id"].as_string(), request.dial_key);
  EXPECT_EQ(dial["client_state"].as_string(), crypto::Base64Encode(request.attempt_key));
  EXPECT_EQ(dial["timeout_secs"].as_int64(), 25);
  EXPECT_EQ(dial["answering_machine_detection"].as_string(), "detect");
  EXPECT_EQ(dial["webhook_url"].as_string(), receiver_.url());

  const std::vector<FakeTelnyx::Command> gathers = CommandsNamed("gather_using_speak");
  ASSERT_EQ(gathers.size(), 1u);
  EXPECT_EQ(gathers[0].call_control_id, id);
  json::object gather = BodyOf(gathers[0]);
  EXPECT_EQ(gather["payload"].as_string(), request.speak_text);
  EXPECT_EQ(gather["voice"].as_string(), "AWS.Polly.Tatyana");
  EXPECT_EQ(gather["language"].as_string(), "ru-RU");
  EXPECT_EQ(gather["valid_digits"].as_string(), "1");
  EXPECT_EQ(gather["minimum_digits"].as_int64(), 1);
  EXPECT_EQ(gather["maximum_digits"].as_int64(), 1);
  EXPECT_EQ(gather["maximum_tries"].as_int64(), 3);
  EXPECT_EQ(gather["timeout_millis"].as_int64(), 5000);
  EXPECT_EQ(gather["command_id"].as_string(), request.dial_key + ":prompt");
  const std::vector<FakeTelnyx::Command> hangups = CommandsNamed("hangup");
  ASSERT_EQ(hangups.size(), 1u);
  EXPECT_EQ(BodyOf(hangups[0])["command_id"].as_string(), request.dial_key + ":hangup");

  std::optional<FakeTelnyx::Call> call = fake_->FindCall(id);
  ASSERT_TRUE(call.has_value());
  EXPECT_EQ(call->state, FakeTelnyx::CallState::kEnded);
  EXPECT_EQ(call->hangup_source, "caller");
  EXPECT_EQ(receiver_.refused(), 0);
}

TEST_F(TelnyxFakeTest, RepeatedDialWithTheSameKeyRingsOnce) {
  TelnyxProvider provider = Provider();
  const DialRequest request = Request("2");
  absl::StatusOr<PlacedCall> first = provider.Dial(request);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<PlacedCall> again = provider.Dial(request);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->provider_call_id, first->provider_call_id);
  EXPECT_EQ(again->call_session_id, first->call_session_id);
  // Retries racing each other.
  std::vector<std::thread> threads;
  std::mutex mu;
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      absl::StatusOr<PlacedCall> placed = provider.Dial(request);
      std::lock_guard<std::mutex> lock(mu);
      ids.push_back(placed.ok() ? placed->provider_call_id : placed.status().ToString());
    });
  }
  for (std::thread& t : threads) t.join();
  for (const std::string& id : ids) EXPECT_EQ(id, first->provider_call_id);

  EXPECT_EQ(fake_->DialCountFor(kTo), 1u);
  EXPECT_EQ(fake_->Calls().size(), 1u);
  const std::vector<FakeTelnyx::Command> dials = fake_->Dials();
  ASSERT_EQ(dials.size(), 6u);
  EXPECT_EQ(std::count_if(dials.begin(), dials.end(), [](const auto& d) { return d.duplicate; }), 5);
  ASSERT_TRUE(receiver_.WaitFor(first->provider_call_id, "call.answered"));
  EXPECT_EQ(receiver_.Count(first->provider_call_id, "call.initiated"), 1u);
  // A different key is a different call.
  absl::StatusOr<PlacedCall> other = provider.Dial(Request("3"));
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->provider_call_id, first->provider_call_id);
  EXPECT_EQ(fake_->DialCountFor(kTo), 2u);
}

TEST_F(TelnyxFakeTest, NoAnswerEndsAtTheRingTimeout) {
  fake_->Script(kTo, CallScript::NoAnswer());
  TelnyxProvider provider = Provider();
  DialRequest request = Request("4");
  request.ring_timeout = absl::Seconds(5);  // 50 ms here
  absl::StatusOr<PlacedCall> placed = provider.Dial(request);
  ASSERT_TRUE(placed.ok()) << placed.status();
  ASSERT_TRUE(receiver_.WaitFor(placed->provider_call_id, "call.hangup"));
  const std::vector<CallEvent> events = receiver_.Events(placed->provider_call_id);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].provider_event_type(), "call.initiated");
  EXPECT_EQ(events[1].hangup_cause(), "timeout");
  EXPECT_EQ(BodyOf(fake_->Dials()[0])["timeout_secs"].as_int64(), 5);
  // Hanging up a call that is over is fine.
  EXPECT_TRUE(provider.Hangup(RefOf(request, *placed)).ok());
}

TEST_F(TelnyxFakeTest, HangupWhileRingingCancels) {
  fake_->Script(kTo, CallScript::NoAnswer());
  TelnyxProvider provider = Provider();
  DialRequest request = Request("5");
  request.ring_timeout = absl::Seconds(600);
  absl::StatusOr<PlacedCall> placed = provider.Dial(request);
  ASSERT_TRUE(placed.ok()) << placed.status();
  ASSERT_TRUE(provider.Hangup(RefOf(request, *placed)).ok());
  ASSERT_TRUE(receiver_.WaitFor(placed->provider_call_id, "call.hangup"));
  EXPECT_EQ(receiver_.Events(placed->provider_call_id).back().hangup_cause(), "originator_cancel");
}

TEST_F(TelnyxFakeTest, MachineIsDetected) {
  fake_->Script(kTo, CallScript::Machine());
  TelnyxProvider provider = Provider();
  const DialRequest request = Request("6");
  absl::StatusOr<PlacedCall> placed = provider.Dial(request);
  ASSERT_TRUE(placed.ok()) << placed.status();
  ASSERT_TRUE(receiver_.WaitFor(placed->provider_call_id, "call.machine.detection.ended"));
  const std::vector<CallEvent> events = receiver_.Events(placed->provider_call_id);
  const CallEvent& amd = events[static_cast<size_t>(IndexOf(events, "call.machine.detection.ended"))];
  EXPECT_EQ(amd.type(), common::v1::CALL_EVENT_TYPE_MACHINE_DETECTION_ENDED);
  EXPECT_EQ(amd.status(), "machine");
  EXPECT_LT(IndexOf(events, "call.answered"), IndexOf(events, "call.machine.detection.ended"));
  EXPECT_TRUE(provider.Hangup(RefOf(request, *placed)).ok());
  ASSERT_TRUE(receiver_.WaitFor(placed->provider_call_id, "call.hangup"));
}

TEST_F(TelnyxFakeTest, BusyThenHangupOfTheEndedCallIsOk) {
  fake_->Script(kTo, CallScript::Busy());
  TelnyxProvider provider = Provider();
  const DialRequest request = Request("7");
  absl::StatusOr<PlacedCall> placed = provider.Dial(request);
  ASSERT_TRUE(placed.ok()) << placed.status();
  ASSERT_TRUE(receiver_.WaitFor(placed->provider_call_id, "call.hangup"));
  EXPECT_EQ(receiver_.Events(placed->provider_call_id).back().hangup_cause(), "user_busy");
  EXPECT_EQ(receiver_.Count(placed->provider_call_id, "call.answered"), 0u);

  EXPECT_TRUE(provider.Hangup(RefOf(request, *placed)).ok());
  const std::vector<FakeTelnyx::Command> hangups = CommandsNamed("hangup");
  ASSERT_EQ(hangups.size(), 1u);
  EXPECT_EQ(hangups[0].status, 422);  // Telnyx said so; the provider took it as done
  EXPECT_EQ(hangups[0].error_code, tx::kCallEndedErrorCode);
  // A prompt on it is refused for good.
  absl::Status prompt = provider.StartPrompt(RefOf(request, *placed), PromptOf(request));
  EXPECT_TRUE(jobs::IsPermanentError(prompt)) << prompt;
  EXPECT_EQ(jobs::FailureReasonOf(prompt), "refused");
  // A call Telnyx never heard of is over too.
  EXPECT_TRUE(provider.Hangup({.attempt_key = "a", .dial_key = "k", .provider_call_id = "v3:unknown"}).ok());
}

TEST_F(TelnyxFakeTest, RejectedDialsMapToReasons) {
  struct Case {
    int status;
    bool permanent;
    const char* reason;
    const char* code;
  };
  const Case kCases[] = {
      {422, true, "refused", "10015"},       {400, true, "refused", "10015"},
      {403, true, "unauthorized", "10010"},  {429, false, "rate_limited", "10011"},
      {500, false, "server_error", "10007"}, {503, false, "server_error", "10007"},
  };
  TelnyxProvider provider = Provider();
  for (const Case& c : kCases) {
    fake_->Script(kTo, CallScript::RejectDial(c.status));
    absl::StatusOr<PlacedCall> placed = provider.Dial(Request("8"));
    ASSERT_FALSE(placed.ok()) << c.status;
    EXPECT_EQ(jobs::IsPermanentError(placed.status()), c.permanent) << c.status << " " << placed.status();
    EXPECT_EQ(jobs::FailureReasonOf(placed.status()), c.reason) << c.status;
    EXPECT_NE(placed.status().message().find(c.code), std::string_view::npos) << placed.status();
  }
  EXPECT_EQ(fake_->DialCountFor(kTo), 0u);
  EXPECT_TRUE(fake_->Webhooks().empty());
}

TEST_F(TelnyxFakeTest, WrongApiKeyIsUnauthorized) {
  TelnyxConfig config = Config();
  config.api_key = "KEY-that-is-wrong";
  TelnyxProvider provider(config, client_);
  absl::StatusOr<PlacedCall> placed = provider.Dial(Request("9"));
  ASSERT_FALSE(placed.ok());
  EXPECT_TRUE(jobs::IsPermanentError(placed.status())) << placed.status();
  EXPECT_EQ(jobs::FailureReasonOf(placed.status()), "unauthorized");
  EXPECT_EQ(placed.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(placed.status().message().find("10009"), std::string_view::npos) << placed.status();
  EXPECT_EQ(placed.status().message().find(config.api_key), std::string_view::npos) << "the key leaked";
  ASSERT_EQ(fake_->Dials().size(), 1u);
  EXPECT_FALSE(fake_->Dials()[0].authorized);
  EXPECT_EQ(fake_->DialCountFor(kTo), 0u);
}

TEST_F(TelnyxFakeTest, DroppedDialIsRetryable) {
  TelnyxProvider provider = Provider();
  fake_->Script(kTo, CallScript::DropDial());
  absl::StatusOr<PlacedCall> dropped = provider.Dial(Request("10"));
  ASSERT_FALSE(dropped.ok());
  EXPECT_FALSE(jobs::IsPermanentError(dropped.status())) << dropped.status();
  EXPECT_EQ(jobs::FailureReasonOf(dropped.status()), "unavailable");
  EXPECT_EQ(fake_->DialCountFor(kTo), 0u);

  // Placed, then the answer is lost: the retry with the same key gets that call, and nothing rings twice.
  fake_->Script(kTo, CallScript::DropDialAfterPlacing());
  const DialRequest request = Request("11");
  absl::StatusOr<PlacedCall> lost = provider.Dial(request);
  ASSERT_FALSE(lost.ok());
  EXPECT_FALSE(jobs::IsPermanentError(lost.status())) << lost.status();
  EXPECT_EQ(jobs::FailureReasonOf(lost.status()), "unavailable");
  ASSERT_EQ(fake_->DialCountFor(kTo), 1u);
  absl::StatusOr<PlacedCall> retried = provider.Dial(request);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->provider_call_id, fake_->Calls()[0].call_control_id);
  EXPECT_EQ(fake_->DialCountFor(kTo), 1u);
}

TEST_F(TelnyxFakeTest, SlowDialTimesOutAndTheRetryFindsTheCall) {
  fake_->Script(kTo, CallScript::SlowDial(absl::Seconds(3)));
  TelnyxConfig config = Config();
  config.timeout = absl::Milliseconds(200);
  TelnyxProvider provider(config, client_);
  const DialRequest request = Request("12");
  absl::StatusOr<PlacedCall> slow = provider.Dial(request);
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.status().code(), absl::StatusCode::kDeadlineExceeded) << slow.status();
  EXPECT_EQ(jobs::FailureReasonOf(slow.status()), "timeout");
  EXPECT_FALSE(jobs::IsPermanentError(slow.status()));
  absl::StatusOr<PlacedCall> retried = provider.Dial(request);  // a repeat is answered at once
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(fake_->DialCountFor(kTo), 1u);
  ASSERT_TRUE(receiver_.WaitFor(retried->provider_call_id, "call.answered"));  // it did ring
}

TEST_F(TelnyxFakeTest, DuplicatedWebhooksArriveTwice) {
  CallScript script;
  script.duplicate_webhooks = true;
  fake_->Script(kTo, script);
  TelnyxProvider provider = Provider();
  const DialRequest request = Request("13");
  absl::StatusOr<PlacedCall> placed = provider.Dial(request);
  ASSERT_TRUE(placed.ok()) << placed.status();
  const std::string& id = placed->provider_call_id;
  ASSERT_TRUE(receiver_.WaitFor(id, "call.answered", 2));
  ASSERT_TRUE(provider.StartPrompt(RefOf(request, *placed), PromptOf(request)).ok());
  ASSERT_TRUE(receiver_.WaitFor(id, "call.gather.ended", 2));
  // A call's webhooks go out in order, each copy right after the original: everything before the second
  // gather.ended (AMD included, due well before the digit) came twice.
  std::map<std::string, int> per_id;
  for (const CallEvent& e : receiver_.Events(id)) ++per_id[e.provider_event_id()];
  EXPECT_EQ(per_id.size(), 4u);  // initiated, answered, machine detection, gather
  for (const auto& [event_id, count] : per_id) EXPECT_EQ(count, 2) << event_id;
  EXPECT_EQ(receiver_.Count(id, "call.initiated"), 2u);
}

TEST_F(TelnyxFakeTest, ReorderedHangupArrivesBeforeTheGather) {
  CallScript script;
  script.reorder = true;
  fake_->Script(kTo, script);
  TelnyxProvider provider = Provider();
  const DialRequest request = Request("14");
  absl::StatusOr<PlacedCall> placed = provider.Dial(request);
  ASSERT_TRUE(placed.ok()) << placed.status();
  const std::string& id = placed->provider_call_id;
  ASSERT_TRUE(receiver_.WaitFor(id, "call.answered"));
  ASSERT_TRUE(provider.StartPrompt(RefOf(request, *placed), PromptOf(request)).ok());
  ASSERT_TRUE(receiver_.WaitFor(id, "call.gather.ended"));
  const std::vector<CallEvent> events = receiver_.Events(id);
  ASSERT_GE(IndexOf(events, "call.hangup"), 0);
  EXPECT_LT(IndexOf(events, "call.hangup"), IndexOf(events, "call.gather.ended"));
  EXPECT_EQ(events[static_cast<size_t>(IndexOf(events, "call.gather.ended"))].digits(), "1");
  EXPECT_EQ(events[static_cast<size_t>(IndexOf(events, "call.hangup"))].hangup_cause(), "normal_clearing");
  EXPECT_TRUE(provider.Hangup(RefOf(request, *placed)).ok());  // already over
}

TEST_F(TelnyxFakeTest, NoDigitGatherTimesOut) {
  fake_->Script(kTo, CallScript::NoDigit());
  TelnyxProvider provider = Provider();
  const DialRequest request = Request("15");
  absl::StatusOr<PlacedCall> placed = provider.Dial(request);
  ASSERT_TRUE(placed.ok()) << placed.status();
  ASSERT_TRUE(receiver_.WaitFor(placed->provider_call_id, "call.answered"));
  ASSERT_TRUE(provider.StartPrompt(RefOf(request, *placed), PromptOf(request)).ok());
  ASSERT_TRUE(receiver_.WaitFor(placed->provider_call_id, "call.gather.ended"));
  const std::vector<CallEvent> events = receiver_.Events(placed->provider_call_id);
  const CallEvent& gather = events[static_cast<size_t>(IndexOf(events, "call.gather.ended"))];
  EXPECT_EQ(gather.status(), "timeout");
  EXPECT_EQ(gather.digits(), "");
}

TEST_F(TelnyxFakeTest, FailedWebhookIsRedelivered) {
  receiver_.FailNext(1, 500);
  TelnyxProvider provider = Provider();
  absl::StatusOr<PlacedCall> placed = provider.Dial(Request("16"));
  ASSERT_TRUE(placed.ok()) << placed.status();
  ASSERT_TRUE(receiver_.WaitFor(placed->provider_call_id, "call.initiated"));
  // The fake records an attempt once the receiver's answer is back.
  ASSERT_TRUE(fake_->WaitFor(
      [](const FakeTelnyx::View& v) {
        return std::any_of(v.webhooks.begin(), v.webhooks.end(), [](const FakeTelnyx::Webhook& w) {
          return w.event_type == "call.initiated" && w.status == 200;
        });
      },
      kWait));
  const std::vector<FakeTelnyx::Webhook> webhooks = fake_->WebhooksFor(placed->provider_call_id);
  ASSERT_GE(webhooks.size(), 2u);
  EXPECT_EQ(webhooks[0].event_type, "call.initiated");
  EXPECT_EQ(webhooks[0].status, 500);
  EXPECT_EQ(webhooks[0].attempt, 1);
  EXPECT_EQ(webhooks[1].event_id, webhooks[0].event_id);
  EXPECT_EQ(webhooks[1].status, 200);
  EXPECT_EQ(webhooks[1].attempt, 2);
  EXPECT_NE(webhooks[1].body.find(R"("attempt":2)"), std::string::npos);
}

TEST_F(TelnyxFakeTest, FakeDefaultWebhookUrlAndEndCall) {
  StartFake({.webhook_url = receiver_.url(), .time_scale = kTimeScale});
  TelnyxConfig config = Config();
  config.webhook_url = "";  // the connection's default
  config.amd = "";
  TelnyxProvider provider(config, client_);
  absl::StatusOr<PlacedCall> placed = provider.Dial(Request("17"));
  ASSERT_TRUE(placed.ok()) << placed.status();
  json::object dial = BodyOf(fake_->Dials()[0]);
  EXPECT_FALSE(dial.contains("webhook_url"));
  EXPECT_FALSE(dial.contains("answering_machine_detection"));
  ASSERT_TRUE(receiver_.WaitFor(placed->provider_call_id, "call.answered"));
  EXPECT_TRUE(fake_->EndCall(placed->provider_call_id));
  ASSERT_TRUE(receiver_.WaitFor(placed->provider_call_id, "call.hangup"));
  EXPECT_FALSE(fake_->EndCall(placed->provider_call_id));
  EXPECT_EQ(fake_->FindCall(placed->provider_call_id)->hangup_source, "callee");
  EXPECT_EQ(receiver_.Count(placed->provider_call_id, "call.machine.detection.ended"), 0u);
}

// kInteractive: a person plays the callee. Real time here (time_scale 1), so nothing the test waits for
// times out under it; AMD answers quickly.
class TelnyxInteractiveTest : public TelnyxFakeTest {
 protected:
  void SetUp() override {
    receiver_.Start();
    StartFake({.time_scale = 1.0, .amd_after = absl::Milliseconds(20)});
    fake_->Script(kTo, CallScript::Interactive());
  }

  // Waits until the fake's record of the call satisfies `done`.
  bool WaitForCall(const std::string& id, const std::function<bool(const FakeTelnyx::Call&)>& done) {
    return fake_->WaitFor(
        [&](const FakeTelnyx::View& v) {
          return std::any_of(v.calls.begin(), v.calls.end(),
                             [&](const FakeTelnyx::Call& c) { return c.call_control_id == id && done(c); });
        },
        kWait);
  }

  // Posts a command to the call as the provider would.
  http::ClientResponse Post(const std::string& id, std::string_view action, std::string body) {
    http::ClientRequest request;
    request.method = "POST";
    request.url = fake_->base_url() + "/v2/calls/" + id + "/actions/" + std::string(action);
    request.headers = {{"Authorization", std::string("Bearer ") + tx::kFakeApiKey},
                       {"Content-Type", "application/json"}};
    request.body = std::move(body);
    absl::StatusOr<http::ClientResponse> response = client_.Do(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.value_or(http::ClientResponse());
  }

  // The last event of `type` the receiver got for the call.
  CallEvent Last(const std::string& id, std::string_view type) {
    const std::vector<CallEvent> events = receiver_.Events(id);
    for (auto it = events.rbegin(); it != events.rend(); ++it) {
      if (it->provider_event_type() == type) return *it;
    }
    ADD_FAILURE() << "no " << type;
    return CallEvent();
  }
};

TEST_F(TelnyxInteractiveTest, AnswerGatherPressDigit) {
  TelnyxProvider provider = Provider();
  const DialRequest request = Request("40");
  absl::StatusOr<PlacedCall> placed = provider.Dial(request);
  ASSERT_TRUE(placed.ok()) << placed.status();
  const std::string id = placed->provider_call_id;
  ASSERT_TRUE(receiver_.WaitFor(id, "call.initiated"));
  // It rings until the person answers: nothing to press yet.
  EXPECT_EQ(fake_->FindCall(id)->state, FakeTelnyx::CallState::kRinging);
  EXPECT_FALSE(fake_->PressDigit(id, "1"));

  ASSERT_TRUE(fake_->Answer(id));
  EXPECT_FALSE(fake_->Answer(id)) << "answered already";
  EXPECT_FALSE(fake_->Decline(id)) << "no longer ringing";
  ASSERT_TRUE(receiver_.WaitFor(id, "call.answered"));
  EXPECT_FALSE(fake_->PressDigit(id, "1")) << "no gather in progress";
  ASSERT_TRUE(receiver_.WaitFor(id, "call.machine.detection.ended"));
  EXPECT_EQ(Last(id, "call.machine.detection.ended").status(), "human");

  ASSERT_TRUE(provider.StartPrompt(RefOf(request, *placed), PromptOf(request)).ok());
  ASSERT_TRUE(WaitForCall(id, [](const FakeTelnyx::Call& c) { return c.gathering; }));
  EXPECT_EQ(fake_->FindCall(id)->spoken, std::vector<std::string>{request.speak_text});
  EXPECT_FALSE(fake_->PressDigit(id, "")) << "nothing pressed";
  ASSERT_TRUE(fake_->PressDigit(id, "1"));
  EXPECT_FALSE(fake_->FindCall(id)->gathering);
  EXPECT_FALSE(fake_->PressDigit(id, "1")) << "the gather is over";
  ASSERT_TRUE(receiver_.WaitFor(id, "call.gather.ended"));
  const CallEvent gather = Last(id, "call.gather.ended");
  EXPECT_EQ(gather.digits(), "1");
  EXPECT_EQ(gather.status(), "valid");
  const std::vector<CallEvent> events = receiver_.Events(id);
  EXPECT_EQ(IndexOf(events, "call.initiated"), 0);
  EXPECT_LT(IndexOf(events, "call.answered"), IndexOf(events, "call.gather.ended"));
  EXPECT_EQ(receiver_.Count(id, "call.gather.ended"), 1u);

  // A speak is heard too, after the prompt.
  EXPECT_EQ(Post(id, "speak", R"({"payload":"Спасибо","voice":"AWS.Polly.Tatyana"})").status, 200);
  EXPECT_EQ(fake_->FindCall(id)->spoken, (std::vector<std::string>{request.speak_text, "Спасибо"}));

  // The person hangs up.
  ASSERT_TRUE(fake_->EndCall(id));
  ASSERT_TRUE(receiver_.WaitFor(id, "call.hangup"));
  EXPECT_EQ(Last(id, "call.hangup").hangup_cause(), "normal_clearing");
  EXPECT_EQ(fake_->FindCall(id)->hangup_source, "callee");
  EXPECT_FALSE(fake_->Answer(id));
  EXPECT_FALSE(fake_->PressDigit(id, "1"));
}

TEST_F(TelnyxInteractiveTest, DeclineRejectsTheCall) {
  TelnyxProvider provider = Provider();
  absl::StatusOr<PlacedCall> placed = provider.Dial(Request("41"));
  ASSERT_TRUE(placed.ok()) << placed.status();
  const std::string id = placed->provider_call_id;
  ASSERT_TRUE(fake_->Decline(id));
  EXPECT_FALSE(fake_->Decline(id));
  EXPECT_FALSE(fake_->Answer(id));
  ASSERT_TRUE(receiver_.WaitFor(id, "call.hangup"));
  EXPECT_EQ(Last(id, "call.hangup").hangup_cause(), "call_rejected");
  // The fake records the delivery once the receiver's answer is back.
  ASSERT_TRUE(fake_->WaitFor(
      [&](const FakeTelnyx::View& v) {
        return std::any_of(v.webhooks.begin(), v.webhooks.end(), [&](const FakeTelnyx::Webhook& w) {
          return w.call_control_id == id && w.event_type == "call.hangup";
        });
      },
      kWait));
  const FakeTelnyx::Webhook hangup = fake_->WebhooksFor(id).back();
  EXPECT_EQ(hangup.event_type, "call.hangup");
  EXPECT_NE(hangup.body.find(R"("hangup_source":"callee")"), std::string::npos) << hangup.body;
  EXPECT_NE(hangup.body.find(R"("sip_hangup_cause":"603")"), std::string::npos) << hangup.body;
  EXPECT_EQ(receiver_.Count(id, "call.answered"), 0u);
  const std::optional<FakeTelnyx::Call> call = fake_->FindCall(id);
  EXPECT_EQ(call->state, FakeTelnyx::CallState::kEnded);
  EXPECT_EQ(call->hangup_cause, "call_rejected");
  EXPECT_EQ(call->hangup_source, "callee");
  // Calls the fake never placed.
  EXPECT_FALSE(fake_->Answer("v3:unknown"));
  EXPECT_FALSE(fake_->Decline("v3:unknown"));
  EXPECT_FALSE(fake_->PressDigit("v3:unknown", "1"));
}

TEST_F(TelnyxInteractiveTest, InvalidDigit) {
  TelnyxProvider provider = Provider();
  const DialRequest request = Request("42");  // valid_digits "1"
  absl::StatusOr<PlacedCall> placed = provider.Dial(request);
  ASSERT_TRUE(placed.ok()) << placed.status();
  const std::string id = placed->provider_call_id;
  ASSERT_TRUE(fake_->Answer(id));
  ASSERT_TRUE(receiver_.WaitFor(id, "call.answered"));
  ASSERT_TRUE(provider.StartPrompt(RefOf(request, *placed), PromptOf(request)).ok());
  ASSERT_TRUE(fake_->PressDigit(id, "2"));
  ASSERT_TRUE(receiver_.WaitFor(id, "call.gather.ended"));
  const CallEvent gather = Last(id, "call.gather.ended");
  EXPECT_EQ(gather.digits(), "2");
  EXPECT_EQ(gather.status(), "invalid");
  // The service prompts again; this time the right key.
  ASSERT_TRUE(
      Post(id, "gather_using_speak",
           R"({"payload":"Ещё раз","voice":"AWS.Polly.Tatyana","valid_digits":"1","command_id":"g2"})")
          .status == 200);
  ASSERT_TRUE(fake_->PressDigit(id, "1"));
  ASSERT_TRUE(receiver_.WaitFor(id, "call.gather.ended", 2));
  EXPECT_EQ(Last(id, "call.gather.ended").status(), "valid");
  EXPECT_EQ(fake_->FindCall(id)->spoken, (std::vector<std::string>{request.speak_text, "Ещё раз"}));
}

// Scaled time: no one answers, or no one presses.
TEST_F(TelnyxFakeTest, InteractiveUnansweredTimesOut) {
  fake_->Script(kTo, CallScript::Interactive());
  TelnyxProvider provider = Provider();
  DialRequest request = Request("43");
  request.ring_timeout = absl::Seconds(5);  // 50 ms here
  const absl::Time start = absl::Now();
  absl::StatusOr<PlacedCall> placed = provider.Dial(request);
  ASSERT_TRUE(placed.ok()) << placed.status();
  const std::string id = placed->provider_call_id;
  ASSERT_TRUE(receiver_.WaitFor(id, "call.hangup"));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  const std::vector<CallEvent> events = receiver_.Events(id);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].provider_event_type(), "call.initiated");
  EXPECT_EQ(events[1].hangup_cause(), "timeout");
  EXPECT_EQ(fake_->FindCall(id)->hangup_source, "caller");
  EXPECT_FALSE(fake_->Answer(id));
  EXPECT_FALSE(fake_->Decline(id));
}

TEST_F(TelnyxFakeTest, InteractiveGatherTimesOut) {
  fake_->Script(kTo, CallScript::Interactive());
  TelnyxProvider provider = Provider();
  DialRequest request = Request("44");
  request.ring_timeout = absl::Seconds(600);
  absl::StatusOr<PlacedCall> placed = provider.Dial(request);
  ASSERT_TRUE(placed.ok()) << placed.status();
  const std::string id = placed->provider_call_id;
  ASSERT_TRUE(fake_->Answer(id));
  ASSERT_TRUE(receiver_.WaitFor(id, "call.answered"));
  ASSERT_TRUE(provider.StartPrompt(RefOf(request, *placed), PromptOf(request)).ok());
  // 5000 ms x 3 tries, scaled: 150 ms.
  ASSERT_TRUE(receiver_.WaitFor(id, "call.gather.ended"));
  const std::vector<CallEvent> events = receiver_.Events(id);
  const CallEvent& gather = events[static_cast<size_t>(IndexOf(events, "call.gather.ended"))];
  EXPECT_EQ(gather.status(), "timeout");
  EXPECT_EQ(gather.digits(), "");
  EXPECT_FALSE(fake_->FindCall(id)->gathering);
  EXPECT_FALSE(fake_->PressDigit(id, "1"));
  EXPECT_TRUE(provider.Hangup(RefOf(request, *placed)).ok());
}

TEST_F(TelnyxFakeTest, RingTimeoutIsRoundedUpAndClamped) {
  TelnyxProvider provider = Provider();
  const std::pair<absl::Duration, int64_t> kCases[] = {
      {absl::Seconds(1), 5}, {absl::Milliseconds(24200), 25}, {absl::Seconds(1000), 600}};
  int n = 20;
  for (const auto& [ring, want] : kCases) {
    DialRequest request = Request(std::to_string(n++));
    request.ring_timeout = ring;
    ASSERT_TRUE(provider.Dial(request).ok());
    EXPECT_EQ(BodyOf(fake_->Dials().back())["timeout_secs"].as_int64(), want) << ring;
  }
  DialRequest with_caller_id = Request("30");
  with_caller_id.caller_id = "+15550000001";
  ASSERT_TRUE(provider.Dial(with_caller_id).ok());
  EXPECT_EQ(BodyOf(fake_->Dials().back())["from"].as_string(), "+15550000001");
}

TEST_F(TelnyxFakeTest, RequestsWeCannotBuildAreInvalid) {
  TelnyxProvider provider = Provider();
  DialRequest no_key = Request("31");
  no_key.dial_key = "";
  absl::StatusOr<PlacedCall> placed = provider.Dial(no_key);
  EXPECT_TRUE(jobs::IsPermanentError(placed.status()));
  EXPECT_EQ(jobs::FailureReasonOf(placed.status()), "invalid_request");
  DialRequest no_number = Request("32");
  no_number.to_e164 = "";
  EXPECT_EQ(jobs::FailureReasonOf(provider.Dial(no_number).status()), "invalid_request");
  Prompt empty = PromptOf(Request("33"));
  empty.speak_text = "";
  EXPECT_EQ(jobs::FailureReasonOf(provider.StartPrompt({.provider_call_id = "v3:x"}, empty)),
            "invalid_request");
  EXPECT_EQ(jobs::FailureReasonOf(provider.Hangup({})), "invalid_request");
  EXPECT_TRUE(fake_->Commands().empty());
}

// Answers the fake cannot give: a 2xx we cannot read, a gateway's page, nobody listening.
TEST_F(TelnyxFakeTest, TransportAndMalformedAnswers) {
  std::atomic<int> status{200};
  std::atomic<bool> html{false};
  http::ServerOptions options;
  options.address = "127.0.0.1";
  options.port = 0;
  options.threads = 1;
  options.handler_threads = 1;
  http::Router router;
  router.AddPrefix("POST", "/v2/", [&](const http::Request&) {
    if (html) {
      http::Response r = http::Response::Text(status, "<html>502 Bad Gateway</html>");
      r.content_type = "text/html";
      return r;
    }
    return http::Response::Json(status, R"({"data":{}})");
  });
  http::Server server(std::move(options), std::move(router));
  ASSERT_TRUE(server.Start().ok());
  TelnyxConfig config = Config();
  config.api_base_url = "http://127.0.0.1:" + std::to_string(server.port()) + "/";
  TelnyxProvider provider(config, client_);

  absl::StatusOr<PlacedCall> malformed = provider.Dial(Request("34"));
  ASSERT_FALSE(malformed.ok());
  EXPECT_FALSE(jobs::IsPermanentError(malformed.status()));
  EXPECT_EQ(jobs::FailureReasonOf(malformed.status()), "malformed_response");
  EXPECT_TRUE(provider.Hangup({.dial_key = "k", .provider_call_id = "v3:x"}).ok());  // a 2xx body is not read

  status = 502;
  html = true;
  absl::StatusOr<PlacedCall> gateway = provider.Dial(Request("35"));
  EXPECT_FALSE(jobs::IsPermanentError(gateway.status()));
  EXPECT_EQ(jobs::FailureReasonOf(gateway.status()), "server_error");
  EXPECT_NE(gateway.status().message().find("HTTP 502"), std::string_view::npos) << gateway.status();
  EXPECT_EQ(gateway.status().message().find("html"), std::string_view::npos) << "the body is never echoed";

  server.Stop();
  absl::StatusOr<PlacedCall> unreachable = provider.Dial(Request("36"));
  EXPECT_FALSE(jobs::IsPermanentError(unreachable.status()));
  EXPECT_EQ(jobs::FailureReasonOf(unreachable.status()), "unavailable");
}

// The fake's own refusals, as Telnyx words them.
TEST_F(TelnyxFakeTest, FakeRefusesLikeTelnyx) {
  auto post = [&](const std::string& path, std::string body, std::string key = tx::kFakeApiKey) {
    http::ClientRequest request;
    request.method = "POST";
    request.url = fake_->base_url() + path;
    request.headers = {{"Authorization", "Bearer " + key}, {"Content-Type", "application/json"}};
    request.body = std::move(body);
    absl::StatusOr<http::ClientResponse> response = client_.Do(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.value_or(http::ClientResponse());
  };
  auto code_of = [](const http::ClientResponse& r) {
    return tx::FirstError(r.body).value_or(tx::ApiError()).code;
  };

  http::ClientResponse r = post("/v2/calls", R"({"connection_id":"c","from":"+15557654321"})");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(code_of(r), "10004");
  r = post("/v2/calls", R"({"connection_id":"c","from":"+15557654321","to":"8999"})");
  EXPECT_EQ(code_of(r), "10016");
  r = post("/v2/calls",
           R"({"connection_id":"c","from":"+15557654321","to":"+79990001234","timeout_secs":4})");
  EXPECT_EQ(r.status, 422);
  r = post("/v2/calls",
           R"({"connection_id":"c","from":"+15557654321","to":"+79990001234","client_state":"!"})");
  EXPECT_EQ(r.status, 422);
  r = post("/v2/calls", "not json");
  EXPECT_EQ(r.status, 400);
  r = post("/v2/calls", R"({"connection_id":"c","from":"+15557654321","to":"+79990001234"})", "KEYwrong");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(code_of(r), "10009");
  r = post("/v2/calls/v3:nope/actions/hangup", "{}");
  EXPECT_EQ(r.status, 422);
  EXPECT_TRUE(tx::IsCallEndedError(r.status, r.body));
  r = post("/v2/calls/v3:nope/actions/transfer", "{}");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(fake_->DialCountFor(kTo), 0u);
  EXPECT_TRUE(fake_->WaitForCommands(8, kWait));
  for (const FakeTelnyx::Command& c : fake_->Commands()) EXPECT_TRUE(c.answered) << c.action;

  // On a ringing call, a prompt is refused; a command_id taken is answered and ignored.
  fake_->Script(kTo, CallScript::NoAnswer());
  r = post("/v2/calls",
           R"({"connection_id":"c","from":"+15557654321","to":"+79990001234","timeout_secs":600})");
  ASSERT_EQ(r.status, 200);
  const std::string id = tx::ParseDialResponse(r.body)->call_control_id;
  r = post("/v2/calls/" + id + "/actions/gather_using_speak",
           R"({"payload":"x","voice":"AWS.Polly.Joanna","command_id":"g"})");
  EXPECT_EQ(r.status, 422);
  r = post("/v2/calls/" + id + "/actions/answer", R"({"command_id":"a"})");
  EXPECT_EQ(r.status, 200);
  r = post("/v2/calls/" + id + "/actions/speak",
           R"({"payload":"x","voice":"AWS.Polly.Joanna","command_id":"s"})");
  EXPECT_EQ(r.status, 200);
  r = post("/v2/calls/" + id + "/actions/speak",
           R"({"payload":"x","voice":"AWS.Polly.Joanna","command_id":"s"})");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(fake_->Commands().back().duplicate);
  EXPECT_TRUE(fake_->WaitFor(
      [&](const FakeTelnyx::View& v) {
        return std::count_if(v.webhooks.begin(), v.webhooks.end(), [](const FakeTelnyx::Webhook& w) {
                 return w.event_type == "call.speak.ended";
               }) == 1;
      },
      kWait));
  EXPECT_EQ(fake_->FindCall(id)->state, FakeTelnyx::CallState::kAnswered);
  // No webhook_url anywhere: recorded as not sent.
  EXPECT_EQ(fake_->WebhooksFor(id).front().error, "no webhook_url");
}

TEST(TelnyxVoiceTest, VoiceForLanguage) {
  EXPECT_EQ(VoiceFor("ru-RU").voice, "AWS.Polly.Tatyana");
  EXPECT_EQ(VoiceFor("ru").voice, "AWS.Polly.Tatyana");
  EXPECT_EQ(VoiceFor("ru_KZ").language, "ru-RU");
  EXPECT_EQ(VoiceFor("EN-us").voice, "AWS.Polly.Joanna");
  EXPECT_EQ(VoiceFor("en-GB").voice, "AWS.Polly.Amy");
  EXPECT_EQ(VoiceFor("de-DE").voice, "AWS.Polly.Marlene");
  EXPECT_EQ(VoiceFor("es-ES").voice, "AWS.Polly.Lucia");
  EXPECT_EQ(VoiceFor("fr-FR").voice, "AWS.Polly.Celine");
  for (const char* other : {"xx-YY", "", "uk-UA"}) {
    EXPECT_EQ(VoiceFor(other).voice, "AWS.Polly.Joanna") << other;
    EXPECT_EQ(VoiceFor(other).language, "en-US") << other;
  }
}

TEST(TelnyxConfigTest, CheckConfig) {
  const TelnyxConfig good{.api_key = "KEY", .connection_id = "c", .from_number = "+15557654321"};
  EXPECT_TRUE(TelnyxProvider::CheckConfig(good).ok());
  TelnyxConfig c = good;
  c.api_key = "";
  EXPECT_FALSE(TelnyxProvider::CheckConfig(c).ok());
  c = good;
  c.api_base_url = "ftp://x";
  EXPECT_FALSE(TelnyxProvider::CheckConfig(c).ok());
  c = good;
  c.webhook_url = "edge.example.org/telnyx/webhook";
  EXPECT_FALSE(TelnyxProvider::CheckConfig(c).ok());
  c = good;
  c.timeout = absl::ZeroDuration();
  EXPECT_FALSE(TelnyxProvider::CheckConfig(c).ok());
  EXPECT_EQ(TelnyxProvider::CheckConfig({.api_key = "SECRET"}).message().find("SECRET"), std::string::npos);
}

TEST(FakeTelnyxStartTest, SeedAndPublicKey) {
  EXPECT_EQ(*tx::PublicKeyForSeed(tx::FakeSigningSeed()), tx::kFakePublicKey);
  EXPECT_TRUE(tx::ParsePublicKey(tx::kFakePublicKey).ok());
  EXPECT_FALSE(FakeTelnyx::Start({.signing_seed = "short"}).ok());
  EXPECT_FALSE(FakeTelnyx::Start({.time_scale = 0}).ok());
  const std::string seed(32, '\x07');
  absl::StatusOr<std::unique_ptr<FakeTelnyx>> fake = FakeTelnyx::Start({.signing_seed = seed});
  ASSERT_TRUE(fake.ok());
  EXPECT_EQ((*fake)->public_key(), *tx::PublicKeyForSeed(seed));
}

}  // namespace
}  // namespace protectogram::telephony
