#include "services/incident/incident_service.h"

#include <google/protobuf/util/json_util.h>

#include <boost/json.hpp>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/crypto/random.h"
#include "libs/jobs/retry.h"
#include "libs/kernel/log.h"
#include "libs/pg/status.h"
#include "services/incident/conversation/conversation.h"
#include "services/notification/catalog.h"

namespace protectogram::incident {
namespace {

namespace nv1 = notification::v1;
namespace tv1 = telephony::v1;
namespace json = boost::json;
using Params = std::map<std::string, std::string>;

constexpr char kTimerKind[] = "incident.timer";
constexpr char kSendChannel[] = "notification.send";
constexpr char kEditChannel[] = "notification.edit";
constexpr char kAnswerChannel[] = "notification.answer_callback";
constexpr char kPlaceCallChannel[] = "telephony.place_call";
constexpr char kHangupChannel[] = "telephony.hangup";
constexpr char kHangupAllChannel[] = "telephony.hangup_all";

// Outbox priorities: the relay claims higher first. Calls and alerts before everything else.
constexpr int kPriorityAlert = 10;
constexpr int kPriorityStop = 9;  // hang-ups
constexpr int kPriorityRoutine = 0;

std::string Render(std::string_view template_id, std::string_view locale, const Params& params = {}) {
  absl::StatusOr<std::string> text = notification::Catalog::Default().Render(template_id, locale, params);
  return text.ok() ? *text : std::string(template_id);
}

// The menu as an inline keyboard: a button per action; a press is handled as the command it names.
std::vector<std::vector<conversation::InlineButton>> MenuRows() {
  return {{{.template_id = "menu.button_panic", .data = "menu:panic"}},
          {{.template_id = "menu.button_invite", .data = "menu:invite"}},
          {{.template_id = "menu.button_guardians", .data = "menu:guardians"}}};
}

void AddRows(nv1::SendRequest& request, const std::vector<std::vector<conversation::InlineButton>>& rows,
             const std::string& locale) {
  for (const auto& row : rows) {
    nv1::ButtonRow* out = request.add_inline_keyboard();
    for (const conversation::InlineButton& b : row) {
      nv1::Button* button = out->add_buttons();
      button->set_text(b.template_id.empty() ? b.text : Render(b.template_id, locale));
      button->set_data(b.data);
    }
  }
}

conversation::Input ToInput(const common::v1::ChatEvent& event) {
  conversation::Input in;
  in.sender_id = event.from().id();
  in.first_name = event.from().first_name();
  in.language_code = event.from().language_code();
  switch (event.body_case()) {
    case common::v1::ChatEvent::kText:
      in.kind = conversation::Input::Kind::kText;
      in.text = event.text().text();
      in.command = event.text().command();
      in.command_args = event.text().command_args();
      in.edited = event.text().edited();
      break;
    case common::v1::ChatEvent::kButton:
      in.kind = conversation::Input::Kind::kButton;
      in.callback_id = event.button().callback_id();
      in.data = event.button().data();
      // A menu button is its command (the menu is an inline keyboard, see docs/incident.md).
      if (absl::StartsWith(in.data, "menu:")) {
        in.kind = conversation::Input::Kind::kText;
        in.command = in.data.substr(5);
        in.text = "/" + in.command;
      }
      break;
    case common::v1::ChatEvent::kContact:
      in.kind = conversation::Input::Kind::kContact;
      in.contact_phone = event.contact().phone_number();
      in.contact_user_id = event.contact().user_id();
      break;
    case common::v1::ChatEvent::kNonText:
      in.kind = conversation::Input::Kind::kNonText;
      break;
    default:
      in.kind = conversation::Input::Kind::kOther;
  }
  return in;
}

// The answer to a button press (answerCallbackQuery), keyed as the core keys it: one per press.
core::AnswerCallback ButtonAnswer(const std::string& bot_id, const std::string& callback_id,
                                  const std::string& locale, std::string template_id = "",
                                  Params params = {}) {
  return core::AnswerCallback{.key = "callback:" + callback_id,
                              .bot_id = bot_id,
                              .callback_id = callback_id,
                              .locale = locale,
                              .template_id = std::move(template_id),
                              .params = std::move(params)};
}

template <typename Request>
absl::StatusOr<Request> Parse(const jobs::OutboxMessage& message) {
  Request r;
  if (!google::protobuf::util::JsonStringToMessage(message.payload_json, &r).ok()) {
    return jobs::Permanent(absl::InvalidArgumentError("outbox payload is not a " + r.GetTypeName()));
  }
  return r;
}

}  // namespace

// One chat event being handled: what the conversation knows and decided.
struct IncidentService::ChatTurn {
  const common::v1::ChatEvent& event;
  conversation::Context context;
  conversation::Decision decision;
  int replies = 0;  // numbers the replies' keys
  std::string locale;
};

IncidentService::IncidentService(Store& store, jobs::JobStore& jobs, jobs::Outbox& outbox,
                                 Downstream downstream, const IncidentConfig& config,
                                 kernel::MetricsRegistry& metrics, jobs::Clock& clock)
    : store_(store),
      jobs_(jobs),
      outbox_(outbox),
      downstream_(std::move(downstream)),
      config_(config),
      clock_(clock),
      started_(metrics.AddCounter("panic_incidents_started_total", "Incidents opened by a panic.")),
      acknowledged_(
          metrics.AddCounter("panic_acknowledged_total", "Incidents a guardian took responsibility for.")),
      canceled_(
          metrics.AddCounter("panic_canceled_total", "Incidents canceled by the traveler or an operator.")),
      repairs_(
          metrics.AddCounter("incident_invariant_repairs_total",
                             "Open incidents the auditor found with nothing pending and repaired (should "
                             "stay 0).")),
      first_alert_(metrics.AddHistogram("panic_first_alert_seconds",
                                        "From the panic to the first guardian alert accepted by Telegram.")),
      ack_latency_(metrics.AddHistogram("panic_acknowledged_seconds",
                                        "From the panic to its acknowledgement.", {},
                                        {1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200})) {}

void IncidentService::SetWake(std::function<void()> wake_worker, std::function<void()> wake_relay) {
  wake_worker_ = std::move(wake_worker);
  wake_relay_ = std::move(wake_relay);
}

void IncidentService::Finish(const AfterCommit& after) {
  if (after.started > 0) started_.Inc(after.started);
  if (after.acknowledged > 0) acknowledged_.Inc(after.acknowledged);
  if (after.canceled > 0) canceled_.Inc(after.canceled);
  if (after.repaired > 0) repairs_.Inc(after.repaired);
  for (double s : after.ack_seconds) ack_latency_.Observe(s);
  for (double s : after.first_alert_seconds) first_alert_.Observe(s);
  if (after.wake_worker) wake_worker_();
  if (after.wake_relay) wake_relay_();
}

// The core's state keeps times in microseconds (state_json): deciding with `now` at that precision makes a
// reloaded state decide exactly as the one in memory.
absl::Time IncidentService::Now() const { return absl::FromUnixMicros(absl::ToUnixMicros(clock_.Now())); }

// ---- Commands ------------------------------------------------------------------------------------------

void IncidentService::RegisterChannels(jobs::OutboxRelay& relay) {
  auto sender = [](auto parse, auto call) {
    return [parse, call](jobs::OutboxMessage& message) -> absl::Status {
      auto request = parse(message);
      if (!request.ok()) return request.status();
      return call(*request);
    };
  };
  relay.RegisterSender(kSendChannel, sender(&Parse<nv1::SendRequest>, [this](const nv1::SendRequest& r) {
                         return downstream_.send(r);
                       }));
  relay.RegisterSender(kEditChannel, sender(&Parse<nv1::EditRequest>, [this](const nv1::EditRequest& r) {
                         absl::Status s = downstream_.edit(r);
                         // The message it edits may not have reached the notification service yet (the
                         // outbox sends in parallel): wait for it rather than give up.
                         if (s.code() == absl::StatusCode::kNotFound)
                           return absl::UnavailableError(s.message());
                         return s;
                       }));
  relay.RegisterSender(
      kAnswerChannel, sender(&Parse<nv1::AnswerCallbackRequest>, [this](const nv1::AnswerCallbackRequest& r) {
        return downstream_.answer_callback(r);
      }));
  relay.RegisterSender(
      kPlaceCallChannel, sender(&Parse<tv1::PlaceCallRequest>, [this](const tv1::PlaceCallRequest& r) {
        absl::Status s = downstream_.place_call(r);
        // A refusal (a bad number, a spend cap, the incident hung up) is recorded by
        // telephony and reported back as a failed outcome: the command was taken.
        switch (s.code()) {
          case absl::StatusCode::kInvalidArgument:
          case absl::StatusCode::kFailedPrecondition:
          case absl::StatusCode::kPermissionDenied:
          case absl::StatusCode::kResourceExhausted:
            kernel::LogWarn("telephony refused a call; its outcome follows",
                            {{"attempt_key", r.attempt_key()}, {"error", std::string(s.message())}});
            return absl::OkStatus();
          default:
            return s;
        }
      }));
  relay.RegisterSender(kHangupChannel,
                       sender(&Parse<tv1::HangupRequest>, [this](const tv1::HangupRequest& r) {
                         absl::Status s = downstream_.hangup(r);
                         return s.code() == absl::StatusCode::kNotFound ? absl::OkStatus() : s;
                       }));
  relay.RegisterSender(kHangupAllChannel,
                       sender(&Parse<tv1::HangupAllRequest>,
                              [this](const tv1::HangupAllRequest& r) { return downstream_.hangup_all(r); }));
}

absl::Status IncidentService::Enqueue(pg::Transaction& txn, std::string channel, std::string key,
                                      const google::protobuf::Message& request, int64_t incident_id,
                                      int priority, AfterCommit& after) {
  std::string payload;
  (void)google::protobuf::util::MessageToJsonString(request, &payload);
  absl::StatusOr<bool> queued = outbox_.Enqueue(
      txn, {.channel = std::move(channel),
            .idempotency_key = std::move(key),
            .payload_json = std::move(payload),
            .incident_id = incident_id != 0 ? std::optional<int64_t>(incident_id) : std::nullopt,
            .priority = priority});
  if (!queued.ok()) return queued.status();
  after.wake_relay = true;
  return absl::OkStatus();
}

// `keyboard` carries what a conversation reply adds (an inline keyboard, the contact button); the rest comes
// from the message.
absl::Status IncidentService::EnqueueMessage(pg::Transaction& txn, const core::SendMessage& c,
                                             int64_t incident_id, nv1::SendRequest r, AfterCommit& after) {
  r.set_idempotency_key(c.key);
  r.set_channel(nv1::CHANNEL_TELEGRAM);
  r.set_bot_id(c.bot_id);
  r.set_chat_id(c.chat_id);
  r.set_template_id(c.template_id);
  r.set_locale(c.locale);
  for (const auto& [k, v] : c.params) (*r.mutable_params())[k] = v;
  for (const core::Button& b : c.buttons) {
    nv1::Button* button = r.add_buttons();
    button->set_text(Render(b.template_id, c.locale));
    button->set_data(b.data);
  }
  r.set_priority(c.alert_priority ? nv1::PRIORITY_ALERT : nv1::PRIORITY_ROUTINE);
  if (c.report) {
    r.mutable_report_to()->set_service("incident");
    r.mutable_report_to()->set_key(c.key);
  }
  r.set_incident_id(incident_id);
  return Enqueue(txn, kSendChannel, c.key, r, incident_id,
                 c.alert_priority ? kPriorityAlert : kPriorityRoutine, after);
}

absl::Status IncidentService::EnqueueAnswer(pg::Transaction& txn, const core::AnswerCallback& c,
                                            int64_t incident_id, AfterCommit& after) {
  nv1::AnswerCallbackRequest r;
  r.set_idempotency_key(c.key);
  r.set_bot_id(c.bot_id);
  r.set_callback_query_id(c.callback_id);
  r.set_template_id(c.template_id);
  if (!c.template_id.empty()) r.set_locale(c.locale);
  for (const auto& [k, v] : c.params) (*r.mutable_params())[k] = v;
  return Enqueue(txn, kAnswerChannel, c.key, r, incident_id, kPriorityAlert, after);
}

absl::Status IncidentService::Execute(pg::Transaction& txn, const core::Incident& incident,
                                      const std::vector<core::Command>& commands, AfterCommit& after) {
  const int64_t id = incident.id;
  std::vector<core::TimelineEntry> timeline;
  for (const core::Command& command : commands) {
    absl::Status s = std::visit(
        [&](const auto& c) -> absl::Status {
          using C = std::decay_t<decltype(c)>;
          if constexpr (std::is_same_v<C, core::SendMessage>) {
            return EnqueueMessage(txn, c, id, nv1::SendRequest(), after);
          } else if constexpr (std::is_same_v<C, core::EditMessage>) {
            nv1::EditRequest r;
            r.set_idempotency_key(c.key);
            r.set_target_key(c.target_key);
            r.set_template_id(c.template_id);
            if (!c.template_id.empty()) r.set_locale(c.locale);
            for (const auto& [k, v] : c.params) (*r.mutable_params())[k] = v;
            r.set_remove_keyboard(c.remove_keyboard);
            return Enqueue(txn, kEditChannel, c.key, r, id, kPriorityRoutine, after);
          } else if constexpr (std::is_same_v<C, core::AnswerCallback>) {
            return EnqueueAnswer(txn, c, id, after);
          } else if constexpr (std::is_same_v<C, core::PlaceCall>) {
            tv1::PlaceCallRequest r;
            r.set_attempt_key(c.attempt_key);
            r.set_to_e164(c.to_e164);
            r.set_speak_text(Render(c.template_id, c.locale, c.params));
            r.set_language(
                std::string(notification::SpeechLanguage(notification::LocaleOrDefault(c.locale))));
            r.set_ring_timeout_sec(static_cast<int32_t>(absl::ToInt64Seconds(c.ring_timeout)));
            r.set_incident_id(absl::StrCat(id));
            r.set_correlation_id(incident.correlation_id());
            r.mutable_report_to()->set_service("incident");
            r.mutable_report_to()->set_key(c.attempt_key);
            r.set_attempt_number(c.attempt_number);
            r.set_requested_by("incident");
            return Enqueue(txn, kPlaceCallChannel, c.attempt_key, r, id, kPriorityAlert, after);
          } else if constexpr (std::is_same_v<C, core::HangupCall>) {
            tv1::HangupRequest r;
            r.set_attempt_key(c.attempt_key);
            return Enqueue(txn, kHangupChannel, "hangup:" + c.attempt_key, r, id, kPriorityStop, after);
          } else if constexpr (std::is_same_v<C, core::HangupAll>) {
            tv1::HangupAllRequest r;
            r.set_correlation_id(c.correlation_id);
            return Enqueue(txn, kHangupAllChannel, "hangup_all:" + c.correlation_id, r, id, kPriorityStop,
                           after);
          } else if constexpr (std::is_same_v<C, core::Schedule>) {
            json::object payload{{"incident_id", id}, {"kind", core::TimerKindName(c.kind)}, {"seq", c.seq}};
            absl::StatusOr<jobs::ScheduleResult> r =
                jobs_.Schedule(txn, {.kind = kTimerKind,
                                     .key = c.key,
                                     .run_at = c.at,
                                     .incident_id = id,
                                     .payload_json = json::serialize(payload),
                                     .max_attempts = 1000});
            after.wake_worker = true;
            return r.status();
          } else if constexpr (std::is_same_v<C, core::CancelTimers>) {
            if (absl::StatusOr<int64_t> n = jobs_.CancelPrefix(txn, core::TimerPrefix(id)); !n.ok()) {
              return n.status();
            }
            return Store::DropPendingCalls(txn, id);
          } else {
            timeline.push_back(c);
            return absl::OkStatus();
          }
        },
        command);
    if (!s.ok()) return s;
  }
  return Store::AddTimeline(txn, id, incident.correlation_id(), timeline);
}

absl::Status IncidentService::SaveAndExecute(pg::Transaction& txn, const core::Incident& before,
                                             const core::Incident& inc,
                                             const std::vector<core::Command>& commands, AfterCommit& after) {
  absl::StatusOr<absl::Duration> age = Store::SaveIncident(txn, inc);
  if (!age.ok()) return age.status();
  const bool was_open = core::IsOpen(before.status);
  if (was_open && inc.status == core::Status::kAcknowledged) {
    ++after.acknowledged;
    after.ack_seconds.push_back(absl::ToDoubleSeconds(*age));
    kernel::LogInfo("incident acknowledged", {{"incident_id", inc.id},
                                              {"guardian", inc.acknowledged_by},
                                              {"via", inc.acknowledged_via},
                                              {"correlation_id", inc.correlation_id()}});
  }
  if (was_open && inc.status == core::Status::kCanceled) {
    ++after.canceled;
    kernel::LogInfo("incident canceled", {{"incident_id", inc.id}, {"correlation_id", inc.correlation_id()}});
  }
  if (was_open && inc.status == core::Status::kEscalated) {
    kernel::LogWarn("incident escalated: nobody acknowledged it within the reminder window",
                    {{"incident_id", inc.id}, {"correlation_id", inc.correlation_id()}});
  }
  return Execute(txn, inc, commands, after);
}

absl::StatusOr<core::Incident> IncidentService::ApplyEvent(pg::Transaction& txn, int64_t incident_id,
                                                           const core::Event& event, AfterCommit& after) {
  absl::StatusOr<std::optional<std::string>> locked = Store::LockIncident(txn, incident_id);
  if (!locked.ok()) return locked.status();
  if (!locked->has_value()) return absl::NotFoundError(absl::StrCat("no incident ", incident_id));
  absl::StatusOr<core::Incident> inc = core::FromJson(**locked);
  if (!inc.ok()) return jobs::Permanent(inc.status());
  const core::Incident before = *inc;
  std::vector<core::Command> commands = core::Apply(*inc, event, Now());
  if (commands.empty()) return *inc;  // nothing applies: nothing to write
  if (absl::Status s = SaveAndExecute(txn, before, *inc, commands, after); !s.ok()) return s;
  return *inc;
}

absl::StatusOr<PanicResult> IncidentService::StartPanic(pg::Transaction& txn, int64_t traveler_user_id,
                                                        bool is_test, AfterCommit& after) {
  absl::StatusOr<std::optional<UserRow>> user = Store::UserById(txn, traveler_user_id);
  if (!user.ok()) return user.status();
  if (!user->has_value()) return absl::NotFoundError(absl::StrCat("no user ", traveler_user_id));
  absl::StatusOr<std::vector<core::Guardian>> guardians = Store::GuardiansOf(txn, traveler_user_id);
  if (!guardians.ok()) return guardians.status();
  if (guardians->empty()) return absl::FailedPreconditionError("the traveler has no guardian");
  absl::StatusOr<std::optional<int64_t>> inserted = Store::InsertIncident(txn, traveler_user_id, is_test);
  if (!inserted.ok()) return inserted.status();
  if (!inserted->has_value()) {
    absl::StatusOr<std::optional<int64_t>> active = Store::ActiveIncidentOf(txn, traveler_user_id);
    if (!active.ok()) return active.status();
    if (!active->has_value()) return absl::AbortedError("the active incident ended meanwhile; try again");
    return PanicResult{.incident_id = **active, .already_active = true};
  }
  const int64_t id = **inserted;
  core::Started started =
      core::Start(id, (*user)->person(), *std::move(guardians), config_.panic, is_test, Now());
  core::Incident before = started.incident;
  before.status = core::Status::kActive;
  if (absl::Status s = SaveAndExecute(txn, before, started.incident, started.commands, after); !s.ok())
    return s;
  ++after.started;
  kernel::LogInfo("incident started", {{"incident_id", id},
                                       {"traveler", traveler_user_id},
                                       {"guardians", static_cast<int64_t>(started.incident.guardians.size())},
                                       {"test", is_test},
                                       {"correlation_id", started.incident.correlation_id()}});
  return PanicResult{.incident_id = id};
}

// ---- Timers and the auditor ---------------------------------------------------------------------------------

void IncidentService::RegisterJobs(jobs::Worker& worker) {
  worker.Register(kTimerKind, [this](jobs::JobContext& context) { return RunTimer(context); },
                  {.retry = jobs::RetryPolicy::Exponential(absl::Milliseconds(200), absl::Seconds(10))});
}

absl::Status IncidentService::RunTimer(jobs::JobContext& context) {
  boost::system::error_code ec;
  json::value payload = json::parse(context.payload_json(), ec);
  const json::object* o = ec ? nullptr : payload.if_object();
  const json::value* id = o != nullptr ? o->if_contains("incident_id") : nullptr;
  const json::value* kind = o != nullptr ? o->if_contains("kind") : nullptr;
  const json::value* seq = o != nullptr ? o->if_contains("seq") : nullptr;
  std::optional<core::TimerKind> timer_kind;
  if (kind != nullptr && kind->is_string()) timer_kind = core::ParseTimerKind(std::string(kind->as_string()));
  if (id == nullptr || !id->is_int64() || !timer_kind || seq == nullptr || !seq->is_int64()) {
    return absl::InvalidArgumentError("incident.timer payload needs incident_id, kind and seq");
  }
  absl::StatusOr<pg::Transaction> txn = store_.pool().Begin();
  if (!txn.ok()) return txn.status();
  AfterCommit after;
  absl::StatusOr<core::Incident> applied =
      ApplyEvent(*txn, id->as_int64(),
                 core::TimerFired{.kind = *timer_kind, .seq = static_cast<int>(seq->as_int64())}, after);
  if (!applied.ok()) return applied.status();
  if (absl::Status s = context.CompleteIn(*txn); !s.ok()) return s;
  if (absl::Status s = txn->Commit(); !s.ok()) return s;
  Finish(after);
  return absl::OkStatus();
}

absl::StatusOr<int> IncidentService::AuditOnce() {
  absl::StatusOr<std::vector<int64_t>> orphans = store_.OrphanIncidents(config_.audit_grace);
  if (!orphans.ok()) return orphans.status();
  int repaired = 0;
  for (const int64_t id : *orphans) {
    absl::StatusOr<pg::Transaction> txn = store_.pool().Begin();
    if (!txn.ok()) return txn.status();
    AfterCommit after;
    // Under the incident's lock, check again: its last event may have committed since the scan.
    absl::StatusOr<std::optional<std::string>> locked = Store::LockIncident(*txn, id);
    if (!locked.ok()) return locked.status();
    absl::StatusOr<std::vector<int64_t>> still = Store::OrphanIncidents(*txn, config_.audit_grace);
    if (!still.ok()) return still.status();
    const bool orphan = std::find(still->begin(), still->end(), id) != still->end();
    if (!orphan) continue;
    absl::StatusOr<core::Incident> inc = ApplyEvent(*txn, id, core::Repair{}, after);
    if (!inc.ok()) return inc.status();
    if (!config_.panic.operator_chat_id.empty()) {
      core::SendMessage alert{.key = absl::StrCat("incident:", id, ":repaired:", inc->repairs),
                              .bot_id = config_.panic.operator_bot_id,
                              .chat_id = config_.panic.operator_chat_id,
                              .locale = "ru",
                              .template_id = "operator.incident_repaired",
                              .params = {{"incident_id", absl::StrCat(id)}},
                              .alert_priority = false};
      if (absl::Status s = Execute(*txn, *inc, {alert}, after); !s.ok()) return s;
    }
    if (absl::Status s = txn->Commit(); !s.ok()) return s;
    after.repaired = 1;
    Finish(after);
    ++repaired;
    kernel::LogError(
        "invariant auditor: an open incident had nothing pending; repaired",
        {{"incident_id", id}, {"correlation_id", inc->correlation_id()}, {"repairs", inc->repairs}});
  }
  return repaired;
}

// ---- Call and delivery outcomes ----------------------------------------------------------------------------

absl::Status IncidentService::OnCallOutcome(pg::Transaction& txn, const v1::OnCallOutcomeRequest& outcome,
                                            AfterCommit& after) {
  const std::string& key = outcome.attempt_key();
  if (std::optional<std::pair<int64_t, int>> attempt = core::ParseAttemptKey(key)) {
    core::CallEnded ended{
        .attempt_key = key,
        .outcome = core::ParseCallOutcome(outcome.outcome()).value_or(core::CallOutcome::kFailed),
        .digit = outcome.digit()};
    absl::StatusOr<core::Incident> applied = ApplyEvent(txn, attempt->first, ended, after);
    if (applied.status().code() == absl::StatusCode::kNotFound) {
      kernel::LogWarn("call outcome for an unknown incident; ignored", {{"attempt_key", key}});
      return absl::OkStatus();
    }
    return applied.status();
  }
  if (absl::StartsWith(key, "testcall:")) {
    const bool confirmed = outcome.outcome() == "digit_pressed";
    absl::StatusOr<std::optional<TestCallLink>> done = Store::FinishTestCall(txn, key, outcome.outcome());
    if (!done.ok()) return done.status();
    if (!done->has_value()) return absl::OkStatus();  // told already
    absl::StatusOr<std::optional<UserRow>> guardian = Store::UserById(txn, (*done)->guardian_user_id);
    if (!guardian.ok()) return guardian.status();
    const std::string name = guardian->has_value() ? (*guardian)->name : "";
    return MessageUser(txn, (*done)->traveler_user_id, key + ":outcome",
                       confirmed ? "guardians.test_call_confirmed" : "guardians.test_call_failed",
                       {{"guardian", name}}, after);
  }
  kernel::LogWarn("call outcome with an attempt key that is not ours; ignored", {{"attempt_key", key}});
  return absl::OkStatus();
}

absl::Status IncidentService::OnDeliveryOutcome(pg::Transaction& txn,
                                                const v1::OnDeliveryOutcomeRequest& outcome,
                                                AfterCommit& after) {
  std::optional<std::pair<int64_t, int64_t>> alert = core::ParseAlertKey(outcome.report_key());
  if (!alert) return absl::OkStatus();
  const int64_t id = alert->first;
  std::map<std::string, std::string> detail{{"guardian", absl::StrCat(alert->second)}};
  if (!outcome.delivered()) detail["reason"] = outcome.reason();
  const std::string what = outcome.delivered() ? "alert_delivered" : "alert_failed";
  absl::Status noted =
      Store::AddTimeline(txn, id, absl::StrCat("incident:", id),
                         {core::TimelineEntry{.actor = "system", .what = what, .detail = detail}});
  if (!noted.ok()) return pg::IsRowError(noted) ? absl::OkStatus() : noted;  // an incident we do not know
  if (!outcome.delivered()) return absl::OkStatus();
  absl::StatusOr<std::optional<absl::Duration>> first = Store::FirstAlert(txn, id);
  if (!first.ok()) return first.status();
  if (first->has_value()) after.first_alert_seconds.push_back(absl::ToDoubleSeconds(**first));
  return absl::OkStatus();
}

// ---- The conversation -----------------------------------------------------------------------------------

std::string IncidentService::BotUsername(const std::string& bot_id) {
  if (auto it = config_.bot_usernames.find(bot_id); it != config_.bot_usernames.end()) return it->second;
  return downstream_.bot_username ? downstream_.bot_username(bot_id) : "";
}

absl::Status IncidentService::OnChatEvent(pg::Transaction& txn, const common::v1::ChatEvent& event,
                                          AfterCommit& after) {
  if (event.chat_id().empty() || event.body_case() == common::v1::ChatEvent::BODY_NOT_SET) {
    return absl::OkStatus();  // a kind we do not act on (my_chat_member, ...): recorded, nothing to do
  }
  if (config_.staging && !config_.staging_allowed_chats.empty() &&
      !config_.staging_allowed_chats.contains(event.chat_id())) {
    kernel::LogInfo("staging: a chat not on STAGING_ALLOWED_CHATS; ignored", {{"bot_id", event.bot_id()}});
    return absl::OkStatus();
  }
  const std::string bot_id = event.bot_id().empty() ? "main" : event.bot_id();
  ChatTurn turn{.event = event};
  conversation::Context& ctx = turn.context;
  ctx.bot_id = bot_id;
  ctx.chat_id = event.chat_id();

  absl::StatusOr<std::string> state = Store::LockConversation(txn, bot_id, event.chat_id());
  if (!state.ok()) return state.status();
  absl::StatusOr<conversation::ChatState> chat = conversation::ChatStateFromJson(*state);
  ctx.state = chat.ok() ? *chat : conversation::ChatState{};

  const conversation::Input input = ToInput(event);
  int64_t telegram_id = 0;
  if (absl::SimpleAtoi(event.from().id(), &telegram_id)) {
    absl::StatusOr<std::optional<UserRow>> user = Store::UserByTelegramId(txn, telegram_id);
    if (!user.ok()) return user.status();
    if (user->has_value()) {
      const UserRow& u = **user;
      ctx.user =
          conversation::UserView{.id = u.id, .name = u.name, .phone_e164 = u.phone_e164, .locale = u.locale};
    }
  }
  if (ctx.user.id != 0) {
    absl::StatusOr<std::vector<core::Guardian>> guardians = Store::GuardiansOf(txn, ctx.user.id);
    if (!guardians.ok()) return guardians.status();
    for (const core::Guardian& g : *guardians) {
      ctx.guardians.push_back({.link_id = g.link_id,
                               .user_id = g.person.user_id,
                               .name = g.person.name,
                               .phone_e164 = g.person.phone_e164});
    }
    absl::StatusOr<std::optional<int64_t>> open = Store::OpenIncidentOf(txn, ctx.user.id);
    if (!open.ok()) return open.status();
    ctx.open_incident_id = open->value_or(0);
  }
  // The invite the event names (/start <token>), or the one waiting for this user's phone.
  std::string token = input.command == "start" ? input.command_args : "";
  if (token.empty()) token = ctx.state.pending_invite;
  if (conversation::IsInviteToken(token)) {
    absl::StatusOr<std::optional<InviteRow>> invite = Store::InviteByToken(txn, token);
    if (!invite.ok()) return invite.status();
    conversation::InviteView view{.token = token};
    if (invite->has_value()) {
      const InviteRow& row = **invite;
      view.traveler_user_id = row.traveler_user_id;
      view.traveler_name = row.traveler_name;
      using State = conversation::InviteView::State;
      view.state = row.expired ? State::kExpired : row.used ? State::kUsed : State::kValid;
      if (view.state == State::kValid && ctx.user.id != 0) {
        if (view.traveler_user_id == ctx.user.id) {
          view.state = State::kOwn;
        } else {
          absl::StatusOr<bool> is = Store::IsGuardian(txn, view.traveler_user_id, ctx.user.id);
          if (!is.ok()) return is.status();
          if (*is) view.state = State::kAlreadyGuardian;
        }
      }
    }
    ctx.invite = view;
  }
  ctx.bot_username = BotUsername(bot_id);
  absl::StatusOr<std::string> token_bytes = crypto::NewInviteToken();
  if (!token_bytes.ok()) return token_bytes.status();
  ctx.new_invite_token = *token_bytes;

  turn.decision = conversation::Decide(ctx, input, Now(), config_.spam);
  turn.locale = turn.decision.locale;
  if (!turn.decision.dropped) {
    if (absl::Status s = RunChatActions(txn, turn, after); !s.ok()) return s;
  }
  if (event.body_case() == common::v1::ChatEvent::kButton &&
      absl::StartsWith(event.button().data(), "menu:")) {
    // A menu button was handled as its command: stop its spinner.
    if (absl::Status s =
            EnqueueAnswer(txn, ButtonAnswer(bot_id, event.button().callback_id(), turn.locale), 0, after);
        !s.ok()) {
      return s;
    }
  }
  return Store::SaveConversation(txn, bot_id, event.chat_id(), conversation::ToJson(turn.decision.state));
}

absl::Status IncidentService::Reply(pg::Transaction& txn, ChatTurn& turn, const std::string& template_id,
                                    std::map<std::string, std::string> params, nv1::SendRequest r,
                                    AfterCommit& after) {
  core::SendMessage message{.key = absl::StrCat("chat:", turn.event.event_key(), ":", ++turn.replies),
                            .bot_id = turn.context.bot_id,
                            .chat_id = turn.context.chat_id,
                            .locale = turn.locale,
                            .template_id = template_id,
                            .params = std::move(params),
                            .alert_priority = false};
  return EnqueueMessage(txn, message, 0, std::move(r), after);
}

absl::Status IncidentService::MessageUser(pg::Transaction& txn, int64_t user_id, const std::string& key,
                                          const std::string& template_id,
                                          std::map<std::string, std::string> params, AfterCommit& after) {
  absl::StatusOr<std::optional<UserRow>> user = Store::UserById(txn, user_id);
  if (!user.ok()) return user.status();
  if (!user->has_value() || (*user)->chat_id.empty()) return absl::OkStatus();
  const UserRow& u = **user;
  core::SendMessage message{.key = key,
                            .bot_id = u.bot_id,
                            .chat_id = u.chat_id,
                            .locale = u.locale,
                            .template_id = template_id,
                            .params = std::move(params),
                            .alert_priority = false};
  return EnqueueMessage(txn, message, 0, nv1::SendRequest(), after);
}

absl::Status IncidentService::RunChatActions(pg::Transaction& txn, ChatTurn& turn, AfterCommit& after) {
  conversation::Context& ctx = turn.context;
  const std::string& event_key = turn.event.event_key();
  for (const conversation::Action& action : turn.decision.actions) {
    absl::Status s = std::visit(
        [&](const auto& a) -> absl::Status {
          using A = std::decay_t<decltype(a)>;
          if constexpr (std::is_same_v<A, conversation::Reply>) {
            nv1::SendRequest r;
            switch (a.keyboard) {
              case conversation::Keyboard::kMenu:
                AddRows(r, MenuRows(), turn.locale);
                break;
              case conversation::Keyboard::kSharePhone:
                r.mutable_contact_request()->set_button_template_id("registration.button_share_phone");
                break;
              case conversation::Keyboard::kRemove:
                r.set_remove_keyboard(true);
                break;
              case conversation::Keyboard::kNone:
                break;
            }
            if (!a.inline_keyboard.empty()) {
              r.clear_inline_keyboard();
              AddRows(r, a.inline_keyboard, turn.locale);
            }
            return Reply(txn, turn, a.template_id, a.params, std::move(r), after);
          } else if constexpr (std::is_same_v<A, conversation::AnswerButton>) {
            return EnqueueAnswer(
                txn, ButtonAnswer(ctx.bot_id, a.callback_id, turn.locale, a.template_id, a.params), 0, after);
          } else if constexpr (std::is_same_v<A, conversation::RegisterUser>) {
            absl::StatusOr<int64_t> id = Store::UpsertUser(txn, a.telegram_id, a.name, a.phone_e164, a.locale,
                                                           ctx.bot_id, ctx.chat_id);
            if (!id.ok()) return id.status();
            ctx.user.id = *id;
            ctx.user.name = a.name;
            ctx.user.phone_e164 = a.phone_e164;
            kernel::LogInfo("user registered",
                            {{"user_id", ctx.user.id}, {"phone", kernel::MaskPhone(a.phone_e164)}});
            return absl::OkStatus();
          } else if constexpr (std::is_same_v<A, conversation::CreateInvite>) {
            return Store::InsertInvite(txn, a.token, ctx.user.id, config_.invite_ttl);
          } else if constexpr (std::is_same_v<A, conversation::AcceptInvite>) {
            absl::StatusOr<std::optional<int64_t>> used = Store::UseInvite(txn, a.token, ctx.user.id);
            if (!used.ok()) return used.status();
            if (!used->has_value()) return absl::OkStatus();  // used or expired meanwhile
            absl::StatusOr<int64_t> link =
                Store::UpsertLink(txn, a.traveler_user_id, ctx.user.id, config_.link_defaults);
            if (!link.ok()) return link.status();
            return MessageUser(txn, a.traveler_user_id, absl::StrCat("chat:", event_key, ":invite_accepted"),
                               "invite.accepted_traveler", {{"guardian", ctx.user.name}}, after);
          } else if constexpr (std::is_same_v<A, conversation::StartPanic>) {
            if (!config_.feature_panic) {
              return Reply(txn, turn, "error.try_later", {}, nv1::SendRequest(), after);
            }
            absl::StatusOr<PanicResult> panic = StartPanic(txn, ctx.user.id, false, after);
            if (panic.status().code() == absl::StatusCode::kFailedPrecondition) {
              nv1::SendRequest r;
              AddRows(r, MenuRows(), turn.locale);
              return Reply(txn, turn, "panic.no_guardians", {}, std::move(r), after);
            }
            if (!panic.ok()) return panic.status();
            if (panic->already_active) {
              nv1::SendRequest r;
              nv1::Button* b = r.add_buttons();
              b->set_text(Render("panic.button_cancel", turn.locale));
              b->set_data(core::CancelData(panic->incident_id));
              return Reply(txn, turn, "panic.already_active", {}, std::move(r), after);
            }
            return absl::OkStatus();
          } else if constexpr (std::is_same_v<A, conversation::CancelPanic>) {
            core::CancelRequested cancel{
                .user_id = ctx.user.id, .bot_id = ctx.bot_id, .callback_id = a.callback_id};
            absl::StatusOr<core::Incident> r = ApplyEvent(txn, a.incident_id, cancel, after);
            if (r.status().code() == absl::StatusCode::kNotFound) return absl::OkStatus();
            return r.status();
          } else if constexpr (std::is_same_v<A, conversation::AckPanic>) {
            core::AckPressed ack{.user_id = ctx.user.id, .bot_id = ctx.bot_id, .callback_id = a.callback_id};
            absl::StatusOr<core::Incident> r = ApplyEvent(txn, a.incident_id, ack, after);
            if (r.status().code() != absl::StatusCode::kNotFound || a.callback_id.empty()) return r.status();
            // A button of an incident that does not exist.
            return EnqueueAnswer(
                txn, ButtonAnswer(ctx.bot_id, a.callback_id, turn.locale, "error.button_expired"), 0, after);
          } else if constexpr (std::is_same_v<A, conversation::MoveGuardian>) {
            std::vector<conversation::GuardianView>& g = ctx.guardians;
            for (size_t i = 0; i < g.size(); ++i) {
              if (g[i].link_id != a.link_id) continue;
              const int64_t j = static_cast<int64_t>(i) + a.delta;
              if (j < 0 || j >= static_cast<int64_t>(g.size())) break;
              std::swap(g[i], g[static_cast<size_t>(j)]);
              break;
            }
            for (size_t i = 0; i < g.size(); ++i) {
              if (absl::Status st = Store::SetLinkPriority(txn, g[i].link_id, static_cast<int>(i)); !st.ok())
                return st;
            }
            return absl::OkStatus();
          } else if constexpr (std::is_same_v<A, conversation::RemoveGuardian>) {
            absl::StatusOr<std::optional<int64_t>> removed = Store::RemoveLink(txn, a.link_id, ctx.user.id);
            if (!removed.ok()) return removed.status();
            if (!removed->has_value()) return absl::OkStatus();
            return MessageUser(txn, **removed, absl::StrCat("chat:", event_key, ":removed"),
                               "guardians.removed_notice", {{"name", ctx.user.name}}, after);
          } else {  // TestCall
            const conversation::GuardianView* guardian = nullptr;
            for (const auto& g : ctx.guardians) {
              if (g.link_id == a.link_id) guardian = &g;
            }
            if (guardian == nullptr || guardian->phone_e164.empty()) return absl::OkStatus();
            const std::string attempt = absl::StrCat("testcall:", a.link_id, ":", event_key);
            if (absl::Status st = Store::InsertTestCall(txn, attempt, a.link_id); !st.ok()) return st;
            tv1::PlaceCallRequest r;
            r.set_attempt_key(attempt);
            r.set_to_e164(guardian->phone_e164);
            r.set_speak_text(Render("call.test_tts", turn.locale, {{"name", ctx.user.name}}));
            r.set_language(
                std::string(notification::SpeechLanguage(notification::LocaleOrDefault(turn.locale))));
            r.set_ring_timeout_sec(config_.test_call_ring_sec);
            r.set_correlation_id(attempt);
            r.mutable_report_to()->set_service("incident");
            r.mutable_report_to()->set_key(attempt);
            r.set_requested_by("incident:test_call");
            return Enqueue(txn, kPlaceCallChannel, attempt, r, 0, kPriorityRoutine, after);
          }
        },
        action);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// ---- Admin ------------------------------------------------------------------------------------------------

absl::StatusOr<std::vector<v1::Incident>> IncidentService::ListIncidents(
    const v1::ListIncidentsRequest& request) {
  return store_.ListIncidents(request.status(), request.traveler_user_id(),
                              request.limit() <= 0 ? 100 : std::min(request.limit(), 1000));
}

absl::StatusOr<v1::Incident> IncidentService::GetIncident(int64_t id) {
  absl::StatusOr<std::optional<v1::Incident>> incident = store_.GetIncident(id);
  if (!incident.ok()) return incident.status();
  if (!incident->has_value()) return absl::NotFoundError(absl::StrCat("no incident ", id));
  return **std::move(incident);
}

absl::StatusOr<v1::Incident> IncidentService::CancelIncident(int64_t id, const std::string& reason) {
  absl::StatusOr<pg::Transaction> txn = store_.pool().Begin();
  if (!txn.ok()) return txn.status();
  AfterCommit after;
  absl::StatusOr<std::optional<std::string>> locked = Store::LockIncident(*txn, id);
  if (!locked.ok()) return locked.status();
  if (!locked->has_value()) return absl::NotFoundError(absl::StrCat("no incident ", id));
  absl::StatusOr<core::Incident> current = core::FromJson(**locked);
  if (!current.ok()) return current.status();
  if (!core::IsOpen(current->status)) {
    return absl::FailedPreconditionError(
        absl::StrCat("incident ", id, " is ", std::string(core::StatusName(current->status))));
  }
  absl::StatusOr<core::Incident> inc =
      ApplyEvent(*txn, id, core::CancelRequested{.by_operator = true, .reason = reason}, after);
  if (!inc.ok()) return inc.status();
  if (absl::Status s = txn->Commit(); !s.ok()) return s;
  Finish(after);
  return GetIncident(id);
}

absl::StatusOr<PanicResult> IncidentService::TriggerTestPanic(const v1::TriggerTestPanicRequest& request) {
  if ((request.traveler_user_id() != 0) == (request.telegram_id() != 0)) {
    return absl::InvalidArgumentError("give exactly one of traveler_user_id and telegram_id");
  }
  int64_t user_id = request.traveler_user_id();
  if (user_id == 0) {
    absl::StatusOr<std::optional<int64_t>> found = store_.UserIdByTelegramId(request.telegram_id());
    if (!found.ok()) return found.status();
    if (!found->has_value()) {
      return absl::NotFoundError(absl::StrCat("no user with telegram id ", request.telegram_id()));
    }
    user_id = **found;
  }
  absl::StatusOr<pg::Transaction> txn = store_.pool().Begin();
  if (!txn.ok()) return txn.status();
  AfterCommit after;
  absl::StatusOr<PanicResult> result = StartPanic(*txn, user_id, true, after);
  if (!result.ok()) return result.status();
  if (absl::Status s = txn->Commit(); !s.ok()) return s;
  Finish(after);
  return result;
}

absl::StatusOr<std::vector<v1::User>> IncidentService::ListUsers(int limit) {
  return store_.ListUsers(limit <= 0 ? 100 : std::min(limit, 1000));
}

absl::StatusOr<std::vector<v1::Link>> IncidentService::ListLinks(int64_t traveler_user_id) {
  return store_.ListLinks(traveler_user_id);
}

absl::StatusOr<v1::Link> IncidentService::SetLinkPolicy(const v1::SetLinkPolicyRequest& r) {
  auto out_of_range = [](std::string_view field, int64_t lo, int64_t hi) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(field), " must be within ", lo, "..", hi));
  };
  if (r.has_ring_timeout_sec() && (r.ring_timeout_sec() < 5 || r.ring_timeout_sec() > 120)) {
    return out_of_range("ring_timeout_sec", 5, 120);
  }
  if (r.has_max_retries() && (r.max_retries() < 0 || r.max_retries() > 10)) {
    return out_of_range("max_retries", 0, 10);
  }
  if (r.has_retry_backoff_sec() && (r.retry_backoff_sec() < 0 || r.retry_backoff_sec() > 3600)) {
    return out_of_range("retry_backoff_sec", 0, 3600);
  }
  absl::StatusOr<std::optional<v1::Link>> link = store_.SetLinkPolicy(r);
  if (!link.ok()) return link.status();
  if (!link->has_value()) return absl::NotFoundError(absl::StrCat("no link ", r.link_id()));
  return **std::move(link);
}

}  // namespace protectogram::incident
