// Shaped like FakeBotApi (libs/providers/telegram/fake_bot_api.cc): one lock over everything, never held while
// a delay is waited out; every answer's on_complete marks its call finished.
#include "libs/providers/whatsapp/fake_cloud_api.h"

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/http/server.h"
#include "libs/providers/common/json_reader.h"
#include "libs/providers/common/text.h"
#include "libs/providers/whatsapp/cloud_api.h"

namespace protectogram::providers::whatsapp {
namespace {

namespace json = boost::json;

constexpr char kMalformedBody[] = R"({"messaging_product":"whatsapp","contacts":[{"input":)";

// "+79990001122" and "79990001122" are one recipient.
std::string Digits(std::string_view to) {
  if (!to.empty() && to.front() == '+') to.remove_prefix(1);
  return std::string(to);
}

bool IsPhoneNumber(std::string_view to) {
  const std::string digits = Digits(to);
  return digits.size() >= 7 && digits.size() <= 15 &&
         digits.find_first_not_of("0123456789") == std::string::npos && digits.front() != '0';
}

bool IsVersion(std::string_view v) {  // "v25.0"
  if (v.size() < 4 || v.front() != 'v') return false;
  const size_t dot = v.find('.');
  if (dot == std::string_view::npos || dot == 1 || dot + 1 == v.size()) return false;
  return v.substr(1, dot - 1).find_first_not_of("0123456789") == std::string_view::npos &&
         v.substr(dot + 1).find_first_not_of("0123456789") == std::string_view::npos;
}

std::optional<std::string> StringAt(const json::object* o, std::string_view key) {
  if (o == nullptr) return std::nullopt;
  const json::value* v = o->if_contains(json::string_view(key.data(), key.size()));
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string(v->get_string().data(), v->get_string().size());
}

const json::object* ObjectAt(const json::object* o, std::string_view key) {
  if (o == nullptr) return nullptr;
  const json::value* v = o->if_contains(json::string_view(key.data(), key.size()));
  return v != nullptr && v->is_object() ? &v->get_object() : nullptr;
}

struct Answer {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  int64_t error_code = 0;
  bool accepted = false;
  std::string message_id;
  std::string fault;
  bool drop = false;
};

}  // namespace

Fault Fault::RateLimited() {
  Fault f;
  f.kind = FaultKind::kRateLimited;
  return f;
}
Fault Fault::PairRateLimited() {
  Fault f;
  f.kind = FaultKind::kPairRateLimited;
  return f;
}
Fault Fault::Undeliverable() {
  Fault f;
  f.kind = FaultKind::kUndeliverable;
  return f;
}
Fault Fault::Reengagement() {
  Fault f;
  f.kind = FaultKind::kReengagement;
  return f;
}
Fault Fault::ServerError(int status) {
  Fault f;
  f.kind = FaultKind::kServerError;
  f.status = status;
  return f;
}
Fault Fault::MalformedBody() {
  Fault f;
  f.kind = FaultKind::kMalformedBody;
  return f;
}
Fault Fault::Slow(absl::Duration delay) {
  Fault f;
  f.kind = FaultKind::kSlow;
  f.delay = delay;
  return f;
}
Fault Fault::DropBeforeAccept() {
  Fault f;
  f.kind = FaultKind::kDropBeforeAccept;
  return f;
}
Fault Fault::DropAfterAccept() {
  Fault f;
  f.kind = FaultKind::kDropAfterAccept;
  return f;
}

std::string_view FaultLabel(FaultKind kind) {
  switch (kind) {
    case FaultKind::kRateLimited:
      return "rate_limited";
    case FaultKind::kPairRateLimited:
      return "pair_rate_limited";
    case FaultKind::kUndeliverable:
      return "undeliverable";
    case FaultKind::kReengagement:
      return "reengagement";
    case FaultKind::kServerError:
      return "server_error";
    case FaultKind::kMalformedBody:
      return "malformed_body";
    case FaultKind::kSlow:
      return "slow";
    case FaultKind::kDropBeforeAccept:
      return "drop_before_accept";
    case FaultKind::kDropAfterAccept:
      return "drop_after_accept";
  }
  return "unknown";
}

struct FakeCloudApi::State : std::enable_shared_from_this<FakeCloudApi::State> {
  explicit State(FakeCloudApiOptions o) : options(std::move(o)) {}

  absl::Time Now() const { return options.clock ? options.clock() : absl::Now(); }

  absl::Status AddPhoneNumberLocked(FakePhoneNumber number) {
    if (number.phone_number_id.empty() || number.token.empty()) {
      return absl::InvalidArgumentError("a phone number needs an id and a token");
    }
    if (!phone_numbers.emplace(number.phone_number_id, number.token).second) {
      return absl::InvalidArgumentError("phone number id given twice");
    }
    tokens.insert(number.token);
    return absl::OkStatus();
  }

  std::optional<Fault> TakeFault(std::string_view to) {
    for (auto it = rules.begin(); it != rules.end(); ++it) {
      if (!it->to.empty() && Digits(it->to) != Digits(to)) continue;
      Fault fault = it->fault;
      if (it->times > 0 && --it->times == 0) rules.erase(it);
      return fault;
    }
    return std::nullopt;
  }

  bool Wait(absl::Duration delay) {
    std::unique_lock<std::mutex> lock(mu);
    return !stop_cv.wait_for(lock, absl::ToChronoNanoseconds(std::min(delay, absl::Hours(24))),
                             [this] { return stopping; });
  }

  // A Graph error answer; mu need not be held.
  Answer GraphError(int status, int64_t code, std::string_view message,
                    std::string_view type = "OAuthException", std::string_view details = {},
                    int64_t subcode = 0) {
    json::object error;
    error["message"] = json::string_view(message.data(), message.size());
    error["type"] = json::string_view(type.data(), type.size());
    error["code"] = code;
    if (!details.empty()) {
      json::object data;
      data["messaging_product"] = "whatsapp";
      data["details"] = json::string_view(details.data(), details.size());
      error["error_data"] = std::move(data);
    }
    if (subcode != 0) error["error_subcode"] = subcode;
    error["fbtrace_id"] = absl::StrCat("AFakeTrace", ++trace_counter);
    json::object o;
    o["error"] = std::move(error);
    Answer a;
    a.status = status;
    a.error_code = code;
    a.body = json::serialize(o);
    return a;
  }

  Answer InvalidParameter(std::string_view message) {
    return GraphError(400, 100, message, "OAuthException", message);
  }

  Answer FaultAnswer(const Fault& fault) {
    switch (fault.kind) {
      case FaultKind::kRateLimited:
        return GraphError(400, 130429, "(#130429) Rate limit hit", "OAuthException",
                          "Cloud API message throughput has been reached.", 2494055);
      case FaultKind::kPairRateLimited:
        return GraphError(400, 131056, "(#131056) (Business Account, Consumer Account) pair rate limit hit",
                          "OAuthException",
                          "Message failed to send because there were too many messages sent from this phone "
                          "number to the same phone number in a short period of time.");
      case FaultKind::kUndeliverable:
        return GraphError(400, 131026, "(#131026) Message undeliverable", "OAuthException",
                          "Message Undeliverable.");
      case FaultKind::kReengagement:
        return GraphError(
            400, 131047, "(#131047) Re-engagement message", "OAuthException",
            "Message failed to send because more than 24 hours have passed since the customer last "
            "replied to this number.");
      case FaultKind::kServerError:
        if (fault.status == 500) return GraphError(500, 131000, "(#131000) Something went wrong");
        if (fault.status == 503) return GraphError(503, 131016, "(#131016) Service unavailable");
        {
          Answer a;
          a.status = fault.status;
          a.content_type = "text/html";
          a.body = absl::StrCat("<html><body><h1>", fault.status, " Server Error</h1></body></html>");
          return a;
        }
      case FaultKind::kDropBeforeAccept: {
        Answer a;
        a.drop = true;
        return a;
      }
      case FaultKind::kMalformedBody:
      case FaultKind::kSlow:
      case FaultKind::kDropAfterAccept:
        break;
    }
    return Answer{};
  }

  // Validates and sends; mu held.
  Answer Execute(const json::object& body, Call& call) {
    if (StringAt(&body, "messaging_product") != "whatsapp") {
      return InvalidParameter("(#100) The parameter messaging_product is required.");
    }
    const std::optional<std::string> to = StringAt(&body, "to");
    if (!to.has_value()) return InvalidParameter("(#100) The parameter to is required.");
    if (!IsPhoneNumber(*to))
      return GraphError(400, 100, "(#100) Invalid parameter", "OAuthException", "Invalid parameter");
    const std::string type = StringAt(&body, "type").value_or("text");
    if (type == "text") {
      const std::optional<std::string> text = StringAt(ObjectAt(&body, "text"), "body");
      if (!text.has_value() || text->empty())
        return InvalidParameter("(#100) The parameter text['body'] is required.");
      if (Utf16Length(*text) > kMaxTextLength) {
        return InvalidParameter("(#100) Param text['body'] must be at most 4096 characters long.");
      }
    } else if (type == "template") {
      const json::object* tpl = ObjectAt(&body, "template");
      if (!StringAt(tpl, "name").has_value())
        return InvalidParameter("(#100) The parameter template['name'] is required.");
      if (!StringAt(ObjectAt(tpl, "language"), "code").has_value()) {
        return InvalidParameter("(#100) The parameter template['language']['code'] is required.");
      }
    } else {
      return InvalidParameter(absl::StrCat("(#100) Param type '", type, "' is not supported by the fake"));
    }
    if (blocked.count(Digits(*to)) > 0) return FaultAnswer(Fault::Undeliverable());
    json::object contact;
    contact["input"] = *to;
    contact["wa_id"] = Digits(*to);
    json::array contacts;
    contacts.push_back(std::move(contact));
    Answer a;
    a.message_id = absl::StrCat("wamid.", ++message_counter);
    json::object message;
    message["id"] = a.message_id;
    json::array messages;
    messages.push_back(std::move(message));
    json::object o;
    o["messaging_product"] = "whatsapp";
    o["contacts"] = std::move(contacts);
    o["messages"] = std::move(messages);
    a.body = json::serialize(o);
    a.accepted = true;
    call.message_id = a.message_id;
    return a;
  }

  http::Response Handle(const http::Request& request) {
    Call call;
    call.received_at = Now();
    call.body_json = request.body;
    std::string_view auth = request.Header("authorization");
    if (auth.substr(0, 7) == "Bearer ") call.token = std::string(auth.substr(7));
    std::vector<std::string> segments = absl::StrSplit(request.path, '/', absl::SkipEmpty());
    const bool path_ok = segments.size() == 3 && IsVersion(segments[0]) && segments[2] == "messages";
    if (segments.size() >= 1) call.api_version = segments[0];
    if (segments.size() >= 2) call.phone_number_id = segments[1];
    absl::StatusOr<json::object> body = ParseJsonObject(request.body, "request");
    if (body.ok()) {
      call.to = StringAt(&*body, "to").value_or("");
      call.type = StringAt(&*body, "type").value_or("text");
      call.text = StringAt(ObjectAt(&*body, "text"), "body").value_or("");
      call.template_name = StringAt(ObjectAt(&*body, "template"), "name").value_or("");
    }

    size_t index = 0;
    std::optional<Answer> answer;
    std::optional<Fault> fault;
    {
      std::lock_guard<std::mutex> lock(mu);
      index = calls.size();
      calls.push_back(call);
      auto number = phone_numbers.find(call.phone_number_id);
      if (call.token.empty() || tokens.count(call.token) == 0) {
        answer = GraphError(401, 190, "Invalid OAuth access token - Cannot parse access token");
      } else if (!path_ok) {
        answer = GraphError(400, 2500, absl::StrCat("Unknown path components: ", request.path));
      } else if (number == phone_numbers.end() || number->second != call.token) {
        answer =
            GraphError(400, 100,
                       absl::StrCat("Unsupported post request. Object with ID '", call.phone_number_id,
                                    "' does not exist, cannot be loaded due to missing permissions, or does "
                                    "not support this operation. Please read the Graph API documentation at "
                                    "https://developers.facebook.com/docs/graph-api"),
                       "GraphMethodException", {}, 33);
      } else {
        fault = TakeFault(call.to);
      }
    }
    calls_cv.notify_all();  // a call arrived: waiters may be waiting for just that
    if (!answer.has_value() && fault.has_value()) {
      if (fault->delay > absl::ZeroDuration() && !Wait(fault->delay)) {
        answer.emplace();
        answer->drop = true;
      } else if (fault->kind != FaultKind::kMalformedBody && fault->kind != FaultKind::kSlow &&
                 fault->kind != FaultKind::kDropAfterAccept) {
        std::lock_guard<std::mutex> lock(mu);
        answer = FaultAnswer(*fault);
      }
      if (answer.has_value()) answer->fault = std::string(FaultLabel(fault->kind));
    }
    if (!answer.has_value()) {
      {
        std::lock_guard<std::mutex> lock(mu);
        answer = body.ok() ? Execute(*body, calls[index]) : InvalidParameter("(#100) Invalid parameter");
      }
      if (fault.has_value()) {
        answer->fault = std::string(FaultLabel(fault->kind));
        if (fault->kind == FaultKind::kMalformedBody) {
          answer->status = 200;
          answer->body = kMalformedBody;
        } else if (fault->kind == FaultKind::kDropAfterAccept) {
          answer->drop = true;
        }
      }
    }

    {
      std::lock_guard<std::mutex> lock(mu);
      Call& recorded = calls[index];
      recorded.status = answer->drop ? 0 : answer->status;
      recorded.error_code = answer->error_code;
      recorded.accepted = answer->accepted;
      recorded.fault = answer->fault;
    }
    calls_cv.notify_all();

    http::Response response = http::Response::Json(answer->status, std::move(answer->body));
    response.content_type = answer->content_type;
    response.drop_connection = answer->drop;
    response.on_complete = [self = shared_from_this(), index](bool written) {
      {
        std::lock_guard<std::mutex> lock(self->mu);
        self->calls[index].answered = written;
        self->calls[index].finished = true;
      }
      self->calls_cv.notify_all();
    };
    return response;
  }

  const FakeCloudApiOptions options;
  mutable std::mutex mu;
  mutable std::condition_variable calls_cv;                              // a call was recorded or finished
  std::condition_variable stop_cv;                                       // stopping was set
  std::map<std::string, std::string> phone_numbers ABSL_GUARDED_BY(mu);  // id -> token
  std::set<std::string> tokens ABSL_GUARDED_BY(mu);
  std::vector<FaultRule> rules ABSL_GUARDED_BY(mu);
  std::set<std::string> blocked ABSL_GUARDED_BY(mu);  // digits
  std::vector<Call> calls ABSL_GUARDED_BY(mu);
  int64_t message_counter ABSL_GUARDED_BY(mu) = 0;
  int64_t trace_counter ABSL_GUARDED_BY(mu) = 0;
  bool stopping ABSL_GUARDED_BY(mu) = false;
};

absl::StatusOr<std::unique_ptr<FakeCloudApi>> FakeCloudApi::Start(FakeCloudApiOptions options) {
  std::unique_ptr<FakeCloudApi> api(new FakeCloudApi());
  std::vector<FakePhoneNumber> numbers = std::move(options.phone_numbers);
  api->state_ = std::make_shared<State>(std::move(options));
  for (FakePhoneNumber& number : numbers) {
    if (absl::Status s = api->state_->AddPhoneNumberLocked(std::move(number)); !s.ok()) return s;
  }
  http::ServerOptions server_options;
  server_options.address = api->state_->options.address;
  server_options.port = api->state_->options.port;
  server_options.threads = 2;
  server_options.handler_threads = std::max(1, api->state_->options.handler_threads);
  http::Router router;
  std::shared_ptr<State> state = api->state_;
  router.AddPrefix("POST", "/", [state](const http::Request& request) { return state->Handle(request); });
  api->server_ = std::make_unique<http::Server>(std::move(server_options), std::move(router));
  if (absl::Status s = api->server_->Start(); !s.ok()) return s;
  return api;
}

FakeCloudApi::~FakeCloudApi() { Stop(); }

void FakeCloudApi::Stop() {
  if (state_) {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->stopping = true;
    }
    state_->stop_cv.notify_all();
  }
  if (server_) server_->Stop(std::chrono::milliseconds(1000));
}

std::string FakeCloudApi::base_url() const {
  return absl::StrCat("http://", state_->options.address, ":", port());
}

uint16_t FakeCloudApi::port() const { return server_->port(); }

absl::Status FakeCloudApi::AddPhoneNumber(FakePhoneNumber phone_number) {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->AddPhoneNumberLocked(std::move(phone_number));
}

void FakeCloudApi::Script(FaultRule rule) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (rule.times != 0) state_->rules.push_back(std::move(rule));
}

void FakeCloudApi::ClearScript() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->rules.clear();
}

void FakeCloudApi::BlockRecipient(std::string_view to) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->blocked.insert(Digits(to));
}

void FakeCloudApi::UnblockRecipient(std::string_view to) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->blocked.erase(Digits(to));
}

std::vector<FakeCloudApi::Call> FakeCloudApi::Calls() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->calls;
}

std::vector<FakeCloudApi::Call> FakeCloudApi::Sent(std::string_view to) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<Call> out;
  const std::string digits = Digits(to);
  for (const Call& call : state_->calls) {
    if (call.accepted && Digits(call.to) == digits) out.push_back(call);
  }
  return out;
}

bool FakeCloudApi::WaitForCalls(size_t count, absl::Duration timeout) const {
  return WaitForCalls(
      [count](const std::vector<Call>& calls) {
        if (calls.size() < count) return false;
        for (const Call& call : calls) {
          if (!call.finished) return false;
        }
        return true;
      },
      timeout);
}

bool FakeCloudApi::WaitForCalls(const std::function<bool(const std::vector<Call>&)>& done,
                                absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(state_->mu);
  return state_->calls_cv.wait_for(lock, absl::ToChronoNanoseconds(std::min(timeout, absl::Hours(24))),
                                   [&] { return done(state_->calls); });
}

}  // namespace protectogram::providers::whatsapp
