#include "libs/pg/listener.h"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "libs/kernel/log.h"
#include "libs/pg/url.h"

namespace protectogram::pg {
namespace {

constexpr absl::Duration kListenTimeout = absl::Seconds(5);

int PollTimeoutMs(absl::Time until) {
  if (until == absl::InfiniteFuture()) return -1;
  const absl::Duration left = until - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(
      std::min<int64_t>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), 3600 * 1000));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Listener>> Listener::Create(std::string_view url, ListenerOptions options) {
  absl::StatusOr<std::string> normalized = NormalizeDatabaseUrl(url);
  if (!normalized.ok()) return normalized.status();
  const int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  return std::unique_ptr<Listener>(new Listener(*std::move(normalized), std::move(options), fd));
}

Listener::~Listener() {
  conn_.reset();
  close(wake_fd_);
}

void Listener::Interrupt() {
  const uint64_t one = 1;
  // A full counter (never in practice) still leaves the fd readable, which is all we need.
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
}

bool Listener::DrainWake() {
  uint64_t value = 0;
  return read(wake_fd_, &value, sizeof(value)) == static_cast<ssize_t>(sizeof(value));
}

bool Listener::SleepInterruptibly(absl::Time until) {
  pollfd p{wake_fd_, POLLIN, 0};
  while (true) {
    const int timeout_ms = PollTimeoutMs(until);
    const int r = poll(&p, 1, timeout_ms);
    if (r > 0) return DrainWake() || true;
    if (r == 0) {
      if (absl::Now() >= until) return false;
      continue;
    }
    if (errno != EINTR) return false;
  }
}

absl::Status Listener::ListenOn(const std::string& channel) {
  const std::string sql = absl::StrCat("LISTEN ", conn_->QuoteIdentifier(channel));
  return conn_->ExecuteScript(Query{"pg_listen", sql.c_str()}, absl::Now() + kListenTimeout);
}

absl::Status Listener::Connect() {
  absl::StatusOr<std::unique_ptr<Connection>> conn = Connection::Open(url_, options_.connect);
  absl::Status status = conn.status();
  if (status.ok()) {
    conn_ = *std::move(conn);
    for (const std::string& channel : channels_) {
      status = ListenOn(channel);
      if (!status.ok()) {
        conn_.reset();
        break;
      }
    }
  }
  if (!status.ok()) {
    ++connect_failures_;
    const int exponent = std::min(connect_failures_ - 1, 20);
    const absl::Duration step =
        std::min(options_.reconnect_backoff_max, options_.reconnect_backoff_initial * (1 << exponent));
    next_connect_at_ = absl::Now() + step * absl::Uniform(bitgen_, 0.5, 1.0);
    last_error_ = std::string(status.message());
    if (connect_failures_ == 1)
      kernel::LogWarn("pg listener: cannot connect; backing off", {{"error", last_error_}});
    return status;
  }
  if (connect_failures_ > 0)
    kernel::LogInfo("pg listener: connected again", {{"channels", static_cast<int>(channels_.size())}});
  connect_failures_ = 0;
  next_connect_at_ = absl::InfinitePast();
  return absl::OkStatus();
}

void Listener::Disconnected(std::string_view why) {
  kernel::LogWarn("pg listener: connection lost", {{"error", why}});
  conn_.reset();
  next_connect_at_ = absl::InfinitePast();  // the first reconnect attempt is immediate
}

absl::Status Listener::Listen(std::string_view channel) {
  if (channel.empty() || channel.size() > 63) {
    return absl::InvalidArgumentError("pg listener: channel names are 1..63 bytes");
  }
  const std::string name(channel);
  if (std::find(channels_.begin(), channels_.end(), name) == channels_.end()) channels_.push_back(name);
  if (conn_ == nullptr) return Connect();  // subscribes to every registered channel
  absl::Status status = ListenOn(name);
  if (!status.ok() && (conn_ == nullptr || !conn_->healthy())) Disconnected(std::string(status.message()));
  return status;
}

void Listener::Collect(std::vector<Notification>* out) {
  while (PGnotify* n = PQnotifies(conn_->raw())) {
    out->push_back(Notification{n->relname, n->extra != nullptr ? n->extra : "", n->be_pid});
    PQfreemem(n);
  }
}

absl::StatusOr<Listener::WaitResult> Listener::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + std::max(timeout, absl::ZeroDuration());
  WaitResult out;
  if (conn_ == nullptr) {
    if (absl::Now() < next_connect_at_) {
      if (SleepInterruptibly(std::min(next_connect_at_, deadline))) {
        out.interrupted = true;
        return out;
      }
      if (absl::Now() < next_connect_at_) {
        return absl::UnavailableError(absl::StrCat("pg listener: postgres unreachable: ", last_error_));
      }
    }
    if (absl::Status s = Connect(); !s.ok()) return s;
    out.resubscribed = true;
  }
  Collect(&out.notifications);  // libpq may already hold some (read while LISTENing)
  pollfd fds[2] = {{conn_->socket(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  while (out.notifications.empty()) {
    const int r = poll(fds, 2, PollTimeoutMs(deadline));
    if (r < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("pg listener: poll: ", std::strerror(errno)));
    }
    if (r == 0) {
      if (absl::Now() >= deadline) break;
      continue;
    }
    if (fds[1].revents != 0) {
      DrainWake();
      out.interrupted = true;
      break;
    }
    if (!PQconsumeInput(conn_->raw()) || !conn_->healthy()) {
      std::string why = internal::OneLine(PQerrorMessage(conn_->raw()));
      Disconnected(why);
      return absl::UnavailableError(absl::StrCat("pg listener: connection to postgres lost: ", why));
    }
    Collect(&out.notifications);
  }
  return out;
}

}  // namespace protectogram::pg
