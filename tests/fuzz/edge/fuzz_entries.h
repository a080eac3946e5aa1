// The fuzzed entry points of the edge's webhook routes, one per route. Each runs what the edge runs for one
// request (edge/edge.cc BuildRouter): the request as the HTTP server hands it over (target split into path
// and decoded query, header names lower-cased, values trimmed, repeated headers joined), the route's head
// check (Precheck*) and, when that passes, its Accept* function on the body, with an EdgeConfig built like
// the contract tests' (tests/contract/edge/fixtures.h: every provider configured). They return "" when the
// invariants hold, or what broke. The libFuzzer targets (*_fuzz.cc, built with PROTECTOGRAM_FUZZ=ON under
// clang) abort on a non-empty answer; edge_fuzz_corpus_test replays the checked-in corpus (corpus/<route>/).
//
// Input: byte 0 is the mode (which credentials the request carries: a valid signature computed here over the
// body, a wrong one, none, a malformed one, the fuzzer's own, ...; see the Mode enums in fuzz_entries.cc),
// byte 1 holds flags (bit 7: the rest starts with one line, up to '\n', that the mode uses as a header value,
// a query string or a path segment; the other bits pick variants); the rest is the body. A body over the
// route's limit is skipped (the server refuses it with 413 before any route code runs).
//
// Invariants, on every route:
//   - never crash; a refusal always carries a RejectReason (RejectReasonOf has a value) whose status code
//     matches HttpStatusOf, and a message that names no secret;
//   - never accept without a valid signature / secret (by the mode, or checked here independently of the
//     edge for the fuzzer's own credentials); a valid one is never refused as missing, bad, replayed or
//     unknown;
//   - when the head check refuses, Accept* refuses too (Accept* checks everything again);
//   - what is accepted is at least one row, each storable: CheckStorableBody and CheckStorableEventId pass,
//     the provider is the route's, the payload is the body, payload_json (when present) is the body and valid
//     JSON without \u0000, headers_json (when present) is pure printable ASCII, a JSON object of the kept
//     headers only, and holds no secret.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace protectogram::edge::fuzz {

// The routes, for tests: each entry point below is FuzzEdgeRoute with one of these.
enum class Route { kTelegram, kTelegramQuery, kTelnyx, kTwilioVoice, kTwilioWhatsApp, kWhatsApp };

// Runs one request through `route`; `verdict` (when not null) gets "accepted", "skipped" (the server would
// not have passed the request to the route) or the refusal's reason label.
std::string FuzzEdgeRoute(Route route, const uint8_t* data, size_t size, std::string* verdict = nullptr);

// POST /webhook/<bot_id> with X-Telegram-Bot-Api-Secret-Token (bots "main" and "alpha").
std::string FuzzEdgeTelegram(const uint8_t* data, size_t size);
// POST /telegram/webhook with ?secret= and/or the header (bot "main").
std::string FuzzEdgeTelegramQuery(const uint8_t* data, size_t size);
// POST /telnyx/webhook: Ed25519 (RFC 8032 TEST 1 key) over "<telnyx-timestamp>|<body>", now = 1700000000.
std::string FuzzEdgeTelnyx(const uint8_t* data, size_t size);
// POST /twilio/voice and POST /twilio/whatsapp: X-Twilio-Signature, form or bodySHA256 variant.
std::string FuzzEdgeTwilioVoice(const uint8_t* data, size_t size);
std::string FuzzEdgeTwilioWhatsApp(const uint8_t* data, size_t size);
// POST /whatsapp/webhook: X-Hub-Signature-256; one mode runs GET /whatsapp/webhook (the challenge) instead.
std::string FuzzEdgeWhatsApp(const uint8_t* data, size_t size);

// The REST call API's request parsing (edge/call_api.h: the pure functions CallApi's routes run before any
// I/O), on the same input layout (byte 0 the mode, byte 1 flags, bit 7 a first line; the rest the body, at
// most the API's 64 KiB limit; -max_len=65538). Bit 6 of the flags picks the configuration (the defaults, or
// every default, JWT_ISSUER and JWT_AUDIENCE set). Modes, each with what must hold:
//   - POST /api/v1/interaction/<number> (the line as the raw path segment, else one of a few numbers), as the
//     server decodes the path: ParseInteraction. And POST /api/v1/calls: ParseCreateCall. Exactly one of a
//     request and errors; each error a FastAPI 422 entry (loc "body"/"path"...) that ValidationErrorJson
//     writes as valid JSON; the path's error iff the number is not E.164 (checked here too); a blank body
//     takes every default (interaction) or is "field required" (calls); an accepted request is within the
//     documented bounds, valid UTF-8 (its PlaceCallRequest survives a protobuf round trip), and parses to
//     itself once written back as a body; what /calls accepts, /interaction/<its number> accepts the same.
//   - POST /api/v1/token (the line as Content-Type, else a few spellings): ParseTokenForm accepts exactly
//     the forms (by content type) whose first username and password are non-empty and grant_type, when
//     given, is "password" (checked here on FormDecode); an accepted form encodes and parses back to itself.
//   - Authorization (the line, as the server hands the header over): BearerToken takes exactly the
//     "bearer" scheme in any case, trimmed; CheckToken accepts only a token signed with SECRET_KEY (its MAC
//     checked here). And a token issued for the body as the user name verifies back to it (valid UTF-8).
//   - GET /api/v1/status/<id> (IsUuid, checked here) and CALL_API_RATE_LIMIT (ParseRateLimit: within its
//     bounds).
// `verdict` (when not null) gets "<kind>:<verdict>", e.g. "interaction:accepted", "calls:invalid",
// "token:accepted", "bearer:refused", "status:uuid", "rate_limit:bad", or "skipped" (the server would not
// have passed the request on).
std::string FuzzEdgeCallApi(const uint8_t* data, size_t size, std::string* verdict = nullptr);

}  // namespace protectogram::edge::fuzz
