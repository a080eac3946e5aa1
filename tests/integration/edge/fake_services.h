// In-process stand-ins for the services the edge talks to: IncidentService, TelephonyService and
// grpc.health.v1.Health (SERVING) on one loopback port. They record every call they receive and can be taken
// down and brought back on the same port. The benchmark's receiver (edge_fake_services) is the same class.
#pragma once

#include <grpcpp/server.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "protectogram/common/v1/events.pb.h"

namespace protectogram::edge::testing {

class FakeServices {
 public:
  struct Chat {
    common::v1::ChatEvent event;
    std::string correlation_id;
  };
  struct Call {
    common::v1::CallEvent event;
    std::string correlation_id;
  };

  // Starts serving on 127.0.0.1:`port` (0: a free port, kept for later Up()s).
  explicit FakeServices(uint16_t port = 0);
  ~FakeServices();
  FakeServices(const FakeServices&) = delete;
  FakeServices& operator=(const FakeServices&) = delete;

  void Up();
  // Stops serving (in-flight calls are cancelled); the port stays reserved for Up().
  void Down();
  bool up() const;
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Calls received so far (every call, repeats included).
  std::vector<Chat> chats() const;
  std::vector<Call> calls() const;
  size_t chat_count() const;
  size_t call_count() const;
  // Waits until at least `n` chat (call) events have arrived; false on timeout.
  bool WaitForChats(size_t n, std::chrono::milliseconds timeout) const;
  bool WaitForCalls(size_t n, std::chrono::milliseconds timeout) const;
  // The status every HandleChatEvent / HandleCallEvent answers with (OK by default).
  void SetAnswer(int grpc_code, std::string message = "");
  // Don't keep the events, only count them (the benchmark).
  void SetCountOnly(bool count_only);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace protectogram::edge::testing
