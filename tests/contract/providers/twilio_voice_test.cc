// Twilio Voice REST contract: the Calls resource paths, the create-call form, the list query, our prompt's
// TwiML, and Twilio's answers read back.
//
// The answer bodies are twilio/twilio-python tests/integration/api/v2010/account/test_call.py
// (test_create_response, test_read_full_response, test_read_empty_response); the error body is the shape of
// twilio.com/docs/usage/twilios-response ("code", "message", "more_info", "status"); the Basic credentials
// vector is RFC 7617 §2's ("Aladdin" / "open sesame"). The list parameter names ("StartTime>") are
// twilio-python's CallList.page.
#include <gtest/gtest.h>

#include <string>

#include "libs/providers/twilio/voice_api.h"

namespace protectogram::providers::twilio {
namespace {

constexpr char kAccount[] = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
constexpr char kCallSid[] = "CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

// test_create_response (201)
constexpr char kCreateResponse[] = R"({
    "account_sid": "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "annotation": null,
    "answered_by": null,
    "api_version": "2010-04-01",
    "caller_name": null,
    "date_created": "Tue, 31 Aug 2010 20:36:28 +0000",
    "date_updated": "Tue, 31 Aug 2010 20:36:44 +0000",
    "direction": "inbound",
    "duration": "15",
    "end_time": "Tue, 31 Aug 2010 20:36:44 +0000",
    "forwarded_from": "+141586753093",
    "from": "+14158675308",
    "from_formatted": "(415) 867-5308",
    "group_sid": null,
    "parent_call_sid": null,
    "phone_number_sid": "PNaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "price": "-0.03000",
    "price_unit": "USD",
    "sid": "CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "start_time": "Tue, 31 Aug 2010 20:36:29 +0000",
    "status": "completed",
    "subresource_uris": {
        "notifications": "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Calls/CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Notifications.json",
        "recordings": "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Calls/CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Recordings.json"
    },
    "to": "+14158675309",
    "to_formatted": "(415) 867-5309",
    "uri": "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Calls/CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json"
})";

// test_read_full_response
constexpr char kListResponse[] = R"({
    "calls": [
        {
            "account_sid": "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "annotation": null,
            "answered_by": null,
            "api_version": "2010-04-01",
            "caller_name": "",
            "date_created": "Fri, 04 Sep 2015 22:48:30 +0000",
            "date_updated": "Fri, 04 Sep 2015 22:48:35 +0000",
            "direction": "outbound-api",
            "duration": "0",
            "end_time": "Fri, 04 Sep 2015 22:48:35 +0000",
            "forwarded_from": null,
            "from": "kevin",
            "from_formatted": "kevin",
            "group_sid": null,
            "parent_call_sid": null,
            "phone_number_sid": "",
            "price": null,
            "price_unit": "USD",
            "sid": "CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "start_time": "Fri, 04 Sep 2015 22:48:31 +0000",
            "status": "failed",
            "to": "sip:kevin@example.com",
            "to_formatted": "sip:kevin@example.com",
            "uri": "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Calls/CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json"
        }
    ],
    "end": 0,
    "first_page_uri": "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Calls.json?PageSize=1&Page=0",
    "next_page_uri": null,
    "page": 0,
    "page_size": 1,
    "previous_page_uri": null,
    "start": 0,
    "uri": "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Calls.json?PageSize=1&Page=0"
})";

absl::Time At(int y, int mo, int d, int h, int mi, int s) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

TEST(TwilioVoicePathsTest, CallsResource) {
  EXPECT_EQ(CallsPath(kAccount), "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Calls.json");
  EXPECT_EQ(CallPath(kAccount, kCallSid),
            "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Calls/"
            "CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json");
  // A malformed sid cannot leave its path segment.
  EXPECT_EQ(CallPath(kAccount, "../x?y"),
            "/2010-04-01/Accounts/ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Calls/..%2Fx%3Fy.json");
}

TEST(TwilioVoicePathsTest, BasicAuthRfc7617) {
  EXPECT_EQ(BasicAuthHeader("Aladdin", "open sesame"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
}

TEST(TwilioCreateCallTest, FormFieldsInOrderWithRepeatedEvents) {
  absl::StatusOr<FormFields> form = BuildCreateCallForm({
      .to = "+14155550100",
      .from = "+14155550199",
      .twiml = "<Response><Hangup/></Response>",
      .status_callback = "https://edge.example.org/twilio/voice?attempt=a1",
      .timeout_secs = 25,
      .machine_detection = true,
  });
  ASSERT_TRUE(form.ok()) << form.status();
  const FormFields expected = {
      {"To", "+14155550100"},
      {"From", "+14155550199"},
      {"Twiml", "<Response><Hangup/></Response>"},
      {"StatusCallback", "https://edge.example.org/twilio/voice?attempt=a1"},
      {"StatusCallbackMethod", "POST"},
      {"StatusCallbackEvent", "initiated"},
      {"StatusCallbackEvent", "ringing"},
      {"StatusCallbackEvent", "answered"},
      {"StatusCallbackEvent", "completed"},
      {"Timeout", "25"},
      {"MachineDetection", "Enable"},
  };
  EXPECT_EQ(*form, expected);
}

TEST(TwilioCreateCallTest, OptionalFieldsLeftOut) {
  absl::StatusOr<FormFields> form =
      BuildCreateCallForm({.to = "+14155550100", .from = "+14155550199", .twiml = "<Response/>"});
  ASSERT_TRUE(form.ok()) << form.status();
  const FormFields expected = {
      {"To", "+14155550100"}, {"From", "+14155550199"}, {"Twiml", "<Response/>"}, {"Timeout", "25"}};
  EXPECT_EQ(*form, expected);
}

TEST(TwilioCreateCallTest, Refusals) {
  const CreateCall good{.to = "+14155550100", .from = "+14155550199", .twiml = "<Response/>"};
  auto with = [&](auto change) {
    CreateCall c = good;
    change(c);
    return BuildCreateCallForm(c).status();
  };
  EXPECT_EQ(with([](CreateCall& c) { c.to.clear(); }).message(), "to is required");
  EXPECT_EQ(with([](CreateCall& c) { c.from.clear(); }).message(), "from is required");
  EXPECT_EQ(with([](CreateCall& c) { c.twiml.clear(); }).message(), "twiml is required");
  EXPECT_EQ(with([](CreateCall& c) { c.timeout_secs = 4; }).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](CreateCall& c) { c.timeout_secs = 601; }).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(with([](CreateCall& c) { c.timeout_secs = 600; }).ok());
  EXPECT_EQ(with([](CreateCall& c) {
              c.status_callback = "https://x";
              c.status_callback_events = {"answered", "hangup"};
            }).message(),
            "unknown status callback event \"hangup\"");
  // 4000 characters (code points, not bytes) is the limit.
  std::string cyrillic;
  for (int i = 0; i < 4000; ++i) cyrillic += "я";
  EXPECT_TRUE(with([&](CreateCall& c) { c.twiml = cyrillic; }).ok());
  EXPECT_EQ(with([&](CreateCall& c) { c.twiml = cyrillic + "x"; }).message(),
            "twiml is 4001 characters (at most 4000)");
}

TEST(TwilioListCallsTest, QueryNamesAsTwilioPython) {
  const FormFields query = ListCallsQuery({.to = "+14155550100",
                                           .from = "+14155550199",
                                           .status = "queued",
                                           .started_on_or_after = absl::CivilDay(2024, 1, 31),
                                           .page_size = 20});
  const FormFields expected = {{"To", "+14155550100"},
                               {"From", "+14155550199"},
                               {"Status", "queued"},
                               {"StartTime>", "2024-01-31"},
                               {"PageSize", "20"}};
  EXPECT_EQ(query, expected);
  EXPECT_EQ(ListCallsQuery({}), (FormFields{{"PageSize", "50"}}));
}

TEST(TwilioVoicesTest, PollyVoicePerLanguage) {
  EXPECT_EQ(VoiceForLanguage("ru-RU"), "Polly.Tatyana");
  EXPECT_EQ(VoiceForLanguage("ru-ru"), "Polly.Tatyana");
  EXPECT_EQ(VoiceForLanguage("en-US"), "Polly.Joanna");
  EXPECT_EQ(VoiceForLanguage("de-DE"), "Polly.Marlene");
  EXPECT_EQ(VoiceForLanguage("es-ES"), "Polly.Lucia");
  EXPECT_EQ(VoiceForLanguage("fr-FR"), "Polly.Celine");
  EXPECT_EQ(VoiceForLanguage("uk-UA"), "");
  EXPECT_EQ(VoiceForLanguage(""), "");
}

TEST(TwilioPromptTest, RepeatedGathersThenHangup) {
  absl::StatusOr<std::string> twiml =
      BuildPromptTwiml({.text = "Нажмите 1",
                        .language = "ru-RU",
                        .voice = "Polly.Tatyana",
                        .valid_digits = "1",
                        .repeats = 2,
                        .gather_timeout_secs = 5,
                        .action_url = "https://e.example/twilio/voice?attempt=k1"});
  ASSERT_TRUE(twiml.ok()) << twiml.status();
  const std::string gather =
      "<Gather input=\"dtmf\" numDigits=\"1\" timeout=\"5\" "
      "action=\"https://e.example/twilio/voice?attempt=k1\" "
      "method=\"POST\"><Say language=\"ru-RU\" voice=\"Polly.Tatyana\">Нажмите 1</Say></Gather>";
  EXPECT_EQ(*twiml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>" + gather + gather +
                        "<Hangup/></Response>");
}

TEST(TwilioPromptTest, EscapesTextAndUrl) {
  absl::StatusOr<std::string> twiml =
      BuildPromptTwiml({.text = "Tom & \"Jerry\" <3 'x'", .repeats = 1, .action_url = "https://e/v?a=1&b=2"});
  ASSERT_TRUE(twiml.ok()) << twiml.status();
  EXPECT_NE(twiml->find("action=\"https://e/v?a=1&amp;b=2\""), std::string::npos) << *twiml;
  EXPECT_NE(twiml->find("<Say>Tom &amp; &quot;Jerry&quot; &lt;3 &apos;x&apos;</Say>"), std::string::npos)
      << *twiml;
  EXPECT_EQ(twiml->find("finishOnKey"), std::string::npos);
}

TEST(TwilioPromptTest, HashAsAnswerDisablesFinishOnKey) {
  absl::StatusOr<std::string> twiml =
      BuildPromptTwiml({.text = "Press #", .valid_digits = "1#", .repeats = 1, .action_url = "https://e/v"});
  ASSERT_TRUE(twiml.ok()) << twiml.status();
  EXPECT_NE(twiml->find("method=\"POST\" finishOnKey=\"\">"), std::string::npos) << *twiml;
}

TEST(TwilioPromptTest, LongTextLoopsInOneGather) {
  std::string text;
  for (int i = 0; i < 1500; ++i) text += "я";  // 3 x 1500 characters do not fit in 4000
  absl::StatusOr<std::string> twiml =
      BuildPromptTwiml({.text = text, .language = "ru-RU", .repeats = 3, .action_url = "https://e/v"});
  ASSERT_TRUE(twiml.ok()) << twiml.status();
  EXPECT_NE(twiml->find("<Say language=\"ru-RU\" loop=\"3\">"), std::string::npos);
  EXPECT_EQ(twiml->find("<Gather", twiml->find("<Gather") + 1), std::string::npos);  // one Gather
}

TEST(TwilioPromptTest, Refusals) {
  const PromptTwiml good{.text = "hi", .action_url = "https://e/v"};
  auto with = [&](auto change) {
    PromptTwiml p = good;
    change(p);
    return BuildPromptTwiml(p).status();
  };
  EXPECT_TRUE(with([](PromptTwiml&) {}).ok());
  EXPECT_EQ(with([](PromptTwiml& p) { p.text.clear(); }).message(), "text is empty");
  EXPECT_EQ(with([](PromptTwiml& p) { p.text = "a\x01"; }).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](PromptTwiml& p) { p.text = "\xff"; }).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](PromptTwiml& p) { p.text = "\xEF\xBF\xBF"; }).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(with([](PromptTwiml& p) { p.text = "line\nnext\ttab"; }).ok());
  EXPECT_EQ(with([](PromptTwiml& p) { p.text = std::string(3001, 'a'); }).message(),
            "text is 3001 characters (at most 3000)");
  EXPECT_EQ(with([](PromptTwiml& p) { p.action_url.clear(); }).message(), "action_url is required");
  EXPECT_EQ(with([](PromptTwiml& p) { p.valid_digits = ""; }).message(), "valid_digits must be 0-9 * #");
  EXPECT_EQ(with([](PromptTwiml& p) { p.valid_digits = "1a"; }).message(), "valid_digits must be 0-9 * #");
  EXPECT_EQ(with([](PromptTwiml& p) { p.repeats = 0; }).message(), "repeats must be 1..10");
  EXPECT_EQ(with([](PromptTwiml& p) { p.repeats = 11; }).message(), "repeats must be 1..10");
  EXPECT_EQ(with([](PromptTwiml& p) { p.gather_timeout_secs = 0; }).message(),
            "gather_timeout_secs must be 1..60");
  // 3000 characters fit alone, but not with a long action URL on top.
  EXPECT_EQ(with([](PromptTwiml& p) {
              p.text = std::string(3000, 'a');
              p.action_url = "https://e/" + std::string(1000, 'u');
            }).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TwilioCallResourceTest, OfficialCreateResponse) {
  absl::StatusOr<CallResource> call = ParseCallResource(kCreateResponse);
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->sid, kCallSid);
  EXPECT_EQ(call->status, "completed");
  EXPECT_EQ(call->to, "+14158675309");
  EXPECT_EQ(call->from, "+14158675308");
  EXPECT_EQ(call->date_created, At(2010, 8, 31, 20, 36, 28));
  EXPECT_EQ(call->start_time, At(2010, 8, 31, 20, 36, 29));
  EXPECT_EQ(call->answered_by, "");
}

TEST(TwilioCallResourceTest, QueuedCallWithoutStartTime) {
  absl::StatusOr<CallResource> call = ParseCallResource(
      R"({"sid":"CA1","status":"queued","to":"+1","from":"+2",
          "date_created":"Mon, 01 Jan 2024 00:00:00 +0000",
          "start_time":null,"answered_by":"human"})");
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->start_time, std::nullopt);
  EXPECT_EQ(call->answered_by, "human");
}

TEST(TwilioCallResourceTest, Malformed) {
  EXPECT_EQ(ParseCallResource("not json").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCallResource("[]").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCallResource(R"({"status":"queued"})").status().message(), "sid is required");
  EXPECT_EQ(ParseCallResource(R"({"sid":7})").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCallResource(R"({"sid":"CA1","date_created":"yesterday"})").status().message(),
            "date_created must be an RFC 2822 date");
}

TEST(TwilioCallListTest, OfficialReadResponses) {
  absl::StatusOr<CallList> list = ParseCallList(kListResponse);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->calls.size(), 1u);
  EXPECT_EQ(list->calls[0].sid, kCallSid);
  EXPECT_EQ(list->calls[0].status, "failed");
  EXPECT_EQ(list->calls[0].to, "sip:kevin@example.com");
  EXPECT_EQ(list->calls[0].date_created, At(2015, 9, 4, 22, 48, 30));
  EXPECT_EQ(list->next_page_uri, "");

  // test_read_empty_response, with a next page
  list = ParseCallList(
      R"({"calls":[],"end":0,"page":0,
          "next_page_uri":"/2010-04-01/Accounts/AC1/Calls.json?Page=1&PageSize=50"})");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_TRUE(list->calls.empty());
  EXPECT_EQ(list->next_page_uri, "/2010-04-01/Accounts/AC1/Calls.json?Page=1&PageSize=50");
}

TEST(TwilioCallListTest, Malformed) {
  EXPECT_EQ(ParseCallList("{}").status().message(), "calls is required");
  EXPECT_EQ(ParseCallList(R"({"calls":{}})").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCallList(R"({"calls":[1]})").status().message(), "calls[0] must be an object");
  EXPECT_EQ(ParseCallList(R"({"calls":[{"sid":"CA1"},{}]})").status().message(), "calls[1].sid is required");
}

TEST(TwilioErrorTest, ErrorBody) {
  absl::StatusOr<ErrorResponse> error = ParseErrorResponse(
      R"({"code": 21211, "message": "The 'To' number 5551234 is not a valid phone number.",
          "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400})");
  ASSERT_TRUE(error.ok()) << error.status();
  EXPECT_EQ(error->code, 21211);
  EXPECT_EQ(error->message, "The 'To' number 5551234 is not a valid phone number.");
  EXPECT_EQ(error->more_info, "https://www.twilio.com/docs/errors/21211");
  EXPECT_EQ(error->status, 400);

  error = ParseErrorResponse("{}");
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->code, 0);
  EXPECT_EQ(ParseErrorResponse("<html>502 Bad Gateway</html>").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseErrorResponse(R"({"code":"x"})").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TwilioErrorTest, Classify) {
  EXPECT_EQ(ClassifyError(201, 0), "ok");
  EXPECT_EQ(ClassifyError(401, 20003), "unauthorized");
  EXPECT_EQ(ClassifyError(403, 0), "unauthorized");
  EXPECT_EQ(ClassifyError(400, 21211), "invalid_number");
  EXPECT_EQ(ClassifyError(400, 21214), "invalid_number");
  EXPECT_EQ(ClassifyError(400, 21217), "invalid_number");
  EXPECT_EQ(ClassifyError(400, 21205), "refused");
  EXPECT_EQ(ClassifyError(404, 20404), "refused");
  EXPECT_EQ(ClassifyError(429, 20429), "rate_limited");
  EXPECT_EQ(ClassifyError(400, 20429), "rate_limited");
  EXPECT_EQ(ClassifyError(500, 20500), "server_error");
  EXPECT_EQ(ClassifyError(503, 0), "server_error");
  EXPECT_EQ(ClassifyError(302, 0), "other");
}

}  // namespace
}  // namespace protectogram::providers::twilio
