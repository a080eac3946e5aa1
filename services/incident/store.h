// The incident service's reads and writes (statements in queries.h): users, guardian links, invites, the
// chats' conversation state, incidents (their core state), the timeline, test calls, and the admin views.
// Whatever runs inside an event's transaction is a static function taking that transaction; the admin reads
// use the pool.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/pg/pool.h"
#include "protectogram/incident/v1/incident.pb.h"
#include "services/incident/core/incident_core.h"

namespace protectogram::incident {

// One row of incident.users.
struct UserRow {
  int64_t id = 0;
  int64_t telegram_id = 0;
  std::string name;
  std::string phone_e164;  // "" until the contact was shared
  std::string locale;
  std::string bot_id;
  std::string chat_id;
  bool registered = false;

  core::Person person() const;
};

// An invite as /start <token> finds it.
struct InviteRow {
  std::string token;
  int64_t traveler_user_id = 0;
  std::string traveler_name;
  bool expired = false;
  bool used = false;
};

// A test call's outcome: whose link it was.
struct TestCallLink {
  int64_t traveler_user_id = 0;
  int64_t guardian_user_id = 0;
};

class Store {
 public:
  explicit Store(pg::Pool& pool) : pool_(pool) {}
  pg::Pool& pool() { return pool_; }

  // --- Conversations (locked until commit: one event of a chat at a time) ---
  static absl::StatusOr<std::string> LockConversation(pg::Transaction& txn, const std::string& bot_id,
                                                      const std::string& chat_id);
  static absl::Status SaveConversation(pg::Transaction& txn, const std::string& bot_id,
                                       const std::string& chat_id, const std::string& state_json);

  // --- Users and links ---
  static absl::StatusOr<std::optional<UserRow>> UserById(pg::Transaction& txn, int64_t id);
  static absl::StatusOr<std::optional<UserRow>> UserByTelegramId(pg::Transaction& txn, int64_t telegram_id);
  // Registers (or re-registers) the user; answers the id.
  static absl::StatusOr<int64_t> UpsertUser(pg::Transaction& txn, int64_t telegram_id,
                                            const std::string& name, const std::string& phone_e164,
                                            const std::string& locale, const std::string& bot_id,
                                            const std::string& chat_id);
  // The traveler's active guardians in call order, with their policies.
  static absl::StatusOr<std::vector<core::Guardian>> GuardiansOf(pg::Transaction& txn,
                                                                 int64_t traveler_user_id);
  static absl::StatusOr<bool> IsGuardian(pg::Transaction& txn, int64_t traveler_user_id,
                                         int64_t guardian_user_id);
  // A new guardian goes last in the call order; a removed link comes back. Answers the link id.
  static absl::StatusOr<int64_t> UpsertLink(pg::Transaction& txn, int64_t traveler_user_id,
                                            int64_t guardian_user_id, const core::Policy& policy);
  static absl::Status SetLinkPriority(pg::Transaction& txn, int64_t link_id, int priority);
  // Removes the traveler's link; answers the guardian's user id (nullopt: no such active link).
  static absl::StatusOr<std::optional<int64_t>> RemoveLink(pg::Transaction& txn, int64_t link_id,
                                                           int64_t traveler_user_id);

  // --- Invites ---
  static absl::Status InsertInvite(pg::Transaction& txn, const std::string& token, int64_t traveler_user_id,
                                   absl::Duration ttl);
  static absl::StatusOr<std::optional<InviteRow>> InviteByToken(pg::Transaction& txn,
                                                                const std::string& token);
  // One use, before it expires; answers the traveler (nullopt: used or expired).
  static absl::StatusOr<std::optional<int64_t>> UseInvite(pg::Transaction& txn, const std::string& token,
                                                          int64_t guardian_user_id);

  // --- Incidents ---
  // A new active incident; nullopt when the traveler has one already (the partial unique index decides).
  static absl::StatusOr<std::optional<int64_t>> InsertIncident(pg::Transaction& txn, int64_t traveler_user_id,
                                                               bool is_test);
  static absl::StatusOr<std::optional<int64_t>> ActiveIncidentOf(pg::Transaction& txn,
                                                                 int64_t traveler_user_id);
  // Active or escalated: what /cancel ends.
  static absl::StatusOr<std::optional<int64_t>> OpenIncidentOf(pg::Transaction& txn,
                                                               int64_t traveler_user_id);
  // The incident's core state, locked until commit (nullopt: no such incident).
  static absl::StatusOr<std::optional<std::string>> LockIncident(pg::Transaction& txn, int64_t id);
  // Saves the state and the columns that mirror it; answers the incident's age (since the panic).
  static absl::StatusOr<absl::Duration> SaveIncident(pg::Transaction& txn, const core::Incident& incident);
  // The first accepted alert: answers the time since the panic, once (nullopt afterwards).
  static absl::StatusOr<std::optional<absl::Duration>> FirstAlert(pg::Transaction& txn, int64_t id);
  static absl::Status AddTimeline(pg::Transaction& txn, int64_t id, const std::string& correlation_id,
                                  const std::vector<core::TimelineEntry>& entries);
  // Calls of the incident still waiting in the outbox (not being sent) are dropped.
  static absl::Status DropPendingCalls(pg::Transaction& txn, int64_t id);
  // Active incidents with nothing pending or running, unchanged for `grace` (the auditor).
  static absl::StatusOr<std::vector<int64_t>> OrphanIncidents(pg::Transaction& txn, absl::Duration grace);
  absl::StatusOr<std::vector<int64_t>> OrphanIncidents(absl::Duration grace);

  // --- Test calls ---
  static absl::Status InsertTestCall(pg::Transaction& txn, const std::string& attempt_key, int64_t link_id);
  // Records the outcome once; nullopt when it was recorded already (or the call is unknown).
  static absl::StatusOr<std::optional<TestCallLink>> FinishTestCall(pg::Transaction& txn,
                                                                    const std::string& attempt_key,
                                                                    const std::string& outcome);

  // --- Admin views ---
  // status UNSPECIFIED: any.
  absl::StatusOr<std::vector<v1::Incident>> ListIncidents(v1::IncidentStatus status, int64_t traveler_user_id,
                                                          int limit);
  // With the state and the whole timeline; nullopt: no such incident.
  absl::StatusOr<std::optional<v1::Incident>> GetIncident(int64_t id);
  absl::StatusOr<std::optional<int64_t>> UserIdByTelegramId(int64_t telegram_id);
  absl::StatusOr<std::vector<v1::User>> ListUsers(int limit);  // phones masked
  absl::StatusOr<std::vector<v1::Link>> ListLinks(int64_t traveler_user_id);
  // nullopt: no such link.
  absl::StatusOr<std::optional<v1::Link>> SetLinkPolicy(const v1::SetLinkPolicyRequest& request);

 private:
  pg::Pool& pool_;
};

}  // namespace protectogram::incident
