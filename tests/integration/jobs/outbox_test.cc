// The outbox end to end with a real gRPC receiver on loopback (a NotificationService.Send that applies each
// command through its inbox, Inbox::ReceiveOnce): the receiver down for a while, then up; a lost
// acknowledgement; the writer's transaction deciding whether a command exists at all.
#include "libs/jobs/outbox.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>

#include "libs/jobs/inbox.h"
#include "libs/jobs/internal/metrics.h"
#include "libs/jobs/schema.h"
#include "libs/kernel/rpc.h"
#include "protectogram/notification/v1/notification.grpc.pb.h"
#include "tests/integration/jobs/jobs_test_util.h"

namespace protectogram::jobs::testing {
namespace {

namespace nv1 = protectogram::notification::v1;

constexpr pg::Query kCountEffect{"test_count_effect", R"sql(
INSERT INTO effect_counts (job_key, runs) VALUES ($1, 1)
ON CONFLICT (job_key) DO UPDATE SET runs = effect_counts.runs + 1)sql"};
constexpr pg::Query kStateChange{"test_state_change", "INSERT INTO state_changes (what) VALUES ($1)"};

// The receiving service: Send applies its command once per idempotency key.
class FakeNotificationService final : public nv1::NotificationService::Service {
 public:
  explicit FakeNotificationService(Inbox& inbox) : inbox_(inbox) {}
  grpc::Status Send(grpc::ServerContext*, const nv1::SendRequest* request,
                    nv1::SendResponse* response) override {
    ++calls;
    absl::StatusOr<bool> applied = inbox_.ReceiveOnce(
        {.provider = "incident", .provider_event_id = request->idempotency_key(), .payload = request->text()},
        [&](pg::Transaction& txn) {
          return txn.Execute(kCountEffect, {request->idempotency_key()}).status();
        });
    if (!applied.ok()) return kernel::ToGrpcStatus(applied.status());
    response->set_duplicate(!*applied);
    if (!*applied) ++duplicates;
    return grpc::Status::OK;
  }
  std::atomic<int> calls{0};
  std::atomic<int> duplicates{0};

 private:
  Inbox& inbox_;
};

class OutboxTest : public JobsTest {
 protected:
  void SetUp() override {
    JobsTest::SetUp();
    Exec("CREATE TABLE effect_counts (job_key text PRIMARY KEY, runs integer NOT NULL)");
    Exec("CREATE TABLE state_changes (what text NOT NULL)");
    absl::StatusOr<std::string> ddl = InboxTableDdl("notification_inbox");
    absl::StatusOr<pg::Transaction> txn = db().Begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(txn->ExecuteScript(pg::Query{"ddl", ddl->c_str()}).ok());
    ASSERT_TRUE(txn->Commit().ok());
    outbox_ = *Outbox::Create(db(), {.table = kOutbox});
    receiver_inbox_ = *Inbox::Create(db(), {.table = "notification_inbox", .metrics = &metrics_});
    service_ = std::make_unique<FakeNotificationService>(*receiver_inbox_);
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
    JobsTest::TearDown();
  }

  // Starts the receiver on `port` (0: any); returns the port.
  int StartReceiver(int port = 0) {
    grpc::ServerBuilder builder;
    int bound = 0;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(), &bound);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr);
    return bound;
  }
  void StopReceiver() {
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
    server_.reset();
  }

  std::shared_ptr<grpc::Channel> Channel(int port) {
    grpc::ChannelArguments args;
    // Reconnect quickly once the receiver is back (gRPC's default back-off grows to minutes).
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 300);
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(),
                                     args);
  }

  // The sender a service would register: one RPC with the command's key.
  static absl::Status SendOverGrpc(nv1::NotificationService::Stub& stub, const OutboxMessage& m,
                                   bool* duplicate = nullptr) {
    grpc::ClientContext ctx;
    kernel::PrepareClientContext(&ctx);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    nv1::SendRequest request;
    request.set_idempotency_key(m.idempotency_key);
    request.set_text(m.payload_json);
    nv1::SendResponse response;
    absl::Status s = kernel::ToAbslStatus(stub.Send(&ctx, request, &response));
    if (s.ok() && duplicate != nullptr) *duplicate = response.duplicate();
    return s;
  }

  OutboxRelayOptions RelayOptions() {
    return OutboxRelayOptions{
        .table = kOutbox,
        .listen_url = db_url(),
        .threads = 2,
        .retry = RetryPolicy::Exponential(absl::Milliseconds(100), absl::Milliseconds(400)),
        .metrics = &metrics_};
  }

  // Writes a state change and its command in one transaction.
  void ChangeStateAndEnqueue(const std::string& key, bool commit = true) {
    absl::StatusOr<pg::Transaction> txn = db().Begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(txn->Execute(kStateChange, {key}).ok());
    absl::StatusOr<bool> created = outbox_->Enqueue(
        *txn,
        {.channel = "notification.send", .idempotency_key = key, .payload_json = R"({"text":"alert"})"});
    ASSERT_TRUE(created.ok()) << created.status();
    ASSERT_TRUE(*created);
    if (commit) {
      ASSERT_TRUE(txn->Commit().ok());
    }
  }

  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<Inbox> receiver_inbox_;
  std::unique_ptr<FakeNotificationService> service_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(OutboxTest, EveryCommandArrivesOnceAfterTheReceiverComesBack) {
  // Reserve a port, then take the receiver down.
  const int port = StartReceiver();
  ASSERT_GT(port, 0);
  StopReceiver();

  auto stub = nv1::NotificationService::NewStub(Channel(port));
  auto relay = *OutboxRelay::Create(db(), RelayOptions());
  relay->RegisterSender("notification.send", [&](const OutboxMessage& m) { return SendOverGrpc(*stub, m); });
  ASSERT_TRUE(relay->Start().ok());

  constexpr int kCommands = 20;
  for (int i = 0; i < kCommands; ++i) ChangeStateAndEnqueue("incident:7:alert:" + std::to_string(i));
  ChangeStateAndEnqueue("rolled-back", /*commit=*/false);

  // The receiver is down: every command is retried with back-off, none is lost or dead.
  ASSERT_TRUE(WaitFor(
      [&] {
        return QueryInt(
                   "SELECT count(*) FROM incident.outbox_messages WHERE attempts >= 2 AND status = "
                   "'pending'") == kCommands;
      },
      absl::Seconds(10)));
  EXPECT_EQ(service_->calls.load(), 0);

  ASSERT_EQ(StartReceiver(port), port);
  ASSERT_TRUE(WaitFor(
      [&] {
        return QueryInt("SELECT count(*) FROM incident.outbox_messages WHERE status = 'sent'") == kCommands;
      },
      absl::Seconds(15)));
  relay->Stop();

  EXPECT_EQ(QueryInt("SELECT count(*) FROM effect_counts"), kCommands);
  EXPECT_EQ(QueryInt("SELECT max(runs) FROM effect_counts"), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM incident.outbox_messages"), kCommands);  // not the rolled-back one
  EXPECT_EQ(internal::OutboxSentMetric(metrics_).WithLabels({"notification.send"}).Value(), kCommands);
  EXPECT_GE(internal::OutboxFailedMetric(metrics_).WithLabels({"notification.send", "unavailable"}).Value(),
            2 * kCommands);
}

TEST_F(OutboxTest, ALostAcknowledgementIsResentAndTheReceiverAppliesItOnce) {
  const int port = StartReceiver();
  auto stub = nv1::NotificationService::NewStub(Channel(port));
  std::atomic<int> sends{0};
  std::atomic<int> duplicates_seen{0};
  auto relay = *OutboxRelay::Create(db(), RelayOptions());
  relay->RegisterSender("notification.send", [&](const OutboxMessage& m) {
    bool duplicate = false;
    absl::Status s = SendOverGrpc(*stub, m, &duplicate);
    if (duplicate) ++duplicates_seen;
    // The first answer is "lost": the receiver applied the command, the sender never learns it.
    if (s.ok() && sends.fetch_add(1) == 0) return absl::UnavailableError("connection reset after send");
    return s;
  });
  ASSERT_TRUE(relay->Start().ok());
  ChangeStateAndEnqueue("incident:8:alert:1");
  ASSERT_TRUE(WaitFor([&] { return outbox_->Get("incident:8:alert:1")->status == OutboxStatus::kSent; },
                      absl::Seconds(10)));
  relay->Stop();
  EXPECT_EQ(sends.load(), 2);
  EXPECT_EQ(duplicates_seen.load(), 1);
  EXPECT_EQ(service_->duplicates.load(), 1);
  EXPECT_EQ(QueryInt("SELECT runs FROM effect_counts WHERE job_key = 'incident:8:alert:1'"), 1);
}

TEST_F(OutboxTest, EnqueueIsOncePerKeyAndWakesTheRelayAtCommit) {
  const int port = StartReceiver();
  auto stub = nv1::NotificationService::NewStub(Channel(port));
  OutboxRelayOptions options = RelayOptions();
  options.rescan_interval = absl::Hours(1);  // only NOTIFY can wake it
  auto relay = *OutboxRelay::Create(db(), options);
  std::mutex mu;
  absl::Time sent_at;
  relay->RegisterSender("notification.send", [&](const OutboxMessage& m) {
    absl::Status s = SendOverGrpc(*stub, m);
    std::lock_guard<std::mutex> lock(mu);
    sent_at = absl::Now();
    return s;
  });
  ASSERT_TRUE(relay->Start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // idle, waiting on LISTEN
  const absl::Time committed = absl::Now();
  ChangeStateAndEnqueue("incident:9:alert:1");
  ASSERT_TRUE(WaitFor([&] { return outbox_->Get("incident:9:alert:1")->status == OutboxStatus::kSent; },
                      absl::Seconds(5)));
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_LT(sent_at - committed, absl::Milliseconds(500));
  }
  absl::StatusOr<bool> again =
      outbox_->Enqueue({.channel = "notification.send", .idempotency_key = "incident:9:alert:1"});
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  EXPECT_EQ(outbox_->Enqueue({.channel = "", .idempotency_key = "k"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  relay->Stop();
}

TEST_F(OutboxTest, AfterMaxAttemptsAMessageIsDeadAndCanBeRedriven) {
  auto relay_options = RelayOptions();
  relay_options.max_attempts = 3;
  auto relay = *OutboxRelay::Create(db(), relay_options);
  std::atomic<bool> down{true};
  std::atomic<int> calls{0};
  relay->RegisterSender("notification.send", [&](const OutboxMessage&) {
    ++calls;
    return down ? absl::UnavailableError("receiver down") : absl::OkStatus();
  });
  ASSERT_TRUE(relay->Start().ok());
  ChangeStateAndEnqueue("incident:10:alert:1");
  ASSERT_TRUE(WaitFor([&] { return outbox_->Get("incident:10:alert:1")->status == OutboxStatus::kDead; },
                      absl::Seconds(10)));
  EXPECT_EQ(calls.load(), 3);
  absl::StatusOr<std::vector<OutboxMessage>> dead = outbox_->ListDead();
  ASSERT_TRUE(dead.ok());
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_NE((*dead)[0].last_error.find("receiver down"), std::string::npos);
  EXPECT_EQ(outbox_->Count()->dead, 1);
  down = false;
  ASSERT_TRUE(outbox_->Redrive((*dead)[0].id).ok());
  ASSERT_TRUE(WaitFor([&] { return outbox_->Get("incident:10:alert:1")->status == OutboxStatus::kSent; },
                      absl::Seconds(5)));
  EXPECT_EQ(calls.load(), 4);
  relay->Stop();
}

}  // namespace
}  // namespace protectogram::jobs::testing
