#include "services/notification/split.h"

namespace protectogram::notification {
namespace {

constexpr size_t kNone = std::string_view::npos;

// One character of the text: its UTF-8 bytes and UTF-16 units.
struct Char {
  size_t bytes;
  size_t units;
};

bool IsContinuation(unsigned char b) { return (b & 0xC0) == 0x80; }

// The character at `i` (< text.size()), decoded strictly (RFC 3629): anything else is one invalid byte.
Char CharAt(std::string_view text, size_t i) {
  const auto b0 = static_cast<unsigned char>(text[i]);
  if (b0 < 0x80) return {1, 1};
  size_t trailing = 0;
  unsigned char lo = 0x80;  // the valid range of the second byte (excludes overlongs, surrogates, > U+10FFFF)
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    trailing = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    trailing = 2;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    trailing = 3;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {1, 1};
  }
  if (i + trailing >= text.size()) return {1, 1};
  const auto b1 = static_cast<unsigned char>(text[i + 1]);
  if (b1 < lo || b1 > hi) return {1, 1};
  for (size_t k = 2; k <= trailing; ++k) {
    if (!IsContinuation(static_cast<unsigned char>(text[i + k]))) return {1, 1};
  }
  return {trailing + 1, trailing == 3 ? size_t{2} : size_t{1}};
}

// ASCII whitespace; a non-ASCII byte is never whitespace.
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

}  // namespace

size_t Utf16Length(std::string_view utf8) {
  size_t units = 0;
  for (size_t i = 0; i < utf8.size();) {
    Char c = CharAt(utf8, i);
    units += c.units;
    i += c.bytes;
  }
  return units;
}

std::vector<MessagePart> SplitMessageParts(std::string_view text, size_t limit) {
  std::vector<MessagePart> parts;
  const size_t n = text.size();
  size_t pos = 0;
  while (pos < n) {
    // Take characters while they fit, remembering where whitespace runs start. A run is a split point only
    // if a non-whitespace character of this part precedes it (`run` stays kNone in leading whitespace).
    size_t i = pos;
    size_t units = 0;
    size_t run = kNone;         // start of the split-point run the scan is in
    size_t last_run = kNone;    // start of the last split-point run
    size_t last_break = kNone;  // start of the last split-point run containing '\n'
    bool prev_space = false;
    while (i < n) {
      Char c = CharAt(text, i);
      if (units + c.units > limit) break;
      if (IsSpace(text[i])) {
        if (!prev_space && i > pos) run = last_run = i;
        if (text[i] == '\n' && run != kNone) last_break = run;
        prev_space = true;
      } else {
        run = kNone;
        prev_space = false;
      }
      units += c.units;
      i += c.bytes;
    }
    if (i == n) {
      parts.push_back({text.substr(pos), {}});
      break;
    }
    // The first character that does not fit may start or continue a run: the part before it fits, and a
    // run is dropped whole, so look at the rest of that run for a line break.
    if (IsSpace(text[i])) {
      if (!prev_space && i > pos) run = last_run = i;
      for (size_t j = i; run != kNone && last_break != run && j < n && IsSpace(text[j]); ++j) {
        if (text[j] == '\n') last_break = run;
      }
    }
    const size_t split = last_break != kNone ? last_break : last_run;
    if (split != kNone) {
      size_t end = split;
      while (end < n && IsSpace(text[end])) ++end;
      parts.push_back({text.substr(pos, split - pos), text.substr(split, end - split)});
      pos = end;
      continue;
    }
    if (i == pos) i += CharAt(text, pos).bytes;  // a character that cannot fit even alone goes alone
    parts.push_back({text.substr(pos, i - pos), {}});
    pos = i;
  }
  return parts;
}

std::vector<std::string> SplitMessage(std::string_view text, size_t limit) {
  std::vector<std::string> out;
  for (const MessagePart& part : SplitMessageParts(text, limit)) out.emplace_back(part.text);
  return out;
}

}  // namespace protectogram::notification
