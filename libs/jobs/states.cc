#include "libs/jobs/states.h"

namespace protectogram::jobs {

std::string_view Name(JobState state) {
  switch (state) {
    case JobState::kPending:
      return "pending";
    case JobState::kRunning:
      return "running";
    case JobState::kDone:
      return "done";
    case JobState::kDead:
      return "dead";
  }
  return "pending";
}

std::string_view Name(OutboxStatus status) {
  switch (status) {
    case OutboxStatus::kPending:
      return "pending";
    case OutboxStatus::kSent:
      return "sent";
    case OutboxStatus::kDead:
      return "dead";
  }
  return "pending";
}

std::string_view Name(InboxStatus status) {
  switch (status) {
    case InboxStatus::kReceived:
      return "received";
    case InboxStatus::kDelivered:
      return "delivered";
    case InboxStatus::kIgnored:
      return "ignored";
  }
  return "received";
}

std::optional<JobState> ParseJobState(std::string_view text) {
  for (JobState s : {JobState::kPending, JobState::kRunning, JobState::kDone, JobState::kDead}) {
    if (Name(s) == text) return s;
  }
  return std::nullopt;
}

std::optional<OutboxStatus> ParseOutboxStatus(std::string_view text) {
  for (OutboxStatus s : {OutboxStatus::kPending, OutboxStatus::kSent, OutboxStatus::kDead}) {
    if (Name(s) == text) return s;
  }
  return std::nullopt;
}

std::optional<InboxStatus> ParseInboxStatus(std::string_view text) {
  for (InboxStatus s : {InboxStatus::kReceived, InboxStatus::kDelivered, InboxStatus::kIgnored}) {
    if (Name(s) == text) return s;
  }
  return std::nullopt;
}

}  // namespace protectogram::jobs
