// Replays the checked-in fuzz corpus (tests/fuzz/http/corpus/request/) through the request parser's fuzz
// entry point, so every build runs what the fuzzer found interesting, whatever the compiler; and checks that
// the seeds still reach every verdict the parser can give.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tests/fuzz/http/fuzz_entries.h"

namespace protectogram::http::fuzz {
namespace {

std::vector<std::string> CorpusFiles() {
  const std::filesystem::path dir = std::filesystem::path(PROTECTOGRAM_FUZZ_CORPUS_DIR) / "request";
  std::vector<std::string> inputs;
  if (!std::filesystem::is_directory(dir)) return inputs;
  for (const auto& file : std::filesystem::directory_iterator(dir)) {
    if (!file.is_regular_file()) continue;
    std::ifstream in(file.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    inputs.push_back(bytes.str());
  }
  return inputs;
}

std::string Replay(const std::string& input) {
  return FuzzRequestParser(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

TEST(HttpFuzzCorpusTest, EveryCorpusFileKeepsTheInvariants) {
  const std::filesystem::path dir = std::filesystem::path(PROTECTOGRAM_FUZZ_CORPUS_DIR) / "request";
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  int files = 0;
  for (const auto& file : std::filesystem::directory_iterator(dir)) {
    if (!file.is_regular_file()) continue;
    std::ifstream in(file.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    EXPECT_EQ(Replay(bytes.str()), "") << file.path();
    ++files;
  }
  EXPECT_GT(files, 0) << "empty corpus " << dir;
}

TEST(HttpFuzzCorpusTest, EmptyAndTinyInputs) {
  for (const std::string& input :
       {std::string(), std::string(1, '\0'), std::string("\r\n"), std::string("\x00\x00", 2),
        std::string("\x00\x00\r\n\r\n", 6), std::string("\xff\xff\xff")}) {
    EXPECT_EQ(Replay(input), "");
  }
}

// Every read size and body-limit choice on a few requests, so the invariants are checked for each way the
// bytes may arrive, not only the ones the corpus files picked.
TEST(HttpFuzzCorpusTest, EveryControlByteOnPipelinedRequests) {
  const std::string stream =
      "POST /telnyx/webhook HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
      "POST /webhook/main HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n"
      "GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
  for (int reads = 0; reads < 256; reads += 7) {
    for (int limit = 0; limit < 256; limit += 5) {
      const std::string input =
          std::string(1, static_cast<char>(reads)) + std::string(1, static_cast<char>(limit)) + stream;
      ASSERT_EQ(Replay(input), "") << "reads " << reads << " limit " << limit;
    }
  }
}

// Inputs over the 64 KiB a checked-in corpus file may hold: the limits that only large requests reach.
TEST(HttpFuzzCorpusTest, LargeRequests) {
  const std::string head = "POST /x HTTP/1.1\r\nHost: a\r\n";
  std::string overhead = std::string("\x03\x01", 2) + head + "Transfer-Encoding: chunked\r\n\r\n";
  while (overhead.size() < 70 * 1024) overhead += "1;" + std::string(1000, 'x') + "\r\na\r\n";
  overhead += "0\r\n\r\n";
  const std::string at_limit =
      std::string("\x03\x01", 2) + head + "Content-Length: 1048576\r\n\r\n" + std::string(1 << 20, 'b');
  const std::string over_limit = std::string("\x02\x01", 2) + head + "Transfer-Encoding: chunked\r\n\r\n" +
                                 "80000\r\n" + std::string(0x80000, 'c') + "\r\n80001\r\n" +
                                 std::string(0x80001, 'd') + "\r\n0\r\n\r\n";
  const std::string edge_route = std::string("\x03\x00", 2) + "POST /webhook/main HTTP/1.1\r\nHost: a\r\n" +
                                 "Content-Length: 262145\r\n\r\n" + std::string(262145, 'e');
  for (const auto& [input, verdict] :
       {std::pair{overhead, "too_large"}, std::pair{at_limit, "done"}, std::pair{over_limit, "too_large"},
        std::pair{edge_route, "too_large"}}) {
    EXPECT_EQ(Replay(input), "");
    const std::vector<std::string> verdicts =
        RequestParserVerdicts(reinterpret_cast<const uint8_t*>(input.data()), input.size());
    ASSERT_EQ(verdicts.size(), 1u);
    EXPECT_EQ(verdicts[0], verdict);
  }
}

TEST(HttpFuzzCorpusTest, CorpusReachesEveryVerdict) {
  std::set<std::string> seen;
  bool pipelined = false;
  for (const std::string& input : CorpusFiles()) {
    const std::vector<std::string> verdicts =
        RequestParserVerdicts(reinterpret_cast<const uint8_t*>(input.data()), input.size());
    int done = 0;
    for (const std::string& v : verdicts) {
      seen.insert(v);
      if (v == "done") ++done;
    }
    pipelined = pipelined || done >= 2;
  }
  EXPECT_FALSE(seen.contains("invariant broken"));
  for (const char* verdict :
       {"done", "incomplete", "target_refused", "bad_http", "uri_too_long", "headers_too_large", "too_large",
        "not_implemented", "unsupported_encoding", "version_not_supported"}) {
    EXPECT_TRUE(seen.contains(verdict)) << "no seed reaches " << verdict;
  }
  EXPECT_TRUE(pipelined) << "no seed has two requests on one connection";
}

}  // namespace
}  // namespace protectogram::http::fuzz
