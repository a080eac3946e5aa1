// JobsAdminService on a real loopback gRPC server: admin-token protection, listing dead jobs and outbox
// messages, redriving them into a running worker/relay, counts.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>

#include "libs/jobs/admin_service.h"
#include "libs/jobs/worker.h"
#include "libs/kernel/rpc.h"
#include "tests/integration/jobs/jobs_test_util.h"

namespace protectogram::jobs::testing {
namespace {

constexpr char kToken[] = "jobs-admin-token-for-tests";

class AdminTest : public JobsTest {
 protected:
  void SetUp() override {
    JobsTest::SetUp();
    store_ = *JobStore::Create(db(), {.table = kJobs});
    outbox_ = *Outbox::Create(db(), {.table = kOutbox});
    service_ = std::make_unique<JobsAdminService>(*store_, outbox_.get(), kToken);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::JobsAdminService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    server_->Shutdown(std::chrono::system_clock::now());
    JobsTest::TearDown();
  }

  template <typename Request, typename Response, typename Method>
  grpc::Status Call(Method method, const Request& request, Response* response,
                    std::string_view token = kToken) {
    grpc::ClientContext ctx;
    kernel::PrepareClientContext(&ctx, token);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return (stub_.get()->*method)(&ctx, request, response);
  }

  std::unique_ptr<JobStore> store_;
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<JobsAdminService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::JobsAdminService::Stub> stub_;
};

TEST_F(AdminTest, EveryCallNeedsTheAdminToken) {
  v1::ListDeadJobsResponse list;
  EXPECT_EQ(
      Call(&v1::JobsAdminService::Stub::ListDeadJobs, v1::ListDeadJobsRequest(), &list, "").error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(
      Call(&v1::JobsAdminService::Stub::ListDeadJobs, v1::ListDeadJobsRequest(), &list, "wrong").error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  v1::RedriveJobRequest redrive;
  redrive.set_id(1);
  v1::RedriveJobResponse redrive_response;
  EXPECT_EQ(Call(&v1::JobsAdminService::Stub::RedriveJob, redrive, &redrive_response, "").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  v1::CountJobsResponse counts;
  EXPECT_EQ(Call(&v1::JobsAdminService::Stub::CountJobs, v1::CountJobsRequest(), &counts, "").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  v1::ListDeadOutboxMessagesResponse outbox;
  EXPECT_EQ(Call(&v1::JobsAdminService::Stub::ListDeadOutboxMessages, v1::ListDeadOutboxMessagesRequest(),
                 &outbox, "")
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Call(&v1::JobsAdminService::Stub::CountJobs, v1::CountJobsRequest(), &counts).ok());
}

TEST_F(AdminTest, ADeadJobIsListedAndRedrivenIntoARunningWorker) {
  std::atomic<bool> fail{true};
  std::atomic<int> runs{0};
  auto worker = *Worker::Create(db(), {.table = kJobs, .listen_url = db_url(), .metrics = &metrics_});
  worker->Register("cascade_step", [&](JobContext&) {
    ++runs;
    return fail ? absl::UnavailableError("telephony down") : absl::OkStatus();
  });
  ASSERT_TRUE(worker->Start().ok());
  ASSERT_TRUE(store_
                  ->Schedule({.kind = "cascade_step",
                              .key = "incident:5:step:1",
                              .incident_id = 5,
                              .payload_json = R"({"step": 1})",
                              .max_attempts = 1})
                  .ok());
  ASSERT_TRUE(
      WaitFor([&] { return store_->Get("incident:5:step:1")->state == JobState::kDead; }, absl::Seconds(5)));

  v1::ListDeadJobsResponse list;
  ASSERT_TRUE(Call(&v1::JobsAdminService::Stub::ListDeadJobs, v1::ListDeadJobsRequest(), &list).ok());
  ASSERT_EQ(list.jobs_size(), 1);
  const v1::Job& dead = list.jobs(0);
  EXPECT_EQ(dead.key(), "incident:5:step:1");
  EXPECT_EQ(dead.kind(), "cascade_step");
  EXPECT_EQ(dead.state(), "dead");
  EXPECT_EQ(dead.incident_id(), 5);
  EXPECT_EQ(dead.attempts(), 1);
  EXPECT_NE(dead.last_error().find("telephony down"), std::string::npos);
  EXPECT_GT(dead.run_at().seconds(), 0);

  v1::CountJobsResponse counts;
  ASSERT_TRUE(Call(&v1::JobsAdminService::Stub::CountJobs, v1::CountJobsRequest(), &counts).ok());
  EXPECT_EQ(counts.dead(), 1);
  EXPECT_EQ(counts.due(), 0);

  fail = false;
  v1::RedriveJobRequest redrive;
  redrive.set_id(dead.id());
  v1::RedriveJobResponse redriven;
  ASSERT_TRUE(Call(&v1::JobsAdminService::Stub::RedriveJob, redrive, &redriven).ok());
  EXPECT_EQ(redriven.job().state(), "pending");
  EXPECT_EQ(redriven.job().attempts(), 0);
  ASSERT_TRUE(
      WaitFor([&] { return store_->Get("incident:5:step:1")->state == JobState::kDone; }, absl::Seconds(5)));
  EXPECT_EQ(runs.load(), 2);

  // Not dead any more (and an unknown id): NOT_FOUND.
  EXPECT_EQ(Call(&v1::JobsAdminService::Stub::RedriveJob, redrive, &redriven).error_code(),
            grpc::StatusCode::NOT_FOUND);
  worker->Stop();
}

TEST_F(AdminTest, DeadOutboxMessagesAreListedAndRedriven) {
  ASSERT_TRUE(
      outbox_->Enqueue({.channel = "notification.send", .idempotency_key = "incident:6:alert:1"}).ok());
  Exec("UPDATE incident.outbox_messages SET status = 'dead', attempts = 25, last_error = 'gave up'");
  v1::ListDeadOutboxMessagesResponse list;
  ASSERT_TRUE(
      Call(&v1::JobsAdminService::Stub::ListDeadOutboxMessages, v1::ListDeadOutboxMessagesRequest(), &list)
          .ok());
  ASSERT_EQ(list.messages_size(), 1);
  EXPECT_EQ(list.messages(0).idempotency_key(), "incident:6:alert:1");
  EXPECT_EQ(list.messages(0).last_error(), "gave up");
  v1::CountJobsResponse counts;
  ASSERT_TRUE(Call(&v1::JobsAdminService::Stub::CountJobs, v1::CountJobsRequest(), &counts).ok());
  EXPECT_EQ(counts.outbox_dead(), 1);

  std::atomic<int> sent{0};
  auto relay = *OutboxRelay::Create(db(), {.table = kOutbox, .listen_url = db_url(), .metrics = &metrics_});
  relay->RegisterSender("notification.send", [&](const OutboxMessage&) {
    ++sent;
    return absl::OkStatus();
  });
  ASSERT_TRUE(relay->Start().ok());
  v1::RedriveOutboxMessageRequest redrive;
  redrive.set_id(list.messages(0).id());
  v1::RedriveOutboxMessageResponse redriven;
  ASSERT_TRUE(Call(&v1::JobsAdminService::Stub::RedriveOutboxMessage, redrive, &redriven).ok());
  EXPECT_EQ(redriven.message().status(), "pending");
  ASSERT_TRUE(WaitFor([&] { return outbox_->Get("incident:6:alert:1")->status == OutboxStatus::kSent; },
                      absl::Seconds(5)));
  EXPECT_EQ(sent.load(), 1);
  relay->Stop();

  // A service without an outbox says so.
  JobsAdminService no_outbox(*store_, nullptr, kToken);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&no_outbox);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  auto stub = v1::JobsAdminService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  kernel::PrepareClientContext(&ctx, kToken);
  EXPECT_EQ(stub->ListDeadOutboxMessages(&ctx, v1::ListDeadOutboxMessagesRequest(), &list).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  server->Shutdown(std::chrono::system_clock::now());
}

}  // namespace
}  // namespace protectogram::jobs::testing
