// RequestParser, table-driven: every refusal rule with its exact reason, valid requests, incremental feeding,
// pipelining, LimitBody, every limit at and one past its boundary, and the bytes held while waiting for a
// line.
#include "libs/http/request_parser.h"

#include <cstddef>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace protectogram::http {

// So that gtest prints a reason by its label.
void PrintTo(RefusalReason reason, std::ostream* os) { *os << RefusalLabel(reason); }

namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

// A complete, valid request sent after the one under test: it must never be consumed by that one.
constexpr std::string_view kNext = "GET /next HTTP/1.1\r\nHost: x\r\n\r\n";

struct Outcome {
  RequestParser::State state = RequestParser::State::kHead;
  std::optional<RefusalReason> reason;  // when failed
  size_t consumed = 0;                  // in total, over all calls to Feed
  size_t max_pending = 0;               // the most the caller had to keep unconsumed
  RequestHead head;
  std::string body;
  bool done() const { return state == RequestParser::State::kDone; }
  bool failed() const { return state == RequestParser::State::kFailed; }
};

// How a test drives the parser: in pieces of `piece` bytes (0: everything at once), as the server does (the
// caller keeps what was not consumed and feeds it again with the next bytes), with `route_limit` applied by
// LimitBody as soon as the head is done.
struct Drive {
  size_t piece = 0;
  std::optional<size_t> route_limit;
};

Outcome Parse(std::string_view input, const ParserLimits& limits = {}, Drive drive = {}) {
  RequestParser parser(limits);
  Outcome out;
  std::string pending;
  bool limited = false;
  size_t offset = 0;
  while (!parser.done() && !parser.failed()) {
    if (offset >= input.size() && pending.empty()) break;
    const size_t take =
        drive.piece == 0 ? input.size() - offset : std::min(drive.piece, input.size() - offset);
    pending.append(input.substr(offset, take));
    offset += take;
    // Feed until the parser stops making progress (it stops by itself at the end of the head).
    for (;;) {
      const size_t n = parser.Feed(pending);
      pending.erase(0, n);
      out.consumed += n;
      if (parser.head_done() && drive.route_limit.has_value() && !limited) {
        parser.LimitBody(*drive.route_limit);
        limited = true;
      }
      if (n == 0 || parser.done() || parser.failed()) break;
    }
    out.max_pending = std::max(out.max_pending, pending.size());
    if (take == 0) break;  // nothing more to give
  }
  out.state = parser.state();
  if (parser.failed()) {
    out.reason = parser.refusal().reason;
    // Nothing more is consumed after a refusal, whatever comes.
    EXPECT_EQ(parser.Feed(pending), 0u);
    EXPECT_EQ(parser.Feed(kNext), 0u);
    EXPECT_TRUE(parser.failed());
    EXPECT_EQ(parser.refusal().reason, *out.reason);
    EXPECT_FALSE(parser.refusal().message.empty());
  }
  out.head = parser.head();
  out.body = parser.body();
  return out;
}

Outcome ParseBytewise(std::string_view input, const ParserLimits& limits = {}, Drive drive = {}) {
  drive.piece = 1;
  return Parse(input, limits, drive);
}

// The same outcome whether the bytes come all at once, one by one, or in pieces of 7.
void ExpectSameWhateverTheFeeding(std::string_view input, const ParserLimits& limits = {}, Drive drive = {}) {
  const Outcome whole = Parse(input, limits, drive);
  for (size_t piece : {1, 2, 7, 64}) {
    drive.piece = piece;
    const Outcome split = Parse(input, limits, drive);
    EXPECT_EQ(split.state, whole.state) << "piece " << piece << " for " << input;
    EXPECT_EQ(split.reason, whole.reason) << "piece " << piece << " for " << input;
    if (whole.done()) {
      EXPECT_EQ(split.consumed, whole.consumed) << "piece " << piece;
      EXPECT_EQ(split.head.fields, whole.head.fields) << "piece " << piece;
      EXPECT_EQ(split.body, whole.body) << "piece " << piece;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Labels and statuses.

TEST(RefusalTest, EveryReasonHasItsLabelAndStatus) {
  const std::vector<std::tuple<RefusalReason, std::string_view, int>> expected = {
      {RefusalReason::kBadHttp, "bad_http", 400},
      {RefusalReason::kUriTooLong, "uri_too_long", 414},
      {RefusalReason::kHeadersTooLarge, "headers_too_large", 431},
      {RefusalReason::kTooLarge, "too_large", 413},
      {RefusalReason::kTimeout, "timeout", 408},
      {RefusalReason::kNotImplemented, "not_implemented", 501},
      {RefusalReason::kUnsupportedEncoding, "unsupported_encoding", 415},
      {RefusalReason::kVersionNotSupported, "version_not_supported", 505},
      {RefusalReason::kOverCapacity, "over_capacity", 503},
      {RefusalReason::kClientOverCapacity, "client_over_capacity", 429},
  };
  for (const auto& [reason, label, status] : expected) {
    EXPECT_EQ(RefusalLabel(reason), label);
    EXPECT_EQ(RefusalStatus(reason), status) << label;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Refusals: one row per rule. Each input is followed by kNext, which must never be consumed.

struct RefusalCase {
  std::string name;
  std::string input;  // the refused request (kNext is appended)
  RefusalReason reason;
  ParserLimits limits = {};
};

ParserLimits With(size_t ParserLimits::*field, size_t value) {
  ParserLimits limits;
  limits.*field = value;
  return limits;
}

std::vector<RefusalCase> RefusalCases() {
  const std::string post = "POST /p HTTP/1.1\r\nHost: x\r\n";
  const std::string chunked = post + "Transfer-Encoding: chunked\r\n\r\n";
  return {
      // Framing, RFC 9112 §6.
      {"te_identity", post + "Transfer-Encoding: identity\r\n\r\n", RefusalReason::kBadHttp},
      {"te_xchunked", post + "Transfer-Encoding: xchunked\r\n\r\n", RefusalReason::kBadHttp},
      {"te_chunked_then_identity", post + "Transfer-Encoding: chunked, identity\r\n\r\n",
       RefusalReason::kBadHttp},
      {"te_chunked_then_identity_in_two_fields",
       post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", RefusalReason::kBadHttp},
      {"te_empty", post + "Transfer-Encoding: \r\n\r\n", RefusalReason::kBadHttp},
      {"te_chunked_twice", post + "Transfer-Encoding: chunked, chunked\r\n\r\n", RefusalReason::kBadHttp},
      {"te_gzip_then_chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n",
       RefusalReason::kNotImplemented},
      {"te_gzip_then_chunked_in_two_fields",
       post + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
       RefusalReason::kNotImplemented},
      {"te_with_content_length", post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
       RefusalReason::kBadHttp},
      {"content_length_with_te", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       RefusalReason::kBadHttp},
      {"te_with_bad_content_length",
       post + "Transfer-Encoding: chunked\r\nContent-Length: x\r\n\r\n0\r\n\r\n", RefusalReason::kBadHttp},
      {"te_in_http10", "POST /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       RefusalReason::kBadHttp},
      {"content_lengths_differ", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
       RefusalReason::kBadHttp},
      {"content_length_list_differs", post + "Content-Length: 5, 6\r\n\r\nhello!", RefusalReason::kBadHttp},
      {"content_length_not_digits", post + "Content-Length: 5a\r\n\r\nhello", RefusalReason::kBadHttp},
      {"content_length_negative", post + "Content-Length: -1\r\n\r\n", RefusalReason::kBadHttp},
      {"content_length_signed", post + "Content-Length: +5\r\n\r\nhello", RefusalReason::kBadHttp},
      {"content_length_hex", post + "Content-Length: 0x5\r\n\r\nhello", RefusalReason::kBadHttp},
      {"content_length_empty", post + "Content-Length: \r\n\r\n", RefusalReason::kBadHttp},
      {"content_length_inner_space", post + "Content-Length: 1 2\r\n\r\n", RefusalReason::kBadHttp},
      // Field syntax, RFC 9112 §5.
      {"obs_fold_space", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", RefusalReason::kBadHttp},
      {"obs_fold_tab", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n", RefusalReason::kBadHttp},
      {"first_field_starts_with_space", "GET / HTTP/1.1\r\n Host: x\r\n\r\n", RefusalReason::kBadHttp},
      {"bare_cr_in_field_value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", RefusalReason::kBadHttp},
      {"bare_cr_in_field_name", "GET / HTTP/1.1\r\nHost: x\r\nX\r-A: a\r\n\r\n", RefusalReason::kBadHttp},
      {"bare_cr_in_request_line", "GET /\r HTTP/1.1\r\nHost: x\r\n\r\n", RefusalReason::kBadHttp},
      {"bare_cr_ends_a_line", "GET / HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n", RefusalReason::kBadHttp},
      {"bare_lf_after_request_line", "GET / HTTP/1.1\nHost: x\r\n\r\n", RefusalReason::kBadHttp},
      {"bare_lf_after_field", "GET / HTTP/1.1\r\nHost: x\n\r\n", RefusalReason::kBadHttp},
      {"bare_lf_ends_head", "GET / HTTP/1.1\r\nHost: x\r\n\n", RefusalReason::kBadHttp},
      {"bare_lf_before_request", "\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", RefusalReason::kBadHttp},
      {"space_before_colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", RefusalReason::kBadHttp},
      {"tab_before_colon", "GET / HTTP/1.1\r\nHost\t: x\r\n\r\n", RefusalReason::kBadHttp},
      {"no_colon", "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", RefusalReason::kBadHttp},
      {"empty_field_name", "GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", RefusalReason::kBadHttp},
      {"separator_in_field_name", "GET / HTTP/1.1\r\nHost: x\r\nX(A): v\r\n\r\n", RefusalReason::kBadHttp},
      {"control_byte_in_field_value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01z\r\n\r\n",
       RefusalReason::kBadHttp},
      {"nul_in_field_value", std::string("GET / HTTP/1.1\r\nHost: x\r\nX-A: a") + '\0' + "z\r\n\r\n",
       RefusalReason::kBadHttp},
      {"del_in_field_value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fz\r\n\r\n", RefusalReason::kBadHttp},
      // Host, RFC 9112 §3.2.
      {"http11_without_host", "GET / HTTP/1.1\r\nX-A: a\r\n\r\n", RefusalReason::kBadHttp},
      {"http11_two_hosts", "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", RefusalReason::kBadHttp},
      {"http11_two_identical_hosts", "GET / HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n", RefusalReason::kBadHttp},
      {"http10_two_hosts", "GET / HTTP/1.0\r\nHost: x\r\nHost: y\r\n\r\n", RefusalReason::kBadHttp},
      // The request line.
      {"http20", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", RefusalReason::kVersionNotSupported},
      {"http30", "GET / HTTP/3.0\r\nHost: x\r\n\r\n", RefusalReason::kVersionNotSupported},
      {"http09", "GET / HTTP/0.9\r\nHost: x\r\n\r\n", RefusalReason::kVersionNotSupported},
      {"version_lower_case", "GET / http/1.1\r\nHost: x\r\n\r\n", RefusalReason::kBadHttp},
      {"version_two_digit_minor", "GET / HTTP/1.10\r\nHost: x\r\n\r\n", RefusalReason::kBadHttp},
      {"version_without_minor", "GET / HTTP/1\r\nHost: x\r\n\r\n", RefusalReason::kBadHttp},
      {"version_misspelt", "GET / HTTX/1.1\r\nHost: x\r\n\r\n", RefusalReason::kBadHttp},
      {"no_version", "GET /\r\nHost: x\r\n\r\n", RefusalReason::kBadHttp},
      {"double_space", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", RefusalReason::kBadHttp},
      {"trailing_space", "GET / HTTP/1.1 \r\nHost: x\r\n\r\n", RefusalReason::kBadHttp},
      {"leading_space", " GET / HTTP/1.1\r\nHost: x\r\n\r\n", RefusalReason::kBadHttp},
      {"bad_method_byte", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", RefusalReason::kBadHttp},
      {"control_byte_in_target", "GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n", RefusalReason::kBadHttp},
      {"non_ascii_in_target", "GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", RefusalReason::kBadHttp},
      {"two_empty_lines_before_request", "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
       RefusalReason::kBadHttp},
      {"garbage", "\x01\x02\x03\r\n\r\n", RefusalReason::kBadHttp},
      // Content-Encoding.
      {"content_encoding_gzip_with_length", post + "Content-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello",
       RefusalReason::kUnsupportedEncoding},
      {"content_encoding_gzip_chunked",
       post + "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
       RefusalReason::kUnsupportedEncoding},
      {"content_encoding_identity_then_br",
       post + "Content-Encoding: identity, br\r\nContent-Length: 1\r\n\r\nx",
       RefusalReason::kUnsupportedEncoding},
      // Chunked framing.
      {"chunk_size_not_hex", chunked + "zz\r\nhello\r\n0\r\n\r\n", RefusalReason::kBadHttp},
      {"chunk_size_missing", chunked + ";ext\r\nhello\r\n0\r\n\r\n", RefusalReason::kBadHttp},
      {"chunk_size_signed", chunked + "-5\r\nhello\r\n0\r\n\r\n", RefusalReason::kBadHttp},
      {"chunk_size_junk_after", chunked + "5 x\r\nhello\r\n0\r\n\r\n", RefusalReason::kBadHttp},
      {"chunk_size_bare_lf", chunked + "5\nhello\r\n0\r\n\r\n", RefusalReason::kBadHttp},
      {"chunk_extension_control_byte", chunked + "5;a=\x01\r\nhello\r\n0\r\n\r\n", RefusalReason::kBadHttp},
      {"chunk_data_too_long", chunked + "5\r\nhello!\r\n0\r\n\r\n", RefusalReason::kBadHttp},
      {"chunk_data_ends_in_bare_lf", chunked + "5\r\nhello\n0\r\n\r\n", RefusalReason::kBadHttp},
      {"chunk_data_ends_in_bare_cr", chunked + "5\r\nhello\rX0\r\n\r\n", RefusalReason::kBadHttp},
      {"chunk_data_ends_in_other_byte_lf", chunked + "5\r\nhelloX\n0\r\n\r\n", RefusalReason::kBadHttp},
      {"trailer_obs_fold", chunked + "0\r\nX-T: a\r\n b\r\n\r\n", RefusalReason::kBadHttp},
      {"trailer_without_colon", chunked + "0\r\nnot a field\r\n\r\n", RefusalReason::kBadHttp},
      {"trailer_bare_lf", chunked + "0\r\nX-T: a\n\r\n", RefusalReason::kBadHttp},
      {"last_chunk_bare_lf_end", chunked + "0\r\n\n", RefusalReason::kBadHttp},
      // Limits.
      {"request_line_over", "GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n",
       RefusalReason::kUriTooLong, With(&ParserLimits::request_line, 64)},
      {"field_line_over", "GET / HTTP/1.1\r\nHost: x\r\nX-A: " + std::string(100, 'a') + "\r\n\r\n",
       RefusalReason::kHeadersTooLarge, With(&ParserLimits::field_line, 64)},
      {"header_total_over",
       "GET / HTTP/1.1\r\nHost: x\r\nX-A: " + std::string(50, 'a') + "\r\nX-B: " + std::string(50, 'b') +
           "\r\n\r\n",
       RefusalReason::kHeadersTooLarge, With(&ParserLimits::header_total, 100)},
      {"request_line_over_header_total", "GET /" + std::string(200, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n",
       RefusalReason::kHeadersTooLarge, With(&ParserLimits::header_total, 100)},
      {"field_count_over", "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
       RefusalReason::kHeadersTooLarge, With(&ParserLimits::field_count, 3)},
      {"content_length_over_body", post + "Content-Length: 11\r\n\r\nhello world", RefusalReason::kTooLarge,
       With(&ParserLimits::body, 10)},
      {"content_length_18_digits", post + "Content-Length: 999999999999999999\r\n\r\n",
       RefusalReason::kTooLarge},
      {"chunked_body_over", chunked + "6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n", RefusalReason::kTooLarge,
       With(&ParserLimits::body, 10)},
      {"one_chunk_over_body", chunked + "b\r\nhello world\r\n0\r\n\r\n", RefusalReason::kTooLarge,
       With(&ParserLimits::body, 10)},
      {"chunk_size_huge_hex", chunked + "ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
       RefusalReason::kTooLarge},
      {"chunk_size_two_to_the_64", chunked + "10000000000000000\r\nhello\r\n0\r\n\r\n",
       RefusalReason::kTooLarge},
      {"chunk_line_over", chunked + "5;" + std::string(100, 'e') + "\r\nhello\r\n0\r\n\r\n",
       RefusalReason::kTooLarge, With(&ParserLimits::chunk_line, 64)},
      {"chunk_size_leading_zeros_over_line", chunked + std::string(100, '0') + "5\r\nhello\r\n0\r\n\r\n",
       RefusalReason::kTooLarge, With(&ParserLimits::chunk_line, 64)},
      {"chunk_overhead_over", chunked + "1\r\na\r\n1\r\nb\r\n1\r\nc\r\n1\r\nd\r\n0\r\n\r\n",
       RefusalReason::kTooLarge, With(&ParserLimits::chunk_overhead, 16)},
      {"trailers_over",
       chunked + "0\r\nX-T: " + std::string(40, 't') + "\r\nX-U: " + std::string(40, 'u') + "\r\n\r\n",
       RefusalReason::kHeadersTooLarge, With(&ParserLimits::trailer_total, 64)},
      {"trailer_line_over_field_line", chunked + "0\r\nX-T: " + std::string(100, 't') + "\r\n\r\n",
       RefusalReason::kHeadersTooLarge, With(&ParserLimits::field_line, 64)},
  };
}

TEST(RequestParserRefusalTest, EveryRuleHasItsReasonAndNothingAfterItIsConsumed) {
  for (const RefusalCase& c : RefusalCases()) {
    SCOPED_TRACE(c.name);
    const std::string input = c.input + std::string(kNext);
    const Outcome whole = Parse(input, c.limits);
    ASSERT_TRUE(whole.failed()) << c.name;
    EXPECT_EQ(whole.reason, c.reason) << c.name;
    // The refused request's bytes at most: kNext is never taken.
    EXPECT_LE(whole.consumed, c.input.size()) << c.name;
    const Outcome bytewise = ParseBytewise(input, c.limits);
    ASSERT_TRUE(bytewise.failed()) << c.name;
    EXPECT_EQ(bytewise.reason, c.reason) << c.name;
    EXPECT_LE(bytewise.consumed, c.input.size()) << c.name;
    EXPECT_EQ(Parse(input, c.limits, {.piece = 5}).reason, c.reason) << c.name;
  }
}

TEST(RequestParserRefusalTest, ChunkSizeCannotOverflowWhateverTheBodyLimit) {
  // Even with no practical body limit a chunk size past 64 bits is refused, never wrapped around (2^64 taken
  // as 0 would end the body there and expose the rest as the next request).
  ParserLimits limits;
  limits.body = std::numeric_limits<size_t>::max();
  for (std::string_view size : {"10000000000000000", "ffffffffffffffffffff", "100000000000000005"}) {
    // Taken as 0, the size would end the body at the empty line after it and expose kNext as a request.
    const std::string input = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                              std::string(size) + "\r\n\r\n" + std::string(kNext);
    const Outcome out = Parse(input, limits);
    ASSERT_TRUE(out.failed()) << size;
    EXPECT_EQ(out.reason, RefusalReason::kTooLarge) << size;
  }
  // The largest size that fits is not refused for its digits.
  RequestParser parser(limits);
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  ASSERT_EQ(parser.Feed(head), head.size());
  EXPECT_EQ(parser.Feed("ffffffffffffffff\r\nab"), 20u);
  EXPECT_EQ(parser.state(), RequestParser::State::kChunkData);
}

// ---------------------------------------------------------------------------------------------------------
// Valid requests.

TEST(RequestParserTest, Get) {
  const std::string input =
      "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nUser-Agent:  curl/8 \t\r\nX-Empty:\r\n\r\n";
  const Outcome out = Parse(input);
  ASSERT_TRUE(out.done());
  EXPECT_EQ(out.consumed, input.size());
  EXPECT_EQ(out.head.method, "GET");
  EXPECT_EQ(out.head.target, "/a/b?c=d");
  EXPECT_EQ(out.head.version_minor, 1);
  EXPECT_THAT(out.head.fields,
              ElementsAre(Pair("host", "example.com"), Pair("user-agent", "curl/8"), Pair("x-empty", "")));
  EXPECT_TRUE(out.head.keep_alive);
  EXPECT_FALSE(out.head.expect_continue);
  EXPECT_FALSE(out.head.chunked);
  EXPECT_FALSE(out.head.has_body());
  EXPECT_EQ(out.body, "");
}

TEST(RequestParserTest, HeadStopsAtItsEndAndTheBodyFollows) {
  const std::string head = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n";
  RequestParser parser(ParserLimits{});
  // The head ends, and Feed stops there even though the body is there too.
  EXPECT_EQ(parser.Feed(head + "hello world"), head.size());
  EXPECT_TRUE(parser.head_done());
  EXPECT_EQ(parser.state(), RequestParser::State::kBody);
  EXPECT_EQ(parser.head().content_length, 11u);
  EXPECT_TRUE(parser.head().has_body());
  EXPECT_EQ(parser.Feed("hello"), 5u);
  EXPECT_FALSE(parser.done());
  EXPECT_EQ(parser.Feed(" world"), 6u);
  EXPECT_TRUE(parser.done());
  EXPECT_EQ(parser.body(), "hello world");
  EXPECT_EQ(parser.Feed("more"), 0u);
}

TEST(RequestParserTest, PostWithContentLength) {
  const Outcome out = Parse("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_TRUE(out.done());
  EXPECT_EQ(out.head.method, "POST");
  EXPECT_EQ(out.head.content_length, 5u);
  EXPECT_EQ(out.body, "hello");
}

TEST(RequestParserTest, ZeroContentLengthIsDoneAtTheHead) {
  const Outcome out = Parse("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(out.done());
  EXPECT_FALSE(out.head.has_body());
}

TEST(RequestParserTest, RepeatedIdenticalContentLengthIsAccepted) {
  for (std::string_view fields : {"Content-Length: 5\r\nContent-Length: 5\r\n", "Content-Length: 5, 5\r\n",
                                  "Content-Length: 5,5\r\nContent-Length: 5\r\n"}) {
    const Outcome out = Parse("POST / HTTP/1.1\r\nHost: x\r\n" + std::string(fields) + "\r\nhello");
    ASSERT_TRUE(out.done()) << fields;
    EXPECT_EQ(out.head.content_length, 5u);
    EXPECT_EQ(out.body, "hello");
  }
}

TEST(RequestParserTest, ChunkedWithExtensionsAndTrailers) {
  const std::string input =
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value;flag\r\nhello\r\n"
      "6 ; q=\"quoted ;\"\r\n world\r\n"
      "A\r\n0123456789\r\n"
      "0;last\r\nX-Trailer: t\r\nX-Other: o\r\n\r\n";
  const Outcome out = Parse(input);
  ASSERT_TRUE(out.done()) << (out.reason ? RefusalLabel(*out.reason) : "");
  EXPECT_EQ(out.consumed, input.size());
  EXPECT_TRUE(out.head.chunked);
  EXPECT_TRUE(out.head.has_body());
  EXPECT_EQ(out.body, "hello world0123456789");
  // Trailers are checked and dropped: they never become header fields.
  EXPECT_THAT(out.head.fields, ElementsAre(Pair("host", "x"), Pair("transfer-encoding", "chunked")));
}

TEST(RequestParserTest, ChunkedCodingIsCaseInsensitive) {
  const Outcome out =
      Parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  ASSERT_TRUE(out.done());
  EXPECT_EQ(out.body, "abc");
}

TEST(RequestParserTest, EmptyChunkedBody) {
  const Outcome out = Parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  ASSERT_TRUE(out.done());
  EXPECT_EQ(out.body, "");
}

TEST(RequestParserTest, OneLeadingEmptyLineIsSkipped) {
  const std::string input = "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
  const Outcome out = Parse(input);
  ASSERT_TRUE(out.done());
  EXPECT_EQ(out.consumed, input.size());
  EXPECT_EQ(out.head.method, "GET");
  // Only one (the two-line case is in the refusal table).
  EXPECT_EQ(Parse("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n").reason, RefusalReason::kBadHttp);
}

TEST(RequestParserTest, Http10KeepAliveSemantics) {
  Outcome out = Parse("GET / HTTP/1.0\r\n\r\n");  // no Host needed
  ASSERT_TRUE(out.done());
  EXPECT_EQ(out.head.version_minor, 0);
  EXPECT_FALSE(out.head.keep_alive);

  out = Parse("GET / HTTP/1.0\r\nHost: x\r\nConnection: Keep-Alive\r\n\r\n");
  ASSERT_TRUE(out.done());
  EXPECT_TRUE(out.head.keep_alive);

  out = Parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n");
  ASSERT_TRUE(out.done());
  EXPECT_FALSE(out.head.keep_alive);

  out = Parse("POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi");
  ASSERT_TRUE(out.done());
  EXPECT_EQ(out.body, "hi");
}

TEST(RequestParserTest, ConnectionClose) {
  for (std::string_view value : {"close", "Close", "keep-alive, close", "upgrade,CLOSE"}) {
    const Outcome out = Parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: " + std::string(value) + "\r\n\r\n");
    ASSERT_TRUE(out.done()) << value;
    EXPECT_FALSE(out.head.keep_alive) << value;
  }
  Outcome out = Parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_TRUE(out.head.keep_alive);
  out = Parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: closed\r\n\r\n");
  EXPECT_TRUE(out.head.keep_alive);
}

TEST(RequestParserTest, ExpectContinue) {
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\n";
  RequestParser parser(ParserLimits{});
  ASSERT_EQ(parser.Feed(head), head.size());
  EXPECT_TRUE(parser.head().expect_continue);
  EXPECT_FALSE(parser.done());
  EXPECT_EQ(parser.Feed("body"), 4u);
  EXPECT_TRUE(parser.done());
  EXPECT_FALSE(Parse("POST / HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n").head.expect_continue);
}

TEST(RequestParserTest, MinorVersionsAboveOneAreHttp11) {
  Outcome out = Parse("GET / HTTP/1.2\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(out.done());
  EXPECT_EQ(out.head.version_minor, 1);
  EXPECT_EQ(Parse("GET / HTTP/1.2\r\n\r\n").reason, RefusalReason::kBadHttp);  // and needs a Host
}

TEST(RequestParserTest, ContentEncodingWithoutBodyOrIdentityIsAccepted) {
  EXPECT_TRUE(Parse("GET / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n\r\n").done());
  const Outcome out =
      Parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: Identity\r\nContent-Length: 2\r\n\r\nhi");
  ASSERT_TRUE(out.done());
  EXPECT_EQ(out.body, "hi");
}

TEST(RequestParserTest, AbsoluteFormTargetAndObsTextValue) {
  const Outcome out = Parse("GET http://x/y HTTP/1.1\r\nHost: x\r\nX-A: caf\xc3\xa9\r\n\r\n");
  ASSERT_TRUE(out.done());
  EXPECT_EQ(out.head.target, "http://x/y");
  EXPECT_EQ(out.head.fields.back().second, "caf\xc3\xa9");
}

// ---------------------------------------------------------------------------------------------------------
// Incremental feeding.

TEST(RequestParserTest, FeedingInPiecesGivesTheSameResult) {
  std::vector<std::string> inputs = {
      "GET /a HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\n",
      "\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n6\r\n world\r\n"
      "0\r\nX-T: t\r\n\r\n",
      "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
  };
  for (const std::string& input : inputs) ExpectSameWhateverTheFeeding(input);
  for (const RefusalCase& c : RefusalCases()) ExpectSameWhateverTheFeeding(c.input, c.limits);
}

TEST(RequestParserTest, SplitAtEveryPositionGivesTheSameResult) {
  const std::string input =
      "\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n6\r\n "
      "world\r\n"
      "0\r\nX-T: t\r\n\r\n";
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    RequestParser parser(ParserLimits{});
    std::string pending = input.substr(0, cut);
    size_t consumed = 0;
    for (int round = 0; round < 2; ++round) {
      if (round == 1) pending += input.substr(cut);
      for (;;) {
        const size_t n = parser.Feed(pending);
        pending.erase(0, n);
        consumed += n;
        if (n == 0) break;
      }
    }
    ASSERT_TRUE(parser.done()) << "cut at " << cut;
    EXPECT_EQ(consumed, input.size());
    EXPECT_EQ(parser.body(), "hello world") << "cut at " << cut;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Pipelining: the parser stops at the end of one request and leaves the next unconsumed.

TEST(RequestParserTest, PipelinedRequestIsLeftForTheNextParser) {
  const std::vector<std::string> firsts = {
      "GET /first HTTP/1.1\r\nHost: x\r\n\r\n",
      "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
      "POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: "
      "1\r\n\r\n",
  };
  for (const std::string& first : firsts) {
    const std::string input = first + std::string(kNext) + "POST /third HTTP/1.1\r\nHost: x\r\n";
    for (size_t piece : {0, 1, 3}) {
      const Outcome out = Parse(input, {}, {.piece = piece});
      ASSERT_TRUE(out.done()) << first;
      EXPECT_EQ(out.consumed, first.size()) << first << " piece " << piece;
      EXPECT_EQ(out.head.target, "/first");
    }
    // Whatever is left is parsed on its own by the next request's parser.
    RequestParser parser(ParserLimits{});
    std::string rest = input;
    for (;;) {
      const size_t n = parser.Feed(rest);
      rest.erase(0, n);
      if (n == 0) break;
    }
    ASSERT_TRUE(parser.done());
    RequestParser next(ParserLimits{});
    EXPECT_EQ(next.Feed(rest), kNext.size());
    EXPECT_TRUE(next.done());
    EXPECT_EQ(next.head().target, "/next");
  }
}

// ---------------------------------------------------------------------------------------------------------
// LimitBody.

TEST(RequestParserLimitBodyTest, ContentLengthOverTheLoweredLimitFailsAtOnce) {
  RequestParser parser(ParserLimits{});
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n";
  ASSERT_EQ(parser.Feed(head), head.size());
  ASSERT_FALSE(parser.failed());
  parser.LimitBody(99);
  ASSERT_TRUE(parser.failed());
  EXPECT_EQ(parser.refusal().reason, RefusalReason::kTooLarge);
  EXPECT_EQ(parser.Feed(std::string(100, 'a')), 0u);
}

TEST(RequestParserLimitBodyTest, ContentLengthAtTheLoweredLimitPasses) {
  const std::string input =
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'a');
  const Outcome out = Parse(input, {}, {.route_limit = 100});
  ASSERT_TRUE(out.done());
  EXPECT_EQ(out.body.size(), 100u);
  EXPECT_EQ(Parse(input, {}, {.route_limit = 99}).reason, RefusalReason::kTooLarge);
}

TEST(RequestParserLimitBodyTest, NeverRaisesTheLimit) {
  ParserLimits limits;
  limits.body = 10;
  RequestParser parser(limits);
  parser.LimitBody(1000);
  EXPECT_EQ(parser.body_limit(), 10u);
  parser.LimitBody(5);
  EXPECT_EQ(parser.body_limit(), 5u);
  parser.LimitBody(8);
  EXPECT_EQ(parser.body_limit(), 5u);
  // Lowered before the head, it applies to the head's Content-Length.
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n";
  EXPECT_EQ(parser.Feed(head), head.size());
  ASSERT_TRUE(parser.failed());
  EXPECT_EQ(parser.refusal().reason, RefusalReason::kTooLarge);
}

TEST(RequestParserLimitBodyTest, ChunkedBodyFailsWhenItPassesTheLoweredLimit) {
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  RequestParser parser(ParserLimits{});
  ASSERT_EQ(parser.Feed(head), head.size());
  parser.LimitBody(10);
  ASSERT_FALSE(parser.failed());  // nothing known yet
  EXPECT_EQ(parser.Feed("6\r\nhello \r\n"), 11u);
  EXPECT_EQ(parser.Feed("4\r\nworl\r\n"), 9u);  // exactly 10
  EXPECT_FALSE(parser.failed());
  // One more byte: refused at its chunk-size line, before its data.
  EXPECT_EQ(parser.Feed("1\r\nd\r\n0\r\n\r\n"), 0u);
  ASSERT_TRUE(parser.failed());
  EXPECT_EQ(parser.refusal().reason, RefusalReason::kTooLarge);
  EXPECT_EQ(parser.body(), "hello worl");

  const std::string at_limit = head + "6\r\nhello \r\n4\r\nworl\r\n0\r\n\r\n";
  EXPECT_TRUE(Parse(at_limit, {}, {.route_limit = 10}).done());
  EXPECT_EQ(Parse(at_limit, {}, {.route_limit = 9}).reason, RefusalReason::kTooLarge);
  EXPECT_EQ(ParseBytewise(at_limit, {}, {.route_limit = 9}).reason, RefusalReason::kTooLarge);
}

// ---------------------------------------------------------------------------------------------------------
// Every limit: exactly at it passes, one over fails (all at once and byte by byte).

struct BoundaryCase {
  std::string name;
  std::string input;
  size_t ParserLimits::*limit;
  size_t at;  // the value of the limit the input is exactly at
  RefusalReason over;
};

std::vector<BoundaryCase> BoundaryCases() {
  const std::string chunked_head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::vector<BoundaryCase> cases;
  {
    const std::string line = "GET /" + std::string(50, 'a') + " HTTP/1.1";
    cases.push_back({"request_line", line + "\r\nHost: x\r\n\r\n", &ParserLimits::request_line, line.size(),
                     RefusalReason::kUriTooLong});
  }
  {
    const std::string field = "X-Field: " + std::string(50, 'v');
    cases.push_back({"field_line", "GET / HTTP/1.1\r\nHost: x\r\n" + field + "\r\n\r\n",
                     &ParserLimits::field_line, field.size(), RefusalReason::kHeadersTooLarge});
  }
  {
    // All of the head: the request line, the field lines and the empty line, with their CRLFs.
    const std::string head = "GET / HTTP/1.1\r\nHost: x\r\nX-A: " + std::string(40, 'a') + "\r\n\r\n";
    cases.push_back(
        {"header_total", head, &ParserLimits::header_total, head.size(), RefusalReason::kHeadersTooLarge});
  }
  {
    cases.push_back({"field_count", "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
                     &ParserLimits::field_count, 4, RefusalReason::kHeadersTooLarge});
  }
  {
    const std::string line = "5;ext=" + std::string(40, 'e');
    cases.push_back({"chunk_line", chunked_head + line + "\r\nhello\r\n0\r\n\r\n", &ParserLimits::chunk_line,
                     line.size(), RefusalReason::kTooLarge});
  }
  {
    // Size lines with their CRLFs, the CRLF after each chunk's data, the last chunk and the end of trailers.
    const std::string body = "5\r\nhello\r\n1;x\r\n!\r\n0\r\nX-T: 1\r\n\r\n";
    const size_t overhead = 3 + 2 + 5 + 2 + 3 + 8 + 2;
    cases.push_back({"chunk_overhead", chunked_head + body, &ParserLimits::chunk_overhead, overhead,
                     RefusalReason::kTooLarge});
  }
  {
    // The trailer section, its final CRLF included.
    const std::string trailers = "X-T: " + std::string(20, 't') + "\r\nX-U: u\r\n\r\n";
    cases.push_back({"trailer_total", chunked_head + "0\r\n" + trailers, &ParserLimits::trailer_total,
                     trailers.size(), RefusalReason::kHeadersTooLarge});
  }
  {
    cases.push_back({"body_content_length",
                     "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n" + std::string(20, 'b'),
                     &ParserLimits::body, 20, RefusalReason::kTooLarge});
  }
  {
    cases.push_back({"body_chunked", chunked_head + "a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n",
                     &ParserLimits::body, 20, RefusalReason::kTooLarge});
  }
  {
    cases.push_back({"body_one_chunk", chunked_head + "14\r\n01234567890123456789\r\n0\r\n\r\n",
                     &ParserLimits::body, 20, RefusalReason::kTooLarge});
  }
  return cases;
}

TEST(RequestParserLimitTest, ExactlyAtEveryLimitPassesAndOneOverFails) {
  for (const BoundaryCase& c : BoundaryCases()) {
    SCOPED_TRACE(c.name);
    ParserLimits at;
    at.*c.limit = c.at;
    const std::string input = c.input + std::string(kNext);
    for (size_t piece : {0, 1}) {
      const Outcome pass = Parse(input, at, {.piece = piece});
      EXPECT_TRUE(pass.done()) << c.name << " at " << c.at << " piece " << piece << ": "
                               << (pass.reason ? RefusalLabel(*pass.reason) : "not done");
      EXPECT_EQ(pass.consumed, c.input.size()) << c.name;
      ParserLimits over = at;
      over.*c.limit = c.at - 1;
      const Outcome fail = Parse(input, over, {.piece = piece});
      ASSERT_TRUE(fail.failed()) << c.name << " at " << c.at - 1 << " piece " << piece;
      EXPECT_EQ(fail.reason, c.over) << c.name << " piece " << piece;
      EXPECT_LE(fail.consumed, c.input.size());
    }
  }
}

TEST(RequestParserLimitTest, BodyIsNotReservedBeyondWhatArrives) {
  // A large announced Content-Length must not make the parser allocate it before the bytes come.
  RequestParser parser(ParserLimits{});
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n";
  ASSERT_EQ(parser.Feed(head), head.size());
  EXPECT_LE(parser.body().capacity(), 64u * 1024);
}

// ---------------------------------------------------------------------------------------------------------
// Bytes held while waiting for a line: the parser consumes nothing of an incomplete line and refuses it as
// soon as it is over its limit, so the caller never keeps more than the limit plus one read.

struct FloodCase {
  std::string name;
  std::string prefix;  // complete; consumed before the flood
  std::string flood_start;
  char flood_byte;
  RefusalReason reason;
  size_t limit;  // the line limit that stops it
};

TEST(RequestParserFloodTest, EndlessLinesAreRefusedOnceOverTheirLimitHoldingOnlyTheLine) {
  const ParserLimits defaults;
  const std::string chunked_head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::vector<FloodCase> cases = {
      {"chunk_extension", chunked_head, "1;", 'e', RefusalReason::kTooLarge, defaults.chunk_line},
      {"chunk_size_digits", chunked_head, "", '0', RefusalReason::kTooLarge, defaults.chunk_line},
      {"trailer", chunked_head + "0\r\n", "X-T: ", 't', RefusalReason::kHeadersTooLarge,
       defaults.trailer_total},
      {"request_line", "", "GET /", 'a', RefusalReason::kUriTooLong, defaults.request_line},
      {"field_line", "GET / HTTP/1.1\r\nHost: x\r\n", "X-A: ", 'a', RefusalReason::kHeadersTooLarge,
       defaults.field_line},
  };
  constexpr size_t kPiece = 1024;
  for (const FloodCase& c : cases) {
    SCOPED_TRACE(c.name);
    RequestParser parser(defaults);
    std::string pending = c.prefix;
    size_t consumed_before = 0;
    for (;;) {
      const size_t n = parser.Feed(pending);
      pending.erase(0, n);
      consumed_before += n;
      if (n == 0) break;
    }
    ASSERT_EQ(consumed_before, c.prefix.size());
    ASSERT_FALSE(parser.failed());
    pending = c.flood_start;
    size_t consumed = 0;
    size_t max_pending = 0;
    for (int i = 0; i < 256 && !parser.failed(); ++i) {
      pending.append(kPiece, c.flood_byte);
      max_pending = std::max(max_pending, pending.size());
      const size_t n = parser.Feed(pending);
      pending.erase(0, n);
      consumed += n;
    }
    ASSERT_TRUE(parser.failed());
    EXPECT_EQ(parser.refusal().reason, c.reason);
    EXPECT_EQ(consumed, 0u);
    // Refused with the first piece that took the line over its limit.
    EXPECT_LE(max_pending, c.limit + 1 + kPiece);
    EXPECT_GT(max_pending, c.limit + 1);
  }
}

TEST(RequestParserFloodTest, AnIncompleteLineIsRefusedAsSoonAsItCannotFit) {
  // A line of `limit` bytes and its CR may wait for its LF; one byte more and no LF can save it.
  struct Case {
    std::string name;
    std::string prefix;  // complete lines before the one that waits
    size_t ParserLimits::*limit;
    RefusalReason reason;
  };
  const std::string chunked_head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::vector<Case> cases = {
      {"request_line", "", &ParserLimits::request_line, RefusalReason::kUriTooLong},
      {"field_line", "GET / HTTP/1.1\r\nHost: x\r\n", &ParserLimits::field_line,
       RefusalReason::kHeadersTooLarge},
      {"chunk_line", chunked_head, &ParserLimits::chunk_line, RefusalReason::kTooLarge},
      {"trailer_line", chunked_head + "0\r\n", &ParserLimits::trailer_total, RefusalReason::kHeadersTooLarge},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ParserLimits limits;
    limits.*c.limit = 100;
    RequestParser parser(limits);
    std::string pending = c.prefix;
    for (size_t n = 1; n != 0;) {
      n = parser.Feed(pending);
      pending.erase(0, n);
    }
    ASSERT_TRUE(pending.empty());
    ASSERT_FALSE(parser.failed());
    // "GET /aaaa", "X-A: aaaa", "5;aaaa", "X-T: aaaa": all valid so far.
    const std::string start = c.name == "request_line" ? "GET /" : c.name == "chunk_line" ? "5;" : "X-A: ";
    pending = start + std::string(100 - start.size(), 'a') + "\r";
    EXPECT_EQ(parser.Feed(pending), 0u);
    EXPECT_FALSE(parser.failed()) << "at " << pending.size() << " bytes";
    pending += 'a';
    EXPECT_EQ(parser.Feed(pending), 0u);
    ASSERT_TRUE(parser.failed()) << "at " << pending.size() << " bytes";
    EXPECT_EQ(parser.refusal().reason, c.reason);
  }
}

TEST(RequestParserFloodTest, AnIncompleteLineIsRefusedAsSoonAsTheHeadCannotFit) {
  // Well under its own limit, a waiting field line is refused once it takes the head over header_total.
  ParserLimits limits;
  limits.header_total = 100;
  RequestParser parser(limits);
  const std::string lines = "GET / HTTP/1.1\r\nHost: x\r\n";
  ASSERT_EQ(parser.Feed(lines), lines.size());
  std::string pending = "X-A: " + std::string(100 - lines.size() - 5, 'a');
  EXPECT_EQ(parser.Feed(pending), 0u);
  EXPECT_FALSE(parser.failed());
  pending += 'a';
  EXPECT_EQ(parser.Feed(pending), 0u);
  ASSERT_TRUE(parser.failed());
  EXPECT_EQ(parser.refusal().reason, RefusalReason::kHeadersTooLarge);
}

}  // namespace
}  // namespace protectogram::http
