// Replays the checked-in fuzz corpus (tests/fuzz/edge/corpus/<route>/) through the edge's fuzz entry points,
// so every build runs what the fuzzers found interesting, whatever the compiler; runs every mode on the
// fixture bodies; and checks that the seeds still reach acceptance and the refusals of each route.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/contract/edge/fixtures.h"
#include "tests/fuzz/edge/fuzz_entries.h"

namespace protectogram::edge::fuzz {
namespace {

namespace fx = protectogram::edge::testing;

struct Target {
  const char* corpus;
  Route route;
  const char* fixture_body;
  std::vector<std::string> verdicts;  // what the corpus must reach
};

class EdgeFuzzCorpusTest : public ::testing::TestWithParam<Target> {
 protected:
  std::string Run(const std::string& input, std::string* verdict = nullptr) {
    return FuzzEdgeRoute(GetParam().route, reinterpret_cast<const uint8_t*>(input.data()), input.size(),
                         verdict);
  }
  std::filesystem::path Dir() const {
    return std::filesystem::path(PROTECTOGRAM_FUZZ_CORPUS_DIR) / GetParam().corpus;
  }
};

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

TEST_P(EdgeFuzzCorpusTest, EveryCorpusFileKeepsTheInvariants) {
  ASSERT_TRUE(std::filesystem::is_directory(Dir())) << Dir();
  int files = 0;
  for (const auto& file : std::filesystem::directory_iterator(Dir())) {
    if (!file.is_regular_file()) continue;
    EXPECT_EQ(Run(ReadFile(file.path())), "") << file.path();
    ++files;
  }
  EXPECT_GT(files, 0) << "empty corpus " << Dir();
}

TEST_P(EdgeFuzzCorpusTest, EmptyAndTinyInputs) {
  for (const std::string& input :
       {std::string(), std::string(1, '\0'), std::string("\x05", 1), std::string("\x00\x80", 2),
        std::string("\x07\x80\n{", 4), std::string("\xff\xff\xff")}) {
    EXPECT_EQ(Run(input), "");
  }
}

// Every mode and a few flags on the route's fixture body, with and without a line: the invariants hold for
// each, and a valid signature over the fixture is accepted.
TEST_P(EdgeFuzzCorpusTest, EveryModeOnTheFixtureBody) {
  std::set<std::string> verdicts;
  for (int mode = 0; mode < 64; ++mode) {
    for (int flags : {0x00, 0x01, 0x02, 0x03, 0x06, 0x40, 0x41, 0x80, 0x81, 0x83}) {
      std::string input = {static_cast<char>(mode), static_cast<char>(flags)};
      if (flags & 0x80) input += "secret=x&hub.challenge=1 \n";
      input += GetParam().fixture_body;
      std::string verdict;
      ASSERT_EQ(Run(input, &verdict), "") << "mode " << mode << " flags " << flags;
      verdicts.insert(verdict);
    }
  }
  EXPECT_TRUE(verdicts.contains("accepted"));
  EXPECT_TRUE(verdicts.contains("bad_signature") || verdicts.contains("missing_signature"));
}

TEST_P(EdgeFuzzCorpusTest, CorpusReachesAcceptanceAndEachRefusal) {
  std::set<std::string> seen;
  for (const auto& file : std::filesystem::directory_iterator(Dir())) {
    if (!file.is_regular_file()) continue;
    std::string verdict;
    Run(ReadFile(file.path()), &verdict);
    seen.insert(verdict);
  }
  for (const std::string& verdict : GetParam().verdicts) {
    EXPECT_TRUE(seen.contains(verdict)) << "no seed of " << GetParam().corpus << " reaches " << verdict;
  }
}

const std::vector<std::string> kCommon = {"accepted",  "missing_signature", "bad_signature",
                                          "malformed", "missing_id",        "not_configured"};

std::vector<std::string> With(std::vector<std::string> more) {
  std::vector<std::string> all = kCommon;
  all.insert(all.end(), more.begin(), more.end());
  return all;
}

INSTANTIATE_TEST_SUITE_P(
    Routes, EdgeFuzzCorpusTest,
    ::testing::Values(Target{"telegram", Route::kTelegram, fx::kTelegramUpdate, With({"unknown_bot"})},
                      Target{"telegram_query", Route::kTelegramQuery, fx::kTelegramCallback, kCommon},
                      Target{"telnyx", Route::kTelnyx, fx::kTelnyxBody, With({"replay"})},
                      Target{"twilio_voice", Route::kTwilioVoice, fx::kTwilioVoiceBody, kCommon},
                      Target{"twilio_whatsapp", Route::kTwilioWhatsApp, fx::kTwilioWhatsAppBody, kCommon},
                      Target{"whatsapp", Route::kWhatsApp, fx::kWhatsAppBody, With({"bad_verify_token"})}),
    [](const ::testing::TestParamInfo<Target>& info) { return std::string(info.param.corpus); });

// The REST call API (FuzzEdgeCallApi, corpus/call_api/): not a webhook route, so not a Target above; the
// corpus keeps the invariants and reaches acceptance and refusal for each kind of request.
std::string RunCallApi(const std::string& input, std::string* verdict = nullptr) {
  return FuzzEdgeCallApi(reinterpret_cast<const uint8_t*>(input.data()), input.size(), verdict);
}

std::filesystem::path CallApiDir() {
  return std::filesystem::path(PROTECTOGRAM_FUZZ_CORPUS_DIR) / "call_api";
}

TEST(EdgeCallApiFuzzCorpusTest, EveryCorpusFileKeepsTheInvariants) {
  ASSERT_TRUE(std::filesystem::is_directory(CallApiDir())) << CallApiDir();
  int files = 0;
  for (const auto& file : std::filesystem::directory_iterator(CallApiDir())) {
    if (!file.is_regular_file()) continue;
    EXPECT_EQ(RunCallApi(ReadFile(file.path())), "") << file.path();
    ++files;
  }
  EXPECT_GT(files, 0) << "empty corpus " << CallApiDir();
}

TEST(EdgeCallApiFuzzCorpusTest, EveryModeOnTinyInputs) {
  for (int mode = 0; mode < 12; ++mode) {
    for (int flags : {0x00, 0x01, 0x02, 0x03, 0x40, 0x43, 0x80, 0xc1}) {
      for (const std::string& rest : {std::string(), std::string("\n"), std::string("{"), std::string("null"),
                                      std::string("\xff\n\xff"), std::string(" \n{}")}) {
        const std::string input = std::string{static_cast<char>(mode), static_cast<char>(flags)} + rest;
        EXPECT_EQ(RunCallApi(input), "") << "mode " << mode << " flags " << flags;
      }
    }
  }
}

TEST(EdgeCallApiFuzzCorpusTest, CorpusReachesEachVerdict) {
  std::set<std::string> seen;
  for (const auto& file : std::filesystem::directory_iterator(CallApiDir())) {
    if (!file.is_regular_file()) continue;
    std::string verdict;
    RunCallApi(ReadFile(file.path()), &verdict);
    seen.insert(verdict);
  }
  for (const char* verdict : {"interaction:accepted", "interaction:invalid", "interaction:not_found",
                              "calls:accepted", "calls:invalid", "token:accepted", "token:invalid",
                              "bearer:accepted", "bearer:refused", "bearer:missing", "bearer:issued",
                              "status:uuid", "status:not_uuid", "rate_limit:ok", "rate_limit:bad"}) {
    EXPECT_TRUE(seen.contains(verdict)) << "no seed of call_api reaches " << verdict;
  }
}

}  // namespace
}  // namespace protectogram::edge::fuzz
