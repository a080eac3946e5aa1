// protectogram-migrate: applies db/migrations (see db/migrate/cli.h for flags and exit codes).
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "db/migrate/cli.h"
#include "libs/kernel/log.h"

int main(int argc, char** argv) {
  const char* level = std::getenv("LOG_LEVEL");
  protectogram::kernel::InitLogging("migrate", level != nullptr && *level != '\0' ? level : "info");
  std::vector<std::string> args(argv + 1, argv + argc);
  return protectogram::migrate::RunCli(
      args,
      [](std::string_view name) {
        const char* v = std::getenv(std::string(name).c_str());
        return std::string(v != nullptr ? v : "");
      },
      std::cout, std::cerr);
}
