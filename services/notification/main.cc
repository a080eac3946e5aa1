// protectogram-notification: every outbound chat message, through a durable outbox (gRPC :50052, metrics
// :9102). This file only wires: the logic is NotificationService (notification_service.h).
#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "libs/http/client.h"
#include "libs/kernel/host.h"
#include "libs/kernel/rpc.h"
#include "protectogram/incident/v1/incident.grpc.pb.h"
#include "services/common/durable_runtime.h"
#include "services/notification/notification_grpc.h"
#include "services/notification/notification_service.h"

namespace {

using namespace protectogram;

// Learns the bots' usernames (retried with back-off until every bot has answered getMe) and refreshes the
// gauges, on one background thread.
class Background {
 public:
  explicit Background(notification::NotificationService& service) : service_(service) {}
  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    absl::Duration backoff = absl::Seconds(1);
    absl::Time next_learn = absl::Now();
    bool learned = false;
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      lock.unlock();
      if (!learned && absl::Now() >= next_learn) {
        learned = service_.LearnBots();
        next_learn = absl::Now() + backoff;
        backoff = std::min(backoff * 2, absl::Minutes(1));
      }
      service_.SampleGauges();
      lock.lock();
      cv_.wait_for(lock, std::chrono::seconds(learned ? 5 : 1), [this] { return stopping_; });
    }
  }

  notification::NotificationService& service_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
  auto host = kernel::ServiceHost::CreateOrExit(argc, argv, kernel::NotificationDefaults());
  const notification::NotificationConfig config = kernel::ConfigOrExit(
      notification::LoadNotificationConfig(kernel::ProcessEnv(), host->config().app_env));

  jobs::OutboxRelayOptions relay{.threads = config.send_threads,
                                 .batch_size = config.send_threads,
                                 .lease = config.lease,
                                 // Sends commit without NOTIFY (it serializes commits): the replica that took
                                 // a Send wakes its own relay; the others find leftovers by this rescan.
                                 .rescan_interval = absl::Seconds(1),
                                 .keep_sent = config.keep_sent,
                                 .pace_table = "notification.outbox_pace",
                                 .pace_limits = config.PaceLimits(),
                                 .claim_for_idle_only = true};
  auto runtime =
      services::DurableRuntime::CreateOrExit(*host, {.job_table = "notification.jobs",
                                                     .outbox_table = "notification.outbox_messages",
                                                     .inbox_table = "",
                                                     .relay = relay,
                                                     .outbox_notify = false});

  http::Client client(http::ClientOptions{.max_idle_per_host = static_cast<size_t>(config.send_threads)});
  std::vector<std::unique_ptr<notification::ChatSender>> owned;
  notification::Senders senders;
  for (const providers::telegram::Bot& bot : config.bots.bots()) {
    owned.push_back(std::make_unique<notification::TelegramHttpSender>(client, config.telegram_api_base_url,
                                                                       bot.token, config.provider_timeout));
    senders.telegram[bot.id] = owned.back().get();
  }
  if (!config.whatsapp_token.empty()) {
    owned.push_back(std::make_unique<notification::WhatsAppHttpSender>(
        client, config.whatsapp_api_base_url, config.whatsapp_api_version, config.whatsapp_phone_number_id,
        config.whatsapp_token, config.provider_timeout));
    senders.whatsapp = owned.back().get();
  }

  std::unique_ptr<incident::v1::IncidentService::Stub> incident =
      incident::v1::IncidentService::NewStub(kernel::ServiceChannel(config.incident_addr));
  notification::IncidentReporter report = [&incident](const incident::v1::OnDeliveryOutcomeRequest& request) {
    return kernel::CallService(*incident, &incident::v1::IncidentService::Stub::OnDeliveryOutcome, request,
                               absl::Seconds(5));
  };

  notification::Store store(runtime->pool());
  notification::NotificationService service(store, *runtime->outbox(), std::move(senders), std::move(report),
                                            config, host->metrics());
  jobs::OutboxRelay* outbox_relay = runtime->outbox_relay();
  service.SetWake([outbox_relay] { outbox_relay->Wake(); });
  service.RegisterChannels(*outbox_relay);

  Background background(service);
  host->AddComponent(
      "bots",
      [&background] {
        background.Start();
        return absl::OkStatus();
      },
      [&background](absl::Time) { background.Stop(); });

  notification::NotificationGrpc api(service);
  notification::NotificationAdminGrpc admin(service, host->config().admin_token);
  host->AddGrpcService(&api);
  host->AddGrpcService(&admin);
  return host->Run();
}
