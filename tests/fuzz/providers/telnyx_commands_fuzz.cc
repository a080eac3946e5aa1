// libFuzzer target: FuzzTelnyxCommands (see fuzz_entries.h). Built only with -DPROTECTOGRAM_FUZZ=ON under clang.
#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/providers/fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string broken = protectogram::providers::fuzz::FuzzTelnyxCommands(data, size);
  if (!broken.empty()) {
    std::fprintf(stderr, "invariant broken: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}
