// protectogram-telephony: places calls through the configured providers and follows their events
// (gRPC :50053, metrics :9103). This file only wires: the logic is TelephonyService (telephony_service.h).
#include <grpcpp/grpcpp.h>

#include <memory>

#include "libs/http/client.h"
#include "libs/kernel/host.h"
#include "libs/kernel/rpc.h"
#include "protectogram/incident/v1/incident.grpc.pb.h"
#include "services/common/durable_runtime.h"
#include "services/telephony/config.h"
#include "services/telephony/providers.h"
#include "services/telephony/telephony_grpc.h"
#include "services/telephony/telephony_service.h"

int main(int argc, char** argv) {
  using namespace protectogram;
  auto host = kernel::ServiceHost::CreateOrExit(argc, argv, kernel::TelephonyDefaults());
  const telephony::TelephonyConfig config =
      kernel::ConfigOrExit(telephony::LoadTelephonyConfig(kernel::ProcessEnv(), host->config().app_env));

  auto runtime = services::DurableRuntime::CreateOrExit(
      *host, {.job_table = "telephony.jobs",
              .outbox_table = "telephony.outbox_messages",
              .inbox_table = "telephony.inbox_events",
              .worker_threads = config.worker_threads,
              .worker_lease = config.job_lease,
              .relay = jobs::OutboxRelayOptions{
                  .threads = 4,
                  .batch_size = 8,
                  .lease = absl::Seconds(30),
                  .retry = jobs::RetryPolicy::Exponential(absl::Milliseconds(200), absl::Seconds(30)),
                  .max_attempts = 1000,
                  .rescan_interval = absl::Seconds(5)}});

  http::Client client(http::ClientOptions{
      .connect_timeout = std::chrono::milliseconds(absl::ToInt64Milliseconds(config.provider_timeout)),
      .timeout = std::chrono::milliseconds(absl::ToInt64Milliseconds(config.provider_timeout))});
  telephony::ProviderSet providers;
  if (absl::Status s =
          telephony::BuildProviders(kernel::ProcessEnv(), {.config = config, .client = client}, providers);
      !s.ok()) {
    kernel::ExitWithConfigError(s);
  }

  std::unique_ptr<incident::v1::IncidentService::Stub> incident =
      incident::v1::IncidentService::NewStub(kernel::ServiceChannel(config.incident_addr));
  telephony::CallOutcomeReporter report = [&incident](const incident::v1::OnCallOutcomeRequest& request) {
    return kernel::CallService(*incident, &incident::v1::IncidentService::Stub::OnCallOutcome, request,
                               absl::Seconds(5));
  };

  telephony::Store store(runtime->pool());
  telephony::TelephonyService service(store, runtime->job_store(), *runtime->outbox(), providers,
                                      std::move(report), config, host->metrics());
  jobs::Worker* worker = &runtime->worker();
  jobs::OutboxRelay* relay = runtime->outbox_relay();
  service.SetWake([worker] { worker->Wake(); }, [relay] { relay->Wake(); });
  service.RegisterJobs(*worker);
  service.RegisterChannels(*relay);

  // Providers that receive their own events (ARI's WebSocket) hand them to the same inbox as the edge's.
  telephony::EventReceiver receive = telephony::RuntimeReceiver(*runtime);
  host->AddComponent(
      "provider-events",
      [&] {
        for (telephony::TelephonyProvider* p : providers.all()) {
          const std::string source(p->name());
          absl::Status s = p->StartEvents([&receive, &service, source](const common::v1::CallEvent& event) {
            return telephony::ReceiveCallEvent(receive, service, source, event).status();
          });
          if (!s.ok()) return s;
        }
        return absl::OkStatus();
      },
      [&providers](absl::Time) {
        for (telephony::TelephonyProvider* p : providers.all()) p->StopEvents();
      });

  telephony::TelephonyGrpc api(receive, service);
  telephony::TelephonyAdminGrpc admin(service, host->config().admin_token);
  host->AddGrpcService(&api);
  host->AddGrpcService(&admin);
  return host->Run();
}
