// Small text helpers shared by the provider parsers.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace protectogram::providers {

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. Protobuf `string`
// fields must hold valid UTF-8, so every provider string is checked before it goes into an event.
bool IsValidUtf8(std::string_view s);

// Writes `t` (whole seconds and nanoseconds) into a protobuf Timestamp.
void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out);

// The length of UTF-8 text in UTF-16 code units, as Telegram and WhatsApp count a text's length (a character
// above U+FFFF is a surrogate pair: 2). Exact for valid UTF-8; for anything else only an estimate.
size_t Utf16Length(std::string_view utf8);

// A phone number as E.164 writes it and the voice providers take it: "+" and 8 to 15 digits, the first not 0.
bool IsE164(std::string_view number);

// `s` without leading and trailing ASCII whitespace.
std::string_view TrimAscii(std::string_view s);

}  // namespace protectogram::providers
