#include "services/telephony/fake_provider.h"

#include "absl/strings/str_cat.h"
#include "libs/jobs/retry.h"

namespace protectogram::telephony {

void FakeProvider::ScriptDial(DialScript script) {
  absl::MutexLock lock(&mu_);
  script_.push_back(script);
}

void FakeProvider::ReleaseHung() {
  absl::MutexLock lock(&mu_);
  released_ = true;
}

int FakeProvider::PlacedCount(const std::string& to) const {
  absl::MutexLock lock(&mu_);
  auto it = placed_per_number_.find(to);
  return it == placed_per_number_.end() ? 0 : it->second;
}

int FakeProvider::PlacedTotal() const {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const auto& [to, count] : placed_per_number_) n += count;
  return n;
}

std::vector<FakeProvider::Command> FakeProvider::Commands() const {
  absl::MutexLock lock(&mu_);
  return commands_;
}

int FakeProvider::CountOf(const std::string& kind) const {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const Command& c : commands_) n += c.kind == kind;
  return n;
}

absl::StatusOr<PlacedCall> FakeProvider::Dial(const DialRequest& request) {
  absl::MutexLock lock(&mu_);
  commands_.push_back({.kind = "dial",
                       .attempt_key = request.attempt_key,
                       .dial_key = request.dial_key,
                       .to = request.to_e164});
  if (idempotent_) {
    if (auto it = placed_by_key_.find(request.dial_key); it != placed_by_key_.end()) {
      return PlacedCall{.provider_call_id = it->second};
    }
  }
  DialScript script = DialScript::kAccept;
  if (!script_.empty()) {
    script = script_.front();
    script_.pop_front();
  }
  switch (script) {
    case DialScript::kRefuse:
      return jobs::WithFailureReason(jobs::Permanent(absl::InvalidArgumentError("refused by the script")),
                                     "refused");
    case DialScript::kFailTransient:
      return jobs::WithFailureReason(absl::UnavailableError("unavailable by the script"), "unavailable");
    case DialScript::kAccept:
    case DialScript::kPlaceButLoseReply:
    case DialScript::kPlaceAndHang:
      break;
  }
  const std::string id = absl::StrCat(name_, "-call-", next_id_++);
  placed_by_key_[request.dial_key] = id;
  placed_per_number_[request.to_e164] += 1;
  if (script == DialScript::kPlaceAndHang) {
    mu_.Await(absl::Condition(&released_));
    return absl::UnavailableError("the process that dialed is gone");
  }
  if (script == DialScript::kPlaceButLoseReply) {
    return jobs::WithFailureReason(absl::DeadlineExceededError("answer lost by the script"), "timeout");
  }
  return PlacedCall{.provider_call_id = id};
}

absl::StatusOr<std::optional<PlacedCall>> FakeProvider::FindEarlierDial(const DialRequest& request) {
  absl::MutexLock lock(&mu_);
  commands_.push_back({.kind = "find",
                       .attempt_key = request.attempt_key,
                       .dial_key = request.dial_key,
                       .to = request.to_e164});
  if (idempotent_) return std::nullopt;
  if (auto it = placed_by_key_.find(request.dial_key); it != placed_by_key_.end()) {
    return std::optional<PlacedCall>(PlacedCall{.provider_call_id = it->second});
  }
  return std::nullopt;
}

absl::Status FakeProvider::StartPrompt(const CallRef& call, const Prompt&) {
  absl::MutexLock lock(&mu_);
  commands_.push_back({.kind = "prompt",
                       .attempt_key = call.attempt_key,
                       .dial_key = call.dial_key,
                       .provider_call_id = call.provider_call_id});
  return absl::OkStatus();
}

absl::Status FakeProvider::Hangup(const CallRef& call) {
  absl::MutexLock lock(&mu_);
  commands_.push_back({.kind = "hangup",
                       .attempt_key = call.attempt_key,
                       .dial_key = call.dial_key,
                       .provider_call_id = call.provider_call_id});
  return absl::OkStatus();
}

}  // namespace protectogram::telephony
