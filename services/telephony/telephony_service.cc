#include "services/telephony/telephony_service.h"

#include <google/protobuf/util/json_util.h>

#include <boost/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/crypto/digest.h"
#include "libs/crypto/random.h"
#include "libs/jobs/retry.h"
#include "libs/kernel/log.h"

namespace protectogram::telephony {

namespace json = boost::json;

// Where an input came from, for the history.
struct TelephonyService::Step {
  std::string source = "telephony";
  std::string kind;
  json::object detail;
  const common::v1::CallEvent* event = nullptr;  // the provider event, when one decided
  CallUpdate update;
};

namespace {

constexpr absl::Duration kStaleUnmatchedEvent = absl::Minutes(10);

std::string Str(const json::value* v) {
  if (v == nullptr || !v->is_string()) return "";
  return std::string(v->get_string().data(), v->get_string().size());
}

int64_t Int(const json::value* v) { return v != nullptr && v->is_int64() ? v->get_int64() : 0; }

absl::StatusOr<json::object> ParsePayload(const std::string& payload) {
  boost::system::error_code ec;
  json::value v = json::parse(payload, ec);
  if (ec || !v.is_object())
    return jobs::Permanent(absl::InvalidArgumentError("job payload is not a JSON object"));
  return v.as_object();
}

std::string_view ActionName(Action a) {
  switch (a) {
    case Action::kPrompt:
      return "prompt";
    case Action::kHangup:
      return "hangup";
    case Action::kDialNext:
      return "dial_next";
    case Action::kArmRingDeadline:
      return "arm_ring_deadline";
  }
  return "";
}

std::string JoinReason(const std::string& before, const std::string& provider, const std::string& reason) {
  std::string r = provider.empty() ? reason : provider + ": " + reason;
  return before.empty() ? r : before + "; " + r;
}

}  // namespace

// ---- providers and keys ------------------------------------------------------------------------------------

void ProviderSet::Add(std::unique_ptr<TelephonyProvider> provider) {
  all_.push_back(provider.get());
  owned_.push_back(std::move(provider));
}

void ProviderSet::AddUnowned(TelephonyProvider* provider) { all_.push_back(provider); }

TelephonyProvider* ProviderSet::Find(std::string_view name) const {
  for (TelephonyProvider* p : all_) {
    if (p->name() == name) return p;
  }
  return nullptr;
}

std::string DialKey(std::string_view attempt_key, std::string_view provider, int index) {
  // Shaped like a version-4 UUID (Telnyx recommends UUIDs for command_id); a SHA-256 always has 16 bytes.
  return *crypto::UuidFromBytes(
      crypto::Sha256(absl::StrCat(std::string(attempt_key), "|", std::string(provider), "|", index)));
}

std::string_view ProviderName(common::v1::Provider provider) {
  switch (provider) {
    case common::v1::PROVIDER_TELNYX:
      return "telnyx";
    case common::v1::PROVIDER_TWILIO:
      return "twilio";
    case common::v1::PROVIDER_ARI:
      return "ari";
    default:
      return "";
  }
}

// ---- the service --------------------------------------------------------------------------------------------

TelephonyService::TelephonyService(Store& store, jobs::JobStore& jobs, jobs::Outbox& outbox,
                                   const ProviderSet& providers, CallOutcomeReporter report_incident,
                                   const TelephonyConfig& config, kernel::MetricsRegistry& metrics)
    : store_(store),
      jobs_(jobs),
      outbox_(outbox),
      providers_(providers),
      report_incident_(std::move(report_incident)),
      config_(config),
      attempts_total_(metrics.AddCounter("call_attempts_total", "Call attempts by outcome.", {"result"})),
      provider_errors_(metrics.AddCounter("telephony_provider_errors_total",
                                          "Provider requests that failed, by provider, request and reason.",
                                          {"provider", "request", "reason"})),
      dial_seconds_(metrics.AddHistogram(
          "telephony_dial_seconds", "From PlaceCall to the provider accepting the dial.", {"provider"})) {}

void TelephonyService::SetWake(std::function<void()> wake_worker, std::function<void()> wake_relay) {
  wake_worker_ = std::move(wake_worker);
  wake_relay_ = std::move(wake_relay);
}

void TelephonyService::RegisterJobs(jobs::Worker& worker) {
  worker.Register(kDialJob, [this](jobs::JobContext& ctx) { return RunDial(ctx); },
                  {.retry = jobs::RetryPolicy::Exponential(absl::Milliseconds(200), absl::Seconds(5))});
  worker.Register(kCommandJob, [this](jobs::JobContext& ctx) { return RunCommand(ctx); },
                  {.retry = jobs::RetryPolicy::Exponential(absl::Milliseconds(200), absl::Seconds(5))});
  worker.Register(kRingDeadlineJob, [this](jobs::JobContext& ctx) { return RunRingDeadline(ctx); });
}

void TelephonyService::RegisterChannels(jobs::OutboxRelay& relay) {
  relay.RegisterSender(kReportIncidentChannel,
                       [this](jobs::OutboxMessage& message) { return DeliverReport(message); });
}

void TelephonyService::Finish(const AfterCommit& after) {
  for (Outcome o : after.outcomes) attempts_total_.WithLabels({std::string(Name(o))}).Inc();
  if (after.wake_worker) wake_worker_();
  if (after.wake_relay) wake_relay_();
}

// ---- PlaceCall ----------------------------------------------------------------------------------------------

absl::StatusOr<PlaceResult> TelephonyService::PlaceCall(const v1::PlaceCallRequest& r) {
  if (r.attempt_key().empty()) return absl::InvalidArgumentError("attempt_key is required");
  if (r.attempt_key().size() > 200) return absl::InvalidArgumentError("attempt_key is longer than 200 bytes");
  if (!r.report_to().service().empty() && r.report_to().service() != "incident") {
    return absl::InvalidArgumentError("report_to.service must be \"incident\" or empty");
  }
  for (char c : r.valid_digits()) {
    if (std::string_view("0123456789*#").find(c) == std::string_view::npos) {
      return absl::InvalidArgumentError("valid_digits may hold only 0-9, * and #");
    }
  }
  if (r.speak_text().size() > 3000) return absl::InvalidArgumentError("speak_text is longer than 3000 bytes");

  CallRow call;
  call.attempt_key = r.attempt_key();
  int64_t incident_id = 0;
  if (!r.incident_id().empty() && !absl::SimpleAtoi(r.incident_id(), &incident_id)) {
    return absl::InvalidArgumentError("incident_id must be a number");
  }
  call.incident_id = incident_id;
  call.attempt_number = std::max(1, r.attempt_number());
  call.to_e164 = r.to_e164();
  call.correlation_id = !r.correlation_id().empty() ? r.correlation_id()
                        : incident_id != 0          ? absl::StrCat("incident:", incident_id)
                                                    : "";
  call.report_service = r.report_to().service();
  call.report_key = r.report_to().key();
  call.requested_by = r.requested_by();
  call.speak_text = r.speak_text().empty() ? config_.default_text : r.speak_text();
  call.language = NormalizeLanguage(r.language(), config_.default_language);
  call.valid_digits = r.valid_digits().empty() ? "1" : r.valid_digits();
  call.prompt_repeats = r.prompt_repeats() <= 0 ? 3 : std::min(r.prompt_repeats(), 5);
  call.ring_timeout_sec =
      r.ring_timeout_sec() <= 0 ? config_.default_ring_timeout_sec : std::clamp(r.ring_timeout_sec(), 5, 600);
  call.caller_id = r.caller_id();
  call.dialplan_context = r.dialplan().context();
  call.dialplan_extension = r.dialplan().extension();
  call.dialplan_priority = r.dialplan().priority() <= 0 ? 1 : r.dialplan().priority();
  call.providers = config_.providers;

  absl::StatusOr<pg::Transaction> txn = store_.pool().Begin();
  if (!txn.ok()) return txn.status();
  // The caps are checked under one lock so that a burst cannot overshoot them; with every cap off there is
  // nothing to serialize.
  const SpendCaps& caps = config_.caps;
  const bool capped = caps.calls_per_hour > 0 || caps.calls_per_day > 0 || caps.ring_minutes_per_hour > 0 ||
                      caps.ring_minutes_per_day > 0;
  if (capped) {
    if (absl::Status s = Store::LockSpend(*txn); !s.ok()) return s;
  }
  absl::StatusOr<std::optional<CallRow>> inserted = Store::Insert(*txn, call);
  if (!inserted.ok()) return inserted.status();
  if (!inserted->has_value()) {
    absl::StatusOr<CallRow> existing = Store::Lock(*txn, call.attempt_key);
    if (!existing.ok()) return existing.status();
    if (absl::Status s = txn->Commit(); !s.ok()) return s;
    return PlaceResult{.duplicate = true, .call = *std::move(existing)};
  }
  CallRow row = **std::move(inserted);

  absl::Status guard = CheckNumber(row.to_e164, config_.app_env, config_.staging_allowed_numbers);
  if (guard.ok() && !row.correlation_id.empty()) {
    absl::StatusOr<bool> closed = Store::LockCorrelation(*txn, row.correlation_id, false);
    if (!closed.ok()) return closed.status();
    if (*closed) {
      guard = jobs::WithFailureReason(
          absl::FailedPreconditionError("HangupAll ended this call's correlation before it was placed"),
          "correlation_closed");
    }
  }
  if (guard.ok() && row.providers.empty()) {
    guard = jobs::WithFailureReason(absl::FailedPreconditionError("no telephony provider is configured"),
                                    "no_provider");
  }
  if (guard.ok() && capped) {
    absl::StatusOr<SpendSoFar> spent = Store::Spend(*txn, row.id);
    if (!spent.ok()) return spent.status();
    guard = CheckSpend(config_.caps, *spent, row.ring_timeout_sec);
  }
  AfterCommit after;
  if (!guard.ok()) {
    Step step{.kind = "refused"};
    step.detail["error"] = std::string(guard.message());
    step.update.not_billable = true;
    if (absl::Status s = Apply(*txn, row, Refused{jobs::FailureReasonOf(guard)}, step, after); !s.ok())
      return s;
    if (absl::Status s = txn->Commit(); !s.ok()) return s;
    Finish(after);
    kernel::LogWarn("telephony: call refused", {{"attempt_key", row.attempt_key},
                                                {"to", kernel::MaskPhone(row.to_e164)},
                                                {"reason", jobs::FailureReasonOf(guard)}});
    return guard;
  }

  json::object detail{{"to", kernel::MaskPhone(row.to_e164)},
                      {"providers", absl::StrJoin(row.providers, ",")},
                      {"ring_timeout_sec", row.ring_timeout_sec}};
  if (absl::Status s = Store::AddHistory(*txn, row.id, "telephony", "placed", row.state, row.state,
                                         json::serialize(detail));
      !s.ok()) {
    return s;
  }
  json::object payload{{"attempt_key", row.attempt_key}, {"index", 0}};
  absl::StatusOr<jobs::ScheduleResult> job = jobs_.Schedule(
      *txn, {.kind = kDialJob,
             .key = absl::StrCat("dial:", row.attempt_key, ":0"),
             .incident_id = row.incident_id != 0 ? std::optional<int64_t>(row.incident_id) : std::nullopt,
             .payload_json = json::serialize(payload),
             .max_attempts = 20});
  if (!job.ok()) return job.status();
  if (absl::Status s = txn->Commit(); !s.ok()) return s;
  wake_worker_();
  kernel::LogInfo("telephony: call placed", {{"attempt_key", row.attempt_key},
                                             {"call_id", row.call_id},
                                             {"to", kernel::MaskPhone(row.to_e164)},
                                             {"correlation", row.correlation_id}});
  return PlaceResult{.duplicate = false, .call = std::move(row)};
}

// ---- the dial job -------------------------------------------------------------------------------------------

absl::Status TelephonyService::RunDial(jobs::JobContext& ctx) {
  absl::StatusOr<json::object> payload = ParsePayload(ctx.payload_json());
  if (!payload.ok()) return payload.status();
  const std::string key = Str(payload->if_contains("attempt_key"));
  const int index = static_cast<int>(Int(payload->if_contains("index")));

  // (1) Decide to dial, durably: from here on a rerun knows an earlier dial may have reached the provider.
  DialRequest request;
  TelephonyProvider* provider = nullptr;
  {
    absl::StatusOr<pg::Transaction> txn = store_.pool().Begin();
    if (!txn.ok()) return txn.status();
    absl::StatusOr<CallRow> call = Store::Lock(*txn, key);
    if (!call.ok()) return call.status();
    const bool stale = IsTerminal(call->state) || call->provider_index != index ||
                       (!call->provider_call_id.empty() && call->provider == call->current_provider());
    if (stale) {
      if (absl::Status s = ctx.CompleteIn(*txn); !s.ok()) return s;
      return txn->Commit();
    }
    const std::string name = call->current_provider();
    provider = providers_.Find(name);
    request = DialRequest{.attempt_key = call->attempt_key,
                          .dial_key = DialKey(call->attempt_key, name, index),
                          .to_e164 = call->to_e164,
                          .caller_id = call->caller_id,
                          .speak_text = call->speak_text,
                          .language = call->language,
                          .valid_digits = call->valid_digits,
                          .prompt_repeats = call->prompt_repeats,
                          .ring_timeout = absl::Seconds(call->ring_timeout_sec),
                          .dialplan_context = call->dialplan_context,
                          .dialplan_extension = call->dialplan_extension,
                          .dialplan_priority = call->dialplan_priority,
                          .earlier_dial_started_at = call->dial_key == DialKey(call->attempt_key, name, index)
                                                         ? call->dial_started_at
                                                         : std::nullopt};
    if (provider != nullptr) {
      const CallState before = call->state;
      call->provider = name;
      call->dial_key = request.dial_key;
      if (call->state == CallState::kPending) call->state = CallState::kDialing;
      CallUpdate update{.dial_started = true};
      json::object detail{{"provider", name},
                          {"dial_key", request.dial_key},
                          {"retry", request.earlier_dial_started_at.has_value()}};
      if (absl::Status s = Store::UpdateWithHistory(*txn, *call, update, "telephony", "dial_requested",
                                                    before, json::serialize(detail));
          !s.ok()) {
        return s;
      }
      if (absl::Status s = txn->Commit(); !s.ok()) return s;
    }
  }

  // (2) Ask the provider.
  absl::StatusOr<PlacedCall> placed =
      absl::FailedPreconditionError("provider not configured in this process");
  std::string reason = "not_configured";
  const absl::Time started = absl::Now();
  if (provider != nullptr) {
    if (request.earlier_dial_started_at.has_value()) {
      absl::StatusOr<std::optional<PlacedCall>> earlier = provider->FindEarlierDial(request);
      if (!earlier.ok()) {
        placed = earlier.status();
      } else if (earlier->has_value()) {
        placed = **earlier;
      } else {
        placed = provider->Dial(request);
      }
    } else {
      placed = provider->Dial(request);
    }
    if (!placed.ok()) {
      reason = jobs::FailureReasonOf(placed.status());
      provider_errors_.WithLabels({std::string(provider->name()), "dial", reason}).Inc();
    } else {
      dial_seconds_.WithLabels({std::string(provider->name())})
          .Observe(absl::ToDoubleSeconds(absl::Now() - started));
    }
  }

  // (3) Record the answer.
  absl::StatusOr<pg::Transaction> txn = store_.pool().Begin();
  if (!txn.ok()) return txn.status();
  absl::StatusOr<CallRow> call = Store::Lock(*txn, key);
  if (!call.ok()) return call.status();
  AfterCommit after;
  if (call->provider_index != index) {
    // Another run of this job got further meanwhile (a lease expired under a slow provider).
    if (absl::Status s = ctx.CompleteIn(*txn); !s.ok()) return s;
    return txn->Commit();
  }
  // The answer was lost, but the provider's events already showed the call (they carry our attempt key): it
  // was placed, and failing over would ring the guardian a second time.
  const bool events_showed_call = !placed.ok() && !call->provider_call_id.empty() &&
                                  call->provider == call->current_provider() && IsLive(call->state);
  if (placed.ok() || events_showed_call) {
    if (call->provider_call_id.empty()) call->provider_call_id = placed->provider_call_id;
    Step step{.kind = "dial_accepted"};
    step.detail["provider_call_id"] = call->provider_call_id;
    if (events_showed_call) step.detail["answer_lost"] = std::string(placed.status().message());
    if (absl::Status s = Apply(*txn, *call, DialAccepted{}, step, after); !s.ok()) return s;
  } else {
    Step step{.kind = "dial_failed"};
    step.detail["provider"] = call->current_provider();
    step.detail["reason"] = reason;
    step.detail["error"] = std::string(placed.status().message());
    kernel::LogWarn("telephony: dial failed", {{"attempt_key", key},
                                               {"provider", call->current_provider()},
                                               {"reason", reason},
                                               {"error", std::string(placed.status().message())}});
    if (absl::Status s = Apply(*txn, *call, DialFailed{reason}, step, after); !s.ok()) return s;
  }
  if (absl::Status s = ctx.CompleteIn(*txn); !s.ok()) return s;
  if (absl::Status s = txn->Commit(); !s.ok()) return s;
  Finish(after);
  return absl::OkStatus();
}

// ---- commands and the ring deadline -------------------------------------------------------------------------

absl::Status TelephonyService::ScheduleCommand(pg::Transaction& txn, const CallRow& call,
                                               std::string_view action, std::string_view provider,
                                               std::string_view provider_call_id) {
  json::object payload{{"attempt_key", call.attempt_key},
                       {"action", action},
                       {"provider", provider},
                       {"provider_call_id", provider_call_id},
                       {"dial_key", call.dial_key}};
  return jobs_
      .Schedule(txn, {.kind = kCommandJob,
                      .key = absl::StrCat("cmd:", call.attempt_key, ":", std::string(action), ":",
                                          std::string(provider), ":", std::string(provider_call_id)),
                      .incident_id =
                          call.incident_id != 0 ? std::optional<int64_t>(call.incident_id) : std::nullopt,
                      .payload_json = json::serialize(payload),
                      .max_attempts = 10})
      .status();
}

absl::Status TelephonyService::RunCommand(jobs::JobContext& ctx) {
  absl::StatusOr<json::object> payload = ParsePayload(ctx.payload_json());
  if (!payload.ok()) return payload.status();
  const std::string action = Str(payload->if_contains("action"));
  const std::string name = Str(payload->if_contains("provider"));
  TelephonyProvider* provider = providers_.Find(name);
  if (provider == nullptr) {
    return jobs::Permanent(absl::FailedPreconditionError("provider " + name + " is not configured here"));
  }
  CallRef ref{.attempt_key = Str(payload->if_contains("attempt_key")),
              .dial_key = Str(payload->if_contains("dial_key")),
              .provider_call_id = Str(payload->if_contains("provider_call_id"))};
  absl::Status done;
  if (action == "hangup") {
    done = provider->Hangup(ref);
  } else if (action == "prompt") {
    absl::StatusOr<CallRow> call = store_.Get(ref.attempt_key);
    if (!call.ok()) return call.status();
    // The outcome came first (a machine, a hangup): nobody to prompt.
    if (call->outcome.has_value() || IsTerminal(call->state)) return absl::OkStatus();
    done = provider->StartPrompt(ref, Prompt{.speak_text = call->speak_text,
                                             .language = call->language,
                                             .valid_digits = call->valid_digits,
                                             .repeats = call->prompt_repeats,
                                             .dialplan_context = call->dialplan_context,
                                             .dialplan_extension = call->dialplan_extension,
                                             .dialplan_priority = call->dialplan_priority});
  } else {
    return jobs::Permanent(absl::InvalidArgumentError("unknown command " + action));
  }
  if (!done.ok()) {
    provider_errors_.WithLabels({name, action, jobs::FailureReasonOf(done)}).Inc();
    kernel::LogWarn("telephony: provider command failed", {{"attempt_key", ref.attempt_key},
                                                           {"provider", name},
                                                           {"command", action},
                                                           {"error", std::string(done.message())}});
  }
  return done;
}

absl::Status TelephonyService::RunRingDeadline(jobs::JobContext& ctx) {
  absl::StatusOr<json::object> payload = ParsePayload(ctx.payload_json());
  if (!payload.ok()) return payload.status();
  absl::StatusOr<pg::Transaction> txn = store_.pool().Begin();
  if (!txn.ok()) return txn.status();
  absl::StatusOr<CallRow> call = Store::Lock(*txn, Str(payload->if_contains("attempt_key")));
  if (!call.ok()) return call.status();
  AfterCommit after;
  Step step{.kind = "ring_deadline"};
  if (absl::Status s = Apply(*txn, *call, RingDeadline{}, step, after); !s.ok()) return s;
  if (absl::Status s = ctx.CompleteIn(*txn); !s.ok()) return s;
  if (absl::Status s = txn->Commit(); !s.ok()) return s;
  Finish(after);
  return absl::OkStatus();
}

// ---- events -------------------------------------------------------------------------------------------------

absl::Status TelephonyService::ApplyEvent(pg::Transaction& txn, const common::v1::CallEvent& event,
                                          AfterCommit& after) {
  after.Clear();
  const std::string provider(ProviderName(event.provider()));
  absl::StatusOr<std::optional<CallRow>> found =
      Store::LockForEvent(txn, provider, event.call_id(), event.client_state());
  if (!found.ok()) return found.status();
  if (!found->has_value()) {
    // When the provider says it happened, else when the edge received it, else (neither known) now.
    const absl::Time at = event.has_occurred_at()   ? absl::FromUnixSeconds(event.occurred_at().seconds())
                          : event.has_received_at() ? absl::FromUnixSeconds(event.received_at().seconds())
                                                    : absl::Now();
    // Nothing to match by (no call id, no attempt key), or so old that its call is not coming: nobody's.
    const bool unmatchable = event.call_id().empty() && event.client_state().empty();
    if (unmatchable || absl::Now() - at > kStaleUnmatchedEvent) {
      kernel::LogWarn("telephony: event for an unknown call dropped",
                      {{"provider", provider}, {"provider_event_id", event.provider_event_id()}});
      return absl::OkStatus();
    }
    // A webhook faster than the dial's answer: the sender retries until the call is known.
    return absl::UnavailableError("no call for this event yet");
  }
  std::optional<CallRow>& call = *found;

  Step step{.source = provider, .kind = event.provider_event_type(), .event = &event};
  step.detail["provider_event_id"] = event.provider_event_id();
  if (!event.call_id().empty()) step.detail["call_id"] = event.call_id();
  if (!event.digits().empty()) step.detail["digits"] = event.digits();
  if (!event.status().empty()) step.detail["status"] = event.status();
  if (!event.hangup_cause().empty()) step.detail["hangup_cause"] = event.hangup_cause();

  // A call this attempt no longer uses: a provider we failed over from placed it after all, or a second call
  // of the same provider. It must not ring on: hang it up, and leave the attempt alone.
  const bool other_provider = provider != call->current_provider();
  const bool other_call = !other_provider && !call->provider_call_id.empty() && !event.call_id().empty() &&
                          event.call_id() != call->provider_call_id && event.call_id() != call->dial_key;
  if (other_provider || other_call) {
    step.kind = "stray:" + event.provider_event_type();
    if (absl::Status s = Store::AddHistory(txn, call->id, provider, step.kind, call->state, call->state,
                                           json::serialize(step.detail));
        !s.ok()) {
      return s;
    }
    if (event.type() != common::v1::CALL_EVENT_TYPE_HANGUP && !event.call_id().empty()) {
      if (absl::Status s = ScheduleCommand(txn, *call, "hangup", provider, event.call_id()); !s.ok())
        return s;
      after.wake_worker = true;
    }
    return absl::OkStatus();
  }
  if (call->provider_call_id.empty()) call->provider_call_id = event.call_id();
  ProviderEvent input{.type = event.type(),
                      .digits = event.digits(),
                      .status = event.status(),
                      .hangup_cause = event.hangup_cause()};
  return Apply(txn, *call, input, step, after);
}

// ---- applying a decision ------------------------------------------------------------------------------------

absl::Status TelephonyService::Apply(pg::Transaction& txn, CallRow& call, const CallInput& input,
                                     const Step& step, AfterCommit& after) {
  const CallState before = call.state;
  Decision d = Decide(call.Facts(), input);
  CallUpdate update = step.update;
  update.answered = update.answered || d.set_answered_at;
  update.ended = update.ended || d.set_ended_at;
  call.state = d.next.state;
  call.machine_detected = d.next.machine;
  call.digits = d.next.digits;
  call.outcome = d.next.outcome;
  if (!d.failure_reason.empty()) {
    call.failure_reason = JoinReason(call.failure_reason, call.provider, d.failure_reason);
  }
  json::object detail = step.detail;
  if (!d.ignored.empty()) detail["ignored"] = d.ignored;
  if (d.decided.has_value()) detail["outcome"] = Name(*d.decided);
  json::array actions;
  for (Action a : d.actions) actions.push_back(json::string(ActionName(a)));
  if (!actions.empty()) detail["actions"] = std::move(actions);

  // Fail over: the same attempt through the next provider, its dial not started yet.
  const std::string provider_before = call.provider;
  const std::string provider_call_before = call.provider_call_id;
  for (Action a : d.actions) {
    if (a != Action::kDialNext) continue;
    call.provider_index += 1;
    call.provider_call_id.clear();
    call.dial_key.clear();
    update.clear_dial_start = true;
  }

  if (absl::Status s = Store::UpdateWithHistory(txn, call, update, step.source, step.kind, before,
                                                json::serialize(detail));
      !s.ok()) {
    return s;
  }
  for (Action a : d.actions) {
    absl::Status s;
    switch (a) {
      case Action::kPrompt:
        s = ScheduleCommand(txn, call, "prompt", call.provider, call.provider_call_id);
        break;
      case Action::kHangup:
        // Nothing to hang up before the provider named the call: a dial that is accepted later is hung up
        // then (DialAccepted on an ended call).
        if (!provider_call_before.empty()) {
          s = ScheduleCommand(txn, call, "hangup", provider_before, provider_call_before);
        }
        break;
      case Action::kArmRingDeadline: {
        json::object payload{{"attempt_key", call.attempt_key}};
        s = jobs_
                .Schedule(txn, {.kind = kRingDeadlineJob,
                                .key = absl::StrCat("ring:", call.attempt_key, ":", call.provider_index),
                                .delay = absl::Seconds(call.ring_timeout_sec) + config_.ring_grace,
                                .payload_json = json::serialize(payload)})
                .status();
        break;
      }
      case Action::kDialNext: {
        json::object payload{{"attempt_key", call.attempt_key}, {"index", call.provider_index}};
        s = jobs_
                .Schedule(txn, {.kind = kDialJob,
                                .key = absl::StrCat("dial:", call.attempt_key, ":", call.provider_index),
                                .payload_json = json::serialize(payload),
                                .max_attempts = 20})
                .status();
        break;
      }
    }
    if (!s.ok()) return s;
    after.wake_worker = true;
  }
  if (d.decided.has_value()) {
    if (absl::Status s = ReportOutcome(txn, call, *d.decided, d.outcome_detail, step.event); !s.ok())
      return s;
    after.outcomes.push_back(*d.decided);
    after.wake_relay = true;
  }
  return absl::OkStatus();
}

absl::Status TelephonyService::ReportOutcome(pg::Transaction& txn, const CallRow& call, Outcome outcome,
                                             const std::string& detail, const common::v1::CallEvent* event) {
  kernel::LogInfo("telephony: call outcome", {{"attempt_key", call.attempt_key},
                                              {"call_id", call.call_id},
                                              {"outcome", std::string(Name(outcome))},
                                              {"correlation", call.correlation_id}});
  if (call.report_service != "incident") return absl::OkStatus();
  incident::v1::OnCallOutcomeRequest report;
  report.set_event_key("call:" + call.attempt_key);
  report.set_attempt_key(call.attempt_key);
  if (event != nullptr) *report.mutable_event() = *event;
  report.set_report_key(call.report_key);
  report.set_outcome(std::string(Name(outcome)));
  if (outcome == Outcome::kDigitPressed) report.set_digit(detail);
  if (outcome == Outcome::kFailed) report.set_reason(detail.empty() ? call.failure_reason : detail);
  report.set_call_id(call.call_id);
  report.set_provider(call.provider);
  report.set_machine_detected(call.machine_detected);
  report.set_duration_sec(call.duration_sec);
  std::string payload;
  (void)google::protobuf::util::MessageToJsonString(report, &payload);
  return outbox_
      .Enqueue(txn, {.channel = kReportIncidentChannel,
                     .idempotency_key = report.event_key(),
                     .payload_json = payload,
                     .incident_id =
                         call.incident_id != 0 ? std::optional<int64_t>(call.incident_id) : std::nullopt,
                     .priority = 1})
      .status();
}

absl::Status TelephonyService::DeliverReport(const jobs::OutboxMessage& message) {
  incident::v1::OnCallOutcomeRequest report;
  if (!google::protobuf::util::JsonStringToMessage(message.payload_json, &report).ok()) {
    return jobs::Permanent(absl::InvalidArgumentError("report payload is not an OnCallOutcomeRequest"));
  }
  if (!report_incident_) return absl::UnavailableError("no incident reporter");
  return report_incident_(report);
}

// ---- hangups and reads --------------------------------------------------------------------------------------

absl::StatusOr<std::string> TelephonyService::ResolveKey(const std::string& attempt_key,
                                                         const std::string& call_id) {
  if (!attempt_key.empty()) return attempt_key;
  if (call_id.empty()) return absl::InvalidArgumentError("attempt_key or call_id is required");
  if (!crypto::IsUuid(call_id)) return absl::NotFoundError("no call " + call_id);
  absl::StatusOr<CallRow> call = store_.GetById(call_id);
  if (!call.ok()) return call.status();
  return call->attempt_key;
}

absl::StatusOr<std::pair<bool, CallRow>> TelephonyService::Hangup(const std::string& attempt_key,
                                                                  const std::string& call_id) {
  absl::StatusOr<std::string> key = ResolveKey(attempt_key, call_id);
  if (!key.ok()) return key.status();
  absl::StatusOr<pg::Transaction> txn = store_.pool().Begin();
  if (!txn.ok()) return txn.status();
  absl::StatusOr<CallRow> call = Store::Lock(*txn, *key);
  if (!call.ok()) return call.status();
  const bool live = IsLive(call->state);
  AfterCommit after;
  if (absl::Status s = Apply(*txn, *call, CancelRequested{}, Step{.kind = "hangup_requested"}, after);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = txn->Commit(); !s.ok()) return s;
  Finish(after);
  return std::make_pair(live, *std::move(call));
}

absl::StatusOr<int> TelephonyService::HangupAll(const std::string& correlation_id) {
  if (correlation_id.empty()) return absl::InvalidArgumentError("correlation_id is required");
  absl::StatusOr<pg::Transaction> txn = store_.pool().Begin();
  if (!txn.ok()) return txn.status();
  if (absl::StatusOr<bool> closed = Store::LockCorrelation(*txn, correlation_id, true); !closed.ok()) {
    return closed.status();
  }
  absl::StatusOr<std::vector<std::string>> keys = Store::LockLiveCallsOf(*txn, correlation_id);
  if (!keys.ok()) return keys.status();
  AfterCommit all;
  for (const std::string& key : *keys) {
    absl::StatusOr<CallRow> call = Store::Lock(*txn, key);
    if (!call.ok()) return call.status();
    AfterCommit after;
    if (absl::Status s = Apply(*txn, *call, CancelRequested{}, Step{.kind = "hangup_all"}, after); !s.ok()) {
      return s;
    }
    all.outcomes.insert(all.outcomes.end(), after.outcomes.begin(), after.outcomes.end());
    all.wake_worker = all.wake_worker || after.wake_worker;
    all.wake_relay = all.wake_relay || after.wake_relay;
  }
  if (absl::Status s = txn->Commit(); !s.ok()) return s;
  Finish(all);
  kernel::LogInfo("telephony: hung up every live call",
                  {{"correlation", correlation_id}, {"ended", std::to_string(keys->size())}});
  return static_cast<int>(keys->size());
}

absl::StatusOr<CallRow> TelephonyService::GetCall(const std::string& attempt_key,
                                                  const std::string& call_id) {
  if (!attempt_key.empty()) return store_.Get(attempt_key);
  if (call_id.empty()) return absl::InvalidArgumentError("attempt_key or call_id is required");
  if (!crypto::IsUuid(call_id)) return absl::NotFoundError("no call " + call_id);
  return store_.GetById(call_id);
}

absl::StatusOr<std::vector<CallRow>> TelephonyService::ListCalls(const CallFilter& filter) {
  return store_.List(filter);
}

absl::StatusOr<std::vector<HistoryEntry>> TelephonyService::History(const CallRow& call) {
  return store_.History(call.id);
}

}  // namespace protectogram::telephony
