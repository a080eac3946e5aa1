#include "tests/integration/notification/service_fixture.h"

#include <grpcpp/grpcpp.h>

#include <thread>

#include "absl/time/clock.h"

namespace protectogram::notification::testing {

grpc::Status FakeIncident::OnDeliveryOutcome(grpc::ServerContext*,
                                             const incident::v1::OnDeliveryOutcomeRequest* request,
                                             incident::v1::OnDeliveryOutcomeResponse* response) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& key : keys_) {
    if (key == request->event_key()) {
      response->set_duplicate(true);
      return grpc::Status::OK;
    }
  }
  keys_.push_back(request->event_key());
  outcomes_.push_back(*request);
  return grpc::Status::OK;
}

std::vector<incident::v1::OnDeliveryOutcomeRequest> FakeIncident::outcomes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return outcomes_;
}

Replica::~Replica() {
  if (relay) relay->Stop();
  if (server) server->Shutdown(std::chrono::system_clock::now());
}

void NotificationServiceTest::SetUp() {
  PgTest::SetUp();
  auto telegram =
      tg::FakeBotApi::Start({.bots = {{kMainToken, "main_test_bot"}, {kOtherToken, "other_test_bot"}}});
  ASSERT_TRUE(telegram.ok()) << telegram.status();
  telegram_ = *std::move(telegram);
  auto whatsapp =
      providers::whatsapp::FakeCloudApi::Start({.phone_numbers = {{kWhatsAppNumberId, kWhatsAppToken}}});
  ASSERT_TRUE(whatsapp.ok()) << whatsapp.status();
  whatsapp_ = *std::move(whatsapp);

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&incident_);
  incident_server_ = builder.BuildAndStart();
  ASSERT_NE(incident_server_, nullptr);
  incident_stub_ = incident::v1::IncidentService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));

  auto bots = tg::BotRegistry::FromEnv({{"TELEGRAM_BOT_TOKEN", kMainToken},
                                        {"TELEGRAM_WEBHOOK_SECRET", "main-secret"},
                                        {"TG_TOKEN_OTHER", kOtherToken},
                                        {"TG_WEBHOOK_SECRET_OTHER", "other-secret"}});
  ASSERT_TRUE(bots.ok()) << bots.status();
  config_.bots = *std::move(bots);
  config_.telegram_api_base_url = telegram_->base_url();
  config_.whatsapp_api_base_url = whatsapp_->base_url();
  config_.whatsapp_token = kWhatsAppToken;
  config_.whatsapp_phone_number_id = kWhatsAppNumberId;
  config_.public_base_url = "https://edge.example.test";
  config_.operator_chat_id = kOperatorChat;
  config_.retry_delays = {absl::ZeroDuration(), absl::Milliseconds(50), absl::Milliseconds(100)};
  config_.telegram_chat_interval = absl::Milliseconds(200);
  config_.edit_wait = absl::Milliseconds(50);
  config_.provider_timeout = absl::Seconds(2);
  config_.lease = absl::Seconds(5);
  config_.send_threads = 8;
}

void NotificationServiceTest::TearDown() {
  StopReplicas();
  if (incident_server_) incident_server_->Shutdown(std::chrono::system_clock::now());
  telegram_.reset();
  whatsapp_.reset();
  PgTest::TearDown();
}

void NotificationServiceTest::StopReplicas() {
  for (auto& r : replicas_) {
    if (r->relay) r->relay->Stop();
  }
  replicas_.clear();
}

Replica& NotificationServiceTest::StartReplica() {
  auto r = std::make_unique<Replica>();
  r->pool = *pg::Pool::Create({.url = db_url(), .size = config_.send_threads + 8});
  r->outbox = *jobs::Outbox::Create(*r->pool, {.table = "notification.outbox_messages"});
  r->relay = *jobs::OutboxRelay::Create(*r->pool, {.table = "notification.outbox_messages",
                                                   .listen_url = db_url(),
                                                   .threads = config_.send_threads,
                                                   .batch_size = config_.send_threads,
                                                   .lease = config_.lease,
                                                   .rescan_interval = absl::Seconds(2),
                                                   .pace_table = "notification.outbox_pace",
                                                   .pace_limits = config_.PaceLimits(),
                                                   .claim_for_idle_only = true,
                                                   .metrics = &metrics_});
  r->store = std::make_unique<Store>(*r->pool);
  Senders senders;
  for (const tg::Bot& bot : config_.bots.bots()) {
    r->senders.push_back(std::make_unique<TelegramHttpSender>(client_, config_.telegram_api_base_url,
                                                              bot.token, config_.provider_timeout));
    senders.telegram[bot.id] = r->senders.back().get();
  }
  r->senders.push_back(std::make_unique<WhatsAppHttpSender>(client_, config_.whatsapp_api_base_url, "v21.0",
                                                            kWhatsAppNumberId, kWhatsAppToken,
                                                            config_.provider_timeout));
  senders.whatsapp = r->senders.back().get();
  IncidentReporter report = [this](const incident::v1::OnDeliveryOutcomeRequest& request) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    incident::v1::OnDeliveryOutcomeResponse response;
    return kernel::ToAbslStatus(incident_stub_->OnDeliveryOutcome(&context, request, &response));
  };
  r->service = std::make_unique<NotificationService>(*r->store, *r->outbox, std::move(senders),
                                                     std::move(report), config_, metrics_);
  jobs::OutboxRelay* relay = r->relay.get();
  r->service->SetWake([relay] { relay->Wake(); });
  r->service->RegisterChannels(*r->relay);
  EXPECT_TRUE(r->relay->Start().ok());

  r->api = std::make_unique<NotificationGrpc>(*r->service);
  r->admin = std::make_unique<NotificationAdminGrpc>(*r->service, "test-admin-token");
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(r->api.get());
  builder.RegisterService(r->admin.get());
  r->server = builder.BuildAndStart();
  EXPECT_NE(r->server, nullptr);
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  r->stub = v1::NotificationService::NewStub(channel);
  r->admin_stub = v1::NotificationAdminService::NewStub(channel);
  replicas_.push_back(std::move(r));
  return *replicas_.back();
}

grpc::Status NotificationServiceTest::Send(const v1::SendRequest& request, v1::SendResponse* response) {
  grpc::ClientContext context;
  v1::SendResponse ignored;
  return replica().stub->Send(&context, request, response != nullptr ? response : &ignored);
}

grpc::Status NotificationServiceTest::Edit(const v1::EditRequest& request) {
  grpc::ClientContext context;
  v1::EditResponse response;
  return replica().stub->Edit(&context, request, &response);
}

absl::StatusOr<v1::Delivery> NotificationServiceTest::Get(const std::string& key) {
  grpc::ClientContext context;
  v1::GetDeliveryRequest request;
  request.set_idempotency_key(key);
  v1::GetDeliveryResponse response;
  grpc::Status s = replica().stub->GetDelivery(&context, request, &response);
  if (!s.ok()) return kernel::ToAbslStatus(s);
  return response.delivery();
}

bool NotificationServiceTest::WaitForState(const std::string& key, v1::DeliveryState state,
                                           absl::Duration timeout) {
  return WaitFor(
      [&] {
        absl::StatusOr<v1::Delivery> d = Get(key);
        return d.ok() && d->state() == state;
      },
      timeout);
}

bool NotificationServiceTest::WaitFor(const std::function<bool()>& done, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

v1::SendRequest NotificationServiceTest::Text(const std::string& key, const std::string& chat,
                                              const std::string& text) {
  v1::SendRequest request;
  request.set_idempotency_key(key);
  request.set_chat_id(chat);
  request.set_text(text);
  return request;
}

int64_t NotificationServiceTest::QueryInt(const std::string& sql) {
  absl::StatusOr<pg::Result> r = pool().Execute(pg::Query{"test_query", sql.c_str()});
  EXPECT_TRUE(r.ok()) << sql << ": " << r.status();
  if (!r.ok() || r->empty() || r->front().IsNull(0)) return -1;
  return r->front().Get<int64_t>(0);
}

}  // namespace protectogram::notification::testing
