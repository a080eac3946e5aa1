#include "services/incident/core/incident_core.h"

#include <algorithm>
#include <boost/json.hpp>
#include <limits>
#include <tuple>
#include <type_traits>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace protectogram::incident::core {
namespace {

// --- Names ------------------------------------------------------------------------------------------------

std::string Prefix(int64_t id) { return absl::StrCat("incident:", id, ":"); }
std::string GuardianActor(int64_t user_id) { return absl::StrCat("guardian:", user_id); }
std::string TravelerActor(const Incident& incident) {
  return absl::StrCat("traveler:", incident.traveler.user_id);
}
std::string TimerKey(int64_t id, TimerKind kind, int seq, int repair = 0) {
  std::string key = absl::StrCat(TimerPrefix(id), std::string(TimerKindName(kind)), ":", seq);
  if (repair > 0) absl::StrAppend(&key, ":r", repair);
  return key;
}

// --- Small builders ---------------------------------------------------------------------------------------

SendMessage MessageTo(const Person& person, std::string key, std::string template_id,
                      std::map<std::string, std::string> params = {}) {
  return SendMessage{.key = std::move(key),
                     .bot_id = person.bot_id,
                     .chat_id = person.chat_id,
                     .locale = person.locale,
                     .template_id = std::move(template_id),
                     .params = std::move(params)};
}

void Answer(std::vector<Command>& out, const std::string& bot_id, const std::string& callback_id,
            const std::string& locale, std::string template_id,
            std::map<std::string, std::string> params = {}) {
  if (callback_id.empty()) return;  // not a button press: nothing to answer
  out.push_back(AnswerCallback{.key = absl::StrCat("callback:", callback_id),
                               .bot_id = bot_id,
                               .callback_id = callback_id,
                               .locale = locale,
                               .template_id = std::move(template_id),
                               .params = std::move(params)});
}

void Note(std::vector<Command>& out, std::string actor, std::string what,
          std::map<std::string, std::string> detail = {}) {
  out.push_back(
      TimelineEntry{.actor = std::move(actor), .what = std::move(what), .detail = std::move(detail)});
}

bool Callable(const Guardian& g, int round) {
  return g.calls_enabled && !g.person.phone_e164.empty() && round <= g.policy.max_retries;
}

int64_t Seconds(absl::Duration d) { return absl::ToInt64Seconds(d); }

// --- The cascade ------------------------------------------------------------------------------------------

// No further call: the cap is reached, or every guardian had all their rounds.
void FinishCalls(Incident& incident, std::string_view reason, std::vector<Command>& out) {
  incident.calls_done = true;
  if (incident.calls.empty()) {
    Note(out, "system", "no_calls", {{"reason", std::string(reason)}});
    return;
  }
  out.push_back(MessageTo(incident.traveler, absl::StrCat(Prefix(incident.id), "calls_exhausted"),
                          "panic.calls_exhausted"));
  Note(out, "system", "calls_exhausted",
       {{"reason", std::string(reason)},
        {"calls", absl::StrCat(incident.calls.size())},
        {"ring_sec", absl::StrCat(Seconds(incident.ring_used))}});
}

void PlaceNextCall(Incident& incident, const Guardian& guardian, absl::Duration ring, absl::Time now,
                   std::vector<Command>& out) {
  CallRecord call{.number = static_cast<int>(incident.calls.size()) + 1,
                  .guardian_user_id = guardian.person.user_id,
                  .round = incident.round,
                  .placed_at = now,
                  .ring_timeout = ring};
  const std::string attempt = AttemptKey(incident.id, call.number);
  out.push_back(PlaceCall{.attempt_key = attempt,
                          .guardian_user_id = guardian.person.user_id,
                          .to_e164 = guardian.person.phone_e164,
                          .locale = guardian.person.locale,
                          .template_id = "call.panic_tts",
                          .params = {{"name", incident.traveler.name}},
                          .ring_timeout = ring,
                          .attempt_number = call.number});
  // A safety net for an outcome that never comes: telephony reports no_answer at the ring timeout itself.
  out.push_back(Schedule{.key = TimerKey(incident.id, TimerKind::kCallDeadline, call.number),
                         .kind = TimerKind::kCallDeadline,
                         .seq = call.number,
                         .at = now + ring + incident.settings.outcome_grace});
  Note(out, "system", "call_placed",
       {{"guardian", absl::StrCat(guardian.person.user_id)},
        {"call", absl::StrCat(call.number)},
        {"round", absl::StrCat(incident.round)},
        {"ring_sec", absl::StrCat(Seconds(ring))},
        {"attempt_key", attempt}});
  incident.calls.push_back(std::move(call));
}

// Moves the cascade as far as it goes now: places the next call, or waits for the next round, or ends the
// calls. Does nothing while a call is live or a round waits for its backoff.
void Advance(Incident& incident, absl::Time now, std::vector<Command>& out) {
  if (incident.status != Status::kActive || incident.calls_done || incident.LiveCall() != nullptr ||
      incident.next_round_at.has_value()) {
    return;
  }
  const Settings& s = incident.settings;
  for (;;) {
    while (incident.next_index < incident.guardians.size()) {
      const Guardian& g = incident.guardians[incident.next_index++];
      if (!Callable(g, incident.round)) continue;
      const absl::Duration left = s.total_ring_cap - incident.RingReserved();
      if (left < s.min_ring) return FinishCalls(incident, "ring_cap", out);
      return PlaceNextCall(incident, g, std::min(g.policy.ring_timeout, left), now, out);
    }
    // The round is over without an acknowledgement: who takes part in the next one, and when it starts.
    const int next = incident.round + 1;
    std::optional<absl::Duration> backoff;
    for (const Guardian& g : incident.guardians) {
      if (Callable(g, next))
        backoff = std::min(backoff.value_or(absl::InfiniteDuration()), g.policy.retry_backoff);
    }
    if (!backoff.has_value()) return FinishCalls(incident, "rounds_done", out);
    if (s.total_ring_cap - incident.RingReserved() < s.min_ring)
      return FinishCalls(incident, "ring_cap", out);
    if (*backoff <= absl::ZeroDuration()) {
      incident.round = next;
      incident.next_index = 0;
      continue;
    }
    incident.next_round_at = now + *backoff;
    out.push_back(Schedule{.key = TimerKey(incident.id, TimerKind::kNextRound, next),
                           .kind = TimerKind::kNextRound,
                           .seq = next,
                           .at = *incident.next_round_at});
    Note(out, "system", "round_waiting",
         {{"round", absl::StrCat(next)}, {"backoff_sec", absl::StrCat(Seconds(*backoff))}});
    return;
  }
}

// Charges the call's ringing (at most its timeout) and records how it ended.
void EndCall(Incident& incident, CallRecord& call, CallOutcome outcome, absl::Time now,
             std::vector<Command>& out) {
  call.ended = true;
  call.ended_at = now;
  call.outcome = std::string(CallOutcomeName(outcome));
  incident.ring_used += std::clamp(now - call.placed_at, absl::ZeroDuration(), call.ring_timeout);
  Note(out, GuardianActor(call.guardian_user_id), "call_ended",
       {{"call", absl::StrCat(call.number)}, {"outcome", call.outcome}});
}

// --- Endings ----------------------------------------------------------------------------------------------

// Everything still pending stops: timers, live calls.
void StopEverything(const Incident& incident, std::vector<Command>& out) {
  out.push_back(CancelTimers{});
  if (!incident.calls.empty()) out.push_back(HangupAll{.correlation_id = incident.correlation_id()});
}

// The compare-and-set of an acknowledgement has succeeded (the caller checked IsOpen): `winner` took it.
void Acknowledge(Incident& incident, const Guardian& winner, std::string_view via, const AckPressed* press,
                 absl::Time now, std::vector<Command>& out) {
  incident.status = Status::kAcknowledged;
  incident.acknowledged_by = winner.person.user_id;
  incident.acknowledged_via = std::string(via);
  incident.ended_at = now;
  StopEverything(incident, out);
  const std::string p = Prefix(incident.id);
  const std::string& name = winner.person.name;
  out.push_back(
      MessageTo(incident.traveler, p + "ack:traveler", "panic.acknowledged_traveler", {{"guardian", name}}));
  out.push_back(EditMessage{.key = p + "edit:confirm",
                            .target_key = ConfirmationKey(incident.id),
                            .locale = incident.traveler.locale});
  if (!winner.person.chat_id.empty()) {
    out.push_back(MessageTo(winner.person, p + "ack:self", "panic.acknowledged_self",
                            {{"name", incident.traveler.name}, {"phone", incident.traveler.phone_e164}}));
  }
  for (int64_t user_id : incident.alerted) {
    const Guardian* g = incident.FindGuardian(user_id);
    out.push_back(EditMessage{.key = absl::StrCat(p, "edit:alert:", user_id),
                              .target_key = AlertKey(incident.id, user_id),
                              .locale = g != nullptr ? g->person.locale : "ru",
                              .template_id = "panic.acknowledged_other",
                              .params = {{"guardian", name}}});
  }
  if (press != nullptr) {
    Answer(out, press->bot_id, press->callback_id, winner.person.locale, "panic.ack_thanks",
           {{"name", incident.traveler.name}});
  }
  Note(out, GuardianActor(winner.person.user_id), "acknowledged", {{"via", std::string(via)}});
}

void Cancel(Incident& incident, const CancelRequested& request, absl::Time now, std::vector<Command>& out) {
  incident.status = Status::kCanceled;
  incident.ended_at = now;
  StopEverything(incident, out);
  const std::string p = Prefix(incident.id);
  for (int64_t user_id : incident.alerted) {
    const Guardian* g = incident.FindGuardian(user_id);
    if (g == nullptr) continue;
    out.push_back(MessageTo(g->person, absl::StrCat(p, "cancel:", user_id), "panic.canceled_guardian",
                            {{"name", incident.traveler.name}}));
    out.push_back(EditMessage{.key = absl::StrCat(p, "edit:alert:", user_id),
                              .target_key = AlertKey(incident.id, user_id),
                              .locale = g->person.locale});
  }
  out.push_back(MessageTo(incident.traveler, p + "cancel:traveler", "panic.canceled_traveler"));
  out.push_back(EditMessage{.key = p + "edit:confirm",
                            .target_key = ConfirmationKey(incident.id),
                            .locale = incident.traveler.locale});
  Answer(out, request.bot_id, request.callback_id, incident.traveler.locale, "");
  Note(out, request.by_operator ? "operator" : TravelerActor(incident), "canceled",
       request.reason.empty() ? std::map<std::string, std::string>{}
                              : std::map<std::string, std::string>{{"reason", request.reason}});
}

void Escalate(Incident& incident, absl::Time now, std::vector<Command>& out) {
  incident.status = Status::kEscalated;
  incident.ended_at = now;
  StopEverything(incident, out);
  const Settings& s = incident.settings;
  if (!s.operator_chat_id.empty()) {
    out.push_back(
        SendMessage{.key = absl::StrCat(Prefix(incident.id), "operator:escalated"),
                    .bot_id = s.operator_bot_id,
                    .chat_id = s.operator_chat_id,
                    .locale = "ru",
                    .template_id = "operator.incident_escalated",
                    .params = {{"name", incident.traveler.name},
                               {"phone", incident.traveler.phone_e164},
                               {"minutes", absl::StrCat(absl::ToInt64Minutes(now - incident.started_at))},
                               {"incident_id", absl::StrCat(incident.id)}}});
  }
  Note(out, "system", "escalated", {{"reminders", absl::StrCat(incident.reminders_sent)}});
}

// --- Events -----------------------------------------------------------------------------------------------

void OnCallEnded(Incident& incident, const CallEnded& event, absl::Time now, std::vector<Command>& out) {
  const std::optional<std::pair<int64_t, int>> key = ParseAttemptKey(event.attempt_key);
  if (!key || key->first != incident.id || key->second < 1 ||
      key->second > static_cast<int>(incident.calls.size())) {
    return;  // not a call of this incident
  }
  CallRecord& call = incident.calls[key->second - 1];
  const bool pressed_one = event.outcome == CallOutcome::kDigitPressed && event.digit == "1";
  if (!call.ended) {
    EndCall(incident, call,
            pressed_one || event.outcome != CallOutcome::kDigitPressed ? event.outcome
                                                                       : CallOutcome::kAnsweredNoDigit,
            now, out);
  } else if (!pressed_one) {
    return;  // a duplicate or a late outcome of a call the cascade already left
  }
  // A 1 counts even on a call the cascade had given up on: the guardian did take responsibility.
  if (pressed_one && IsOpen(incident.status)) {
    const Guardian* g = incident.FindGuardian(call.guardian_user_id);
    if (g != nullptr) return Acknowledge(incident, *g, "call", nullptr, now, out);
  }
  Advance(incident, now, out);
}

void OnAck(Incident& incident, const AckPressed& press, absl::Time now, std::vector<Command>& out) {
  const Guardian* g = incident.FindGuardian(press.user_id);
  if (g == nullptr) {
    // Not this traveler's guardian: nothing changes.
    Answer(out, press.bot_id, press.callback_id, "ru", "panic.not_your_alert");
    return;
  }
  if (IsOpen(incident.status)) return Acknowledge(incident, *g, "button", &press, now, out);
  if (incident.status == Status::kAcknowledged) {
    const Guardian* winner = incident.FindGuardian(incident.acknowledged_by);
    Answer(out, press.bot_id, press.callback_id, g->person.locale, "panic.already_acknowledged",
           {{"guardian", winner != nullptr ? winner->person.name : ""}});
    return;
  }
  Answer(out, press.bot_id, press.callback_id, g->person.locale, "panic.alert_closed");
}

void OnCancel(Incident& incident, const CancelRequested& request, absl::Time now, std::vector<Command>& out) {
  if (!request.by_operator && request.user_id != incident.traveler.user_id) {
    Answer(out, request.bot_id, request.callback_id, "ru", "panic.not_your_alert");
    return;
  }
  if (!IsOpen(incident.status)) {
    Answer(out, request.bot_id, request.callback_id, incident.traveler.locale, "panic.alert_closed");
    return;
  }
  Cancel(incident, request, now, out);
}

void SendReminders(Incident& incident, int seq, std::vector<Command>& out) {
  incident.reminders_sent = seq;
  for (int64_t user_id : incident.alerted) {
    const Guardian* g = incident.FindGuardian(user_id);
    if (g == nullptr) continue;
    SendMessage m = MessageTo(g->person, absl::StrCat(Prefix(incident.id), "reminder:", seq, ":", user_id),
                              "panic.reminder", {{"name", incident.traveler.name}});
    m.buttons.push_back(Button{.template_id = "panic.alert.button_ack", .data = AckData(incident.id)});
    out.push_back(std::move(m));
  }
  Note(out, "system", "reminder_sent", {{"reminder", absl::StrCat(seq)}});
}

void ScheduleReminder(const Incident& incident, int seq, absl::Time now, int repair,
                      std::vector<Command>& out) {
  const absl::Time window_end = incident.started_at + incident.settings.reminder_window;
  out.push_back(Schedule{.key = TimerKey(incident.id, TimerKind::kReminder, seq, repair),
                         .kind = TimerKind::kReminder,
                         .seq = seq,
                         .at = std::min(now + incident.settings.reminder_interval, window_end)});
}

void OnTimer(Incident& incident, const TimerFired& timer, absl::Time now, std::vector<Command>& out) {
  switch (timer.kind) {
    case TimerKind::kReminder:
      if (incident.status != Status::kActive || timer.seq != incident.reminders_sent + 1) return;
      if (now >= incident.started_at + incident.settings.reminder_window) return Escalate(incident, now, out);
      SendReminders(incident, timer.seq, out);
      return ScheduleReminder(incident, timer.seq + 1, now, 0, out);
    case TimerKind::kNextRound:
      if (incident.status != Status::kActive || !incident.next_round_at.has_value() ||
          timer.seq != incident.round + 1) {
        return;
      }
      incident.next_round_at.reset();
      incident.round = timer.seq;
      incident.next_index = 0;
      Note(out, "system", "round_started", {{"round", absl::StrCat(incident.round)}});
      return Advance(incident, now, out);
    case TimerKind::kCallDeadline: {
      if (timer.seq < 1 || timer.seq > static_cast<int>(incident.calls.size())) return;
      CallRecord& call = incident.calls[timer.seq - 1];
      if (call.ended) return;
      out.push_back(HangupCall{.attempt_key = AttemptKey(incident.id, call.number)});
      EndCall(incident, call, CallOutcome::kDeadline, now, out);
      return Advance(incident, now, out);
    }
  }
}

// The auditor found nothing pending for an open incident: put its next steps back.
void OnRepair(Incident& incident, absl::Time now, std::vector<Command>& out) {
  if (incident.status != Status::kActive) return;  // escalated, acknowledged, canceled: nothing is due
  const int repair = ++incident.repairs;
  ScheduleReminder(incident, incident.reminders_sent + 1, now, repair, out);
  if (const CallRecord* live = incident.LiveCall(); live != nullptr) {
    out.push_back(Schedule{
        .key = TimerKey(incident.id, TimerKind::kCallDeadline, live->number, repair),
        .kind = TimerKind::kCallDeadline,
        .seq = live->number,
        .at = std::max(now, live->placed_at + live->ring_timeout + incident.settings.outcome_grace)});
  } else if (incident.next_round_at.has_value()) {
    out.push_back(Schedule{.key = TimerKey(incident.id, TimerKind::kNextRound, incident.round + 1, repair),
                           .kind = TimerKind::kNextRound,
                           .seq = incident.round + 1,
                           .at = std::max(now, *incident.next_round_at)});
  }
  Note(out, "system", "repaired", {{"repair", absl::StrCat(repair)}});
  Advance(incident, now, out);
}

}  // namespace

// --- Names ------------------------------------------------------------------------------------------------

std::string_view StatusName(Status status) {
  switch (status) {
    case Status::kActive:
      return "active";
    case Status::kAcknowledged:
      return "acknowledged";
    case Status::kCanceled:
      return "canceled";
    case Status::kEscalated:
      return "escalated";
  }
  return "active";
}

std::optional<Status> ParseStatus(std::string_view name) {
  for (Status s : {Status::kActive, Status::kAcknowledged, Status::kCanceled, Status::kEscalated}) {
    if (StatusName(s) == name) return s;
  }
  return std::nullopt;
}

bool IsOpen(Status status) { return status == Status::kActive || status == Status::kEscalated; }

namespace {
constexpr CallOutcome kOutcomes[] = {CallOutcome::kDigitPressed, CallOutcome::kAnsweredNoDigit,
                                     CallOutcome::kMachine,      CallOutcome::kNoAnswer,
                                     CallOutcome::kBusy,         CallOutcome::kFailed,
                                     CallOutcome::kCanceled,     CallOutcome::kDeadline};
}  // namespace

std::string_view CallOutcomeName(CallOutcome outcome) {
  switch (outcome) {
    case CallOutcome::kDigitPressed:
      return "digit_pressed";
    case CallOutcome::kAnsweredNoDigit:
      return "answered_no_digit";
    case CallOutcome::kMachine:
      return "machine";
    case CallOutcome::kNoAnswer:
      return "no_answer";
    case CallOutcome::kBusy:
      return "busy";
    case CallOutcome::kFailed:
      return "failed";
    case CallOutcome::kCanceled:
      return "canceled";
    case CallOutcome::kDeadline:
      return "deadline";
  }
  return "failed";
}

std::optional<CallOutcome> ParseCallOutcome(std::string_view name) {
  for (CallOutcome o : kOutcomes) {
    if (CallOutcomeName(o) == name) return o;
  }
  return std::nullopt;
}

std::string_view TimerKindName(TimerKind kind) {
  switch (kind) {
    case TimerKind::kNextRound:
      return "next_round";
    case TimerKind::kCallDeadline:
      return "call_deadline";
    case TimerKind::kReminder:
      return "reminder";
  }
  return "reminder";
}

std::optional<TimerKind> ParseTimerKind(std::string_view name) {
  for (TimerKind k : {TimerKind::kNextRound, TimerKind::kCallDeadline, TimerKind::kReminder}) {
    if (TimerKindName(k) == name) return k;
  }
  return std::nullopt;
}

std::string AttemptKey(int64_t incident_id, int number) {
  return absl::StrCat(Prefix(incident_id), "call:", number);
}

namespace {

// "incident:<id>:<what>:<n>" -> (id, n), both positive.
std::optional<std::pair<int64_t, int64_t>> ParseKey(std::string_view key, std::string_view what) {
  std::vector<std::string> parts = absl::StrSplit(std::string(key), ':');
  int64_t id = 0;
  int64_t n = 0;
  if (parts.size() != 4 || parts[0] != "incident" || parts[2] != what || !absl::SimpleAtoi(parts[1], &id) ||
      !absl::SimpleAtoi(parts[3], &n) || id <= 0 || n <= 0) {
    return std::nullopt;
  }
  return std::make_pair(id, n);
}

}  // namespace

std::optional<std::pair<int64_t, int>> ParseAttemptKey(std::string_view key) {
  std::optional<std::pair<int64_t, int64_t>> parsed = ParseKey(key, "call");
  if (!parsed || parsed->second > std::numeric_limits<int>::max()) return std::nullopt;
  return std::make_pair(parsed->first, static_cast<int>(parsed->second));
}

std::optional<std::pair<int64_t, int64_t>> ParseAlertKey(std::string_view key) {
  return ParseKey(key, "alert");
}

std::string TimerPrefix(int64_t incident_id) { return absl::StrCat(Prefix(incident_id), "t:"); }
std::string AckData(int64_t incident_id) { return absl::StrCat("ack:", incident_id); }
std::string CancelData(int64_t incident_id) { return absl::StrCat("cancel:", incident_id); }
std::string AlertKey(int64_t incident_id, int64_t guardian_user_id) {
  return absl::StrCat(Prefix(incident_id), "alert:", guardian_user_id);
}
std::string ConfirmationKey(int64_t incident_id) { return absl::StrCat(Prefix(incident_id), "confirm"); }

// --- Incident ---------------------------------------------------------------------------------------------

std::string Incident::correlation_id() const { return absl::StrCat("incident:", id); }

const Guardian* Incident::FindGuardian(int64_t user_id) const {
  for (const Guardian& g : guardians) {
    if (g.person.user_id == user_id) return &g;
  }
  return nullptr;
}

const CallRecord* Incident::LiveCall() const {
  if (!calls.empty() && !calls.back().ended) return &calls.back();
  return nullptr;  // one call at a time: only the last can be live
}

absl::Duration Incident::RingReserved() const {
  const CallRecord* live = LiveCall();
  return ring_used + (live != nullptr ? live->ring_timeout : absl::ZeroDuration());
}

// --- The machine ------------------------------------------------------------------------------------------

Started Start(int64_t id, Person traveler, std::vector<Guardian> guardians, const Settings& settings,
              bool is_test, absl::Time now) {
  std::stable_sort(guardians.begin(), guardians.end(), [](const Guardian& a, const Guardian& b) {
    return std::tie(a.call_priority, a.link_id) < std::tie(b.call_priority, b.link_id);
  });
  Started started;
  Incident& incident = started.incident;
  std::vector<Command>& out = started.commands;
  incident.id = id;
  incident.traveler = std::move(traveler);
  incident.guardians = std::move(guardians);
  incident.settings = settings;
  incident.is_test = is_test;
  incident.started_at = now;

  Note(out, TravelerActor(incident), "panic",
       {{"guardians", absl::StrCat(incident.guardians.size())}, {"test", is_test ? "true" : "false"}});
  for (const Guardian& g : incident.guardians) {
    if (!g.telegram_enabled || g.person.chat_id.empty()) continue;
    SendMessage alert = MessageTo(g.person, AlertKey(id, g.person.user_id), "panic.alert",
                                  {{"name", incident.traveler.name}});
    alert.buttons.push_back(Button{.template_id = "panic.alert.button_ack", .data = AckData(id)});
    alert.report = true;
    out.push_back(std::move(alert));
    incident.alerted.push_back(g.person.user_id);
    Note(out, "system", "alert_queued", {{"guardian", absl::StrCat(g.person.user_id)}});
  }
  SendMessage confirmation = MessageTo(incident.traveler, ConfirmationKey(id), "panic.traveler_confirmation");
  confirmation.buttons.push_back(Button{.template_id = "panic.button_cancel", .data = CancelData(id)});
  out.push_back(std::move(confirmation));
  if (!settings.operator_chat_id.empty()) {
    out.push_back(SendMessage{.key = absl::StrCat(Prefix(id), "operator:opened"),
                              .bot_id = settings.operator_bot_id,
                              .chat_id = settings.operator_chat_id,
                              .locale = "ru",
                              .template_id = "operator.incident_opened",
                              .params = {{"name", incident.traveler.name},
                                         {"phone", incident.traveler.phone_e164},
                                         {"incident_id", absl::StrCat(id)}},
                              .alert_priority = false});
  }
  ScheduleReminder(incident, 1, now, 0, out);
  Advance(incident, now, out);
  return started;
}

std::vector<Command> Apply(Incident& incident, const Event& event, absl::Time now) {
  std::vector<Command> out;
  std::visit(
      [&](const auto& e) {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, CallEnded>) {
          OnCallEnded(incident, e, now, out);
        } else if constexpr (std::is_same_v<E, AckPressed>) {
          OnAck(incident, e, now, out);
        } else if constexpr (std::is_same_v<E, CancelRequested>) {
          OnCancel(incident, e, now, out);
        } else if constexpr (std::is_same_v<E, TimerFired>) {
          OnTimer(incident, e, now, out);
        } else {
          OnRepair(incident, now, out);
        }
      },
      event);
  return out;
}

// --- JSON -------------------------------------------------------------------------------------------------

namespace {

namespace json = boost::json;

json::value TimeValue(absl::Time t) {
  if (t == absl::InfinitePast()) return nullptr;
  return absl::ToUnixMicros(t);
}

json::object PersonJson(const Person& p) {
  return {{"user_id", p.user_id}, {"name", p.name},       {"phone", p.phone_e164},
          {"bot_id", p.bot_id},   {"chat_id", p.chat_id}, {"locale", p.locale}};
}

// Reads fields of one JSON object; the first missing or mistyped field makes ok() false.
class Reader {
 public:
  explicit Reader(const json::value* v)
      : obj_(v != nullptr ? v->if_object() : nullptr), ok_(obj_ != nullptr) {}

  int64_t Int(std::string_view key) {
    const json::value* v = Find(key);
    if (v == nullptr) return 0;
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
    ok_ = false;
    return 0;
  }
  bool Bool(std::string_view key) {
    const json::value* v = Find(key);
    if (v == nullptr || !v->is_bool()) return ok_ = false;
    return v->as_bool();
  }
  std::string String(std::string_view key) {
    const json::value* v = Find(key);
    if (v == nullptr || !v->is_string()) {
      ok_ = false;
      return "";
    }
    return std::string(v->as_string());
  }
  absl::Duration Millis(std::string_view key) { return absl::Milliseconds(Int(key)); }
  // What the cascade computes from times (ringing charged, a ring cut by the cap) is kept to the microsecond,
  // as the times are: in milliseconds a reload would lose up to 1 ms of ringing per save.
  absl::Duration Micros(std::string_view key) { return absl::Microseconds(Int(key)); }
  absl::Time Time(std::string_view key) {
    const json::value* v = Find(key);
    if (v != nullptr && v->is_null()) return absl::InfinitePast();
    return absl::FromUnixMicros(Int(key));
  }
  const json::array* Array(std::string_view key) {
    const json::value* v = Find(key);
    if (v == nullptr || !v->is_array()) {
      ok_ = false;
      return nullptr;
    }
    return &v->as_array();
  }
  const json::value* Value(std::string_view key) { return Find(key); }
  bool ok() const { return ok_; }
  void Fail() { ok_ = false; }

 private:
  const json::value* Find(std::string_view key) {
    if (obj_ == nullptr) {
      ok_ = false;
      return nullptr;
    }
    const json::value* v = obj_->if_contains(key);
    if (v == nullptr) ok_ = false;
    return v;
  }

  const json::object* obj_;
  bool ok_;
};

bool ReadPerson(const json::value* v, Person& p) {
  Reader r(v);
  p.user_id = r.Int("user_id");
  p.name = r.String("name");
  p.phone_e164 = r.String("phone");
  p.bot_id = r.String("bot_id");
  p.chat_id = r.String("chat_id");
  p.locale = r.String("locale");
  return r.ok();
}

}  // namespace

std::string ToJson(const Incident& incident) {
  json::array guardians;
  for (const Guardian& g : incident.guardians) {
    guardians.push_back(json::object{{"person", PersonJson(g.person)},
                                     {"link_id", g.link_id},
                                     {"call_priority", g.call_priority},
                                     {"telegram_enabled", g.telegram_enabled},
                                     {"calls_enabled", g.calls_enabled},
                                     {"ring_ms", absl::ToInt64Milliseconds(g.policy.ring_timeout)},
                                     {"max_retries", g.policy.max_retries},
                                     {"backoff_ms", absl::ToInt64Milliseconds(g.policy.retry_backoff)}});
  }
  json::array calls;
  for (const CallRecord& c : incident.calls) {
    calls.push_back(json::object{{"number", c.number},
                                 {"guardian", c.guardian_user_id},
                                 {"round", c.round},
                                 {"placed_at", TimeValue(c.placed_at)},
                                 {"ring_us", absl::ToInt64Microseconds(c.ring_timeout)},
                                 {"ended", c.ended},
                                 {"ended_at", TimeValue(c.ended_at)},
                                 {"outcome", c.outcome}});
  }
  json::array alerted;
  for (int64_t id : incident.alerted) alerted.push_back(id);
  const Settings& s = incident.settings;
  json::object settings{{"ring_cap_ms", absl::ToInt64Milliseconds(s.total_ring_cap)},
                        {"min_ring_ms", absl::ToInt64Milliseconds(s.min_ring)},
                        {"outcome_grace_ms", absl::ToInt64Milliseconds(s.outcome_grace)},
                        {"reminder_interval_ms", absl::ToInt64Milliseconds(s.reminder_interval)},
                        {"reminder_window_ms", absl::ToInt64Milliseconds(s.reminder_window)},
                        {"operator_bot_id", s.operator_bot_id},
                        {"operator_chat_id", s.operator_chat_id}};
  json::object o{
      {"version", 1},
      {"id", incident.id},
      {"traveler", PersonJson(incident.traveler)},
      {"guardians", std::move(guardians)},
      {"settings", std::move(settings)},
      {"is_test", incident.is_test},
      {"status", StatusName(incident.status)},
      {"started_at", TimeValue(incident.started_at)},
      {"ended_at", TimeValue(incident.ended_at)},
      {"acknowledged_by", incident.acknowledged_by},
      {"acknowledged_via", incident.acknowledged_via},
      {"round", incident.round},
      {"next_index", incident.next_index},
      {"calls", std::move(calls)},
      {"ring_used_us", absl::ToInt64Microseconds(incident.ring_used)},
      {"next_round_at", incident.next_round_at ? TimeValue(*incident.next_round_at) : json::value(nullptr)},
      {"calls_done", incident.calls_done},
      {"reminders_sent", incident.reminders_sent},
      {"repairs", incident.repairs},
      {"alerted", std::move(alerted)}};
  return json::serialize(o);
}

absl::StatusOr<Incident> FromJson(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  auto bad = [](std::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("incident state: ", std::string(what)));
  };
  if (ec) return bad("not JSON");
  Reader r(&v);
  if (r.Int("version") != 1) return bad("unknown version");
  Incident inc;
  inc.id = r.Int("id");
  if (!ReadPerson(r.Value("traveler"), inc.traveler)) return bad("traveler");
  if (const json::array* gs = r.Array("guardians")) {
    for (const json::value& gv : *gs) {
      Reader g(&gv);
      Guardian guardian;
      if (!ReadPerson(g.Value("person"), guardian.person)) return bad("guardian");
      guardian.link_id = g.Int("link_id");
      guardian.call_priority = static_cast<int>(g.Int("call_priority"));
      guardian.telegram_enabled = g.Bool("telegram_enabled");
      guardian.calls_enabled = g.Bool("calls_enabled");
      guardian.policy.ring_timeout = g.Millis("ring_ms");
      guardian.policy.max_retries = static_cast<int>(g.Int("max_retries"));
      guardian.policy.retry_backoff = g.Millis("backoff_ms");
      if (!g.ok()) return bad("guardian");
      inc.guardians.push_back(std::move(guardian));
    }
  }
  Reader s(r.Value("settings"));
  inc.settings.total_ring_cap = s.Millis("ring_cap_ms");
  inc.settings.min_ring = s.Millis("min_ring_ms");
  inc.settings.outcome_grace = s.Millis("outcome_grace_ms");
  inc.settings.reminder_interval = s.Millis("reminder_interval_ms");
  inc.settings.reminder_window = s.Millis("reminder_window_ms");
  inc.settings.operator_bot_id = s.String("operator_bot_id");
  inc.settings.operator_chat_id = s.String("operator_chat_id");
  if (!s.ok()) return bad("settings");
  inc.is_test = r.Bool("is_test");
  const std::optional<Status> status = ParseStatus(r.String("status"));
  if (!status) return bad("status");
  inc.status = *status;
  inc.started_at = r.Time("started_at");
  inc.ended_at = r.Time("ended_at");
  inc.acknowledged_by = r.Int("acknowledged_by");
  inc.acknowledged_via = r.String("acknowledged_via");
  inc.round = static_cast<int>(r.Int("round"));
  inc.next_index = static_cast<size_t>(r.Int("next_index"));
  if (const json::array* cs = r.Array("calls")) {
    for (const json::value& cv : *cs) {
      Reader c(&cv);
      CallRecord call{.number = static_cast<int>(c.Int("number")),
                      .guardian_user_id = c.Int("guardian"),
                      .round = static_cast<int>(c.Int("round")),
                      .placed_at = c.Time("placed_at"),
                      .ring_timeout = c.Micros("ring_us"),
                      .ended = c.Bool("ended"),
                      .ended_at = c.Time("ended_at"),
                      .outcome = c.String("outcome")};
      if (!c.ok() || call.number != static_cast<int>(inc.calls.size()) + 1) return bad("call");
      inc.calls.push_back(std::move(call));
    }
  }
  inc.ring_used = r.Micros("ring_used_us");
  if (const json::value* next = r.Value("next_round_at"); next != nullptr && !next->is_null()) {
    inc.next_round_at = r.Time("next_round_at");
  }
  inc.calls_done = r.Bool("calls_done");
  inc.reminders_sent = static_cast<int>(r.Int("reminders_sent"));
  inc.repairs = static_cast<int>(r.Int("repairs"));
  if (const json::array* as = r.Array("alerted")) {
    for (const json::value& a : *as) {
      if (!a.is_int64()) return bad("alerted");
      inc.alerted.push_back(a.as_int64());
    }
  }
  if (!r.ok()) return bad("a field is missing or has the wrong type");
  if (inc.next_index > inc.guardians.size()) return bad("next_index");
  return inc;
}

}  // namespace protectogram::incident::core
