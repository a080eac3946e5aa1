// The real protectogram-notification binary, SIGKILLed while it is sending and started again: every message
// arrives, and the only one that can arrive twice is one whose send was in flight at the kill (the Bot API has
// no idempotency key: a request Telegram carried out but whose answer the dead process never read is in
// doubt, and is sent again rather than lost).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "libs/providers/telegram/fake_bot_api.h"
#include "protectogram/notification/v1/notification.grpc.pb.h"
#include "tests/support/child_process.h"
#include "tests/support/pg_harness.h"

namespace protectogram::notification::testing {
namespace {

namespace v1 = protectogram::notification::v1;
namespace tg = providers::telegram;
using std::chrono::milliseconds;

constexpr char kToken[] = "111:main-token";

std::string NotificationBinary() {
  const char* dir = std::getenv("PROTECTOGRAM_BIN_DIR");
  return dir != nullptr && *dir != '\0' ? protectogram::testing::BinaryPath("protectogram-notification")
                                        : NOTIFICATION_BINARY;
}

class NotificationProcessTest : public test::PgTest {
 protected:
  std::unique_ptr<protectogram::testing::ChildProcess> Start(const std::string& api, int grpc_port) {
    return std::make_unique<protectogram::testing::ChildProcess>(
        NotificationBinary(), std::vector<std::string>{},
        std::map<std::string, std::string>{
            {"APP_ENV", "dev"},
            {"DATABASE_URL", db_url_for_role("protectogram_notification")},
            {"GRPC_PORT", std::to_string(grpc_port)},
            {"METRICS_PORT", std::to_string(protectogram::testing::FreePort())},
            {"TELEGRAM_BOT_TOKEN", kToken},
            {"TELEGRAM_WEBHOOK_SECRET", "main-secret"},
            {"TELEGRAM_API_BASE_URL", api},
            {"INCIDENT_ADDR", "127.0.0.1:1"},
            {"NOTIFY_TELEGRAM_BOT_PER_SECOND", "100000"},
            {"NOTIFY_RETRY_DELAYS_MS", "0,50,100"},
            {"NOTIFY_PROVIDER_TIMEOUT_MS", "1000"},
            {"NOTIFY_LEASE_MS", "3000"},
            {"NOTIFY_SEND_THREADS", "4"}});
  }
};

TEST_F(NotificationProcessTest, KilledMidSendAndRestartedEveryMessageArrivesAndOnlyAnInFlightOneTwice) {
  auto api = tg::FakeBotApi::Start({.bots = {{kToken, "main_test_bot"}}});
  ASSERT_TRUE(api.ok()) << api.status();
  // Every answer takes 20 ms, so sends are in flight when the kill comes.
  (*api)->Script(
      {.method = "sendMessage", .times = tg::kForever, .fault = tg::Fault::Slow(absl::Milliseconds(20))});
  const int port = protectogram::testing::FreePort();
  auto process = Start((*api)->base_url(), port);
  auto stub = v1::NotificationService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  constexpr int kMessages = 200;
  for (int i = 0; i < kMessages; ++i) {
    v1::SendRequest request;
    request.set_idempotency_key(absl::StrCat("m", i));
    request.set_chat_id(std::to_string(1000 + i));
    request.set_text(absl::StrCat("message ", i));
    for (int attempt = 0;; ++attempt) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      context.set_wait_for_ready(true);
      v1::SendResponse response;
      grpc::Status s = stub->Send(&context, request, &response);
      if (s.ok()) break;
      ASSERT_LT(attempt, 10) << s.error_message() << process->Output();
    }
  }
  // Kill it a third of the way through, with sends in flight.
  ASSERT_TRUE((*api)->WaitForCalls([](const auto& calls) { return calls.size() >= kMessages / 3; },
                                   absl::Seconds(20)))
      << process->Output();
  ASSERT_TRUE(process->Signal(SIGKILL));
  ASSERT_TRUE(process->WaitExit(milliseconds(5000)).has_value());
  const size_t before_restart = (*api)->Calls().size();
  EXPECT_LT(before_restart, static_cast<size_t>(kMessages));

  process = Start((*api)->base_url(), port);
  ASSERT_TRUE((*api)->WaitForCalls(
      [](const auto& calls) {
        std::set<std::string> chats;
        for (const auto& c : calls) {
          if (c.accepted) chats.insert(c.chat_id);
        }
        return chats.size() == kMessages;
      },
      absl::Seconds(30)))
      << process->Output();
  process->Signal(SIGTERM);
  process->WaitExit(milliseconds(5000));

  int twice = 0;
  for (int i = 0; i < kMessages; ++i) {
    const std::vector<tg::FakeBotApi::Call> sent = (*api)->Sent(std::to_string(1000 + i));
    ASSERT_GE(sent.size(), 1u) << i;
    ASSERT_LE(sent.size(), 2u) << i;
    if (sent.size() == 2) {
      ++twice;
      // The first copy's answer never reached a live process: it was in flight at the kill.
      EXPECT_FALSE(sent[0].answered) << "message " << i << " was sent twice though its first answer was read";
    }
  }
  EXPECT_LE(twice, 4);  // at most one per sender thread
}

}  // namespace
}  // namespace protectogram::notification::testing
