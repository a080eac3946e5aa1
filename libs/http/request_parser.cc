#include "libs/http/request_parser.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"

namespace protectogram::http {
namespace {

// RFC 9110 §5.6.2 tchar.
bool IsTchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

// A byte a field value (or a chunk extension) may hold: VCHAR, obs-text, SP, HTAB (RFC 9110 §5.5).
constexpr bool IsFieldValueByte(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

constexpr bool IsWhitespace(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsWhitespace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsWhitespace(s.back())) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Calls f(element) for each non-empty element of a comma-separated list (RFC 9110 §5.6.1), trimmed.
template <typename F>
void ForEachListElement(std::string_view value, F f) {
  while (true) {
    const size_t comma = value.find(',');
    const std::string_view element = Trim(value.substr(0, comma));
    if (!element.empty()) f(element);
    if (comma == std::string_view::npos) return;
    value.remove_prefix(comma + 1);
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Never reserve more than this for a body before its bytes arrive: a client that announces a large
// Content-Length and sends nothing must not make every connection hold the limit.
constexpr size_t kMaxBodyReserve = 64 * 1024;

}  // namespace

std::string_view RefusalLabel(RefusalReason reason) {
  switch (reason) {
    case RefusalReason::kBadHttp:
      return "bad_http";
    case RefusalReason::kUriTooLong:
      return "uri_too_long";
    case RefusalReason::kHeadersTooLarge:
      return "headers_too_large";
    case RefusalReason::kTooLarge:
      return "too_large";
    case RefusalReason::kTimeout:
      return "timeout";
    case RefusalReason::kNotImplemented:
      return "not_implemented";
    case RefusalReason::kUnsupportedEncoding:
      return "unsupported_encoding";
    case RefusalReason::kVersionNotSupported:
      return "version_not_supported";
    case RefusalReason::kOverCapacity:
      return "over_capacity";
    case RefusalReason::kClientOverCapacity:
      return "client_over_capacity";
  }
  return "bad_http";
}

int RefusalStatus(RefusalReason reason) {
  switch (reason) {
    case RefusalReason::kBadHttp:
      return 400;
    case RefusalReason::kUriTooLong:
      return 414;
    case RefusalReason::kHeadersTooLarge:
      return 431;
    case RefusalReason::kTooLarge:
      return 413;
    case RefusalReason::kTimeout:
      return 408;
    case RefusalReason::kNotImplemented:
      return 501;
    case RefusalReason::kUnsupportedEncoding:
      return 415;
    case RefusalReason::kVersionNotSupported:
      return 505;
    case RefusalReason::kOverCapacity:
      return 503;
    case RefusalReason::kClientOverCapacity:
      return 429;
  }
  return 400;
}

bool RequestParser::Fail(RefusalReason reason, std::string message) {
  state_ = State::kFailed;
  refusal_ = Refusal{reason, std::move(message)};
  return false;
}

void RequestParser::LimitBody(size_t limit) {
  if (limit >= limits_.body) return;
  limits_.body = limit;
  if (state_ == State::kFailed || state_ == State::kHead) return;
  if (!head_.chunked && head_.content_length > limit) {
    Fail(RefusalReason::kTooLarge, absl::StrCat("request body is over ", limit, " bytes"));
  } else if (body_.size() > limit) {
    Fail(RefusalReason::kTooLarge, absl::StrCat("request body is over ", limit, " bytes"));
  }
}

size_t RequestParser::Feed(std::string_view input) {
  size_t consumed = 0;
  while (consumed < input.size() || state_ == State::kBody) {
    const std::string_view rest = input.substr(consumed);
    switch (state_) {
      case State::kHead: {
        consumed += FeedHead(rest);
        // Stop at the end of the head either way: the caller looks at it before the body.
        return consumed;
      }
      case State::kBody: {
        const size_t n = std::min<uint64_t>(head_.content_length - body_.size(), rest.size());
        body_.append(rest.data(), n);
        consumed += n;
        if (body_.size() == head_.content_length) {
          state_ = State::kDone;
          return consumed;
        }
        if (n == 0) return consumed;
        break;
      }
      case State::kChunkLine:
      case State::kChunkData:
      case State::kChunkDataEnd:
      case State::kTrailers: {
        const size_t n = FeedChunked(rest);
        consumed += n;
        if (n == 0 || state_ == State::kDone || state_ == State::kFailed) return consumed;
        break;
      }
      case State::kDone:
      case State::kFailed:
        return consumed;
    }
  }
  return consumed;
}

// Consumes complete lines of the head; on the empty line that ends it, validates the framing.
//
// The verdict must not depend on how the bytes were split into reads: a line refused as too long while it was
// still incomplete must be refused the same way when it arrives whole. So a complete line is checked in the
// order an incomplete one would have been (its length, then the head's), and only then for its CRLF and
// bytes.
size_t RequestParser::FeedHead(std::string_view input) {
  size_t consumed = 0;
  while (state_ == State::kHead) {
    const std::string_view rest = input.substr(consumed);
    const size_t lf = rest.find('\n');
    const size_t line_limit = request_line_seen_ ? limits_.field_line : limits_.request_line;
    // The bytes of the line seen so far (all of it but its LF once complete; a CR is allowed over the limit).
    const size_t seen = lf == std::string_view::npos ? rest.size() : lf;
    if (seen > line_limit + 1) {
      if (request_line_seen_) {
        Fail(RefusalReason::kHeadersTooLarge,
             absl::StrCat("a header field is over ", limits_.field_line, " bytes"));
      } else {
        Fail(RefusalReason::kUriTooLong,
             absl::StrCat("request line is over ", limits_.request_line, " bytes"));
      }
      return consumed;
    }
    if (head_bytes_ + seen > limits_.header_total) {
      Fail(RefusalReason::kHeadersTooLarge,
           absl::StrCat("request headers are over ", limits_.header_total, " bytes"));
      return consumed;
    }
    if (lf == std::string_view::npos) return consumed;  // wait for the rest of the line
    if (lf == 0 || rest[lf - 1] != '\r') {
      Fail(RefusalReason::kBadHttp, "a line does not end in CRLF");
      return consumed;
    }
    const std::string_view line = rest.substr(0, lf - 1);
    consumed += lf + 1;
    head_bytes_ += lf + 1;
    if (head_bytes_ > limits_.header_total) {
      Fail(RefusalReason::kHeadersTooLarge,
           absl::StrCat("request headers are over ", limits_.header_total, " bytes"));
      return consumed;
    }
    if (!request_line_seen_) {
      if (line.empty() && !skipped_empty_line_) {
        skipped_empty_line_ = true;  // RFC 9112 §2.2: a CRLF before the request line is ignored
        continue;
      }
      if (!ParseRequestLine(line)) return consumed;
      request_line_seen_ = true;
      continue;
    }
    if (line.empty()) {
      FinishHead();
      return consumed;
    }
    if (!ParseFieldLine(line, /*trailer=*/false)) return consumed;
  }
  return consumed;
}

bool RequestParser::ParseRequestLine(std::string_view line) {
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0)
    return Fail(RefusalReason::kBadHttp, "malformed request line");
  const std::string_view method = line.substr(0, sp1);
  for (char c : method) {
    if (!IsTchar(static_cast<unsigned char>(c))) return Fail(RefusalReason::kBadHttp, "malformed method");
  }
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) {
    return Fail(RefusalReason::kBadHttp, "malformed request line");
  }
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return Fail(RefusalReason::kBadHttp, "malformed request target");
  }
  const std::string_view version = line.substr(sp2 + 1);
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' || version[5] < '0' ||
      version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return Fail(RefusalReason::kBadHttp, "malformed HTTP version");
  }
  if (version[5] != '1') return Fail(RefusalReason::kVersionNotSupported, "only HTTP/1.x is supported");
  head_.method = std::string(method);
  head_.target = std::string(target);
  head_.version_minor = version[7] == '0' ? 0 : 1;
  return true;
}

bool RequestParser::ParseFieldLine(std::string_view line, bool trailer) {
  if (IsWhitespace(line.front())) {
    return Fail(RefusalReason::kBadHttp, "obsolete line folding is not accepted");
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0)
    return Fail(RefusalReason::kBadHttp, "malformed header field");
  const std::string_view name = line.substr(0, colon);
  for (char c : name) {
    if (!IsTchar(static_cast<unsigned char>(c))) {
      return Fail(RefusalReason::kBadHttp, "malformed header field name");
    }
  }
  const std::string_view value = Trim(line.substr(colon + 1));
  for (char c : value) {
    if (!IsFieldValueByte(static_cast<unsigned char>(c))) {
      return Fail(RefusalReason::kBadHttp, "a control character in a header field");
    }
  }
  if (trailer) return true;  // trailers are checked, counted and dropped: nothing here reads them
  if (head_.fields.size() >= limits_.field_count) {
    return Fail(RefusalReason::kHeadersTooLarge,
                absl::StrCat("more than ", limits_.field_count, " header fields"));
  }
  head_.fields.emplace_back(Lower(name), std::string(value));
  return true;
}

bool RequestParser::FinishHead() {
  int hosts = 0;
  bool has_transfer_encoding = false;
  std::vector<std::string_view> codings;
  std::optional<uint64_t> content_length;
  bool content_length_bad = false;
  bool content_encoded = false;
  bool close = false, keep_alive = false;
  for (const auto& [name, value] : head_.fields) {
    if (name == "host") {
      ++hosts;
    } else if (name == "transfer-encoding") {
      has_transfer_encoding = true;
      ForEachListElement(value, [&](std::string_view coding) { codings.push_back(coding); });
    } else if (name == "content-length") {
      bool any = false;
      ForEachListElement(value, [&](std::string_view element) {
        any = true;
        uint64_t n = 0;
        if (element.size() > 18) content_length_bad = true;  // also keeps n from overflowing
        for (char c : element) {
          if (c < '0' || c > '9') {
            content_length_bad = true;
            break;
          }
          n = n * 10 + static_cast<uint64_t>(c - '0');
        }
        if (content_length.has_value() && *content_length != n) content_length_bad = true;
        content_length = n;
      });
      if (!any) content_length_bad = true;
    } else if (name == "content-encoding") {
      ForEachListElement(value, [&](std::string_view coding) {
        if (!EqualsIgnoreCase(coding, "identity")) content_encoded = true;
      });
    } else if (name == "connection") {
      ForEachListElement(value, [&](std::string_view option) {
        if (EqualsIgnoreCase(option, "close")) close = true;
        if (EqualsIgnoreCase(option, "keep-alive")) keep_alive = true;
      });
    } else if (name == "expect") {
      ForEachListElement(value, [&](std::string_view expectation) {
        if (EqualsIgnoreCase(expectation, "100-continue")) head_.expect_continue = true;
      });
    }
  }
  head_.keep_alive = !close && (head_.version_minor >= 1 || keep_alive);

  if (head_.version_minor >= 1 && hosts != 1) {
    return Fail(RefusalReason::kBadHttp,
                hosts == 0 ? "an HTTP/1.1 request needs a Host header" : "more than one Host header");
  }
  if (hosts > 1) return Fail(RefusalReason::kBadHttp, "more than one Host header");
  if (has_transfer_encoding) {
    if (head_.version_minor == 0)
      return Fail(RefusalReason::kBadHttp, "Transfer-Encoding in an HTTP/1.0 request");
    if (content_length.has_value() || content_length_bad) {
      return Fail(RefusalReason::kBadHttp, "both Transfer-Encoding and Content-Length");
    }
    if (codings.empty() || !EqualsIgnoreCase(codings.back(), "chunked")) {
      return Fail(RefusalReason::kBadHttp, "the final transfer coding is not chunked");
    }
    for (size_t i = 0; i + 1 < codings.size(); ++i) {
      if (EqualsIgnoreCase(codings[i], "chunked"))
        return Fail(RefusalReason::kBadHttp, "chunked applied twice");
    }
    if (codings.size() > 1) {
      return Fail(RefusalReason::kNotImplemented, "only the chunked transfer coding is supported");
    }
    head_.chunked = true;
  } else if (content_length_bad) {
    return Fail(RefusalReason::kBadHttp, "malformed or conflicting Content-Length");
  } else {
    head_.content_length = content_length.value_or(0);
  }
  if (!head_.chunked && head_.content_length > limits_.body) {
    return Fail(RefusalReason::kTooLarge, absl::StrCat("request body is over ", limits_.body, " bytes"));
  }
  if (content_encoded && head_.has_body()) {
    return Fail(RefusalReason::kUnsupportedEncoding, "only Content-Encoding identity is accepted");
  }
  if (head_.chunked) {
    state_ = State::kChunkLine;
  } else if (head_.content_length > 0) {
    body_.reserve(std::min<uint64_t>(head_.content_length, kMaxBodyReserve));
    state_ = State::kBody;
  } else {
    state_ = State::kDone;
  }
  return true;
}

size_t RequestParser::FeedChunked(std::string_view input) {
  switch (state_) {
    case State::kChunkData: {
      const size_t n = std::min<uint64_t>(chunk_left_, input.size());
      body_.append(input.data(), n);
      chunk_left_ -= n;
      if (chunk_left_ == 0) state_ = State::kChunkDataEnd;
      return n;
    }
    case State::kChunkDataEnd: {
      if (input[0] != '\r' || (input.size() >= 2 && input[1] != '\n')) {
        Fail(RefusalReason::kBadHttp, "chunk data does not end in CRLF");
        return 0;
      }
      if (input.size() < 2) return 0;
      chunk_overhead_ += 2;
      if (chunk_overhead_ > limits_.chunk_overhead) {
        Fail(RefusalReason::kTooLarge, "too much chunked framing");
        return 0;
      }
      state_ = State::kChunkLine;
      return 2;
    }
    case State::kChunkLine:
    case State::kTrailers: {
      const bool trailer = state_ == State::kTrailers;
      const size_t line_limit =
          trailer ? std::min(limits_.field_line, limits_.trailer_total - trailer_bytes_) : limits_.chunk_line;
      const size_t lf = input.find('\n');
      // As in FeedHead: the length first, so that the verdict does not depend on how the line was split.
      const size_t seen = lf == std::string_view::npos ? input.size() : lf;
      if (seen > line_limit + 1) {
        if (trailer) {
          Fail(RefusalReason::kHeadersTooLarge,
               absl::StrCat("trailer fields are over ", limits_.trailer_total, " bytes"));
        } else {
          Fail(RefusalReason::kTooLarge,
               absl::StrCat("a chunk-size line is over ", limits_.chunk_line, " bytes"));
        }
        return 0;
      }
      if (lf == std::string_view::npos) return 0;
      if (lf == 0 || input[lf - 1] != '\r') {
        Fail(RefusalReason::kBadHttp, "a line does not end in CRLF");
        return 0;
      }
      const std::string_view line = input.substr(0, lf - 1);
      chunk_overhead_ += lf + 1;
      if (trailer) trailer_bytes_ += lf + 1;
      if (trailer && trailer_bytes_ > limits_.trailer_total) {
        Fail(RefusalReason::kHeadersTooLarge,
             absl::StrCat("trailer fields are over ", limits_.trailer_total, " bytes"));
        return 0;
      }
      if (chunk_overhead_ > limits_.chunk_overhead) {
        Fail(RefusalReason::kTooLarge, "too much chunked framing");
        return 0;
      }
      if (trailer) {
        if (line.empty()) {
          state_ = State::kDone;
        } else if (!ParseFieldLine(line, /*trailer=*/true)) {
          return 0;
        }
        return lf + 1;
      }
      if (!ParseChunkLine(line)) return 0;
      return lf + 1;
    }
    default:
      return 0;
  }
}

bool RequestParser::ParseChunkLine(std::string_view line) {
  size_t i = 0;
  uint64_t size = 0;
  while (i < line.size() && HexValue(line[i]) >= 0) {
    const auto digit = static_cast<uint64_t>(HexValue(line[i]));
    // Checked as we go, so that a long run of digits can neither overflow (whatever the limit) nor pass it.
    if (size > (std::numeric_limits<uint64_t>::max() - digit) / 16) {
      return Fail(RefusalReason::kTooLarge, absl::StrCat("request body is over ", limits_.body, " bytes"));
    }
    size = size * 16 + digit;
    ++i;
    if (size > limits_.body) {
      return Fail(RefusalReason::kTooLarge, absl::StrCat("request body is over ", limits_.body, " bytes"));
    }
  }
  if (i == 0) return Fail(RefusalReason::kBadHttp, "malformed chunk size");
  std::string_view extensions = line.substr(i);
  while (!extensions.empty() && IsWhitespace(extensions.front())) extensions.remove_prefix(1);
  if (!extensions.empty() && extensions.front() != ';')
    return Fail(RefusalReason::kBadHttp, "malformed chunk size");
  for (char c : extensions) {
    if (!IsFieldValueByte(static_cast<unsigned char>(c))) {
      return Fail(RefusalReason::kBadHttp, "a control character in a chunk extension");
    }
  }
  if (size == 0) {
    state_ = State::kTrailers;
    return true;
  }
  if (size > limits_.body - body_.size()) {  // body_.size() <= limits_.body; the sum could overflow
    return Fail(RefusalReason::kTooLarge, absl::StrCat("request body is over ", limits_.body, " bytes"));
  }
  chunk_left_ = size;
  state_ = State::kChunkData;
  return true;
}

}  // namespace protectogram::http
