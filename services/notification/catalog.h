// The message catalog: every text a user of the product sees or hears (Telegram messages, button labels,
// callback answers, the operators' chat, the prompts spoken on calls, WhatsApp texts), keyed by a stable
// template id and a locale. Russian is the product's language; English and Spanish exist for every template.
//
// Placeholders are `{name}` with an ASCII identifier inside ([A-Za-z_][A-Za-z0-9_]*); `{{` and `}}` stand for
// literal braces. Every locale of a template has exactly the parameters of its Russian text. Parameter values
// are inserted verbatim: no escaping, since texts are sent without parse_mode. The catalog is in
// docs/messages.md.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace protectogram::notification {

enum class Locale { kRu, kEn, kEs };
inline constexpr Locale kDefaultLocale = Locale::kRu;

// Parses a language tag: "ru", "en" or "es", case-insensitive, optionally followed by subtags after '-' or
// '_' ("ru-RU", "en_US", "es-419"), which are ignored. Each subtag is 1 to 8 letters or digits.
// INVALID_ARGUMENT "unknown locale <tag>" for anything else, the empty tag included.
absl::StatusOr<Locale> ParseLocale(std::string_view tag);
// ParseLocale, or kDefaultLocale when `tag` is empty or not one of ours (Telegram's `language_code` can be
// any language or absent).
Locale LocaleOrDefault(std::string_view tag);
// "ru", "en", "es".
std::string_view LocaleName(Locale locale);
// The TTS language of spoken templates: "ru-RU", "en-US", "es-ES".
std::string_view SpeechLanguage(Locale locale);

// Where a text is shown; it sets the limits a text must respect (see docs/messages.md).
enum class TextKind {
  kMessage,         // a Telegram message (to a traveler, a guardian or the operators' chat)
  kButton,          // a button label (inline or reply keyboard)
  kCallbackAnswer,  // answerCallbackQuery text: a toast of at most 200 characters
  kSpeech,          // spoken on a call by TTS: no emoji, no typographic quotes
  kWhatsApp,        // a WhatsApp message body (registered as a Meta template where Meta requires one)
};
// "message", "button", "callback_answer", "speech", "whatsapp".
std::string_view TextKindName(TextKind kind);

// One template. The views must outlive the catalog (the product's are string literals).
struct Template {
  std::string_view id;
  TextKind kind;
  std::string_view ru, en, es;

  std::string_view Text(Locale locale) const;
};

using Params = std::map<std::string, std::string>;

// The placeholders of `text`, sorted and unique. INVALID_ARGUMENT for a brace that is neither `{{`, `}}` nor
// part of a `{identifier}`.
absl::StatusOr<std::vector<std::string>> PlaceholdersOf(std::string_view text);

class Catalog {
 public:
  // Checks the templates: ids non-empty and unique; every locale's text non-empty and well-formed, with the
  // same placeholders as the Russian text. INVALID_ARGUMENT naming the template and locale otherwise.
  static absl::StatusOr<Catalog> Create(std::vector<Template> templates);
  // The product's catalog (checked once; a broken built-in table aborts at first use).
  static const Catalog& Default();

  // Renders template `id` in `locale` (a tag as ParseLocale reads it). INVALID_ARGUMENT, checked in this
  // order: "unknown template <id>", "unknown locale <tag>", "template <id> needs parameter {p}" (a placeholder
  // without a value), "template <id> has no parameter {p}" (a value without a placeholder: catches typos).
  absl::StatusOr<std::string> Render(std::string_view id, std::string_view locale,
                                     const Params& params) const;
  absl::StatusOr<std::string> Render(std::string_view id, Locale locale, const Params& params) const;

  // The parameters of template `id`, sorted; empty for an unknown id.
  std::vector<std::string> Parameters(std::string_view id) const;
  bool Has(std::string_view id) const;
  // The template, or nullptr for an unknown id.
  const Template* Find(std::string_view id) const;
  // In the catalog's order (the product's: grouped by flow, as in docs/messages.md).
  const std::vector<Template>& templates() const { return templates_; }

 private:
  Catalog() = default;

  std::vector<Template> templates_;
  std::vector<std::vector<std::string>> parameters_;  // parallel to templates_
  std::map<std::string, size_t, std::less<>> index_;  // id -> position in templates_
};

}  // namespace protectogram::notification
