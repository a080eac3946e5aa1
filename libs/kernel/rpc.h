// What every gRPC handler and client call does: map statuses, carry the correlation id, check admin auth.
//
// A handler starts with an RpcScope, which states the call's auth in one line that grep finds:
//
//   grpc::Status ListDeadJobs(grpc::ServerContext* context, const ListDeadJobsRequest* request,
//                             ListDeadJobsResponse* response) override {
//     kernel::RpcScope scope(context, kernel::Auth::kAdmin, admin_token_);
//     if (!scope.ok()) return scope.status();
//     absl::StatusOr<...> jobs = store_.ListDead(...);
//     if (!jobs.ok()) return kernel::ToGrpcStatus(jobs.status());
//     ...
//   }
//
// (gRPC 1.51's synchronous interceptors cannot fail a call with a status of their own, so auth is checked
// here; GrpcHost's interceptor does the metrics.)
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/kernel/log.h"

namespace protectogram::kernel {

// Metadata keys (gRPC metadata keys are lower case).
inline constexpr char kCorrelationIdKey[] = "x-correlation-id";
inline constexpr char kAuthorizationKey[] = "authorization";

// One to one: absl and gRPC share the canonical code numbers; the message is kept, payloads are dropped.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status ToAbslStatus(const grpc::Status& status);

// Compares in time that depends only on the lengths, not on where the strings differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// True when `id` is acceptable as a correlation id from outside: 1..128 of [A-Za-z0-9._:-].
bool IsValidCorrelationId(std::string_view id);

enum class Auth {
  kNone,   // anyone who can reach the port (service-to-service calls inside the private network)
  kAdmin,  // "authorization: Bearer <ADMIN_TOKEN>" required
};

// For the length of a handler: makes the call's correlation id current for log lines on this thread (the
// client's x-correlation-id when valid, else a new one), echoes it to the client in the initial metadata, and
// for Auth::kAdmin checks "authorization: Bearer <admin_token>" in constant time. When the check fails, ok()
// is false and status() is UNAUTHENTICATED (a missing header, another scheme, a wrong token, or an empty
// admin_token: an unset token never lets anyone in); the refusal is logged without the presented value.
// Construct it before anything else in the handler (initial metadata must not have been sent yet).
class RpcScope {
 public:
  RpcScope(grpc::ServerContextBase* context, Auth auth, std::string_view admin_token);
  RpcScope(const RpcScope&) = delete;
  RpcScope& operator=(const RpcScope&) = delete;

  bool ok() const { return status_.ok(); }
  const grpc::Status& status() const { return status_; }
  const std::string& correlation_id() const { return correlation_id_; }

 private:
  std::string correlation_id_;
  std::optional<CorrelationScope> scope_;
  grpc::Status status_;
};

// Prepares an outgoing call: sends the current correlation id (a new one when there is none) as
// x-correlation-id and, when `admin_token` is not empty, "authorization: Bearer <admin_token>".
void PrepareClientContext(grpc::ClientContext* context, std::string_view admin_token = "");

// One unary call to another of our services: the current correlation id (and the admin token when given) in
// its metadata, a deadline `timeout` from now, the answer in `*response`, the status as absl::Status.
//   kernel::CallService(*stub, &v1::IncidentService::Stub::OnCallOutcome, request, absl::Seconds(5));
template <typename Stub, typename Request, typename Response>
absl::Status CallService(Stub& stub,
                         grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                         const Request& request, Response* response, absl::Duration timeout,
                         std::string_view admin_token = "") {
  grpc::ClientContext context;
  PrepareClientContext(&context, admin_token);
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return ToAbslStatus((stub.*method)(&context, request, response));
}
// The same, the answer discarded.
template <typename Stub, typename Request, typename Response>
absl::Status CallService(Stub& stub,
                         grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                         const Request& request, absl::Duration timeout, std::string_view admin_token = "") {
  Response response;
  return CallService(stub, method, request, &response, timeout, admin_token);
}

// The channel every process uses to call another of our services (INCIDENT_ADDR, NOTIFICATION_ADDR,
// TELEPHONY_ADDR): plaintext (the services talk inside the private network), and quick to reach a service
// again once it is back.
//
// Why: a channel whose connection is lost retries with exponential back-off, by default 1 s growing by 1.6
// up to 120 s. A service down for a minute (a deploy, a crash) would then be retried only every two minutes,
// and every call meanwhile fails at once (or waits, with wait_for_ready) although the service is up again.
// Here the back-off starts at 100 ms and is capped at 1 s (each step jittered by gRPC's +-20 %), so a
// restarted service is reached within about a second; a connection attempt to an address that refuses it
// costs one packet, so a retry a second is nothing. (GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is, in gRPC core,
// the least time one connection attempt is given before it is abandoned; that grows with the back-off.)
// DNS names (Fly's *.internal, whose addresses change when a machine is replaced) are re-resolved at most
// once a second instead of gRPC's 30 s, for the same reason.
//
// Every address the target resolves to is a replica, and calls go round robin over those that are connected
// (gRPC's "round_robin" policy; its default, "pick_first", would send everything to the first address that
// answers). So a target that names several replicas spreads the calls over them all and skips one that is
// down or restarting (its subchannel is not READY, so no call is picked for it; it is reconnected with the
// back-off above): a Kubernetes headless Service ("protectogram-incident:50051", one A record per ready pod;
// k8s/configmap.yaml), Fly's "<app>.internal:50051" (one AAAA record per machine), or an explicit list
// "ipv4:127.0.0.1:5001,127.0.0.1:5002". When none is connected a call fails UNAVAILABLE (a wait_for_ready
// call waits for one, until its deadline), as with a single address, for which nothing changes.
// The health of a replica is not checked here (no healthCheckConfig): one that is up but not ready still
// gets its share; a draining one sends GOAWAY and is dropped from the rotation. gRPC resolves a DNS name again
// when a connection is lost, not on a timer; our servers (GrpcHost) close every connection after about two
// minutes, so a replica added while the others stay connected is called within that time.
//
// No keepalive pings: our servers (GrpcHost) keep gRPC's default ping policy, which answers a client that
// pings more often than every 5 minutes with GOAWAY "too_many_pings"; enabling it would need both sides.
// Every call carries a deadline instead.
//
// Channels are cheap to keep and share: make one per address at start and reuse it (it reconnects by
// itself; calls from many threads at once are fine).
std::shared_ptr<grpc::Channel> ServiceChannel(const std::string& address);

}  // namespace protectogram::kernel
