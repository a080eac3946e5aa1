// Splitting a long text into Telegram messages. Telegram's limit is 4096 characters counted in UTF-16 code
// units: a character of the Basic Multilingual Plane (ASCII, Cyrillic: 1 to 3 UTF-8 bytes) is 1 unit, one
// outside it (an emoji: 4 UTF-8 bytes) is 2 units, a surrogate pair.
//
// Invalid UTF-8 never crashes and is passed through untouched: each byte that does not belong to a valid
// sequence (a stray continuation byte, a truncated or overlong sequence, an encoded surrogate, a code point
// above U+10FFFF) counts as one unit on its own, as it would once replaced by U+FFFD, and a split may fall
// between two such bytes. Valid sequences are never cut.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace protectogram::notification {

inline constexpr size_t kTelegramMessageLimit = 4096;

// The length of `utf8` in UTF-16 code units (invalid bytes: 1 unit each, see above).
size_t Utf16Length(std::string_view utf8);

// One part of a split text: views into the text that was split.
struct MessagePart {
  std::string_view text;       // what is sent; never empty, at most `limit` UTF-16 units
  std::string_view separator;  // the whitespace run dropped after it; empty after a hard cut and after the
                               // last part (unless the text ends in whitespace past the last split point)
};

// Splits `text` into parts of at most `limit` UTF-16 units, in order. Each part (but the last) ends where,
// in order of preference:
//   1. a run of whitespace that contains a line break ('\n') starts, the last such run within the limit;
//   2. otherwise a run of whitespace (' ', '\t', '\n', '\v', '\f', '\r') starts, the last within the limit;
//   3. otherwise a hard cut at the limit, between two characters (never inside a UTF-8 sequence, never
//      between the halves of a surrogate pair: a 2-unit character that does not fit goes to the next part).
// "Within the limit" means the part before the run fits; the run itself may extend past the limit. A run
// is only a split point if a non-whitespace character precedes it in the part, so no part is empty and no
// part ends with whitespace at a split point; the whole run is dropped (it is the part's `separator`), so no
// part starts with the previous part's separator. Whitespace is ASCII only (U+00A0 no-break space is kept).
// Concatenating every part's text and separator restores `text` exactly.
// Edge cases: an empty text gives no parts; a text that begins with more than `limit` units of whitespace
// gives whitespace-only parts (callers reject blank texts anyway); with `limit` 0, or 1 and a 2-unit
// character, a character that cannot fit alone goes alone into a part, which is then over the limit.
std::vector<MessagePart> SplitMessageParts(std::string_view text, size_t limit = kTelegramMessageLimit);

// The parts' texts only.
std::vector<std::string> SplitMessage(std::string_view text, size_t limit = kTelegramMessageLimit);

}  // namespace protectogram::notification
