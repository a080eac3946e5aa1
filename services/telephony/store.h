// The telephony service's reads and writes (queries.h): a call row, its history, the spend so far. The
// decisions are call_machine.h's; this only moves rows.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/pg/pool.h"
#include "services/telephony/call_machine.h"
#include "services/telephony/guardrails.h"

namespace protectogram::telephony {

// One row of telephony.call_attempts.
struct CallRow {
  int64_t id = 0;
  std::string call_id;  // uuid
  std::string attempt_key;
  int64_t incident_id = 0;
  int attempt_number = 1;
  std::string to_e164;
  std::string provider;
  std::string provider_call_id;
  CallState state = CallState::kPending;
  std::string digits;
  int duration_sec = 0;
  std::string failure_reason;
  std::string correlation_id;
  std::string report_service, report_key;
  std::string requested_by;
  std::string speak_text, language, valid_digits = "1";
  int prompt_repeats = 3;
  int ring_timeout_sec = 25;
  std::string caller_id;
  std::string dialplan_context, dialplan_extension;
  int dialplan_priority = 1;
  std::vector<std::string> providers;  // the failover order fixed when the call was placed
  int provider_index = 0;
  std::string dial_key;
  bool machine_detected = false;
  std::optional<Outcome> outcome;
  std::optional<absl::Time> created_at, dialed_at, answered_at, ended_at, dial_started_at;

  // The provider now placing the call ("" past the end of the list).
  std::string current_provider() const {
    return provider_index < static_cast<int>(providers.size()) ? providers[provider_index] : "";
  }
  CallFacts Facts() const;
};

// What a decision writes back (besides the facts).
struct CallUpdate {
  bool dial_started = false;      // dial_started_at and dialed_at, if unset
  bool clear_dial_start = false;  // failover: the next provider's dial has not started
  bool answered = false;
  bool ended = false;
  bool not_billable = false;  // refused by a guardrail
};

struct HistoryEntry {
  absl::Time at;
  std::string source, kind;
  std::string state_before, state_after;
  std::string detail_json;
};

struct CallFilter {
  std::optional<CallState> state;
  std::string correlation_id;
  std::string to_e164;
  std::optional<absl::Time> created_after;
  int limit = 50;
};

class Store {
 public:
  explicit Store(pg::Pool& pool) : pool_(pool) {}

  // Inserts the call; nullopt when the attempt key exists (nothing changes).
  static absl::StatusOr<std::optional<CallRow>> Insert(pg::Transaction& txn, const CallRow& call);
  static absl::Status LockSpend(pg::Transaction& txn);
  // Takes the correlation's lock (until commit) and says whether HangupAll has closed it (`close`: closes it).
  static absl::StatusOr<bool> LockCorrelation(pg::Transaction& txn, const std::string& correlation_id,
                                              bool close);
  // What the other billable calls spent (`except`: the call being placed).
  static absl::StatusOr<SpendSoFar> Spend(pg::Transaction& txn, int64_t except);
  // NOT_FOUND if no call has the key.
  static absl::StatusOr<CallRow> Lock(pg::Transaction& txn, const std::string& attempt_key);
  // The call an event belongs to, locked, or nullopt.
  static absl::StatusOr<std::optional<CallRow>> LockForEvent(pg::Transaction& txn,
                                                             const std::string& provider,
                                                             const std::string& provider_call_id,
                                                             const std::string& client_state);
  // Writes back the call's facts and adds a history entry (state after = call.state), in one statement.
  static absl::Status UpdateWithHistory(pg::Transaction& txn, const CallRow& call, const CallUpdate& update,
                                        const std::string& source, const std::string& kind, CallState before,
                                        const std::string& detail_json);
  static absl::Status AddHistory(pg::Transaction& txn, int64_t attempt_id, const std::string& source,
                                 const std::string& kind, CallState before, CallState after,
                                 const std::string& detail_json);
  static absl::StatusOr<std::vector<std::string>> LockLiveCallsOf(pg::Transaction& txn,
                                                                  const std::string& correlation_id);

  // NOT_FOUND if unknown.
  absl::StatusOr<CallRow> Get(const std::string& attempt_key);
  absl::StatusOr<CallRow> GetById(const std::string& call_id);
  absl::StatusOr<std::vector<CallRow>> List(const CallFilter& filter);
  absl::StatusOr<std::vector<HistoryEntry>> History(int64_t attempt_id);

  pg::Pool& pool() { return pool_; }

 private:
  pg::Pool& pool_;
};

}  // namespace protectogram::telephony
