// JobsAdminService (proto/protectogram/jobs/v1/jobs_admin.proto) over one service's job table and, when it
// has one, its outbox. Every RPC needs "authorization: Bearer <ADMIN_TOKEN>" (kernel::RpcScope,
// Auth::kAdmin): UNAUTHENTICATED otherwise, also when the service runs without an admin token.
//
//   jobs::JobsAdminService admin(*job_store, outbox.get(), config.admin_token);
//   grpc_host.AddService(&admin);
//
// Errors: NOT_FOUND from the redrives when no dead row has the id; FAILED_PRECONDITION from the outbox RPCs
// when the service has no outbox; UNAVAILABLE when Postgres is unreachable.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

#include "libs/jobs/job_store.h"
#include "libs/jobs/outbox.h"
#include "protectogram/jobs/v1/jobs_admin.grpc.pb.h"

namespace protectogram::jobs {

class JobsAdminService final : public protectogram::jobs::v1::JobsAdminService::Service {
 public:
  // `outbox` may be null. Both must outlive the service.
  JobsAdminService(JobStore& jobs, Outbox* outbox, std::string admin_token);

  grpc::Status ListDeadJobs(grpc::ServerContext* context, const v1::ListDeadJobsRequest* request,
                            v1::ListDeadJobsResponse* response) override;
  grpc::Status RedriveJob(grpc::ServerContext* context, const v1::RedriveJobRequest* request,
                          v1::RedriveJobResponse* response) override;
  grpc::Status CountJobs(grpc::ServerContext* context, const v1::CountJobsRequest* request,
                         v1::CountJobsResponse* response) override;
  grpc::Status ListDeadOutboxMessages(grpc::ServerContext* context,
                                      const v1::ListDeadOutboxMessagesRequest* request,
                                      v1::ListDeadOutboxMessagesResponse* response) override;
  grpc::Status RedriveOutboxMessage(grpc::ServerContext* context,
                                    const v1::RedriveOutboxMessageRequest* request,
                                    v1::RedriveOutboxMessageResponse* response) override;

 private:
  JobStore& jobs_;
  Outbox* outbox_;
  const std::string admin_token_;
};

}  // namespace protectogram::jobs
