#include "services/common/durable_runtime.h"

#include <google/protobuf/util/json_util.h>

#include "libs/kernel/config.h"
#include "libs/kernel/log.h"

namespace protectogram::services {
namespace {

template <typename T>
std::unique_ptr<T> OrExit(absl::StatusOr<std::unique_ptr<T>> value, const char* what) {
  if (!value.ok()) {
    kernel::ExitWithConfigError(absl::Status(
        value.status().code(), std::string(what) + ": " + std::string(value.status().message())));
  }
  return *std::move(value);
}

jobs::OutboxRelayOptions RelayOptions(const DurableRuntimeOptions& options, const std::string& listen_url) {
  jobs::OutboxRelayOptions relay = options.relay.value_or(jobs::OutboxRelayOptions{});
  relay.table = options.outbox_table;
  relay.listen_url = listen_url;
  return relay;
}

}  // namespace

std::unique_ptr<DurableRuntime> DurableRuntime::CreateOrExit(kernel::ServiceHost& host,
                                                             DurableRuntimeOptions options) {
  const kernel::ProcessConfig& config = host.config();
  std::unique_ptr<DurableRuntime> rt(new DurableRuntime());
  // DB_POOL_SIZE is for the gRPC handlers; the worker (one per handler thread, plus claims and maintenance)
  // gets its connections on top of it. The outbox relay has a pool of its own (one per sender, plus claims
  // and maintenance): a burst of requests must never leave a send that was carried out unrecorded for want
  // of a connection.
  const int worker_connections = options.worker_threads + 2;
  const int relay_threads = options.relay.has_value() ? options.relay->threads : 2;
  rt->pool_ =
      OrExit(pg::Pool::Create({.url = config.database_url, .size = config.db_pool_size + worker_connections}),
             "DATABASE_URL");
  pg::Pool* pool = rt->pool_.get();
  host.SetReadinessProbe([pool] { return pool->Ping(); }, absl::Seconds(1));

  const std::string listen_url =
      config.database_direct_url.empty() ? config.database_url : config.database_direct_url;
  rt->job_store_ = OrExit(jobs::JobStore::Create(*pool, {.table = options.job_table}), "job table");
  rt->worker_ = OrExit(jobs::Worker::Create(*pool, {.table = options.job_table,
                                                    .listen_url = listen_url,
                                                    .threads = options.worker_threads,
                                                    .lease = options.worker_lease}),
                       "job worker");
  if (!options.outbox_table.empty()) {
    rt->outbox_ =
        OrExit(jobs::Outbox::Create(*pool, {.table = options.outbox_table, .notify = options.outbox_notify}),
               "outbox");
    rt->relay_pool_ =
        OrExit(pg::Pool::Create({.url = config.database_url, .size = relay_threads + 2}), "DATABASE_URL");
    rt->relay_ = OrExit(jobs::OutboxRelay::Create(*rt->relay_pool_, RelayOptions(options, listen_url)),
                        "outbox relay");
  }
  if (!options.inbox_table.empty()) {
    rt->inbox_ = OrExit(jobs::Inbox::Create(*pool, {.table = options.inbox_table}), "inbox");
  }
  rt->admin_ =
      std::make_unique<jobs::JobsAdminService>(*rt->job_store_, rt->outbox_.get(), config.admin_token);
  host.AddGrpcService(rt->admin_.get());

  jobs::Worker* worker = rt->worker_.get();
  host.AddComponent(
      "jobs", [worker] { return worker->Start(); }, [worker](absl::Time) { worker->Stop(); });
  if (jobs::OutboxRelay* relay = rt->relay_.get()) {
    host.AddComponent(
        "outbox", [relay] { return relay->Start(); }, [relay](absl::Time) { relay->Stop(); });
  }
  return rt;
}

absl::StatusOr<bool> DurableRuntime::ReceiveOnce(std::string_view source, std::string_view event_key,
                                                 const google::protobuf::Message& event,
                                                 const Effect& effect) {
  if (inbox_ == nullptr) return absl::FailedPreconditionError("this service has no inbox");
  if (event_key.empty()) return absl::InvalidArgumentError("event_key is required");
  std::string json;
  if (auto status = google::protobuf::util::MessageToJsonString(event, &json); !status.ok()) {
    return absl::InvalidArgumentError("event cannot be encoded as JSON");
  }
  return inbox_->ReceiveOnce({.provider = std::string(source),
                              .provider_event_id = std::string(event_key),
                              .payload = json,
                              .payload_json = json},
                             effect);
}

}  // namespace protectogram::services
