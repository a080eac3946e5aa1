// The panic flow as a pure, deterministic state machine: (incident, event, now) -> (incident', commands).
// No I/O, no clock of its own, no randomness: the service runs Apply inside one transaction per event (the
// inbox record, the new state, the timeline rows, the scheduled actions and the outbox commands commit
// together), and the simulation (tests/sim/incident) runs the very same code against a virtual clock.
//
// Reading this file and incident_core.cc top to bottom is reading the product (docs/incident.md):
//   Start     — every guardian with Telegram is alerted at once with «Я беру ответственность»; the traveler is
//               confirmed with «Отменить тревогу»; the cascade and the reminders start.
//   Cascade   — round 0 calls each guardian with calls in call order, one at a time; a call that ends without
//               digit 1 moves to the next guardian at once; after a round, the backoff, then the next round.
//               A guardian takes part in at most 1 + max_retries rounds; no call is placed once the summed
//               ringing reaches the incident's cap (a call's ring timeout is cut to what is left of it).
//   Ack       — the button or DTMF 1: the first wins (one compare-and-set on the status), everything pending
//               is cancelled, live calls are hung up, everyone is told who took it.
//   Cancel    — by the traveler: closed, everything pending cancelled, calls hung up, guardians told.
//   Reminders — every reminder_interval to the guardians until ack or cancel; after reminder_window the
//               incident is escalated to the operators' chat (it still takes an ack or a cancel).
//
// Every event that does not apply (a duplicate, a late call outcome, a timer that lost its race, a press by
// someone who is not a guardian of this incident) changes nothing but a polite answer to a button press.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace protectogram::incident::core {

// A guardian's cascade policy (incident.member_links; SPEC §1 defaults).
struct Policy {
  absl::Duration ring_timeout = absl::Seconds(25);
  int max_retries = 2;  // rounds after the first
  absl::Duration retry_backoff = absl::Seconds(60);
};

// Someone the incident talks to. chat_id "" = not reachable in Telegram; phone "" = cannot be called.
struct Person {
  int64_t user_id = 0;
  std::string name;
  std::string phone_e164;
  std::string bot_id = "main";
  std::string chat_id;
  std::string locale = "ru";
};

struct Guardian {
  Person person;
  int64_t link_id = 0;
  int call_priority = 0;
  bool telegram_enabled = true;
  bool calls_enabled = true;
  Policy policy;
};

// Per incident, from the service's configuration (fixed when the incident starts).
struct Settings {
  absl::Duration total_ring_cap = absl::Seconds(180);
  // A call whose ring timeout would be cut below this is not placed: the cap counts as reached.
  absl::Duration min_ring = absl::Seconds(10);
  // How long after a call's ring timeout the incident stops waiting for its outcome (telephony down, an
  // outcome lost): the call is hung up and the cascade moves on.
  absl::Duration outcome_grace = absl::Seconds(30);
  absl::Duration reminder_interval = absl::Seconds(120);
  absl::Duration reminder_window = absl::Hours(2);
  std::string operator_bot_id = "main";
  std::string operator_chat_id;  // "" = no operators' chat
};

enum class Status { kActive, kAcknowledged, kCanceled, kEscalated };
std::string_view StatusName(Status status);  // "active", "acknowledged", "canceled", "escalated"
std::optional<Status> ParseStatus(std::string_view name);
// Open: the incident still takes an ack or a cancel (active or escalated).
bool IsOpen(Status status);

// How a call ended, as telephony reports it (OnCallOutcomeRequest.outcome), plus kDeadline: the incident gave
// up waiting for an outcome.
enum class CallOutcome {
  kDigitPressed,
  kAnsweredNoDigit,
  kMachine,
  kNoAnswer,
  kBusy,
  kFailed,
  kCanceled,
  kDeadline,
};
std::string_view CallOutcomeName(CallOutcome outcome);  // "digit_pressed", ..., "deadline"
std::optional<CallOutcome> ParseCallOutcome(std::string_view name);

// One call the cascade placed.
struct CallRecord {
  int number = 0;  // 1, 2, ...: the attempt key's suffix
  int64_t guardian_user_id = 0;
  int round = 0;
  absl::Time placed_at = absl::InfinitePast();
  absl::Duration ring_timeout = absl::ZeroDuration();
  bool ended = false;
  absl::Time ended_at = absl::InfinitePast();
  std::string outcome;  // CallOutcomeName, when ended
};

// What a timer is for. Its sequence number says which occurrence: a timer whose occurrence has passed (it lost
// a race with an ack, or a repair rescheduled it) changes nothing.
enum class TimerKind {
  kNextRound,     // seq = the round that starts
  kCallDeadline,  // seq = the call number
  kReminder,      // seq = the reminder number (1, 2, ...)
};
std::string_view TimerKindName(TimerKind kind);  // "next_round", "call_deadline", "reminder"
std::optional<TimerKind> ParseTimerKind(std::string_view name);

struct Incident {
  int64_t id = 0;
  Person traveler;
  std::vector<Guardian> guardians;  // in call order (call_priority, then link id)
  Settings settings;
  bool is_test = false;

  Status status = Status::kActive;
  absl::Time started_at = absl::InfinitePast();
  absl::Time ended_at = absl::InfinitePast();  // ack, cancel or escalation
  int64_t acknowledged_by = 0;                 // the guardian's user id
  std::string acknowledged_via;                // "button", "call"

  // The cascade.
  int round = 0;                  // the current round
  size_t next_index = 0;          // the next position of guardians to consider in this round
  std::vector<CallRecord> calls;  // every call placed, in order
  absl::Duration ring_used =
      absl::ZeroDuration();                 // summed ringing of ended calls (each at most its timeout)
  std::optional<absl::Time> next_round_at;  // set while waiting for the backoff
  bool calls_done = false;                  // no further call will be placed

  int reminders_sent = 0;
  int repairs = 0;               // times the auditor found nothing pending
  std::vector<int64_t> alerted;  // guardians whose alert was queued (exactly once each)

  std::string correlation_id() const;  // "incident:<id>"
  const Guardian* FindGuardian(int64_t user_id) const;
  const CallRecord* LiveCall() const;  // the call placed and not ended, if any
  // Ringing reserved so far: ended calls' ringing plus the live call's whole timeout.
  absl::Duration RingReserved() const;
};

// --- Events ---------------------------------------------------------------------------------------------

struct CallEnded {
  std::string attempt_key;  // AttemptKey(incident, number)
  CallOutcome outcome = CallOutcome::kNoAnswer;
  std::string digit;  // kDigitPressed
};

// «Я беру ответственность» (callback data AckData(incident id)).
struct AckPressed {
  int64_t user_id = 0;
  std::string bot_id = "main";
  std::string callback_id;  // "" when not a button (an admin, a test)
};

// «Отменить тревогу», /cancel, or an operator's CancelIncident (user_id 0, by_operator).
struct CancelRequested {
  int64_t user_id = 0;
  std::string bot_id = "main";
  std::string callback_id;
  bool by_operator = false;
  std::string reason;
};

struct TimerFired {
  TimerKind kind = TimerKind::kReminder;
  int seq = 0;
};

// The auditor found the open incident with nothing pending: schedule its next step.
struct Repair {};

using Event = std::variant<CallEnded, AckPressed, CancelRequested, TimerFired, Repair>;

// --- Commands: what the service does, in the transaction that commits the new state ----------------------

struct Button {
  std::string template_id;  // the label, from the catalog
  std::string data;         // callback_data
};

// notification.Send. The key is the Send's idempotency key (unique per purpose and incident).
struct SendMessage {
  std::string key;
  std::string bot_id;
  std::string chat_id;
  std::string locale;
  std::string template_id;
  std::map<std::string, std::string> params;
  std::vector<Button> buttons;  // one per row
  bool alert_priority = true;   // PRIORITY_ALERT
  bool report = false;          // report_to incident (the alert: panic -> first alert accepted)
};

// notification.Edit of the message sent with target_key: a new text (template_id "" keeps it) and, with
// remove_keyboard, no buttons.
struct EditMessage {
  std::string key;
  std::string target_key;
  std::string locale;
  std::string template_id;
  std::map<std::string, std::string> params;
  bool remove_keyboard = true;
};

// notification.AnswerCallback (template_id "" answers with no text: the spinner stops).
struct AnswerCallback {
  std::string key;
  std::string bot_id;
  std::string callback_id;
  std::string locale;
  std::string template_id;
  std::map<std::string, std::string> params;
};

// telephony.PlaceCall, reported back as OnCallOutcome with report_key = attempt_key.
struct PlaceCall {
  std::string attempt_key;
  int64_t guardian_user_id = 0;
  std::string to_e164;
  std::string locale;
  std::string template_id;  // spoken
  std::map<std::string, std::string> params;
  absl::Duration ring_timeout;
  int attempt_number = 0;
};

// telephony.Hangup of one call (its deadline passed).
struct HangupCall {
  std::string attempt_key;
};

// telephony.HangupAll of the incident's correlation id: every live call ends.
struct HangupAll {
  std::string correlation_id;
};

// A durable timer (incident.scheduled_actions): TimerFired{kind, seq} at `at`. Keys are unique.
struct Schedule {
  std::string key;
  TimerKind kind = TimerKind::kReminder;
  int seq = 0;
  absl::Time at;
};

// Cancel every pending timer of the incident (the key prefix TimerPrefix(id)).
struct CancelTimers {};

// One row of the incident's timeline.
struct TimelineEntry {
  std::string actor;  // "traveler:<id>", "guardian:<id>", "system", "operator"
  std::string what;
  std::map<std::string, std::string> detail;
};

using Command = std::variant<SendMessage, EditMessage, AnswerCallback, PlaceCall, HangupCall, HangupAll,
                             Schedule, CancelTimers, TimelineEntry>;

// --- The machine ----------------------------------------------------------------------------------------

// A new incident from its traveler, guardians (any order: sorted here), settings and id, started at `now`:
// the alerts, the confirmation, the first call, the first reminder.
struct Started {
  Incident incident;
  std::vector<Command> commands;
};
Started Start(int64_t id, Person traveler, std::vector<Guardian> guardians, const Settings& settings,
              bool is_test, absl::Time now);

// Applies one event at `now` to `incident` (changed in place) and returns what to do.
std::vector<Command> Apply(Incident& incident, const Event& event, absl::Time now);

// --- Names the service, the edge and the tests share -------------------------------------------------

std::string AttemptKey(int64_t incident_id, int number);  // "incident:<id>:call:<n>"
// The incident and call number of an attempt key; nullopt when it is not one of ours.
std::optional<std::pair<int64_t, int>> ParseAttemptKey(std::string_view key);
std::string TimerPrefix(int64_t incident_id);  // "incident:<id>:t:" (every timer key starts with it)
std::string AckData(int64_t incident_id);      // "ack:<id>"
std::string CancelData(int64_t incident_id);   // "cancel:<id>"
std::string AlertKey(int64_t incident_id, int64_t guardian_user_id);  // the alert's Send key
// The incident and guardian of an alert key (a delivery report names the alert by it); nullopt otherwise.
std::optional<std::pair<int64_t, int64_t>> ParseAlertKey(std::string_view key);
std::string ConfirmationKey(int64_t incident_id);  // the traveler's confirmation

// The whole state as JSON (incidents.state_json) and back. FromJson: INVALID_ARGUMENT for what ToJson
// could not have written.
std::string ToJson(const Incident& incident);
absl::StatusOr<Incident> FromJson(std::string_view json);

}  // namespace protectogram::incident::core
