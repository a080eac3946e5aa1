// NotificationService end to end on a real Postgres: gRPC in, the outbox, pacing in the claim, real HTTP to
// the fake Bot API and Cloud API, outcomes out to a fake incident service.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/integration/notification/service_fixture.h"

namespace protectogram::notification::testing {
namespace {

using tg::Fault;
using tg::FaultRule;

std::vector<tg::FakeBotApi::Call> SendsTo(tg::FakeBotApi& api, const std::string& chat) {
  return api.Sent(chat);
}

class NotificationTest : public NotificationServiceTest {};

TEST_F(NotificationTest, TheSameKeySentAHundredTimesAtOnceIsOneMessage) {
  StartReplica();
  std::atomic<int> duplicates{0}, failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 100; ++i) {
    threads.emplace_back([&] {
      v1::SendResponse response;
      grpc::Status s = Send(Text("alert:1", "500", "Тревога от Анны!"), &response);
      if (!s.ok()) ++failures;
      if (response.duplicate()) ++duplicates;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(duplicates.load(), 99);
  ASSERT_TRUE(WaitForState("alert:1", v1::DELIVERY_STATE_DELIVERED));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(SendsTo(telegram(), "500").size(), 1u);
  EXPECT_EQ(SendsTo(telegram(), "500")[0].text, "Тревога от Анны!");
  EXPECT_EQ(QueryInt("SELECT count(*) FROM notification.outbox_messages"), 1);
}

TEST_F(NotificationTest, TheSameKeyWithAnotherRequestIsRefused) {
  StartReplica();
  ASSERT_TRUE(Send(Text("k", "501", "one")).ok());
  grpc::Status s = Send(Text("k", "501", "two"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
}

TEST_F(NotificationTest, A429IsWaitedOutAndTheMessageGoesOnceWithoutCountingAnAttempt) {
  telegram().Script(FaultRule{.method = "sendMessage", .times = 1, .fault = Fault::RateLimited(1)});
  StartReplica();
  const absl::Time start = absl::Now();
  ASSERT_TRUE(Send(Text("m", "502", "hello")).ok());
  ASSERT_TRUE(WaitForState("m", v1::DELIVERY_STATE_DELIVERED));
  const std::vector<tg::FakeBotApi::Call> sent = SendsTo(telegram(), "502");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_GE(sent[0].received_at - start, absl::Seconds(1));
  EXPECT_EQ(Get("m")->attempts(), 1);
}

TEST_F(NotificationTest, ServerErrorsMakeADeadLetterAndARedriveDeliversItOnce) {
  telegram().Script(
      FaultRule{.method = "sendMessage", .times = tg::kForever, .fault = Fault::ServerError(502)});
  StartReplica();
  ASSERT_TRUE(Send(Text("m", "503", "hello")).ok());
  ASSERT_TRUE(WaitForState("m", v1::DELIVERY_STATE_DEAD));
  EXPECT_EQ(Get("m")->attempts(), 4);  // retries after 0, 50 and 100 ms, then dead
  EXPECT_EQ(telegram().Calls().size(), 4u);

  grpc::ClientContext list_context;
  list_context.AddMetadata("authorization", "Bearer test-admin-token");
  v1::ListDeadLettersRequest list_request;
  v1::ListDeadLettersResponse dead;
  ASSERT_TRUE(replica().admin_stub->ListDeadLetters(&list_context, list_request, &dead).ok());
  ASSERT_EQ(dead.deliveries_size(), 1);
  EXPECT_EQ(dead.deliveries(0).idempotency_key(), "m");
  EXPECT_NE(dead.deliveries(0).last_error().find("502"), std::string::npos);
  EXPECT_NE(dead.deliveries(0).request_json().find("hello"), std::string::npos);

  telegram().ClearScript();
  grpc::ClientContext redrive_context;
  redrive_context.AddMetadata("authorization", "Bearer test-admin-token");
  v1::RedriveRequest redrive;
  redrive.set_idempotency_key("m");
  v1::RedriveResponse redriven;
  ASSERT_TRUE(replica().admin_stub->Redrive(&redrive_context, redrive, &redriven).ok());
  EXPECT_EQ(redriven.redriven(), 1);
  ASSERT_TRUE(WaitForState("m", v1::DELIVERY_STATE_DELIVERED));
  EXPECT_EQ(SendsTo(telegram(), "503").size(), 1u);
}

TEST_F(NotificationTest, ABlockedUserIsDeadAtOnceAndTheRequesterIsTold) {
  telegram().BlockChat("504");
  StartReplica();
  v1::SendRequest request = Text("alert:2", "504", "Тревога!");
  request.mutable_report_to()->set_service("incident");
  request.mutable_report_to()->set_key("incident:7:alert:2");
  ASSERT_TRUE(Send(request).ok());
  ASSERT_TRUE(WaitForState("alert:2", v1::DELIVERY_STATE_DEAD));
  EXPECT_EQ(Get("alert:2")->attempts(), 1);
  ASSERT_TRUE(WaitFor([&] { return incident().outcomes().size() == 1; }, absl::Seconds(5)));
  const incident::v1::OnDeliveryOutcomeRequest outcome = incident().outcomes()[0];
  EXPECT_FALSE(outcome.delivered());
  EXPECT_EQ(outcome.reason(), "blocked");
  EXPECT_EQ(outcome.report_key(), "incident:7:alert:2");
  EXPECT_EQ(outcome.event_key(), "delivery:alert:2");
}

TEST_F(NotificationTest, ADeliveredMessageIsReportedWithItsProviderId) {
  StartReplica();
  v1::SendRequest request = Text("alert:3", "505", "Тревога!");
  request.mutable_report_to()->set_service("incident");
  request.mutable_report_to()->set_key("r3");
  ASSERT_TRUE(Send(request).ok());
  ASSERT_TRUE(WaitFor([&] { return incident().outcomes().size() == 1; }, absl::Seconds(5)));
  EXPECT_TRUE(incident().outcomes()[0].delivered());
  ASSERT_EQ(incident().outcomes()[0].provider_message_ids_size(), 1);
  EXPECT_EQ(incident().outcomes()[0].provider_message_ids(0), "1");
}

TEST_F(NotificationTest, AnOverlongTextIsSplitIntoMessagesInOrderWithTheKeyboardOnTheLast) {
  StartReplica();
  std::string text;
  for (int i = 0; text.size() < 18000; ++i)
    absl::StrAppend(&text, i == 0 ? "" : "\n", "строка ", i);  // ~10k units
  v1::SendRequest request = Text("long", "506", text);
  v1::Button* button = request.add_buttons();
  button->set_text("Я беру ответственность");
  button->set_data("ack:1");
  ASSERT_TRUE(Send(request).ok());
  ASSERT_TRUE(WaitForState("long", v1::DELIVERY_STATE_DELIVERED));
  const std::vector<tg::FakeBotApi::Call> sent = SendsTo(telegram(), "506");
  ASSERT_GE(sent.size(), 3u);
  std::string joined;
  for (size_t i = 0; i < sent.size(); ++i) {
    joined += sent[i].text + (i + 1 < sent.size() ? "\n" : "");
    EXPECT_EQ(sent[i].body_json.find("inline_keyboard") != std::string::npos, i + 1 == sent.size()) << i;
  }
  EXPECT_TRUE(joined == text) << "the parts do not rebuild the text (" << joined.size() << " vs "
                              << text.size() << " bytes)";
  EXPECT_EQ(Get("long")->provider_message_ids_size(), static_cast<int>(sent.size()));
}

TEST_F(NotificationTest, AnEditByKeyWaitsForItsMessageAndReplacesTextAndKeyboard) {
  // The first send is slow, so the edit arrives before its message was sent.
  telegram().Script(
      FaultRule{.method = "sendMessage", .times = 1, .fault = Fault::Slow(absl::Milliseconds(400))});
  StartReplica();
  v1::SendRequest request = Text("alert:4", "507", "Тревога от Анны!");
  v1::Button* button = request.add_buttons();
  button->set_text("Я беру ответственность");
  button->set_data("ack:4");
  ASSERT_TRUE(Send(request).ok());
  v1::EditRequest edit;
  edit.set_idempotency_key("alert:4:taken");
  edit.set_target_key("alert:4");
  edit.set_template_id("panic.acknowledged_other");
  (*edit.mutable_params())["guardian"] = "Анна";
  ASSERT_TRUE(Edit(edit).ok());
  ASSERT_TRUE(WaitForState("alert:4:taken", v1::DELIVERY_STATE_DELIVERED));
  std::optional<tg::FakeBotApi::Message> message = telegram().FindMessage(kMainToken, "507", 1);
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->text, "Уже взял(а) Анна");
  EXPECT_EQ(message->inline_keyboard_json, "");  // the button is gone
  EXPECT_EQ(SendsTo(telegram(), "507").size(), 1u);

  // An edit after the send, and one of an unknown key.
  v1::EditRequest again;
  again.set_idempotency_key("alert:4:again");
  again.set_target_key("alert:4");
  again.set_text("Тревога закрыта");
  ASSERT_TRUE(Edit(again).ok());
  ASSERT_TRUE(WaitForState("alert:4:again", v1::DELIVERY_STATE_DELIVERED));
  EXPECT_EQ(telegram().FindMessage(kMainToken, "507", 1)->text, "Тревога закрыта");
  again.set_idempotency_key("x");
  again.set_target_key("no-such-key");
  EXPECT_EQ(Edit(again).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(NotificationTest, BadRequestsAreRefusedWithTheReasonAndNothingIsStored) {
  StartReplica();
  auto refused = [&](v1::SendRequest request, const std::string& reason) {
    grpc::Status s = Send(request);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << reason << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(reason), std::string::npos) << s.error_message();
  };
  v1::SendRequest r = Text("k1", "600", "hi");
  r.set_bot_id("nope");
  refused(r, "unknown bot nope");
  refused(Text("k2", "", "hi"), "chat_id is required");
  refused(Text("", "600", "hi"), "idempotency_key is required");
  refused(Text("k3", "600", ""), "text is empty");
  r = Text("k4", "600", "");
  r.set_template_id("no.such.template");
  refused(r, "unknown template");
  r.set_template_id("panic.alert");
  r.set_locale("fr");
  refused(r, "unknown locale");
  r.set_locale("en");
  refused(r, "needs parameter {name}");
  r = Text("k5", "600", "hi");
  v1::Button* b = r.add_buttons();
  b->set_text("ok");
  b->set_data(std::string(65, 'x'));
  refused(r, "callback_data is 65 bytes");
  r = Text("k6", "600", "hi");
  r.mutable_report_to()->set_service("billing");
  refused(r, "report_to.service");
  EXPECT_EQ(QueryInt("SELECT count(*) FROM notification.outbox_messages"), 0);
}

TEST_F(NotificationTest, ProviderFailuresAreRetriedAndNeverCrashAnything) {
  telegram().Script(FaultRule{.method = "sendMessage", .chat_id = "601", .fault = Fault::DropBeforeAccept()});
  telegram().Script(FaultRule{.method = "sendMessage", .chat_id = "602", .fault = Fault::ServerError(503)});
  telegram().Script(
      FaultRule{.method = "sendMessage", .chat_id = "603", .fault = Fault::Slow(absl::Seconds(3))});
  telegram().Script(FaultRule{.method = "sendMessage", .chat_id = "604", .fault = Fault::MalformedBody()});
  StartReplica();
  for (const char* chat : {"601", "602", "603", "604"}) ASSERT_TRUE(Send(Text(chat, chat, "hi")).ok());
  for (const char* chat : {"601", "602", "603", "604"}) {
    ASSERT_TRUE(WaitForState(chat, v1::DELIVERY_STATE_DELIVERED, absl::Seconds(15))) << chat;
  }
  // Every call finished (the slow one answers after the service gave up on it).
  ASSERT_TRUE(telegram().WaitForCalls(telegram().Calls().size(), absl::Seconds(5)));
  // Refused before it was carried out: exactly once.
  EXPECT_EQ(SendsTo(telegram(), "601").size(), 1u);
  EXPECT_EQ(SendsTo(telegram(), "602").size(), 1u);
  // In doubt (the answer came too late, or could not be read): sent again, so never lost; the first copy is
  // the one whose answer the service never got.
  for (const char* chat : {"603", "604"}) {
    const std::vector<tg::FakeBotApi::Call> sent = SendsTo(telegram(), chat);
    ASSERT_EQ(sent.size(), 2u) << chat;
    EXPECT_FALSE(sent[0].answered && sent[0].status == 200 && sent[0].fault.empty()) << chat;
  }
}

TEST_F(NotificationTest, TwoReplicasTogetherKeepEveryChatAndTheBotWithinTheirLimits) {
  StartReplica();
  StartReplica();
  constexpr int kChats = 20;
  constexpr int kMessages = 200;
  for (int i = 0; i < kMessages; ++i) {
    const std::string chat = std::to_string(700 + i % kChats);
    ASSERT_TRUE(Send(Text(absl::StrCat("m", i), chat, absl::StrCat("message ", i))).ok());
  }
  ASSERT_TRUE(WaitFor([&] { return telegram().Calls().size() >= kMessages; }, absl::Seconds(30)));
  const std::vector<tg::FakeBotApi::Call> calls = telegram().Calls();
  ASSERT_EQ(calls.size(), static_cast<size_t>(kMessages));
  // What the fake sees may be a few ms closer together than the claims that allowed it.
  const absl::Duration jitter = absl::Milliseconds(15);
  std::map<std::string, std::vector<absl::Time>> by_chat;
  for (const auto& c : calls) by_chat[c.chat_id].push_back(c.received_at);
  for (auto& [chat, times] : by_chat) {
    std::sort(times.begin(), times.end());
    ASSERT_EQ(times.size(), static_cast<size_t>(kMessages / kChats));
    for (size_t i = 1; i < times.size(); ++i)
      EXPECT_GE(times[i] - times[i - 1], absl::Milliseconds(200) - jitter);
  }
  std::vector<absl::Time> all;
  for (const auto& c : calls) all.push_back(c.received_at);
  std::sort(all.begin(), all.end());
  for (size_t i = 30; i < all.size(); ++i) EXPECT_GE(all[i] - all[i - 30], absl::Seconds(1) - jitter) << i;
}

TEST_F(NotificationTest, ManyDeadLettersAlertTheOperatorsOnce) {
  config().dead_letter_alert_threshold = 3;
  StartReplica();
  for (int i = 0; i < 6; ++i) {
    const std::string chat = std::to_string(800 + i);
    telegram().BlockChat(chat);
    ASSERT_TRUE(Send(Text(absl::StrCat("d", i), chat, "hi")).ok());
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        return QueryInt("SELECT count(*) FROM notification.outbox_messages WHERE status = 'dead'") == 6;
      },
      absl::Seconds(10)));
  ASSERT_TRUE(WaitFor([&] { return SendsTo(telegram(), kOperatorChat).size() == 1; }, absl::Seconds(5)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::vector<tg::FakeBotApi::Call> alerts = SendsTo(telegram(), kOperatorChat);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_NE(alerts[0].text.find('4'), std::string::npos) << alerts[0].text;  // the 4th crossed the threshold
}

TEST_F(NotificationTest, ATelegramFailureFallsBackToWhatsAppAndThatOutcomeIsReported) {
  telegram().BlockChat("900");
  StartReplica();
  v1::SendRequest request = Text("alert:5", "900", "Тревога от Анны!");
  request.mutable_fallback()->set_channel(v1::CHANNEL_WHATSAPP);
  request.mutable_fallback()->set_chat_id("+34600000001");
  request.mutable_report_to()->set_service("incident");
  request.mutable_report_to()->set_key("r5");
  ASSERT_TRUE(Send(request).ok());
  ASSERT_TRUE(WaitForState("alert:5#fallback", v1::DELIVERY_STATE_DELIVERED));
  ASSERT_EQ(whatsapp().Sent("+34600000001").size(), 1u);
  EXPECT_EQ(whatsapp().Sent("+34600000001")[0].text, "Тревога от Анны!");
  ASSERT_TRUE(WaitFor([&] { return incident().outcomes().size() == 1; }, absl::Seconds(5)));
  EXPECT_TRUE(incident().outcomes()[0].delivered());
  EXPECT_EQ(incident().outcomes()[0].report_key(), "r5");
  EXPECT_EQ(Get("alert:5")->state(), v1::DELIVERY_STATE_DEAD);
  EXPECT_EQ(Get("alert:5")->fallback_key(), "alert:5#fallback");
}

TEST_F(NotificationTest, CallbackAnswersGoOncePerQuery) {
  StartReplica();
  v1::AnswerCallbackRequest request;
  request.set_callback_query_id("cbq-1");
  request.set_template_id("panic.already_acknowledged");
  (*request.mutable_params())["guardian"] = "Анна";
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext context;
    v1::AnswerCallbackResponse response;
    ASSERT_TRUE(replica().stub->AnswerCallback(&context, request, &response).ok());
    EXPECT_EQ(response.duplicate(), i > 0);
  }
  ASSERT_TRUE(WaitForState("callback:cbq-1", v1::DELIVERY_STATE_DELIVERED));
  int answers = 0;
  for (const auto& c : telegram().Calls()) answers += c.method == "answerCallbackQuery";
  EXPECT_EQ(answers, 1);
}

TEST_F(NotificationTest, AdminListsBotsAndSetsWebhooksAndNeedsTheToken) {
  Replica& r = StartReplica();
  EXPECT_TRUE(r.service->LearnBots());
  EXPECT_EQ(r.service->BotUsername("main"), "main_test_bot");
  {
    grpc::ClientContext context;
    v1::SetWebhooksRequest request;
    request.set_drop_pending_updates(true);
    v1::SetWebhooksResponse response;
    EXPECT_EQ(r.admin_stub->SetWebhooks(&context, request, &response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer test-admin-token");
  v1::SetWebhooksRequest request;
  request.set_drop_pending_updates(true);
  v1::SetWebhooksResponse response;
  ASSERT_TRUE(r.admin_stub->SetWebhooks(&context, request, &response).ok());
  ASSERT_EQ(response.results_size(), 2);
  for (const auto& result : response.results()) EXPECT_TRUE(result.ok()) << result.error();
  grpc::ClientContext list_context;
  list_context.AddMetadata("authorization", "Bearer test-admin-token");
  v1::ListBotsResponse bots;
  ASSERT_TRUE(r.admin_stub->ListBots(&list_context, {}, &bots).ok());
  ASSERT_EQ(bots.bots_size(), 2);
  EXPECT_EQ(bots.bots(0).id(), "main");
  EXPECT_EQ(bots.bots(0).username(), "main_test_bot");
  EXPECT_EQ(bots.bots(0).webhook_url(), "https://edge.example.test/webhook/main");
  bool secret_sent = false;
  for (const auto& c : telegram().Calls()) {
    secret_sent |= c.method == "setWebhook" && c.body_json.find("main-secret") != std::string::npos &&
                   c.body_json.find("\"drop_pending_updates\":true") != std::string::npos;
  }
  EXPECT_TRUE(secret_sent);
}

}  // namespace
}  // namespace protectogram::notification::testing
