// Helpers for the kernel's integration tests: a raw HTTP GET, a child process, a reflection-only gRPC client.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <grpcpp/channel.h>
#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace protectogram::kerneltest {

struct HttpResult {
  int status = 0;                              // 0 when the connection failed
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
};
// GET http://127.0.0.1:port/path with "Connection: close".
HttpResult HttpGet(int port, const std::string& path);

// Runs promtool check metrics on `text`; returns its output and sets *exit_code. nullopt when promtool is
// not installed.
std::optional<std::string> Promtool(const std::string& text, int* exit_code);

// A child process with exactly `env` (plus PATH), stdout and stderr to separate files.
class Child {
 public:
  Child(const std::string& binary, const std::vector<std::string>& args,
        const std::map<std::string, std::string>& env);
  ~Child();  // SIGKILL if still running
  pid_t pid() const { return pid_; }
  void Signal(int signo) const;
  // The exit code (128+signal when killed), or nullopt on timeout.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);
  std::string Stdout() const;
  std::string Stderr() const;
  // Waits until stdout has a line containing `needle`; returns that line ("" on timeout or exit).
  std::string WaitForLine(const std::string& needle, std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string out_path_;
  std::string err_path_;
};

// A gRPC client that knows no .proto file: it speaks grpc.reflection.v1alpha using descriptors loaded from a
// FileDescriptorSet of reflection.proto (built by the test's CMake), and calls methods it discovers.
class ReflectionClient {
 public:
  ReflectionClient(std::shared_ptr<grpc::Channel> channel, const std::string& reflection_descriptor_set);
  absl::StatusOr<std::vector<std::string>> ListServices();
  // Loads the file that defines `symbol` (and its dependencies) into this client's own pool.
  absl::Status LoadSymbol(const std::string& symbol);
  // Calls a unary method by full name ("pkg.Service/Method") with a message built by `fill`; returns the
  // response's text format.
  absl::StatusOr<std::string> CallUnary(
      const std::string& method, const std::function<void(google::protobuf::Message*)>& fill = nullptr);

 private:
  absl::StatusOr<std::vector<std::unique_ptr<google::protobuf::Message>>> Exchange(
      const std::function<void(google::protobuf::Message*)>& fill_request);

  std::shared_ptr<grpc::Channel> channel_;
  google::protobuf::DescriptorPool reflection_pool_;
  google::protobuf::DescriptorPool discovered_pool_;
  google::protobuf::DynamicMessageFactory factory_;
};

}  // namespace protectogram::kerneltest
