// A TelephonyProvider that answers from a script and records what it was asked, for tests of the service
// logic that need no network (the network-level fakes of each provider API are in libs/providers/*/fake_*).
// It behaves like the real providers on the points the service relies on: with `idempotent`, a Dial with a
// dial key it has seen returns the same call and places nothing (Telnyx command_id, ARI channelId); without,
// FindEarlierDial finds a call an earlier Dial placed even when its answer was lost (Twilio's list).
#pragma once

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "services/telephony/provider.h"

namespace protectogram::telephony {

class FakeProvider final : public TelephonyProvider {
 public:
  struct Command {
    std::string kind;  // "dial", "find", "prompt", "hangup"
    std::string attempt_key;
    std::string dial_key;
    std::string provider_call_id;
    std::string to;
  };
  // What one Dial does.
  enum class DialScript {
    kAccept,             // placed, answered with the call
    kRefuse,             // not placed: Permanent, reason "refused"
    kFailTransient,      // not placed: UNAVAILABLE, reason "unavailable"
    kPlaceButLoseReply,  // placed, but the answer is lost: DEADLINE_EXCEEDED, reason "timeout"
    kPlaceAndHang,       // placed, then the answer waits until ReleaseHung() (a process dying mid-request)
  };

  FakeProvider(std::string name, common::v1::Provider provider, bool idempotent)
      : name_(std::move(name)), provider_(provider), idempotent_(idempotent) {}

  void ScriptDial(DialScript script);
  // Lets every kPlaceAndHang answer (UNAVAILABLE: the process that asked is gone).
  void ReleaseHung();
  // Calls actually placed (what rang), per number.
  int PlacedCount(const std::string& to) const;
  int PlacedTotal() const;
  std::vector<Command> Commands() const;
  int CountOf(const std::string& kind) const;

  std::string_view name() const override { return name_; }
  common::v1::Provider provider() const override { return provider_; }
  absl::StatusOr<PlacedCall> Dial(const DialRequest& request) override;
  absl::StatusOr<std::optional<PlacedCall>> FindEarlierDial(const DialRequest& request) override;
  absl::Status StartPrompt(const CallRef& call, const Prompt& prompt) override;
  absl::Status Hangup(const CallRef& call) override;

 private:
  const std::string name_;
  const common::v1::Provider provider_;
  const bool idempotent_;
  mutable absl::Mutex mu_;
  std::deque<DialScript> script_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> placed_by_key_ ABSL_GUARDED_BY(mu_);  // dial key -> call id
  std::map<std::string, int> placed_per_number_ ABSL_GUARDED_BY(mu_);
  std::vector<Command> commands_ ABSL_GUARDED_BY(mu_);
  int next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace protectogram::telephony
