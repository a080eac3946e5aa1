// TwilioProvider against the loopback FakeTwilioVoice, with a callback receiver that does what the edge does
// with Twilio Voice callbacks: it checks X-Twilio-Signature over the full URL it was called at
// (VerifySignature) and parses the form (ParseVoiceCallbackBody). Every call outcome the fake can script, the
// error mapping of provider.h, the crash reconciliation by listing calls (FindEarlierDial), and hangup.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "libs/http/client.h"
#include "libs/http/server.h"
#include "libs/jobs/retry.h"
#include "libs/providers/common/form.h"
#include "libs/providers/twilio/fake_voice_api.h"
#include "libs/providers/twilio/twilio.h"
#include "libs/providers/twilio/voice_api.h"
#include "services/telephony/twilio/twilio_provider.h"

namespace protectogram::telephony {
namespace {

namespace tw = providers::twilio;
using common::v1::CallEvent;

constexpr char kAccount[] = "AC0123456789abcdef0123456789abcdef";
constexpr char kToken[] = "twilio-auth-token-for-tests";
constexpr char kFrom[] = "+15005550006";
constexpr char kGuardian[] = "+79991234567";
constexpr absl::Duration kWait = absl::Seconds(10);

// What the edge's Twilio Voice route sees: one entry per callback.
struct Received {
  std::string url;      // the full URL called: the one the signature is over
  std::string attempt;  // ?attempt=, decoded
  absl::Status signature;
  absl::StatusOr<CallEvent> event = absl::UnknownError("unset");
};

class CallbackReceiver {
 public:
  void Start() {
    http::Router router;
    router.Add("POST", kTwilioVoiceCallbackPath,
               [this](const http::Request& request) { return Handle(request); });
    http::ServerOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    options.threads = 1;
    options.handler_threads = 4;
    server_ = std::make_unique<http::Server>(std::move(options), std::move(router));
    ASSERT_TRUE(server_->Start().ok());
  }
  ~CallbackReceiver() {
    if (server_) server_->Stop(std::chrono::milliseconds(500));
  }

  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

  std::vector<Received> All() const {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }
  // The parsed events of one call, in arrival order.
  std::vector<CallEvent> EventsOf(const std::string& call_sid) const {
    std::vector<CallEvent> out;
    for (const Received& r : All()) {
      if (r.event.ok() && r.event->call_id() == call_sid) out.push_back(*r.event);
    }
    return out;
  }
  bool WaitFor(const std::function<bool(const std::vector<Received>&)>& done, absl::Duration timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] { return done(received_); });
  }
  // Until the call's HANGUP event arrived (`copies` of it).
  bool WaitForHangup(const std::string& call_sid, size_t copies = 1) const {
    return WaitFor(
        [&](const std::vector<Received>& all) {
          size_t n = 0;
          for (const Received& r : all) {
            n += r.event.ok() && r.event->call_id() == call_sid &&
                 r.event->type() == common::v1::CALL_EVENT_TYPE_HANGUP;
          }
          return n >= copies;
        },
        kWait);
  }
  bool WaitForType(const std::string& call_sid, common::v1::CallEventType type) const {
    return WaitFor(
        [&](const std::vector<Received>& all) {
          for (const Received& r : all) {
            if (r.event.ok() && r.event->call_id() == call_sid && r.event->type() == type) return true;
          }
          return false;
        },
        kWait);
  }

 private:
  http::Response Handle(const http::Request& request) {
    Received r;
    r.url = base_url() + request.target;
    r.attempt = std::string(request.QueryParam("attempt"));
    absl::StatusOr<providers::FormParams> params = providers::ParseForm(request.body);
    r.signature = params.ok()
                      ? tw::VerifySignature(kToken, r.url, *params, request.Header("x-twilio-signature"))
                      : params.status();
    r.event = tw::ParseVoiceCallbackBody(request.body);
    {
      std::lock_guard<std::mutex> lock(mu_);
      received_.push_back(std::move(r));
    }
    cv_.notify_all();
    http::Response response;
    response.status = 200;
    response.content_type = "text/xml";
    response.body = "<Response><Say>OK</Say><Hangup/></Response>";
    return response;
  }

  std::unique_ptr<http::Server> server_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<Received> received_;
};

class TwilioFakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    receiver_.Start();
    StartFake({});
  }

  void StartFake(tw::FakeTwilioVoiceOptions options) {
    provider_.reset();
    fake_.reset();
    options.account_sid = kAccount;
    options.auth_token = kToken;
    // No test waits out a real ring timeout (25 s).
    if (!options.delays.ring_timeout.has_value()) options.delays.ring_timeout = absl::Milliseconds(30);
    absl::StatusOr<std::unique_ptr<tw::FakeTwilioVoice>> fake =
        tw::FakeTwilioVoice::Start(std::move(options));
    ASSERT_TRUE(fake.ok()) << fake.status();
    fake_ = std::move(*fake);
    provider_ = MakeProvider(kToken);
  }

  std::unique_ptr<TwilioProvider> MakeProvider(std::string token, std::string api_base_url = {}) {
    TwilioConfig config;
    config.api_base_url = api_base_url.empty() ? fake_->base_url() : api_base_url;
    config.account_sid = kAccount;
    config.auth_token = std::move(token);
    config.from_number = kFrom;
    config.public_base_url = receiver_.base_url() + "/";  // a trailing slash is dropped
    config.timeout = absl::Seconds(2);
    return std::make_unique<TwilioProvider>(std::move(config), client_);
  }

  static DialRequest Request(std::string attempt_key, std::string to = kGuardian) {
    DialRequest r;
    r.attempt_key = std::move(attempt_key);
    r.dial_key = "3f0c6f7e-5a2b-4c1d-9e8f-0a1b2c3d4e5f";
    r.to_e164 = std::move(to);
    r.speak_text = "Тревога! Нажмите 1, если вы поможете.";
    r.language = "ru-RU";
    r.valid_digits = "1";
    r.prompt_repeats = 2;
    r.ring_timeout = absl::Seconds(25);
    return r;
  }

  // Every callback so far was signed right and parsed, and carried `attempt`.
  void ExpectAllVerified(const std::string& attempt) {
    for (const Received& r : receiver_.All()) {
      EXPECT_TRUE(r.signature.ok()) << r.url << ": " << r.signature;
      EXPECT_TRUE(r.event.ok()) << r.url << ": " << r.event.status();
      EXPECT_EQ(r.attempt, attempt) << r.url;
    }
  }

  static std::vector<common::v1::CallEventType> Types(const std::vector<CallEvent>& events) {
    std::vector<common::v1::CallEventType> out;
    for (const CallEvent& e : events) out.push_back(e.type());
    return out;
  }

  CallbackReceiver receiver_;
  http::Client client_;
  std::unique_ptr<tw::FakeTwilioVoice> fake_;
  std::unique_ptr<TwilioProvider> provider_;
};

using common::v1::CALL_EVENT_TYPE_ANSWERED;
using common::v1::CALL_EVENT_TYPE_GATHER_ENDED;
using common::v1::CALL_EVENT_TYPE_HANGUP;
using common::v1::CALL_EVENT_TYPE_INITIATED;
using common::v1::CALL_EVENT_TYPE_RINGING;

TEST_F(TwilioFakeTest, AnsweredAndPressedOne) {
  const std::string attempt = "attempt 42/ü&x";  // percent-encoded into the callback URL
  absl::StatusOr<PlacedCall> placed = provider_->Dial(Request(attempt));
  ASSERT_TRUE(placed.ok()) << placed.status();
  ASSERT_TRUE(placed->provider_call_id.starts_with("CA")) << placed->provider_call_id;
  const std::string sid = placed->provider_call_id;
  ASSERT_TRUE(receiver_.WaitForHangup(sid));

  const std::vector<CallEvent> events = receiver_.EventsOf(sid);
  EXPECT_EQ(Types(events), (std::vector<common::v1::CallEventType>{
                               CALL_EVENT_TYPE_INITIATED, CALL_EVENT_TYPE_RINGING, CALL_EVENT_TYPE_ANSWERED,
                               CALL_EVENT_TYPE_GATHER_ENDED, CALL_EVENT_TYPE_HANGUP}));
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[2].status(), "human");  // AnsweredBy, with MachineDetection
  EXPECT_EQ(events[3].digits(), "1");
  EXPECT_EQ(events[3].provider_event_id(), sid + ":gather:1");
  EXPECT_EQ(events[4].hangup_cause(), "completed");
  EXPECT_EQ(events[4].from(), kFrom);
  EXPECT_EQ(events[4].to(), kGuardian);
  ExpectAllVerified(attempt);
  for (const Received& r : receiver_.All()) {
    EXPECT_EQ(r.url, receiver_.base_url() + "/twilio/voice?attempt=attempt%2042%2F%C3%BC%26x");
  }

  // What Twilio was asked for.
  const std::vector<tw::FakeTwilioVoice::Request> creates = fake_->CreateRequests();
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_TRUE(creates[0].authorized);
  EXPECT_EQ(creates[0].status, 201);
  EXPECT_TRUE(creates[0].answered);
  const std::optional<tw::FakeTwilioVoice::Call> call = fake_->FindCall(sid);
  ASSERT_TRUE(call.has_value());
  EXPECT_EQ(call->to, kGuardian);
  EXPECT_EQ(call->from, kFrom);
  EXPECT_EQ(call->timeout_secs, 25);
  EXPECT_TRUE(call->machine_detection);
  EXPECT_EQ(call->status_callback, receiver_.base_url() + "/twilio/voice?attempt=attempt%2042%2F%C3%BC%26x");
  EXPECT_EQ(call->status_callback_events,
            (std::vector<std::string>{"initiated", "ringing", "answered", "completed"}));
  EXPECT_TRUE(call->create_answered);
  EXPECT_EQ(call->digits_posted, "1");
  EXPECT_EQ(call->status, "completed");
  EXPECT_NE(call->twiml.find("voice=\"Polly.Tatyana\""), std::string::npos) << call->twiml;
  EXPECT_NE(call->twiml.find("Тревога! Нажмите 1, если вы поможете."), std::string::npos);
  EXPECT_NE(call->twiml.find("action=\"" + receiver_.base_url() +
                             "/twilio/voice?attempt=attempt%2042%2F%C3%BC%26x\""),
            std::string::npos)
      << call->twiml;
  const providers::FormParams& form = creates[0].params;
  ASSERT_NE(providers::FormValue(form, "StatusCallbackMethod"), nullptr);
  EXPECT_EQ(*providers::FormValue(form, "StatusCallbackMethod"), "POST");
  EXPECT_EQ(*providers::FormValue(form, "MachineDetection"), "Enable");
  EXPECT_EQ(form.count("StatusCallbackEvent"), 4u);
  // StartPrompt has nothing to do: the TwiML prompts.
  EXPECT_TRUE(provider_->StartPrompt({attempt, "", sid}, Prompt{}).ok());
}

TEST_F(TwilioFakeTest, NoAnswer) {
  fake_->Script(kGuardian, tw::CallScript::NoAnswer());
  absl::StatusOr<PlacedCall> placed = provider_->Dial(Request("a-no-answer"));
  ASSERT_TRUE(placed.ok()) << placed.status();
  ASSERT_TRUE(receiver_.WaitForHangup(placed->provider_call_id));
  const std::vector<CallEvent> events = receiver_.EventsOf(placed->provider_call_id);
  EXPECT_EQ(Types(events), (std::vector<common::v1::CallEventType>{
                               CALL_EVENT_TYPE_INITIATED, CALL_EVENT_TYPE_RINGING, CALL_EVENT_TYPE_HANGUP}));
  EXPECT_EQ(events.back().hangup_cause(), "no-answer");
  EXPECT_EQ(events.back().duration_sec(), 0);
  ExpectAllVerified("a-no-answer");
}

TEST_F(TwilioFakeTest, Busy) {
  fake_->Script(kGuardian, tw::CallScript::Busy());
  absl::StatusOr<PlacedCall> placed = provider_->Dial(Request("a-busy"));
  ASSERT_TRUE(placed.ok()) << placed.status();
  ASSERT_TRUE(receiver_.WaitForHangup(placed->provider_call_id));
  const std::vector<CallEvent> events = receiver_.EventsOf(placed->provider_call_id);
  EXPECT_EQ(Types(events), (std::vector<common::v1::CallEventType>{
                               CALL_EVENT_TYPE_INITIATED, CALL_EVENT_TYPE_RINGING, CALL_EVENT_TYPE_HANGUP}));
  EXPECT_EQ(events.back().hangup_cause(), "busy");
  ExpectAllVerified("a-busy");
}

TEST_F(TwilioFakeTest, AnsweringMachine) {
  fake_->Script(kGuardian, tw::CallScript::Machine());
  absl::StatusOr<PlacedCall> placed = provider_->Dial(Request("a-machine"));
  ASSERT_TRUE(placed.ok()) << placed.status();
  ASSERT_TRUE(receiver_.WaitForHangup(placed->provider_call_id));
  const std::vector<CallEvent> events = receiver_.EventsOf(placed->provider_call_id);
  EXPECT_EQ(Types(events),
            (std::vector<common::v1::CallEventType>{CALL_EVENT_TYPE_INITIATED, CALL_EVENT_TYPE_RINGING,
                                                    CALL_EVENT_TYPE_ANSWERED, CALL_EVENT_TYPE_HANGUP}));
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[2].status(), "machine_start");  // nobody pressed anything
  EXPECT_EQ(events[3].status(), "machine_start");
  EXPECT_EQ(events[3].hangup_cause(), "completed");
  ExpectAllVerified("a-machine");
}

TEST_F(TwilioFakeTest, AnsweredWithoutDigitCompletesAfterThePrompts) {
  fake_->Script(kGuardian, tw::CallScript::NoDigit());
  absl::StatusOr<PlacedCall> placed = provider_->Dial(Request("a-silent"));
  ASSERT_TRUE(placed.ok()) << placed.status();
  ASSERT_TRUE(receiver_.WaitForHangup(placed->provider_call_id));
  EXPECT_EQ(Types(receiver_.EventsOf(placed->provider_call_id)),
            (std::vector<common::v1::CallEventType>{CALL_EVENT_TYPE_INITIATED, CALL_EVENT_TYPE_RINGING,
                                                    CALL_EVENT_TYPE_ANSWERED, CALL_EVENT_TYPE_HANGUP}));
  EXPECT_EQ(fake_->FindCall(placed->provider_call_id)->digits_posted, "");
}

TEST_F(TwilioFakeTest, InvalidNumberIsPermanent) {
  absl::StatusOr<PlacedCall> placed = provider_->Dial(Request("a-bad-number", "89991234567"));
  ASSERT_FALSE(placed.ok());
  EXPECT_TRUE(jobs::IsPermanentError(placed.status())) << placed.status();
  EXPECT_EQ(jobs::FailureReasonOf(placed.status()), "invalid_number");
  EXPECT_NE(placed.status().message().find("code 21211"), std::string::npos) << placed.status();
  // Twilio's message names the number; it comes out masked.
  EXPECT_EQ(placed.status().message().find("89991234567"), std::string::npos) << placed.status();

  // A number Twilio cannot reach (scripted), with the number in the message masked as a +E.164.
  fake_->Script(kGuardian,
                tw::CallScript::RejectCreate(400, 21214, "'To' phone number +79991234567 cannot be reached"));
  placed = provider_->Dial(Request("a-unreachable"));
  ASSERT_FALSE(placed.ok());
  EXPECT_TRUE(jobs::IsPermanentError(placed.status()));
  EXPECT_EQ(jobs::FailureReasonOf(placed.status()), "invalid_number");
  EXPECT_NE(placed.status().message().find("+7999****567"), std::string::npos) << placed.status();
  EXPECT_TRUE(fake_->Calls().empty());
}

TEST_F(TwilioFakeTest, BadCredentialsArePermanent) {
  std::unique_ptr<TwilioProvider> wrong = MakeProvider("not-the-token");
  absl::StatusOr<PlacedCall> placed = wrong->Dial(Request("a-auth"));
  ASSERT_FALSE(placed.ok());
  EXPECT_TRUE(jobs::IsPermanentError(placed.status())) << placed.status();
  EXPECT_EQ(jobs::FailureReasonOf(placed.status()), "unauthorized");
  EXPECT_EQ(placed.status().message().find("not-the-token"), std::string::npos);
  const std::vector<tw::FakeTwilioVoice::Request> creates = fake_->CreateRequests();
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_FALSE(creates[0].authorized);
  EXPECT_EQ(creates[0].error_code, 20003);
  EXPECT_TRUE(fake_->Calls().empty());
  // Hangup and the list are refused the same way.
  EXPECT_EQ(jobs::FailureReasonOf(wrong->Hangup({"a-auth", "", "CA0"})), "unauthorized");
  DialRequest again = Request("a-auth");
  again.earlier_dial_started_at = absl::Now();
  EXPECT_EQ(jobs::FailureReasonOf(wrong->FindEarlierDial(again).status()), "unauthorized");
}

TEST_F(TwilioFakeTest, ServerErrorsAndRateLimitsAreRetried) {
  fake_->Script(kGuardian, [] {
    tw::CallScript s = tw::CallScript::RejectCreate(500, 20500);
    s.times = 1;
    return s;
  }());
  fake_->Script(kGuardian, [] {
    tw::CallScript s = tw::CallScript::RejectCreate(429, 20429);
    s.times = 1;
    return s;
  }());
  absl::StatusOr<PlacedCall> placed = provider_->Dial(Request("a-5xx"));
  ASSERT_FALSE(placed.ok());
  EXPECT_FALSE(jobs::IsPermanentError(placed.status())) << placed.status();
  EXPECT_EQ(jobs::FailureReasonOf(placed.status()), "server_error");
  placed = provider_->Dial(Request("a-429"));
  ASSERT_FALSE(placed.ok());
  EXPECT_FALSE(jobs::IsPermanentError(placed.status())) << placed.status();
  EXPECT_EQ(jobs::FailureReasonOf(placed.status()), "rate_limited");
  // The scripts are used up: the next one rings.
  placed = provider_->Dial(Request("a-ok"));
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_TRUE(receiver_.WaitForHangup(placed->provider_call_id));
}

TEST_F(TwilioFakeTest, DroppedCreateIsFoundByListing) {
  fake_->Script(kGuardian, tw::CallScript::DropCreateAfterPlacing(tw::CallOutcome::kPressDigit));
  DialRequest request = Request("a-crash");
  const absl::Time started = absl::Now();
  absl::StatusOr<PlacedCall> placed = provider_->Dial(request);
  ASSERT_FALSE(placed.ok());
  EXPECT_FALSE(jobs::IsPermanentError(placed.status())) << placed.status();
  EXPECT_EQ(jobs::FailureReasonOf(placed.status()), "unavailable");
  ASSERT_EQ(fake_->Calls().size(), 1u);
  const std::string sid = fake_->Calls()[0].sid;
  EXPECT_FALSE(fake_->Calls()[0].create_answered);
  // It rang after all: its events carry the attempt.
  ASSERT_TRUE(receiver_.WaitForHangup(sid));
  ExpectAllVerified("a-crash");

  request.earlier_dial_started_at = started;
  absl::StatusOr<std::optional<PlacedCall>> found = provider_->FindEarlierDial(request);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->provider_call_id, sid);
  EXPECT_EQ(fake_->CreateRequests().size(), 1u);  // found, not dialled again

  // A call created before the earlier Dial started (beyond the clock-skew allowance) is not it.
  request.earlier_dial_started_at = absl::Now() + absl::Minutes(1);
  found = provider_->FindEarlierDial(request);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_FALSE(found->has_value());
  // Nor is a call to another number, or from another of our numbers.
  DialRequest other = Request("a-crash", "+79990000000");
  other.earlier_dial_started_at = started;
  EXPECT_FALSE(provider_->FindEarlierDial(other)->has_value());
  other = Request("a-crash");
  other.caller_id = "+15005550001";
  other.earlier_dial_started_at = started;
  EXPECT_FALSE(provider_->FindEarlierDial(other)->has_value());
  // Without an earlier start there is nothing to look for (and no request).
  const size_t requests = fake_->Requests().size();
  EXPECT_FALSE(provider_->FindEarlierDial(Request("a-crash"))->has_value());
  EXPECT_EQ(fake_->Requests().size(), requests);
}

TEST_F(TwilioFakeTest, DroppedCreateStillQueuedIsFoundByStatus) {
  // The call is not dialled yet (no start time), so only the Status=queued read lists it.
  tw::FakeTwilioVoiceOptions options;
  options.delays.initiated = absl::Seconds(30);
  StartFake(std::move(options));
  fake_->Script(kGuardian, tw::CallScript::DropCreateAfterPlacing());
  DialRequest request = Request("a-queued");
  request.earlier_dial_started_at = absl::Now();
  ASSERT_FALSE(provider_->Dial(request).ok());
  ASSERT_EQ(fake_->Calls().size(), 1u);
  EXPECT_EQ(fake_->Calls()[0].status, "queued");
  absl::StatusOr<std::optional<PlacedCall>> found = provider_->FindEarlierDial(request);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->provider_call_id, fake_->Calls()[0].sid);
  // Hanging it up cancels it before it rings.
  EXPECT_TRUE(provider_->Hangup({"a-queued", "", (*found)->provider_call_id}).ok());
  EXPECT_TRUE(fake_->WaitForCallEnded((*found)->provider_call_id, kWait));
  EXPECT_EQ(fake_->FindCall((*found)->provider_call_id)->status, "canceled");
}

TEST_F(TwilioFakeTest, ListIsReadAcrossPages) {
  // 55 calls to one number: more than a page (50) of the read by start date.
  fake_->Script(kGuardian, tw::CallScript::Busy());
  const absl::Time started = absl::Now();
  std::string newest;
  for (int i = 0; i < 55; ++i) {
    absl::StatusOr<PlacedCall> placed = provider_->Dial(Request("a-many-" + std::to_string(i)));
    ASSERT_TRUE(placed.ok()) << placed.status();
    newest = placed->provider_call_id;
  }
  for (const tw::FakeTwilioVoice::Call& call : fake_->Calls())
    ASSERT_TRUE(fake_->WaitForCallEnded(call.sid, kWait));
  DialRequest request = Request("a-many");
  request.earlier_dial_started_at = started;
  absl::StatusOr<std::optional<PlacedCall>> found = provider_->FindEarlierDial(request);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->provider_call_id, newest);
  std::vector<std::string> pages;
  for (const tw::FakeTwilioVoice::Request& r : fake_->Requests()) {
    if (r.kind != "list") continue;
    const std::string* page = providers::FormValue(r.params, "Page");
    pages.push_back(page == nullptr ? "-" : *page);
  }
  // By start date: the first page, then next_page_uri's; by status: one (empty) page.
  EXPECT_EQ(pages, (std::vector<std::string>{"-", "1", "-"}));
}

TEST_F(TwilioFakeTest, FreshAccountHasNoEarlierCall) {
  DialRequest request = Request("a-none");
  request.earlier_dial_started_at = absl::Now() - absl::Seconds(30);
  absl::StatusOr<std::optional<PlacedCall>> found = provider_->FindEarlierDial(request);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_FALSE(found->has_value());
  // Both reads went out: by start date and by status.
  int lists = 0;
  for (const tw::FakeTwilioVoice::Request& r : fake_->Requests()) {
    if (r.kind != "list") continue;
    ++lists;
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(*providers::FormValue(r.params, "To"), kGuardian);
    EXPECT_EQ(*providers::FormValue(r.params, "From"), kFrom);
  }
  EXPECT_EQ(lists, 2);
}

TEST_F(TwilioFakeTest, HangupEndsTheCall) {
  tw::FakeTwilioVoiceOptions options;
  options.delays.prompt = absl::Seconds(30);  // nobody answers the prompt: the call stays up
  StartFake(std::move(options));
  fake_->Script(kGuardian, tw::CallScript::NoDigit());
  absl::StatusOr<PlacedCall> placed = provider_->Dial(Request("a-hangup"));
  ASSERT_TRUE(placed.ok()) << placed.status();
  const std::string sid = placed->provider_call_id;
  ASSERT_TRUE(receiver_.WaitForType(sid, CALL_EVENT_TYPE_ANSWERED));

  const CallRef ref{"a-hangup", "", sid};
  ASSERT_TRUE(provider_->Hangup(ref).ok());
  ASSERT_TRUE(receiver_.WaitForHangup(sid));
  const std::vector<CallEvent> events = receiver_.EventsOf(sid);
  EXPECT_EQ(events.back().hangup_cause(), "completed");
  EXPECT_TRUE(fake_->FindCall(sid)->ended_by_api);
  ExpectAllVerified("a-hangup");

  // Hanging up an ended call (21220) or one Twilio does not know (20404) is what we wanted.
  EXPECT_TRUE(provider_->Hangup(ref).ok());
  EXPECT_TRUE(provider_->Hangup({"a-hangup", "", "CA00000000000000000000000000000000"}).ok());
  std::vector<int64_t> codes;
  for (const tw::FakeTwilioVoice::Request& r : fake_->Requests()) {
    if (r.kind == "update") codes.push_back(r.error_code);
  }
  EXPECT_EQ(codes, (std::vector<int64_t>{0, 21220, 20404}));
  // Without a CallSid there is nothing to hang up.
  const absl::Status no_sid = provider_->Hangup({"a-hangup", "", ""});
  EXPECT_TRUE(jobs::IsPermanentError(no_sid));
  EXPECT_EQ(jobs::FailureReasonOf(no_sid), "invalid_request");
}

TEST_F(TwilioFakeTest, DuplicateCallbacksCarryTheSameIds) {
  tw::FakeTwilioVoiceOptions options;
  options.duplicate_callbacks = true;
  StartFake(std::move(options));
  absl::StatusOr<PlacedCall> placed = provider_->Dial(Request("a-dup"));
  ASSERT_TRUE(placed.ok()) << placed.status();
  ASSERT_TRUE(receiver_.WaitForHangup(placed->provider_call_id, 2));
  const std::vector<CallEvent> events = receiver_.EventsOf(placed->provider_call_id);
  ASSERT_EQ(events.size(), 10u);
  for (size_t i = 0; i < events.size(); i += 2) {
    EXPECT_EQ(events[i].provider_event_id(), events[i + 1].provider_event_id());
    if (i > 0) {
      EXPECT_NE(events[i].provider_event_id(), events[i - 1].provider_event_id());
    }
  }
  ExpectAllVerified("a-dup");
  // The fake records a callback once its answer is in, which may be just after the receiver saw it.
  EXPECT_TRUE(
      fake_->WaitFor([](const tw::FakeTwilioVoice::History& h) { return h.callbacks.size() == 10; }, kWait));
  for (const tw::FakeTwilioVoice::Callback& callback : fake_->CallbacksSent())
    EXPECT_EQ(callback.http_status, 200);
}

TEST_F(TwilioFakeTest, RequestsWeCannotBuildArePermanent) {
  DialRequest request = Request("a-long");
  request.speak_text = std::string(3001, 'a');
  absl::StatusOr<PlacedCall> placed = provider_->Dial(request);
  ASSERT_FALSE(placed.ok());
  EXPECT_TRUE(jobs::IsPermanentError(placed.status()));
  EXPECT_EQ(jobs::FailureReasonOf(placed.status()), "invalid_request");
  placed = provider_->Dial(Request(""));
  EXPECT_EQ(jobs::FailureReasonOf(placed.status()), "invalid_request");
  EXPECT_TRUE(fake_->Requests().empty());
  // A ring timeout outside Twilio's range goes out clamped, not refused.
  request = Request("a-short-ring");
  request.ring_timeout = absl::Seconds(2);
  placed = provider_->Dial(request);
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_EQ(fake_->FindCall(placed->provider_call_id)->timeout_secs, 5);
}

// A stand-in API for transport failures the fake does not script: a slow answer and a malformed one.
TEST_F(TwilioFakeTest, TransportFailuresAreRetried) {
  std::atomic<bool> slow{true};
  http::Router router;
  router.AddPrefix("POST", "/2010-04-01/", [&](const http::Request&) {
    if (slow) std::this_thread::sleep_for(std::chrono::milliseconds(400));
    return http::Response::Json(201, "{\"sid\":");
  });
  http::ServerOptions options;
  options.address = "127.0.0.1";
  options.port = 0;
  options.handler_threads = 2;
  http::Server stub(std::move(options), std::move(router));
  ASSERT_TRUE(stub.Start().ok());
  const std::string stub_url = "http://127.0.0.1:" + std::to_string(stub.port());

  TwilioConfig config;
  config.api_base_url = stub_url;
  config.account_sid = kAccount;
  config.auth_token = kToken;
  config.from_number = kFrom;
  config.public_base_url = receiver_.base_url();
  config.timeout = absl::Milliseconds(100);
  TwilioProvider provider(config, client_);

  absl::StatusOr<PlacedCall> placed = provider.Dial(Request("a-slow"));
  ASSERT_FALSE(placed.ok());
  EXPECT_FALSE(jobs::IsPermanentError(placed.status())) << placed.status();
  EXPECT_EQ(jobs::FailureReasonOf(placed.status()), "timeout");

  slow = false;
  placed = provider.Dial(Request("a-malformed"));
  ASSERT_FALSE(placed.ok());
  EXPECT_FALSE(jobs::IsPermanentError(placed.status())) << placed.status();
  EXPECT_EQ(jobs::FailureReasonOf(placed.status()), "malformed_response");
  stub.Stop(std::chrono::milliseconds(500));

  // Nothing listening.
  placed = provider.Dial(Request("a-unreachable"));
  ASSERT_FALSE(placed.ok());
  EXPECT_FALSE(jobs::IsPermanentError(placed.status())) << placed.status();
  EXPECT_EQ(jobs::FailureReasonOf(placed.status()), "unavailable");
}

}  // namespace
}  // namespace protectogram::telephony
