#include "libs/kernel/rpc.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <cctype>

namespace protectogram::kernel {
namespace {

std::string_view ToView(grpc::string_ref ref) { return std::string_view(ref.data(), ref.size()); }

// The token of "Bearer <token>" (scheme in any case), or nullopt for anything else.
std::optional<std::string_view> BearerToken(std::string_view header) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return std::nullopt;
  }
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return std::nullopt;
  return token;
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status ToAbslStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Walk the longer string in full so the time does not reveal a matching prefix.
  const size_t n = a.size() > b.size() ? a.size() : b.size();
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

bool IsValidCorrelationId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

RpcScope::RpcScope(grpc::ServerContextBase* context, Auth auth, std::string_view admin_token) {
  const auto& metadata = context->client_metadata();
  if (auto it = metadata.find(kCorrelationIdKey);
      it != metadata.end() && IsValidCorrelationId(ToView(it->second))) {
    correlation_id_ = std::string(ToView(it->second));
  } else {
    correlation_id_ = NewCorrelationId();
  }
  scope_.emplace(correlation_id_);
  context->AddInitialMetadata(kCorrelationIdKey, correlation_id_);
  if (auth == Auth::kNone) return;

  std::string_view reason;
  auto header = metadata.find(kAuthorizationKey);
  if (header == metadata.end()) {
    reason = "missing authorization";
  } else if (std::optional<std::string_view> token = BearerToken(ToView(header->second));
             !token.has_value()) {
    reason = "authorization scheme is not Bearer";
  } else if (admin_token.empty() || !ConstantTimeEquals(*token, admin_token)) {
    reason = "wrong admin token";
  }
  if (!reason.empty()) {
    LogWarn("admin call refused", {{"reason", reason}, {"peer", context->peer()}});
    status_ = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                           "admin call needs metadata \"authorization: Bearer <ADMIN_TOKEN>\"");
  }
}

void PrepareClientContext(grpc::ClientContext* context, std::string_view admin_token) {
  const std::string& current = CurrentCorrelationId();
  context->AddMetadata(kCorrelationIdKey, current.empty() ? NewCorrelationId() : current);
  if (!admin_token.empty()) context->AddMetadata(kAuthorizationKey, "Bearer " + std::string(admin_token));
}

std::shared_ptr<grpc::Channel> ServiceChannel(const std::string& address) {
  // See rpc.h for why these values.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 1000);
  args.SetLoadBalancingPolicyName("round_robin");
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

}  // namespace protectogram::kernel
