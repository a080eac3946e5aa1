// incident_sim_bench: the deterministic simulation (tests/unit/incident/simulation.h) at scale — how many
// simulated incidents and core events per second one core runs with every invariant checked after every step
// (docs/benchmarks.md, "Incident simulation").
//
//   incident_sim_bench [--incidents=1000000] [--seed=1] [--per-world=1000]
//
// Runs --incidents incidents as worlds of --per-world incidents each (the world of seed S, then S+1, ...; 0: one
// world with them all), on one thread. Prints key=value lines: the counts, the wall time, incidents/s and
// events/s (events: panics and core events committed). Exits 1 at the first invariant failure, with the line
// that replays it in the unit test (the same seed and size give the same run), 2 on a bad flag.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/strings/numbers.h"
#include "tests/unit/incident/simulation.h"

namespace {

using protectogram::incident::sim::RunSimulation;
using protectogram::incident::sim::SimCounts;
using protectogram::incident::sim::SimOptions;
using protectogram::incident::sim::SimResult;

bool Flag(std::string_view arg, std::string_view name, int64_t& out) {
  const std::string prefix = "--" + std::string(name) + "=";
  if (arg.substr(0, prefix.size()) != prefix) return false;
  if (!absl::SimpleAtoi(std::string(arg.substr(prefix.size())), &out) || out < 0) {
    std::fprintf(stderr, "bad value in %s\n", std::string(arg).c_str());
    std::exit(2);
  }
  return true;
}

void Print(const char* key, int64_t value) { std::printf("%s=%lld\n", key, static_cast<long long>(value)); }

}  // namespace

int main(int argc, char** argv) {
  int64_t incidents = 1'000'000;
  int64_t seed = 1;
  int64_t per_world = 1000;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (!Flag(arg, "incidents", incidents) && !Flag(arg, "seed", seed) &&
        !Flag(arg, "per-world", per_world)) {
      std::fprintf(stderr, "usage: %s [--incidents=N] [--seed=S] [--per-world=K]\n", argv[0]);
      return 2;
    }
  }
  if (per_world == 0 || per_world > incidents) per_world = incidents;

  SimCounts total;
  int64_t steps = 0;
  int64_t worlds = 0;
  int64_t virtual_ms = 0;
  const auto began = std::chrono::steady_clock::now();
  for (int64_t done = 0; done < incidents; done += per_world, ++worlds) {
    SimOptions options;
    options.seed = static_cast<uint64_t>(seed + worlds);
    options.incidents = static_cast<int>(std::min(per_world, incidents - done));
    const SimResult r = RunSimulation(options);
    if (!r.ok) {
      std::printf(
          "FAILED: %s\nreplay: SIM_SEED=%llu SIM_INCIDENTS=%d SIM_TRACE=%lld "
          "tests/incident_unit_test --gtest_filter='SimTest.ManySeedsHoldEveryInvariant'\n",
          r.failure.c_str(), static_cast<unsigned long long>(r.seed), options.incidents,
          static_cast<long long>(r.failed_incident));
      return 1;
    }
    total += r.counts;
    steps += r.steps;
    virtual_ms += r.virtual_ms;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();

  Print("incidents", total.incidents);
  Print("worlds", worlds);
  Print("first_seed", seed);
  Print("per_world", per_world);
  Print("steps", steps);
  std::printf("seconds=%.3f\n", seconds);
  std::printf("incidents_per_s=%.0f\n", static_cast<double>(total.incidents) / seconds);
  std::printf("events_per_s=%.0f\n", static_cast<double>(steps) / seconds);
  std::printf("virtual_days=%.1f\n", static_cast<double>(virtual_ms) / 86'400'000.0);
  Print("acknowledged", total.acknowledged);
  Print("acked_by_call", total.acked_by_call);
  Print("acked_by_button", total.acked_by_button);
  Print("acked_after_escalation", total.acked_escalated);
  Print("canceled", total.canceled);
  Print("canceled_by_operator", total.canceled_by_operator);
  Print("escalated", total.escalated);
  Print("calls_exhausted", total.calls_exhausted);
  Print("panics", total.panics);
  Print("panics_refused", total.panics_refused);
  Print("panics_beside_escalated", total.panics_beside_escalated);
  Print("core_events", total.events);
  Print("calls_placed", total.calls_placed);
  Print("calls_cut_by_cap", total.ring_cap_cut);
  Print("calls_under_min_ring", total.ring_below_min);
  Print("outcomes_delivered", total.outcomes_delivered);
  Print("outcomes_lost", total.outcomes_lost);
  Print("outcomes_late", total.outcomes_late);
  Print("outcomes_misrouted", total.outcomes_misrouted);
  Print("deadlines", total.deadlines);
  Print("hangup_alls", total.hangup_alls);
  Print("alerts", total.alerts);
  Print("reminders", total.reminders);
  Print("presses", total.presses);
  Print("cancels", total.cancels);
  Print("repairs", total.repairs);
  Print("timers_fired", total.timers_fired);
  Print("timer_races", total.timer_races);
  Print("duplicates", total.duplicates);
  Print("crashes", total.crashes);
  Print("reloads", total.reloads);
  Print("max_concurrent", total.max_concurrent);
  return 0;
}
