// protectogram-incident: conversations, incidents and the call cascade (gRPC :50051, metrics :9101). This file
// only wires: the decisions are core/ and conversation/, their I/O IncidentService (incident_service.h).
#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "libs/kernel/host.h"
#include "libs/kernel/log.h"
#include "libs/kernel/rpc.h"
#include "protectogram/notification/v1/notification.grpc.pb.h"
#include "protectogram/telephony/v1/telephony.grpc.pb.h"
#include "services/common/durable_runtime.h"
#include "services/incident/config.h"
#include "services/incident/incident_grpc.h"
#include "services/incident/incident_service.h"

namespace {

using namespace protectogram;

// Runs `tick` every `interval` on one thread until stopped (the invariant auditor).
class Periodic {
 public:
  Periodic(absl::Duration interval, std::function<void()> tick)
      : interval_(interval), tick_(std::move(tick)) {}
  void Start() {
    thread_ = std::thread([this] {
      std::unique_lock<std::mutex> lock(mu_);
      while (!cv_.wait_for(lock, absl::ToChronoMilliseconds(interval_), [this] { return stopping_; })) {
        lock.unlock();
        tick_();
        lock.lock();
      }
    });
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
  const absl::Duration interval_;
  std::function<void()> tick_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
  auto host = kernel::ServiceHost::CreateOrExit(argc, argv, kernel::IncidentDefaults());
  const incident::IncidentConfig config =
      kernel::ConfigOrExit(incident::LoadIncidentConfig(kernel::ProcessEnv(), host->config().app_env));
  auto runtime = services::DurableRuntime::CreateOrExit(
      *host,
      {.job_table = "incident.scheduled_actions",
       .outbox_table = "incident.outbox_messages",
       .inbox_table = "incident.inbox_events",
       .worker_threads = 4,
       .worker_lease = config.job_lease,
       .relay = jobs::OutboxRelayOptions{
           .threads = 8,
           .batch_size = 16,
           .lease = config.rpc_timeout * 3,
           .retry = jobs::RetryPolicy::Exponential(absl::Milliseconds(100), absl::Seconds(10)),
           .max_attempts = 100000,  // the other service is down: keep trying, an alert must not be lost
           .rescan_interval = absl::Seconds(2)}});

  auto notification =
      notification::v1::NotificationService::NewStub(kernel::ServiceChannel(config.notification_addr));
  auto notification_admin =
      notification::v1::NotificationAdminService::NewStub(kernel::ServiceChannel(config.notification_addr));
  auto telephony = telephony::v1::TelephonyService::NewStub(kernel::ServiceChannel(config.telephony_addr));
  const absl::Duration timeout = config.rpc_timeout;
  const std::string admin_token = host->config().admin_token;

  std::mutex usernames_mu;
  std::map<std::string, std::string> usernames;  // learned from the notification service
  incident::Downstream downstream{
      .send =
          [&](const auto& r) {
            return kernel::CallService(*notification, &notification::v1::NotificationService::Stub::Send, r,
                                       timeout);
          },
      .edit =
          [&](const auto& r) {
            return kernel::CallService(*notification, &notification::v1::NotificationService::Stub::Edit, r,
                                       timeout);
          },
      .answer_callback =
          [&](const auto& r) {
            return kernel::CallService(
                *notification, &notification::v1::NotificationService::Stub::AnswerCallback, r, timeout);
          },
      .place_call =
          [&](const auto& r) {
            return kernel::CallService(*telephony, &telephony::v1::TelephonyService::Stub::PlaceCall, r,
                                       timeout);
          },
      .hangup =
          [&](const auto& r) {
            return kernel::CallService(*telephony, &telephony::v1::TelephonyService::Stub::Hangup, r,
                                       timeout);
          },
      .hangup_all =
          [&](const auto& r) {
            return kernel::CallService(*telephony, &telephony::v1::TelephonyService::Stub::HangupAll, r,
                                       timeout);
          },
      .bot_username = [&](const std::string& bot_id) -> std::string {
        {
          std::lock_guard<std::mutex> lock(usernames_mu);
          if (auto it = usernames.find(bot_id); it != usernames.end()) return it->second;
        }
        grpc::ClientContext context;
        kernel::PrepareClientContext(&context, admin_token);
        context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
        notification::v1::ListBotsResponse bots;
        if (!notification_admin->ListBots(&context, {}, &bots).ok()) return "";
        std::lock_guard<std::mutex> lock(usernames_mu);
        for (const auto& b : bots.bots()) {
          if (!b.username().empty()) usernames[b.id()] = b.username();
        }
        return usernames.contains(bot_id) ? usernames[bot_id] : "";
      }};

  incident::Store store(runtime->pool());
  incident::IncidentService service(store, runtime->job_store(), *runtime->outbox(), std::move(downstream),
                                    config, host->metrics());
  jobs::Worker* worker = &runtime->worker();
  jobs::OutboxRelay* relay = runtime->outbox_relay();
  service.SetWake([worker] { worker->Wake(); }, [relay] { relay->Wake(); });
  service.RegisterJobs(*worker);
  service.RegisterChannels(*relay);

  Periodic auditor(config.audit_interval, [&service] {
    absl::StatusOr<int> repaired = service.AuditOnce();
    if (!repaired.ok()) {
      kernel::LogWarn("invariant auditor: pass failed",
                      {{"error", std::string(repaired.status().message())}});
    }
  });
  host->AddComponent(
      "auditor",
      [&auditor] {
        auditor.Start();
        return absl::OkStatus();
      },
      [&auditor](absl::Time) { auditor.Stop(); });

  incident::IncidentGrpc api(*runtime, service);
  incident::IncidentAdminGrpc admin(service, admin_token);
  host->AddGrpcService(&api);
  host->AddGrpcService(&admin);
  return host->Run();
}
