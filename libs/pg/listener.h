// LISTEN/NOTIFY on a dedicated connection (never a pooled one: a transaction-mode pooler cannot keep a
// LISTEN). Give it DATABASE_DIRECT_URL when set, else DATABASE_URL.
//
//   auto listener = pg::Listener::Create(direct_url);
//   (*listener)->Listen("jobs_due");
//   while (!stopping) {                                // another thread may call Interrupt() to stop us
//     auto woke = (*listener)->Wait(absl::Seconds(5));
//     if (!woke.ok() || woke->resubscribed) RescanTables();  // notifications may have been missed
//     for (const pg::Notification& n : woke->notifications) Handle(n.channel, n.payload);
//   }
//
// A lost connection is re-established by the next Wait (exponential back-off with jitter, capped), which
// LISTENs again on every channel and reports resubscribed=true: whatever was notified while the connection
// was down is lost, so callers re-read their tables then. Notifications are delivered at the sender's commit.
// Thread-safety: Listen and Wait from one thread; Interrupt from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/pg/connection.h"

namespace protectogram::pg {

struct Notification {
  std::string channel;
  std::string payload;
  int sender_pid = 0;  // backend pid of the notifying session
};

struct ListenerOptions {
  ConnectOptions connect;
  absl::Duration reconnect_backoff_initial = absl::Milliseconds(100);
  absl::Duration reconnect_backoff_max = absl::Seconds(5);
};

class Listener {
 public:
  // INVALID_ARGUMENT for a malformed URL; INTERNAL if the wake-up eventfd cannot be created. Does not
  // connect.
  static absl::StatusOr<std::unique_ptr<Listener>> Create(std::string_view url, ListenerOptions options = {});
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Subscribes to `channel` (1..63 bytes; any characters) now, connecting if needed, and after every
  // reconnect. INVALID_ARGUMENT for a bad name; UNAVAILABLE if Postgres is unreachable right now (the channel
  // stays registered and the next successful Wait subscribes to it).
  absl::Status Listen(std::string_view channel);

  struct WaitResult {
    std::vector<Notification> notifications;  // in arrival order; empty on timeout or interrupt
    bool resubscribed =
        false;  // (re)connected and LISTENed during this call: earlier notifications may be lost
    bool interrupted = false;  // Interrupt() woke this call
  };
  // Waits up to `timeout` for notifications; returns as soon as at least one is there. Returns promptly after
  // Interrupt(). UNAVAILABLE when the connection was just lost or cannot be re-established (the next Wait
  // tries again after the back-off, sleeping at most `timeout`). Connecting can take up to the connect
  // timeout.
  absl::StatusOr<WaitResult> Wait(absl::Duration timeout);

  // Wakes the current Wait, or makes the next one return at once. Async-signal-safe.
  void Interrupt();

  bool connected() const { return conn_ != nullptr; }

 private:
  Listener(std::string url, ListenerOptions options, int wake_fd)
      : url_(std::move(url)), options_(std::move(options)), wake_fd_(wake_fd) {}
  absl::Status Connect();
  absl::Status ListenOn(const std::string& channel);
  void Disconnected(std::string_view why);
  void Collect(std::vector<Notification>* out);
  // Sleeps until `until` or an Interrupt(); returns true if interrupted.
  bool SleepInterruptibly(absl::Time until);
  bool DrainWake();

  const std::string url_;
  const ListenerOptions options_;
  const int wake_fd_;
  std::unique_ptr<Connection> conn_;
  std::vector<std::string> channels_;
  int connect_failures_ = 0;
  absl::Time next_connect_at_ = absl::InfinitePast();
  std::string last_error_;
  absl::BitGen bitgen_;
};

}  // namespace protectogram::pg
