#include "services/notification/split.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

namespace protectogram::notification {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const std::string kCyr = "я";    // 2 UTF-8 bytes, 1 UTF-16 unit
const std::string kEuro = "€";   // 3 bytes, 1 unit
const std::string kEmoji = "😀";  // 4 bytes, 2 units (a surrogate pair)

std::string Repeat(std::string_view s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

std::string Join(const std::vector<MessagePart>& parts) {
  std::string out;
  for (const MessagePart& p : parts) {
    out += p.text;
    out += p.separator;
  }
  return out;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

TEST(Utf16LengthTest, CountsUnits) {
  EXPECT_EQ(Utf16Length(""), 0u);
  EXPECT_EQ(Utf16Length("abc"), 3u);
  EXPECT_EQ(Utf16Length("Тревога"), 7u);
  EXPECT_EQ(Utf16Length(kEuro), 1u);
  EXPECT_EQ(Utf16Length(kEmoji), 2u);
  EXPECT_EQ(Utf16Length("a" + kEmoji + kCyr + kEuro), 5u);
  EXPECT_EQ(Utf16Length("🆘 Тревога"), 10u);
}

TEST(Utf16LengthTest, InvalidBytesCountOneEach) {
  EXPECT_EQ(Utf16Length("\xff"), 1u);
  EXPECT_EQ(Utf16Length("\x80\x80"), 2u);              // stray continuation bytes
  EXPECT_EQ(Utf16Length("\xd1"), 1u);                  // truncated 2-byte sequence
  EXPECT_EQ(Utf16Length("\xf0\x9f\x98"), 3u);          // truncated emoji
  EXPECT_EQ(Utf16Length("\xc0\xaf"), 2u);              // overlong '/'
  EXPECT_EQ(Utf16Length("\xe0\x80\xaf"), 3u);          // overlong
  EXPECT_EQ(Utf16Length("\xed\xa0\x80"), 3u);          // encoded surrogate U+D800
  EXPECT_EQ(Utf16Length("\xf4\x90\x80\x80"), 4u);      // above U+10FFFF
  EXPECT_EQ(Utf16Length("\xf4\x8f\xbf\xbf"), 2u);      // U+10FFFF itself is valid
  EXPECT_EQ(Utf16Length(std::string("a\0b", 3)), 3u);  // NUL is a character
}

TEST(SplitTest, EmptyTextHasNoParts) {
  EXPECT_THAT(SplitMessage(""), IsEmpty());
  EXPECT_THAT(SplitMessageParts(""), IsEmpty());
}

TEST(SplitTest, ShortTextIsOnePart) {
  EXPECT_THAT(SplitMessage("Тревога от Анна!"), ElementsAre("Тревога от Анна!"));
  // A text that fits keeps its own leading and trailing whitespace.
  EXPECT_THAT(SplitMessage("  a  \n"), ElementsAre("  a  \n"));
}

TEST(SplitTest, ExactlyTheLimitIsOnePart) {
  std::string text = Repeat("a", 4096);
  EXPECT_THAT(SplitMessage(text), ElementsAre(text));
  std::string cyr = Repeat(kCyr, 4096);  // 8192 bytes, 4096 units
  EXPECT_THAT(SplitMessage(cyr), ElementsAre(cyr));
  std::string emoji = Repeat(kEmoji, 2048);  // 4096 units
  EXPECT_THAT(SplitMessage(emoji), ElementsAre(emoji));
}

TEST(SplitTest, OneOverTheLimitIsAHardCut) {
  std::string text = Repeat("a", 4097);
  EXPECT_THAT(SplitMessage(text), ElementsAre(Repeat("a", 4096), "a"));
  const std::string cyr = Repeat(kCyr, 4097);  // the parts are views into it
  std::vector<MessagePart> parts = SplitMessageParts(cyr);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].text, Repeat(kCyr, 4096));
  EXPECT_EQ(parts[0].separator, "");
  EXPECT_EQ(parts[1].text, kCyr);
}

TEST(SplitTest, AnEmojiIsNeverCutInHalf) {
  // 4095 units, then an emoji of 2 units: it does not fit, so it starts the next part.
  std::string text = Repeat("a", 4095) + kEmoji + "b";
  EXPECT_THAT(SplitMessage(text), ElementsAre(Repeat("a", 4095), kEmoji + "b"));
  // 4094 + 2 = 4096 units fit exactly.
  text = Repeat("a", 4094) + kEmoji + "b";
  EXPECT_THAT(SplitMessage(text), ElementsAre(Repeat("a", 4094) + kEmoji, "b"));
  // Emoji only, an odd number of units available: the part stays one unit short.
  EXPECT_THAT(SplitMessage(Repeat(kEmoji, 3), 5), ElementsAre(Repeat(kEmoji, 2), kEmoji));
}

TEST(SplitTest, ThreeByteCharactersAreOneUnit) {
  EXPECT_THAT(SplitMessage(Repeat(kEuro, 5), 2), ElementsAre(Repeat(kEuro, 2), Repeat(kEuro, 2), kEuro));
}

TEST(SplitTest, SplitsAtTheLastSpaceAndDropsIt) {
  std::vector<MessagePart> parts = SplitMessageParts("one two three four", 10);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].text, "one two");
  EXPECT_EQ(parts[0].separator, " ");
  EXPECT_EQ(parts[1].text, "three four");
  EXPECT_EQ(parts[1].separator, "");
}

TEST(SplitTest, PrefersALineBreakOverALaterSpace) {
  std::vector<MessagePart> parts = SplitMessageParts("first line\nsecond line goes on", 20);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].text, "first line");
  EXPECT_EQ(parts[0].separator, "\n");
  EXPECT_EQ(parts[1].text, "second line goes on");
  // The last line break wins over an earlier one.
  EXPECT_THAT(SplitMessage("a\nbb\ncc dd ee", 8), ElementsAre("a\nbb", "cc dd ee"));
}

TEST(SplitTest, AWholeWhitespaceRunIsTheSeparator) {
  std::vector<MessagePart> parts = SplitMessageParts("para one.\r\n\r\n  para two is here", 16);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].text, "para one.");
  EXPECT_EQ(parts[0].separator, "\r\n\r\n  ");
  EXPECT_EQ(parts[1].text, "para two is here");
  // A run of spaces that holds a line break counts as a line break.
  EXPECT_THAT(SplitMessage("aa  \n  bb cc dd", 9), ElementsAre("aa", "bb cc dd"));
}

TEST(SplitTest, WhitespaceRightAfterTheLimitIsAPerfectSplit) {
  // The part before the space is exactly the limit; the space itself need not fit.
  std::string text = Repeat("a", 4096) + " " + Repeat("b", 10);
  std::vector<MessagePart> parts = SplitMessageParts(text);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].text, Repeat("a", 4096));
  EXPECT_EQ(parts[0].separator, " ");
  EXPECT_EQ(parts[1].text, Repeat("b", 10));
  // A line break just past the limit beats a space inside it.
  text = Repeat("a", 10) + " " + Repeat("a", 4085) + "\n" + "b";
  EXPECT_THAT(SplitMessage(text), ElementsAre(Repeat("a", 10) + " " + Repeat("a", 4085), "b"));
  // ... and so does a run that starts within the limit and has its line break past it: it beats an earlier
  // line break.
  text = "x\n" + Repeat("a", 4092) + "   \n" + "b";
  EXPECT_THAT(SplitMessage(text), ElementsAre("x\n" + Repeat("a", 4092), "b"));
}

TEST(SplitTest, TrailingWhitespaceThatDoesNotFitIsDropped) {
  std::vector<MessagePart> parts = SplitMessageParts(Repeat("a", 5) + "   ", 5);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].text, "aaaaa");
  EXPECT_EQ(parts[0].separator, "   ");
}

TEST(SplitTest, LeadingWhitespaceIsNotASplitPoint) {
  // No empty part: the leading spaces are content of the first part, cut hard.
  EXPECT_THAT(SplitMessage("   abcdefgh", 5), ElementsAre("   ab", "cdefg", "h"));
  EXPECT_THAT(SplitMessage("  ab cdefgh", 6), ElementsAre("  ab", "cdefgh"));
}

TEST(SplitTest, NoWhitespaceAtAllIsCutHard) {
  std::string text = Repeat("Тревога", 1000);  // 7000 units
  std::vector<std::string> parts = SplitMessage(text);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(Utf16Length(parts[0]), 4096u);
  EXPECT_EQ(Utf16Length(parts[1]), 7000u - 4096u);
  EXPECT_EQ(parts[0] + parts[1], text);
  // No-break spaces are not whitespace.
  EXPECT_THAT(SplitMessage("aa\u00a0bb\u00a0cc", 4), ElementsAre("aa\u00a0b", "b\u00a0cc"));
}

TEST(SplitTest, ManyParts) {
  std::string word = "слово ";            // 6 units
  std::string text = Repeat(word, 5000);  // 30000 units
  std::vector<MessagePart> parts = SplitMessageParts(text);
  ASSERT_EQ(parts.size(), 8u);  // 682 words of 6 units fit per part, the separator dropped
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    EXPECT_LE(Utf16Length(parts[i].text), 4096u);
    EXPECT_GE(Utf16Length(parts[i].text), 4090u);
    EXPECT_EQ(parts[i].separator, " ");
    EXPECT_TRUE(parts[i].text.ends_with("слово")) << i;
  }
  EXPECT_EQ(Join(parts), text);
}

TEST(SplitTest, InvalidBytesNeverCrashAndRoundTrip) {
  std::string text = "\xff\xfe" + Repeat("a\x80", 10) + " \xd1";
  std::vector<MessagePart> parts = SplitMessageParts(text, 3);
  EXPECT_EQ(Join(parts), text);
  for (const MessagePart& p : parts) {
    EXPECT_FALSE(p.text.empty());
    EXPECT_LE(Utf16Length(p.text), 3u);
  }
  // A valid character next to invalid bytes stays whole.
  EXPECT_THAT(SplitMessage("\x80" + kEmoji, 2), ElementsAre("\x80", kEmoji));
}

TEST(SplitTest, TinyLimitsStillProgress) {
  EXPECT_THAT(SplitMessage("ab", 0), ElementsAre("a", "b"));
  EXPECT_THAT(SplitMessage(kEmoji + "a", 1), ElementsAre(kEmoji, "a"));
  EXPECT_THAT(SplitMessage("a b", 1), ElementsAre("a", "b"));
}

// Every split point of a valid UTF-8 text falls between characters.
bool IsCharBoundary(std::string_view text, size_t pos) {
  return pos == 0 || pos == text.size() || (static_cast<unsigned char>(text[pos]) & 0xC0) != 0x80;
}

// The length of a valid UTF-8 sequence from its lead byte.
size_t LeadBytes(char lead) {
  const auto b = static_cast<unsigned char>(lead);
  return b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
}

TEST(SplitTest, RandomTextsRoundTripAndRespectTheRules) {
  std::mt19937 rng(20240521);
  const std::vector<std::string> alphabet = {"a",  "b",  "c",  " ",   " ",    "\n",
                                             "\t", "\r", kCyr, kEuro, kEmoji, "ж"};
  for (int round = 0; round < 3000; ++round) {
    const size_t limit = round % 10 == 0 ? 4096 : 2 + rng() % 40;
    const size_t length = rng() % (round % 10 == 0 ? 12000 : 200);
    std::string text;
    for (size_t i = 0; i < length; ++i) text += alphabet[rng() % alphabet.size()];

    std::vector<MessagePart> parts = SplitMessageParts(text, limit);
    SCOPED_TRACE(testing::Message() << "round " << round << " limit " << limit);
    ASSERT_EQ(Join(parts), text);
    if (text.empty()) {
      EXPECT_TRUE(parts.empty());
    }
    size_t offset = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
      const MessagePart& p = parts[i];
      ASSERT_FALSE(p.text.empty());
      EXPECT_LE(Utf16Length(p.text), limit);
      EXPECT_EQ(p.text.data(), text.data() + offset);  // views into the text, in order
      EXPECT_TRUE(IsCharBoundary(text, offset));
      offset += p.text.size();
      EXPECT_TRUE(IsCharBoundary(text, offset));
      for (char c : p.separator) EXPECT_TRUE(IsSpace(c));
      if (!p.separator.empty()) {
        EXPECT_FALSE(IsSpace(p.text.back()));
        // A whole run is dropped: the next part does not start with whitespace.
        if (i + 1 < parts.size()) {
          EXPECT_FALSE(IsSpace(parts[i + 1].text.front()));
        }
        // A split without a line break means the part had no line break to split at.
        if (p.separator.find('\n') == std::string_view::npos) {
          size_t first = 0;
          while (first < p.text.size() && IsSpace(p.text[first])) ++first;
          EXPECT_EQ(p.text.find('\n', first), std::string_view::npos);
        }
      } else if (i + 1 < parts.size()) {
        // A hard cut: the part is full (the next character would not fit) and held no split point.
        std::string_view next = parts[i + 1].text;
        size_t next_units = Utf16Length(next.substr(0, LeadBytes(next[0])));
        EXPECT_GT(Utf16Length(p.text) + next_units, limit);
        size_t first = 0;
        while (first < p.text.size() && IsSpace(p.text[first])) ++first;
        for (size_t k = first; k < p.text.size(); ++k) EXPECT_FALSE(IsSpace(p.text[k]));
        // (a part of whitespace only happens when the text begins with more than `limit` of it)
        if (first < p.text.size()) {
          EXPECT_FALSE(IsSpace(next.front()));
        }
      }
      offset += p.separator.size();
    }
    std::vector<std::string> plain = SplitMessage(text, limit);
    ASSERT_EQ(plain.size(), parts.size());
    for (size_t i = 0; i < parts.size(); ++i) EXPECT_EQ(plain[i], parts[i].text);
  }
}

}  // namespace
}  // namespace protectogram::notification
