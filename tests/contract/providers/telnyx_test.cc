// Telnyx contract: Ed25519 webhook signatures and Call Control v2 events, on literal bodies; the command
// bodies we send, the answers we read (dial ids, error bodies, error classes) and the webhook bodies the fake
// builds.
//
// Telnyx publishes no signature test vector (its SDK tests sign with random keys), so the fixture below is
// signed with the RFC 8032 §7.1 TEST 1 key, whose seed and public key are official:
//   seed   9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60
//   public d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a
// The signature literal kSignature was computed once with OpenSSL, independently of our code:
//   printf '1700000000|%s' "$BODY" > signed.bin
//   openssl pkeyutl -sign -rawin -inkey seed.der -keyform DER -in signed.bin | base64 -w0
// (seed.der = 302e020100300506032b657004220420 || seed) and checked with
//   openssl pkeyutl -verify -rawin -pubin -inkey pub.der -keyform DER -in signed.bin -sigfile sig.bin
//   -> "Signature Verified Successfully"  (pub.der = 302a300506032b6570032100 || public key).
#include "libs/providers/telnyx/telnyx.h"

#include <gtest/gtest.h>

#include "libs/crypto/ed25519.h"
#include "libs/crypto/encoding.h"
#include "libs/providers/common/error.h"
#include "libs/providers/telnyx/commands.h"

namespace protectogram::providers::telnyx {
namespace {

using common::v1::CallEvent;

// base64 of the raw RFC 8032 TEST 1 public key, and of the same key as SubjectPublicKeyInfo DER.
constexpr char kPublicKey[] = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
constexpr char kPublicKeySpki[] = "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
// RFC 8032 TEST 2 public key: a valid key that did not sign the fixture.
constexpr char kOtherPublicKey[] = "PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw=";

constexpr char kTimestamp[] = "1700000000";
constexpr char kBody[] =
    R"({"data":{"event_type":"call.gather.ended","id":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",)"
    R"("occurred_at":"2023-11-14T22:13:25.521992Z","payload":{"call_control_id":)"
    R"("v3:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BquLDgw","call_leg_id":"428c31b6-7af4-4bcb-b68e-5013ef9657c1",)"
    R"("call_session_id":"428c31b6-abf3-3bc1-b7f4-5013ef9657c1","client_state":"YXR0ZW1wdDo0Mg==",)"
    R"("connection_id":"1494404757140276705","digits":"1","from":"+15557654321","status":"valid",)"
    R"("to":"+79990001234"},"record_type":"event"},"meta":{"attempt":1,)"
    R"("delivered_to":"https://example.com/webhooks/telnyx"}})";
constexpr char kSignature[] =
    "f8CYViipx6SW6YydWMsLRWP/oB0tYQ0ydbreqgeo2/zKp5tKfiVrGKYNFuxEKwtESANbLXf0u7exSCnUONKtCA==";

const absl::Time kSignedAt = absl::FromUnixSeconds(1700000000);

absl::Status Verify(absl::Time now, std::string_view body = kBody, std::string_view key = kPublicKey,
                    std::string_view signature = kSignature, std::string_view timestamp = kTimestamp) {
  return VerifyWebhook(key, signature, timestamp, body, now);
}

TEST(TelnyxSignatureTest, FixtureIsWhatOurCodeSignsToo) {
  // Ed25519 is deterministic: signing the same bytes with the RFC seed gives the OpenSSL-made literal.
  std::string seed = *crypto::HexDecode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  absl::StatusOr<std::string> signature = crypto::Ed25519Sign(seed, std::string(kTimestamp) + "|" + kBody);
  ASSERT_TRUE(signature.ok());
  EXPECT_EQ(crypto::Base64Encode(*signature), kSignature);
  EXPECT_EQ(*SignWebhook(seed, kTimestamp, kBody), kSignature);
  EXPECT_EQ(SignWebhook("short", kTimestamp, kBody).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TelnyxSignatureTest, GoodSignatureVerifies) {
  EXPECT_TRUE(Verify(kSignedAt).ok());
  EXPECT_TRUE(Verify(kSignedAt, kBody, kPublicKeySpki).ok());
}

TEST(TelnyxSignatureTest, TamperedBodyIsRefused) {
  std::string tampered(kBody);
  tampered.replace(tampered.find(R"("digits":"1")"), 12, R"("digits":"2")");
  absl::Status s = Verify(kSignedAt, tampered);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "bad signature");
  // One extra byte (a trailing newline a proxy might add) is a different body.
  EXPECT_EQ(Verify(kSignedAt, std::string(kBody) + "\n").message(), "bad signature");
}

TEST(TelnyxSignatureTest, TamperedTimestampIsRefused) {
  // Within the window, but not the signed timestamp.
  EXPECT_EQ(Verify(kSignedAt, kBody, kPublicKey, kSignature, "1700000001").message(), "bad signature");
}

TEST(TelnyxSignatureTest, WrongKeyIsRefused) {
  absl::Status s = Verify(kSignedAt, kBody, kOtherPublicKey);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "bad signature");
}

TEST(TelnyxSignatureTest, ReplayWindow) {
  EXPECT_TRUE(Verify(kSignedAt + absl::Seconds(299)).ok());
  EXPECT_TRUE(Verify(kSignedAt + absl::Seconds(300)).ok());
  absl::Status old = Verify(kSignedAt + absl::Seconds(301));
  EXPECT_EQ(old.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(old.message(), "timestamp outside window");
  // A timestamp from the future (clock skew the other way) is bounded the same way.
  EXPECT_TRUE(Verify(kSignedAt - absl::Seconds(299)).ok());
  EXPECT_EQ(Verify(kSignedAt - absl::Seconds(301)).message(), "timestamp outside window");
  EXPECT_EQ(VerifyWebhook(kPublicKey, kSignature, kTimestamp, kBody, kSignedAt + absl::Seconds(61),
                          absl::Seconds(60))
                .message(),
            "timestamp outside window");
}

TEST(TelnyxSignatureTest, MissingAndMalformedHeaders) {
  EXPECT_EQ(Verify(kSignedAt, kBody, kPublicKey, "").message(), "missing signature");
  EXPECT_EQ(Verify(kSignedAt, kBody, kPublicKey, kSignature, "").message(), "missing timestamp");
  EXPECT_EQ(Verify(kSignedAt, kBody, kPublicKey, "").code(), absl::StatusCode::kPermissionDenied);
  for (const char* bad_signature : {"not base64!", "AAAA", "f8CYViipx6SW6YydWMsLRWP/oB0tYQ0y"}) {
    absl::Status s = Verify(kSignedAt, kBody, kPublicKey, bad_signature);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad_signature;
    EXPECT_EQ(s.message(), "malformed signature header");
  }
  for (const char* bad_timestamp :
       {"-1700000000", "1700000000.5", " 1700000000", "17e8", "9999999999999999999"}) {
    absl::Status s = Verify(kSignedAt, kBody, kPublicKey, kSignature, bad_timestamp);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad_timestamp;
    EXPECT_EQ(s.message(), "malformed timestamp header");
  }
}

TEST(TelnyxSignatureTest, MalformedPublicKey) {
  for (const char* bad_key :
       {"", "not-base64", "AAAA", "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHUR=",
        // 44 bytes, but an RSA/other-OID prefix:
        "MCowBQYDK2VxAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="}) {
    absl::Status s = Verify(kSignedAt, kBody, bad_key);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad_key;
    EXPECT_EQ(s.message(), "malformed public key");
  }
  EXPECT_EQ(*ParsePublicKey(kPublicKey), *ParsePublicKey(kPublicKeySpki));
}

// --- events ---

CallEvent MustParse(std::string_view body) {
  absl::StatusOr<CallEvent> e = ParseEvent(body);
  EXPECT_TRUE(e.ok()) << e.status() << "\n" << body;
  return e.ok() ? *e : CallEvent();
}

std::string Event(std::string_view type, std::string_view payload_fields) {
  return std::string(R"({"data":{"record_type":"event","event_type":")") + std::string(type) +
         R"(","id":"ev-1","occurred_at":"2018-02-02T22:25:27.521992Z","payload":{"call_control_id":"v3:abc",)"
         R"("call_leg_id":"leg","call_session_id":"sess","connection_id":"conn","client_state":"YXR0ZW1wdDo0Mg==",)"
         R"("from":"+15557654321","to":"+79990001234")" +
         std::string(payload_fields) + R"(}},"meta":{"attempt":1,"delivered_to":"https://example.com/w"}})";
}

TEST(TelnyxEventTest, GatherEndedFixture) {
  CallEvent e = MustParse(kBody);
  EXPECT_EQ(e.provider(), common::v1::PROVIDER_TELNYX);
  EXPECT_EQ(e.provider_event_id(), "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0");
  EXPECT_EQ(e.provider_event_type(), "call.gather.ended");
  EXPECT_EQ(e.type(), common::v1::CALL_EVENT_TYPE_GATHER_ENDED);
  EXPECT_EQ(e.call_id(), "v3:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BquLDgw");
  EXPECT_EQ(e.call_session_id(), "428c31b6-abf3-3bc1-b7f4-5013ef9657c1");
  EXPECT_EQ(e.client_state(), "attempt:42");
  EXPECT_EQ(e.from(), "+15557654321");
  EXPECT_EQ(e.to(), "+79990001234");
  EXPECT_EQ(e.digits(), "1");
  EXPECT_EQ(e.status(), "valid");
  EXPECT_EQ(e.occurred_at().seconds(), 1700000005);
  EXPECT_EQ(e.occurred_at().nanos(), 521992000);
}

TEST(TelnyxEventTest, EveryEventType) {
  struct Case {
    const char* type;
    const char* fields;
    common::v1::CallEventType want;
  };
  const Case kCases[] = {
      {"call.initiated", R"(,"direction":"outgoing","state":"bridging")",
       common::v1::CALL_EVENT_TYPE_INITIATED},
      {"call.answered", R"(,"state":"answered")", common::v1::CALL_EVENT_TYPE_ANSWERED},
      {"call.dtmf.received", R"(,"digit":"1")", common::v1::CALL_EVENT_TYPE_DTMF},
      {"call.gather.ended", R"(,"digits":"","status":"timeout")", common::v1::CALL_EVENT_TYPE_GATHER_ENDED},
      {"call.speak.ended", R"(,"status":"completed")", common::v1::CALL_EVENT_TYPE_SPEAK_ENDED},
      {"call.hangup",
       R"(,"hangup_cause":"normal_clearing","hangup_source":"callee","sip_hangup_cause":"200")",
       common::v1::CALL_EVENT_TYPE_HANGUP},
      {"call.machine.detection.ended", R"(,"result":"machine")",
       common::v1::CALL_EVENT_TYPE_MACHINE_DETECTION_ENDED},
      {"call.machine.premium.detection.ended", R"(,"result":"human_residence")",
       common::v1::CALL_EVENT_TYPE_MACHINE_DETECTION_ENDED},
      {"call.bridged", "", common::v1::CALL_EVENT_TYPE_OTHER},
      {"call.playback.started", "", common::v1::CALL_EVENT_TYPE_OTHER},
  };
  for (const Case& c : kCases) {
    CallEvent e = MustParse(Event(c.type, c.fields));
    EXPECT_EQ(e.type(), c.want) << c.type;
    EXPECT_EQ(e.provider_event_type(), c.type);
    EXPECT_EQ(e.call_id(), "v3:abc");
    EXPECT_EQ(e.client_state(), "attempt:42");
  }
  EXPECT_EQ(MustParse(Event("call.dtmf.received", R"(,"digit":"#")")).digits(), "#");
  EXPECT_EQ(MustParse(Event("call.gather.ended", R"(,"digits":"","status":"timeout")")).status(), "timeout");
  EXPECT_EQ(MustParse(Event("call.machine.detection.ended", R"(,"result":"machine")")).status(), "machine");
  CallEvent hangup = MustParse(
      Event("call.hangup", R"(,"hangup_cause":"no_answer","start_time":)"
                           R"("2018-02-02T22:20:27.521992Z","end_time":"2018-02-02T22:25:27.521992Z")"));
  EXPECT_EQ(hangup.hangup_cause(), "no_answer");
  EXPECT_EQ(hangup.duration_sec(), 300);
}

TEST(TelnyxEventTest, OptionalFieldsMayBeAbsentOrNull) {
  CallEvent e = MustParse(
      R"({"data":{"event_type":"call.hangup","id":"x","payload":{"call_control_id":"c","client_state":null}}})");
  EXPECT_EQ(e.type(), common::v1::CALL_EVENT_TYPE_HANGUP);
  EXPECT_EQ(e.client_state(), "");
  EXPECT_FALSE(e.has_occurred_at());
  EXPECT_EQ(
      MustParse(
          R"({"data":{"event_type":"call.initiated","id":"y","occurred_at":"2018-02-02T22:25:27+03:00"}})")
          .occurred_at()
          .seconds(),
      1517599527);
}

TEST(TelnyxEventTest, MalformedIsInvalidArgument) {
  const std::pair<std::string, const char*> kCases[] = {
      {"", "malformed JSON"},
      {"{\"data\":", "malformed JSON"},
      {"[]", "webhook must be a JSON object"},
      {"{}", "data is required"},
      {R"({"data":[]})", "data must be an object"},
      {R"({"data":{"event_type":"call.hangup"}})", "data.id is required"},
      {R"({"data":{"id":"x"}})", "data.event_type is required"},
      {R"({"data":{"id":"x","event_type":7}})", "data.event_type must be a string"},
      {R"({"data":{"id":"x","event_type":"call.hangup","payload":"p"}})", "data.payload must be an object"},
      {R"({"data":{"id":"x","event_type":"call.hangup","occurred_at":"yesterday"}})",
       "data.occurred_at must be an RFC 3339 time"},
      {Event("call.hangup", R"(,"hangup_cause":5)"), "data.payload.hangup_cause must be a string"},
      {R"({"data":{"id":"x","event_type":"call.answered","payload":{"client_state":"not base64!"}}})",
       "data.payload.client_state must be base64 of UTF-8 text"},
      {R"({"data":{"id":"x","event_type":"call.answered","payload":{"client_state":"/w=="}}})",
       "data.payload.client_state must be base64 of UTF-8 text"},
  };
  for (const auto& [body, reason] : kCases) {
    absl::StatusOr<CallEvent> e = ParseEvent(body);
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_EQ(e.status().message(), reason) << body;
  }
}

// --- commands ---

TEST(TelnyxCommandTest, Paths) {
  EXPECT_EQ(DialPath(), "/v2/calls");
  EXPECT_EQ(ActionPath("v3:T02llQxIyaRk-_w", "gather_using_speak"),
            "/v2/calls/v3:T02llQxIyaRk-_w/actions/gather_using_speak");
  EXPECT_EQ(ActionPath("a/b c", "hangup"), "/v2/calls/a%2Fb%20c/actions/hangup");
}

TEST(TelnyxCommandTest, DialBody) {
  absl::StatusOr<std::string> body = BuildDialBody({.connection_id = "1494404757140276705",
                                                    .from = "+15557654321",
                                                    .to = "+79990001234",
                                                    .command_id = "attempt-42-dial",
                                                    .client_state = "attempt:42",
                                                    .timeout_secs = 25,
                                                    .webhook_url = "https://example.com/webhooks/telnyx"});
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(
      *body,
      R"({"connection_id":"1494404757140276705","from":"+15557654321","to":"+79990001234","timeout_secs":25,)"
      R"("command_id":"attempt-42-dial","client_state":"YXR0ZW1wdDo0Mg==",)"
      R"("webhook_url":"https://example.com/webhooks/telnyx"})");
  EXPECT_EQ(*BuildDialBody({.connection_id = "c", .from = "+1", .to = "+2"}),
            R"({"connection_id":"c","from":"+1","to":"+2","timeout_secs":25})");
  EXPECT_EQ(BuildDialBody({.from = "+1", .to = "+2"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildDialBody({.connection_id = "c", .to = "+2"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      BuildDialBody({.connection_id = "c", .from = "+1", .to = "+2", .timeout_secs = 4}).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      BuildDialBody({.connection_id = "c", .from = "+1", .to = "+2", .timeout_secs = 601}).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(TelnyxCommandTest, GatherUsingSpeakBody) {
  absl::StatusOr<std::string> body = BuildGatherUsingSpeakBody(
      {.payload = "Тревога! Срочно свяжитесь с Иваном. Нажмите 1, чтобы подтвердить.",
       .valid_digits = "1",
       .timeout_millis = 10000,
       .command_id = "attempt-42-gather",
       .client_state = "attempt:42"});
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, R"({"payload":"Тревога! Срочно свяжитесь с Иваном. Нажмите 1, чтобы подтвердить.",)"
                   R"("voice":"AWS.Polly.Tatyana","language":"ru-RU","minimum_digits":1,"maximum_digits":1,)"
                   R"("valid_digits":"1","timeout_millis":10000,"command_id":"attempt-42-gather",)"
                   R"("client_state":"YXR0ZW1wdDo0Mg=="})");
  EXPECT_TRUE(BuildGatherUsingSpeakBody({.payload = std::string(3000, 'a')}).ok());
  EXPECT_FALSE(BuildGatherUsingSpeakBody({.payload = std::string(3001, 'a')}).ok());
  EXPECT_FALSE(BuildGatherUsingSpeakBody({.payload = ""}).ok());
  EXPECT_FALSE(BuildGatherUsingSpeakBody({.payload = "x", .voice = ""}).ok());
  EXPECT_FALSE(BuildGatherUsingSpeakBody({.payload = "x", .minimum_digits = 0}).ok());
  EXPECT_FALSE(BuildGatherUsingSpeakBody({.payload = "x", .maximum_digits = 129}).ok());
  EXPECT_FALSE(BuildGatherUsingSpeakBody({.payload = "x", .minimum_digits = 2, .maximum_digits = 1}).ok());
  EXPECT_FALSE(BuildGatherUsingSpeakBody({.payload = "x", .valid_digits = "1a"}).ok());
}

TEST(TelnyxCommandTest, HangupBody) {
  EXPECT_EQ(BuildHangupBody({.command_id = "attempt-42-hangup"}), R"({"command_id":"attempt-42-hangup"})");
  EXPECT_EQ(BuildHangupBody({}), "{}");
}

TEST(TelnyxCommandTest, DialBodyWithMachineDetection) {
  EXPECT_EQ(*BuildDialBody({.connection_id = "c",
                            .from = "+1",
                            .to = "+2",
                            .command_id = "k",
                            .answering_machine_detection = "detect"}),
            R"({"connection_id":"c","from":"+1","to":"+2","timeout_secs":25,"command_id":"k",)"
            R"("answering_machine_detection":"detect"})");
}

TEST(TelnyxCommandTest, GatherUsingSpeakMaximumTries) {
  EXPECT_EQ(*BuildGatherUsingSpeakBody(
                {.payload = "x", .valid_digits = "1", .timeout_millis = 5000, .maximum_tries = 3}),
            R"({"payload":"x","voice":"AWS.Polly.Tatyana","language":"ru-RU","minimum_digits":1,)"
            R"("maximum_digits":1,"valid_digits":"1","timeout_millis":5000,"maximum_tries":3})");
  EXPECT_FALSE(BuildGatherUsingSpeakBody({.payload = "x", .maximum_tries = -1}).ok());
}

// --- answers ---

TEST(TelnyxAnswerTest, DialResponse) {
  // The shape of developers.telnyx.com's dial example.
  absl::StatusOr<DialResponse> placed = ParseDialResponse(
      R"({"data":{"call_control_id":"v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg",)"
      R"("call_leg_id":"2dc6fc34-f9e0-11ea-b68e-02420a0f7768","call_session_id":)"
      R"("2dc1b3c8-f9e0-11ea-bc5a-02420a0f7768","is_alive":false,"record_type":"call"}})");
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_EQ(placed->call_control_id, "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg");
  EXPECT_EQ(placed->call_leg_id, "2dc6fc34-f9e0-11ea-b68e-02420a0f7768");
  EXPECT_EQ(placed->call_session_id, "2dc1b3c8-f9e0-11ea-bc5a-02420a0f7768");
  EXPECT_EQ(ParseDialResponse(R"({"data":{"call_control_id":"v3:x"}})")->call_session_id, "");

  const std::pair<const char*, const char*> kMalformed[] = {
      {"", "malformed JSON"},
      {R"({"data":{"call_control_id":"v3:x")", "malformed JSON"},
      {"[]", "dial answer must be a JSON object"},
      {"{}", "data is required"},
      {R"({"data":"x"})", "data must be an object"},
      {R"({"data":{}})", "data.call_control_id is required"},
      {R"({"data":{"call_control_id":""}})", "data.call_control_id is required"},
      {R"({"data":{"call_control_id":7}})", "data.call_control_id must be a string"},
      {R"({"data":{"call_control_id":"v3:x","call_session_id":[]}})",
       "data.call_session_id must be a string"},
  };
  for (const auto& [body, reason] : kMalformed) {
    absl::StatusOr<DialResponse> r = ParseDialResponse(body);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_EQ(r.status().message(), reason) << body;
  }
}

TEST(TelnyxAnswerTest, ErrorResponse) {
  constexpr char kEnded[] = R"({"errors":[{"code":"90018","title":"Call has already ended",)"
                            R"("detail":"This call is no longer active and can't receive commands."}]})";
  EXPECT_EQ(
      ParseErrorResponse(422, kEnded),
      "HTTP 422: 90018 Call has already ended: This call is no longer active and can't receive commands.");
  EXPECT_TRUE(IsCallEndedError(422, kEnded));
  EXPECT_FALSE(IsCallEndedError(400, kEnded));
  EXPECT_FALSE(IsCallEndedError(422, R"({"errors":[{"code":"10015","title":"Bad Request"}]})"));

  std::optional<ApiError> first = FirstError(
      R"({"errors":[{"code":10009,"title":"Authentication failed"},{"code":"10010","title":"x"}]})");
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->code, "10009");  // a number is read as text
  EXPECT_EQ(first->title, "Authentication failed");
  EXPECT_EQ(first->detail, "");
  EXPECT_EQ(ParseErrorResponse(401, R"({"errors":[{"code":10009,"title":"Authentication failed"}]})"),
            "HTTP 401: 10009 Authentication failed");

  // No Telnyx error: a gateway's page, JSON of another shape, an empty list. The body is never echoed.
  for (const char* body :
       {"<html>502 Bad Gateway</html>", "", "{}", R"({"errors":[]})", R"({"errors":["x"]})"}) {
    EXPECT_FALSE(FirstError(body).has_value()) << body;
    EXPECT_EQ(ParseErrorResponse(502, body), "HTTP 502") << body;
  }
  // A long detail is cut, never inside a character.
  const std::string long_detail = std::string(199, 'a') + "ж" + std::string(100, 'b');
  const std::string text =
      ParseErrorResponse(422, R"({"errors":[{"code":"10015","detail":")" + long_detail + R"("}]})");
  EXPECT_EQ(text, "HTTP 422: 10015: " + std::string(199, 'a') + "...");
}

TEST(TelnyxAnswerTest, ClassifyCommandError) {
  EXPECT_EQ(ClassifyCommandError(200), "ok");
  EXPECT_EQ(ClassifyCommandError(201), "ok");
  EXPECT_EQ(ClassifyCommandError(401), "unauthorized");
  EXPECT_EQ(ClassifyCommandError(403), "unauthorized");
  EXPECT_EQ(ClassifyCommandError(429), "rate_limited");
  for (int status : {400, 404, 409, 422}) EXPECT_EQ(ClassifyCommandError(status), "refused") << status;
  for (int status : {500, 502, 503, 504}) EXPECT_EQ(ClassifyCommandError(status), "server_error") << status;
  EXPECT_EQ(ClassifyCommandError(302), "unexpected_status");
  EXPECT_EQ(ClassifyCommandError(0), "unexpected_status");
}

// --- webhooks we build (the fake's side) ---

TEST(TelnyxWebhookBodyTest, BuildsWhatParseEventReads) {
  absl::StatusOr<std::string> body = BuildWebhookBody(
      {.event_type = "call.gather.ended",
       .event_id = "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
       .occurred_at = absl::FromUnixMicros(1700000005521992),
       .payload_json = R"({"call_control_id":"v3:abc","client_state":"YXR0ZW1wdDo0Mg==","digits":"1",)"
                       R"("status":"valid"})",
       .delivered_to = "http://127.0.0.1:1/telnyx/webhook"});
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body,
            R"({"data":{"record_type":"event","event_type":"call.gather.ended",)"
            R"("id":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0","occurred_at":"2023-11-14T22:13:25.521992Z",)"
            R"("payload":{"call_control_id":"v3:abc","client_state":"YXR0ZW1wdDo0Mg==","digits":"1",)"
            R"("status":"valid"}},"meta":{"attempt":1,"delivered_to":"http://127.0.0.1:1/telnyx/webhook"}})");
  CallEvent e = MustParse(*body);
  EXPECT_EQ(e.type(), common::v1::CALL_EVENT_TYPE_GATHER_ENDED);
  EXPECT_EQ(e.provider_event_id(), "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0");
  EXPECT_EQ(e.client_state(), "attempt:42");
  EXPECT_EQ(e.digits(), "1");
  EXPECT_EQ(e.occurred_at().seconds(), 1700000005);
  EXPECT_EQ(e.occurred_at().nanos(), 521992000);

  EXPECT_EQ(FormatEventTime(absl::FromUnixSeconds(1517609127)), "2018-02-02T22:05:27.000000Z");
  EXPECT_FALSE(BuildWebhookBody({.event_id = "x", .payload_json = "{}"}).ok());
  EXPECT_FALSE(BuildWebhookBody({.event_type = "call.hangup", .payload_json = "{}"}).ok());
  EXPECT_FALSE(BuildWebhookBody({.event_type = "call.hangup", .event_id = "x", .payload_json = "[]"}).ok());
  EXPECT_FALSE(BuildWebhookBody({.event_type = "call.hangup", .event_id = "x", .payload_json = ""}).ok());
}

// --- error reasons ---

// Every refusal of the checks and of ParseEvent carries its reason (libs/providers/common/error.h).
TEST(TelnyxErrorReasonTest, SignatureRefusals) {
  EXPECT_EQ(ProviderErrorOf(Verify(kSignedAt, kBody, kPublicKey, "")), ProviderError::kMissingSignature);
  EXPECT_EQ(ProviderErrorOf(Verify(kSignedAt, kBody, kPublicKey, kSignature, "")),
            ProviderError::kMissingSignature);
  EXPECT_EQ(ProviderErrorOf(Verify(kSignedAt, kBody, kPublicKey, "AAAA")),
            ProviderError::kMalformedSignature);
  EXPECT_EQ(ProviderErrorOf(Verify(kSignedAt, kBody, kPublicKey, kSignature, "17e8")),
            ProviderError::kMalformedSignature);
  EXPECT_EQ(ProviderErrorOf(Verify(kSignedAt + absl::Seconds(301))), ProviderError::kReplay);
  EXPECT_EQ(ProviderErrorOf(Verify(kSignedAt, "{}")), ProviderError::kBadSignature);
  EXPECT_EQ(ProviderErrorOf(Verify(kSignedAt, kBody, kOtherPublicKey)), ProviderError::kBadSignature);
  EXPECT_EQ(ProviderErrorOf(Verify(kSignedAt, kBody, "AAAA")), ProviderError::kBadKey);
  EXPECT_EQ(ProviderErrorOf(ParsePublicKey("not-base64").status()), ProviderError::kBadKey);
  // The head-only checks give the same.
  EXPECT_EQ(
      ProviderErrorOf(CheckWebhookHeaders(kPublicKey, kSignature, kTimestamp, kSignedAt + absl::Hours(1))),
      ProviderError::kReplay);
}

TEST(TelnyxErrorReasonTest, OnlyAMissingDataIdIsAMissingId) {
  EXPECT_EQ(ProviderErrorOf(ParseEvent(R"({"data":{"event_type":"call.hangup"}})").status()),
            ProviderError::kMissingId);
  EXPECT_EQ(ProviderErrorOf(ParseEvent(R"({"data":{"id":"","event_type":"call.hangup"}})").status()),
            ProviderError::kMissingId);
  for (const char* malformed : {"", "{}", R"({"data":{"id":5,"event_type":"call.hangup"}})",
                                R"({"data":{"id":"x"}})", R"({"data":{"id":"x","event_type":7}})"}) {
    EXPECT_EQ(ProviderErrorOf(ParseEvent(malformed).status()), ProviderError::kMalformed) << malformed;
  }
}

}  // namespace
}  // namespace protectogram::providers::telnyx
