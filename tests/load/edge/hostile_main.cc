// edge_hostile_load: hostile clients for the edge benchmarks (tests/load/edge/hostile.sh, docs/benchmarks.md
// "Edge under hostile clients"). Two modes, each printing one JSON line:
//
//   edge_hostile_load flood PORT CONNECTIONS SECONDS SECRET
//     CONNECTIONS raw connections, a third each streaming an endless chunk extension, endless trailer fields,
//     or a slowloris head (one byte every 500 ms); each reconnects as soon as the edge refuses or closes it,
//     for SECONDS. The floods carry the bot's SECRET, so that they get past the head's checks to the body's
//     framing (the worst case: without it the edge refuses them from the head). Counts the answers by status.
//
//   edge_hostile_load unauth PORT PID REQUESTS
//     For each route, REQUESTS of the most expensive request an unauthenticated client can make there (a
//     maximal body with a wrong but well-formed signature), each on a new connection, body sent in full; the
//     edge's CPU time (utime + stime of /proc/PID/stat) per request.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/child_process.h"

namespace {

using Clock = std::chrono::steady_clock;

int Connect(uint16_t port, bool nonblocking) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  if (nonblocking) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// ---- flood --------------------------------------------------------------------------------------------

enum class Kind { kChunkExtension, kTrailers, kSlowloris };

struct Attacker {
  Kind kind;
  int fd = -1;
  std::string pending;  // bytes still to send of the current piece
  std::string received;
  Clock::time_point next_send;
};

std::string Head(Kind kind, const std::string& secret) {
  if (kind == Kind::kSlowloris) return "POST /webhook/main HTTP/1.1\r\nHost: edge\r\nX-Slow: ";
  return "POST /webhook/main HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n"
         "X-Telegram-Bot-Api-Secret-Token: " +
         secret + "\r\n\r\n" + (kind == Kind::kChunkExtension ? "1;ext=" : "1\r\na\r\n0\r\n");
}

std::string Piece(Kind kind) {
  switch (kind) {
    case Kind::kChunkExtension:
      return std::string(1024, 'a');
    case Kind::kTrailers:
      return "X-Trailer: " + std::string(200, 'b') + "\r\n";
    case Kind::kSlowloris:
      return "s";
  }
  return "";
}

int Flood(uint16_t port, int connections, int seconds, const std::string& secret) {
  std::vector<Attacker> attackers(static_cast<size_t>(connections));
  for (int i = 0; i < connections; ++i) attackers[static_cast<size_t>(i)].kind = static_cast<Kind>(i % 3);
  std::map<int, long> statuses;  // status -> answers
  long connects = 0, closes = 0;
  auto open = [&](Attacker& a) {
    a.fd = Connect(port, /*nonblocking=*/true);
    a.pending = Head(a.kind, secret);
    a.received.clear();
    a.next_send = Clock::now();
    if (a.fd >= 0) ++connects;
  };
  auto finish = [&](Attacker& a) {
    if (a.received.rfind("HTTP/1.1 ", 0) == 0 && a.received.size() >= 12) {
      ++statuses[std::atoi(a.received.c_str() + 9)];
    }
    ::close(a.fd);
    a.fd = -1;
    ++closes;
  };
  const auto until = Clock::now() + std::chrono::seconds(seconds);
  for (Attacker& a : attackers) open(a);
  char buffer[16384];
  while (Clock::now() < until) {
    const auto now = Clock::now();
    for (Attacker& a : attackers) {
      if (a.fd < 0) {
        open(a);
        continue;
      }
      if (now >= a.next_send) {
        if (a.pending.empty()) a.pending = Piece(a.kind);
        const ssize_t n = ::send(a.fd, a.pending.data(), a.pending.size(), MSG_NOSIGNAL);
        if (n > 0) a.pending.erase(0, static_cast<size_t>(n));
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
          finish(a);
          continue;
        }
        if (a.kind == Kind::kSlowloris) a.next_send = now + std::chrono::milliseconds(500);
      }
      const ssize_t r = ::recv(a.fd, buffer, sizeof(buffer), 0);
      if (r > 0) {
        a.received.append(buffer, static_cast<size_t>(r));
      } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        finish(a);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (Attacker& a : attackers) {
    if (a.fd >= 0) ::close(a.fd);
  }
  std::printf("{\"connections\":%d,\"seconds\":%d,\"connects\":%ld,\"closed_by_edge\":%ld,\"answers\":{",
              connections, seconds, connects, closes);
  bool first = true;
  for (const auto& [status, count] : statuses) {
    std::printf("%s\"%d\":%ld", first ? "" : ",", status, count);
    first = false;
  }
  std::printf("}}\n");
  return 0;
}

// ---- unauth ---------------------------------------------------------------------------------------------

std::string Request(const std::string& target, const std::string& headers, const std::string& body) {
  return "POST " + target + " HTTP/1.1\r\nHost: edge\r\n" + headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Sends the whole request (even after an early answer) and reads the answer; the status, 0 when none came.
int Exchange(uint16_t port, const std::string& request) {
  const int fd = Connect(port, /*nonblocking=*/false);
  if (fd < 0) return 0;
  size_t sent = 0;
  std::string received;
  char buffer[16384];
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  pollfd p{fd, POLLIN, 0};
  while (received.find("\r\n\r\n") == std::string::npos && ::poll(&p, 1, 2000) > 0) {
    const ssize_t r = ::recv(fd, buffer, sizeof(buffer), 0);
    if (r <= 0) break;
    received.append(buffer, static_cast<size_t>(r));
  }
  ::close(fd);
  return received.size() >= 12 ? std::atoi(received.c_str() + 9) : 0;
}

struct Case {
  const char* route;
  std::string request;
};

std::vector<Case> UnauthenticatedWorstCases() {
  std::vector<Case> cases;
  // A JSON body of the route's whole limit (a long string: the cheapest to build, as costly as any to hash).
  auto json = [](size_t size) { return "{\"x\":\"" + std::string(size - 8, 'a') + "\"}"; };
  cases.push_back({"telegram /webhook/main (wrong secret, 256 KiB)",
                   Request("/webhook/main", "X-Telegram-Bot-Api-Secret-Token: wrong-secret-0123456789\r\n",
                           json(256 * 1024))});
  cases.push_back({"telegram /telegram/webhook?secret= (wrong, 256 KiB)",
                   Request("/telegram/webhook?secret=wrong-secret-0123456789", "", json(256 * 1024))});
  const std::string now = std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  cases.push_back({"telnyx (current timestamp, wrong Ed25519 signature, 64 KiB)",
                   Request("/telnyx/webhook",
                           "Telnyx-Timestamp: " + now +
                               "\r\nTelnyx-Signature-Ed25519: " + std::string(86, 'A') + "==\r\n",
                           json(64 * 1024))});
  // Twilio: 255 fields (just under the cap) filling 64 KiB, every byte percent-encoded: the most parsing and
  // hashing a form can cost before its signature is known to be wrong.
  std::string form;
  for (int i = 0; i < 255; ++i) {
    std::string field = "F" + std::to_string(i) + "=";
    while (field.size() + 3 <= (64 * 1024 - 16) / 255) field += "%41";
    form += field + (i + 1 < 255 ? "&" : "");
  }
  cases.push_back({"twilio /twilio/voice (255 percent-encoded fields, 64 KiB, wrong signature)",
                   Request("/twilio/voice",
                           "Content-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: "
                           "AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n",
                           form)});
  std::string empty_fields;
  while (empty_fields.size() + 2 <= 64 * 1024) empty_fields += "a&";
  cases.push_back({"twilio /twilio/voice (32k empty fields, 64 KiB)",
                   Request("/twilio/voice",
                           "Content-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: "
                           "AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n",
                           empty_fields)});
  cases.push_back(
      {"whatsapp (wrong HMAC-SHA256, 512 KiB)",
       Request("/whatsapp/webhook", "X-Hub-Signature-256: sha256=" + std::string(64, '0') + "\r\n",
               json(512 * 1024))});
  // The HTTP layer itself: a maximal head (99 fields, 16 KiB) and a chunked body of 1-byte chunks up to the
  // framing limit, on a route that refuses it.
  std::string fields;
  for (int i = 0; i < 95; ++i) fields += "X-F" + std::to_string(i) + ": " + std::string(150, 'v') + "\r\n";
  cases.push_back({"any route (95 header fields, ~16 KiB head)", Request("/nowhere", fields, "")});
  std::string chunks =
      "POST /webhook/main HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n"
      "X-Telegram-Bot-Api-Secret-Token: wrong-secret-0123456789\r\n\r\n";
  for (int i = 0; i < 12000; ++i) chunks += "1\r\na\r\n";
  chunks += "0\r\n\r\n";
  cases.push_back({"telegram (wrong secret, 12k one-byte chunks)", chunks});
  return cases;
}

int Unauth(uint16_t port, int pid, int requests) {
  std::printf("{\"requests_per_route\":%d,\"routes\":[", requests);
  bool first = true;
  for (const Case& c : UnauthenticatedWorstCases()) {
    std::map<int, int> statuses;
    const double before = protectogram::testing::ProcessCpuSeconds(pid);
    const auto start = Clock::now();
    for (int i = 0; i < requests; ++i) ++statuses[Exchange(port, c.request)];
    const double wall = std::chrono::duration<double>(Clock::now() - start).count();
    const double cpu_ms = (protectogram::testing::ProcessCpuSeconds(pid) - before) * 1000.0 / requests;
    std::printf(
        "%s{\"route\":\"%s\",\"request_bytes\":%zu,\"edge_cpu_ms_per_request\":%.3f,\"wall_ms_per_request\":%"
        ".3f,"
        "\"statuses\":{",
        first ? "" : ",", c.route, c.request.size(), cpu_ms, wall * 1000.0 / requests);
    bool first_status = true;
    for (const auto& [status, count] : statuses) {
      std::printf("%s\"%d\":%d", first_status ? "" : ",", status, count);
      first_status = false;
    }
    std::printf("}}");
    first = false;
  }
  std::printf("]}\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "flood" && argc == 6) {
    return Flood(static_cast<uint16_t>(std::atoi(argv[2])), std::atoi(argv[3]), std::atoi(argv[4]), argv[5]);
  }
  if (mode == "unauth" && argc == 5) {
    return Unauth(static_cast<uint16_t>(std::atoi(argv[2])), std::atoi(argv[3]), std::atoi(argv[4]));
  }
  std::fprintf(stderr,
               "usage: edge_hostile_load flood PORT CONNECTIONS SECONDS SECRET\n"
               "       edge_hostile_load unauth PORT EDGE_PID REQUESTS\n");
  return 2;
}
