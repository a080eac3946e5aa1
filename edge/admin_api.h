// The edge's admin routes: operations over HTTP for who has ADMIN_TOKEN but no gRPC client.
//
//   POST /admin/trigger-panic-test   {"traveler_user_id": N} or {"telegram_id": N}
//                                    -> IncidentAdminService.TriggerTestPanic -> {"incident_id","already_active"}
//
// Authorization: "Authorization: Bearer <ADMIN_TOKEN>" (scheme in any case), compared in constant time; the
// same token is passed on to the incident service as "authorization: Bearer <ADMIN_TOKEN>" metadata, which
// checks it again. With ADMIN_TOKEN empty the routes answer 404. Errors are {"detail":"..."} as in the call
// API (call_api.h): 401 with "WWW-Authenticate: Bearer" for a missing or wrong token, 422 for a bad body, and
// the incident service's errors mapped by IncidentAdminError. Every answer carries X-Correlation-Id: the
// caller's when it is valid, else a new one, also sent to the incident service and on the log lines. Not
// part of the call API's OpenAPI document.
#pragma once

#include <grpcpp/channel.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/http/server.h"
#include "protectogram/incident/v1/incident.grpc.pb.h"

namespace protectogram::edge {

inline constexpr char kTriggerPanicTestPath[] = "/admin/trigger-panic-test";
inline constexpr size_t kAdminBodyLimit = 4 * 1024;

// The body of POST /admin/trigger-panic-test: a JSON object with exactly one of traveler_user_id and
// telegram_id, a positive JSON integer (null counts as absent; other fields are ignored). INVALID_ARGUMENT
// with what is wrong otherwise (the 422's detail).
absl::StatusOr<incident::v1::TriggerTestPanicRequest> ParseTriggerPanicTest(std::string_view body);

// The 200's body: {"incident_id":N,"already_active":bool}.
std::string TriggerPanicTestJson(const incident::v1::TriggerTestPanicResponse& response);

// The HTTP answer for an error of the incident service: NOT_FOUND 404, FAILED_PRECONDITION 409,
// INVALID_ARGUMENT 422 (with the service's message), UNAVAILABLE / DEADLINE_EXCEEDED 503 "Incident service
// unavailable" (Retry-After: 5), anything else 502 "Incident service error".
http::Response IncidentAdminError(const absl::Status& status);

class AdminApi {
 public:
  struct Options {
    std::string admin_token;  // ADMIN_TOKEN (a secret: never logged); "" turns every route off (404)
    std::shared_ptr<grpc::Channel> incident;             // INCIDENT_ADDR
    absl::Duration incident_timeout = absl::Seconds(5);  // the deadline of one call to the incident service
  };
  explicit AdminApi(Options options);

  // An AdminApi with its own channel to `incident_addr` (kernel::ServiceChannel).
  static std::unique_ptr<AdminApi> Create(std::string admin_token, const std::string& incident_addr);

  bool enabled() const { return !options_.admin_token.empty(); }
  // Adds the routes above. The AdminApi must outlive the router (and every server running it).
  void AddRoutes(http::Router& router);

  http::Response TriggerPanicTest(const http::Request& request);

 private:
  // nullopt when the request carries the admin token, else the 401 to answer.
  std::optional<http::Response> Authorize(const http::Request& request);
  http::Response TriggerPanicTestInScope(const http::Request& request);

  const Options options_;
  std::unique_ptr<incident::v1::IncidentAdminService::Stub> incident_;
};

}  // namespace protectogram::edge
