// The fuzzed entry point of the HTTP request parser (libs/http/request_parser.h). It runs arbitrary bytes
// through RequestParser as one connection, the way libs/http/server.cc's session does, and checks invariants
// that must hold for every input; it returns "" when they hold, or what broke. The libFuzzer target
// (request_fuzz.cc, built with PROTECTOGRAM_FUZZ=ON under clang) aborts on a non-empty answer;
// http_fuzz_corpus_test replays the checked-in corpus through the same function in every build.
//
// Input: byte 0 chooses how the connection's bytes arrive (the size of each read), byte 1 how the body limit
// is lowered once a head is read (as the edge's routes do, not at all, or to a small limit); the rest is what
// the client sends. Inputs shorter than 2 bytes are sent as they are, in one read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace protectogram::http::fuzz {

// With production limits (ParserLimits' defaults: body 1 MiB), the connection is parsed twice: all bytes at
// once, and in reads whose sizes come from byte 0 (as the session does: Feed, erase what was consumed, stop
// after a refusal, LimitBody after the head). Invariants: consumed never exceeds the input; after a refusal
// nothing more is consumed; the parser holds at most the limits (body, field count, head bytes); both runs
// give the same requests, bytes consumed, heads, bodies and verdict; a completed request has consistent
// framing (Transfer-Encoding means chunked without Content-Length, HTTP/1.1 has one Host, the body is
// Content-Length long, ...), names and values hold only the bytes the RFC allows; a refusal has a known
// status.
std::string FuzzRequestParser(const uint8_t* data, size_t size);

// What each request on the connection came to, for tests of the corpus: "done", a RefusalLabel
// ("bad_http", "too_large", ...), "target_refused" (the session refuses a target Boost.URL cannot parse) or
// "incomplete" (the input ended first). Empty when the input sends nothing.
std::vector<std::string> RequestParserVerdicts(const uint8_t* data, size_t size);

}  // namespace protectogram::http::fuzz
