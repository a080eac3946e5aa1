// The notification service as its tests run it (userver's ServiceFixture): the real NotificationService
// behind in-process gRPC on a fresh migrated database, talking real HTTP to a FakeBotApi and a FakeCloudApi on
// loopback, reporting outcomes to a fake incident service on in-process gRPC. Windows are shortened through
// the config (retries 0/50/100 ms, a chat interval of 200 ms); the production defaults are the unit tests'.
// A test may start several replicas: each has its own pool, outbox relay and service, sharing only Postgres.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "libs/http/client.h"
#include "libs/jobs/outbox.h"
#include "libs/kernel/metrics.h"
#include "libs/kernel/rpc.h"
#include "libs/providers/telegram/fake_bot_api.h"
#include "libs/providers/whatsapp/fake_cloud_api.h"
#include "protectogram/incident/v1/incident.grpc.pb.h"
#include "protectogram/notification/v1/notification.grpc.pb.h"
#include "services/notification/notification_grpc.h"
#include "services/notification/notification_service.h"
#include "tests/support/pg_harness.h"

namespace protectogram::notification::testing {

namespace v1 = protectogram::notification::v1;
namespace tg = providers::telegram;

inline constexpr char kMainToken[] = "111:main-token";
inline constexpr char kOtherToken[] = "222:other-token";
inline constexpr char kWhatsAppToken[] = "wa-test-token";
inline constexpr char kWhatsAppNumberId[] = "106540352242922";
inline constexpr char kOperatorChat[] = "-1009";

// Records every OnDeliveryOutcome (once per event_key, as the real one does).
class FakeIncident final : public incident::v1::IncidentService::Service {
 public:
  grpc::Status OnDeliveryOutcome(grpc::ServerContext*, const incident::v1::OnDeliveryOutcomeRequest* request,
                                 incident::v1::OnDeliveryOutcomeResponse* response) override;
  std::vector<incident::v1::OnDeliveryOutcomeRequest> outcomes() const;

 private:
  mutable std::mutex mu_;
  std::vector<incident::v1::OnDeliveryOutcomeRequest> outcomes_;
  std::vector<std::string> keys_;
};

struct Replica {
  std::unique_ptr<pg::Pool> pool;
  std::unique_ptr<jobs::Outbox> outbox;
  std::unique_ptr<jobs::OutboxRelay> relay;
  std::unique_ptr<Store> store;
  std::vector<std::unique_ptr<ChatSender>> senders;
  std::unique_ptr<NotificationService> service;
  std::unique_ptr<NotificationGrpc> api;
  std::unique_ptr<NotificationAdminGrpc> admin;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<v1::NotificationService::Stub> stub;
  std::unique_ptr<v1::NotificationAdminService::Stub> admin_stub;
  ~Replica();
};

class NotificationServiceTest : public test::PgTest {
 protected:
  void SetUp() override;
  void TearDown() override;

  // The config every replica gets (change it before StartReplica).
  NotificationConfig& config() { return config_; }
  // Starts a replica (relay running, gRPC served on loopback). The first one is replica(0).
  Replica& StartReplica();
  Replica& replica(size_t i = 0) { return *replicas_.at(i); }
  void StopReplicas();

  tg::FakeBotApi& telegram() { return *telegram_; }
  providers::whatsapp::FakeCloudApi& whatsapp() { return *whatsapp_; }
  FakeIncident& incident() { return incident_; }

  // Calls through replica 0's gRPC stub.
  grpc::Status Send(const v1::SendRequest& request, v1::SendResponse* response = nullptr);
  grpc::Status Edit(const v1::EditRequest& request);
  absl::StatusOr<v1::Delivery> Get(const std::string& key);
  // Waits until the delivery reaches `state`.
  bool WaitForState(const std::string& key, v1::DeliveryState state,
                    absl::Duration timeout = absl::Seconds(10));
  static bool WaitFor(const std::function<bool()>& done, absl::Duration timeout);

  static v1::SendRequest Text(const std::string& key, const std::string& chat, const std::string& text);
  int64_t QueryInt(const std::string& sql);

  kernel::MetricsRegistry metrics_;

 private:
  NotificationConfig config_;
  std::unique_ptr<tg::FakeBotApi> telegram_;
  std::unique_ptr<providers::whatsapp::FakeCloudApi> whatsapp_;
  http::Client client_;
  FakeIncident incident_;
  std::unique_ptr<grpc::Server> incident_server_;
  std::unique_ptr<incident::v1::IncidentService::Stub> incident_stub_;
  std::vector<std::unique_ptr<Replica>> replicas_;
};

}  // namespace protectogram::notification::testing
