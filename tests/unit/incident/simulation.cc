#include "tests/unit/incident/simulation.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace protectogram::incident::sim {

using core::CallOutcome;
using core::Status;

// --- Rng ----------------------------------------------------------------------------------------------------

namespace {
uint64_t SplitMix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(uint64_t seed) {
  uint64_t x = seed;
  for (uint64_t& s : s_) s = SplitMix(x);
}

uint64_t Rng::Next() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

int64_t Rng::Uniform(int64_t lo, int64_t hi) {
  if (hi <= lo) return lo;
  const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
  if (span == 0) return static_cast<int64_t>(Next());  // the whole range
  return lo + static_cast<int64_t>((static_cast<unsigned __int128>(Next()) * span) >> 64);
}

double Rng::Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

SimCounts& SimCounts::operator+=(const SimCounts& o) {
  panics += o.panics;
  panics_refused += o.panics_refused;
  panics_beside_escalated += o.panics_beside_escalated;
  incidents += o.incidents;
  events += o.events;
  acknowledged += o.acknowledged;
  acked_by_call += o.acked_by_call;
  acked_by_button += o.acked_by_button;
  acked_escalated += o.acked_escalated;
  canceled += o.canceled;
  canceled_by_operator += o.canceled_by_operator;
  escalated += o.escalated;
  calls_placed += o.calls_placed;
  calls_exhausted += o.calls_exhausted;
  ring_cap_cut += o.ring_cap_cut;
  ring_below_min += o.ring_below_min;
  outcomes_delivered += o.outcomes_delivered;
  outcomes_lost += o.outcomes_lost;
  outcomes_late += o.outcomes_late;
  outcomes_misrouted += o.outcomes_misrouted;
  deadlines += o.deadlines;
  hangup_alls += o.hangup_alls;
  alerts += o.alerts;
  reminders += o.reminders;
  presses += o.presses;
  cancels += o.cancels;
  repairs += o.repairs;
  timers_fired += o.timers_fired;
  timer_races += o.timer_races;
  duplicates += o.duplicates;
  crashes += o.crashes;
  reloads += o.reloads;
  max_concurrent = std::max(max_concurrent, o.max_concurrent);
  return *this;
}

// --- Describe -------------------------------------------------------------------------------------------

namespace {

const absl::Time kEpoch = absl::FromUnixSeconds(1'700'000'000);
constexpr int64_t kMs = 1000;
constexpr int64_t kSec = 1'000'000;
constexpr int64_t kMin = 60 * kSec;

std::string Secs(absl::Duration d) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.6fs", absl::ToDoubleSeconds(d));
  return buf;
}
std::string At(absl::Time t) { return "+" + Secs(t - kEpoch); }

}  // namespace

std::string Describe(const core::Event& event) {
  return std::visit(
      [](const auto& e) -> std::string {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, core::CallEnded>) {
          return absl::StrCat("CallEnded(", e.attempt_key, ", ",
                              std::string(core::CallOutcomeName(e.outcome)), e.digit.empty() ? "" : " digit ",
                              e.digit, ")");
        } else if constexpr (std::is_same_v<E, core::AckPressed>) {
          return absl::StrCat("AckPressed(user ", e.user_id, e.callback_id.empty() ? ", no button" : ", ",
                              e.callback_id, ")");
        } else if constexpr (std::is_same_v<E, core::CancelRequested>) {
          return e.by_operator ? std::string("CancelRequested(operator)")
                               : absl::StrCat("CancelRequested(user ", e.user_id, ")");
        } else if constexpr (std::is_same_v<E, core::TimerFired>) {
          return absl::StrCat("TimerFired(", std::string(core::TimerKindName(e.kind)), " ", e.seq, ")");
        } else {
          return "Repair";
        }
      },
      event);
}

std::string Describe(const core::Command& command) {
  return std::visit(
      [](const auto& c) -> std::string {
        using C = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<C, core::SendMessage>) {
          return absl::StrCat("Send(", c.template_id, " -> chat ", c.chat_id, ", ", c.key, ")");
        } else if constexpr (std::is_same_v<C, core::EditMessage>) {
          return absl::StrCat("Edit(", c.target_key, c.template_id.empty() ? "" : ", ", c.template_id, ")");
        } else if constexpr (std::is_same_v<C, core::AnswerCallback>) {
          return absl::StrCat("Answer(", c.callback_id, c.template_id.empty() ? "" : ", ", c.template_id,
                              ")");
        } else if constexpr (std::is_same_v<C, core::PlaceCall>) {
          return absl::StrCat("PlaceCall(", c.attempt_key, " -> user ", c.guardian_user_id, ", ring ",
                              Secs(c.ring_timeout), ")");
        } else if constexpr (std::is_same_v<C, core::HangupCall>) {
          return absl::StrCat("HangupCall(", c.attempt_key, ")");
        } else if constexpr (std::is_same_v<C, core::HangupAll>) {
          return absl::StrCat("HangupAll(", c.correlation_id, ")");
        } else if constexpr (std::is_same_v<C, core::Schedule>) {
          return absl::StrCat("Schedule(", c.key, " at ", At(c.at), ")");
        } else if constexpr (std::is_same_v<C, core::CancelTimers>) {
          return "CancelTimers";
        } else {
          return absl::StrCat("Timeline(", c.actor, " ", c.what, ")");
        }
      },
      command);
}

// --- Checker --------------------------------------------------------------------------------------------

namespace {

const char* InvariantName(int n) {
  switch (n) {
    case 1:
      return "at most one active incident per traveler";
    case 2:
      return "exactly one acknowledgement wins";
    case 3:
      return "no call and no reminder once the incident is not active";
    case 4:
      return "every Telegram guardian alerted exactly once";
    case 5:
      return "at most 1 + max_retries rounds per guardian";
    case 6:
      return "ringing within the cap";
    case 7:
      return "an active incident has a pending timer";
    case 8:
      return "one live call at a time, every attempt key new";
    case 9:
      return "every timer key new";
    case 10:
      return "an ending stops everything";
    case 11:
      return "a reload decides as the state in memory";
    case 12:
      return "every incident ends";
  }
  return "?";
}

std::string Name(Status s) { return std::string(core::StatusName(s)); }

}  // namespace

Checker::GuardianTrack* Checker::Track::Find(int64_t user_id) {
  for (GuardianTrack& g : guardians) {
    if (g.user_id == user_id) return &g;
  }
  return nullptr;
}

bool Checker::Fail(int invariant, int64_t incident_id, const std::string& what) {
  if (!failure_.empty()) return false;
  failure_ = absl::StrCat("invariant ", invariant, " (", InvariantName(invariant), "): seed ", seed_,
                          ", step ", step_, ", incident ", incident_id, ": ", what);
  failed_incident_ = incident_id;
  failed_step_ = step_;
  return false;
}

bool Checker::LiveIn(const Track& track, absl::Time now, int except_number) const {
  for (size_t i = 0; i < track.calls.size(); ++i) {
    const CallTrack& c = track.calls[i];
    if (static_cast<int>(i) + 1 != except_number && !c.hung_up && c.ends_at > now) return true;
  }
  return false;
}

bool Checker::OnStarted(const core::Incident& incident, const std::vector<core::Command>& commands,
                        absl::Time now) {
  if (!ok()) return false;
  if (tracks_.count(incident.id) != 0) return Fail(8, incident.id, "the incident id was used before");
  Track& t = tracks_[incident.id];
  t.traveler = incident.traveler.user_id;
  t.status = Status::kActive;  // what Start's commands are checked against
  t.cap = incident.settings.total_ring_cap;
  t.min_ring = incident.settings.min_ring;
  for (const core::Guardian& g : incident.guardians) {
    t.guardians.push_back(GuardianTrack{.user_id = g.person.user_id,
                                        .telegram = g.telegram_enabled && !g.person.chat_id.empty(),
                                        .callable = g.calls_enabled && !g.person.phone_e164.empty(),
                                        .max_retries = g.policy.max_retries,
                                        .ring = g.policy.ring_timeout});
  }
  if (incident.status != Status::kActive) {
    return Fail(2, incident.id, absl::StrCat("Start made an incident ", Name(incident.status)));
  }
  auto [it, inserted] = active_of_traveler_.emplace(t.traveler, incident.id);
  if (!inserted && it->second != incident.id) {
    return Fail(
        1, incident.id,
        absl::StrCat("traveler ", t.traveler, " has active incidents ", it->second, " and ", incident.id));
  }
  return Check(t, incident, commands, now);
}

bool Checker::OnApplied(const core::Incident& incident, const std::vector<core::Command>& commands,
                        absl::Time now) {
  if (!ok()) return false;
  auto it = tracks_.find(incident.id);
  if (it == tracks_.end()) return Fail(8, incident.id, "an event for an incident that was never started");
  return Check(it->second, incident, commands, now);
}

void Checker::OnCallWillEnd(int64_t incident_id, int number, absl::Time at) {
  auto it = tracks_.find(incident_id);
  if (it == tracks_.end() || number < 1 || number > static_cast<int>(it->second.calls.size())) return;
  CallTrack& c = it->second.calls[number - 1];
  if (!c.hung_up) c.ends_at = at;
}

bool Checker::Check(Track& t, const core::Incident& inc, const std::vector<core::Command>& commands,
                    absl::Time now) {
  const Status before = t.status;
  const Status after = inc.status;
  const int64_t id = inc.id;

  // 2: the status only moves forward, and the first acknowledgement stays.
  if ((before == Status::kAcknowledged || before == Status::kCanceled) && after != before) {
    return Fail(2, id, absl::StrCat("an incident ", Name(before), " became ", Name(after)));
  }
  if (before == Status::kEscalated && after == Status::kActive) {
    return Fail(2, id, "an escalated incident became active again");
  }
  if (after == Status::kAcknowledged) {
    if (before != Status::kAcknowledged) {
      if (t.Find(inc.acknowledged_by) == nullptr) {
        return Fail(2, id,
                    absl::StrCat("acknowledged by user ", inc.acknowledged_by,
                                 ", who is no guardian of the incident"));
      }
      t.acknowledged_by = inc.acknowledged_by;
    } else if (inc.acknowledged_by != t.acknowledged_by) {
      return Fail(
          2, id,
          absl::StrCat("acknowledged_by changed from ", t.acknowledged_by, " to ", inc.acknowledged_by));
    }
  } else if (inc.acknowledged_by != 0) {
    return Fail(2, id,
                absl::StrCat("acknowledged_by is ", inc.acknowledged_by, " on an incident ", Name(after)));
  }

  const bool cascade_runs = before == Status::kActive && after == Status::kActive;
  const std::string step = absl::StrCat(" in a step from ", Name(before), " to ", Name(after));
  bool stopped = false;  // CancelTimers seen
  for (const core::Command& command : commands) {
    if (const auto* p = std::get_if<core::PlaceCall>(&command)) {
      // 3
      if (!cascade_runs) return Fail(3, id, absl::StrCat("PlaceCall ", p->attempt_key, step));
      if (stopped) return Fail(3, id, absl::StrCat("PlaceCall ", p->attempt_key, " after CancelTimers"));
      // 8
      const int number = static_cast<int>(t.calls.size()) + 1;
      if (p->attempt_key != core::AttemptKey(id, number) || p->attempt_number != number) {
        return Fail(8, id,
                    absl::StrCat("PlaceCall ", p->attempt_key, " (attempt ", p->attempt_number,
                                 ") is not the new attempt ", core::AttemptKey(id, number)));
      }
      for (size_t i = 0; i < t.calls.size(); ++i) {
        const CallTrack& c = t.calls[i];
        if (!c.hung_up && c.ends_at > now) {
          return Fail(8, id,
                      absl::StrCat("PlaceCall ", p->attempt_key, " while call ", i + 1,
                                   " still rings in telephony and was not hung up"));
        }
      }
      // 5
      GuardianTrack* g = t.Find(p->guardian_user_id);
      if (g == nullptr) {
        return Fail(5, id, absl::StrCat("PlaceCall to user ", p->guardian_user_id, ", no guardian"));
      }
      if (!g->callable) {
        return Fail(5, id, absl::StrCat("called guardian ", g->user_id, ", who has calls off or no phone"));
      }
      const int round = number <= static_cast<int>(inc.calls.size())
                            ? inc.calls[static_cast<size_t>(number) - 1].round
                            : -1;
      if (round < 0 || round > g->max_retries) {
        return Fail(5, id,
                    absl::StrCat("guardian ", g->user_id, " called in round ", round, ", past max_retries ",
                                 g->max_retries));
      }
      ++g->calls;
      if (std::find(g->rounds.begin(), g->rounds.end(), round) == g->rounds.end()) g->rounds.push_back(round);
      if (g->calls > 1 + g->max_retries || static_cast<int>(g->rounds.size()) > 1 + g->max_retries) {
        return Fail(
            5, id,
            absl::StrCat("guardian ", g->user_id, " called ", g->calls, " times in ", g->rounds.size(),
                         " rounds, more than 1 + max_retries (", g->max_retries, ")"));
      }
      // 6
      if (p->ring_timeout <= absl::ZeroDuration() || p->ring_timeout > g->ring) {
        return Fail(6, id,
                    absl::StrCat("call ", number, " rings ", Secs(p->ring_timeout), ", its guardian's ",
                                 "ring timeout is ", Secs(g->ring)));
      }
      if (p->ring_timeout < g->ring && p->ring_timeout < t.min_ring) {
        return Fail(6, id,
                    absl::StrCat("call ", number, " cut by the cap to ", Secs(p->ring_timeout),
                                 ", below min_ring ", Secs(t.min_ring)));
      }
      t.calls.push_back(CallTrack{.guardian = g->user_id, .placed_at = now, .ring = p->ring_timeout});
    } else if (const auto* h = std::get_if<core::HangupCall>(&command)) {
      const std::optional<std::pair<int64_t, int>> key = core::ParseAttemptKey(h->attempt_key);
      if (!key || key->first != id || key->second > static_cast<int>(t.calls.size())) {
        return Fail(8, id, absl::StrCat("HangupCall of ", h->attempt_key, ", no call of this incident"));
      }
      CallTrack& c = t.calls[static_cast<size_t>(key->second) - 1];
      if (!c.hung_up && c.ends_at > now) {
        c.hung_up = true;
        c.ends_at = now;
      }
    } else if (const auto* all = std::get_if<core::HangupAll>(&command)) {
      if (all->correlation_id != inc.correlation_id()) {
        return Fail(10, id, absl::StrCat("HangupAll of ", all->correlation_id, ", not this incident"));
      }
      for (CallTrack& c : t.calls) {
        if (!c.hung_up && c.ends_at > now) {
          c.hung_up = true;
          c.ends_at = now;
        }
      }
    } else if (std::holds_alternative<core::CancelTimers>(command)) {
      stopped = true;
    } else if (const auto* s = std::get_if<core::Schedule>(&command)) {
      // 9
      if (!absl::StartsWith(s->key, core::TimerPrefix(id))) {
        return Fail(9, id, absl::StrCat("timer key ", s->key, " is not the incident's"));
      }
      if (!t.timer_keys.insert(s->key).second) {
        return Fail(9, id, absl::StrCat("timer key ", s->key, " scheduled twice"));
      }
    } else if (const auto* m = std::get_if<core::SendMessage>(&command)) {
      // 2: one ending, told once.
      int* told = m->template_id == "panic.acknowledged_traveler"   ? &t.told_acknowledged
                  : m->template_id == "panic.canceled_traveler"     ? &t.told_canceled
                  : m->template_id == "operator.incident_escalated" ? &t.told_escalated
                                                                    : nullptr;
      if (told != nullptr && ++*told > 1) {
        return Fail(2, id, absl::StrCat(m->template_id, " sent ", *told, " times"));
      }
      if (told == &t.told_acknowledged && after != Status::kAcknowledged) {
        return Fail(2, id, absl::StrCat(m->template_id, " on an incident ", Name(after)));
      }
      if (m->template_id == "panic.reminder") {
        // 3
        if (!cascade_runs) return Fail(3, id, absl::StrCat("reminder ", m->key, step));
        if (stopped) return Fail(3, id, absl::StrCat("reminder ", m->key, " after CancelTimers"));
      } else if (m->template_id == "panic.alert") {
        // 4
        GuardianTrack* g = nullptr;
        for (GuardianTrack& x : t.guardians) {
          if (m->key == core::AlertKey(id, x.user_id)) g = &x;
        }
        if (g == nullptr)
          return Fail(4, id, absl::StrCat("alert ", m->key, " to someone who is no guardian"));
        if (!g->telegram) {
          return Fail(4, id, absl::StrCat("alert to guardian ", g->user_id, ", who has no Telegram"));
        }
        if (++g->alerts > 1) {
          return Fail(4, id, absl::StrCat("guardian ", g->user_id, " alerted ", g->alerts, " times"));
        }
      }
    }
  }

  // 10: the cascade's end stops its timers and its calls.
  if (before != after && after != Status::kActive) {
    if (!stopped) return Fail(10, id, absl::StrCat("became ", Name(after), " without CancelTimers"));
    for (size_t i = 0; i < t.calls.size(); ++i) {
      const CallTrack& c = t.calls[i];
      if (!c.hung_up && c.ends_at > now) {
        return Fail(10, id, absl::StrCat("became ", Name(after), " while call ", i + 1, " still rings"));
      }
    }
  }

  // 6 (and 8: the core's record of calls is the calls it placed).
  if (inc.calls.size() != t.calls.size()) {
    return Fail(
        8, id,
        absl::StrCat("the state records ", inc.calls.size(), " calls, ", t.calls.size(), " were placed"));
  }
  absl::Duration charged = absl::ZeroDuration();
  absl::Duration live = absl::ZeroDuration();
  for (size_t i = 0; i < inc.calls.size(); ++i) {
    const core::CallRecord& r = inc.calls[i];
    const CallTrack& c = t.calls[i];
    if (r.guardian_user_id != c.guardian) {
      return Fail(8, id,
                  absl::StrCat("call ", i + 1, " recorded for user ", r.guardian_user_id, ", placed to ",
                               c.guardian));
    }
    if (r.ended) {
      charged += std::clamp(r.ended_at - c.placed_at, absl::ZeroDuration(), c.ring);
    } else if (i + 1 == inc.calls.size()) {
      live = c.ring;
    } else {
      return Fail(
          8, id,
          absl::StrCat("call ", i + 1, " never ended, and call ", inc.calls.size(), " was placed after it"));
    }
  }
  if (inc.RingReserved() > t.cap) {
    return Fail(6, id,
                absl::StrCat("ring_used ", Secs(inc.ring_used), " + the live call's ",
                             Secs(inc.RingReserved() - inc.ring_used), " is over the cap ", Secs(t.cap)));
  }
  if (charged + live > t.cap) {
    return Fail(6, id,
                absl::StrCat("the calls rang ", Secs(charged), " + the live call's ", Secs(live),
                             ", over the cap ", Secs(t.cap)));
  }
  if (charged != inc.ring_used) {
    return Fail(6, id,
                absl::StrCat("ring_used is ", Secs(inc.ring_used), ", the calls rang ", Secs(charged)));
  }

  // 1
  if (before == Status::kActive && after != Status::kActive) {
    auto it = active_of_traveler_.find(t.traveler);
    if (it != active_of_traveler_.end() && it->second == id) active_of_traveler_.erase(it);
  }
  t.status = after;
  return true;
}

bool Checker::CheckPending(const core::Incident& incident, const std::vector<core::TimerFired>& pending,
                           absl::Time now) {
  if (!ok()) return false;
  if (incident.status != Status::kActive) return true;
  if (pending.empty()) return Fail(7, incident.id, "active with no pending timer: nothing will ever move it");
  auto has = [&](core::TimerKind kind, int seq) {
    return std::any_of(pending.begin(), pending.end(),
                       [&](const core::TimerFired& t) { return t.kind == kind && t.seq == seq; });
  };
  if (!incident.calls_done) {
    if (const core::CallRecord* live = incident.LiveCall()) {
      if (!has(core::TimerKind::kCallDeadline, live->number)) {
        return Fail(7, incident.id,
                    absl::StrCat("call ", live->number, " is live and no deadline of it is pending"));
      }
    } else if (incident.next_round_at.has_value()) {
      if (!has(core::TimerKind::kNextRound, incident.round + 1)) {
        return Fail(7, incident.id,
                    absl::StrCat("round ", incident.round + 1, " waits and no timer of it is pending"));
      }
    } else {
      return Fail(7, incident.id,
                  "the cascade stalled: its calls are not done, none is live, no round waits");
    }
  }
  if (now > incident.started_at + incident.settings.reminder_window + absl::Minutes(5)) {
    return Fail(12, incident.id,
                absl::StrCat("still active at ", Secs(now - incident.started_at), ", its reminder window is ",
                             Secs(incident.settings.reminder_window)));
  }
  return true;
}

bool Checker::OnRetired(const core::Incident& incident) {
  if (!ok()) return false;
  auto it = tracks_.find(incident.id);
  if (it == tracks_.end()) return true;
  const Track& t = it->second;
  if (incident.status == Status::kActive) return Fail(12, incident.id, "nothing pending, and still active");
  if (incident.status == Status::kAcknowledged && t.told_acknowledged != 1) {
    return Fail(2, incident.id,
                absl::StrCat("acknowledged, the traveler told ", t.told_acknowledged, " times"));
  }
  if (incident.status == Status::kCanceled && t.told_canceled != 1) {
    return Fail(2, incident.id, absl::StrCat("canceled, the traveler told ", t.told_canceled, " times"));
  }
  for (const GuardianTrack& g : t.guardians) {
    if (g.telegram && g.alerts != 1) {
      return Fail(4, incident.id,
                  absl::StrCat("guardian ", g.user_id, " has Telegram and was alerted ", g.alerts, " times"));
    }
  }
  tracks_.erase(it);
  return true;
}

// --- The simulator ----------------------------------------------------------------------------------------

namespace {

uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h * 0x100000001b3ULL;
}
uint64_t Mix(uint64_t h, const std::string& s) {
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return Mix(h, s.size());
}
uint64_t Mix(uint64_t h, absl::Time t) { return Mix(h, static_cast<uint64_t>(absl::ToUnixMicros(t))); }
uint64_t Mix(uint64_t h, absl::Duration d) {
  return Mix(h, static_cast<uint64_t>(absl::ToInt64Microseconds(d)));
}

uint64_t HashEvent(uint64_t h, const core::Event& event) {
  h = Mix(h, event.index());
  std::visit(
      [&](const auto& e) {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, core::CallEnded>) {
          h = Mix(Mix(Mix(h, e.attempt_key), static_cast<uint64_t>(e.outcome)), e.digit);
        } else if constexpr (std::is_same_v<E, core::AckPressed>) {
          h = Mix(Mix(h, static_cast<uint64_t>(e.user_id)), e.callback_id);
        } else if constexpr (std::is_same_v<E, core::CancelRequested>) {
          h = Mix(Mix(h, static_cast<uint64_t>(e.user_id)), e.by_operator ? 1 : 0);
        } else if constexpr (std::is_same_v<E, core::TimerFired>) {
          h = Mix(Mix(h, static_cast<uint64_t>(e.kind)), static_cast<uint64_t>(e.seq));
        }
      },
      event);
  return h;
}

uint64_t HashCommands(uint64_t h, const std::vector<core::Command>& commands) {
  for (const core::Command& command : commands) {
    h = Mix(h, command.index());
    std::visit(
        [&](const auto& c) {
          using C = std::decay_t<decltype(c)>;
          if constexpr (std::is_same_v<C, core::SendMessage>) {
            h = Mix(Mix(Mix(h, c.key), c.template_id), c.chat_id);
          } else if constexpr (std::is_same_v<C, core::EditMessage>) {
            h = Mix(Mix(h, c.key), c.template_id);
          } else if constexpr (std::is_same_v<C, core::AnswerCallback>) {
            h = Mix(Mix(h, c.key), c.template_id);
          } else if constexpr (std::is_same_v<C, core::PlaceCall>) {
            h = Mix(Mix(Mix(h, c.attempt_key), static_cast<uint64_t>(c.guardian_user_id)), c.ring_timeout);
          } else if constexpr (std::is_same_v<C, core::HangupCall>) {
            h = Mix(h, c.attempt_key);
          } else if constexpr (std::is_same_v<C, core::HangupAll>) {
            h = Mix(h, c.correlation_id);
          } else if constexpr (std::is_same_v<C, core::Schedule>) {
            h = Mix(Mix(h, c.key), c.at);
          } else if constexpr (std::is_same_v<C, core::TimelineEntry>) {
            h = Mix(Mix(h, c.actor), c.what);
          }
        },
        command);
  }
  return h;
}

enum class Kind : uint8_t { kSource, kPanic, kCore };

// One delivery in the queue.
struct Entry {
  Kind kind = Kind::kCore;
  bool timer = false;      // a durable timer firing
  bool pending = false;    // counts as the incident's pending timer (not a duplicate, not cancelled)
  bool cancelled = false;  // dropped when its time comes
  bool duplicate = false;  // the second delivery of something
  bool in_use = false;
  uint32_t gen = 0;
  int64_t incident = 0;
  int64_t request = 0;  // kPanic
  int traveler = 0;     // kPanic
  core::Event event;
};

struct Ref {
  uint32_t slot = 0;
  uint32_t gen = 0;
};

struct QueueKey {
  int64_t at;     // virtual µs
  uint64_t tie;   // drawn from the seed: simultaneous deliveries come in a random, reproducible order
  uint32_t slot;  // never equal for two live entries
  bool operator>(const QueueKey& o) const { return std::tie(at, tie, slot) > std::tie(o.at, o.tie, o.slot); }
};

// A call as the fake telephony sees it.
struct FakeCall {
  int64_t placed = 0;
  int64_t ring = 0;
  int64_t ends_at = 0;
  CallOutcome outcome = CallOutcome::kNoAnswer;
  std::string digit;
  bool hung_up = false;
  std::vector<Ref> reports;  // its outcome's deliveries still queued
};

// An incident the world still knows about (it is retired when nothing of it is queued).
struct Live {
  core::Incident inc;
  int traveler = 0;
  int pending = 0;  // pending timers in the queue
  int queued = 0;   // entries of any kind in the queue
  int64_t applied = 0;
  bool silent = false;
  bool was_escalated = false;
  bool by_operator = false;
  std::vector<Ref> timers;
  std::vector<FakeCall> calls;  // by number - 1
};

struct Traveler {
  core::Person person;
  std::vector<core::Guardian> guardians;
  int64_t active = 0;      // the committed active incident, 0 none
  int open_escalated = 0;  // incidents escalated and not yet acknowledged or canceled
};

class World {
 public:
  explicit World(const SimOptions& options) : o_(options), rng_(options.seed), checker_(options.seed) {}

  SimResult Run();

 private:
  absl::Time Now() const { return kEpoch + absl::Microseconds(now_); }
  static int64_t Us(absl::Duration d) { return absl::ToInt64Microseconds(d); }
  static int64_t Us(absl::Time t) { return absl::ToInt64Microseconds(t - kEpoch); }
  int64_t Between(int64_t lo, int64_t hi) { return rng_.Uniform(lo, hi); }
  bool Tracing(int64_t incident) const {
    return o_.trace_incident == 0 || (o_.trace_incident > 0 && o_.trace_incident == incident);
  }
  void Trace(int64_t incident, const std::string& line) {
    if (Tracing(incident)) {
      result_.trace.push_back(absl::StrCat("[", At(Now()), "] #", incident, " ", line));
    }
  }

  // The queue.
  Ref Push(int64_t at, Entry entry);
  Entry* Get(Ref ref);
  Ref PushCore(Live& live, int64_t at, core::Event event, bool timer, bool pending, bool duplicate = false);
  void PushPanic(int traveler, int64_t at);

  void BuildPeople();
  void RandomGuardians(Traveler& traveler);
  core::Settings RandomSettings();

  void OnSource();
  void OnPanic(Entry& entry);
  void OnCore(Live& live, Entry& entry);
  bool Reload(Live& live, const core::Event& next);
  void Execute(Live& live, const std::vector<core::Command>& commands);
  void Place(Live& live, const core::PlaceCall& call);
  void Hangup(Live& live, int number);
  void Report(Live& live, int number, CallOutcome outcome, const std::string& digit, int64_t ended_at);
  void Behave(Live& live);
  void Press(Live& live, int64_t user_id, int64_t at, bool button);
  void CancelBy(Live& live, int64_t user_id, bool by_operator, int64_t at);
  void AfterCommit(Live& live, Status before);
  const std::vector<core::TimerFired>& PendingOf(Live& live);
  void MaybeRetire(int64_t id);

  const SimOptions& o_;
  Rng rng_;
  Checker checker_;
  SimResult result_;
  int64_t now_ = 0;  // virtual µs since kEpoch
  int64_t steps_ = 0;
  uint64_t hash_ = 0xcbf29ce484222325ULL;
  std::vector<Entry> slots_;
  std::vector<uint32_t> free_;
  std::priority_queue<QueueKey, std::vector<QueueKey>, std::greater<>> heap_;
  std::vector<core::Person> people_;
  std::vector<Traveler> travelers_;
  std::unordered_map<int64_t, std::unique_ptr<Live>> live_;  // looked up only, never iterated for a decision
  std::unordered_set<int64_t> done_requests_;                // the inbox: panics already handled
  std::vector<core::TimerFired> pending_;                    // PendingOf's answer
  int64_t last_id_ = 0;
  int64_t last_request_ = 0;
  int64_t last_link_ = 0;
  int64_t last_callback_ = 0;
  int opened_ = 0;
  int outstanding_ = 0;  // panic requests not yet handled
  int last_traveler_ = -1;
  std::optional<core::Event> last_event_;  // the last step (none: a Start), for a failure message
  int64_t last_at_ = 0;
};

Ref World::Push(int64_t at, Entry entry) {
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  entry.gen = slots_[slot].gen;
  entry.in_use = true;
  slots_[slot] = std::move(entry);
  heap_.push(QueueKey{.at = std::max(at, now_), .tie = rng_.Next(), .slot = slot});
  return Ref{.slot = slot, .gen = slots_[slot].gen};
}

Entry* World::Get(Ref ref) {
  Entry& e = slots_[ref.slot];
  return e.in_use && e.gen == ref.gen ? &e : nullptr;
}

Ref World::PushCore(Live& live, int64_t at, core::Event event, bool timer, bool pending, bool duplicate) {
  ++live.queued;
  if (pending) ++live.pending;
  const Ref ref = Push(at, Entry{.kind = Kind::kCore,
                                 .timer = timer,
                                 .pending = pending,
                                 .duplicate = duplicate,
                                 .incident = live.inc.id,
                                 .event = std::move(event)});
  if (pending) live.timers.push_back(ref);
  return ref;
}

void World::PushPanic(int traveler, int64_t at) {
  const int64_t request = ++last_request_;
  ++outstanding_;
  Push(at, Entry{.kind = Kind::kPanic, .request = request, .traveler = traveler});
  if (rng_.Chance(o_.p_duplicate)) {
    ++result_.counts.duplicates;
    Push(at + Between(0, 5 * kSec),
         Entry{.kind = Kind::kPanic, .duplicate = true, .request = request, .traveler = traveler});
  }
}

void World::BuildPeople() {
  const int people = std::max(o_.people, 2);
  for (int i = 0; i < people; ++i) {
    people_.push_back(core::Person{.user_id = 1000 + i,
                                   .name = absl::StrCat("P", i),
                                   .phone_e164 = rng_.Chance(0.85) ? absl::StrCat("+7999", 1000000 + i) : "",
                                   .chat_id = rng_.Chance(0.85) ? absl::StrCat(500000 + i) : "",
                                   .locale = rng_.Chance(0.7) ? "ru" : "en"});
  }
  const int travelers = std::clamp(o_.travelers, 1, people - 1);
  for (int i = 0; i < travelers; ++i) {
    Traveler t;
    t.person = people_[static_cast<size_t>(i)];
    if (t.person.chat_id.empty())
      t.person.chat_id = absl::StrCat(500000 + i);  // they press panic in Telegram
    RandomGuardians(t);
    travelers_.push_back(std::move(t));
  }
}

void World::RandomGuardians(Traveler& traveler) {
  std::vector<size_t> candidates;
  for (size_t i = 0; i < people_.size(); ++i) {
    if (people_[i].user_id != traveler.person.user_id) candidates.push_back(i);
  }
  const int n = static_cast<int>(std::min<int64_t>(Between(1, 4), static_cast<int64_t>(candidates.size())));
  traveler.guardians.clear();
  for (int k = 0; k < n; ++k) {
    const size_t j = static_cast<size_t>(Between(k, static_cast<int64_t>(candidates.size()) - 1));
    std::swap(candidates[static_cast<size_t>(k)], candidates[j]);
    traveler.guardians.push_back(core::Guardian{
        .person = people_[candidates[static_cast<size_t>(k)]],
        .link_id = ++last_link_,
        .call_priority = static_cast<int>(Between(0, 3)),  // ties are likely: the link id decides
        .telegram_enabled = rng_.Chance(0.85),
        .calls_enabled = rng_.Chance(0.85),
        .policy = core::Policy{
            .ring_timeout = absl::Seconds(Between(5, 60)),
            .max_retries = static_cast<int>(Between(0, 3)),
            .retry_backoff = rng_.Chance(0.2) ? absl::ZeroDuration() : absl::Seconds(Between(1, 120))}});
  }
}

core::Settings World::RandomSettings() {
  core::Settings s;
  if (rng_.Chance(o_.p_custom_settings)) {
    s.total_ring_cap = absl::Seconds(Between(30, 300));
    s.min_ring = absl::Seconds(Between(5, 20));
    s.outcome_grace = absl::Seconds(Between(5, 60));
    s.reminder_interval = absl::Seconds(Between(30, 600));
    s.reminder_window = absl::Minutes(Between(2, 40));
  }
  if (rng_.Chance(0.5)) s.operator_chat_id = "-100500";
  return s;
}

void World::OnSource() {
  if (opened_ + outstanding_ < o_.incidents) {
    int traveler = last_traveler_ >= 0 && rng_.Chance(0.1)
                       ? last_traveler_
                       : static_cast<int>(Between(0, static_cast<int64_t>(travelers_.size()) - 1));
    // Mostly someone without an active incident (a refused panic is only worth so much).
    for (int tries = 0;
         tries < 3 && travelers_[static_cast<size_t>(traveler)].active != 0 && rng_.Chance(0.8); ++tries) {
      traveler = static_cast<int>(Between(0, static_cast<int64_t>(travelers_.size()) - 1));
    }
    last_traveler_ = traveler;
    PushPanic(traveler, now_);
    // Pressed twice: the second is refused while the first is active.
    if (opened_ + outstanding_ < o_.incidents && rng_.Chance(0.08))
      PushPanic(traveler, now_ + Between(0, 3 * kSec));
  }
  if (opened_ < o_.incidents) {
    Push(now_ + Between(kMs, 2 * o_.mean_panic_gap_ms * kMs), Entry{.kind = Kind::kSource});
  }
}

void World::OnPanic(Entry& entry) {
  if (done_requests_.count(entry.request) != 0) return;  // the inbox has it: a duplicate delivery
  if (rng_.Chance(o_.p_crash_before_commit)) {
    ++result_.counts.crashes;
    entry.in_use = false;
    Push(now_ + Between(10 * kMs, 10 * kSec), std::move(entry));
    return;
  }
  done_requests_.insert(entry.request);
  --outstanding_;
  ++result_.counts.panics;
  Traveler& traveler = travelers_[static_cast<size_t>(entry.traveler)];
  hash_ = Mix(Mix(Mix(hash_, 0xa11ULL), static_cast<uint64_t>(now_)), static_cast<uint64_t>(entry.traveler));
  if (traveler.active != 0) {
    ++result_.counts.panics_refused;
    if (Tracing(traveler.active)) {
      Trace(traveler.active, absl::StrCat("panic by traveler ", traveler.person.user_id,
                                          " refused: incident ", traveler.active, " is active"));
    }
    return;
  }
  if (traveler.open_escalated > 0) ++result_.counts.panics_beside_escalated;
  if (rng_.Chance(0.3)) RandomGuardians(traveler);  // the traveler changed their guardians
  const core::Settings settings = RandomSettings();
  const int64_t id = ++last_id_;
  checker_.set_step(++steps_);
  core::Started started =
      core::Start(id, traveler.person, traveler.guardians, settings, rng_.Chance(0.05), Now());
  if (o_.tamper) o_.tamper(started.incident, started.commands);
  auto owned = std::make_unique<Live>();
  Live& live = *owned;
  live.inc = std::move(started.incident);
  live.traveler = entry.traveler;
  live.silent = rng_.Chance(o_.p_silent);
  live_.emplace(id, std::move(owned));
  ++opened_;
  result_.counts.max_concurrent = std::max<int64_t>(result_.counts.max_concurrent, live_.size());
  hash_ = HashCommands(Mix(hash_, static_cast<uint64_t>(id)), started.commands);
  last_event_ = std::nullopt;
  last_at_ = now_;
  if (Tracing(id)) {
    std::string line =
        absl::StrCat("step ", steps_, " panic by traveler ", traveler.person.user_id, ", ",
                     live.inc.guardians.size(), " guardians, cap ", Secs(settings.total_ring_cap),
                     ", window ", Secs(settings.reminder_window), " ->");
    for (const core::Guardian& g : live.inc.guardians) {
      absl::StrAppend(&line, "\n    guardian ", g.person.user_id, " prio ", g.call_priority, " link ",
                      g.link_id, g.telegram_enabled && !g.person.chat_id.empty() ? " tg" : " -",
                      g.calls_enabled && !g.person.phone_e164.empty() ? " calls" : " -", " ring ",
                      Secs(g.policy.ring_timeout), " retries ", g.policy.max_retries, " backoff ",
                      Secs(g.policy.retry_backoff));
    }
    for (const core::Command& c : started.commands) absl::StrAppend(&line, "\n    ", Describe(c));
    Trace(id, line);
  }
  if (!checker_.OnStarted(live.inc, started.commands, Now())) return;
  Execute(live, started.commands);
  Behave(live);
  checker_.CheckPending(live.inc, PendingOf(live), Now());
  AfterCommit(live, Status::kActive);
}

bool World::Reload(Live& live, const core::Event& next) {
  ++result_.counts.reloads;
  const std::string json = core::ToJson(live.inc);
  absl::StatusOr<core::Incident> back = core::FromJson(json);
  if (!back.ok()) {
    return checker_.Fail(11, live.inc.id,
                         absl::StrCat("FromJson of the committed state: ", back.status().ToString()));
  }
  if (core::ToJson(*back) != json)
    return checker_.Fail(11, live.inc.id, "the reloaded state writes other JSON");
  // The reloaded state decides exactly as the one in memory.
  core::Incident a = live.inc;
  core::Incident b = *back;
  const std::vector<core::Command> ca = core::Apply(a, next, Now());
  const std::vector<core::Command> cb = core::Apply(b, next, Now());
  if (HashCommands(0, ca) != HashCommands(0, cb) || core::ToJson(a) != core::ToJson(b)) {
    std::string what = absl::StrCat(Describe(next), " decided differently after a reload; in memory:");
    for (const core::Command& c : ca) absl::StrAppend(&what, " ", Describe(c), ";");
    absl::StrAppend(&what, " reloaded:");
    for (const core::Command& c : cb) absl::StrAppend(&what, " ", Describe(c), ";");
    return checker_.Fail(11, live.inc.id, what);
  }
  live.inc = std::move(*back);
  Trace(live.inc.id, "reloaded from JSON");
  return true;
}

void World::OnCore(Live& live, Entry& entry) {
  if (o_.p_reload > 0 && rng_.Chance(o_.p_reload) && !Reload(live, entry.event)) return;
  if (rng_.Chance(o_.p_crash_before_commit)) {
    // The transaction rolls back: whatever it decided is lost, and the event comes again.
    core::Incident copy = live.inc;
    (void)core::Apply(copy, entry.event, Now());
    ++result_.counts.crashes;
    if (Tracing(live.inc.id))
      Trace(live.inc.id, absl::StrCat(Describe(entry.event), " crashed before its commit"));
    if (entry.pending) --live.pending;  // moved to the redelivery
    PushCore(live, now_ + Between(10 * kMs, 10 * kSec), entry.event, entry.timer, entry.pending,
             entry.duplicate);
    return;
  }
  checker_.set_step(++steps_);
  if (entry.pending) --live.pending;  // the timer's row is done in this transaction
  const Status before = live.inc.status;
  std::vector<core::Command> commands = core::Apply(live.inc, entry.event, Now());
  if (o_.tamper) o_.tamper(live.inc, commands);
  SimCounts& n = result_.counts;
  ++n.events;
  std::visit(
      [&](const auto& e) {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, core::CallEnded>) {
          ++n.outcomes_delivered;
        } else if constexpr (std::is_same_v<E, core::AckPressed>) {
          ++n.presses;
        } else if constexpr (std::is_same_v<E, core::CancelRequested>) {
          ++n.cancels;
          if (e.by_operator && before != Status::kCanceled && live.inc.status == Status::kCanceled) {
            live.by_operator = true;
          }
        } else if constexpr (std::is_same_v<E, core::TimerFired>) {
          ++n.timers_fired;
        } else {
          ++n.repairs;
        }
      },
      entry.event);
  hash_ =
      HashCommands(HashEvent(Mix(Mix(hash_, static_cast<uint64_t>(now_)), static_cast<uint64_t>(live.inc.id)),
                             entry.event),
                   commands);
  hash_ = Mix(hash_, static_cast<uint64_t>(live.inc.status));
  last_event_ = entry.event;
  last_at_ = now_;
  if (Tracing(live.inc.id)) {
    std::string line =
        absl::StrCat("step ", steps_, " ", Describe(entry.event), entry.duplicate ? " (again)" : "",
                     entry.timer && !entry.pending ? " (not pending)" : "", " -> ", Name(live.inc.status));
    for (const core::Command& c : commands) absl::StrAppend(&line, "\n    ", Describe(c));
    Trace(live.inc.id, line);
  }
  if (!checker_.OnApplied(live.inc, commands, Now())) return;
  Execute(live, commands);
  checker_.CheckPending(live.inc, PendingOf(live), Now());
  AfterCommit(live, before);
  if (++live.applied > o_.max_events_per_incident) {
    checker_.Fail(12, live.inc.id,
                  absl::StrCat("still ", Name(live.inc.status), " after ", live.applied, " events"));
  }
}

const std::vector<core::TimerFired>& World::PendingOf(Live& live) {
  pending_.clear();
  for (const Ref& ref : live.timers) {
    const Entry* e = Get(ref);
    if (e != nullptr && e->pending) pending_.push_back(std::get<core::TimerFired>(e->event));
  }
  if (static_cast<int>(pending_.size()) != live.pending) {
    checker_.Fail(
        7, live.inc.id,
        absl::StrCat("the simulator counts ", live.pending, " pending timers, finds ", pending_.size()));
  }
  return pending_;
}

void World::AfterCommit(Live& live, Status before) {
  Traveler& t = travelers_[static_cast<size_t>(live.traveler)];
  const Status after = live.inc.status;
  if (after == Status::kActive) {
    t.active = live.inc.id;
  } else if (t.active == live.inc.id) {
    t.active = 0;
  }
  if (after == Status::kEscalated) live.was_escalated = true;
  if (before != Status::kEscalated && after == Status::kEscalated) ++t.open_escalated;
  if (before == Status::kEscalated && after != Status::kEscalated) --t.open_escalated;
}

void World::Execute(Live& live, const std::vector<core::Command>& commands) {
  SimCounts& n = result_.counts;
  for (const core::Command& command : commands) {
    if (const auto* p = std::get_if<core::PlaceCall>(&command)) {
      Place(live, *p);
    } else if (const auto* h = std::get_if<core::HangupCall>(&command)) {
      ++n.deadlines;
      if (auto key = core::ParseAttemptKey(h->attempt_key); key && key->first == live.inc.id) {
        Hangup(live, key->second);
      }
    } else if (std::holds_alternative<core::HangupAll>(command)) {
      ++n.hangup_alls;
      for (size_t i = 0; i < live.calls.size(); ++i) Hangup(live, static_cast<int>(i) + 1);
    } else if (const auto* s = std::get_if<core::Schedule>(&command)) {
      const int64_t at = std::max(now_, Us(s->at));
      const core::TimerFired fired{.kind = s->kind, .seq = s->seq};
      PushCore(live, at, fired, true, true);
      if (!live.silent && !live.inc.alerted.empty() && rng_.Chance(o_.p_press_at_timer)) {
        const int64_t who =
            live.inc
                .alerted[static_cast<size_t>(Between(0, static_cast<int64_t>(live.inc.alerted.size()) - 1))];
        Press(live, who, at, true);
      }
      if (rng_.Chance(o_.p_cancel_at_timer)) CancelBy(live, live.inc.traveler.user_id, false, at);
      if (rng_.Chance(o_.p_duplicate)) {
        ++n.duplicates;
        PushCore(live, at + Between(0, 5 * kSec), fired, true, false, true);
      }
    } else if (std::holds_alternative<core::CancelTimers>(command)) {
      for (const Ref& ref : live.timers) {
        Entry* e = Get(ref);
        if (e == nullptr || !e->pending) continue;
        e->pending = false;
        if (rng_.Chance(o_.p_timer_race)) {
          ++n.timer_races;  // its job was already claimed: it fires anyway
        } else {
          e->cancelled = true;
        }
      }
      live.pending = 0;
      live.timers.clear();
    } else if (const auto* m = std::get_if<core::SendMessage>(&command)) {
      if (m->template_id == "panic.alert") {
        ++n.alerts;
      } else if (m->template_id == "panic.reminder") {
        ++n.reminders;
        if (!live.silent && rng_.Chance(o_.p_ack_reminder)) {
          for (const core::Guardian& g : live.inc.guardians) {
            if (g.person.chat_id == m->chat_id)
              Press(live, g.person.user_id, now_ + Between(kSec, 90 * kSec), true);
          }
        }
      }
    }
  }
  if (live.timers.size() > 64) {  // forget the timers that fired
    std::erase_if(live.timers, [&](const Ref& ref) { return Get(ref) == nullptr; });
  }
}

void World::Place(Live& live, const core::PlaceCall& call) {
  ++result_.counts.calls_placed;
  const int number = call.attempt_number;
  if (number < 1 || number > 100'000) return;
  if (static_cast<int>(live.calls.size()) < number) live.calls.resize(static_cast<size_t>(number));
  FakeCall& c = live.calls[static_cast<size_t>(number) - 1];
  c = FakeCall{.placed = now_, .ring = Us(call.ring_timeout)};
  if (const core::Guardian* g = live.inc.FindGuardian(call.guardian_user_id);
      g != nullptr && call.ring_timeout < g->policy.ring_timeout) {
    ++result_.counts.ring_cap_cut;
  }
  if (call.ring_timeout < live.inc.settings.min_ring) ++result_.counts.ring_below_min;
  // What the guardian (or their phone) does.
  const int64_t ring = std::max<int64_t>(c.ring, kSec);
  const int64_t answer = c.placed + Between(kSec, ring - 1);
  int64_t roll = Between(0, 94);
  if (live.silent && roll < 12) roll += 12;  // nobody presses 1 in a silent incident
  if (roll < 12) {
    c.outcome = CallOutcome::kDigitPressed;
    c.digit = "1";
    c.ends_at = answer + Between(2 * kSec, 25 * kSec);
  } else if (roll < 17) {
    static const char* const kOther[] = {"0", "2", "3", "5", "9", "*", "#"};
    c.outcome = CallOutcome::kDigitPressed;
    c.digit = kOther[Between(0, 6)];
    c.ends_at = answer + Between(2 * kSec, 25 * kSec);
  } else if (roll < 27) {
    c.outcome = CallOutcome::kAnsweredNoDigit;
    c.ends_at = answer + Between(5 * kSec, 45 * kSec);
  } else if (roll < 35) {
    c.outcome = CallOutcome::kMachine;
    c.ends_at = answer + Between(3 * kSec, 40 * kSec);
  } else if (roll < 75) {
    c.outcome = CallOutcome::kNoAnswer;
    c.ends_at = c.placed + c.ring;  // at the ring timeout
  } else if (roll < 85) {
    c.outcome = CallOutcome::kBusy;
    c.ends_at = c.placed + Between(100 * kMs, 3 * kSec);
  } else {
    c.outcome = CallOutcome::kFailed;
    c.ends_at = c.placed + Between(0, 2 * kSec);
  }
  checker_.OnCallWillEnd(live.inc.id, number, kEpoch + absl::Microseconds(c.ends_at));
  if (Tracing(live.inc.id)) {
    Trace(live.inc.id, absl::StrCat("telephony: call ", number, " will end at ",
                                    At(kEpoch + absl::Microseconds(c.ends_at)), " ",
                                    std::string(core::CallOutcomeName(c.outcome)), " ", c.digit));
  }
  Report(live, number, c.outcome, c.digit, c.ends_at);
}

void World::Report(Live& live, int number, CallOutcome outcome, const std::string& digit, int64_t ended_at) {
  SimCounts& n = result_.counts;
  FakeCall& c = live.calls[static_cast<size_t>(number) - 1];
  if (rng_.Chance(o_.p_outcome_lost)) {
    ++n.outcomes_lost;
    if (Tracing(live.inc.id))
      Trace(live.inc.id, absl::StrCat("telephony: the outcome of call ", number, " is lost"));
    return;
  }
  const int64_t deadline = c.placed + c.ring + Us(live.inc.settings.outcome_grace);
  int64_t at = ended_at + Between(0, 2 * kSec);
  if (rng_.Chance(o_.p_outcome_late)) {
    ++n.outcomes_late;
    at = std::max(at, deadline + Between(kMs, 120 * kSec));
  } else if (rng_.Chance(o_.p_outcome_at_deadline)) {
    at = std::max(at, deadline);  // a tie with the deadline timer: either may come first
  }
  const core::CallEnded event{
      .attempt_key = core::AttemptKey(live.inc.id, number), .outcome = outcome, .digit = digit};
  c.reports.push_back(PushCore(live, at, event, false, false));
  if (rng_.Chance(o_.p_misrouted)) {  // the report reaches another incident too: not its call
    auto other = live_.find(live.inc.id - 1);
    if (other != live_.end()) {
      ++n.outcomes_misrouted;
      PushCore(*other->second, at, event, false, false, true);
    }
  }
  if (rng_.Chance(o_.p_duplicate)) {
    ++n.duplicates;
    c.reports.push_back(PushCore(live, at + Between(0, 20 * kSec), event, false, false, true));
  }
}

void World::Hangup(Live& live, int number) {
  if (number < 1 || number > static_cast<int>(live.calls.size())) return;
  FakeCall& c = live.calls[static_cast<size_t>(number) - 1];
  if (c.hung_up || c.ends_at <= now_) return;  // over already: its report stands
  c.hung_up = true;
  c.ends_at = now_;
  for (const Ref& ref : c.reports) {
    if (Entry* e = Get(ref)) e->cancelled = true;
  }
  c.reports.clear();
  if (Tracing(live.inc.id)) Trace(live.inc.id, absl::StrCat("telephony: call ", number, " hung up"));
  if (rng_.Chance(o_.p_hangup_race)) {
    const CallOutcome outcome = c.outcome;
    const std::string digit = c.digit;
    Report(live, number, outcome, digit, now_);  // what the guardian did, as the hangup went out
  } else {
    Report(live, number, CallOutcome::kCanceled, "", now_);
  }
}

void World::Press(Live& live, int64_t user_id, int64_t at, bool button) {
  const core::AckPressed press{.user_id = user_id,
                               .bot_id = "main",
                               .callback_id = button ? absl::StrCat("cb-", ++last_callback_) : ""};
  PushCore(live, at, press, false, false);
  if (rng_.Chance(o_.p_duplicate)) {
    ++result_.counts.duplicates;
    PushCore(live, at + Between(0, 3 * kSec), press, false, false, true);
  }
}

void World::CancelBy(Live& live, int64_t user_id, bool by_operator, int64_t at) {
  const core::CancelRequested cancel{.user_id = user_id,
                                     .bot_id = "main",
                                     .callback_id = by_operator ? "" : absl::StrCat("cb-", ++last_callback_),
                                     .by_operator = by_operator,
                                     .reason = by_operator ? "operator" : ""};
  PushCore(live, at, cancel, false, false);
  if (rng_.Chance(o_.p_duplicate)) {
    ++result_.counts.duplicates;
    PushCore(live, at + Between(0, 3 * kSec), cancel, false, false, true);
  }
}

// What the people around the incident will do, from the moment it starts.
void World::Behave(Live& live) {
  const core::Incident& inc = live.inc;
  if (!live.silent) {
    const bool crowd = rng_.Chance(o_.p_crowd);
    const int64_t crowd_at = now_ + Between(kSec, 300 * kSec);
    for (int64_t user_id : inc.alerted) {
      if (rng_.Chance(o_.p_ack_alert))
        Press(live, user_id, crowd ? crowd_at : now_ + Between(kSec, 900 * kSec), true);
    }
    for (const core::Guardian& g : inc.guardians) {  // an admin acknowledging for a guardian without Telegram
      if ((!g.telegram_enabled || g.person.chat_id.empty()) && rng_.Chance(0.03)) {
        Press(live, g.person.user_id, now_ + Between(kSec, 900 * kSec), false);
      }
    }
  }
  if (rng_.Chance(o_.p_stranger)) {
    const core::Person& p =
        people_[static_cast<size_t>(Between(0, static_cast<int64_t>(people_.size()) - 1))];
    if (inc.FindGuardian(p.user_id) == nullptr) Press(live, p.user_id, now_ + Between(0, 900 * kSec), true);
  }
  if (rng_.Chance(o_.p_stranger / 2)) Press(live, inc.traveler.user_id, now_ + Between(0, 600 * kSec), true);
  if (rng_.Chance(o_.p_stranger / 2) && !inc.guardians.empty()) {
    CancelBy(live, inc.guardians.front().person.user_id, false, now_ + Between(0, 600 * kSec));
  }
  if (rng_.Chance(o_.p_cancel)) {
    const int64_t at = now_ + Between(kSec, 20 * kMin);
    CancelBy(live, inc.traveler.user_id, false, at);
    if (rng_.Chance(o_.p_cancel_twice))
      CancelBy(live, inc.traveler.user_id, false, at + Between(0, 5 * kSec));
  }
  if (rng_.Chance(o_.p_operator_cancel)) CancelBy(live, 0, true, now_ + Between(kMin, 180 * kMin));
  if (rng_.Chance(o_.p_repair)) {
    for (int64_t k = Between(1, 2); k > 0; --k)
      PushCore(live, now_ + Between(kSec, 30 * kMin), core::Repair{}, false, false);
  }
}

void World::MaybeRetire(int64_t id) {
  auto it = live_.find(id);
  if (it == live_.end()) return;
  Live& live = *it->second;
  if (live.queued > 0 || live.inc.status == Status::kActive) return;
  if (!checker_.OnRetired(live.inc)) return;
  SimCounts& n = result_.counts;
  ++n.incidents;
  switch (live.inc.status) {
    case Status::kAcknowledged:
      ++n.acknowledged;
      if (live.inc.acknowledged_via == "call") ++n.acked_by_call;
      if (live.inc.acknowledged_via == "button") ++n.acked_by_button;
      if (live.was_escalated) ++n.acked_escalated;
      break;
    case Status::kCanceled:
      ++n.canceled;
      if (live.by_operator) ++n.canceled_by_operator;
      break;
    case Status::kEscalated:
      ++n.escalated;
      break;
    case Status::kActive:
      break;
  }
  if (live.inc.calls_done) ++n.calls_exhausted;
  live_.erase(it);
}

SimResult World::Run() {
  result_.seed = o_.seed;
  BuildPeople();
  Push(0, Entry{.kind = Kind::kSource});
  while (!heap_.empty() && checker_.ok()) {
    const QueueKey key = heap_.top();
    heap_.pop();
    Entry entry = std::move(slots_[key.slot]);
    slots_[key.slot] = Entry{.gen = entry.gen + 1};  // stale refs to the slot no longer match
    free_.push_back(key.slot);
    now_ = key.at;
    switch (entry.kind) {
      case Kind::kSource:
        OnSource();
        break;
      case Kind::kPanic:
        OnPanic(entry);
        break;
      case Kind::kCore: {
        auto it = live_.find(entry.incident);
        if (it == live_.end()) break;
        Live& live = *it->second;
        --live.queued;
        if (!entry.cancelled) OnCore(live, entry);
        MaybeRetire(entry.incident);
        break;
      }
    }
  }
  if (checker_.ok() && !live_.empty()) {
    std::map<int64_t, const Live*> left;  // in id order, for a reproducible message
    for (const auto& [id, live] : live_) left.emplace(id, live.get());
    const Live& first = *left.begin()->second;
    checker_.Fail(12, first.inc.id,
                  absl::StrCat("the queue is empty and the incident is ", Name(first.inc.status), " (",
                               left.size(), " incidents never retired)"));
  }
  result_.ok = checker_.ok();
  result_.steps = steps_;
  result_.incidents = opened_;
  result_.virtual_ms = now_ / kMs;
  result_.trace_hash = hash_;
  if (!result_.ok) {
    result_.failure =
        absl::StrCat(checker_.failure(), " (the step: ", last_event_ ? Describe(*last_event_) : "Start",
                     " at ", At(kEpoch + absl::Microseconds(last_at_)), ")");
    result_.failed_incident = checker_.failed_incident();
    result_.failed_step = checker_.failed_step();
  }
  return result_;
}

}  // namespace

SimResult RunSimulation(const SimOptions& options) { return World(options).Run(); }

}  // namespace protectogram::incident::sim
