// One lock (State::mu) guards everything the fake knows: the scripts, the calls, the records, the timer queue
// and the webhook outboxes. Handlers take it to record and act, never while they wait out a delay; the timer
// thread runs each due step of a call under it (a step re-checks the call first: one whose call ended or
// whose gather was replaced or ended meanwhile does nothing), and so do the callee's methods (Answer,
// PressDigit, ...); delivery threads post webhooks without it. Each answer's on_complete marks its command
// finished with whether the client got it.
#include "libs/providers/telnyx/fake_call_control.h"

#include <algorithm>
#include <boost/json.hpp>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "libs/crypto/ed25519.h"
#include "libs/crypto/encoding.h"
#include "libs/http/client.h"
#include "libs/http/server.h"
#include "libs/providers/common/json_reader.h"
#include "libs/providers/telnyx/commands.h"
#include "libs/providers/telnyx/telnyx.h"

namespace protectogram::providers::telnyx {
namespace {

namespace json = boost::json;

constexpr int kDefaultTimeoutSecs = 30;  // Telnyx's default timeout_secs
constexpr int kDefaultGatherTimeoutMillis = 60000;
constexpr int kDefaultMaximumTries = 3;
constexpr char kDefaultValidDigits[] = "0123456789#*";

json::string_view Key(std::string_view s) { return json::string_view(s.data(), s.size()); }

std::string Hex(uint64_t v, int width) {
  std::string s(static_cast<size_t>(width), '0');
  for (int i = width - 1; i >= 0; --i, v >>= 4) s[static_cast<size_t>(i)] = "0123456789abcdef"[v & 15];
  return s;
}

// UUID-shaped (version 4 layout), unique per fake (`instance` is random) and per `n`; `kind` tells legs,
// sessions and events apart when reading logs.
std::string Uuid(uint32_t instance, uint16_t kind, uint64_t n) {
  return Hex(instance, 8) + "-" + Hex(kind, 4) + "-4" + Hex(n >> 48, 3) + "-8" + Hex((n >> 36) & 0xfff, 3) +
         "-" + Hex(n, 12);
}

absl::Duration Min(absl::Duration a, absl::Duration b) { return a < b ? a : b; }

std::chrono::nanoseconds Chrono(absl::Duration d) {
  return absl::ToChronoNanoseconds(std::clamp(d, absl::ZeroDuration(), absl::Hours(24)));
}

// A string parameter; "" when absent, null or not a string.
std::string Param(const json::object& params, std::string_view key) {
  const json::value* v = params.if_contains(Key(key));
  if (v == nullptr || !v->is_string()) return "";
  return std::string(v->get_string().data(), v->get_string().size());
}

// An integer parameter: nullopt when absent; `bad` is set when present but not an integer.
std::optional<int64_t> IntParam(const json::object& params, std::string_view key, bool* bad) {
  const json::value* v = params.if_contains(Key(key));
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(v->get_uint64());
  }
  *bad = true;
  return std::nullopt;
}

// +E.164 (a '+' and 7..15 digits) or a SIP URI, as dial's `to` and `from` may be.
bool IsDialable(std::string_view number) {
  if (number.starts_with("sip:")) return number.size() > 4;
  if (!number.starts_with("+")) return false;
  number.remove_prefix(1);
  return number.size() >= 7 && number.size() <= 15 &&
         number.find_first_not_of("0123456789") == std::string::npos;
}

bool IsLive(FakeTelnyx::CallState state) { return state != FakeTelnyx::CallState::kEnded; }

// The digit outcomes: the callee presses CallScript::digit when prompted.
bool Presses(CallOutcome outcome) {
  return outcome == CallOutcome::kPressDigit || outcome == CallOutcome::kSlowDial ||
         outcome == CallOutcome::kDropDialAfterPlacing;
}

// The SIP final response Telnyx reports beside each hangup cause.
std::string_view SipCause(std::string_view hangup_cause) {
  if (hangup_cause == "user_busy") return "486";
  if (hangup_cause == "timeout" || hangup_cause == "no_answer") return "480";
  if (hangup_cause == "originator_cancel") return "487";
  if (hangup_cause == "call_rejected") return "603";
  return "200";
}

// An answer being built (not "Answer": inside State that names FakeTelnyx::Answer).
struct Reply {
  int status = 200;
  std::string body;
  std::string error_code;  // the Telnyx error code answered
  bool drop = false;
  absl::Duration delay = absl::ZeroDuration();  // real time, waited before answering
};

Reply Error(int status, std::string_view code, std::string_view title, std::string_view detail) {
  json::object error;
  error["code"] = Key(code);
  error["title"] = Key(title);
  error["detail"] = Key(detail);
  json::object o;
  json::array errors;
  errors.emplace_back(std::move(error));
  o["errors"] = std::move(errors);
  Reply a;
  a.status = status;
  a.body = json::serialize(o);
  a.error_code = std::string(code);
  return a;
}

Reply Unauthorized() {
  return Error(401, "10009", "Authentication failed",
               "The required authentication headers were either invalid or not included in the request.");
}

Reply NotFound() {
  return Error(404, "10005", "Resource not found", "The requested resource or URL could not be found.");
}

Reply BadRequest(std::string_view detail) { return Error(400, "10015", "Bad Request", detail); }

Reply Invalid(std::string_view detail) { return Error(422, "10015", "Bad Request", detail); }

Reply Missing(std::string_view parameter) {
  return Error(422, "10004", "Missing required parameter",
               "The '" + std::string(parameter) + "' parameter is required.");
}

Reply CallEnded() {
  return Error(422, kCallEndedErrorCode, "Call has already ended",
               "This call is no longer active and can't receive commands.");
}

// What Telnyx answers with `status` (kRejectDial), with the codes of its error catalogue.
Reply Rejection(int status) {
  switch (status) {
    case 401:
      return Unauthorized();
    case 403:
      return Error(403, "10010", "Authorization failed",
                   "You do not have permission to perform the requested action on the specified resource or "
                   "resources.");
    case 404:
      return NotFound();
    case 429:
      return Error(429, "10011", "Too many requests",
                   "You have exceeded the maximum number of allowed requests.");
    default:
      break;
  }
  if (status >= 500) return Error(status, "10007", "Unexpected error", "An unexpected error occured.");
  return Error(status, "10015", "Bad Request", "The destination can't be dialed.");
}

Reply ResultOk() {
  Reply a;
  a.body = R"({"data":{"result":"ok"}})";
  return a;
}

// A webhook waiting to be posted.
struct Pending {
  std::string event_type;
  std::string event_id;
  std::string call_control_id;
  std::string url;
  std::string payload_json;
  absl::Time occurred_at;
  bool duplicate = false;
};

// What the fake keeps about a call beside its public record.
struct CallExtra {
  std::set<std::string> command_ids;  // the commands this call took
  std::optional<Pending> held;        // posted right after the call's hangup (CallScript::reorder)
  uint64_t gather = 0;                // the gather in progress; bumped to cancel it
  std::string valid_digits;           // the gather in progress's
  std::deque<Pending> outbox;
  bool delivering = false;  // queued in State::ready or being posted
};

}  // namespace

std::string FakeSigningSeed() { return *crypto::HexDecode(kFakeSigningSeedHex); }

absl::StatusOr<std::string> PublicKeyForSeed(std::string_view seed) {
  absl::StatusOr<std::string> key = crypto::Ed25519PublicKeyFromSeed(seed);
  if (!key.ok()) return key.status();
  return crypto::Base64Encode(*key);
}

CallScript CallScript::PressDigit(std::string digit) {
  CallScript s;
  s.digit = std::move(digit);
  return s;
}

CallScript CallScript::NoDigit() {
  CallScript s;
  s.outcome = CallOutcome::kNoDigit;
  return s;
}

CallScript CallScript::Machine() {
  CallScript s;
  s.outcome = CallOutcome::kMachine;
  return s;
}

CallScript CallScript::NoAnswer(absl::Duration ring_time) {
  CallScript s;
  s.outcome = CallOutcome::kNoAnswer;
  s.ring_time = ring_time;
  return s;
}

CallScript CallScript::Busy(absl::Duration ring_time) {
  CallScript s;
  s.outcome = CallOutcome::kBusy;
  s.ring_time = ring_time;
  return s;
}

CallScript CallScript::RejectDial(int http_status) {
  CallScript s;
  s.outcome = CallOutcome::kRejectDial;
  s.reject_status = http_status;
  return s;
}

CallScript CallScript::SlowDial(absl::Duration delay) {
  CallScript s;
  s.outcome = CallOutcome::kSlowDial;
  s.dial_delay = delay;
  return s;
}

CallScript CallScript::DropDial() {
  CallScript s;
  s.outcome = CallOutcome::kDropDial;
  return s;
}

CallScript CallScript::DropDialAfterPlacing() {
  CallScript s;
  s.outcome = CallOutcome::kDropDialAfterPlacing;
  return s;
}

CallScript CallScript::Interactive() {
  CallScript s;
  s.outcome = CallOutcome::kInteractive;
  return s;
}

struct FakeTelnyx::State : std::enable_shared_from_this<FakeTelnyx::State> {
  State(FakeTelnyxOptions o, std::string signing_seed, std::string key)
      : options(std::move(o)),
        seed(std::move(signing_seed)),
        public_key(std::move(key)),
        instance(std::random_device()()),
        client(http::ClientOptions{
            .connect_timeout = options.webhook_timeout,
            .timeout = options.webhook_timeout,
            .max_idle_per_host = static_cast<size_t>(std::max(1, options.delivery_threads)),
            .user_agent = "telnyx-webhooks"}) {}

  absl::Time Now() const { return options.clock ? options.clock() : absl::Now(); }
  absl::Duration Scaled(absl::Duration d) const { return d * options.time_scale; }

  void StartThreads() {
    timer_thread = std::thread([this] { RunTimers(); });
    for (int i = 0; i < std::max(1, options.delivery_threads); ++i) {
      delivery_threads.emplace_back([this] { RunDeliveries(); });
    }
  }

  void JoinThreads() {
    if (timer_thread.joinable()) timer_thread.join();
    for (std::thread& t : delivery_threads) {
      if (t.joinable()) t.join();
    }
    delivery_threads.clear();
  }

  // Waits `delay` (real time) unless the fake stops first; false when it stopped.
  bool Wait(absl::Duration delay) {
    std::unique_lock<std::mutex> lock(mu);
    return !work.wait_for(lock, Chrono(delay), [this] { return stopping; });
  }

  // --- the calls (mu held throughout) ---

  // Runs `step` (under mu) after `delay` of simulated time.
  void At(absl::Duration delay, std::function<void()> step) {
    timers.emplace(absl::Now() + Scaled(delay), std::move(step));
    work.notify_all();
  }

  void RunTimers() {
    std::unique_lock<std::mutex> lock(mu);
    while (!stopping) {
      if (timers.empty()) {
        work.wait(lock);
        continue;
      }
      const absl::Time due = timers.begin()->first;
      const absl::Time now = absl::Now();
      if (due > now) {
        work.wait_for(lock, Chrono(due - now));
        continue;
      }
      std::function<void()> step = std::move(timers.begin()->second);
      timers.erase(timers.begin());
      step();
      changed.notify_all();
    }
  }

  std::string NextUuid(uint16_t kind) { return Uuid(instance, kind, ++next_id); }

  CallScript ScriptFor(const std::string& to) const {
    auto it = scripts.find(to);
    return it == scripts.end() ? options.default_script : it->second;
  }

  // Queues a webhook of the call (`fields` added to the common payload); with `hold`, keeps it to post right
  // after the call's hangup instead.
  void Emit(size_t index, std::string_view event_type, const json::object& fields = {}, bool hold = false) {
    const Call& call = calls[index];
    json::object payload;
    payload["call_control_id"] = call.call_control_id;
    payload["call_leg_id"] = call.call_leg_id;
    payload["call_session_id"] = call.call_session_id;
    if (!call.client_state.empty()) payload["client_state"] = call.client_state;
    payload["connection_id"] = call.connection_id;
    payload["from"] = call.from;
    payload["to"] = call.to;
    for (const auto& field : fields) payload[field.key()] = field.value();
    Pending p;
    p.event_type = std::string(event_type);
    p.event_id = NextUuid(0xe5e7);
    p.call_control_id = call.call_control_id;
    p.url = call.webhook_url;
    p.payload_json = json::serialize(payload);
    p.occurred_at = Now();
    if (hold) {
      extras[index].held = std::move(p);
    } else {
      Enqueue(index, std::move(p));
    }
  }

  void Enqueue(size_t index, Pending p) {
    CallExtra& extra = extras[index];
    if (calls[index].script.duplicate_webhooks) {
      Pending copy = p;
      copy.duplicate = true;
      extra.outbox.push_back(std::move(p));
      extra.outbox.push_back(std::move(copy));
    } else {
      extra.outbox.push_back(std::move(p));
    }
    if (!extra.delivering) {
      extra.delivering = true;
      ready.push_back(index);
      work.notify_all();
    }
  }

  size_t Place(Call call) {
    const uint64_t n = ++next_id;
    call.call_control_id = "v3:fake-" + Hex(instance, 8) + "-" + Hex(n, 10);
    call.call_leg_id = NextUuid(0x1e90);
    call.call_session_id = NextUuid(0x5e55);
    call.placed_at = Now();
    call.state = CallState::kRinging;
    const size_t index = calls.size();
    call_index[call.call_control_id] = index;
    if (!call.command_id.empty()) dial_by_command_id[call.command_id] = index;
    calls.push_back(std::move(call));
    extras.emplace_back();

    const CallScript& script = calls[index].script;
    const bool never_answers =
        script.outcome == CallOutcome::kNoAnswer || script.outcome == CallOutcome::kBusy;
    json::object initiated;
    initiated["direction"] = "outgoing";
    initiated["state"] = "parked";
    Emit(index, "call.initiated", initiated, /*hold=*/never_answers && script.reorder);

    const absl::Duration ring_timeout = absl::Seconds(calls[index].timeout_secs);
    auto hang_up_if_ringing = [this, index](std::string cause, std::string source) {
      return [this, index, cause = std::move(cause), source = std::move(source)] {
        if (calls[index].state == CallState::kRinging) Hangup(index, cause, source);
      };
    };
    if (script.outcome == CallOutcome::kBusy) {
      At(script.ring_time > absl::ZeroDuration() ? script.ring_time : absl::Seconds(1),
         hang_up_if_ringing("user_busy", "callee"));
    } else if (script.outcome == CallOutcome::kNoAnswer) {
      At(script.ring_time > absl::ZeroDuration() ? Min(script.ring_time, ring_timeout) : ring_timeout,
         hang_up_if_ringing("timeout", "caller"));
    } else if (script.outcome == CallOutcome::kInteractive) {
      At(ring_timeout, hang_up_if_ringing("timeout", "caller"));  // unless Answer or Decline comes first
    } else {
      At(script.answer_after, [this, index] {
        if (calls[index].state == CallState::kRinging) AnswerCall(index);
      });
      At(ring_timeout, hang_up_if_ringing("timeout", "caller"));
    }
    changed.notify_all();
    return index;
  }

  void AnswerCall(size_t index) {
    Call& call = calls[index];
    call.state = CallState::kAnswered;
    call.answered_at = Now();
    Emit(index, "call.answered");
    const std::string& amd = call.answering_machine_detection;
    if (amd.empty() || amd == "disabled") return;
    At(options.amd_after, [this, index] {
      if (calls[index].state != CallState::kAnswered) return;
      const CallScript& script = calls[index].script;
      const bool machine = script.outcome == CallOutcome::kMachine;
      json::object fields;
      fields["result"] = machine ? "machine" : "human";
      const bool reorder = machine && script.reorder;  // the voicemail hangs up at once
      Emit(index, "call.machine.detection.ended", fields, reorder);
      if (reorder) Hangup(index, "normal_clearing", "callee");
    });
  }

  bool Hangup(size_t index, const std::string& cause, const std::string& source) {
    Call& call = calls[index];
    if (!IsLive(call.state)) return false;
    call.state = CallState::kEnded;
    call.hangup_cause = cause;
    call.hangup_source = source;
    call.ended_at = Now();
    CallExtra& extra = extras[index];
    ++extra.gather;  // a gather in progress ends with the call
    call.gathering = false;
    json::object fields;
    fields["hangup_cause"] = cause;
    fields["hangup_source"] = source;
    fields["sip_hangup_cause"] = SipCause(cause);
    fields["start_time"] = FormatEventTime(call.placed_at);
    fields["end_time"] = FormatEventTime(*call.ended_at);
    Emit(index, "call.hangup", fields);
    if (extra.held.has_value()) {
      Pending held = std::move(*extra.held);
      extra.held.reset();
      Enqueue(index, std::move(held));
    }
    changed.notify_all();
    return true;
  }

  void StartGather(size_t index, const json::object& params) {
    std::string valid_digits = Param(params, "valid_digits");
    if (valid_digits.empty()) valid_digits = kDefaultValidDigits;
    bool bad = false;  // checked by the caller
    const int64_t timeout_millis =
        IntParam(params, "timeout_millis", &bad).value_or(kDefaultGatherTimeoutMillis);
    const int64_t tries = IntParam(params, "maximum_tries", &bad).value_or(kDefaultMaximumTries);
    const uint64_t gather = ++extras[index].gather;
    extras[index].valid_digits = valid_digits;
    calls[index].gathering = true;
    const bool presses = Presses(calls[index].script.outcome);
    const absl::Duration wait = presses ? calls[index].script.press_after
                                        : absl::Milliseconds(timeout_millis) * std::max<int64_t>(1, tries);
    At(wait, [this, index, gather, presses] {
      if (calls[index].state != CallState::kAnswered || extras[index].gather != gather) return;
      const CallScript& script = calls[index].script;
      const bool reorder = script.reorder;
      EndGather(index, presses ? script.digit : "", !presses, reorder);
      if (reorder) Hangup(index, "normal_clearing", "callee");  // pressed, then hung up at once
    });
  }

  // Ends the gather in progress with call.gather.ended {digits, status}: timeout, else valid or invalid by
  // the gather's valid_digits.
  void EndGather(size_t index, const std::string& digits, bool timed_out, bool hold = false) {
    CallExtra& extra = extras[index];
    ++extra.gather;  // nothing else ends it
    calls[index].gathering = false;
    json::object fields;
    fields["digits"] = digits;
    if (timed_out) {
      fields["status"] = "timeout";
    } else {
      const bool valid = !digits.empty() && digits.find_first_not_of(extra.valid_digits) == std::string::npos;
      fields["status"] = valid ? "valid" : "invalid";
    }
    Emit(index, "call.gather.ended", fields, hold);
  }

  void Speak(size_t index) {
    Emit(index, "call.speak.started");
    At(options.speak_time, [this, index] {
      if (calls[index].state != CallState::kAnswered) return;
      json::object fields;
      fields["status"] = "completed";
      Emit(index, "call.speak.ended", fields);
    });
  }

  // --- webhook delivery ---

  void RunDeliveries() {
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      work.wait(lock, [this] { return stopping || !ready.empty(); });
      if (stopping) return;
      const size_t index = ready.front();
      ready.pop_front();
      Pending p = std::move(extras[index].outbox.front());
      extras[index].outbox.pop_front();
      lock.unlock();
      Deliver(p);
      lock.lock();
      if (extras[index].outbox.empty()) {
        extras[index].delivering = false;
      } else {
        ready.push_back(index);
        work.notify_all();
      }
    }
  }

  void Record(Webhook w) {
    {
      std::lock_guard<std::mutex> lock(mu);
      webhooks.push_back(std::move(w));
    }
    changed.notify_all();
  }

  // Posts one webhook, redelivering it as Telnyx does until the receiver answers 2xx.
  void Deliver(const Pending& p) {
    for (size_t attempt = 1;; ++attempt) {
      Webhook w;
      w.event_type = p.event_type;
      w.event_id = p.event_id;
      w.call_control_id = p.call_control_id;
      w.url = p.url;
      w.attempt = static_cast<int>(attempt);
      w.duplicate = p.duplicate;
      w.sent_at = Now();
      if (p.url.empty()) {
        w.error = "no webhook_url";
        Record(std::move(w));
        return;
      }
      absl::StatusOr<std::string> body = BuildWebhookBody({.event_type = p.event_type,
                                                           .event_id = p.event_id,
                                                           .occurred_at = p.occurred_at,
                                                           .payload_json = p.payload_json,
                                                           .attempt = w.attempt,
                                                           .delivered_to = p.url});
      const std::string timestamp = std::to_string(absl::ToUnixSeconds(w.sent_at));
      absl::StatusOr<std::string> signature =
          body.ok() ? SignWebhook(seed, timestamp, *body) : absl::StatusOr<std::string>(body.status());
      if (!signature.ok()) {  // not expected: the payload is ours and the seed was checked at Start
        w.error = signature.status().ToString();
        Record(std::move(w));
        return;
      }
      w.body = *body;
      absl::StatusOr<http::ClientResponse> response =
          client.Do({.method = "POST",
                     .url = p.url,
                     .headers = {{"Content-Type", "application/json"},
                                 {kSignatureHeader, *signature},
                                 {kTimestampHeader, timestamp}},
                     .body = *body,
                     .timeout = options.webhook_timeout});
      bool delivered = false;
      if (response.ok()) {
        w.status = response->status;
        delivered = response->status >= 200 && response->status < 300;
      } else {
        w.error = response.status().ToString();
      }
      Record(std::move(w));
      if (delivered || attempt > options.webhook_retry_delays.size()) return;
      if (!Wait(Scaled(options.webhook_retry_delays[attempt - 1]))) return;
    }
  }

  // --- commands (handler threads) ---

  size_t RecordCommand(Command c) {
    size_t index = 0;
    {
      std::lock_guard<std::mutex> lock(mu);
      index = commands.size();
      commands.push_back(std::move(c));
    }
    changed.notify_all();
    return index;
  }

  Reply DialAnswer(const Call& call) {
    json::object data;
    data["call_control_id"] = call.call_control_id;
    data["call_leg_id"] = call.call_leg_id;
    data["call_session_id"] = call.call_session_id;
    data["is_alive"] = false;
    data["record_type"] = "call";
    json::object o;
    o["data"] = std::move(data);
    Reply a;
    a.body = json::serialize(o);
    return a;
  }

  Reply Dial(const json::object& params, size_t command) {
    Call call;
    call.connection_id = Param(params, "connection_id");
    call.from = Param(params, "from");
    call.to = Param(params, "to");
    call.command_id = Param(params, "command_id");
    call.client_state = Param(params, "client_state");
    call.webhook_url = Param(params, "webhook_url");
    call.answering_machine_detection = Param(params, "answering_machine_detection");
    {
      std::lock_guard<std::mutex> lock(mu);
      commands[command].command_id = call.command_id;
      commands[command].client_state = call.client_state;
      commands[command].to = call.to;
    }
    if (call.connection_id.empty()) return Missing("connection_id");
    if (call.from.empty()) return Missing("from");
    if (call.to.empty()) return Missing("to");
    if (!IsDialable(call.to) || !IsDialable(call.from)) {
      return Error(422, "10016", "Phone number must be in +E.164 format",
                   "The specified phone number parameter must be in +E.164 format.");
    }
    bool bad = false;
    const std::optional<int64_t> timeout = IntParam(params, "timeout_secs", &bad);
    if (bad || (timeout.has_value() && (*timeout < 5 || *timeout > 600))) {
      return Invalid("timeout_secs must be an integer between 5 and 600.");
    }
    call.timeout_secs = static_cast<int>(timeout.value_or(kDefaultTimeoutSecs));
    if (!call.client_state.empty() && !crypto::Base64Decode(call.client_state).ok()) {
      return Invalid("client_state must be a valid Base-64 encoded string.");
    }
    if (call.webhook_url.empty()) call.webhook_url = options.webhook_url;

    std::lock_guard<std::mutex> lock(mu);
    if (!call.command_id.empty()) {
      if (auto it = dial_by_command_id.find(call.command_id); it != dial_by_command_id.end()) {
        commands[command].duplicate = true;
        commands[command].call_control_id = calls[it->second].call_control_id;
        return DialAnswer(calls[it->second]);
      }
    }
    call.script = ScriptFor(call.to);
    const CallScript script = call.script;
    if (script.outcome == CallOutcome::kRejectDial) return Rejection(script.reject_status);
    if (script.outcome == CallOutcome::kDropDial) {
      Reply a;
      a.drop = true;
      return a;
    }
    const size_t index = Place(std::move(call));
    commands[command].placed = true;
    commands[command].call_control_id = calls[index].call_control_id;
    Reply a = DialAnswer(calls[index]);
    if (script.outcome == CallOutcome::kSlowDial) a.delay = script.dial_delay;
    if (script.outcome == CallOutcome::kDropDialAfterPlacing) a.drop = true;
    return a;
  }

  Reply Action(const json::object& params, size_t command, const std::string& call_control_id,
               const std::string& action) {
    const std::string command_id = Param(params, "command_id");
    const std::string client_state = Param(params, "client_state");
    {
      std::lock_guard<std::mutex> lock(mu);
      commands[command].command_id = command_id;
      commands[command].client_state = client_state;
    }
    static const std::set<std::string> kActions = {"gather_using_speak", "speak", "hangup", "answer"};
    if (kActions.count(action) == 0) return NotFound();
    if (!client_state.empty() && !crypto::Base64Decode(client_state).ok()) {
      return Invalid("client_state must be a valid Base-64 encoded string.");
    }
    const bool speaks = action == "gather_using_speak" || action == "speak";
    if (speaks) {
      if (Param(params, "payload").empty()) return Missing("payload");
      if (Param(params, "voice").empty()) return Missing("voice");
      bool bad = false;
      IntParam(params, "timeout_millis", &bad);
      IntParam(params, "maximum_tries", &bad);
      if (bad) return Invalid("timeout_millis and maximum_tries must be integers.");
    }

    std::lock_guard<std::mutex> lock(mu);
    auto it = call_index.find(call_control_id);
    if (it == call_index.end()) return CallEnded();
    const size_t index = it->second;
    CallExtra& extra = extras[index];
    if (!command_id.empty() && extra.command_ids.count(command_id) > 0) {
      commands[command].duplicate = true;
      return ResultOk();
    }
    Call& call = calls[index];
    if (!IsLive(call.state)) return CallEnded();
    if (speaks && call.state != CallState::kAnswered) return Invalid("The call has not been answered yet.");
    if (!command_id.empty()) extra.command_ids.insert(command_id);
    if (!client_state.empty()) call.client_state = client_state;
    if (speaks) call.spoken.push_back(Param(params, "payload"));
    if (action == "hangup") {
      Hangup(index, call.state == CallState::kRinging ? "originator_cancel" : "normal_clearing", "caller");
    } else if (action == "answer") {
      if (call.state == CallState::kRinging) AnswerCall(index);
    } else if (action == "gather_using_speak") {
      StartGather(index, params);
    } else {
      Speak(index);
    }
    changed.notify_all();
    return ResultOk();
  }

  http::Response Handle(const http::Request& request) {
    Command c;
    c.received_at = Now();
    c.body_json = request.body;
    c.authorized = request.Header("authorization") == "Bearer " + options.api_key;
    // "/v2/calls" or "/v2/calls/<call_control_id>/actions/<action>" (the path arrives decoded).
    if (request.path == DialPath()) {
      c.action = "dial";
    } else {
      std::string_view rest = request.path;
      rest.remove_prefix(std::min(rest.size(), DialPath().size() + 1));
      const size_t actions = rest.rfind("/actions/");
      if (actions != std::string_view::npos && actions > 0) {
        c.call_control_id = std::string(rest.substr(0, actions));
        c.action = std::string(rest.substr(actions + 9));
      }
    }
    const bool authorized = c.authorized;
    const bool dial = c.action == "dial";
    const bool action = !c.call_control_id.empty() && !c.action.empty();
    const std::string call_control_id = c.call_control_id;
    const std::string action_name = c.action;
    const size_t index = RecordCommand(std::move(c));

    Reply answer;
    absl::StatusOr<json::object> params = json::object();
    if (!request.body.empty()) params = ParseJsonObject(request.body, "request");
    if (!authorized) {
      answer = Unauthorized();
    } else if (!dial && !action) {
      answer = NotFound();
    } else if (!params.ok()) {
      answer = BadRequest("The request body is not a JSON object.");
    } else if (dial) {
      answer = Dial(*params, index);
    } else {
      answer = Action(*params, index, call_control_id, action_name);
    }
    return Respond(index, std::move(answer));
  }

  http::Response Respond(size_t index, Reply answer) {
    if (answer.delay > absl::ZeroDuration() && !Wait(answer.delay)) answer.drop = true;  // stopping
    {
      std::lock_guard<std::mutex> lock(mu);
      commands[index].status = answer.drop ? 0 : answer.status;
      commands[index].error_code = answer.error_code;
    }
    changed.notify_all();
    http::Response response = http::Response::Json(answer.status, std::move(answer.body));
    response.drop_connection = answer.drop;
    response.on_complete = [self = shared_from_this(), index](bool written) {
      {
        std::lock_guard<std::mutex> lock(self->mu);
        self->commands[index].answered = written;
        self->commands[index].finished = true;
      }
      self->changed.notify_all();
    };
    return response;
  }

  const FakeTelnyxOptions options;
  const std::string seed;
  const std::string public_key;
  const uint32_t instance;
  http::Client client;  // posts webhooks

  mutable std::mutex mu;
  mutable std::condition_variable changed;  // a record changed (WaitFor)
  std::condition_variable work;             // a timer, a webhook to post, or stopping
  std::map<std::string, CallScript, std::less<>> scripts ABSL_GUARDED_BY(mu);
  std::vector<Command> commands ABSL_GUARDED_BY(mu);
  std::vector<Call> calls ABSL_GUARDED_BY(mu);
  std::vector<CallExtra> extras ABSL_GUARDED_BY(mu);  // beside `calls`
  std::map<std::string, size_t, std::less<>> call_index ABSL_GUARDED_BY(mu);
  std::map<std::string, size_t> dial_by_command_id ABSL_GUARDED_BY(mu);
  std::vector<Webhook> webhooks ABSL_GUARDED_BY(mu);
  std::multimap<absl::Time, std::function<void()>> timers ABSL_GUARDED_BY(mu);  // equal times run in order
  std::deque<size_t> ready ABSL_GUARDED_BY(mu);                                 // calls with webhooks to post
  uint64_t next_id ABSL_GUARDED_BY(mu) = 0;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  std::thread timer_thread;
  std::vector<std::thread> delivery_threads;
};

absl::StatusOr<std::unique_ptr<FakeTelnyx>> FakeTelnyx::Start(FakeTelnyxOptions options) {
  if (options.api_key.empty()) return absl::InvalidArgumentError("api_key is required");
  if (!(options.time_scale > 0)) return absl::InvalidArgumentError("time_scale must be > 0");
  std::string seed = options.signing_seed.empty() ? FakeSigningSeed() : options.signing_seed;
  absl::StatusOr<std::string> public_key = PublicKeyForSeed(seed);
  if (!public_key.ok()) return absl::InvalidArgumentError("signing_seed must be 32 bytes");

  std::unique_ptr<FakeTelnyx> fake(new FakeTelnyx());
  fake->state_ = std::make_shared<State>(std::move(options), std::move(seed), std::move(*public_key));
  http::ServerOptions server_options;
  server_options.address = fake->state_->options.address;
  server_options.port = fake->state_->options.port;
  server_options.threads = 2;
  server_options.handler_threads = std::max(1, fake->state_->options.handler_threads);
  http::Router router;
  std::shared_ptr<State> state = fake->state_;
  auto handler = [state](const http::Request& request) { return state->Handle(request); };
  router.Add("POST", DialPath(), handler);
  router.AddPrefix("POST", DialPath() + "/", handler);
  fake->server_ = std::make_unique<http::Server>(std::move(server_options), std::move(router));
  if (absl::Status s = fake->server_->Start(); !s.ok()) return s;
  fake->state_->StartThreads();
  return fake;
}

FakeTelnyx::~FakeTelnyx() { Stop(); }

void FakeTelnyx::Stop() {
  if (!state_) return;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stopping = true;
  }
  state_->work.notify_all();
  if (server_) server_->Stop(std::chrono::milliseconds(1000));
  state_->JoinThreads();
}

std::string FakeTelnyx::base_url() const {
  return "http://" + state_->options.address + ":" + std::to_string(port());
}

uint16_t FakeTelnyx::port() const { return server_->port(); }

std::string FakeTelnyx::public_key() const { return state_->public_key; }

void FakeTelnyx::Script(std::string_view to_e164, CallScript script) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->scripts[std::string(to_e164)] = std::move(script);
}

void FakeTelnyx::ClearScripts() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->scripts.clear();
}

bool FakeTelnyx::EndCall(std::string_view call_control_id, std::string_view hangup_cause) {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->call_index.find(call_control_id);
  return it != state_->call_index.end() && state_->Hangup(it->second, std::string(hangup_cause), "callee");
}

bool FakeTelnyx::Answer(std::string_view call_control_id) {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->call_index.find(call_control_id);
  if (it == state_->call_index.end() || state_->calls[it->second].state != CallState::kRinging) return false;
  state_->AnswerCall(it->second);
  state_->changed.notify_all();
  return true;
}

bool FakeTelnyx::Decline(std::string_view call_control_id) {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->call_index.find(call_control_id);
  if (it == state_->call_index.end() || state_->calls[it->second].state != CallState::kRinging) return false;
  return state_->Hangup(it->second, "call_rejected", "callee");
}

bool FakeTelnyx::PressDigit(std::string_view call_control_id, std::string_view digit) {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->call_index.find(call_control_id);
  if (it == state_->call_index.end() || digit.empty()) return false;
  const Call& call = state_->calls[it->second];
  if (call.state != CallState::kAnswered || !call.gathering) return false;
  state_->EndGather(it->second, std::string(digit), /*timed_out=*/false);
  state_->changed.notify_all();
  return true;
}

std::vector<FakeTelnyx::Command> FakeTelnyx::Commands() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->commands;
}

std::vector<FakeTelnyx::Command> FakeTelnyx::Dials() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<Command> out;
  for (const Command& c : state_->commands) {
    if (c.action == "dial") out.push_back(c);
  }
  return out;
}

size_t FakeTelnyx::DialCountFor(std::string_view to_e164) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return static_cast<size_t>(std::count_if(state_->calls.begin(), state_->calls.end(),
                                           [&](const Call& c) { return c.to == to_e164; }));
}

std::vector<FakeTelnyx::Call> FakeTelnyx::Calls() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->calls;
}

std::optional<FakeTelnyx::Call> FakeTelnyx::FindCall(std::string_view call_control_id) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->call_index.find(call_control_id);
  if (it == state_->call_index.end()) return std::nullopt;
  return state_->calls[it->second];
}

std::vector<FakeTelnyx::Webhook> FakeTelnyx::Webhooks() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->webhooks;
}

std::vector<FakeTelnyx::Webhook> FakeTelnyx::WebhooksFor(std::string_view call_control_id) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<Webhook> out;
  for (const Webhook& w : state_->webhooks) {
    if (w.call_control_id == call_control_id) out.push_back(w);
  }
  return out;
}

bool FakeTelnyx::WaitFor(const std::function<bool(const View&)>& done, absl::Duration timeout) const {
  std::unique_lock<std::mutex> lock(state_->mu);
  return state_->changed.wait_for(lock, Chrono(timeout), [&] {
    return done(View{.commands = state_->commands, .calls = state_->calls, .webhooks = state_->webhooks});
  });
}

bool FakeTelnyx::WaitForCommands(size_t count, absl::Duration timeout) const {
  return WaitFor(
      [count](const View& view) {
        return view.commands.size() >= count && std::all_of(view.commands.begin(), view.commands.end(),
                                                            [](const Command& c) { return c.finished; });
      },
      timeout);
}

}  // namespace protectogram::providers::telnyx
