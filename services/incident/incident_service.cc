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
#include "services/incident/queries.h"
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

std::string DetailJson(const std::map<std::string, std::string>& detail) {
  json::object o;
  for (const auto& [k, v] : detail) o[k] = v;
  return json::serialize(o);
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

conversation::UserView ToUserView(const pg::Row& row) {
  return conversation::UserView{.id = row.Get<int64_t>("id"),
                                .name = row.Get<std::string>("display_name"),
                                .phone_e164 = row.Get<std::string>("phone"),
                                .locale = row.Get<std::string>("locale")};
}

core::Person ToPerson(const pg::Row& row) {
  return core::Person{.user_id = row.Get<int64_t>("id"),
                      .name = row.Get<std::string>("display_name"),
                      .phone_e164 = row.Get<std::string>("phone"),
                      .bot_id = row.Get<std::string>("bot_id"),
                      .chat_id = row.Get<std::string>("chat_id"),
                      .locale = row.Get<std::string>("locale")};
}

core::Guardian ToGuardian(const pg::Row& row) {
  return core::Guardian{
      .person = core::Person{.user_id = row.Get<int64_t>("watcher_user_id"),
                             .name = row.Get<std::string>("display_name"),
                             .phone_e164 = row.Get<std::string>("phone"),
                             .bot_id = row.Get<std::string>("bot_id"),
                             .chat_id = row.Get<std::string>("chat_id"),
                             .locale = row.Get<std::string>("locale")},
      .link_id = row.Get<int64_t>("link_id"),
      .call_priority = row.Get<int32_t>("call_priority"),
      .telegram_enabled = row.Get<bool>("telegram_enabled"),
      .calls_enabled = row.Get<bool>("calls_enabled"),
      .policy = core::Policy{.ring_timeout = absl::Seconds(row.Get<int32_t>("ring_timeout_sec")),
                             .max_retries = row.Get<int32_t>("max_retries"),
                             .retry_backoff = absl::Seconds(row.Get<int32_t>("retry_backoff_sec"))}};
}

v1::Link ToLink(const pg::Row& row) {
  v1::Link l;
  l.set_id(row.Get<int64_t>("id"));
  l.set_traveler_user_id(row.Get<int64_t>("traveler_user_id"));
  l.set_watcher_user_id(row.Get<int64_t>("watcher_user_id"));
  l.set_watcher_name(row.Get<std::string>("watcher_name"));
  l.set_status(row.Get<std::string>("status"));
  l.set_call_priority(row.Get<int32_t>("call_priority"));
  l.set_ring_timeout_sec(row.Get<int32_t>("ring_timeout_sec"));
  l.set_max_retries(row.Get<int32_t>("max_retries"));
  l.set_retry_backoff_sec(row.Get<int32_t>("retry_backoff_sec"));
  l.set_telegram_enabled(row.Get<bool>("telegram_enabled"));
  l.set_calls_enabled(row.Get<bool>("calls_enabled"));
  return l;
}

void SetTime(google::protobuf::Timestamp* ts, int64_t us) {
  ts->set_seconds(us / 1000000);
  ts->set_nanos(static_cast<int32_t>((us % 1000000) * 1000));
}

v1::IncidentStatus ToProtoStatus(std::string_view status) {
  if (status == "active") return v1::INCIDENT_STATUS_ACTIVE;
  if (status == "acknowledged") return v1::INCIDENT_STATUS_ACKNOWLEDGED;
  if (status == "canceled") return v1::INCIDENT_STATUS_CANCELED;
  if (status == "escalated") return v1::INCIDENT_STATUS_ESCALATED;
  return v1::INCIDENT_STATUS_UNSPECIFIED;
}

v1::Incident ToIncident(const pg::Row& row, bool with_state) {
  v1::Incident i;
  i.set_id(row.Get<int64_t>("id"));
  i.set_traveler_user_id(row.Get<int64_t>("traveler_user_id"));
  i.set_traveler_name(row.Get<std::string>("traveler_name"));
  i.set_status(ToProtoStatus(row.Get<std::string>("status")));
  i.set_is_test(row.Get<bool>("is_test"));
  SetTime(i.mutable_created_at(), row.Get<int64_t>("created_us"));
  if (std::optional<int64_t> ended = row.GetOptional<int64_t>("ended_us"))
    SetTime(i.mutable_ended_at(), *ended);
  i.set_acknowledged_by_user_id(row.Get<int64_t>("acknowledged_by"));
  i.set_acknowledged_by_name(row.Get<std::string>("ack_name"));
  i.set_total_ring_sec(row.Get<int32_t>("total_ring_sec"));
  i.set_correlation_id(row.Get<std::string>("correlation_id"));
  const std::string state = row.Get<std::string>("state");
  if (absl::StatusOr<core::Incident> inc = core::FromJson(state); inc.ok()) {
    i.set_round(inc->round);
    i.set_calls_placed(static_cast<int32_t>(inc->calls.size()));
  }
  if (with_state) i.set_state_json(state);
  return i;
}

std::optional<int64_t> AlertIncident(std::string_view report_key) {
  // "incident:<id>:alert:<guardian>"
  std::vector<std::string> parts = absl::StrSplit(std::string(report_key), ':');
  int64_t id = 0;
  if (parts.size() != 4 || parts[0] != "incident" || parts[2] != "alert" ||
      !absl::SimpleAtoi(parts[1], &id)) {
    return std::nullopt;
  }
  return id;
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

IncidentService::IncidentService(pg::Pool& pool, jobs::JobStore& jobs, jobs::Outbox& outbox,
                                 Downstream downstream, const IncidentConfig& config,
                                 kernel::MetricsRegistry& metrics, jobs::Clock& clock)
    : pool_(pool),
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

absl::Status IncidentService::Execute(pg::Transaction& txn, const core::Incident& incident,
                                      const std::vector<core::Command>& commands, AfterCommit& after) {
  const int64_t id = incident.id;
  std::vector<std::string> actors, whats, details;
  for (const core::Command& command : commands) {
    absl::Status s = std::visit(
        [&](const auto& c) -> absl::Status {
          using C = std::decay_t<decltype(c)>;
          if constexpr (std::is_same_v<C, core::SendMessage>) {
            nv1::SendRequest r;
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
            r.set_incident_id(id);
            return Enqueue(txn, kSendChannel, c.key, r, id,
                           c.alert_priority ? kPriorityAlert : kPriorityRoutine, after);
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
            nv1::AnswerCallbackRequest r;
            r.set_idempotency_key(c.key);
            r.set_bot_id(c.bot_id);
            r.set_callback_query_id(c.callback_id);
            r.set_template_id(c.template_id);
            if (!c.template_id.empty()) r.set_locale(c.locale);
            for (const auto& [k, v] : c.params) (*r.mutable_params())[k] = v;
            return Enqueue(txn, kAnswerChannel, c.key, r, id, kPriorityAlert, after);
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
            return txn.Execute(queries::kDropPendingCalls, {id}).status();
          } else {
            actors.push_back(c.actor);
            whats.push_back(c.what);
            details.push_back(DetailJson(c.detail));
            return absl::OkStatus();
          }
        },
        command);
    if (!s.ok()) return s;
  }
  if (!actors.empty()) {
    absl::StatusOr<pg::Result> r =
        txn.Execute(queries::kInsertTimeline, {id, incident.correlation_id(), actors, whats, details});
    if (!r.ok()) return r.status();
  }
  return absl::OkStatus();
}

absl::Status IncidentService::SaveAndExecute(pg::Transaction& txn, const core::Incident& before,
                                             const core::Incident& inc,
                                             const std::vector<core::Command>& commands, AfterCommit& after) {
  absl::StatusOr<pg::Result> saved =
      txn.Execute(queries::kSaveIncident,
                  {inc.id, core::ToJson(inc), std::string(core::StatusName(inc.status)), inc.correlation_id(),
                   inc.acknowledged_by, absl::ToInt64Seconds(inc.ring_used)});
  if (!saved.ok()) return saved.status();
  if (saved->empty()) return absl::NotFoundError(absl::StrCat("no incident ", inc.id));
  const bool was_open = core::IsOpen(before.status);
  if (was_open && inc.status == core::Status::kAcknowledged) {
    ++after.acknowledged;
    after.ack_seconds.push_back(static_cast<double>(saved->front().Get<int64_t>("age_us")) / 1e6);
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
  absl::StatusOr<pg::Result> locked = txn.Execute(queries::kLockIncident, {incident_id});
  if (!locked.ok()) return locked.status();
  if (locked->empty()) return absl::NotFoundError(absl::StrCat("no incident ", incident_id));
  absl::StatusOr<core::Incident> inc = core::FromJson(locked->front().Get<std::string>("state"));
  if (!inc.ok()) return jobs::Permanent(inc.status());
  const core::Incident before = *inc;
  std::vector<core::Command> commands = core::Apply(*inc, event, Now());
  if (commands.empty()) return *inc;  // nothing applies: nothing to write
  if (absl::Status s = SaveAndExecute(txn, before, *inc, commands, after); !s.ok()) return s;
  return *inc;
}

absl::StatusOr<PanicResult> IncidentService::StartPanic(pg::Transaction& txn, int64_t traveler_user_id,
                                                        bool is_test, AfterCommit& after) {
  absl::StatusOr<pg::Result> user = txn.Execute(queries::kUserById, {traveler_user_id});
  if (!user.ok()) return user.status();
  if (user->empty()) return absl::NotFoundError(absl::StrCat("no user ", traveler_user_id));
  absl::StatusOr<pg::Result> rows = txn.Execute(queries::kGuardiansOf, {traveler_user_id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return absl::FailedPreconditionError("the traveler has no guardian");
  absl::StatusOr<pg::Result> inserted = txn.Execute(queries::kInsertIncident, {traveler_user_id, is_test});
  if (!inserted.ok()) return inserted.status();
  if (inserted->empty()) {
    absl::StatusOr<pg::Result> active = txn.Execute(queries::kActiveIncidentOf, {traveler_user_id});
    if (!active.ok()) return active.status();
    if (active->empty()) return absl::AbortedError("the active incident ended meanwhile; try again");
    return PanicResult{.incident_id = active->front().Get<int64_t>("id"), .already_active = true};
  }
  const int64_t id = inserted->front().Get<int64_t>("id");
  std::vector<core::Guardian> guardians;
  for (const pg::Row& row : *rows) guardians.push_back(ToGuardian(row));
  core::Started started =
      core::Start(id, ToPerson(user->front()), std::move(guardians), config_.panic, is_test, Now());
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
  absl::StatusOr<pg::Transaction> txn = pool_.Begin();
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
  absl::StatusOr<pg::Result> orphans =
      pool_.Execute(queries::kOrphanIncidents, {absl::ToInt64Microseconds(config_.audit_grace)});
  if (!orphans.ok()) return orphans.status();
  int repaired = 0;
  for (const pg::Row& row : *orphans) {
    const int64_t id = row.Get<int64_t>("id");
    absl::StatusOr<pg::Transaction> txn = pool_.Begin();
    if (!txn.ok()) return txn.status();
    AfterCommit after;
    // Under the incident's lock, check again: its last event may have committed since the scan.
    absl::StatusOr<pg::Result> locked = txn->Execute(queries::kLockIncident, {id});
    if (!locked.ok()) return locked.status();
    absl::StatusOr<pg::Result> still =
        txn->Execute(queries::kOrphanIncidents, {absl::ToInt64Microseconds(config_.audit_grace)});
    if (!still.ok()) return still.status();
    bool orphan = false;
    for (const pg::Row& r : *still) orphan |= r.Get<int64_t>("id") == id;
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
    absl::StatusOr<pg::Result> done = txn.Execute(queries::kFinishTestCall, {key, outcome.outcome()});
    if (!done.ok()) return done.status();
    if (done->empty()) return absl::OkStatus();  // told already
    const int64_t guardian = done->front().Get<int64_t>("watcher_user_id");
    absl::StatusOr<pg::Result> g = txn.Execute(queries::kUserById, {guardian});
    if (!g.ok()) return g.status();
    const std::string name = g->empty() ? "" : g->front().Get<std::string>("display_name");
    return MessageUser(txn, done->front().Get<int64_t>("traveler_user_id"), key + ":outcome",
                       confirmed ? "guardians.test_call_confirmed" : "guardians.test_call_failed",
                       {{"guardian", name}}, after);
  }
  kernel::LogWarn("call outcome with an attempt key that is not ours; ignored", {{"attempt_key", key}});
  return absl::OkStatus();
}

absl::Status IncidentService::OnDeliveryOutcome(pg::Transaction& txn,
                                                const v1::OnDeliveryOutcomeRequest& outcome,
                                                AfterCommit& after) {
  std::optional<int64_t> id = AlertIncident(outcome.report_key());
  if (!id) return absl::OkStatus();
  const std::string guardian = outcome.report_key().substr(outcome.report_key().rfind(':') + 1);
  std::map<std::string, std::string> detail{{"guardian", guardian}};
  if (!outcome.delivered()) detail["reason"] = outcome.reason();
  absl::StatusOr<pg::Result> r =
      txn.Execute(queries::kInsertTimeline,
                  {*id, absl::StrCat("incident:", *id), std::vector<std::string>{"system"},
                   std::vector<std::string>{outcome.delivered() ? "alert_delivered" : "alert_failed"},
                   std::vector<std::string>{DetailJson(detail)}});
  if (!r.ok())
    return pg::IsRowError(r.status()) ? absl::OkStatus() : r.status();  // an incident we do not know
  if (!outcome.delivered()) return absl::OkStatus();
  absl::StatusOr<pg::Result> first = txn.Execute(queries::kFirstAlert, {*id});
  if (!first.ok()) return first.status();
  if (!first->empty()) {
    after.first_alert_seconds.push_back(static_cast<double>(first->front().Get<int64_t>("age_us")) / 1e6);
  }
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

  absl::StatusOr<pg::Result> state = txn.Execute(queries::kLockConversation, {bot_id, event.chat_id()});
  if (!state.ok()) return state.status();
  absl::StatusOr<conversation::ChatState> chat =
      conversation::ChatStateFromJson(state->front().Get<std::string>("state"));
  ctx.state = chat.ok() ? *chat : conversation::ChatState{};

  const conversation::Input input = ToInput(event);
  int64_t telegram_id = 0;
  if (absl::SimpleAtoi(event.from().id(), &telegram_id)) {
    absl::StatusOr<pg::Result> user = txn.Execute(queries::kUserByTelegramId, {telegram_id});
    if (!user.ok()) return user.status();
    if (!user->empty()) ctx.user = ToUserView(user->front());
  }
  if (ctx.user.id != 0) {
    absl::StatusOr<pg::Result> rows = txn.Execute(queries::kGuardiansOf, {ctx.user.id});
    if (!rows.ok()) return rows.status();
    for (const pg::Row& row : *rows) {
      ctx.guardians.push_back({.link_id = row.Get<int64_t>("link_id"),
                               .user_id = row.Get<int64_t>("watcher_user_id"),
                               .name = row.Get<std::string>("display_name"),
                               .phone_e164 = row.Get<std::string>("phone")});
    }
    absl::StatusOr<pg::Result> open = txn.Execute(queries::kOpenIncidentOf, {ctx.user.id});
    if (!open.ok()) return open.status();
    if (!open->empty()) ctx.open_incident_id = open->front().Get<int64_t>("id");
  }
  // The invite the event names (/start <token>), or the one waiting for this user's phone.
  std::string token = input.command == "start" ? input.command_args : "";
  if (token.empty()) token = ctx.state.pending_invite;
  if (conversation::IsInviteToken(token)) {
    absl::StatusOr<pg::Result> invite = txn.Execute(queries::kInviteByToken, {token});
    if (!invite.ok()) return invite.status();
    conversation::InviteView view{.token = token};
    if (!invite->empty()) {
      const pg::Row& row = invite->front();
      view.traveler_user_id = row.Get<int64_t>("traveler_user_id");
      view.traveler_name = row.Get<std::string>("traveler_name");
      using State = conversation::InviteView::State;
      view.state = row.Get<bool>("expired") ? State::kExpired
                   : row.Get<bool>("used")  ? State::kUsed
                                            : State::kValid;
      if (view.state == State::kValid && ctx.user.id != 0) {
        if (view.traveler_user_id == ctx.user.id) {
          view.state = State::kOwn;
        } else {
          absl::StatusOr<pg::Result> is =
              txn.Execute(queries::kIsGuardian, {view.traveler_user_id, ctx.user.id});
          if (!is.ok()) return is.status();
          if (is->front().Get<bool>("yes")) view.state = State::kAlreadyGuardian;
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
  absl::StatusOr<pg::Result> saved = txn.Execute(
      queries::kSaveConversation, {bot_id, event.chat_id(), conversation::ToJson(turn.decision.state)});
  return saved.status();
}

absl::Status IncidentService::Reply(pg::Transaction& txn, ChatTurn& turn, const std::string& template_id,
                                    std::map<std::string, std::string> params, nv1::SendRequest r,
                                    AfterCommit& after) {
  const std::string key = absl::StrCat("chat:", turn.event.event_key(), ":", ++turn.replies);
  r.set_idempotency_key(key);
  r.set_channel(nv1::CHANNEL_TELEGRAM);
  r.set_bot_id(turn.context.bot_id);
  r.set_chat_id(turn.context.chat_id);
  r.set_template_id(template_id);
  r.set_locale(turn.locale);
  for (auto& [k, v] : params) (*r.mutable_params())[k] = std::move(v);
  return Enqueue(txn, kSendChannel, key, r, 0, kPriorityRoutine, after);
}

absl::Status IncidentService::MessageUser(pg::Transaction& txn, int64_t user_id, const std::string& key,
                                          const std::string& template_id,
                                          std::map<std::string, std::string> params, AfterCommit& after) {
  absl::StatusOr<pg::Result> user = txn.Execute(queries::kUserById, {user_id});
  if (!user.ok()) return user.status();
  if (user->empty() || user->front().Get<std::string>("chat_id").empty()) return absl::OkStatus();
  const pg::Row& row = user->front();
  nv1::SendRequest r;
  r.set_idempotency_key(key);
  r.set_channel(nv1::CHANNEL_TELEGRAM);
  r.set_bot_id(row.Get<std::string>("bot_id"));
  r.set_chat_id(row.Get<std::string>("chat_id"));
  r.set_template_id(template_id);
  r.set_locale(row.Get<std::string>("locale"));
  for (auto& [k, v] : params) (*r.mutable_params())[k] = std::move(v);
  return Enqueue(txn, kSendChannel, key, r, 0, kPriorityRoutine, after);
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
            nv1::AnswerCallbackRequest r;
            r.set_idempotency_key("callback:" + a.callback_id);
            r.set_bot_id(ctx.bot_id);
            r.set_callback_query_id(a.callback_id);
            r.set_template_id(a.template_id);
            if (!a.template_id.empty()) r.set_locale(turn.locale);
            for (const auto& [k, v] : a.params) (*r.mutable_params())[k] = v;
            return Enqueue(txn, kAnswerChannel, r.idempotency_key(), r, 0, kPriorityAlert, after);
          } else if constexpr (std::is_same_v<A, conversation::RegisterUser>) {
            absl::StatusOr<pg::Result> r =
                txn.Execute(queries::kUpsertUser,
                            {a.telegram_id, a.name, a.phone_e164, a.locale, ctx.bot_id, ctx.chat_id});
            if (!r.ok()) return r.status();
            ctx.user.id = r->front().Get<int64_t>("id");
            ctx.user.name = a.name;
            ctx.user.phone_e164 = a.phone_e164;
            kernel::LogInfo("user registered",
                            {{"user_id", ctx.user.id}, {"phone", kernel::MaskPhone(a.phone_e164)}});
            return absl::OkStatus();
          } else if constexpr (std::is_same_v<A, conversation::CreateInvite>) {
            return txn
                .Execute(queries::kInsertInvite,
                         {a.token, ctx.user.id, absl::ToInt64Seconds(config_.invite_ttl)})
                .status();
          } else if constexpr (std::is_same_v<A, conversation::AcceptInvite>) {
            absl::StatusOr<pg::Result> used = txn.Execute(queries::kUseInvite, {a.token, ctx.user.id});
            if (!used.ok()) return used.status();
            if (used->empty())
              return absl::OkStatus();  // used or expired since it was read (same transaction: no)
            const core::Policy& p = config_.link_defaults;
            absl::StatusOr<pg::Result> link = txn.Execute(
                queries::kUpsertLink, {a.traveler_user_id, ctx.user.id, absl::ToInt64Seconds(p.ring_timeout),
                                       p.max_retries, absl::ToInt64Seconds(p.retry_backoff)});
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
            nv1::AnswerCallbackRequest answer;  // a button of an incident that does not exist
            answer.set_idempotency_key("callback:" + a.callback_id);
            answer.set_bot_id(ctx.bot_id);
            answer.set_callback_query_id(a.callback_id);
            answer.set_template_id("error.button_expired");
            answer.set_locale(turn.locale);
            return Enqueue(txn, kAnswerChannel, answer.idempotency_key(), answer, 0, kPriorityAlert, after);
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
              if (absl::Status st =
                      txn.Execute(queries::kSetLinkPriority, {g[i].link_id, static_cast<int64_t>(i)})
                          .status();
                  !st.ok()) {
                return st;
              }
            }
            return absl::OkStatus();
          } else if constexpr (std::is_same_v<A, conversation::RemoveGuardian>) {
            absl::StatusOr<pg::Result> removed = txn.Execute(queries::kRemoveLink, {a.link_id, ctx.user.id});
            if (!removed.ok()) return removed.status();
            if (removed->empty()) return absl::OkStatus();
            return MessageUser(txn, removed->front().Get<int64_t>("watcher_user_id"),
                               absl::StrCat("chat:", event_key, ":removed"), "guardians.removed_notice",
                               {{"name", ctx.user.name}}, after);
          } else {  // TestCall
            const conversation::GuardianView* guardian = nullptr;
            for (const auto& g : ctx.guardians) {
              if (g.link_id == a.link_id) guardian = &g;
            }
            if (guardian == nullptr || guardian->phone_e164.empty()) return absl::OkStatus();
            const std::string attempt = absl::StrCat("testcall:", a.link_id, ":", event_key);
            if (absl::Status st = txn.Execute(queries::kInsertTestCall, {attempt, a.link_id}).status();
                !st.ok()) {
              return st;
            }
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
  std::string status;
  if (request.status() != v1::INCIDENT_STATUS_UNSPECIFIED) {
    status = absl::AsciiStrToLower(v1::IncidentStatus_Name(request.status()).substr(16));
  }
  const int limit = request.limit() <= 0 ? 100 : std::min(request.limit(), 1000);
  absl::StatusOr<pg::Result> rows =
      pool_.Execute(queries::kListIncidents, {status, request.traveler_user_id(), limit});
  if (!rows.ok()) return rows.status();
  std::vector<v1::Incident> out;
  for (const pg::Row& row : *rows) out.push_back(ToIncident(row, false));
  return out;
}

absl::StatusOr<v1::Incident> IncidentService::GetIncident(int64_t id) {
  absl::StatusOr<pg::Result> rows = pool_.Execute(queries::kGetIncident, {id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return absl::NotFoundError(absl::StrCat("no incident ", id));
  v1::Incident incident = ToIncident(rows->front(), true);
  absl::StatusOr<pg::Result> timeline = pool_.Execute(queries::kTimeline, {id});
  if (!timeline.ok()) return timeline.status();
  for (const pg::Row& row : *timeline) {
    v1::TimelineEntry* e = incident.add_timeline();
    SetTime(e->mutable_at(), row.Get<int64_t>("at_us"));
    e->set_actor(row.Get<std::string>("actor"));
    e->set_what(row.Get<std::string>("what"));
    e->set_detail_json(row.Get<std::string>("detail"));
    e->set_correlation_id(row.Get<std::string>("correlation_id"));
  }
  return incident;
}

absl::StatusOr<v1::Incident> IncidentService::CancelIncident(int64_t id, const std::string& reason) {
  absl::StatusOr<pg::Transaction> txn = pool_.Begin();
  if (!txn.ok()) return txn.status();
  AfterCommit after;
  absl::StatusOr<pg::Result> locked = txn->Execute(queries::kLockIncident, {id});
  if (!locked.ok()) return locked.status();
  if (locked->empty()) return absl::NotFoundError(absl::StrCat("no incident ", id));
  absl::StatusOr<core::Incident> current = core::FromJson(locked->front().Get<std::string>("state"));
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
    absl::StatusOr<pg::Result> user = pool_.Execute(queries::kUserByTelegramId, {request.telegram_id()});
    if (!user.ok()) return user.status();
    if (user->empty())
      return absl::NotFoundError(absl::StrCat("no user with telegram id ", request.telegram_id()));
    user_id = user->front().Get<int64_t>("id");
  }
  absl::StatusOr<pg::Transaction> txn = pool_.Begin();
  if (!txn.ok()) return txn.status();
  AfterCommit after;
  absl::StatusOr<PanicResult> result = StartPanic(*txn, user_id, true, after);
  if (!result.ok()) return result.status();
  if (absl::Status s = txn->Commit(); !s.ok()) return s;
  Finish(after);
  return result;
}

absl::StatusOr<std::vector<v1::User>> IncidentService::ListUsers(int limit) {
  absl::StatusOr<pg::Result> rows =
      pool_.Execute(queries::kListUsers, {limit <= 0 ? 100 : std::min(limit, 1000)});
  if (!rows.ok()) return rows.status();
  std::vector<v1::User> out;
  for (const pg::Row& row : *rows) {
    v1::User u;
    u.set_id(row.Get<int64_t>("id"));
    u.set_telegram_id(row.GetOptional<int64_t>("telegram_id").value_or(0));
    u.set_display_name(row.Get<std::string>("display_name"));
    u.set_phone_masked(kernel::MaskPhone(row.Get<std::string>("phone")));
    u.set_locale(row.Get<std::string>("locale"));
    SetTime(u.mutable_created_at(), row.Get<int64_t>("created_us"));
    u.set_registered(row.Get<bool>("registered"));
    out.push_back(std::move(u));
  }
  return out;
}

absl::StatusOr<std::vector<v1::Link>> IncidentService::ListLinks(int64_t traveler_user_id) {
  absl::StatusOr<pg::Result> rows = pool_.Execute(queries::kListLinks, {traveler_user_id});
  if (!rows.ok()) return rows.status();
  std::vector<v1::Link> out;
  for (const pg::Row& row : *rows) out.push_back(ToLink(row));
  return out;
}

absl::StatusOr<v1::Link> IncidentService::SetLinkPolicy(const v1::SetLinkPolicyRequest& r) {
  auto out_of_range = [](std::string_view field, int64_t lo, int64_t hi) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(field), " must be within ", lo, "..", hi));
  };
  if (r.has_ring_timeout_sec() && (r.ring_timeout_sec() < 5 || r.ring_timeout_sec() > 120)) {
    return out_of_range("ring_timeout_sec", 5, 120);
  }
  if (r.has_max_retries() && (r.max_retries() < 0 || r.max_retries() > 10))
    return out_of_range("max_retries", 0, 10);
  if (r.has_retry_backoff_sec() && (r.retry_backoff_sec() < 0 || r.retry_backoff_sec() > 3600)) {
    return out_of_range("retry_backoff_sec", 0, 3600);
  }
  auto opt_int = [](bool has, int32_t v) { return has ? std::optional<int64_t>(v) : std::nullopt; };
  auto opt_bool = [](bool has, bool v) { return has ? std::optional<bool>(v) : std::nullopt; };
  absl::StatusOr<pg::Result> rows = pool_.Execute(
      queries::kSetLinkPolicy, {r.link_id(), opt_int(r.has_ring_timeout_sec(), r.ring_timeout_sec()),
                                opt_int(r.has_max_retries(), r.max_retries()),
                                opt_int(r.has_retry_backoff_sec(), r.retry_backoff_sec()),
                                opt_bool(r.has_telegram_enabled(), r.telegram_enabled()),
                                opt_bool(r.has_calls_enabled(), r.calls_enabled()),
                                opt_int(r.has_call_priority(), r.call_priority())});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return absl::NotFoundError(absl::StrCat("no link ", r.link_id()));
  return ToLink(rows->front());
}

}  // namespace protectogram::incident
