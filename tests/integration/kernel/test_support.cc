#include "tests/integration/kernel/test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/client_context.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/support/sync_stream.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "libs/kernel/rpc.h"

extern char** environ;

namespace protectogram::kerneltest {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

HttpResult HttpGet(int port, const std::string& path) {
  HttpResult result;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return result;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return result;
  }
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return result;
  }
  std::string response;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) response.append(buf, static_cast<size_t>(n));
  close(fd);
  size_t header_end = response.find("\r\n\r\n");
  if (header_end == std::string::npos || response.size() < 12) return result;
  result.status = std::atoi(response.substr(9, 3).c_str());
  std::istringstream headers(response.substr(0, header_end));
  std::string line;
  std::getline(headers, line);  // status line
  while (std::getline(headers, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    result.headers[name] = value;
  }
  result.body = response.substr(header_end + 4);
  return result;
}

std::optional<std::string> Promtool(const std::string& text, int* exit_code) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) return std::nullopt;
  char path[] = "/tmp/kernel-metrics-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return std::nullopt;
  (void)!write(fd, text.data(), text.size());
  close(fd);
  std::string command = std::string("promtool check metrics < ") + path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof(buf), pipe)) output.append(buf, n);
  int status = pclose(pipe);
  unlink(path);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return output;
}

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string TempPath(const std::string& suffix) {
  static int counter = 0;
  return "/tmp/kernel-child-" + std::to_string(getpid()) + "-" + std::to_string(++counter) + suffix;
}

}  // namespace

Child::Child(const std::string& binary, const std::vector<std::string>& args,
             const std::map<std::string, std::string>& env)
    : out_path_(TempPath(".out")), err_path_(TempPath(".err")) {
  std::vector<std::string> argv_storage = {binary};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage = {"PATH=" +
                                          std::string(std::getenv("PATH") ? std::getenv("PATH") : "")};
  for (const auto& [name, value] : env) env_storage.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (std::string& entry : env_storage) envp.push_back(entry.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attr, &empty);  // the test process may have SIGTERM blocked
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  if (posix_spawn(&pid_, binary.c_str(), &actions, &attr, argv.data(), envp.data()) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
}

Child::~Child() {
  if (pid_ > 0 && !exit_code_.has_value()) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  unlink(out_path_.c_str());
  unlink(err_path_.c_str());
}

void Child::Signal(int signo) const {
  if (pid_ > 0) kill(pid_, signo);
}

std::optional<int> Child::WaitExit(std::chrono::milliseconds timeout) {
  if (exit_code_.has_value()) return exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (pid_ > 0) {
    int status = 0;
    pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::nullopt;
}

std::string Child::Stdout() const { return ReadFile(out_path_); }
std::string Child::Stderr() const { return ReadFile(err_path_); }

std::string Child::WaitForLine(const std::string& needle, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::istringstream lines(Stdout());
    for (std::string line; std::getline(lines, line);) {
      if (line.find(needle) != std::string::npos) return line;
    }
    if (WaitExit(std::chrono::milliseconds(0)).has_value()) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return "";
}

ReflectionClient::ReflectionClient(std::shared_ptr<grpc::Channel> channel,
                                   const std::string& reflection_descriptor_set)
    : channel_(std::move(channel)) {
  google::protobuf::FileDescriptorSet set;
  std::ifstream in(reflection_descriptor_set, std::ios::binary);
  if (!set.ParseFromIstream(&in)) std::abort();
  for (const auto& file : set.file()) {
    if (reflection_pool_.BuildFile(file) == nullptr) std::abort();
  }
}

absl::StatusOr<std::vector<std::unique_ptr<Message>>> ReflectionClient::Exchange(
    const std::function<void(Message*)>& fill_request) {
  const Descriptor* request_type =
      reflection_pool_.FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionRequest");
  const Descriptor* response_type =
      reflection_pool_.FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionResponse");
  if (request_type == nullptr || response_type == nullptr)
    return absl::InternalError("reflection types missing");
  std::unique_ptr<Message> request(factory_.GetPrototype(request_type)->New());
  fill_request(request.get());

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::internal::RpcMethod method("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                   grpc::internal::RpcMethod::BIDI_STREAMING, channel_);
  std::unique_ptr<grpc::ClientReaderWriter<Message, Message>> stream(
      grpc::internal::ClientReaderWriterFactory<Message, Message>::Create(channel_.get(), method, &context));
  stream->Write(*request);
  stream->WritesDone();
  std::vector<std::unique_ptr<Message>> responses;
  while (true) {
    std::unique_ptr<Message> response(factory_.GetPrototype(response_type)->New());
    if (!stream->Read(response.get())) break;
    responses.push_back(std::move(response));
  }
  grpc::Status status = stream->Finish();
  if (!status.ok()) return kernel::ToAbslStatus(status);
  return responses;
}

absl::StatusOr<std::vector<std::string>> ReflectionClient::ListServices() {
  auto responses = Exchange([](Message* request) {
    request->GetReflection()->SetString(request, request->GetDescriptor()->FindFieldByName("list_services"),
                                        "*");
  });
  if (!responses.ok()) return responses.status();
  std::vector<std::string> names;
  for (const auto& response : *responses) {
    const FieldDescriptor* list_field = response->GetDescriptor()->FindFieldByName("list_services_response");
    if (!response->GetReflection()->HasField(*response, list_field))
      return absl::InternalError("no service list");
    const Message& list = response->GetReflection()->GetMessage(*response, list_field);
    const FieldDescriptor* service_field = list.GetDescriptor()->FindFieldByName("service");
    for (int i = 0; i < list.GetReflection()->FieldSize(list, service_field); ++i) {
      const Message& service = list.GetReflection()->GetRepeatedMessage(list, service_field, i);
      names.push_back(
          service.GetReflection()->GetString(service, service.GetDescriptor()->FindFieldByName("name")));
    }
  }
  return names;
}

absl::Status ReflectionClient::LoadSymbol(const std::string& symbol) {
  auto responses = Exchange([&](Message* request) {
    request->GetReflection()->SetString(
        request, request->GetDescriptor()->FindFieldByName("file_containing_symbol"), symbol);
  });
  if (!responses.ok()) return responses.status();
  std::vector<google::protobuf::FileDescriptorProto> files;
  for (const auto& response : *responses) {
    const FieldDescriptor* files_field =
        response->GetDescriptor()->FindFieldByName("file_descriptor_response");
    if (!response->GetReflection()->HasField(*response, files_field)) {
      return absl::NotFoundError("no file for " + symbol);
    }
    const Message& file_response = response->GetReflection()->GetMessage(*response, files_field);
    const FieldDescriptor* bytes_field =
        file_response.GetDescriptor()->FindFieldByName("file_descriptor_proto");
    for (int i = 0; i < file_response.GetReflection()->FieldSize(file_response, bytes_field); ++i) {
      google::protobuf::FileDescriptorProto file;
      if (!file.ParseFromString(
              file_response.GetReflection()->GetRepeatedString(file_response, bytes_field, i))) {
        return absl::DataLossError("bad FileDescriptorProto");
      }
      files.push_back(std::move(file));
    }
  }
  // Dependencies may come in any order: build what can be built until nothing is left.
  while (!files.empty()) {
    size_t before = files.size();
    for (auto it = files.begin(); it != files.end();) {
      bool ready = true;
      for (const std::string& dependency : it->dependency()) {
        if (discovered_pool_.FindFileByName(dependency) == nullptr) ready = false;
      }
      if (ready && discovered_pool_.FindFileByName(it->name()) == nullptr) {
        if (discovered_pool_.BuildFile(*it) == nullptr)
          return absl::InternalError("cannot build " + it->name());
      }
      if (ready) {
        it = files.erase(it);
      } else {
        ++it;
      }
    }
    if (files.size() == before) return absl::InternalError("unresolvable dependencies");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReflectionClient::CallUnary(const std::string& method_name,
                                                        const std::function<void(Message*)>& fill) {
  std::string dotted = method_name;
  std::replace(dotted.begin(), dotted.end(), '/', '.');
  const google::protobuf::MethodDescriptor* method = discovered_pool_.FindMethodByName(dotted);
  if (method == nullptr) return absl::NotFoundError("method not loaded: " + method_name);
  std::unique_ptr<Message> request(factory_.GetPrototype(method->input_type())->New());
  if (fill != nullptr) fill(request.get());
  std::unique_ptr<Message> response(factory_.GetPrototype(method->output_type())->New());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  const std::string path = "/" + method_name;
  grpc::internal::RpcMethod rpc(path.c_str(), grpc::internal::RpcMethod::NORMAL_RPC, channel_);
  grpc::Status status = grpc::internal::BlockingUnaryCall<Message, Message>(channel_.get(), rpc, &context,
                                                                            *request, response.get());
  if (!status.ok()) return kernel::ToAbslStatus(status);
  return response->ShortDebugString();
}

}  // namespace protectogram::kerneltest
