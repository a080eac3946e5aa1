#include "libs/jobs/admin_service.h"

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "libs/kernel/log.h"
#include "libs/kernel/rpc.h"

namespace protectogram::jobs {
namespace {

using google::protobuf::Timestamp;

constexpr int kDefaultLimit = 100;

void SetTime(absl::Time t, Timestamp* out) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return;
  *out = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

void ToProto(const Job& job, v1::Job* out) {
  out->set_id(job.id);
  out->set_kind(job.kind);
  out->set_key(job.key);
  out->set_state(std::string(Name(job.state)));
  out->set_attempts(job.attempts);
  out->set_max_attempts(job.max_attempts);
  out->set_last_error(job.last_error);
  out->set_payload_json(job.payload_json);
  out->set_incident_id(job.incident_id.value_or(0));
  SetTime(job.run_at, out->mutable_run_at());
  SetTime(job.updated_at, out->mutable_updated_at());
}

void ToProto(const OutboxMessage& m, v1::OutboxMessage* out) {
  out->set_id(m.id);
  out->set_channel(m.channel);
  out->set_idempotency_key(m.idempotency_key);
  out->set_status(std::string(Name(m.status)));
  out->set_attempts(m.attempts);
  out->set_last_error(m.last_error);
  out->set_payload_json(m.payload_json);
  out->set_incident_id(m.incident_id.value_or(0));
  SetTime(m.next_attempt_at, out->mutable_next_attempt_at());
  SetTime(m.created_at, out->mutable_created_at());
}

int Limit(int32_t requested) { return requested <= 0 ? kDefaultLimit : requested; }

grpc::Status NoOutbox() {
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "this service has no outbox");
}

}  // namespace

JobsAdminService::JobsAdminService(JobStore& jobs, Outbox* outbox, std::string admin_token)
    : jobs_(jobs), outbox_(outbox), admin_token_(std::move(admin_token)) {}

grpc::Status JobsAdminService::ListDeadJobs(grpc::ServerContext* context,
                                            const v1::ListDeadJobsRequest* request,
                                            v1::ListDeadJobsResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
  if (!scope.ok()) return scope.status();
  absl::StatusOr<std::vector<Job>> dead = jobs_.ListDead(Limit(request->limit()));
  if (!dead.ok()) return kernel::ToGrpcStatus(dead.status());
  for (const Job& job : *dead) ToProto(job, response->add_jobs());
  return grpc::Status::OK;
}

grpc::Status JobsAdminService::RedriveJob(grpc::ServerContext* context, const v1::RedriveJobRequest* request,
                                          v1::RedriveJobResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
  if (!scope.ok()) return scope.status();
  absl::StatusOr<Job> job = jobs_.Redrive(request->id());
  if (!job.ok()) return kernel::ToGrpcStatus(job.status());
  kernel::LogInfo("jobs: dead job redriven by an admin",
                  {{"queue", jobs_.table()}, {"job_id", job->id}, {"kind", job->kind}, {"key", job->key}});
  ToProto(*job, response->mutable_job());
  return grpc::Status::OK;
}

grpc::Status JobsAdminService::CountJobs(grpc::ServerContext* context, const v1::CountJobsRequest*,
                                         v1::CountJobsResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
  if (!scope.ok()) return scope.status();
  absl::StatusOr<JobCounts> counts = jobs_.Count();
  if (!counts.ok()) return kernel::ToGrpcStatus(counts.status());
  response->set_due(counts->due);
  response->set_pending(counts->pending);
  response->set_running(counts->running);
  response->set_dead(counts->dead);
  if (outbox_ != nullptr) {
    absl::StatusOr<OutboxCounts> outbox = outbox_->Count();
    if (!outbox.ok()) return kernel::ToGrpcStatus(outbox.status());
    response->set_outbox_due(outbox->due);
    response->set_outbox_waiting(outbox->waiting);
    response->set_outbox_dead(outbox->dead);
  }
  return grpc::Status::OK;
}

grpc::Status JobsAdminService::ListDeadOutboxMessages(grpc::ServerContext* context,
                                                      const v1::ListDeadOutboxMessagesRequest* request,
                                                      v1::ListDeadOutboxMessagesResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
  if (!scope.ok()) return scope.status();
  if (outbox_ == nullptr) return NoOutbox();
  absl::StatusOr<std::vector<OutboxMessage>> dead = outbox_->ListDead(Limit(request->limit()));
  if (!dead.ok()) return kernel::ToGrpcStatus(dead.status());
  for (const OutboxMessage& m : *dead) ToProto(m, response->add_messages());
  return grpc::Status::OK;
}

grpc::Status JobsAdminService::RedriveOutboxMessage(grpc::ServerContext* context,
                                                    const v1::RedriveOutboxMessageRequest* request,
                                                    v1::RedriveOutboxMessageResponse* response) {
  kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
  if (!scope.ok()) return scope.status();
  if (outbox_ == nullptr) return NoOutbox();
  absl::StatusOr<OutboxMessage> m = outbox_->Redrive(request->id());
  if (!m.ok()) return kernel::ToGrpcStatus(m.status());
  kernel::LogInfo("outbox: dead message redriven by an admin",
                  {{"queue", outbox_->table()}, {"message_id", m->id}, {"channel", m->channel}});
  ToProto(*m, response->mutable_message());
  return grpc::Status::OK;
}

}  // namespace protectogram::jobs
