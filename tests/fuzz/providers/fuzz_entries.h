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

// crypto::VerifyJwtHs256 (the REST call API's bearer tokens) under a fixed secret, on: the input as a token;
// "<header>\n<payload>\n..." as the JSON of a token signed here with the right key, and with another; and a
// round trip, claims made of the first lines (sub, iss, aud) and bytes (iat, exp) signed by SignJwtHs256.
// Every refusal is UNAUTHENTICATED with one of the documented reasons; a token is accepted only when its
// signature is the HMAC of its first two parts under the secret (checked here independently) and its claims
// hold (alg HS256, sub, exp, iat, nbf, iss and aud as asked); a token signed here is never refused as a bad
// signature; signed claims of valid UTF-8 verify back to themselves.
std::string FuzzJwt(const uint8_t* data, size_t size);

// telegram::ParseUpdate and ExtractUpdateId: never crash; agree on update_id and on what is malformed JSON;
// a parsed event survives a protobuf round trip (its strings are valid UTF-8).
std::string FuzzTelegramUpdate(const uint8_t* data, size_t size);

// The answers to our Telnyx commands: telnyx::ParseDialResponse (an accepted answer has a call_control_id and
// parses the same once written back as JSON), FirstError (round trip likewise), ParseErrorResponse ("HTTP
// <status>", and ": <what>" only when FirstError found something; valid UTF-8; the title and detail cut to
// their bounds), IsCallEndedError (422 with code 90018 only) and ClassifyCommandError.
std::string FuzzTelnyxCommands(const uint8_t* data, size_t size);

// telnyx::ParseEvent (round trip as above) and VerifyWebhook, with the first two lines of the input taken as
// the signature and timestamp headers: never crash, never accept a signature under a key nobody holds.
std::string FuzzTelnyxEvent(const uint8_t* data, size_t size);

// ParseForm, twilio::ParseVoiceCallback / ParseWhatsAppInbound (round trip) and the signature functions: a
// signature we compute for a URL and params always verifies against them.
std::string FuzzTwilioForm(const uint8_t* data, size_t size);

// The Twilio Voice REST answers and our prompt: twilio::ParseCallResource, ParseCallList and
// ParseErrorResponse (only INVALID_ARGUMENT refusals; what parses is written back as JSON and parses to the
// same; a call always has a sid), and BuildPromptTwiml with the input as the text (fixed attributes), and
// with its first three lines as action URL, language and voice and the rest as the text. What it builds is
// well-formed XML (checked by a parser here: only the five predefined entities, no raw '<' or '&' from the
// input, XML 1.0 characters only) of the documented shape (<Response>, <Gather>s each with one <Say>,
// <Hangup/>; at most 4000 characters) whose every <Say> says exactly the text and whose attributes are
// exactly the prompt's; text that is not XML character data (or too long) is refused, and a short plain text
// with the fixed attributes is never refused.
std::string FuzzTwilioVoiceApi(const uint8_t* data, size_t size);

// whatsapp::ParseWebhook (round trip for every event), VerifySignature with the right and a wrong MAC, and
// VerifySubscriptionQuery.
std::string FuzzWhatsAppWebhook(const uint8_t* data, size_t size);

}  // namespace protectogram::providers::fuzz
