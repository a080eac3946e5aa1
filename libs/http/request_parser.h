// A strict, incremental HTTP/1.1 request parser (RFC 9112) with a hard limit on every part of a request, so
// that what a connection can make the server hold is bounded whatever the client sends. Pure: bytes in,
// a request head, body bytes and a verdict out; no sockets, no clocks (the session enforces time).
//
// Strict where leniency lets two parsers disagree about where a request ends (request smuggling) or lets a
// client make the server buffer without bound:
//   - lines end in CRLF; a bare LF, a bare CR or any other control byte in a line is 400;
//   - obsolete line folding (a field line starting with SP or HTAB) is 400 (RFC 9112 §5.2);
//   - whitespace between a field name and its colon is 400 (§5.1);
//   - HTTP/1.1 needs exactly one Host, HTTP/1.0 at most one (§3.2);
//   - Transfer-Encoding: the final coding must be chunked, else 400 (§6.3); chunked twice is 400; any other
//     coding before it is 501 (we decode none); with Content-Length as well, 400 (§6.1); in HTTP/1.0, 400;
//   - Content-Length: digits only; several values must agree, else 400 (§6.3);
//   - Content-Encoding other than identity is 415 (we decode none);
//   - HTTP/2.0 or any major version other than 1 is 505.
// Limits (each refusal is the status a client can act on): the request line (414), each field line, all
// field lines together and their count (431), each chunk-size line with its extensions (413), the chunked
// framing overhead of one body (413), the trailer fields (431), and the body itself (413). Up to one empty
// line before a request line is skipped, as RFC 9112 §2.2 asks of a robust server.
//
// After a refusal the parser consumes nothing more: the connection must be closed, so that bytes after a
// refused request are never taken as the next request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace protectogram::http {

// Everything the server refuses by itself, by reason. The label is the refusal's `error` code in the response
// body, in log lines and in the edge's webhook_rejected_total{reason}: one vocabulary everywhere.
enum class RefusalReason {
  kBadHttp,              // 400 bad_http: malformed or ambiguous framing
  kUriTooLong,           // 414 uri_too_long: the request line is over its limit
  kHeadersTooLarge,      // 431 headers_too_large: a field line, all of them, their count, or the trailers
  kTooLarge,             // 413 too_large: the body, a chunk-size line, or the chunked framing overhead
  kTimeout,              // 408 timeout: the request did not arrive in time
  kNotImplemented,       // 501 not_implemented: a transfer coding other than chunked
  kUnsupportedEncoding,  // 415 unsupported_encoding: a Content-Encoding other than identity
  kVersionNotSupported,  // 505 version_not_supported: not HTTP/1.x
  kOverCapacity,         // 503 over_capacity: the server's connection cap
  kClientOverCapacity,   // 429 client_over_capacity: one client's connection cap
};
std::string_view RefusalLabel(RefusalReason reason);
int RefusalStatus(RefusalReason reason);

struct Refusal {
  RefusalReason reason = RefusalReason::kBadHttp;
  std::string message;  // short, safe to send back and log (never echoes the client's bytes)
};

struct ParserLimits {
  size_t request_line = 8 * 1024;     // 414 above
  size_t field_line = 8 * 1024;       // one header field line, 431 above
  size_t header_total = 16 * 1024;    // request line and all field lines, 431 above
  size_t field_count = 100;           // header fields, 431 above
  size_t chunk_line = 1024;           // a chunk-size line with its extensions, 413 above
  size_t chunk_overhead = 64 * 1024;  // chunk-size lines + CRLFs + trailers of one body, 413 above
  size_t trailer_total = 4 * 1024;    // trailer field lines, 431 above
  size_t body = 1 << 20;              // decoded body, 413 above
};

// What the parser read of a request before its body.
struct RequestHead {
  std::string method;
  std::string target;
  int version_minor = 1;  // HTTP/1.<minor>; 1.2+ is treated as 1.1
  // Field lines in order: names lower-cased, values without surrounding whitespace, bytes as received.
  std::vector<std::pair<std::string, std::string>> fields;
  bool keep_alive = true;        // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "keep-alive"
  bool expect_continue = false;  // "Expect: 100-continue"
  bool chunked = false;
  uint64_t content_length = 0;  // when not chunked
  bool has_body() const { return chunked || content_length > 0; }
};

class RequestParser {
 public:
  enum class State { kHead, kBody, kChunkLine, kChunkData, kChunkDataEnd, kTrailers, kDone, kFailed };

  explicit RequestParser(const ParserLimits& limits) : limits_(limits) {}

  // Parses as much of `input` as it can and returns how many bytes it consumed; the caller keeps the rest and
  // calls again with it followed by more bytes. Stops consuming at the end of the head (so that the caller
  // can look at it, e.g. lower the body limit, before the body is read), at the end of the request (what
  // follows belongs to the next one), and for good after a refusal.
  size_t Feed(std::string_view input);

  State state() const { return state_; }
  bool head_done() const { return state_ != State::kHead && state_ != State::kFailed; }
  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kFailed; }
  const Refusal& refusal() const { return refusal_; }

  const RequestHead& head() const { return head_; }
  RequestHead& mutable_head() { return head_; }
  std::string& body() { return body_; }

  // Lowers (never raises) the body limit once the head is known, e.g. to the limit of the route it names.
  // A Content-Length already over it fails the parser at once (413).
  void LimitBody(size_t limit);
  size_t body_limit() const { return limits_.body; }

 private:
  size_t FeedHead(std::string_view input);
  size_t FeedChunked(std::string_view input);
  bool ParseRequestLine(std::string_view line);
  bool ParseFieldLine(std::string_view line, bool trailer);
  bool FinishHead();
  bool ParseChunkLine(std::string_view line);
  bool Fail(RefusalReason reason, std::string message);

  ParserLimits limits_;
  State state_ = State::kHead;
  Refusal refusal_;
  RequestHead head_;
  std::string body_;
  bool request_line_seen_ = false;
  bool skipped_empty_line_ = false;
  size_t head_bytes_ = 0;  // request line and field lines so far, with their CRLFs
  size_t trailer_bytes_ = 0;
  size_t chunk_overhead_ = 0;  // chunked framing consumed so far (size lines, CRLFs, trailers)
  uint64_t chunk_left_ = 0;    // bytes of the current chunk still to come
};

}  // namespace protectogram::http
