#include "tests/fuzz/http/fuzz_entries.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/url/parse.hpp"
#include "libs/http/request_parser.h"

namespace protectogram::http::fuzz {
namespace {

// The session's reads are at most 16 KiB (libs/http/server.cc, kReadSize).
constexpr size_t kReadClasses[] = {1, 16, 1024, 16 * 1024};
// Byte-by-byte feeding rescans the incomplete line on every byte; above this it feeds up to 16 bytes instead.
constexpr size_t kByteByByteMax = 64 * 1024;

std::string_view View(const uint8_t* data, size_t size) {
  return size == 0 ? std::string_view() : std::string_view(reinterpret_cast<const char*>(data), size);
}

bool IsTchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool IsFieldValueByte(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

bool IsWhitespace(char c) { return c == ' ' || c == '\t'; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The elements of a comma-separated field value (RFC 9110 §5.6.1), trimmed, empty ones dropped.
std::vector<std::string_view> ListElements(std::string_view value) {
  std::vector<std::string_view> out;
  while (true) {
    const size_t comma = value.find(',');
    std::string_view element = value.substr(0, comma);
    while (!element.empty() && IsWhitespace(element.front())) element.remove_prefix(1);
    while (!element.empty() && IsWhitespace(element.back())) element.remove_suffix(1);
    if (!element.empty()) out.push_back(element);
    if (comma == std::string_view::npos) return out;
    value.remove_prefix(comma + 1);
  }
}

// The sizes of the reads a connection's bytes arrive in: a small xorshift generator seeded by the control
// byte, each read 1..max bytes.
class ReadSizes {
 public:
  ReadSizes(uint8_t control, size_t total) : max_(kReadClasses[control & 3]) {
    if (max_ == 1 && total > kByteByByteMax) max_ = 16;
    state_ = ((control >> 2) * 2654435761u + 12345u) | 1u;
  }
  size_t Next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return 1 + state_ % max_;
  }

 private:
  size_t max_;
  uint32_t state_;
};

// The bytes a connection has read and not yet handed to a parser. Split: a std::string that reads are
// appended to and consumed bytes erased from, as the session's pending_. Whole: everything has arrived, and
// the pending bytes are a view of the rest (erasing from a large buffer request by request would be
// quadratic).
class Pending {
 public:
  Pending(std::string_view stream, std::optional<ReadSizes> reads) : stream_(stream), reads_(reads) {
    if (!reads_.has_value()) delivered_ = stream_.size();
  }
  std::string_view bytes() const {
    return reads_.has_value() ? std::string_view(buffer_) : stream_.substr(consumed_, delivered_ - consumed_);
  }
  void Consume(size_t n) {
    if (reads_.has_value()) {
      buffer_.erase(0, n);
    } else {
      consumed_ += n;
    }
  }
  // One more read; false when the client has sent everything.
  bool Read() {
    if (!reads_.has_value() || delivered_ == stream_.size()) return false;
    const size_t n = std::min(reads_->Next(), stream_.size() - delivered_);
    buffer_.append(stream_.substr(delivered_, n));
    delivered_ += n;
    return true;
  }

 private:
  std::string_view stream_;
  std::optional<ReadSizes> reads_;
  size_t delivered_ = 0;
  size_t consumed_ = 0;  // whole mode only
  std::string buffer_;   // split mode only
};

// What one request came to.
struct Outcome {
  std::string verdict;
  RequestParser::State state = RequestParser::State::kHead;
  std::optional<RefusalReason> reason;
  bool head_done = false;
  RequestHead head;
  std::string body;
  size_t consumed = 0;
  size_t body_limit = 0;
};

bool SameHead(const RequestHead& a, const RequestHead& b) {
  return a.method == b.method && a.target == b.target && a.version_minor == b.version_minor &&
         a.fields == b.fields && a.keep_alive == b.keep_alive && a.expect_continue == b.expect_continue &&
         a.chunked == b.chunked && a.content_length == b.content_length;
}

// The edge's routes and their body limits (edge/config.h defaults; edge/edge.cc BuildRouter).
size_t EdgeRouteLimit(std::string_view method, std::string_view path) {
  if (method != "POST") return 0;
  if (path == "/telegram/webhook" || path.starts_with("/webhook/")) return 256 * 1024;
  if (path == "/telnyx/webhook") return 64 * 1024;
  if (path == "/twilio/voice" || path == "/twilio/whatsapp") return 64 * 1024;
  if (path == "/whatsapp/webhook") return 512 * 1024;
  return 0;
}

// A lower bound on the bytes the head took on the wire: what the parser keeps of it must fit its limits.
size_t HeadBytes(const RequestHead& head) {
  if (head.method.empty()) return 0;
  size_t n = head.method.size() + 1 + head.target.size() + 1 + 8 + 2;
  for (const auto& [name, value] : head.fields) n += name.size() + 1 + value.size() + 2;
  return n;
}

// What the parser may hold at any time, whatever it was fed.
std::string CheckBounds(RequestParser& parser, const ParserLimits& limits) {
  if (parser.body_limit() > limits.body) return "the body limit went up";
  if (parser.body().size() > parser.body_limit()) {
    return absl::StrCat("body holds ", parser.body().size(), " bytes over its limit ", parser.body_limit());
  }
  if (parser.head().fields.size() > limits.field_count) {
    return absl::StrCat("head holds ", parser.head().fields.size(), " fields");
  }
  if (HeadBytes(parser.head()) > limits.header_total) {
    return absl::StrCat("head holds ", HeadBytes(parser.head()), " bytes");
  }
  if (parser.state() == RequestParser::State::kHead && !parser.body().empty())
    return "a body before the head";
  return "";
}

// A refusal of the parser's own: a status it documents, a message safe to send back and log.
std::string CheckRefusal(const Refusal& refusal) {
  switch (refusal.reason) {
    case RefusalReason::kBadHttp:
    case RefusalReason::kUriTooLong:
    case RefusalReason::kHeadersTooLarge:
    case RefusalReason::kTooLarge:
    case RefusalReason::kNotImplemented:
    case RefusalReason::kUnsupportedEncoding:
    case RefusalReason::kVersionNotSupported:
      break;
    default:
      return absl::StrCat("the parser refused with ", std::string(RefusalLabel(refusal.reason)));
  }
  if (RefusalLabel(refusal.reason).empty()) return "a refusal without a label";
  if (refusal.message.empty() || refusal.message.size() > 200) return "a refusal message of a strange size";
  for (char c : refusal.message) {
    if (c < 0x20 || c > 0x7e) return "a refusal message with a byte that is not printable ASCII";
  }
  return "";
}

// The parser consumes whatever it can: what it leaves unconsumed without a verdict is only ever the start of
// a line it cannot judge yet (or a chunk's CR without its LF), so a connection never waits for bytes it has.
std::string CheckStall(RequestParser::State state, std::string_view rest) {
  using State = RequestParser::State;
  switch (state) {
    case State::kHead:
    case State::kChunkLine:
    case State::kTrailers:
      if (rest.find('\n') != std::string_view::npos) return "a complete line left unconsumed";
      return "";
    case State::kChunkDataEnd:
      if (rest.size() > 1) return "the CRLF after chunk data left unconsumed";
      return "";
    case State::kBody:
    case State::kChunkData:
      if (!rest.empty()) return "body bytes left unconsumed";
      return "";
    case State::kDone:
    case State::kFailed:
      return "";
  }
  return "";
}

// A completed request: its framing must be what its fields say, and what was kept what the RFC allows.
std::string CheckDone(RequestParser& parser, const RequestHead& at_head, size_t consumed) {
  const RequestHead& head = parser.head();
  if (!SameHead(head, at_head)) return "the head changed after it was done (trailers kept?)";
  if (head.method.empty()) return "done without a method";
  for (char c : head.method) {
    if (!IsTchar(static_cast<unsigned char>(c))) return "a method byte that is not a tchar";
  }
  if (head.target.empty()) return "done without a target";
  for (char c : head.target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return "a target byte outside VCHAR";
  }
  if (head.version_minor != 0 && head.version_minor != 1) return "a version_minor other than 0 or 1";

  int hosts = 0, transfer_encodings = 0, content_lengths = 0;
  bool close = false, keep_alive_token = false, expect_continue = false, encoded = false;
  std::vector<std::string_view> codings;
  for (const auto& [name, value] : head.fields) {
    if (name.empty()) return "a field without a name";
    for (char c : name) {
      if (!IsTchar(static_cast<unsigned char>(c))) return "a field name byte that is not a tchar";
      if (c >= 'A' && c <= 'Z') return "a field name not lower-cased";
    }
    if (!value.empty() && (IsWhitespace(value.front()) || IsWhitespace(value.back()))) {
      return "a field value with surrounding whitespace";
    }
    for (char c : value) {
      if (!IsFieldValueByte(static_cast<unsigned char>(c))) return "a control byte in a field value";
    }
    if (name == "host") ++hosts;
    if (name == "transfer-encoding") {
      ++transfer_encodings;
      for (std::string_view coding : ListElements(value)) codings.push_back(coding);
    }
    if (name == "content-length") {
      ++content_lengths;
      const std::vector<std::string_view> elements = ListElements(value);
      if (elements.empty()) return "done with an empty Content-Length";
      for (std::string_view element : elements) {
        if (element.size() > 18) return "done with a Content-Length over 18 digits";
        uint64_t n = 0;
        for (char c : element) {
          if (c < '0' || c > '9') return "done with a Content-Length that is not digits";
          n = n * 10 + static_cast<uint64_t>(c - '0');
        }
        if (n != head.content_length) return "Content-Length disagrees with the framing";
      }
    }
    for (std::string_view element : ListElements(value)) {
      if (name == "connection" && Lower(element) == "close") close = true;
      if (name == "connection" && Lower(element) == "keep-alive") keep_alive_token = true;
      if (name == "expect" && Lower(element) == "100-continue") expect_continue = true;
      if (name == "content-encoding" && Lower(element) != "identity") encoded = true;
    }
  }
  if (head.version_minor == 1 && hosts != 1) return "an HTTP/1.1 request without exactly one Host";
  if (hosts > 1) return "a request with several Host fields";
  if (transfer_encodings > 0) {
    if (!head.chunked) return "Transfer-Encoding without chunked framing";
    if (content_lengths > 0) return "done with both Transfer-Encoding and Content-Length";
    if (head.version_minor == 0) return "Transfer-Encoding in an HTTP/1.0 request";
    if (codings.size() != 1 || Lower(codings.back()) != "chunked") return "a coding other than chunked";
  } else {
    if (head.chunked) return "chunked without Transfer-Encoding";
    if (content_lengths == 0 && head.content_length != 0) return "a body length without Content-Length";
    if (parser.body().size() != head.content_length) {
      return absl::StrCat("body of ", parser.body().size(), " bytes for Content-Length ",
                          head.content_length);
    }
  }
  if (encoded && head.has_body()) return "a body with a Content-Encoding other than identity";
  if (head.keep_alive != (!close && (head.version_minor >= 1 || keep_alive_token)))
    return "keep_alive is wrong";
  if (head.expect_continue != expect_continue) return "expect_continue is wrong";
  if (consumed < HeadBytes(head) + parser.body().size()) return "a request took fewer bytes than it holds";
  return "";
}

// The session's OnHead, as far as the parser sees it: the target must parse (else 400 and close), and the
// route lowers the body limit. Returns the path, or nullopt when the session refuses the target.
std::optional<std::string> SessionPath(std::string_view target) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) url = boost::urls::parse_absolute_uri(target);
  if (!url) return std::nullopt;
  std::string path = url->path();
  for (const auto& param : url->params(boost::urls::encoding_opts(/*space_as_plus=*/true))) {
    (void)param;  // decoded as the session does; nothing to check but that it does not crash
  }
  return path.empty() ? std::string("/") : path;
}

// Lowers the body limit as `control` says and checks LimitBody's contract. "" or what broke.
std::string ApplyLimit(RequestParser& parser, uint8_t control, std::string_view path) {
  std::vector<size_t> limits;
  const size_t route = EdgeRouteLimit(parser.head().method, path);
  const size_t small = static_cast<size_t>(control >> 2) * 8;
  switch (control & 3) {
    case 0:
      if (route > 0) limits.push_back(route);
      break;
    case 1:
      break;
    case 2:
      limits.push_back(small);
      break;
    case 3:
      if (route > 0) limits.push_back(route);
      limits.push_back(size_t{2} << 20);  // never raises
      limits.push_back(small);
      break;
  }
  for (size_t limit : limits) {
    const size_t before = parser.body_limit();
    const bool failed_before = parser.failed();
    parser.LimitBody(limit);
    if (parser.body_limit() != std::min(before, limit)) return "LimitBody did not set min(limit, old limit)";
    if (failed_before) continue;
    const bool over = !parser.head().chunked && parser.head().content_length > parser.body_limit();
    if (over && (!parser.failed() || parser.refusal().reason != RefusalReason::kTooLarge)) {
      return "LimitBody under the Content-Length did not refuse 413";
    }
    if (!over && parser.failed()) return "LimitBody refused a body within the limit";
  }
  return "";
}

// One connection, as the session reads it: a parser per request, fed what is pending, consumed bytes erased,
// the body limit lowered after the head, a refusal ending the connection.
std::string RunConnection(std::string_view stream, std::optional<ReadSizes> reads, uint8_t limit_control,
                          std::vector<Outcome>* outcomes) {
  const ParserLimits limits;  // production: the defaults, body 1 MiB
  Pending pending(stream, reads);
  bool open = true;
  while (open) {
    if (pending.bytes().empty() && !pending.Read()) break;  // the next request starts with its first byte
    RequestParser parser(limits);
    Outcome o;
    RequestHead at_head;
    bool head_seen = false;
    while (true) {
      const std::string_view input = pending.bytes();
      const size_t used = parser.Feed(input);
      if (used > input.size()) return "Feed consumed more than its input";
      pending.Consume(used);
      o.consumed += used;
      if (std::string broken = CheckBounds(parser, limits); !broken.empty()) return broken;
      if (parser.failed()) {
        if (std::string broken = CheckRefusal(parser.refusal()); !broken.empty()) return broken;
        const Refusal refusal = parser.refusal();
        const size_t body_size = parser.body().size();
        if (parser.Feed(pending.bytes()) != 0 || parser.Feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n") != 0) {
          return "consumed after a refusal";
        }
        if (!parser.failed() || parser.refusal().reason != refusal.reason ||
            parser.body().size() != body_size) {
          return "the parser changed after a refusal";
        }
        o.verdict = std::string(RefusalLabel(refusal.reason));
        o.reason = refusal.reason;
        open = false;
        break;
      }
      // (A Feed that ends the head stops there on purpose: its rest is judged by the next Feed.)
      if (head_seen || parser.state() == RequestParser::State::kHead) {
        if (std::string broken = CheckStall(parser.state(), pending.bytes()); !broken.empty()) return broken;
      }
      if (!parser.head_done()) {
        if (!pending.Read()) {
          o.verdict = "incomplete";
          open = false;
          break;
        }
        continue;
      }
      if (!head_seen) {
        head_seen = true;
        const std::optional<std::string> path = SessionPath(parser.head().target);
        if (!path.has_value()) {
          o.verdict = "target_refused";
          open = false;
          break;
        }
        if (std::string broken = ApplyLimit(parser, limit_control, *path); !broken.empty()) return broken;
        if (parser.failed()) {
          o.verdict = std::string(RefusalLabel(parser.refusal().reason));
          o.reason = parser.refusal().reason;
          open = false;
          break;
        }
        at_head = parser.head();
        continue;  // the body may be here already
      }
      if (parser.done()) {
        if (parser.Feed(pending.bytes()) != 0) return "consumed past the end of a request";
        if (std::string broken = CheckDone(parser, at_head, o.consumed); !broken.empty()) return broken;
        o.verdict = "done";
        if (!parser.head().keep_alive) open = false;  // the response closes the connection
        break;
      }
      if (!pending.Read()) {
        o.verdict = "incomplete";
        open = false;
        break;
      }
    }
    o.state = parser.state();
    o.head_done = parser.head_done() || head_seen;
    o.head = parser.head();
    o.body = std::move(parser.body());
    o.body_limit = parser.body_limit();
    outcomes->push_back(std::move(o));
  }
  return "";
}

std::string Compare(const std::vector<Outcome>& whole, const std::vector<Outcome>& split) {
  if (whole.size() != split.size()) {
    return absl::StrCat("all at once: ", whole.size(), " requests; in pieces: ", split.size());
  }
  for (size_t i = 0; i < whole.size(); ++i) {
    const Outcome& a = whole[i];
    const Outcome& b = split[i];
    const std::string which = absl::StrCat("request ", i, ": ");
    if (a.verdict != b.verdict) {
      return absl::StrCat(which, "all at once ", a.verdict, ", in pieces ", b.verdict);
    }
    if (a.state != b.state) return absl::StrCat(which, "states differ");
    if (a.head_done != b.head_done) return absl::StrCat(which, "one run read the head, the other did not");
    if (a.reason.has_value()) {
      // A refused request ends the connection: where in its bytes the refusal came may depend on the reads
      // (an incomplete line is refused once it cannot fit, a complete one when it arrives), so what it
      // consumed and kept of a body does not matter; only the head must be the same when both read it.
      if (a.head_done && !SameHead(a.head, b.head)) return absl::StrCat(which, "heads differ");
      continue;
    }
    if (a.consumed != b.consumed) {
      return absl::StrCat(which, "consumed ", a.consumed, " all at once, ", b.consumed, " in pieces");
    }
    if (!SameHead(a.head, b.head)) return absl::StrCat(which, "heads differ");
    if (a.body != b.body) return absl::StrCat(which, "bodies differ");
    if (a.body_limit != b.body_limit) return absl::StrCat(which, "body limits differ");
  }
  return "";
}

struct Input {
  uint8_t read_control = 0x03;  // 16 KiB reads
  uint8_t limit_control = 0;    // the edge's routes
  std::string_view stream;
};

Input Split(const uint8_t* data, size_t size) {
  Input in;
  if (size < 2) {
    in.stream = View(data, size);
    return in;
  }
  in.read_control = data[0];
  in.limit_control = data[1];
  in.stream = View(data + 2, size - 2);
  return in;
}

}  // namespace

std::string FuzzRequestParser(const uint8_t* data, size_t size) {
  const Input in = Split(data, size);
  std::vector<Outcome> whole, split;
  if (std::string broken = RunConnection(in.stream, std::nullopt, in.limit_control, &whole);
      !broken.empty()) {
    return "all at once: " + broken;
  }
  if (std::string broken =
          RunConnection(in.stream, ReadSizes(in.read_control, in.stream.size()), in.limit_control, &split);
      !broken.empty()) {
    return "in pieces: " + broken;
  }
  size_t consumed = 0;
  for (const Outcome& o : whole) consumed += o.consumed;
  if (consumed > in.stream.size()) return "consumed more than the connection sent";
  return Compare(whole, split);
}

std::vector<std::string> RequestParserVerdicts(const uint8_t* data, size_t size) {
  const Input in = Split(data, size);
  std::vector<Outcome> outcomes;
  std::vector<std::string> verdicts;
  if (!RunConnection(in.stream, std::nullopt, in.limit_control, &outcomes).empty()) {
    verdicts.push_back("invariant broken");
  }
  for (const Outcome& o : outcomes) verdicts.push_back(o.verdict);
  return verdicts;
}

}  // namespace protectogram::http::fuzz
