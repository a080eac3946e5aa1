#include "tests/integration/edge/fake_services.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_context.h>

#include <condition_variable>

#include "libs/kernel/health.h"
#include "protectogram/incident/v1/incident.grpc.pb.h"
#include "protectogram/telephony/v1/telephony.grpc.pb.h"

namespace protectogram::edge::testing {
namespace {

std::string CorrelationOf(const grpc::ServerContext* context) {
  auto it = context->client_metadata().find("x-correlation-id");
  if (it == context->client_metadata().end()) return "";
  return std::string(it->second.data(), it->second.size());
}

}  // namespace

class FakeServices::Impl final : public incident::v1::IncidentService::Service,
                                 public telephony::v1::TelephonyService::Service {
 public:
  grpc::Status HandleChatEvent(grpc::ServerContext* context,
                               const incident::v1::HandleChatEventRequest* request,
                               incident::v1::HandleChatEventResponse* /*response*/) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++chat_count_;
    if (!count_only_) chats_.push_back({request->event(), CorrelationOf(context)});
    cv_.notify_all();
    return answer_;
  }

  grpc::Status HandleCallEvent(grpc::ServerContext* context,
                               const telephony::v1::HandleCallEventRequest* request,
                               telephony::v1::HandleCallEventResponse* /*response*/) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++call_count_;
    if (!count_only_) calls_.push_back({request->event(), CorrelationOf(context)});
    cv_.notify_all();
    return answer_;
  }

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<Chat> chats_;
  std::vector<Call> calls_;
  size_t chat_count_ = 0;
  size_t call_count_ = 0;
  bool count_only_ = false;
  grpc::Status answer_ = grpc::Status::OK;

  std::mutex server_mu_;
  kernel::HealthService health_;
  std::unique_ptr<grpc::Server> server_;
};

FakeServices::FakeServices(uint16_t port) : impl_(std::make_unique<Impl>()), port_(port) {
  impl_->health_.SetServing(true);
  Up();
}

FakeServices::~FakeServices() { Down(); }

void FakeServices::Up() {
  std::lock_guard<std::mutex> lock(impl_->server_mu_);
  if (impl_->server_ != nullptr) return;
  grpc::ServerBuilder builder;
  int selected = 0;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port_), grpc::InsecureServerCredentials(),
                           &selected);
  builder.RegisterService(static_cast<incident::v1::IncidentService::Service*>(impl_.get()));
  builder.RegisterService(static_cast<telephony::v1::TelephonyService::Service*>(impl_.get()));
  builder.RegisterService(&impl_->health_);
  impl_->server_ = builder.BuildAndStart();
  if (impl_->server_ != nullptr && selected > 0) port_ = static_cast<uint16_t>(selected);
}

void FakeServices::Down() {
  std::lock_guard<std::mutex> lock(impl_->server_mu_);
  if (impl_->server_ == nullptr) return;
  impl_->server_->Shutdown(std::chrono::system_clock::now());
  impl_->server_->Wait();
  impl_->server_.reset();
}

bool FakeServices::up() const {
  std::lock_guard<std::mutex> lock(impl_->server_mu_);
  return impl_->server_ != nullptr;
}

std::vector<FakeServices::Chat> FakeServices::chats() const {
  std::lock_guard<std::mutex> lock(impl_->mu_);
  return impl_->chats_;
}

std::vector<FakeServices::Call> FakeServices::calls() const {
  std::lock_guard<std::mutex> lock(impl_->mu_);
  return impl_->calls_;
}

size_t FakeServices::chat_count() const {
  std::lock_guard<std::mutex> lock(impl_->mu_);
  return impl_->chat_count_;
}

size_t FakeServices::call_count() const {
  std::lock_guard<std::mutex> lock(impl_->mu_);
  return impl_->call_count_;
}

bool FakeServices::WaitForChats(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu_);
  return impl_->cv_.wait_for(lock, timeout, [&] { return impl_->chat_count_ >= n; });
}

bool FakeServices::WaitForCalls(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu_);
  return impl_->cv_.wait_for(lock, timeout, [&] { return impl_->call_count_ >= n; });
}

void FakeServices::SetAnswer(int grpc_code, std::string message) {
  std::lock_guard<std::mutex> lock(impl_->mu_);
  impl_->answer_ = grpc::Status(static_cast<grpc::StatusCode>(grpc_code), std::move(message));
}

void FakeServices::SetCountOnly(bool count_only) {
  std::lock_guard<std::mutex> lock(impl_->mu_);
  impl_->count_only_ = count_only;
}

}  // namespace protectogram::edge::testing
