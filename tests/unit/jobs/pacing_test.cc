// PlanPacedClaim: the GCRA decisions behind paced outbox claims, with explicit times (no clock).
#include "libs/jobs/pacing.h"

#include <gtest/gtest.h>

#include <random>

namespace protectogram::jobs {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

PaceLimits ChatAndBot(int chat_burst = 1) {
  PaceLimits limits;
  EXPECT_TRUE(limits.Add("chat:", {.interval = absl::Seconds(1), .burst = chat_burst}).ok());
  EXPECT_TRUE(limits.Add("bot:", PaceLimit::PerSecond(30, 1)).ok());
  return limits;
}

PaceCandidate Msg(int64_t id, const std::string& chat, int parts = 1) {
  return {.id = id, .keys = {"bot:main", "chat:" + chat}, .costs = {parts, 1}};
}

TEST(PaceLimitsTest, LongestPrefixWinsAndUnmatchedKeysAreFree) {
  PaceLimits limits;
  ASSERT_TRUE(limits.Add("tg:", PaceLimit::PerSecond(30)).ok());
  ASSERT_TRUE(limits.Add("tg:main:", {.interval = absl::Seconds(1), .burst = 1}).ok());
  EXPECT_EQ(limits.For("tg:other")->interval, absl::Seconds(1.0 / 30));
  EXPECT_EQ(limits.For("tg:main:42")->interval, absl::Seconds(1));
  EXPECT_FALSE(limits.For("wa:1").has_value());
  EXPECT_FALSE(limits.Add("x:", {.interval = absl::ZeroDuration(), .burst = 1}).ok());
  EXPECT_FALSE(limits.Add("x:", {.interval = absl::Seconds(1), .burst = 0}).ok());
}

TEST(PlanPacedClaimTest, OneMessagePerChatPerInterval) {
  const PaceLimits limits = ChatAndBot();
  const std::vector<PaceCandidate> c = {Msg(1, "a"), Msg(2, "a"), Msg(3, "b"), Msg(4, "a")};
  PacePlan plan = PlanPacedClaim(c, {}, limits, kT0, 10);
  ASSERT_EQ(plan.chosen, (std::vector<size_t>{0}));
  ASSERT_EQ(plan.deferred.size(), 3u);
  // Each held-back message of chat a gets its own next second, in order; chat b waits only for the bot's
  // next slot (1/30 s), not behind chat a's reserved second.
  EXPECT_EQ(plan.deferred[0], std::make_pair(size_t{1}, kT0 + absl::Seconds(1)));
  EXPECT_EQ(plan.deferred[1], std::make_pair(size_t{2}, kT0 + absl::Seconds(1.0 / 30)));
  EXPECT_EQ(plan.deferred[2], std::make_pair(size_t{3}, kT0 + absl::Seconds(2)));
  EXPECT_EQ(plan.tats.at("chat:a"), kT0 + absl::Seconds(1));
  EXPECT_EQ(plan.tats.at("bot:main"), kT0 + absl::Seconds(1.0 / 30));
  EXPECT_EQ(plan.tats.count("chat:b"), 0u);

  // A second later the next one of chat a may go.
  plan =
      PlanPacedClaim({Msg(2, "a")}, {{"chat:a", kT0 + absl::Seconds(1)}}, limits, kT0 + absl::Seconds(1), 10);
  EXPECT_EQ(plan.chosen, (std::vector<size_t>{0}));
  plan = PlanPacedClaim({Msg(2, "a")}, {{"chat:a", kT0 + absl::Seconds(1)}}, limits,
                        kT0 + absl::Milliseconds(999), 10);
  EXPECT_TRUE(plan.chosen.empty());
  EXPECT_EQ(plan.deferred[0].second, kT0 + absl::Seconds(1));
}

TEST(PlanPacedClaimTest, BotLimitSpacesMessagesAcrossChats) {
  PaceLimits limits;
  ASSERT_TRUE(limits.Add("bot:", PaceLimit::PerSecond(30, 1)).ok());
  std::vector<PaceCandidate> c;
  for (int i = 0; i < 5; ++i) c.push_back({.id = i, .keys = {"bot:main"}});
  const PacePlan plan = PlanPacedClaim(c, {}, limits, kT0, 10);
  EXPECT_EQ(plan.chosen.size(), 1u);
  ASSERT_EQ(plan.deferred.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(plan.deferred[i].second, kT0 + (i + 1) * absl::Seconds(1.0 / 30));
}

TEST(PlanPacedClaimTest, BurstLetsSeveralGoOnAnIdleBucket) {
  PaceLimits limits;
  ASSERT_TRUE(limits.Add("bot:", PaceLimit::PerSecond(30, 30)).ok());
  std::vector<PaceCandidate> c;
  for (int i = 0; i < 40; ++i) c.push_back({.id = i, .keys = {"bot:main"}});
  const PacePlan plan = PlanPacedClaim(c, {}, limits, kT0, 100);
  EXPECT_EQ(plan.chosen.size(), 30u);
  EXPECT_EQ(plan.deferred.size(), 10u);
  EXPECT_EQ(plan.deferred[0].second, kT0 + absl::Seconds(1.0 / 30));
}

TEST(PlanPacedClaimTest, ASplitMessageGoesWholeOnAnEmptyBucketAndIsPaidBack) {
  const PaceLimits limits = ChatAndBot();
  // Three parts cost the bot 3 with a burst of 1: allowed only on an empty bucket, then the bot waits 3 T.
  // Its chat pays 1: the parts of one text go as one burst.
  PacePlan plan = PlanPacedClaim({Msg(1, "a", 3), Msg(2, "b")}, {}, limits, kT0, 10);
  EXPECT_EQ(plan.chosen, (std::vector<size_t>{0}));
  EXPECT_EQ(plan.deferred[0].second, kT0 + 3 * absl::Seconds(1.0 / 30));
  // Not on a busy one.
  plan = PlanPacedClaim({Msg(1, "a", 3)}, {{"bot:main", kT0 + absl::Milliseconds(1)}}, limits, kT0, 10);
  EXPECT_TRUE(plan.chosen.empty());
  EXPECT_EQ(plan.deferred[0].second, kT0 + absl::Milliseconds(1));
}

TEST(PlanPacedClaimTest, AHeldBackMessageIsNotOvertakenOnItsBucket) {
  PaceLimits limits;
  ASSERT_TRUE(limits.Add("bot:", {.interval = absl::Milliseconds(100), .burst = 3}).ok());
  // The bucket has room for 2: the 3-unit message waits, and the 1-unit one behind it must not take the room.
  const std::map<std::string, absl::Time> tats = {{"bot:main", kT0 + absl::Milliseconds(100)}};
  const PacePlan plan = PlanPacedClaim(
      {{.id = 1, .keys = {"bot:main"}, .costs = {3}}, {.id = 2, .keys = {"bot:main"}, .costs = {1}}}, tats,
      limits, kT0, 10);
  EXPECT_TRUE(plan.chosen.empty());
  ASSERT_EQ(plan.deferred.size(), 2u);
  EXPECT_EQ(plan.deferred[0].second, kT0 + absl::Milliseconds(100));
  EXPECT_GT(plan.deferred[1].second, plan.deferred[0].second);
}

TEST(PlanPacedClaimTest, UnlimitedKeysAndTheLimitOfTheBatch) {
  const PaceLimits limits = ChatAndBot();
  std::vector<PaceCandidate> c;
  for (int i = 0; i < 10; ++i) c.push_back({.id = i, .keys = {"wa:+34600000000"}});
  const PacePlan plan = PlanPacedClaim(c, {}, limits, kT0, 4);
  EXPECT_EQ(plan.chosen.size(), 4u);
  EXPECT_TRUE(plan.deferred.empty());  // the rest is left for the next claim
  EXPECT_TRUE(plan.tats.empty());
  EXPECT_TRUE(LimitedKeys(c, limits).empty());
  EXPECT_EQ(LimitedKeys({Msg(1, "b"), Msg(2, "a")}, limits),
            (std::vector<std::string>{"bot:main", "chat:a", "chat:b"}));
}

// Whatever arrives, claims following their plans never put two messages of one chat less than a second
// apart, nor more than 30 of the bot in any second.
TEST(PlanPacedClaimTest, RandomArrivalsNeverBreakTheLimits) {
  const PaceLimits limits = ChatAndBot();
  std::mt19937 rng(7);
  std::map<std::string, absl::Time> tats;
  std::vector<std::pair<int64_t, PaceCandidate>> queue;  // (due time us, candidate)
  std::map<std::string, std::vector<absl::Time>> sent;
  int64_t next_id = 0;
  absl::Time now = kT0;
  for (int step = 0; step < 3000; ++step) {
    now += absl::Milliseconds(std::uniform_int_distribution<int>(1, 40)(rng));
    for (int n = std::uniform_int_distribution<int>(0, 3)(rng); n > 0; --n) {
      queue.push_back({absl::ToUnixMicros(now), Msg(next_id++, std::to_string(rng() % 50))});
    }
    std::vector<PaceCandidate> due;
    std::vector<size_t> where;
    for (size_t i = 0; i < queue.size(); ++i) {
      if (queue[i].first <= absl::ToUnixMicros(now)) {
        due.push_back(queue[i].second);
        where.push_back(i);
      }
    }
    const PacePlan plan = PlanPacedClaim(due, tats, limits, now, 8);
    for (const auto& [key, tat] : plan.tats) tats[key] = tat;
    for (const auto& [i, at] : plan.deferred) {
      ASSERT_GT(at, now);
      queue[where[i]].first = absl::ToUnixMicros(at);
    }
    std::vector<size_t> gone;
    for (size_t i : plan.chosen) {
      sent["bot"].push_back(now);
      sent[due[i].keys[1]].push_back(now);
      gone.push_back(where[i]);
    }
    std::sort(gone.rbegin(), gone.rend());
    for (size_t g : gone) queue.erase(queue.begin() + static_cast<std::ptrdiff_t>(g));
  }
  ASSERT_GT(sent["bot"].size(), 1200u);  // the bot limit binds: ~60 s at 30/s, less the steps' rounding
  for (const auto& [key, times] : sent) {
    if (key == "bot") {
      for (size_t i = 30; i < times.size(); ++i)
        ASSERT_GE(times[i] - times[i - 30], absl::Seconds(1) - absl::Nanoseconds(40));
    } else {
      for (size_t i = 1; i < times.size(); ++i) ASSERT_GE(times[i] - times[i - 1], absl::Seconds(1)) << key;
    }
  }
}

}  // namespace
}  // namespace protectogram::jobs
