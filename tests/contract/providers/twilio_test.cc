// Twilio contract: X-Twilio-Signature against Twilio's official vectors, and Voice / WhatsApp callbacks.
//
// The vectors are twilio/twilio-python tests/unit/test_request_validator.py (auth token "12345"), each also
// recomputed with Python's hmac/hashlib from the algorithm in twilio/request_validator.py.
#include "libs/providers/twilio/twilio.h"

#include <gtest/gtest.h>

#include "libs/crypto/digest.h"
#include "libs/providers/common/error.h"

namespace protectogram::providers::twilio {
namespace {

using common::v1::CallEvent;
using common::v1::ChatEvent;

constexpr char kAuthToken[] = "12345";
constexpr char kUrl[] = "https://mycompany.com/myapp.php?foo=1&bar=2";
const FormParams kParams = {
    {"CallSid", "CA1234567890ABCDE"}, {"Digits", "1234"},         {"From", "+14158675309"},
    {"To", "+18005551212"},           {"Caller", "+14158675309"},
};
constexpr char kExpected[] = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
constexpr char kBody[] = R"({"property": "value", "boolean": true})";
constexpr char kBodyHash[] = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";

// test_compute_signature
TEST(TwilioSignatureTest, OfficialComputeSignature) {
  EXPECT_EQ(ComputeSignature(kAuthToken, kUrl, kParams), kExpected);
  EXPECT_TRUE(VerifySignature(kAuthToken, kUrl, kParams, kExpected).ok());
}

// test_compute_signature_duplicate_multi_dict / _query_dict
TEST(TwilioSignatureTest, OfficialDuplicateParams) {
  const FormParams params = {
      {"Sid", "CA123"}, {"SidAccount", "AC123"}, {"Digits", "5678"}, {"Digits", "1234"}};
  EXPECT_EQ(ComputeSignature(kAuthToken, kUrl, params), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
  // The same, decoded from the form body Twilio would post.
  absl::StatusOr<FormParams> parsed = ParseForm("Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(ComputeSignature(kAuthToken, kUrl, *parsed), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
}

// test_validation_removes_port_on_https: signed without the port, received with one.
TEST(TwilioSignatureTest, OfficialRemovesPortOnHttps) {
  EXPECT_TRUE(
      VerifySignature(kAuthToken, "https://mycompany.com:1234/myapp.php?foo=1&bar=2", kParams, kExpected)
          .ok());
}

// test_validation_removes_port_on_http: "Zmvh..." is the hash of the http URL with port 1234.
TEST(TwilioSignatureTest, OfficialKeepsNonDefaultPortOnHttp) {
  EXPECT_TRUE(VerifySignature(kAuthToken, "http://mycompany.com:1234/myapp.php?foo=1&bar=2", kParams,
                              "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=")
                  .ok());
}

// test_validation_adds_port_on_https: signed with :443, received without.
TEST(TwilioSignatureTest, OfficialAddsPortOnHttps) {
  EXPECT_EQ(ComputeSignature(kAuthToken, "https://mycompany.com:443/myapp.php?foo=1&bar=2", kParams),
            "kvajT1Ptam85bY51eRf/AJRuM3w=");
  EXPECT_TRUE(VerifySignature(kAuthToken, kUrl, kParams, "kvajT1Ptam85bY51eRf/AJRuM3w=").ok());
}

// test_validation_adds_port_on_http: signed with :80, received without.
TEST(TwilioSignatureTest, OfficialAddsPortOnHttp) {
  EXPECT_TRUE(VerifySignature(kAuthToken, "http://mycompany.com/myapp.php?foo=1&bar=2", kParams,
                              "0ZXoZLH/DfblKGATFgpif+LLRf4=")
                  .ok());
  // And the reverse: signed without the port, received with the default one.
  EXPECT_TRUE(
      VerifySignature(kAuthToken, "https://mycompany.com:443/myapp.php?foo=1&bar=2", kParams, kExpected)
          .ok());
}

// test_compute_hash_unicode and test_validation_of_body_succeeds.
TEST(TwilioSignatureTest, OfficialBodySha256) {
  EXPECT_EQ(crypto::Sha256Hex(kBody), kBodyHash);
  const std::string url = std::string(kUrl) + "&bodySHA256=" + kBodyHash;
  EXPECT_TRUE(VerifyBodySignature(kAuthToken, url, kBody, "a9nBmqA0ju/hNViExpshrM61xv4=").ok());

  absl::Status tampered = VerifyBodySignature(kAuthToken, url, R"({"property": "value", "boolean": false})",
                                              "a9nBmqA0ju/hNViExpshrM61xv4=");
  EXPECT_EQ(tampered.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(tampered.message(), "bodySHA256 mismatch");
  EXPECT_EQ(VerifyBodySignature(kAuthToken, url, kBody, kExpected).message(), "bad signature");
  EXPECT_EQ(VerifyBodySignature(kAuthToken, kUrl, kBody, "a9nBmqA0ju/hNViExpshrM61xv4=").message(),
            "missing bodySHA256");
  EXPECT_EQ(VerifyBodySignature(kAuthToken, url, kBody, "").message(), "missing signature");

  // Each with its reason (libs/providers/common/error.h).
  EXPECT_EQ(ProviderErrorOf(tampered), ProviderError::kBadSignature);
  EXPECT_EQ(ProviderErrorOf(VerifyBodySignature(kAuthToken, url, kBody, kExpected)),
            ProviderError::kBadSignature);
  EXPECT_EQ(ProviderErrorOf(VerifyBodySignature(kAuthToken, kUrl, kBody, "a9nBmqA0ju/hNViExpshrM61xv4=")),
            ProviderError::kMissingSignature);
  EXPECT_EQ(ProviderErrorOf(VerifyBodySignature(kAuthToken, url, kBody, "")),
            ProviderError::kMissingSignature);
}

TEST(TwilioSignatureTest, Refusals) {
  absl::Status bad = VerifySignature(kAuthToken, kUrl, kParams, "RSOYDt4T1cUTdK1PDd93/VVr8B9=");
  EXPECT_EQ(bad.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(bad.message(), "bad signature");
  EXPECT_EQ(VerifySignature("54321", kUrl, kParams, kExpected).message(), "bad signature");
  FormParams tampered = kParams;
  tampered.find("Digits")->second = "1";
  EXPECT_EQ(VerifySignature(kAuthToken, kUrl, tampered, kExpected).message(), "bad signature");
  EXPECT_EQ(
      VerifySignature(kAuthToken, "https://evil.example/myapp.php?foo=1&bar=2", kParams, kExpected).message(),
      "bad signature");
  absl::Status missing = VerifySignature(kAuthToken, kUrl, kParams, "");
  EXPECT_EQ(missing.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(missing.message(), "missing signature");
  // A URL that does not parse is still compared as given (and fails).
  EXPECT_EQ(VerifySignature(kAuthToken, "::not a url::", kParams, kExpected).message(), "bad signature");

  EXPECT_EQ(ProviderErrorOf(bad), ProviderError::kBadSignature);
  EXPECT_EQ(ProviderErrorOf(missing), ProviderError::kMissingSignature);
}

// --- Voice callbacks ---

CallEvent MustParseVoice(std::string_view body) {
  absl::StatusOr<CallEvent> e = ParseVoiceCallbackBody(body);
  EXPECT_TRUE(e.ok()) << e.status() << "\n" << body;
  return e.ok() ? *e : CallEvent();
}

TEST(TwilioVoiceTest, StatusCallbacks) {
  struct Case {
    const char* status;
    common::v1::CallEventType type;
  };
  const Case kCases[] = {
      {"queued", common::v1::CALL_EVENT_TYPE_INITIATED},
      {"initiated", common::v1::CALL_EVENT_TYPE_INITIATED},
      {"ringing", common::v1::CALL_EVENT_TYPE_RINGING},
      {"in-progress", common::v1::CALL_EVENT_TYPE_ANSWERED},
      {"completed", common::v1::CALL_EVENT_TYPE_HANGUP},
      {"busy", common::v1::CALL_EVENT_TYPE_HANGUP},
      {"failed", common::v1::CALL_EVENT_TYPE_HANGUP},
      {"no-answer", common::v1::CALL_EVENT_TYPE_HANGUP},
      {"canceled", common::v1::CALL_EVENT_TYPE_HANGUP},
      {"something-new", common::v1::CALL_EVENT_TYPE_OTHER},
  };
  for (const Case& c : kCases) {
    CallEvent e =
        MustParseVoice(std::string("AccountSid=AC0123&ApiVersion=2010-04-01&CallSid=CA42&CallStatus=") +
                       c.status + "&Direction=outbound-api&From=%2B15557654321&To=%2B79990001234");
    EXPECT_EQ(e.provider(), common::v1::PROVIDER_TWILIO);
    EXPECT_EQ(e.type(), c.type) << c.status;
    EXPECT_EQ(e.provider_event_type(), c.status);
    EXPECT_EQ(e.provider_event_id(), std::string("CA42:") + c.status);
    EXPECT_EQ(e.status(), c.status);
    EXPECT_EQ(e.call_id(), "CA42");
    EXPECT_EQ(e.from(), "+15557654321");
    EXPECT_EQ(e.to(), "+79990001234");
    EXPECT_EQ(e.hangup_cause(), c.type == common::v1::CALL_EVENT_TYPE_HANGUP ? c.status : "");
  }
}

TEST(TwilioVoiceTest, CompletedCarriesDurationAndTimestamp) {
  CallEvent e = MustParseVoice(
      "CallSid=CA42&CallStatus=completed&CallDuration=37&SequenceNumber=3&CallbackSource=call-progress-"
      "events&"
      "Timestamp=Tue%2C+14+Nov+2023+22%3A13%3A20+%2B0000&From=%2B15557654321&To=%2B79990001234");
  EXPECT_EQ(e.type(), common::v1::CALL_EVENT_TYPE_HANGUP);
  EXPECT_EQ(e.duration_sec(), 37);
  EXPECT_EQ(e.occurred_at().seconds(), 1700000000);
  // The same status twice (a retry) is the same event id: dedup is per CallSid and status.
  EXPECT_EQ(MustParseVoice("CallSid=CA42&CallStatus=completed&SequenceNumber=4").provider_event_id(),
            e.provider_event_id());
}

TEST(TwilioVoiceTest, GatherAction) {
  CallEvent e = MustParseVoice(
      "AccountSid=AC0123&CallSid=CA42&CallStatus=in-progress&Digits=1&"
      "FinishedOnKey=&From=%2B15557654321&To=%2B79990001234&msg=Gather+End");
  EXPECT_EQ(e.type(), common::v1::CALL_EVENT_TYPE_GATHER_ENDED);
  EXPECT_EQ(e.provider_event_type(), "gather");
  EXPECT_EQ(e.provider_event_id(), "CA42:gather:1");
  EXPECT_EQ(e.digits(), "1");
  EXPECT_EQ(e.status(), "in-progress");
  // No input (actionOnEmptyResult): still a gather, with empty digits.
  EXPECT_EQ(MustParseVoice("CallSid=CA42&CallStatus=in-progress&Digits=").provider_event_id(),
            "CA42:gather:");
}

TEST(TwilioVoiceTest, AnsweringMachineDetection) {
  CallEvent e = MustParseVoice("CallSid=CA42&CallStatus=in-progress&AnsweredBy=machine_start");
  EXPECT_EQ(e.type(), common::v1::CALL_EVENT_TYPE_ANSWERED);
  EXPECT_EQ(e.status(), "machine_start");
}

TEST(TwilioVoiceTest, MalformedIsInvalidArgument) {
  struct Case {
    const char* body;
    const char* message;
    ProviderError reason;
  };
  for (const Case& c : {
           Case{"", "CallSid is required", ProviderError::kMissingId},
           Case{"CallStatus=completed", "CallSid is required", ProviderError::kMissingId},
           Case{"CallSid=CA42", "CallStatus is required", ProviderError::kMalformed},
           Case{"CallSid=CA42&CallStatus=completed&CallDuration=-1",
                "CallDuration must be a non-negative integer", ProviderError::kMalformed},
           Case{"CallSid=CA42&CallStatus=completed&CallDuration=abc",
                "CallDuration must be a non-negative integer", ProviderError::kMalformed},
           Case{"CallSid=CA%4&CallStatus=completed", "malformed form: bad percent escape",
                ProviderError::kMalformed},
           Case{"CallSid=CA42&CallStatus=%FF", "malformed form: not UTF-8", ProviderError::kMalformed},
       }) {
    absl::StatusOr<CallEvent> e = ParseVoiceCallbackBody(c.body);
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << c.body;
    EXPECT_EQ(e.status().message(), c.message) << c.body;
    EXPECT_EQ(ProviderErrorOf(e.status()), c.reason) << c.body;
  }
}

// --- WhatsApp via Twilio ---

ChatEvent MustParseWhatsApp(std::string_view body) {
  absl::StatusOr<ChatEvent> e = ParseWhatsAppInboundBody(body);
  EXPECT_TRUE(e.ok()) << e.status() << "\n" << body;
  return e.ok() ? *e : ChatEvent();
}

TEST(TwilioWhatsAppTest, TextMessage) {
  ChatEvent e = MustParseWhatsApp(
      "SmsMessageSid=SM0123&NumMedia=0&ProfileName=Ivan&SmsSid=SM0123&WaId=79990001234&SmsStatus=received&"
      "Body=%D0%B4%D0%B0&To=whatsapp%3A%2B14155238886&NumSegments=1&MessageSid=SM0123&"
      "AccountSid=AC0123&From=whatsapp%3A%2B79990001234&ApiVersion=2010-04-01");
  EXPECT_EQ(e.provider(), common::v1::PROVIDER_TWILIO);
  EXPECT_EQ(e.provider_event_id(), "SM0123");
  EXPECT_EQ(e.provider_event_type(), "message");
  EXPECT_EQ(e.bot_id(), "+14155238886");
  EXPECT_EQ(e.chat_id(), "+79990001234");
  EXPECT_EQ(e.from().id(), "+79990001234");
  EXPECT_EQ(e.from().first_name(), "Ivan");
  ASSERT_TRUE(e.has_text());
  EXPECT_EQ(e.text().text(), "да");
}

TEST(TwilioWhatsAppTest, ButtonReply) {
  ChatEvent e = MustParseWhatsApp(
      "MessageSid=SM0124&From=whatsapp%3A%2B79990001234&To=whatsapp%3A%2B14155238886&"
      "Body=%D0%94%D0%B0%2C+%D0%B2%D1%81%D1%91+%D1%85%D0%BE%D1%80%D0%BE%D1%88%D0%BE&"
      "ButtonText=%D0%94%D0%B0%2C+%D0%B2%D1%81%D1%91+%D1%85%D0%BE%D1%80%D0%BE%D1%88%D0%BE&"
      "ButtonPayload=checkin%3Aok%3A17");
  EXPECT_EQ(e.provider_event_type(), "button");
  ASSERT_TRUE(e.has_button());
  EXPECT_EQ(e.button().data(), "checkin:ok:17");
  EXPECT_EQ(e.button().text(), "Да, всё хорошо");
  EXPECT_EQ(e.button().callback_id(), "");
}

TEST(TwilioWhatsAppTest, MediaWithoutBody) {
  ChatEvent e = MustParseWhatsApp(
      "MessageSid=MM0125&From=whatsapp%3A%2B79990001234&To=whatsapp%3A%2B14155238886&"
      "Body=&NumMedia=1&MediaContentType0=audio%2Fogg");
  ASSERT_TRUE(e.has_non_text());
  EXPECT_EQ(e.non_text().kind(), "media");
}

TEST(TwilioWhatsAppTest, MalformedIsInvalidArgument) {
  struct Case {
    const char* body;
    const char* message;
    ProviderError reason;
  };
  for (const Case& c : {
           Case{"From=whatsapp%3A%2B79990001234&Body=hi", "MessageSid is required",
                ProviderError::kMissingId},
           Case{"MessageSid=SM1&From=%2B79990001234&Body=hi", "From must be a whatsapp: address",
                ProviderError::kMalformed},
           Case{"MessageSid=SM1&From=whatsapp%3A&Body=hi", "From must be a whatsapp: address",
                ProviderError::kMalformed},
           Case{"MessageSid=SM1&Body=hi", "From must be a whatsapp: address", ProviderError::kMalformed},
           Case{"MessageSid=SM1&From=whatsapp%3A%2B1&Body=%", "malformed form: bad percent escape",
                ProviderError::kMalformed},
       }) {
    absl::StatusOr<ChatEvent> e = ParseWhatsAppInboundBody(c.body);
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << c.body;
    EXPECT_EQ(e.status().message(), c.message) << c.body;
    EXPECT_EQ(ProviderErrorOf(e.status()), c.reason) << c.body;
  }
}

TEST(TwilioWhatsAppTest, SignatureOverTheInboundForm) {
  // Twilio signs WhatsApp webhooks like any other: checked against the same algorithm as the official
  // vectors.
  const std::string body =
      "MessageSid=SM0123&From=whatsapp%3A%2B79990001234&To=whatsapp%3A%2B14155238886&Body=1";
  const std::string url = "https://protectogram.example/webhooks/twilio/whatsapp";
  FormParams params = *ParseForm(body);
  const std::string signature = ComputeSignature(kAuthToken, url, params);
  // base64(HMAC-SHA1("12345", url + "Body1" "From..." "MessageSid..." "To...")), sorted by name.
  EXPECT_EQ(signature,
            ComputeSignature(kAuthToken,
                             url + "Body1Fromwhatsapp:+79990001234MessageSidSM0123Towhatsapp:+14155238886",
                             FormParams()));
  EXPECT_TRUE(VerifySignature(kAuthToken, url, params, signature).ok());
  EXPECT_TRUE(VerifySignature(kAuthToken, "https://protectogram.example:443/webhooks/twilio/whatsapp", params,
                              signature)
                  .ok());
}

}  // namespace
}  // namespace protectogram::providers::twilio
