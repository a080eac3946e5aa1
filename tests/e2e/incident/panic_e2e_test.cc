// Panic v1 across real processes: protectogram-edge, -incident, -notification and -telephony on the harness
// Postgres, with the Telegram Bot API and Telnyx Call Control faked at the network boundary (FakeBotApi takes
// the notification service's sends; FakeTelnyx places calls and posts signed webhooks to the edge). Every
// step is driven by real signed webhooks: Telegram updates to /webhook/main, Telnyx events to /telnyx/webhook.
// Ring times are scaled down by the Telnyx fake; backoffs and reminders shortened through configuration.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/http/client.h"
#include "libs/kernel/rpc.h"
#include "libs/providers/telegram/fake_bot_api.h"
#include "libs/providers/telnyx/fake_call_control.h"
#include "protectogram/incident/v1/incident.grpc.pb.h"
#include "tests/e2e/incident/panic_fixture.h"

namespace protectogram::incident {
namespace {

using std::chrono::milliseconds;

TEST_F(PanicE2eTest, RegistrationInvitesPanicCallsInOrderAndDtmfAcknowledges) {
  StartAll();
  Family f = RegisterFamily(3);
  // Nobody answers the first guardian; the second presses 1.
  telnyx_->Script(f.guardians[0].phone, providers::telnyx::CallScript::NoAnswer());
  telnyx_->Script(f.guardians[1].phone, providers::telnyx::CallScript::PressDigit("1"));
  telnyx_->Script(f.guardians[2].phone, providers::telnyx::CallScript::PressDigit("1"));

  SendText(f.traveler, "/panic");
  // Every guardian is alerted with the ack button; the traveler is confirmed with the cancel button.
  for (const Member& g : f.guardians) {
    ASSERT_TRUE(WaitForMessage(g.chat, "Тревога от Анна!")) << Dump();
  }
  ASSERT_TRUE(WaitForMessage(f.traveler.chat, "Тревога поднята")) << Dump();
  const int64_t incident_id = ActiveIncidentId(f.traveler);
  ASSERT_GT(incident_id, 0);
  // The second guardian takes it by pressing 1: acknowledged, everyone told, no third call.
  ASSERT_TRUE(WaitForMessage(f.traveler.chat, "Мария берёт ответственность")) << Dump();
  ASSERT_TRUE(WaitForMessage(f.guardians[1].chat, "Вы взяли ответственность")) << Dump();
  EXPECT_TRUE(WaitForMessage(f.guardians[1].chat, f.traveler.phone));
  v1::Incident incident = GetIncident(incident_id);
  EXPECT_EQ(incident.status(), v1::INCIDENT_STATUS_ACKNOWLEDGED);
  EXPECT_EQ(incident.acknowledged_by_name(), "Мария");
  // The calls went in order, one at a time, and stopped at the acknowledgement.
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_EQ(DialedNumbers(), (std::vector<std::string>{f.guardians[0].phone, f.guardians[1].phone}));
  // The other guardians' alerts now say who took it.
  EXPECT_TRUE(WaitForAlertText(f.guardians[0], "Уже взял(а) Мария")) << Dump();
  EXPECT_TRUE(WaitForAlertText(f.guardians[2], "Уже взял(а) Мария")) << Dump();
  // The timeline has it all.
  std::vector<std::string> whats;
  for (const auto& e : incident.timeline()) whats.push_back(e.what());
  EXPECT_NE(std::find(whats.begin(), whats.end(), "panic"), whats.end());
  EXPECT_NE(std::find(whats.begin(), whats.end(), "call_placed"), whats.end());
  EXPECT_NE(std::find(whats.begin(), whats.end(), "acknowledged"), whats.end());
  for (const auto& e : incident.timeline()) EXPECT_EQ(e.correlation_id(), absl::StrCat("incident:", incident_id));
}

}  // namespace
}  // namespace protectogram::incident
