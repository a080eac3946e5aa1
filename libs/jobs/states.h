// The states of durable work, as the tables store them (CHECK constraints of db/migrations) and as code
// compares them: enums, so that a typo is a compile error rather than a state nothing ever reaches.
#pragma once

#include <optional>
#include <ostream>
#include <string_view>

namespace protectogram::jobs {

// A job: waiting for its run_at, claimed by a worker, finished, or out of attempts.
enum class JobState { kPending, kRunning, kDone, kDead };
// An outbox message: to be sent (or being sent: its lease is next_attempt_at), acknowledged, or given up.
enum class OutboxStatus { kPending, kSent, kDead };
// An inbox event: stored and not yet delivered, delivered to its consumer, or processed without delivery.
enum class InboxStatus { kReceived, kDelivered, kIgnored };

// The text the tables hold: "pending", "running", "done", "dead", "sent", "received", "delivered", "ignored".
std::string_view Name(JobState state);
std::string_view Name(OutboxStatus status);
std::string_view Name(InboxStatus status);
// nullopt for a text the tables cannot hold.
std::optional<JobState> ParseJobState(std::string_view text);
std::optional<OutboxStatus> ParseOutboxStatus(std::string_view text);
std::optional<InboxStatus> ParseInboxStatus(std::string_view text);

// For test failure messages.
inline std::ostream& operator<<(std::ostream& out, JobState s) { return out << Name(s); }
inline std::ostream& operator<<(std::ostream& out, OutboxStatus s) { return out << Name(s); }
inline std::ostream& operator<<(std::ostream& out, InboxStatus s) { return out << Name(s); }

}  // namespace protectogram::jobs
