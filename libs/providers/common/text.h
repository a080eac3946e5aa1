// Small text helpers shared by the provider parsers.
#pragma once

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

// `s` without leading and trailing ASCII whitespace.
std::string_view TrimAscii(std::string_view s);

}  // namespace protectogram::providers
