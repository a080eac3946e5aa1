// The fuzzed entry points of the provider parsers, one per parser. Each runs the parser (and its verifier) on
// arbitrary bytes and checks invariants that must hold for every input; it returns "" when they hold, or what
// broke. The libFuzzer targets (*_fuzz.cc, built with PROTECTOGRAM_FUZZ=ON under clang) abort on a non-empty
// answer; providers_fuzz_corpus_test replays the checked-in corpus through the same functions in every build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace protectogram::providers::fuzz {

// ari::ParseEvent (round trip as below; an accepted frame has a non-empty provider_event_id, the same on a
// second parse) and ParseChannel, and EndpointFor with the first line as the number: only '+' and digits
// ever reach a dial string.
std::string FuzzAriEvent(const uint8_t* data, size_t size);

// telegram::ParseUpdate and ExtractUpdateId: never crash; agree on update_id and on what is malformed JSON;
// a parsed event survives a protobuf round trip (its strings are valid UTF-8).
std::string FuzzTelegramUpdate(const uint8_t* data, size_t size);

// telnyx::ParseEvent (round trip as above) and VerifyWebhook, with the first two lines of the input taken as
// the signature and timestamp headers: never crash, never accept a signature under a key nobody holds.
std::string FuzzTelnyxEvent(const uint8_t* data, size_t size);

// ParseForm, twilio::ParseVoiceCallback / ParseWhatsAppInbound (round trip) and the signature functions: a
// signature we compute for a URL and params always verifies against them.
std::string FuzzTwilioForm(const uint8_t* data, size_t size);

// whatsapp::ParseWebhook (round trip for every event), VerifySignature with the right and a wrong MAC, and
// VerifySubscriptionQuery.
std::string FuzzWhatsAppWebhook(const uint8_t* data, size_t size);

}  // namespace protectogram::providers::fuzz
