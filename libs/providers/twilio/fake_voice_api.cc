// One lock guards everything the fake knows (the scripts, the calls, the requests, the callbacks); a handler
// takes it to record and to act, and each call's thread takes it to move its call on, never while it waits
// out a delay or posts a callback, so one slow receiver holds up nobody else. A call's thread waits on the
// fake's condition variable, which an update (a hangup) or Stop wakes.
#include "libs/providers/twilio/fake_voice_api.h"

#include <algorithm>
#include <boost/json.hpp>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "libs/crypto/encoding.h"
#include "libs/http/client.h"
#include "libs/http/form.h"
#include "libs/http/server.h"
#include "libs/providers/twilio/twilio.h"
#include "libs/providers/twilio/voice_api.h"

namespace protectogram::providers::twilio {
namespace {

namespace json = boost::json;

constexpr std::string_view kAccountsPrefix = "/2010-04-01/Accounts/";
constexpr char kApiVersion[] = "2010-04-01";

bool IsFinal(std::string_view status) {
  return status == "completed" || status == "busy" || status == "failed" || status == "no-answer" ||
         status == "canceled";
}

// '+', then 2-15 digits, the first not 0 (ITU-T E.164).
bool IsE164(std::string_view s) {
  if (s.size() < 3 || s.size() > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9') return false;
  return std::all_of(s.begin() + 1, s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string Rfc2822(absl::Time t) {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", t, absl::UTCTimeZone());
}

std::string First(const FormParams& params, std::string_view name) {
  const std::string* v = FormValue(params, name);
  return v == nullptr ? std::string() : *v;
}

// The five predefined entities and numeric references below 128 (all our builder emits); anything else is
// kept as written.
std::string XmlUnescape(std::string_view s) {
  static constexpr std::pair<std::string_view, char> kEntities[] = {
      {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    bool replaced = false;
    for (const auto& [entity, c] : kEntities) {
      if (s.substr(i, entity.size()) == entity) {
        out.push_back(c);
        i += entity.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced && s.substr(i, 2) == "&#") {
      const size_t semi = s.find(';', i);
      const bool hex = s.substr(i, 3) == "&#x";
      int code = 0;
      if (semi != std::string_view::npos &&
          (hex ? absl::SimpleHexAtoi(std::string(s.substr(i + 3, semi - i - 3)), &code)
               : absl::SimpleAtoi(std::string(s.substr(i + 2, semi - i - 2)), &code)) &&
          code > 0 && code < 128) {
        out.push_back(static_cast<char>(code));
        i = semi;
        replaced = true;
      }
    }
    if (!replaced) out.push_back('&');
  }
  return out;
}

// The attributes of the element whose start tag begins at `tag` ("<Gather a=\"1\" b='2'>..."), values
// unescaped. Quoted values may hold '>'.
std::map<std::string, std::string> TagAttributes(std::string_view tag) {
  std::map<std::string, std::string> attributes;
  size_t i = tag.find_first_of(" \t\r\n/>");
  while (i < tag.size()) {
    while (i < tag.size() && (tag[i] == ' ' || tag[i] == '\t' || tag[i] == '\r' || tag[i] == '\n')) ++i;
    if (i >= tag.size() || tag[i] == '>' || tag[i] == '/') break;
    const size_t eq = tag.find('=', i);
    if (eq == std::string_view::npos || eq + 1 >= tag.size()) break;
    std::string name(tag.substr(i, eq - i));
    absl::StripAsciiWhitespace(&name);
    const char quote = tag[eq + 1];
    if (quote != '"' && quote != '\'') break;
    const size_t close = tag.find(quote, eq + 2);
    if (close == std::string_view::npos) break;
    attributes[std::move(name)] = XmlUnescape(tag.substr(eq + 2, close - eq - 2));
    i = close + 1;
  }
  return attributes;
}

// Where each element named `name` starts ("<Gather" followed by a space, '>' or '/').
std::vector<std::string_view> Elements(std::string_view twiml, std::string_view name) {
  std::vector<std::string_view> out;
  const std::string open = "<" + std::string(name);
  for (size_t at = twiml.find(open); at != std::string_view::npos; at = twiml.find(open, at + 1)) {
    const size_t next = at + open.size();
    if (next < twiml.size() && (twiml[next] == ' ' || twiml[next] == '>' || twiml[next] == '/' ||
                                twiml[next] == '\t' || twiml[next] == '\n' || twiml[next] == '\r')) {
      out.push_back(twiml.substr(at));
    }
  }
  return out;
}

// What the fake reads out of a call's TwiML: the first <Gather>'s action and how many prompts play.
struct TwimlPlan {
  bool has_gather = false;
  std::string action_url;
  int prompts = 0;  // <Say> elements, each counted `loop` times
};

TwimlPlan ReadTwiml(std::string_view twiml) {
  TwimlPlan plan;
  std::vector<std::string_view> gathers = Elements(twiml, "Gather");
  if (!gathers.empty()) {
    plan.has_gather = true;
    std::map<std::string, std::string> attributes = TagAttributes(gathers.front());
    plan.action_url = attributes["action"];
  }
  for (std::string_view say : Elements(twiml, "Say")) {
    std::map<std::string, std::string> attributes = TagAttributes(say);
    int loop = 1;
    if (auto it = attributes.find("loop"); it != attributes.end() && absl::SimpleAtoi(it->second, &loop)) {
      loop = std::max(loop, 1);  // 0 is "forever": counted once
    }
    plan.prompts += loop;
  }
  return plan;
}

// Twilio's error body.
std::string ErrorBody(int status, int64_t code, std::string_view message) {
  json::object o;
  o["code"] = code;
  o["message"] = json::string_view(message.data(), message.size());
  o["more_info"] = absl::StrCat("https://www.twilio.com/docs/errors/", code);
  o["status"] = status;
  return json::serialize(o);
}

std::string DefaultMessage(int64_t code, std::string_view to) {
  switch (code) {
    case 20003:
      return "Authenticate";
    case 20429:
      return "Too Many Requests";
    case 20500:
      return "An internal server error has occurred";
    case 21211:
      return absl::StrCat("The 'To' number ", std::string(to), " is not a valid phone number.");
    case 21214:
      return "'To' phone number cannot be reached";
    case 21217:
      return "Phone number does not appear to be valid";
    default:
      return absl::StrCat("Error ", code);
  }
}

json::value OptionalTime(const std::optional<absl::Time>& t) {
  if (!t.has_value()) return nullptr;
  return json::value(Rfc2822(*t));
}

json::value NullIfEmpty(const std::string& s) {
  if (s.empty()) return nullptr;
  return json::value(s);
}

int DurationSecs(const FakeTwilioVoice::Call& call) {
  if (!call.answered_at.has_value() || !call.end_time.has_value()) return 0;
  return static_cast<int>(absl::ToInt64Seconds(*call.end_time - *call.answered_at));
}

// The call resource as Twilio answers it (call-resource, "Call Properties").
json::object CallJson(std::string_view account_sid, const FakeTwilioVoice::Call& call) {
  json::object o;
  const std::string uri = CallPath(account_sid, call.sid);
  o["account_sid"] = json::string_view(account_sid.data(), account_sid.size());
  o["annotation"] = nullptr;
  o["answered_by"] = NullIfEmpty(call.answered_by);
  o["api_version"] = kApiVersion;
  o["caller_name"] = nullptr;
  o["date_created"] = Rfc2822(call.date_created);
  o["date_updated"] =
      Rfc2822(call.end_time.value_or(call.answered_at.value_or(call.start_time.value_or(call.date_created))));
  o["direction"] = "outbound-api";
  o["duration"] = call.end_time.has_value() ? json::value(std::to_string(DurationSecs(call))) : nullptr;
  o["end_time"] = OptionalTime(call.end_time);
  o["forwarded_from"] = nullptr;
  o["from"] = call.from;
  o["from_formatted"] = call.from;
  o["group_sid"] = nullptr;
  o["parent_call_sid"] = nullptr;
  o["phone_number_sid"] = nullptr;
  o["price"] = nullptr;
  o["price_unit"] = "USD";
  o["queue_time"] = "0";
  o["sid"] = call.sid;
  o["start_time"] = OptionalTime(call.start_time);
  o["status"] = call.status;
  o["to"] = call.to;
  o["to_formatted"] = call.to;
  o["trunk_sid"] = nullptr;
  o["uri"] = uri;
  return o;
}

struct Answer {
  int status = 200;
  std::string body;
  int64_t error_code = 0;
  std::string call_sid;
  bool drop = false;
  bool www_authenticate = false;
};

Answer Error(int status, int64_t code, std::string_view message) {
  Answer a;
  a.status = status;
  a.error_code = code;
  a.body = ErrorBody(status, code, message);
  return a;
}

Answer Json(int status, const json::object& o) {
  Answer a;
  a.status = status;
  a.body = json::serialize(o);
  return a;
}

}  // namespace

std::string_view CallOutcomeLabel(CallOutcome outcome) {
  switch (outcome) {
    case CallOutcome::kPressDigit:
      return "press_digit";
    case CallOutcome::kNoDigit:
      return "no_digit";
    case CallOutcome::kMachine:
      return "machine";
    case CallOutcome::kNoAnswer:
      return "no_answer";
    case CallOutcome::kBusy:
      return "busy";
    case CallOutcome::kFailed:
      return "failed";
    case CallOutcome::kRejectCreate:
      return "reject_create";
    case CallOutcome::kDropCreateAfterPlacing:
      return "drop_create_after_placing";
  }
  return "unknown";
}

CallScript CallScript::PressDigit(std::string digits) {
  CallScript s;
  s.outcome = CallOutcome::kPressDigit;
  s.digits = std::move(digits);
  return s;
}
CallScript CallScript::NoDigit() {
  CallScript s;
  s.outcome = CallOutcome::kNoDigit;
  return s;
}
CallScript CallScript::Machine(std::string answered_by) {
  CallScript s;
  s.outcome = CallOutcome::kMachine;
  s.answered_by = std::move(answered_by);
  return s;
}
CallScript CallScript::NoAnswer() {
  CallScript s;
  s.outcome = CallOutcome::kNoAnswer;
  return s;
}
CallScript CallScript::Busy() {
  CallScript s;
  s.outcome = CallOutcome::kBusy;
  return s;
}
CallScript CallScript::Failed() {
  CallScript s;
  s.outcome = CallOutcome::kFailed;
  return s;
}
CallScript CallScript::RejectCreate(int http_status, int64_t code, std::string message) {
  CallScript s;
  s.outcome = CallOutcome::kRejectCreate;
  s.reject_status = http_status;
  s.reject_code = code;
  s.reject_message = std::move(message);
  return s;
}
CallScript CallScript::DropCreateAfterPlacing(CallOutcome then) {
  CallScript s;
  s.outcome = CallOutcome::kDropCreateAfterPlacing;
  s.then = then;
  return s;
}

struct FakeTwilioVoice::State : std::enable_shared_from_this<FakeTwilioVoice::State> {
  explicit State(FakeTwilioVoiceOptions o) : options(std::move(o)), client(ClientOptionsFor(options)) {}

  static http::ClientOptions ClientOptionsFor(const FakeTwilioVoiceOptions& options) {
    http::ClientOptions client_options;
    client_options.timeout = options.callback_timeout;
    client_options.connect_timeout = std::min(options.callback_timeout, client_options.connect_timeout);
    client_options.user_agent = "TwilioProxy/1.1";
    return client_options;
  }

  absl::Time Now() const { return options.clock ? options.clock() : absl::Now(); }

  // --- the API ---

  bool Authorized(std::string_view header, std::string_view account) const {
    if (account != options.account_sid) return false;
    if (header.size() < 6 || absl::AsciiStrToLower(std::string(header.substr(0, 6))) != "basic ")
      return false;
    std::string credentials(header.substr(6));
    absl::StripAsciiWhitespace(&credentials);
    absl::StatusOr<std::string> decoded = crypto::Base64Decode(credentials);
    if (!decoded.ok()) return false;
    return *decoded == options.account_sid + ":" + options.auth_token;
  }

  // The call's script: the first for `to` with uses left (using one up), else answer and press 1.
  CallScript TakeScript(const std::string& to) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (auto it = scripts.begin(); it != scripts.end(); ++it) {
      if (it->first != to) continue;
      CallScript script = it->second;
      if (it->second.times != kForever && --it->second.times <= 0) scripts.erase(it);
      return script;
    }
    return CallScript();
  }

  Answer Create(const FormParams& params) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const std::string to = First(params, "To");
    const std::string from = First(params, "From");
    const std::string twiml = First(params, "Twiml");
    const std::string url = First(params, "Url");
    if (to.empty()) return Error(400, 21201, "No 'To' number is specified");
    if (from.empty()) return Error(400, 21213, "No 'From' number is specified");
    if (twiml.empty() && url.empty()) return Error(400, 21205, "Url parameter is required.");
    if (!IsE164(to)) return Error(400, 21211, DefaultMessage(21211, to));
    size_t twiml_chars = 0;
    for (char c : twiml) twiml_chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    if (twiml_chars > kMaxTwimlLength) {
      return Error(400, 32018, "Twiml size exceeded maximum allowed value of 4000 characters");
    }
    const CallScript script = TakeScript(to);
    if (script.outcome == CallOutcome::kRejectCreate) {
      return Error(
          script.reject_status, script.reject_code,
          script.reject_message.empty() ? DefaultMessage(script.reject_code, to) : script.reject_message);
    }

    Call call;
    char sid_text[40];
    std::snprintf(sid_text, sizeof(sid_text), "CA%032llx", static_cast<unsigned long long>(++last_sid));
    call.sid = sid_text;
    call.to = to;
    call.from = from;
    call.twiml = twiml;
    call.url = url;
    call.status_callback = First(params, "StatusCallback");
    for (const auto& [name, value] : params) {
      if (name != "StatusCallbackEvent") continue;
      // Twilio takes the events repeated or space-separated in one value.
      std::vector<std::string> events = absl::StrSplit(value, ' ', absl::SkipEmpty());
      for (std::string& event : events) call.status_callback_events.push_back(std::move(event));
    }
    int timeout = 0;
    if (absl::SimpleAtoi(First(params, "Timeout"), &timeout) && timeout > 0) {
      call.timeout_secs = std::min(timeout, kMaxRingTimeoutSecs);
    }
    call.machine_detection = First(params, "MachineDetection") == "Enable" ||
                             First(params, "MachineDetection") == "DetectMessageEnd";
    call.outcome = script.outcome;
    if (script.outcome == CallOutcome::kDropCreateAfterPlacing) {
      call.outcome =
          script.then == CallOutcome::kRejectCreate || script.then == CallOutcome::kDropCreateAfterPlacing
              ? CallOutcome::kPressDigit
              : script.then;
    }
    call.status = "queued";
    call.date_created = Now();

    Answer a;
    a.call_sid = call.sid;
    if (script.outcome == CallOutcome::kDropCreateAfterPlacing) {
      a.drop = true;
    } else {
      a.status = 201;
      a.body = json::serialize(CallJson(options.account_sid, call));
    }
    plays[call.sid] = Play{ReadTwiml(twiml), script};
    call_index[call.sid] = history.calls.size();
    history.calls.push_back(std::move(call));
    if (!stopping) {
      threads.emplace_back([this, sid = std::string(sid_text)] { PlayCall(sid); });
    }
    return a;
  }

  Answer List(const FormParams& query) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const std::string to = First(query, "To");
    const std::string from = First(query, "From");
    const std::string status = First(query, "Status");
    std::optional<absl::CivilDay> on, after, before;
    for (auto [name, day] :
         {std::pair{"StartTime", &on}, std::pair{"StartTime>", &after}, std::pair{"StartTime<", &before}}) {
      const std::string value = First(query, name);
      if (value.empty()) continue;
      absl::CivilDay parsed;
      if (!absl::ParseCivilTime(value, &parsed)) {
        return Error(400, 20001, absl::StrCat("Invalid ", name, ": ", value));
      }
      *day = parsed;
    }
    int page_size = 50;
    int page = 0;
    if (const std::string v = First(query, "PageSize");
        !v.empty() && (!absl::SimpleAtoi(v, &page_size) || page_size < 1 || page_size > 1000)) {
      return Error(400, 20001, "PageSize must be 1..1000");
    }
    if (const std::string v = First(query, "Page"); !v.empty() && (!absl::SimpleAtoi(v, &page) || page < 0)) {
      return Error(400, 20001, "Page must be a non-negative integer");
    }
    std::vector<const Call*> matching;
    for (const Call& call : history.calls) {
      if (!to.empty() && call.to != to) continue;
      if (!from.empty() && call.from != from) continue;
      if (!status.empty() && call.status != status) continue;
      if (on || after || before) {
        if (!call.start_time.has_value()) continue;
        const absl::CivilDay started = absl::ToCivilDay(*call.start_time, absl::UTCTimeZone());
        if ((on && started != *on) || (after && started < *after) || (before && started > *before)) continue;
      }
      matching.push_back(&call);
    }
    // Newest first; among calls created in the same instant, the later one first.
    std::reverse(matching.begin(), matching.end());
    std::stable_sort(matching.begin(), matching.end(),
                     [](const Call* a, const Call* b) { return a->date_created > b->date_created; });

    FormFields filters;  // for the page URIs
    for (const auto& [name, value] : query) {
      if (name != "Page" && name != "PageSize" && name != "PageToken") filters.emplace_back(name, value);
    }
    auto page_uri = [&](int n) {
      FormFields fields = filters;
      fields.emplace_back("PageSize", std::to_string(page_size));
      fields.emplace_back("Page", std::to_string(n));
      return CallsPath(options.account_sid) + "?" + http::FormEncode(fields);
    };
    const size_t start = static_cast<size_t>(page) * static_cast<size_t>(page_size);
    json::array calls;
    for (size_t i = start; i < matching.size() && i < start + static_cast<size_t>(page_size); ++i) {
      calls.push_back(CallJson(options.account_sid, *matching[i]));
    }
    json::object o;
    o["calls"] = std::move(calls);
    o["end"] = start + o["calls"].as_array().size() - (o["calls"].as_array().empty() ? 0 : 1);
    o["first_page_uri"] = page_uri(0);
    o["next_page_uri"] =
        start + static_cast<size_t>(page_size) < matching.size() ? json::value(page_uri(page + 1)) : nullptr;
    o["page"] = page;
    o["page_size"] = page_size;
    o["previous_page_uri"] = page > 0 ? json::value(page_uri(page - 1)) : nullptr;
    o["start"] = start;
    o["uri"] = page_uri(page);
    return Json(200, o);
  }

  Call* FindLocked(std::string_view sid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = call_index.find(sid);
    return it == call_index.end() ? nullptr : &history.calls[it->second];
  }

  Answer NotFound(std::string_view path) {
    return Error(404, 20404, absl::StrCat("The requested resource ", std::string(path), " was not found"));
  }

  Answer Fetch(std::string_view sid, std::string_view path) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Call* call = FindLocked(sid);
    if (call == nullptr) return NotFound(path);
    Answer a = Json(200, CallJson(options.account_sid, *call));
    a.call_sid = call->sid;
    return a;
  }

  Answer Update(std::string_view sid, std::string_view path, const FormParams& params)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Call* call = FindLocked(sid);
    if (call == nullptr) return NotFound(path);
    const std::string status = First(params, "Status");
    if (!status.empty() && status != "completed" && status != "canceled") {
      return Error(400, 20001, absl::StrCat("Invalid Status: ", status));
    }
    if (IsFinal(call->status)) return Error(400, 21220, "Call is not in-progress. Cannot redirect.");
    const bool answered = call->status == "in-progress";
    if (status == "completed" || (status == "canceled" && !answered)) {
      call->status = answered ? "completed" : "canceled";
      call->end_time = Now();
      call->ended_by_api = true;
    }
    Answer a = Json(200, CallJson(options.account_sid, *call));
    a.call_sid = call->sid;
    return a;
  }

  http::Response Handle(const http::Request& request) {
    Request record;
    record.received_at = Now();
    record.method = request.method;
    record.path = request.path;
    if (request.method == "POST") {
      record.params = http::FormDecode(request.body);
    } else {
      record.params = request.query;
    }
    // "/2010-04-01/Accounts/<AccountSid>/Calls.json" or ".../Calls/<CallSid>.json"
    std::string_view rest = request.path;
    rest.remove_prefix(std::min(rest.size(), kAccountsPrefix.size()));
    const size_t slash = rest.find('/');
    const std::string_view account = rest.substr(0, slash);
    const std::string_view resource =
        slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    std::string call_sid;
    if (resource == "Calls.json") {
      record.kind = request.method == "POST" ? "create" : "list";
    } else if (resource.starts_with("Calls/") && resource.ends_with(".json") &&
               resource.size() > std::string_view("Calls/.json").size() &&
               resource.substr(6).find('/') == std::string_view::npos) {
      call_sid = std::string(resource.substr(6, resource.size() - 6 - 5));
      record.kind = request.method == "POST" ? "update" : "fetch";
    } else {
      record.kind = "unknown";
    }
    record.authorized = Authorized(request.Header("authorization"), account);

    Answer answer;
    size_t index = 0;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!record.authorized) {
        answer = Error(401, 20003, "Authenticate");
        answer.www_authenticate = true;
      } else if (record.kind == "create") {
        answer = Create(record.params);
      } else if (record.kind == "list") {
        answer = List(record.params);
      } else if (record.kind == "fetch") {
        answer = Fetch(call_sid, request.path);
      } else if (record.kind == "update") {
        answer = Update(call_sid, request.path, record.params);
      } else {
        answer = NotFound(request.path);
      }
      record.status = answer.drop ? 0 : answer.status;
      record.error_code = answer.error_code;
      record.call_sid = answer.call_sid;
      record.finished = answer.drop;  // a dropped answer is known not to have got out
      index = history.requests.size();
      history.requests.push_back(std::move(record));
    }
    changed.notify_all();

    http::Response response = http::Response::Json(answer.status, std::move(answer.body));
    if (answer.www_authenticate)
      response.headers.emplace_back("WWW-Authenticate", "Basic realm=\"Twilio API\"");
    response.drop_connection = answer.drop;
    if (!answer.drop) {
      response.on_complete = [self = shared_from_this(), index](bool written) {
        {
          std::lock_guard<std::mutex> lock(self->mu);
          Request& r = self->history.requests[index];
          r.finished = true;
          r.answered = written;
          if (r.kind == "create" && written) {
            if (Call* call = self->FindLocked(r.call_sid)) call->create_answered = true;
          }
        }
        self->changed.notify_all();
      };
    }
    return response;
  }

  // --- a call playing out ---

  struct Play {
    TwimlPlan twiml;
    CallScript script;
  };

  // Waits `d`; false when the call ended (an update) or the fake is stopping first.
  bool Pause(const std::string& sid, absl::Duration d) {
    std::unique_lock<std::mutex> lock(mu);
    auto interrupted = [&] { return stopping || IsFinal(FindLocked(sid)->status); };
    changed.wait_for(lock, absl::ToChronoNanoseconds(std::max(d, absl::ZeroDuration())), interrupted);
    return !interrupted();
  }

  // Moves the call to `status` unless it has ended meanwhile (false then).
  bool Move(const std::string& sid, std::string_view status, std::string_view answered_by = {}) {
    {
      std::lock_guard<std::mutex> lock(mu);
      Call* call = FindLocked(sid);
      if (IsFinal(call->status) || stopping) return false;
      call->status = std::string(status);
      const absl::Time now = Now();
      if (status == "initiated") call->start_time = now;
      if (status == "in-progress") {
        call->answered_at = now;
        call->answered_by = std::string(answered_by);
      }
      if (IsFinal(status)) call->end_time = now;
    }
    changed.notify_all();
    return true;
  }

  // The status callback for `event` (initiated, ringing, answered, completed) when the call asked for it.
  void PostEvent(const std::string& sid, std::string_view event) {
    std::string url;
    FormParams params;
    {
      std::lock_guard<std::mutex> lock(mu);
      const Call& call = *FindLocked(sid);
      if (call.status_callback.empty()) return;
      const std::vector<std::string>& events = call.status_callback_events;
      const bool asked = events.empty() ? event == "completed"
                                        : std::find(events.begin(), events.end(), event) != events.end();
      if (!asked) return;
      url = call.status_callback;
      params = CommonParams(call);
      params.emplace("CallbackSource", "call-progress-events");
      params.emplace("SequenceNumber", std::to_string(sequence[sid]++));
      params.emplace("Timestamp", Rfc2822(Now()));
      if (IsFinal(call.status)) params.emplace("CallDuration", std::to_string(DurationSecs(call)));
    }
    Post(sid, "status", url, params);
  }

  void PostGather(const std::string& sid, const std::string& action_url, const std::string& digits) {
    FormParams params;
    {
      std::lock_guard<std::mutex> lock(mu);
      Call& call = *FindLocked(sid);
      if (IsFinal(call.status)) return;
      call.digits_posted = digits;
      params = CommonParams(call);
      params.erase("AnsweredBy");
      params.emplace("Digits", digits);
      params.emplace("FinishedOnKey", "");
    }
    Post(sid, "gather", action_url, params);
  }

  FormParams CommonParams(const Call& call) const {
    FormParams params = {
        {"AccountSid", options.account_sid}, {"ApiVersion", kApiVersion}, {"CallSid", call.sid},
        {"CallStatus", call.status},         {"Called", call.to},         {"Caller", call.from},
        {"Direction", "outbound-api"},       {"From", call.from},         {"To", call.to}};
    if (!call.answered_by.empty()) params.emplace("AnsweredBy", call.answered_by);
    return params;
  }

  // Posts one callback (twice with duplicate_callbacks), signed over `url`, and records it.
  void Post(const std::string& sid, std::string_view kind, const std::string& url, const FormParams& params) {
    const std::string signature = ComputeSignature(options.auth_token, url, params);
    const std::string body = http::FormEncode(params);
    for (int copy = 0; copy < (options.duplicate_callbacks ? 2 : 1); ++copy) {
      Callback callback;
      callback.sent_at = Now();
      callback.call_sid = sid;
      callback.kind = std::string(kind);
      callback.url = url;
      callback.params = params;
      callback.signature = signature;
      absl::StatusOr<http::ClientResponse> response = client.Post(
          url, "application/x-www-form-urlencoded", body, {{std::string(kSignatureHeader), signature}});
      if (response.ok()) {
        callback.http_status = response->status;
      } else {
        callback.error = response.status().ToString();
      }
      {
        std::lock_guard<std::mutex> lock(mu);
        history.callbacks.push_back(std::move(callback));
      }
      changed.notify_all();
    }
  }

  // Plays the call out until it has ended (by the script or an update) or the fake stops.
  void PlayUntilEnd(const std::string& sid, const Play& play, CallOutcome outcome,
                    absl::Duration ring_timeout, bool machine_detection) {
    const FakeTwilioVoiceDelays& d = options.delays;
    auto step = [&](absl::Duration pause, std::string_view status, std::string_view event,
                    std::string_view answered_by = {}) {
      if (!Pause(sid, pause) || !Move(sid, status, answered_by)) return false;
      if (!event.empty()) PostEvent(sid, event);
      return true;
    };
    if (!step(d.initiated, "initiated", "initiated") || !step(d.ringing, "ringing", "ringing")) return;
    switch (outcome) {
      case CallOutcome::kBusy:
        step(d.answer, "busy", "");
        return;
      case CallOutcome::kFailed:
        step(d.answer, "failed", "");
        return;
      case CallOutcome::kNoAnswer:
        step(ring_timeout, "no-answer", "");
        return;
      default:
        break;
    }
    const std::string answered_by =
        outcome == CallOutcome::kMachine ? play.script.answered_by : (machine_detection ? "human" : "");
    if (!step(d.answer, "in-progress", "answered", answered_by)) return;
    switch (outcome) {
      case CallOutcome::kMachine:
        step(d.machine, "completed", "");
        return;
      case CallOutcome::kNoDigit:
        step(d.prompt * std::max(1, play.twiml.prompts), "completed", "");
        return;
      default:
        break;
    }
    if (!Pause(sid, d.press)) return;
    if (play.twiml.has_gather && !play.twiml.action_url.empty()) {
      PostGather(sid, play.twiml.action_url, play.script.digits);
    }
    step(d.after_digits, "completed", "");
  }

  void PlayCall(const std::string& sid) {
    Play play;
    CallOutcome outcome;
    absl::Duration ring_timeout;
    bool machine_detection = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      play = plays[sid];
      const Call& call = *FindLocked(sid);
      outcome = call.outcome;
      ring_timeout = options.delays.ring_timeout.value_or(absl::Seconds(call.timeout_secs));
      machine_detection = call.machine_detection;
    }
    PlayUntilEnd(sid, play, outcome, ring_timeout, machine_detection);
    bool ended = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      ended = !stopping && IsFinal(FindLocked(sid)->status);
    }
    if (ended) PostEvent(sid, "completed");  // "completed" is the event for every final status
    {
      std::lock_guard<std::mutex> lock(mu);
      FindLocked(sid)->played_out = true;
    }
    changed.notify_all();
  }

  const FakeTwilioVoiceOptions options;
  http::Client client;  // posts the callbacks
  mutable std::mutex mu;
  mutable std::condition_variable changed;  // the history changed, a call ended, or stopping was set
  History history ABSL_GUARDED_BY(mu);
  std::map<std::string, size_t, std::less<>> call_index ABSL_GUARDED_BY(mu);  // sid -> history.calls
  std::map<std::string, Play> plays ABSL_GUARDED_BY(mu);                      // sid -> how it plays out
  std::map<std::string, int> sequence ABSL_GUARDED_BY(mu);                    // sid -> next SequenceNumber
  std::vector<std::pair<std::string, CallScript>> scripts ABSL_GUARDED_BY(mu);
  std::vector<std::thread> threads ABSL_GUARDED_BY(mu);
  uint64_t last_sid ABSL_GUARDED_BY(mu) = 0;
  bool stopping ABSL_GUARDED_BY(mu) = false;
};

absl::StatusOr<std::unique_ptr<FakeTwilioVoice>> FakeTwilioVoice::Start(FakeTwilioVoiceOptions options) {
  if (options.account_sid.empty() || options.auth_token.empty()) {
    return absl::InvalidArgumentError("account_sid and auth_token are required");
  }
  std::unique_ptr<FakeTwilioVoice> fake(new FakeTwilioVoice());
  fake->state_ = std::make_shared<State>(std::move(options));
  http::ServerOptions server_options;
  server_options.address = fake->state_->options.address;
  server_options.port = fake->state_->options.port;
  server_options.threads = 2;
  server_options.handler_threads = std::max(1, fake->state_->options.handler_threads);
  http::Router router;
  std::shared_ptr<State> state = fake->state_;
  auto handler = [state](const http::Request& request) { return state->Handle(request); };
  router.AddPrefix("POST", std::string(kAccountsPrefix), handler);
  router.AddPrefix("GET", std::string(kAccountsPrefix), handler);
  fake->server_ = std::make_unique<http::Server>(std::move(server_options), std::move(router));
  if (absl::Status s = fake->server_->Start(); !s.ok()) return s;
  return fake;
}

FakeTwilioVoice::~FakeTwilioVoice() { Stop(); }

void FakeTwilioVoice::Stop() {
  if (!state_) return;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stopping = true;
  }
  state_->changed.notify_all();
  // No handler runs after this, so no call's thread starts after the join below.
  if (server_) server_->Stop(std::chrono::milliseconds(1000));
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    threads.swap(state_->threads);
  }
  for (std::thread& t : threads) t.join();
}

std::string FakeTwilioVoice::base_url() const {
  return absl::StrCat("http://", state_->options.address, ":", port());
}

uint16_t FakeTwilioVoice::port() const { return server_->port(); }
const std::string& FakeTwilioVoice::account_sid() const { return state_->options.account_sid; }
const std::string& FakeTwilioVoice::auth_token() const { return state_->options.auth_token; }

void FakeTwilioVoice::Script(std::string to, CallScript script) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (script.times != 0) state_->scripts.emplace_back(std::move(to), std::move(script));
}

void FakeTwilioVoice::ClearScript() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->scripts.clear();
}

std::vector<FakeTwilioVoice::Call> FakeTwilioVoice::Calls() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->history.calls;
}

std::optional<FakeTwilioVoice::Call> FakeTwilioVoice::FindCall(std::string_view sid) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  const Call* call = state_->FindLocked(sid);
  if (call == nullptr) return std::nullopt;
  return *call;
}

std::vector<FakeTwilioVoice::Request> FakeTwilioVoice::Requests() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->history.requests;
}

std::vector<FakeTwilioVoice::Request> FakeTwilioVoice::CreateRequests() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<Request> out;
  for (const Request& r : state_->history.requests) {
    if (r.kind == "create") out.push_back(r);
  }
  return out;
}

std::vector<FakeTwilioVoice::Callback> FakeTwilioVoice::CallbacksSent() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->history.callbacks;
}

bool FakeTwilioVoice::WaitFor(const std::function<bool(const History&)>& done, absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(state_->mu);
  return state_->changed.wait_for(lock, absl::ToChronoNanoseconds(std::min(timeout, absl::Hours(24))),
                                  [&] { return done(state_->history); });
}

bool FakeTwilioVoice::WaitForCallEnded(std::string_view sid, absl::Duration timeout) const {
  return WaitFor(
      [sid](const History& history) {
        for (const Call& call : history.calls) {
          if (call.sid == sid) return IsFinal(call.status) && call.played_out;
        }
        return false;
      },
      timeout);
}

}  // namespace protectogram::providers::twilio
