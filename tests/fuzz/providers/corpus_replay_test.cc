// Replays the checked-in fuzz corpus (tests/fuzz/providers/corpus/<parser>/) through the fuzz entry points,
// so every build runs what the fuzzers found interesting, whatever the compiler.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/fuzz/providers/fuzz_entries.h"

namespace protectogram::providers::fuzz {
namespace {

using Entry = std::string (*)(const uint8_t*, size_t);

struct Target {
  const char* corpus;
  Entry entry;
};

class CorpusReplayTest : public ::testing::TestWithParam<Target> {};

TEST_P(CorpusReplayTest, EveryCorpusFileKeepsTheInvariants) {
  const std::filesystem::path dir = std::filesystem::path(PROTECTOGRAM_FUZZ_CORPUS_DIR) / GetParam().corpus;
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  int files = 0;
  for (const auto& file : std::filesystem::directory_iterator(dir)) {
    if (!file.is_regular_file()) continue;
    std::ifstream in(file.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    const std::string input = bytes.str();
    EXPECT_EQ(GetParam().entry(reinterpret_cast<const uint8_t*>(input.data()), input.size()), "")
        << file.path();
    ++files;
  }
  EXPECT_GT(files, 0) << "empty corpus " << dir;
}

TEST_P(CorpusReplayTest, EmptyAndTinyInputs) {
  for (const std::string& input :
       {std::string(), std::string(1, '\0'), std::string("{"), std::string("\xff")}) {
    EXPECT_EQ(GetParam().entry(reinterpret_cast<const uint8_t*>(input.data()), input.size()), "");
  }
}

INSTANTIATE_TEST_SUITE_P(Providers, CorpusReplayTest,
                         ::testing::Values(Target{"ari_event", &FuzzAriEvent}, Target{"jwt", &FuzzJwt},
                                           Target{"telegram_update", &FuzzTelegramUpdate},
                                           Target{"telnyx_commands", &FuzzTelnyxCommands},
                                           Target{"telnyx_event", &FuzzTelnyxEvent},
                                           Target{"twilio_form", &FuzzTwilioForm},
                                           Target{"twilio_voice_api", &FuzzTwilioVoiceApi},
                                           Target{"whatsapp_webhook", &FuzzWhatsAppWebhook}),
                         [](const ::testing::TestParamInfo<Target>& info) {
                           return std::string(info.param.corpus);
                         });

}  // namespace
}  // namespace protectogram::providers::fuzz
