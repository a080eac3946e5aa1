#include "libs/jobs/pacing.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"

namespace protectogram::jobs {
namespace {

int CostAt(const PaceCandidate& c, size_t i) { return i < c.costs.size() && c.costs[i] > 0 ? c.costs[i] : 1; }

absl::Time Lookup(const std::map<std::string, absl::Time>& tats, const std::string& key) {
  auto it = tats.find(key);
  return it != tats.end() ? it->second : absl::InfinitePast();
}

// The earliest time a draw of `cost` fits a bucket at `tat`.
absl::Time EarliestFit(absl::Time tat, int cost, const PaceLimit& limit) {
  if (cost > limit.burst) return tat;  // only on an empty bucket
  return tat + (cost - limit.burst) * limit.interval;
}

}  // namespace

PaceLimit PaceLimit::PerSecond(double per_second, int burst) {
  return PaceLimit{.interval = absl::Seconds(1.0 / per_second), .burst = burst};
}

absl::Status PaceLimits::Add(std::string prefix, PaceLimit limit) {
  if (limit.interval <= absl::ZeroDuration() || limit.burst < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("pace limit for ", prefix, ": the interval must be positive and the burst at least 1"));
  }
  limits_[std::move(prefix)] = limit;
  return absl::OkStatus();
}

std::optional<PaceLimit> PaceLimits::For(std::string_view key) const {
  // The longest matching prefix (a service has a handful of limits: a scan is enough).
  std::optional<PaceLimit> best;
  size_t best_length = 0;
  for (const auto& [prefix, limit] : limits_) {
    if (key.substr(0, prefix.size()) == prefix && (!best.has_value() || prefix.size() >= best_length)) {
      best = limit;
      best_length = prefix.size();
    }
  }
  return best;
}

std::vector<std::string> LimitedKeys(const std::vector<PaceCandidate>& candidates, const PaceLimits& limits) {
  std::set<std::string> keys;
  for (const PaceCandidate& c : candidates) {
    for (const std::string& key : c.keys) {
      if (limits.For(key).has_value()) keys.insert(key);
    }
  }
  return {keys.begin(), keys.end()};
}

PacePlan PlanPacedClaim(const std::vector<PaceCandidate>& candidates,
                        const std::map<std::string, absl::Time>& tats, const PaceLimits& limits,
                        absl::Time now, int limit) {
  PacePlan plan;
  // `real` is what chosen candidates drew (persisted); `reserved` adds the slots promised to the deferred
  // ones, so that a later candidate never takes a bucket's capacity ahead of one waiting for that bucket.
  std::map<std::string, absl::Time> real = tats;
  std::map<std::string, absl::Time> reserved = tats;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (static_cast<int>(plan.chosen.size()) >= limit) break;
    const PaceCandidate& c = candidates[i];
    std::vector<absl::Time> fits(c.keys.size(), absl::InfinitePast());
    absl::Time earliest = now;
    for (size_t k = 0; k < c.keys.size(); ++k) {
      const std::optional<PaceLimit> pace = limits.For(c.keys[k]);
      if (!pace.has_value()) continue;
      fits[k] = EarliestFit(Lookup(reserved, c.keys[k]), CostAt(c, k), *pace);
      earliest = std::max(earliest, fits[k]);
    }
    const bool now_ok = earliest <= now;
    for (size_t k = 0; k < c.keys.size(); ++k) {
      const std::optional<PaceLimit> pace = limits.For(c.keys[k]);
      if (!pace.has_value()) continue;
      const absl::Duration draw = CostAt(c, k) * pace->interval;
      absl::Time& r = reserved[c.keys[k]];
      // A held-back message reserves its slot only on the buckets that hold it back the longest: another one
      // (the bot's, when its chat is what is full) stays open for the messages behind it.
      if (!now_ok && fits[k] < earliest) continue;
      r = std::max(r, now_ok ? now : earliest) + draw;
      if (now_ok) {
        absl::Time& t = real.try_emplace(c.keys[k], absl::InfinitePast()).first->second;
        t = std::max(t, now) + draw;
        plan.tats[c.keys[k]] = t;
      }
    }
    if (now_ok) {
      plan.chosen.push_back(i);
    } else {
      plan.deferred.emplace_back(i, earliest);
    }
  }
  return plan;
}

}  // namespace protectogram::jobs
