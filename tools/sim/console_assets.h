// The console's files (tools/sim/console/), compiled into protectogram-sim by embed_assets.cmake.
#pragma once

#include <string_view>
#include <vector>

namespace protectogram::sim {

struct ConsoleAsset {
  std::string_view path;  // "/index.html", "/console.js", ...
  std::string_view bytes;
};

const std::vector<ConsoleAsset>& ConsoleAssets();

}  // namespace protectogram::sim
