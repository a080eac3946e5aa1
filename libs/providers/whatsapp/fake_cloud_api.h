// A WhatsApp Cloud API messages endpoint on loopback, for integration tests and local simulators: it answers
// POST /<version>/<phone_number_id>/messages the way graph.facebook.com does (cloud_api.h lists the facts),
// records every call, and fails on demand (scripted faults), from any number of threads at once.
//
//   auto api = FakeCloudApi::Start({.phone_numbers = {{"106540352242922", "EAAG-token"}}});
//   http::Client client;
//   client.PostJson(MessagesUrl((*api)->base_url(), kDefaultApiVersion, "106540352242922"),
//                   *TextMessageBody("+79990001122", "hi"), {{"Authorization", "Bearer EAAG-token"}});
//   (*api)->WaitForCalls(1, absl::Seconds(5));
//   (*api)->Sent("+79990001122");
//
// What it answers (Graph errors are {"error":{"message","type","code"[,"error_subcode"][,"error_data":
// {"messaging_product":"whatsapp","details"}],"fbtrace_id"}}):
// - a missing or unknown bearer token: 401, code 190 "Invalid OAuth access token - Cannot parse access
//   token" (OAuthException).
// - a version segment that is not v<N>.<M>, or another path: 400, code 2500 "Unknown path components".
// - a phone_number_id the token does not own: 400, code 100, subcode 33 "Unsupported post request. Object
//   with ID '<id>' does not exist, ..." (GraphMethodException).
// - a body that is not a JSON object, messaging_product other than "whatsapp", a `to` that is not +?7-15
//   digits, a missing text.body (or one over 4096 UTF-16 code units), a template without name or
//   language.code, a type other than text or template: 400, code 100 "(#100) ...".
// - a recipient given to BlockRecipient: 400, code 131026 "(#131026) Message undeliverable".
// - otherwise 200 {"messaging_product":"whatsapp","contacts":[{"input":<to>,"wa_id":<to's digits>}],
//   "messages":[{"id":"wamid.<n>"}]}, n counting 1, 2, ... over the whole fake.
//
// Threading: handlers run on the server's handler pool (FakeCloudApiOptions::handler_threads), so a slow or
// dropped answer holds up only its own connection. Every method is thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace protectogram::http {
class Server;
}  // namespace protectogram::http

namespace protectogram::providers::whatsapp {

struct FakePhoneNumber {
  std::string phone_number_id;  // "106540352242922"
  std::string token;            // the access token that may send from it
};

enum class FaultKind {
  kRateLimited,       // 400, code 130429 "(#130429) Rate limit hit" (the throughput limit; Meta answers 400)
  kPairRateLimited,   // 400, code 131056 "(#131056) (Business Account, Consumer Account) pair rate limit hit"
  kUndeliverable,     // 400, code 131026 "(#131026) Message undeliverable"
  kReengagement,      // 400, code 131047 "(#131047) Re-engagement message" (the 24 h window is closed)
  kServerError,       // `status`: 500 code 131000, 503 code 131016, other statuses a gateway's HTML page
  kMalformedBody,     // carried out (the message is sent), then answered 200 with a truncated JSON body
  kSlow,              // answered normally, after `delay`
  kDropBeforeAccept,  // the connection is closed with no answer, before anything was done
  kDropAfterAccept,   // carried out (the message IS sent), then the connection is closed with no answer
};

struct Fault {
  FaultKind kind = FaultKind::kSlow;
  int status = 500;                             // kServerError
  absl::Duration delay = absl::ZeroDuration();  // waited before acting, for every kind

  static Fault RateLimited();
  static Fault PairRateLimited();
  static Fault Undeliverable();
  static Fault Reengagement();
  static Fault ServerError(int status = 500);
  static Fault MalformedBody();
  static Fault Slow(absl::Duration delay);
  static Fault DropBeforeAccept();
  static Fault DropAfterAccept();
};

// "rate_limited", "pair_rate_limited", "undeliverable", "reengagement", "server_error", "malformed_body",
// "slow", "drop_before_accept", "drop_after_accept".
std::string_view FaultLabel(FaultKind kind);

inline constexpr int kForever = -1;

// Applies `fault` to the next `times` sends (kForever: all) to `to` (as sent; "" any). Rules are tried in the
// order given; the first with uses left applies. Faults apply after the token and the phone number are
// checked and before the body is.
struct FaultRule {
  std::string to;
  int times = 1;
  Fault fault;
};

struct FakeCloudApiOptions {
  std::vector<FakePhoneNumber> phone_numbers;
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: an ephemeral port
  int handler_threads = 16;
  // Call::received_at; absl::Now when unset. Called from many threads at once.
  std::function<absl::Time()> clock;
};

class FakeCloudApi {
 public:
  struct Call {
    absl::Time received_at;
    std::string token;            // the bearer token presented ("" none)
    std::string api_version;      // "v25.0"
    std::string phone_number_id;  // from the path
    std::string to;               // as sent
    std::string type;             // "text", "template", ...
    std::string text;             // text.body
    std::string template_name;    // template.name
    std::string message_id;       // "wamid.<n>" when accepted
    std::string body_json;        // the request body as received
    std::string fault;            // FaultLabel of the scripted fault applied; "" none
    int status = 0;               // the HTTP status answered; 0 when the connection was dropped
    int64_t error_code = 0;       // the Graph error code answered; 0 on success
    bool accepted = false;        // the message was sent
    bool finished = false;        // `answered` is known
    bool answered = false;        // the whole answer was written while the client was still connected
  };

  // Binds and starts serving. UNAVAILABLE if the port cannot be bound; INVALID_ARGUMENT for a phone number
  // with an empty id or token, or given twice.
  static absl::StatusOr<std::unique_ptr<FakeCloudApi>> Start(FakeCloudApiOptions options);
  ~FakeCloudApi();  // Stops.
  FakeCloudApi(const FakeCloudApi&) = delete;
  FakeCloudApi& operator=(const FakeCloudApi&) = delete;

  // "http://127.0.0.1:<port>": the base_url for MessagesUrl.
  std::string base_url() const;
  uint16_t port() const;

  absl::Status AddPhoneNumber(FakePhoneNumber phone_number);
  void Script(FaultRule rule);
  void ClearScript();
  // Every later send to `to` (compared by digits, '+' or not) is answered 131026, until UnblockRecipient.
  void BlockRecipient(std::string_view to);
  void UnblockRecipient(std::string_view to);

  // Every call so far, in arrival order.
  std::vector<Call> Calls() const;
  // The messages sent to `to` (compared by digits), in order: the accepted calls, including those whose
  // answer was dropped (kDropAfterAccept, kMalformedBody).
  std::vector<Call> Sent(std::string_view to) const;
  // True once at least `count` calls have arrived and all of them are finished; false after `timeout`.
  bool WaitForCalls(size_t count, absl::Duration timeout) const;
  // True once `done(Calls())` holds (checked on every change); false after `timeout`. `done` runs under the
  // fake's lock: it must not call the fake.
  bool WaitForCalls(const std::function<bool(const std::vector<Call>&)>& done, absl::Duration timeout) const;

  // Stops serving: slow answers still waiting are dropped at once. Safe to call more than once.
  void Stop();

 private:
  struct State;
  FakeCloudApi() = default;

  std::shared_ptr<State> state_;  // shared with the handlers and their completion callbacks
  std::unique_ptr<http::Server> server_;
};

}  // namespace protectogram::providers::whatsapp
