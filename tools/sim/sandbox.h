// The sandbox behind `make run`'s console: the provider simulators (the loopback fakes of libs/providers,
// unchanged: Telegram Bot API, Telnyx Call Control, Twilio Voice, WhatsApp Cloud, Asterisk ARI) plus the
// people who use them — a demo traveler and her guardians, played from the console.
//
// Everything a person does becomes what the real provider would send: a Telegram update posted to the
// webhook the bot registered (setWebhook, or the edge's /webhook/main until then) with its secret token, a
// Telnyx call's webhooks signed with Ed25519 by the fake. Everything the system does is read back from the
// fakes: the bot's messages as they are now (edits included), its reply keyboard, the calls and what was
// spoken on them. The incident timeline comes from IncidentAdminService over gRPC.
//
// Seeding (Seed): the demo family is registered through the bot itself, exactly as people would — /start and
// the contact for each, an invite link per guardian opened with /start <token> — and only for what the
// admin API shows missing, so it is idempotent across runs against the same database.
//
// Thread-safe: the console's handlers call it from many threads.
#pragma once

#include <grpcpp/channel.h>

#include <atomic>
#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/http/client.h"
#include "libs/providers/ari/fake_ari.h"
#include "libs/providers/telegram/fake_bot_api.h"
#include "libs/providers/telnyx/fake_call_control.h"
#include "libs/providers/twilio/fake_voice_api.h"
#include "libs/providers/whatsapp/fake_cloud_api.h"
#include "protectogram/incident/v1/incident.grpc.pb.h"

namespace protectogram::sim {

struct Person {
  std::string key;  // "anna": the console's and the API's name for them
  std::string name;
  bool traveler = false;
  int64_t telegram_id = 0;  // also their private chat's id
  std::string phone;        // E.164
  std::string language = "ru";
};

// The demo family: Анна the traveler; Борис, Вера, Глеб her guardians, in call order.
std::vector<Person> DemoFamily();

struct SandboxOptions {
  std::string address = "127.0.0.1";
  // Ports of the simulated providers (0: ephemeral).
  uint16_t telegram_port = 0;
  uint16_t telnyx_port = 0;
  uint16_t twilio_port = 0;
  uint16_t whatsapp_port = 0;
  uint16_t ari_port = 0;
  std::string edge_url = "http://127.0.0.1:8080";  // where provider webhooks go
  std::string bot_token = "111111:SANDBOX";        // TELEGRAM_BOT_TOKEN of the system
  std::string bot_username = "protectogram_sandbox_bot";
  std::string webhook_secret = "dev-webhook-secret";  // until the bot registers its own with setWebhook
  std::string incident_addr = "127.0.0.1:50051";      // IncidentAdminService, for the timeline and seeding
  std::string admin_token;
  double telnyx_time_scale = 1.0;  // 1: calls ring in real time
  std::vector<Person> people = DemoFamily();
  // How calls to each person's phone go until changed (PhoneMode): by person key; "console" when absent.
  std::map<std::string, std::string> phone_modes;
  // Telegram faults by chat id: "rate_limited", "server_error", "blocked" (FaultKind names without k).
  std::map<std::string, std::string> chat_faults;
};

class Sandbox {
 public:
  static absl::StatusOr<std::unique_ptr<Sandbox>> Start(SandboxOptions options);
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  // Registers the demo family through the bot where the admin API shows it missing; returns when done (or
  // why not). Runs on the caller's thread; progress is in status().
  absl::Status Seed(absl::Duration timeout);
  // Makes a Seed in progress return CANCELLED within ~100 ms (shutdown); from any thread.
  void CancelSeeding() { cancel_seeding_.store(true); }

  // The console's GET /api/state (docs/console.md has its shape).
  std::string StateJson();
  bool ready() const { return ready_.load(); }
  std::string status() const;

  // The console's actions. NOT_FOUND for an unknown person or call; FAILED_PRECONDITION when the action does
  // not apply now (answering a call that is over); UNAVAILABLE when the edge did not take the update.
  absl::Status SendText(const std::string& person_key, const std::string& text);
  absl::Status ShareContact(const std::string& person_key);
  absl::Status PressButton(const std::string& person_key, int64_t message_id, const std::string& data);
  absl::Status SetPhoneMode(const std::string& person_key, const std::string& mode);
  absl::Status AnswerCall(const std::string& call_id);
  absl::Status DeclineCall(const std::string& call_id);
  absl::Status HangupCall(const std::string& call_id);
  absl::Status PressDigit(const std::string& call_id, const std::string& digit);

  // Where each simulator listens, for the start-up summary: {"telegram", "http://..."}, ...
  std::vector<std::pair<std::string, std::string>> Endpoints() const;

  void Stop();

 private:
  explicit Sandbox(SandboxOptions options);
  absl::Status StartFakes();
  const Person* Find(const std::string& key) const;
  // Posts the update (given its update_id here) to the bot's webhook; OK once the edge answered 200.
  absl::Status PostUpdate(boost::json::object update);
  boost::json::object From(const Person& person) const;
  boost::json::object Chat(const Person& person) const;
  int64_t NextId() { return next_id_.fetch_add(1); }
  std::string ApplyPhoneMode(const Person& person, const std::string& mode);  // "" or why not
  // Seeding steps.
  absl::Status WaitForBotMessage(const Person& person, const std::string& part, size_t after,
                                 absl::Time deadline);
  size_t BotMessageCount(const Person& person) const;
  absl::StatusOr<std::map<int64_t, incident::v1::User>> UsersByTelegramId();
  absl::StatusOr<std::vector<incident::v1::Link>> Links(int64_t traveler_user_id);
  std::map<int64_t, std::string> NamesByUserId();
  void SetStatus(std::string status);

  SandboxOptions options_;
  std::unique_ptr<providers::telegram::FakeBotApi> telegram_;
  std::unique_ptr<providers::telnyx::FakeTelnyx> telnyx_;
  std::unique_ptr<providers::twilio::FakeTwilioVoice> twilio_;
  std::unique_ptr<providers::whatsapp::FakeCloudApi> whatsapp_;
  std::unique_ptr<providers::ari::FakeAri> ari_;
  std::unique_ptr<incident::v1::IncidentAdminService::Stub> admin_;
  // Posts the people's updates to the edge: one client, so its keep-alive connections are reused.
  http::Client webhook_client_{
      {.connect_timeout = std::chrono::milliseconds(2000), .timeout = std::chrono::seconds(10)}};

  mutable std::mutex mu_;
  struct UserMessage {
    absl::Time at;
    std::string text;
  };
  std::map<std::string, std::vector<UserMessage>> sent_by_;  // by person key
  std::map<std::string, std::string> phone_modes_;           // by person key
  std::string status_ = "starting";
  std::atomic<bool> ready_{false};
  std::atomic<bool> cancel_seeding_{false};
  std::atomic<int64_t> next_id_;  // update_id, message_id and callback ids: from the start time, so a
                                  // restarted sandbox never repeats one the edge has seen (it dedupes)
};

}  // namespace protectogram::sim
