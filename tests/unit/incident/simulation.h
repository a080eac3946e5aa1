// A deterministic simulation of the panic flow, in the spirit of FoundationDB's and TigerBeetle's simulators
// (docs/incident.md, "Simulation"): the REAL core (services/incident/core) against a virtual clock and fake
// effects, every choice drawn from one seed, the invariants checked after every step.
//
// The world: travelers with 1–4 guardians (random policies, priority ties), panics at random times (a traveler
// with an active incident opens none: the service's partial unique index), and for every command the core emits
// an effect: PlaceCall -> the fake telephony ends the call at a random time with a random outcome and reports it
// (sometimes lost, duplicated, late past the call's deadline, or reordered with other events), a hangup ends a
// live call early (its outcome is then "canceled", or, in a race, what the guardian did), Schedule -> a durable
// timer in the queue (CancelTimers removes the incident's, but a cancelled one sometimes fires anyway), alerts
// and reminders -> guardians, strangers and the traveler pressing «Я беру ответственность» (several at the same
// virtual instant, in a random order), the traveler cancelling (sometimes twice), operators cancelling, the
// auditor's Repair. Delivery is at least once: any event may come twice. Crashes: an event's processing may
// crash before its commit (the state is not changed, the event comes again later), and between events the
// in-memory incident may be dropped and reloaded from its JSON.
//
// A step is one event (or a panic) applied and committed. After every step the Checker verifies:
//   1  at most one active incident per traveler;
//   2  exactly one acknowledgement wins: acknowledged at most once, acknowledged_by never changes, the winner is
//      a guardian of the incident; acknowledged or canceled never become anything else, escalated never active;
//      the traveler is told of the ack (or the cancel) exactly once, the operators of the escalation at most once;
//   3  no PlaceCall and no panic.reminder unless the incident was active before the step and still is after it
//      (so none on an acknowledged, canceled or escalated incident, and none after CancelTimers in a list);
//   4  every guardian with Telegram is alerted (panic.alert) exactly once: never twice, at the end once; nobody
//      else is alerted;
//   5  a guardian is called only with calls enabled and a phone, in at most 1 + max_retries distinct rounds,
//      never in a round past max_retries;
//   6  ringing within the cap: ring_used plus the live call's timeout ≤ total_ring_cap, and the same summed
//      independently from the PlaceCalls and the calls' ends, which must equal ring_used; a call rings at most
//      its guardian's ring timeout, and one cut shorter by the cap rings at least min_ring;
//   7  an active incident has a future action: at least one pending (not cancelled) timer in the queue, and
//      while its calls are not done the cascade's own: the live call's deadline, or the waiting round's timer;
//   8  at most one live call per incident (no PlaceCall while telephony still rings an earlier call of the
//      incident that was not hung up), and every attempt key is new (the next number, never reused);
//   9  every Schedule key is new and the incident's (incident.scheduled_actions.job_key is UNIQUE, done rows
//      included: a reused key would be a timer silently dropped);
//  10  the end of the cascade (ack, cancel, escalation) cancels the timers and leaves no call ringing;
//  11  a reload works: FromJson(ToJson(state)) succeeds, writes the same JSON, and decides the next event exactly
//      as the state in memory does;
//  12  liveness: an incident ends (acknowledged, canceled or escalated) within a bound of events and at the
//      latest 5 minutes after its reminder window, and when the queue is empty every incident has ended.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/time/time.h"
#include "services/incident/core/incident_core.h"

namespace protectogram::incident::sim {

// xoshiro256** seeded with splitmix64: the same stream on every compiler and standard library (std::
// distributions are implementation-defined).
class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t Next();
  int64_t Uniform(int64_t lo, int64_t hi);  // inclusive; lo when hi < lo
  double Unit();                            // [0, 1)
  bool Chance(double p) { return Unit() < p; }

 private:
  uint64_t s_[4];
};

struct SimOptions {
  uint64_t seed = 1;
  int incidents = 100;  // incidents opened (panics that were refused do not count)
  int travelers = 12;
  int people = 40;                     // travelers are the first of them; guardians are drawn from all
  int64_t mean_panic_gap_ms = 60'000;  // between panic requests
  // The world's behaviour.
  double p_custom_settings = 0.6;  // short reminder windows, small caps; otherwise the service's defaults
  double p_silent = 0.25;          // an incident where nobody presses a button or 1
  double p_ack_alert = 0.35;       // per alerted guardian: presses the alert's button
  double p_ack_reminder = 0.15;    // per reminder: its guardian presses
  double p_crowd = 0.15;           // the guardians who press do it at the same instant
  double p_cancel = 0.15;          // the traveler cancels ...
  double p_cancel_twice = 0.3;     // ... and then again
  double p_operator_cancel = 0.03;
  double p_stranger = 0.05;          // someone who is no guardian presses the button, or cancels
  double p_repair = 0.2;             // the auditor's Repair comes (1–2 times) at random moments
  double p_press_at_timer = 0.02;    // per timer scheduled: a guardian presses at exactly its instant
  double p_cancel_at_timer = 0.005;  // ... the traveler cancels at exactly its instant
  // The effects' faults.
  double p_outcome_lost = 0.05;         // a call's outcome never comes (the deadline rescues it)
  double p_outcome_late = 0.05;         // ... comes after the call's deadline
  double p_outcome_at_deadline = 0.02;  // ... comes at exactly the call's deadline
  double p_misrouted = 0.01;            // ... is also delivered to another incident
  double p_hangup_race = 0.1;           // a hung-up call reports what the guardian did, not "canceled"
  double p_duplicate = 0.05;            // any delivery comes twice
  double p_timer_race = 0.1;            // a cancelled timer still fires
  double p_crash_before_commit = 0.02;  // an event's transaction rolls back; it comes again later
  double p_reload = 0.05;               // before an event: the in-memory incident is reloaded from its JSON
  int64_t max_events_per_incident = 20'000;
  // -1: no trace; 0: every incident; > 0: that incident only (SimResult::trace).
  int64_t trace_incident = -1;
  // Tests only: a deliberately broken core. Called on the state and the commands of every Start and Apply
  // before they commit.
  std::function<void(core::Incident&, std::vector<core::Command>&)> tamper;
};

struct SimCounts {
  int64_t panics = 0;                   // panic requests (each once)
  int64_t panics_refused = 0;           // the traveler had an active incident
  int64_t panics_beside_escalated = 0;  // opened while the traveler's previous incident is escalated, open
  int64_t incidents = 0;                // opened
  int64_t events = 0;                   // core events applied and committed (Start not included)
  int64_t acknowledged = 0;             // incidents, by their end
  int64_t acked_by_call = 0;            //   via DTMF 1
  int64_t acked_by_button = 0;          //   via the button
  int64_t acked_escalated = 0;          //   after their escalation
  int64_t canceled = 0;
  int64_t canceled_by_operator = 0;
  int64_t escalated = 0;  // and stayed so
  int64_t calls_placed = 0;
  int64_t calls_exhausted = 0;  // incidents whose cascade ended without an ack (cap or rounds)
  int64_t ring_cap_cut = 0;     // calls whose ring the cap cut short
  int64_t ring_below_min =
      0;  // calls ringing less than min_ring: their guardian's own ring timeout is shorter
  int64_t outcomes_delivered = 0;
  int64_t outcomes_lost = 0;
  int64_t outcomes_late = 0;
  int64_t outcomes_misrouted = 0;
  int64_t deadlines = 0;  // HangupCall: a call's deadline passed
  int64_t hangup_alls = 0;
  int64_t alerts = 0;
  int64_t reminders = 0;
  int64_t presses = 0;  // AckPressed delivered
  int64_t cancels = 0;  // CancelRequested delivered
  int64_t repairs = 0;  // Repair delivered
  int64_t timers_fired = 0;
  int64_t timer_races = 0;  // cancelled timers that fired anyway
  int64_t duplicates = 0;   // deliveries made twice
  int64_t crashes = 0;      // transactions rolled back
  int64_t reloads = 0;
  int64_t max_concurrent = 0;  // incidents alive at once
  SimCounts& operator+=(const SimCounts& o);
};

struct SimResult {
  bool ok = true;
  std::string failure;  // names the seed, the step, the incident and the invariant
  uint64_t seed = 0;
  int64_t steps = 0;  // panics committed plus events committed
  int incidents = 0;
  int64_t failed_incident = 0;
  int64_t failed_step = 0;
  int64_t virtual_ms = 0;   // the virtual clock at the end
  uint64_t trace_hash = 0;  // of every step: event, time, incident, commands, status
  SimCounts counts;
  std::vector<std::string> trace;  // SimOptions::trace_incident
};

SimResult RunSimulation(const SimOptions& options);

// One line per event and command, for traces and failure messages.
std::string Describe(const core::Event& event);
std::string Describe(const core::Command& command);

// The invariants (the list at the top), fed what the core committed and what the fakes know. The first
// violation is kept (failure()); every method returns false once one is found. Usable on hand-built traces.
class Checker {
 public:
  explicit Checker(uint64_t seed = 0) : seed_(seed) {}

  void set_step(int64_t step) { step_ = step; }

  // Start committed `incident` with `commands` at `now`.
  bool OnStarted(const core::Incident& incident, const std::vector<core::Command>& commands, absl::Time now);
  // An event committed: the incident after it, and the commands it emitted.
  bool OnApplied(const core::Incident& incident, const std::vector<core::Command>& commands, absl::Time now);
  // The fake telephony's word: call `number` of the incident ends by itself at `at` (earlier if hung up). A
  // call with no such word rings until it is hung up.
  void OnCallWillEnd(int64_t incident_id, int number, absl::Time at);
  // After a step at `now`: the incident's pending timers in the queue (invariants 7 and 12).
  bool CheckPending(const core::Incident& incident, const std::vector<core::TimerFired>& pending,
                    absl::Time now);
  // Nothing of the incident is pending any more: the end-of-incident checks, then the incident is forgotten.
  bool OnRetired(const core::Incident& incident);
  // A violation the caller found (invariants 11 and 12 are checked by the simulator).
  bool Fail(int invariant, int64_t incident_id, const std::string& what);

  bool ok() const { return failure_.empty(); }
  const std::string& failure() const { return failure_; }
  int64_t failed_incident() const { return failed_incident_; }
  int64_t failed_step() const { return failed_step_; }
  size_t tracked() const { return tracks_.size(); }

 private:
  struct GuardianTrack {
    int64_t user_id = 0;
    bool telegram = false;  // telegram_enabled and a chat
    bool callable = false;  // calls_enabled and a phone
    int max_retries = 0;
    absl::Duration ring = absl::ZeroDuration();
    int alerts = 0;
    int calls = 0;
    std::vector<int> rounds;
  };
  struct CallTrack {
    int64_t guardian = 0;
    absl::Time placed_at;
    absl::Duration ring;
    absl::Time ends_at = absl::InfiniteFuture();  // in telephony
    bool hung_up = false;
  };
  struct Track {
    int64_t traveler = 0;
    core::Status status = core::Status::kActive;
    int64_t acknowledged_by = 0;
    absl::Duration cap;
    absl::Duration min_ring;
    std::vector<GuardianTrack> guardians;
    std::vector<CallTrack> calls;
    std::unordered_set<std::string> timer_keys;
    int told_acknowledged = 0;  // panic.acknowledged_traveler
    int told_canceled = 0;      // panic.canceled_traveler
    int told_escalated = 0;     // operator.incident_escalated
    GuardianTrack* Find(int64_t user_id);
  };

  bool Check(Track& track, const core::Incident& incident, const std::vector<core::Command>& commands,
             absl::Time now);
  bool LiveIn(const Track& track, absl::Time now, int except_number) const;

  uint64_t seed_;
  int64_t step_ = 0;
  std::string failure_;
  int64_t failed_incident_ = 0;
  int64_t failed_step_ = 0;
  std::unordered_map<int64_t, Track> tracks_;
  std::unordered_map<int64_t, int64_t> active_of_traveler_;  // traveler -> the active incident
};

}  // namespace protectogram::incident::sim
