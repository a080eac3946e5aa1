// edge_fake_services: a trivial receiver for the edge benchmark (tests/load/edge/run.sh). It serves
// IncidentService, TelephonyService and grpc.health.v1.Health on 127.0.0.1:<port>, answers every event OK and
// counts them, and on SIGTERM/SIGINT prints {"chat_events":N,"call_events":M} and exits.
//   edge_fake_services <port>
#include <cstdio>
#include <cstdlib>

#include "libs/kernel/shutdown.h"
#include "tests/integration/edge/fake_services.h"

int main(int argc, char** argv) {
  protectogram::kernel::BlockShutdownSignals();
  if (argc != 2) {
    std::fprintf(stderr, "usage: edge_fake_services <port>\n");
    return 2;
  }
  protectogram::kernel::ShutdownSignal signal;
  protectogram::edge::testing::FakeServices services(static_cast<uint16_t>(std::atoi(argv[1])));
  services.SetCountOnly(true);
  if (!services.up()) {
    std::fprintf(stderr, "edge_fake_services: cannot listen on port %s\n", argv[1]);
    return 1;
  }
  signal.Wait();
  std::printf("{\"chat_events\":%zu,\"call_events\":%zu}\n", services.chat_count(), services.call_count());
  std::fflush(stdout);
  services.Down();
  return 0;
}
