// The panic end-to-end fixture: every process of the product on the harness Postgres, the Telegram Bot API
// and Telnyx faked at the network boundary, and helpers that act as the people do — through signed Telegram
// updates posted to the edge — and look at what they received (the Telegram fake's chats, the Telnyx fake's
// calls). Shared by panic_e2e_test.cc, scale_out_e2e_test.cc (second replicas of every process: the
// *Replica starters, the *_target_ addresses, more_edge_ports_) and the benchmark.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <boost/json.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libs/http/client.h"
#include "libs/kernel/rpc.h"
#include "libs/providers/telegram/fake_bot_api.h"
#include "libs/providers/telnyx/fake_call_control.h"
#include "protectogram/incident/v1/incident.grpc.pb.h"
#include "tests/support/child_process.h"
#include "tests/support/pg_harness.h"

namespace protectogram::incident {

inline constexpr char kBotToken[] = "111:AAA";
inline constexpr char kBotUsername[] = "protectogram_test_bot";
inline constexpr char kWebhookSecret[] = "e2e-webhook-secret";
inline constexpr char kAdminToken[] = "e2e-admin-token-123";

// A person in Telegram: their user id is their private chat's id.
struct Member {
  std::string name;
  int64_t telegram_id = 0;
  std::string chat;   // = telegram_id as text
  std::string phone;  // E.164
};

struct Family {
  Member traveler;
  std::vector<Member> guardians;
};

inline bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(20)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

class PanicE2eTest : public test::PgTest {
 protected:
  struct Ports {
    int edge = 0, incident = 0, notification = 0, telephony = 0;
  };

  void SetUp() override {
    PgTest::SetUp();
    ports_.edge = testing::FreePort();
    ports_.incident = testing::FreePort();
    ports_.notification = testing::FreePort();
    ports_.telephony = testing::FreePort();
  }

  void TearDown() override {
    replicas_.clear();
    for (auto& p : incident_) p.reset();
    telephony_.reset();
    notification_.reset();
    edge_.reset();
    PgTest::TearDown();
  }

  std::string EdgeUrl() const { return absl::StrCat("http://127.0.0.1:", ports_.edge); }
  static std::string Addr(int port) { return absl::StrCat("127.0.0.1:", port); }

  // Extra settings for the incident processes (e.g. a shorter reminder interval).
  std::map<std::string, std::string> incident_env_;
  // Where the processes send (INCIDENT_ADDR, NOTIFICATION_ADDR, TELEPHONY_ADDR; set before starting them):
  // "" is the one replica on ports_.<service>; a scale-out test names several, as one gRPC target
  // ("ipv4:127.0.0.1:P1,127.0.0.1:P2"), which kernel::ServiceChannel balances round robin.
  std::string incident_target_, notification_target_, telephony_target_;
  // The Telnyx fake's time_scale (set before StartAll): 0.02 plays a 25 s ring in 0.5 s; 1.0 lets a call
  // ring for real (a call that must still ring when the test acts on it).
  double telnyx_time_scale_ = 0.02;

  void StartFakes() {
    auto bot = providers::telegram::FakeBotApi::Start({.bots = {{kBotToken, kBotUsername}}});
    ASSERT_TRUE(bot.ok()) << bot.status();
    telegram_ = *std::move(bot);
    auto telnyx = providers::telnyx::FakeTelnyx::Start(
        {.webhook_url = EdgeUrl() + "/telnyx/webhook",
         .time_scale = telnyx_time_scale_,
         .webhook_retry_delays = {absl::Milliseconds(100), absl::Milliseconds(300), absl::Seconds(1)}});
    ASSERT_TRUE(telnyx.ok()) << telnyx.status();
    telnyx_ = *std::move(telnyx);
  }

  // `process` names the metrics port kept for it (metrics_ports_): "edge", "incident0", ...
  std::map<std::string, std::string> CommonEnv(const std::string& role, const std::string& process = "") {
    const int metrics_port = testing::FreePort();
    metrics_ports_[process.empty() ? role : process] = metrics_port;
    return {{"APP_ENV", "dev"},
            {"DATABASE_URL", db_url_for_role("protectogram_" + role)},
            {"METRICS_PORT", std::to_string(metrics_port)},
            {"ADMIN_TOKEN", kAdminToken},
            {"INCIDENT_ADDR", incident_target_.empty() ? Addr(ports_.incident) : incident_target_},
            {"NOTIFICATION_ADDR",
             notification_target_.empty() ? Addr(ports_.notification) : notification_target_},
            {"TELEPHONY_ADDR", telephony_target_.empty() ? Addr(ports_.telephony) : telephony_target_},
            {"PUBLIC_BASE_URL", EdgeUrl()},
            {"TELEGRAM_BOT_TOKEN", kBotToken},
            {"TELEGRAM_WEBHOOK_SECRET", kWebhookSecret},
            {"SHUTDOWN_GRACE_MS", "2000"}};
  }

  void StartEdge() {
    edge_ = std::make_unique<testing::ChildProcess>(testing::BinaryPath("protectogram-edge"),
                                                    std::vector<std::string>{}, EdgeEnv("edge", ports_.edge));
    ASSERT_TRUE(WaitUntil([&] { return testing::HttpGet(ports_.edge, "/health/live") == 200; }))
        << edge_->Output();
  }
  std::map<std::string, std::string> EdgeEnv(const std::string& process, int http_port) {
    auto env = CommonEnv("edge", process);
    env["HTTP_PORT"] = std::to_string(http_port);
    env["TELNYX_PUBLIC_KEY"] = providers::telnyx::kFakePublicKey;
    env["EDGE_FORWARD_RETRY_MAX_MS"] = "200";
    env["SECRET_KEY"] = "e2e-secret-key-of-at-least-32-characters";
    return env;
  }

  void StartNotification() {
    notification_ = std::make_unique<testing::ChildProcess>(
        testing::BinaryPath("protectogram-notification"), std::vector<std::string>{},
        NotificationEnv("notification", ports_.notification));
  }
  std::map<std::string, std::string> NotificationEnv(const std::string& process, int grpc_port) {
    auto env = CommonEnv("notification", process);
    env["GRPC_PORT"] = std::to_string(grpc_port);
    env["TELEGRAM_API_BASE_URL"] = telegram_->base_url();
    env["NOTIFY_PACING"] = "false";
    env["NOTIFY_RETRY_DELAYS_MS"] = "0,200,1000";
    return env;
  }

  void StartTelephony() {
    telephony_ = std::make_unique<testing::ChildProcess>(testing::BinaryPath("protectogram-telephony"),
                                                         std::vector<std::string>{},
                                                         TelephonyEnv("telephony", ports_.telephony));
  }
  std::map<std::string, std::string> TelephonyEnv(const std::string& process, int grpc_port) {
    auto env = CommonEnv("telephony", process);
    env["GRPC_PORT"] = std::to_string(grpc_port);
    env["TELEPHONY_PROVIDERS"] = "telnyx";
    env["TELNYX_API_KEY"] = providers::telnyx::kFakeApiKey;
    env["TELNYX_CONNECTION_ID"] = "conn-1";
    env["TELNYX_FROM_NUMBER"] = "+15550000001";
    env["TELNYX_API_BASE_URL"] = telnyx_->base_url();
    env["TELEPHONY_RING_GRACE_MS"] = "500";
    env["TELEPHONY_JOB_LEASE_MS"] = "2000";
    env["TELEPHONY_PROVIDER_TIMEOUT_MS"] = "1000";
    return env;
  }

  // More replicas (index >= 1; replica 0 is StartEdge's, StartNotification's, StartTelephony's), each on a port
  // of its own, configured as replica 0 is, with `extra` on top. Named "edge1", "notification1", "telephony1"
  // in metrics_ports_ and replicas_. An edge replica serves /metrics on its HTTP port, so metrics_ports_ has
  // that.
  void StartEdgeReplica(size_t index, int http_port, const std::map<std::string, std::string>& extra = {}) {
    const std::string name = absl::StrCat("edge", index);
    StartReplica(name, "protectogram-edge", EdgeEnv(name, http_port), extra);
    metrics_ports_[name] = http_port;
    ASSERT_TRUE(WaitUntil([&] { return testing::HttpGet(http_port, "/health/live") == 200; }))
        << replicas_[name]->Output();
  }
  void StartNotificationReplica(size_t index, int grpc_port,
                                const std::map<std::string, std::string>& extra = {}) {
    const std::string name = absl::StrCat("notification", index);
    StartReplica(name, "protectogram-notification", NotificationEnv(name, grpc_port), extra);
  }
  void StartTelephonyReplica(size_t index, int grpc_port,
                             const std::map<std::string, std::string>& extra = {}) {
    const std::string name = absl::StrCat("telephony", index);
    StartReplica(name, "protectogram-telephony", TelephonyEnv(name, grpc_port), extra);
  }
  void StartReplica(const std::string& name, const std::string& binary,
                    std::map<std::string, std::string> env, const std::map<std::string, std::string>& extra) {
    for (const auto& [k, v] : extra) env[k] = v;
    replicas_[name] =
        std::make_unique<testing::ChildProcess>(testing::BinaryPath(binary), std::vector<std::string>{}, env);
  }

  // Replica `index` of the incident service (0 serves ports_.incident, where the others send).
  void StartIncident(size_t index = 0, int port = 0) {
    auto env = CommonEnv("incident", absl::StrCat("incident", index));
    env["GRPC_PORT"] = std::to_string(port != 0 ? port : ports_.incident);
    env["TELEGRAM_BOT_USERNAME"] = kBotUsername;
    env["LINK_DEFAULT_RETRY_BACKOFF_SEC"] = "1";
    env["PANIC_OUTCOME_GRACE_MS"] = "3000";
    env["INCIDENT_AUDIT_INTERVAL_MS"] = "500";
    for (const auto& [k, v] : incident_env_) env[k] = v;
    if (incident_.size() <= index) incident_.resize(index + 1);
    incident_[index] = std::make_unique<testing::ChildProcess>(testing::BinaryPath("protectogram-incident"),
                                                               std::vector<std::string>{}, env);
  }

  void StartAll() {
    StartFakes();
    StartEdge();
    StartNotification();
    StartTelephony();
    StartIncident();
    admin_ = v1::IncidentAdminService::NewStub(kernel::ServiceChannel(Addr(ports_.incident)));
  }

  // SIGKILLs incident replica `index` (no graceful shutdown: its claims stay until their leases expire).
  void KillIncident(size_t index) {
    ASSERT_LT(index, incident_.size());
    ASSERT_TRUE(incident_[index]->Signal(SIGKILL));
    ASSERT_TRUE(incident_[index]->WaitExit(std::chrono::seconds(5)).has_value());
  }

  // The process's /metrics: the value of the sample `name` (with its labels, e.g.
  // `jobs_total{kind="x",result="done"}`, or a bare name); nullopt when absent or unreachable.
  std::optional<double> Metric(const std::string& process, const std::string& name) const {
    auto it = metrics_ports_.find(process);
    if (it == metrics_ports_.end()) return std::nullopt;
    std::string body;
    if (testing::HttpGet(it->second, "/metrics", &body) != 200) return std::nullopt;
    for (absl::string_view line : absl::StrSplit(body, '\n')) {
      if (!absl::StartsWith(line, name) || line.size() <= name.size() || line[name.size()] != ' ') continue;
      double v = 0;
      if (absl::SimpleAtod(line.substr(name.size() + 1), &v)) return v;
    }
    return std::nullopt;
  }

  // ---- Acting as the people -------------------------------------------------------------------------

  // Posts one Telegram update to the edge, signed with the webhook secret. The edge answers 200 once it is
  // stored.
  int PostUpdate(boost::json::object update) { return Post(Numbered(std::move(update))); }
  // The update with the next update_id (to post it later, or more than once: a redelivery).
  boost::json::object Numbered(boost::json::object update) {
    update["update_id"] = ++update_id_;
    return update;
  }
  // Posts the update as it is (its update_id included), to the edge (with more_edge_ports_, to each edge in
  // turn). Thread-safe.
  int Post(const boost::json::object& update) const {
    std::string url = EdgeUrl();
    if (!more_edge_ports_.empty()) {
      const size_t turn = posts_.fetch_add(1) % (more_edge_ports_.size() + 1);
      if (turn > 0) url = absl::StrCat("http://127.0.0.1:", more_edge_ports_[turn - 1]);
    }
    http::Client client;
    absl::StatusOr<http::ClientResponse> r =
        client.PostJson(url + "/webhook/main", boost::json::serialize(update),
                        {{"X-Telegram-Bot-Api-Secret-Token", kWebhookSecret}});
    return r.ok() ? r->status : 0;
  }
  // The same update again (a redelivery: same update_id).
  int RepostLastUpdate(boost::json::object update) {
    --update_id_;
    return PostUpdate(std::move(update));
  }

  boost::json::object From(const Member& m) const {
    return {{"id", m.telegram_id}, {"is_bot", false}, {"first_name", m.name}, {"language_code", "ru"}};
  }
  boost::json::object Chat(const Member& m) const { return {{"id", m.telegram_id}, {"type", "private"}}; }

  boost::json::object TextUpdate(const Member& m, const std::string& text) {
    return {{"message",
             {{"message_id", ++message_id_},
              {"from", From(m)},
              {"chat", Chat(m)},
              {"date", absl::ToUnixSeconds(absl::Now())},
              {"text", text}}}};
  }
  void SendText(const Member& m, const std::string& text) { ASSERT_EQ(PostUpdate(TextUpdate(m, text)), 200); }

  void ShareContact(const Member& m) { ShareContactOf(m, m); }
  // `sender` sends `card`'s contact (their own when the same: a forwarded card otherwise).
  void ShareContactOf(const Member& sender, const Member& card) {
    boost::json::object update{{"message",
                                {{"message_id", ++message_id_},
                                 {"from", From(sender)},
                                 {"chat", Chat(sender)},
                                 {"date", absl::ToUnixSeconds(absl::Now())},
                                 {"contact",
                                  {{"phone_number", card.phone.substr(1)},
                                   {"first_name", card.name},
                                   {"user_id", card.telegram_id}}}}}};
    ASSERT_EQ(PostUpdate(std::move(update)), 200);
  }

  boost::json::object ButtonUpdate(const Member& m, const std::string& data, int64_t message_id = 1) {
    return {{"callback_query",
             {{"id", absl::StrCat("cbq-", ++callback_id_)},
              {"from", From(m)},
              {"message",
               {{"message_id", message_id}, {"chat", Chat(m)}, {"date", absl::ToUnixSeconds(absl::Now())}}},
              {"chat_instance", "1"},
              {"data", data}}}};
  }
  void PressButton(const Member& m, const std::string& data) {
    ASSERT_EQ(PostUpdate(ButtonUpdate(m, data)), 200);
  }

  // ---- Looking -------------------------------------------------------------------------------------------

  std::vector<providers::telegram::FakeBotApi::Call> SentTo(const std::string& chat) const {
    return telegram_->Sent(chat);
  }
  bool HasMessage(const std::string& chat, const std::string& text_part) const {
    for (const auto& c : telegram_->Sent(chat)) {
      if (absl::StrContains(c.text, text_part)) return true;
    }
    return false;
  }
  bool WaitForMessage(const std::string& chat, const std::string& text_part,
                      absl::Duration timeout = absl::Seconds(20)) const {
    return WaitUntil([&] { return HasMessage(chat, text_part); }, timeout);
  }
  int CountMessages(const std::string& chat, const std::string& text_part) const {
    int n = 0;
    for (const auto& c : telegram_->Sent(chat)) n += absl::StrContains(c.text, text_part) ? 1 : 0;
    return n;
  }
  // The alert the guardian got (the first "Тревога от" message), as it is now after edits.
  std::optional<providers::telegram::FakeBotApi::Message> Alert(const Member& g) const {
    for (const auto& c : telegram_->Sent(g.chat)) {
      if (absl::StrContains(c.text, "Тревога от"))
        return telegram_->FindMessage(kBotToken, g.chat, c.message_id);
    }
    return std::nullopt;
  }
  bool WaitForAlertText(const Member& g, const std::string& text_part) const {
    return WaitUntil([&] {
      auto m = Alert(g);
      return m.has_value() && absl::StrContains(m->text, text_part);
    });
  }
  // The last message to the chat that carries an inline button whose data starts with `prefix`.
  std::string ButtonData(const std::string& chat, const std::string& prefix) const {
    std::string found;
    for (const auto& c : telegram_->Sent(chat)) {
      boost::system::error_code ec;
      boost::json::value body = boost::json::parse(c.body_json, ec);
      if (ec || !body.is_object()) continue;
      const boost::json::value* markup = body.as_object().if_contains("reply_markup");
      if (markup == nullptr) continue;
      std::string text =
          markup->is_string() ? std::string(markup->as_string()) : boost::json::serialize(*markup);
      size_t at = text.find("\"callback_data\":\"" + prefix);
      if (at == std::string::npos) continue;
      at += std::string("\"callback_data\":\"").size();
      found = text.substr(at, text.find('"', at) - at);
    }
    return found;
  }

  // The texts answerCallbackQuery carried for the callback query `callback_id` ("" for an answer without
  // text).
  std::vector<std::string> CallbackAnswers(const std::string& callback_id) const {
    std::vector<std::string> out;
    for (const auto& c : telegram_->Calls()) {
      if (!absl::EqualsIgnoreCase(c.method, "answerCallbackQuery") || !c.accepted) continue;
      boost::system::error_code ec;
      boost::json::value body = boost::json::parse(c.body_json, ec);
      if (ec || !body.is_object()) continue;
      const boost::json::value* id = body.as_object().if_contains("callback_query_id");
      if (id == nullptr || !id->is_string() || id->as_string() != callback_id) continue;
      out.push_back(c.text);
    }
    return out;
  }
  static std::string CallbackId(const boost::json::object& button_update) {
    return std::string(button_update.at("callback_query").as_object().at("id").as_string());
  }

  std::vector<std::string> DialedNumbers() const {
    std::vector<std::string> out;
    for (const auto& d : telnyx_->Dials()) {
      if (d.placed) out.push_back(d.to);
    }
    return out;
  }

  std::string Dump() const {
    std::string out = "--- incident:\n";
    for (const auto& p : incident_) {
      if (p) out += p->Output().substr(p->Output().size() > 6000 ? p->Output().size() - 6000 : 0);
    }
    out += "\n--- notification:\n";
    if (notification_) {
      const std::string o = notification_->Output();
      out += o.substr(o.size() > 3000 ? o.size() - 3000 : 0);
    }
    out += "\n--- telegram:\n";
    for (const auto& c : telegram_->Calls()) out += absl::StrCat(c.method, " ", c.chat_id, " ", c.text, "\n");
    return out;
  }

  // ---- The admin API -------------------------------------------------------------------------------------

  template <typename Request, typename Response,
            typename Method = grpc::Status (v1::IncidentAdminService::Stub::*)(grpc::ClientContext*,
                                                                               const Request&, Response*)>
  grpc::Status Admin(Method method, const Request& request, Response* response) {
    for (int attempt = 0;; ++attempt) {
      grpc::ClientContext context;
      context.AddMetadata("authorization", absl::StrCat("Bearer ", kAdminToken));
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      context.set_wait_for_ready(true);
      grpc::Status s = (admin_.get()->*method)(&context, request, response);
      if (s.error_code() != grpc::StatusCode::UNAVAILABLE || attempt >= 20) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  v1::Incident GetIncident(int64_t id) {
    v1::GetIncidentRequest request;
    request.set_incident_id(id);
    v1::GetIncidentResponse response;
    grpc::Status s = Admin(&v1::IncidentAdminService::Stub::GetIncident, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.incident();
  }

  int64_t ActiveIncidentId(const Member& traveler) {
    int64_t id = 0;
    WaitUntil([&] {
      v1::ListIncidentsRequest request;
      v1::ListIncidentsResponse response;
      if (!Admin(&v1::IncidentAdminService::Stub::ListIncidents, request, &response).ok()) return false;
      for (const auto& i : response.incidents()) {
        if (i.traveler_name() == traveler.name) id = i.id();
      }
      return id != 0;
    });
    return id;
  }

  // ---- Registration through the bot ------------------------------------------------------------------------

  Member NewMember(const std::string& name) {
    Member m;
    m.name = name;
    m.telegram_id = 500000 + static_cast<int64_t>(++members_);
    m.chat = std::to_string(m.telegram_id);
    m.phone = absl::StrCat("+7999", 1000000 + members_);
    return m;
  }

  // /start and the contact: the traveler is registered.
  void Register(const Member& m) {
    SendText(m, "/start");
    ASSERT_TRUE(WaitForMessage(m.chat, "поделитесь номером")) << Dump();
    ShareContact(m);
    ASSERT_TRUE(WaitForMessage(m.chat, "вы зарегистрированы")) << Dump();
  }

  // The traveler asks for an invite link; the guardian opens it and shares their phone.
  void Invite(const Member& traveler, const Member& guardian) {
    const int links_before = CountMessages(traveler.chat, "https://t.me/");
    SendText(traveler, "/invite");
    ASSERT_TRUE(WaitUntil([&] { return CountMessages(traveler.chat, "https://t.me/") > links_before; }))
        << Dump();
    std::string link;
    for (const auto& c : telegram_->Sent(traveler.chat)) {
      if (size_t at = c.text.find("https://t.me/"); at != std::string::npos) link = c.text.substr(at);
    }
    const std::string prefix = absl::StrCat("https://t.me/", kBotUsername, "?start=");
    ASSERT_TRUE(absl::StartsWith(link, prefix)) << link;
    const std::string token = link.substr(prefix.size(), 16);
    last_invite_token_ = token;
    SendText(guardian, "/start " + token);
    ASSERT_TRUE(WaitForMessage(guardian.chat, "приглашает вас стать хранителем")) << Dump();
    ShareContact(guardian);
    ASSERT_TRUE(WaitForMessage(guardian.chat, "Вы стали хранителем")) << Dump();
    ASSERT_TRUE(WaitForMessage(traveler.chat, guardian.name + " теперь ваш хранитель")) << Dump();
  }

  // A traveler «Анна» with guardians «Иван», «Мария», «Пётр», ... (in this call order).
  Family RegisterFamily(int guardians) {
    static const char* kNames[] = {"Иван", "Мария", "Пётр", "Ольга", "Сергей"};
    Family f;
    f.traveler = NewMember("Анна");
    Register(f.traveler);
    for (int i = 0; i < guardians; ++i) {
      f.guardians.push_back(NewMember(kNames[i]));
      Invite(f.traveler, f.guardians.back());
    }
    return f;
  }

  Ports ports_;
  std::unique_ptr<providers::telegram::FakeBotApi> telegram_;
  std::unique_ptr<providers::telnyx::FakeTelnyx> telnyx_;
  std::unique_ptr<testing::ChildProcess> edge_, notification_, telephony_;
  std::vector<std::unique_ptr<testing::ChildProcess>> incident_;
  // The *Replica starters' processes, by name ("edge1", "notification1", "telephony1").
  std::map<std::string, std::unique_ptr<testing::ChildProcess>> replicas_;
  // The HTTP ports of more edges (StartEdgeReplica's), which Post feeds in turn with ports_.edge.
  std::vector<int> more_edge_ports_;
  mutable std::atomic<size_t> posts_{0};
  std::unique_ptr<v1::IncidentAdminService::Stub> admin_;
  std::map<std::string, int> metrics_ports_;  // by process: "edge", "notification", "telephony", "incident0"
  std::string last_invite_token_;             // the token of the last invite Invite used
  int64_t update_id_ = 1000;
  int64_t message_id_ = 0;
  int callback_id_ = 0;
  int members_ = 0;
};

}  // namespace protectogram::incident
