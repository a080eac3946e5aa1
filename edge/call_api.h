// The REST call API of ivr-call-api on the edge (docs/call-api.md), forwarded to TelephonyService over gRPC:
//
//   POST /api/v1/token                 OAuth2 password grant (form) -> {"access_token","token_type":"bearer"}
//   POST /api/v1/interaction/{number}  optional JSON body            -> PlaceCall
//   POST /api/v1/calls                 JSON body with phone_number   -> PlaceCall
//   GET  /api/v1/status/{call_id}      (and GET /api/v1/calls/{call_id}) -> GetCall
//   GET  /openapi.json                 the OpenAPI document (no auth)
//
// Errors are FastAPI's: {"detail":"..."} for 401/403/404/429/503, and for 422 a list
// {"detail":[{"loc":["body","phone_number"],"msg":"field required","type":"value_error.missing"}]}.
// Every 401 carries "WWW-Authenticate: Bearer". Bearer tokens are HS256 JWTs signed with SECRET_KEY; the user
// (edge.api_users, see api_users.h) is looked up on every request, so a removed user's tokens stop working
// at once. Origination is rate-limited per user (CALL_API_RATE_LIMIT) in this process's memory.
//
// The pure parts (configuration, request parsing, token checks, status mapping, JSON, the rate limiter) are
// free functions, tested on literal input; CallApi holds the I/O (the users' pool, the telephony stub).
#pragma once

#include <grpcpp/channel.h>

#include <boost/json/object.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "edge/api_users.h"
#include "libs/crypto/jwt.h"
#include "libs/crypto/random.h"
#include "libs/http/server.h"
#include "libs/kernel/config.h"
#include "libs/kernel/metrics.h"
#include "libs/pg/pool.h"
#include "libs/providers/common/text.h"
#include "protectogram/telephony/v1/telephony.grpc.pb.h"

namespace protectogram::edge {

// "N/unit": at most N originations per unit and user (a token bucket of N that refills over the unit).
struct RateLimit {
  int64_t count = 30;  // 0: no limit
  absl::Duration period = absl::Minutes(1);
  bool enabled() const { return count > 0; }
};
// "10/minute", "5/second", "100/hour", "1000/day" (also "10 per minute", plural units and "/s" "/m" "/h"
// "/d"); "0" turns the limit off. INVALID_ARGUMENT otherwise.
absl::StatusOr<RateLimit> ParseRateLimit(std::string_view text);

struct CallApiConfig {
  // False when SECRET_KEY is unset (dev only): every /api/v1 route answers 503 "Call API not configured".
  bool enabled = false;
  std::string secret_key;                                  // SECRET_KEY (a secret: never logged)
  std::string jwt_issuer;                                  // JWT_ISSUER: "iss" issued and required
  std::string jwt_audience;                                // JWT_AUDIENCE: "aud" issued and required
  absl::Duration access_token_expire = absl::Minutes(30);  // ACCESS_TOKEN_EXPIRE_MINUTES
  absl::Duration jwt_leeway = absl::Seconds(10);           // clock skew allowed for exp/iat/nbf
  RateLimit rate_limit;                                    // CALL_API_RATE_LIMIT, default 30/minute
  // Defaults for what a request leaves out.
  std::string default_context = "default";  // DEFAULT_CONTEXT
  std::string default_extension = "s";      // DEFAULT_EXTENSION
  int default_priority = 1;                 // DEFAULT_PRIORITY (1..10)
  int default_timeout_sec = 30;             // DEFAULT_TIMEOUT, seconds of ringing (1..600)
  std::string default_caller_id;            // DEFAULT_CALLER_ID ("": the provider's number)
  // CALL_API_TELEPHONY_TIMEOUT_MS: the deadline of one PlaceCall/GetCall.
  absl::Duration telephony_timeout = absl::Seconds(10);
};

// Reads CallApiConfig. SECRET_KEY is required in staging and prod (at least 32 characters there); in dev an
// unset SECRET_KEY turns the API off. INVALID_ARGUMENT naming every bad variable (kernel::ConfigReader's
// format); SECRET_KEY is registered as a secret.
absl::StatusOr<CallApiConfig> LoadCallApiConfig(const kernel::Env& env, kernel::AppEnv app_env);

// One entry of a FastAPI/pydantic 422 list.
struct FieldError {
  std::vector<std::string> loc;  // {"body", "phone_number"}, {"path", "number"}, {"body"}
  std::string msg;
  std::string type;
  boost::json::object ctx;  // omitted when empty
};
// {"detail":[...]}.
std::string ValidationErrorJson(const std::vector<FieldError>& errors);
http::Response ValidationError(const std::vector<FieldError>& errors);
// {"detail":"<detail>"} with `status`.
http::Response Detail(int status, std::string_view detail);

// A call to place: what the request said, with the configured defaults for what it left out.
struct OriginateRequest {
  std::string phone_number;  // E.164
  std::string context;
  std::string extension;
  int priority = 1;
  int timeout_sec = 30;
  std::string caller_id;
  std::string message;   // our extension: text to speak ("" = telephony's default)
  std::string language;  // our extension: its locale ("" = telephony's default)
};
struct ParsedOriginate {
  std::optional<OriginateRequest> request;  // set when `errors` is empty
  std::vector<FieldError> errors;
};

// "+" and 8..15 digits, the first not 0.
using providers::IsE164;
// POST /api/v1/interaction/{number}: `number` as decoded from the path; `body` optional (empty or "null":
// every default). Errors for the path and the body together, as FastAPI reports them.
ParsedOriginate ParseInteraction(std::string_view number, std::string_view body, const CallApiConfig& config);
// POST /api/v1/calls: a JSON object with phone_number and the interaction's fields.
ParsedOriginate ParseCreateCall(std::string_view body, const CallApiConfig& config);

struct TokenForm {
  std::string username;
  std::string password;
};
struct ParsedTokenForm {
  std::optional<TokenForm> form;
  std::vector<FieldError> errors;
};
// POST /api/v1/token: application/x-www-form-urlencoded username, password (required, non-empty),
// grant_type (optional; "password" when present), scope/client_id/client_secret ignored.
ParsedTokenForm ParseTokenForm(std::string_view content_type, std::string_view body);

// The token of "Authorization: Bearer <token>" (scheme in any case); nullopt when the header is missing or
// names another scheme (FastAPI: "Not authenticated"). An empty token is returned as "".
std::optional<std::string> BearerToken(std::string_view authorization);
// A new token for `username`: sub, iat = now, exp = now + access_token_expire, iss/aud when configured.
absl::StatusOr<std::string> IssueToken(std::string_view username, const CallApiConfig& config,
                                       absl::Time now);
// The username ("sub") of a valid token. UNAUTHENTICATED with the reason otherwise: bad signature, expired,
// not yet valid (nbf or iat in the future), any alg but HS256 (including "none"), wrong iss/aud when
// configured, malformed.
absl::StatusOr<crypto::JwtClaims> CheckToken(std::string_view token, const CallApiConfig& config,
                                             absl::Time now);

// ivr-call-api's status of a call in telephony's state.
struct ApiCallStatus {
  std::string status;  // pending, dialing, ringing, answered, completed, failed
  bool active = false;
  // For a failed call: telephony's failure reason, else "no_answer", "busy", "canceled" (or the outcome).
  std::optional<std::string> failure_reason;
};
ApiCallStatus MapCallStatus(const telephony::v1::Call& call);

// "2024-05-01T12:00:00.000000+00:00" (UTC, as Python's isoformat writes an aware datetime).
std::string IsoTime(absl::Time t);
// The 200 of an origination: success, call_id, phone_number, message "Call initiated", channel, status,
// created_at.
std::string OriginateResponseJson(const telephony::v1::PlaceCallResponse& response,
                                  std::string_view phone_number, absl::Time now);
// GET /api/v1/status/{id}: call_id ... is_active, is_completed (timestamps ISO 8601 or null).
std::string CallStatusJson(const telephony::v1::Call& call);
using crypto::IsUuid;
// A new random (version 4) UUID, lower case (crypto::NewUuid; the process stops if the CSPRNG fails).
std::string NewUuid();
// The HTTP answer for a telephony error: INVALID_ARGUMENT 422, PERMISSION_DENIED 403, RESOURCE_EXHAUSTED 429,
// NOT_FOUND 404 "Call not found", UNAVAILABLE/DEADLINE_EXCEEDED 503 "Telephony service unavailable", anything
// else 502.
http::Response TelephonyError(const absl::Status& status);

// Per-user token buckets; Take is thread-safe. Each edge process counts on its own.
class RateLimiter {
 public:
  RateLimiter(RateLimit limit, std::function<absl::Time()> now);
  // Takes one token of `key`'s bucket: nullopt when there was one, else how long until there is.
  std::optional<absl::Duration> Take(std::string_view key);

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time updated;
  };
  const RateLimit limit_;
  const std::function<absl::Time()> now_;
  std::mutex mu_;
  std::map<std::string, Bucket, std::less<>> buckets_;
};

class CallApi {
 public:
  struct Options {
    CallApiConfig config;
    pg::Pool* users_pool = nullptr;  // edge.api_users; must outlive the CallApi
    std::shared_ptr<grpc::Channel> telephony;
    std::function<absl::Time()> now;             // empty: absl::Now
    kernel::MetricsRegistry* metrics = nullptr;  // nullptr: kernel::DefaultMetrics()
  };
  explicit CallApi(Options options);

  // A CallApi with its own small pool on `database_url` (the protectogram_edge role) and its own channel
  // to `telephony_addr` (TELEPHONY_ADDR). INVALID_ARGUMENT for a malformed URL; connects nothing yet.
  static absl::StatusOr<std::unique_ptr<CallApi>> Create(CallApiConfig config,
                                                         const std::string& database_url,
                                                         const std::string& telephony_addr,
                                                         kernel::MetricsRegistry* metrics = nullptr);

  // Adds the routes above. The CallApi must outlive the router (and every server running it).
  void AddRoutes(http::Router& router);

  http::Response Token(const http::Request& request);
  http::Response Interaction(const http::Request& request);
  http::Response CreateCall(const http::Request& request);
  http::Response GetStatus(const http::Request& request, std::string_view prefix);

 private:
  absl::Time Now() const { return options_.now ? options_.now() : absl::Now(); }
  // The user of the request's bearer token, or the 401/503 to answer.
  std::optional<http::Response> Authenticate(const http::Request& request, std::string* username);
  http::Response Originate(const http::Request& request, const std::string& username, ParsedOriginate parsed);
  http::Response RefuseAuth(std::string_view reason, std::string_view detail);

  Options options_;
  std::unique_ptr<pg::Pool> own_pool_;
  ApiUserStore users_;
  std::unique_ptr<telephony::v1::TelephonyService::Stub> telephony_;
  RateLimiter limiter_;
  kernel::Counter& originations_;
  kernel::Counter& auth_failures_;
  std::counting_semaphore<8> bcrypt_slots_;  // bcrypt checks running at once
};

}  // namespace protectogram::edge
