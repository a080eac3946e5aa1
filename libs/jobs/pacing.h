// Pacing: how many messages a rate-limited receiver (a Telegram bot, one chat, a WhatsApp number) may be sent,
// decided at claim time from buckets kept in Postgres, so that every replica draws from the same limit.
//
// Each bucket is a GCRA ("generic cell rate algorithm") bucket: one timestamp per key, its theoretical
// arrival time (TAT). A limit is an emission interval T (1/rate) and a burst B: a draw of cost n at time t is
// allowed when max(TAT, t) + n*T - t <= B*T, and moves TAT to max(TAT, t) + n*T. B = 1 spaces messages
// exactly T apart; B = 30 with T = 1/30 s lets 30 go at once after a quiet second, then 30 per second. A draw
// larger than the burst is allowed only on an empty bucket (TAT <= t), so a long split message goes out
// whole and the bucket pays it back afterwards.
//
// PlanPacedClaim is the pure decision for one claim: given the due candidates in the order they should go
// (priority, then due time), the buckets' TATs and the database's now, it picks which to send now and when
// each of the others can go. A candidate held back by a bucket blocks that bucket for the rest of the plan,
// so a later (lower-priority, or smaller) message never overtakes it on that bucket.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace protectogram::jobs {

struct PaceLimit {
  absl::Duration interval = absl::Seconds(1);  // T: one unit of cost per interval, sustained
  int burst = 1;                               // B: units that may go at once on an idle bucket (>= 1)

  // `per_second` units per second with `burst`; per_second must be > 0.
  static PaceLimit PerSecond(double per_second, int burst = 1);
};

// Limits by key prefix: the longest prefix that matches a key gives its limit; a key with no matching prefix
// is not limited (its bucket is neither read nor written).
class PaceLimits {
 public:
  PaceLimits() = default;
  // INVALID_ARGUMENT for a non-positive interval or burst < 1.
  absl::Status Add(std::string prefix, PaceLimit limit);
  std::optional<PaceLimit> For(std::string_view key) const;
  bool empty() const { return limits_.empty(); }

 private:
  std::map<std::string, PaceLimit, std::less<>> limits_;
};

struct PaceCandidate {
  int64_t id = 0;
  std::vector<std::string> keys;  // buckets it draws from
  std::vector<int> costs;         // parallel to keys; a missing or non-positive cost counts 1
};

struct PacePlan {
  std::vector<size_t> chosen;  // indices into the candidates, in their order
  // Held back: (index, the earliest time it could go, on the database clock).
  std::vector<std::pair<size_t, absl::Time>> deferred;
  // The buckets' new TATs (only the ones that changed).
  std::map<std::string, absl::Time> tats;
};

// Candidates beyond `limit` chosen ones are left out of the plan (neither chosen nor deferred): the next claim
// sees them. `tats` holds each known bucket's TAT; a missing key is an idle bucket.
PacePlan PlanPacedClaim(const std::vector<PaceCandidate>& candidates,
                        const std::map<std::string, absl::Time>& tats, const PaceLimits& limits,
                        absl::Time now, int limit);

// The keys of `candidates` that some limit applies to, sorted and unique: the buckets a claim must lock.
std::vector<std::string> LimitedKeys(const std::vector<PaceCandidate>& candidates, const PaceLimits& limits);

}  // namespace protectogram::jobs
