// Scale-out end to end: two replicas of every process of the product on the harness Postgres — two edges
// (the Telegram updates go to each in turn), two incident, two notification and two telephony services —
// with each pair of services addressed as one gRPC target, "ipv4:127.0.0.1:P1,127.0.0.1:P2", which
// kernel::ServiceChannel balances round robin (as it would a headless Service's or Fly's .internal DNS name).
// A traveler registers with three guardians, presses panic, and the first guardian takes it by pressing 1 on
// the call. Every guardian is alerted once, one call is placed, the traveler is told once, the incident is
// acknowledged, and every replica did some of the work (its own /metrics say so). What keeps the replicas
// from doing anything twice is Postgres: the edges' shared inbox (one row per update, claimed SKIP LOCKED by
// either edge's relay), the services' inboxes (one effect per event key), their jobs and outboxes (claimed
// SKIP LOCKED). See docs/architecture.md, "Scale-out".
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libs/kernel/rpc.h"
#include "libs/providers/telnyx/fake_call_control.h"
#include "protectogram/incident/v1/incident.grpc.pb.h"
#include "tests/e2e/incident/panic_fixture.h"

namespace protectogram::incident {
namespace {

using providers::telnyx::CallScript;

constexpr char kAlert[] = "Тревога от Анна!";

std::string Targets(int a, int b) { return absl::StrCat("ipv4:127.0.0.1:", a, ",127.0.0.1:", b); }

class ScaleOutE2eTest : public PanicE2eTest {
 protected:
  void StartEverythingTwice() {
    ports_edge1_ = testing::FreePort();
    ports_incident1_ = testing::FreePort();
    ports_notification1_ = testing::FreePort();
    ports_telephony1_ = testing::FreePort();
    incident_target_ = Targets(ports_.incident, ports_incident1_);
    notification_target_ = Targets(ports_.notification, ports_notification1_);
    telephony_target_ = Targets(ports_.telephony, ports_telephony1_);

    StartFakes();
    StartEdge();
    metrics_ports_["edge0"] = ports_.edge;  // the edge serves /metrics on its HTTP port
    // The second edge: Post feeds the two in turn. A call's Telnyx webhooks go to the edge in front of the
    // telephony replica that dialed it (PUBLIC_BASE_URL).
    StartEdgeReplica(1, ports_edge1_);
    more_edge_ports_ = {ports_edge1_};
    StartNotification();
    StartNotificationReplica(1, ports_notification1_);
    StartTelephony();
    StartTelephonyReplica(1, ports_telephony1_,
                          {{"PUBLIC_BASE_URL", absl::StrCat("http://127.0.0.1:", ports_edge1_)}});
    StartIncident(0);
    StartIncident(1, ports_incident1_);
    admin_ = v1::IncidentAdminService::NewStub(kernel::ServiceChannel(incident_target_));

    // Every service replica ready, and both edges see every service SERVING: from here on, each channel has
    // both replicas in its rotation.
    for (const char* name :
         {"incident0", "incident1", "notification", "notification1", "telephony", "telephony1"}) {
      ASSERT_TRUE(WaitUntil([&] { return testing::HttpGet(metrics_ports_[name], "/health/ready") == 200; }))
          << name << "\n"
          << Dump();
    }
    for (int port : {ports_.edge, ports_edge1_}) {
      ASSERT_TRUE(WaitUntil([&] {
        std::string body;
        return testing::HttpGet(port, "/health", &body) == 200 &&
               absl::StrContains(body,
                                 R"({"incident":"SERVING","notification":"SERVING","telephony":"SERVING"})");
      })) << "edge on "
          << port << "\n"
          << Dump();
    }
  }

  // The sum of the samples of `name` on `process`'s /metrics whose labels contain every one of `with` and
  // none of `without` (0 when there is none; -1 when /metrics does not answer).
  double Sum(const std::string& process, const std::string& name, const std::vector<std::string>& with = {},
             const std::vector<std::string>& without = {}) const {
    auto it = metrics_ports_.find(process);
    if (it == metrics_ports_.end()) return -1;
    std::string body;
    if (testing::HttpGet(it->second, "/metrics", &body) != 200) return -1;
    double sum = 0;
    for (absl::string_view line : absl::StrSplit(body, '\n')) {
      if (!absl::StartsWith(line, name) || line.size() <= name.size()) continue;
      if (line[name.size()] != '{' && line[name.size()] != ' ') continue;
      const size_t space = line.rfind(' ');
      const absl::string_view labels = line.substr(0, space);
      bool keep = true;
      for (const std::string& w : with) keep = keep && absl::StrContains(labels, w);
      for (const std::string& w : without) keep = keep && !absl::StrContains(labels, w);
      double v = 0;
      if (keep && absl::SimpleAtod(line.substr(space + 1), &v)) sum += v;
    }
    return sum;
  }

  // gRPC calls `process` answered OK, the test's own (health checks, admin calls, reflection) aside.
  double Served(const std::string& process) const {
    return Sum(process, "grpc_server_handled_total", {R"(code="OK")"},
               {R"(service="grpc.health.v1.Health")", R"(service="grpc.reflection)", "AdminService"});
  }

  std::string Work(const std::string& process) const {
    return absl::StrCat(process, ": served ", Served(process), ", jobs done ",
                        Sum(process, "jobs_total", {R"(result="done")"}), ", outbox sent ",
                        Sum(process, "outbox_sent_total"), "\n");
  }

  std::string DumpAll() const {
    std::string out = Dump();
    for (const auto& [name, p] : replicas_) {
      const std::string o = p->Output();
      out += absl::StrCat("\n--- ", name, ":\n", o.substr(o.size() > 3000 ? o.size() - 3000 : 0));
    }
    return out;
  }

  int ports_edge1_ = 0, ports_incident1_ = 0, ports_notification1_ = 0, ports_telephony1_ = 0;
};

TEST_F(ScaleOutE2eTest, TwoReplicasOfEverythingOnePanicOneAlertEachOneCallOneAcknowledgement) {
  const absl::Time started = absl::Now();
  StartEverythingTwice();
  Family f = RegisterFamily(3);
  // The first guardian answers at once and presses 1; nobody else would be called.
  CallScript press = CallScript::PressDigit("1");
  press.answer_after = absl::Milliseconds(200);
  press.press_after = absl::Milliseconds(200);
  telnyx_->Script(f.guardians[0].phone, press);
  telnyx_->Script(f.guardians[1].phone, CallScript::NoAnswer());
  telnyx_->Script(f.guardians[2].phone, CallScript::NoAnswer());

  SendText(f.traveler, "/panic");
  for (const Member& g : f.guardians) ASSERT_TRUE(WaitForMessage(g.chat, kAlert)) << DumpAll();
  ASSERT_TRUE(WaitForMessage(f.traveler.chat, "Тревога поднята")) << DumpAll();
  const int64_t incident_id = ActiveIncidentId(f.traveler);
  ASSERT_GT(incident_id, 0);
  ASSERT_TRUE(WaitForMessage(f.traveler.chat, "Иван берёт ответственность")) << DumpAll();
  ASSERT_TRUE(WaitForMessage(f.guardians[0].chat, "Вы взяли ответственность")) << DumpAll();
  EXPECT_TRUE(WaitForAlertText(f.guardians[1], "Уже взял(а) Иван")) << DumpAll();
  EXPECT_TRUE(WaitForAlertText(f.guardians[2], "Уже взял(а) Иван")) << DumpAll();
  // A second copy of anything (an event forwarded by both edges, a job or an outbox row run by both
  // replicas) would have arrived by now.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));

  v1::Incident incident = GetIncident(incident_id);
  EXPECT_EQ(incident.status(), v1::INCIDENT_STATUS_ACKNOWLEDGED);
  EXPECT_EQ(incident.acknowledged_by_name(), "Иван");
  EXPECT_EQ(incident.calls_placed(), 1);
  for (const Member& g : f.guardians) {
    EXPECT_EQ(CountMessages(g.chat, kAlert), 1) << g.name << "\n" << DumpAll();
  }
  EXPECT_EQ(CountMessages(f.traveler.chat, "Тревога поднята"), 1);
  EXPECT_EQ(CountMessages(f.traveler.chat, "берёт ответственность"), 1) << DumpAll();
  EXPECT_EQ(CountMessages(f.guardians[0].chat, "Вы взяли ответственность"), 1);
  // One cascade step, one call: the first guardian's number, dialed once.
  EXPECT_EQ(DialedNumbers(), std::vector<std::string>{f.guardians[0].phone});
  EXPECT_EQ(telnyx_->DialCountFor(f.guardians[0].phone), 1u);
  EXPECT_EQ(telnyx_->DialCountFor(f.guardians[1].phone), 0u);
  EXPECT_EQ(telnyx_->DialCountFor(f.guardians[2].phone), 0u);
  EXPECT_EQ(telnyx_->Calls().size(), 1u);

  // Every replica did some of it. The services: gRPC calls they answered (round robin spreads each caller's
  // calls over both), jobs they ran and outbox rows they sent (claimed SKIP LOCKED by either). The edges:
  // updates each stored (Post fed them in turn) and inbox rows each relayed.
  std::string work;
  for (const char* p :
       {"incident0", "incident1", "notification", "notification1", "telephony", "telephony1"}) {
    work += Work(p);
  }
  for (const char* p :
       {"incident0", "incident1", "notification", "notification1", "telephony", "telephony1"}) {
    const double done = Served(p) + Sum(p, "jobs_total", {R"(result="done")"}) + Sum(p, "outbox_sent_total");
    EXPECT_GT(done, 0) << p << " did nothing\n" << work;
  }
  // Each incident replica handled some of the chat events, each notification replica some of the sends.
  EXPECT_GT(Sum("incident0", "grpc_server_handled_total", {R"(method="HandleChatEvent")"}), 0) << work;
  EXPECT_GT(Sum("incident1", "grpc_server_handled_total", {R"(method="HandleChatEvent")"}), 0) << work;
  EXPECT_GT(Sum("notification", "outbox_sent_total"), 0) << work;
  EXPECT_GT(Sum("notification1", "outbox_sent_total"), 0) << work;
  for (const char* edge : {"edge0", "edge1"}) {
    EXPECT_GT(Sum(edge, "webhook_accepted_total", {R"(outcome="stored")"}), 0) << edge;
    EXPECT_GT(Sum(edge, "inbox_delivered_total", {R"(result="delivered")"}), 0) << edge;
  }
  const absl::Duration took = absl::Now() - started;
  EXPECT_LT(took, absl::Seconds(40));
  std::cout << "scale-out: " << took << "\n" << work;
}

}  // namespace
}  // namespace protectogram::incident
