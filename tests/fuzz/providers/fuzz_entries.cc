#include "tests/fuzz/providers/fuzz_entries.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "libs/crypto/digest.h"
#include "libs/crypto/encoding.h"
#include "libs/crypto/jwt.h"
#include "libs/providers/ari/ari.h"
#include "libs/providers/common/error.h"
#include "libs/providers/common/form.h"
#include "libs/providers/common/text.h"
#include "libs/providers/telegram/telegram.h"
#include "libs/providers/telnyx/commands.h"
#include "libs/providers/telnyx/telnyx.h"
#include "libs/providers/twilio/twilio.h"
#include "libs/providers/twilio/voice_api.h"
#include "libs/providers/whatsapp/whatsapp.h"

namespace protectogram::providers::fuzz {
namespace {

namespace json = boost::json;

std::string_view View(const uint8_t* data, size_t size) {
  return size == 0 ? std::string_view() : std::string_view(reinterpret_cast<const char*>(data), size);
}

// A message must serialize and parse back to itself: proto3 refuses invalid UTF-8 in string fields on parse.
template <typename Message>
std::string RoundTrip(const Message& m) {
  std::string wire;
  if (!m.SerializeToString(&wire)) return "event does not serialize";
  Message back;
  if (!back.ParseFromString(wire)) return "event does not parse back (invalid UTF-8?)";
  if (back.SerializeAsString() != wire) return "event changes on a round trip";
  return "";
}

// Splits off the first line ("" when there is no newline).
std::string_view TakeLine(std::string_view& rest) {
  size_t nl = rest.find('\n');
  if (nl == std::string_view::npos) {
    std::string_view line = rest;
    rest = std::string_view();
    return line;
  }
  std::string_view line = rest.substr(0, nl);
  rest.remove_prefix(nl + 1);
  return line;
}

json::string_view J(std::string_view s) { return json::string_view(s.data(), s.size()); }

// ---- text and XML, checked independently of the code under test -------------------------------------------

// Decodes UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF) into code points; false
// for anything ill-formed.
bool DecodeUtf8(std::string_view s, std::vector<char32_t>* out) {
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t len = 1;
    char32_t cp = b;
    char32_t min = 0;
    if (b >= 0x80) {
      if ((b & 0xE0) == 0xC0) {
        len = 2, cp = b & 0x1F, min = 0x80;
      } else if ((b & 0xF0) == 0xE0) {
        len = 3, cp = b & 0x0F, min = 0x800;
      } else if ((b & 0xF8) == 0xF0) {
        len = 4, cp = b & 0x07, min = 0x10000;
      } else {
        return false;
      }
    }
    if (s.size() - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    if (out != nullptr) out->push_back(cp);
    i += len;
  }
  return true;
}

// XML 1.0 §2.2 Char.
bool IsXmlChar(char32_t c) {
  return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) ||
         (c >= 0x10000 && c <= 0x10FFFF);
}

// Valid UTF-8 of XML characters only; `chars` (when not null) gets the number of code points.
bool IsXmlCharData(std::string_view s, size_t* chars = nullptr) {
  std::vector<char32_t> cps;
  if (!DecodeUtf8(s, &cps)) return false;
  if (chars != nullptr) *chars = cps.size();
  return std::all_of(cps.begin(), cps.end(), IsXmlChar);
}

// One element of a parsed document: its attributes and character data entity-decoded, in order.
struct XmlNode {
  std::string name;
  std::vector<std::pair<std::string, std::string>> attributes;
  std::string text;
  std::vector<XmlNode> children;
};

// A strict reader of the XML subset TwiML is written in: the declaration, then elements with double-quoted
// attributes, character data and the five predefined entities; nothing else (no comments, CDATA, other
// references or processing instructions). An error is what is not well-formed.
class XmlReader {
 public:
  explicit XmlReader(std::string_view doc) : doc_(doc) {}

  std::string Document(XmlNode* root) {
    constexpr std::string_view kDeclaration = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
    if (!doc_.starts_with(kDeclaration)) return "no XML declaration";
    pos_ = kDeclaration.size();
    if (std::string broken = Element(root, 0); !broken.empty()) return broken;
    if (pos_ != doc_.size()) return "bytes after the root element";
    return "";
  }

 private:
  bool Peek(std::string_view s) const { return doc_.substr(pos_).starts_with(s); }

  std::string Name(std::string* out) {
    while (pos_ < doc_.size() &&
           ((doc_[pos_] >= 'A' && doc_[pos_] <= 'Z') || (doc_[pos_] >= 'a' && doc_[pos_] <= 'z'))) {
      out->push_back(doc_[pos_++]);
    }
    return out->empty() ? "a tag or attribute without a name" : "";
  }

  std::string Reference(std::string* out) {
    static constexpr std::pair<std::string_view, char> kEntities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    for (const auto& [entity, c] : kEntities) {
      if (Peek(entity)) {
        out->push_back(c);
        pos_ += entity.size();
        return "";
      }
    }
    return "a raw '&' (not one of the five predefined entities)";
  }

  std::string Element(XmlNode* node, int depth) {
    if (depth > 8) return "elements nested too deep";
    if (!Peek("<")) return "no element";
    ++pos_;
    if (std::string broken = Name(&node->name); !broken.empty()) return broken;
    for (;;) {
      if (Peek("/>")) {
        pos_ += 2;
        return "";
      }
      if (Peek(">")) {
        ++pos_;
        break;
      }
      if (!Peek(" ")) return "<" + node->name + ">: no space before an attribute";
      ++pos_;
      std::string name;
      if (std::string broken = Name(&name); !broken.empty()) return broken;
      if (!Peek("=\"")) return "<" + node->name + ">: an attribute without =\"";
      pos_ += 2;
      std::string value;
      while (pos_ < doc_.size() && doc_[pos_] != '"') {
        if (doc_[pos_] == '<') return "a raw '<' in an attribute value";
        if (doc_[pos_] == '&') {
          if (std::string broken = Reference(&value); !broken.empty()) return broken;
        } else {
          value.push_back(doc_[pos_++]);
        }
      }
      if (pos_ == doc_.size()) return "an unterminated attribute value";
      ++pos_;
      for (const auto& [other, unused] : node->attributes) {
        if (other == name) return "<" + node->name + ">: a repeated attribute " + name;
      }
      node->attributes.emplace_back(std::move(name), std::move(value));
    }
    for (;;) {
      if (pos_ >= doc_.size()) return "<" + node->name + "> is not closed";
      if (Peek("</")) {
        pos_ += 2;
        std::string end;
        if (std::string broken = Name(&end); !broken.empty()) return broken;
        if (end != node->name) return "<" + node->name + "> closed by </" + end + ">";
        if (!Peek(">")) return "an end tag without '>'";
        ++pos_;
        return "";
      }
      if (Peek("<!") || Peek("<?")) return "markup other than elements";
      if (Peek("<")) {
        node->children.emplace_back();
        if (std::string broken = Element(&node->children.back(), depth + 1); !broken.empty()) return broken;
      } else if (Peek("&")) {
        if (std::string broken = Reference(&node->text); !broken.empty()) return broken;
      } else if (Peek("]]>")) {
        return "]]> in character data";
      } else {
        node->text.push_back(doc_[pos_++]);
      }
    }
  }

  std::string_view doc_;
  size_t pos_ = 0;
};

using Attributes = std::vector<std::pair<std::string, std::string>>;

// `twiml` (accepted for `prompt`) is well-formed XML of the documented shape, saying exactly the text.
std::string CheckTwiml(const twilio::PromptTwiml& prompt, const std::string& twiml) {
  size_t chars = 0;
  if (!IsXmlCharData(twiml, &chars)) return "TwiML is not UTF-8 of XML characters";
  if (chars > twilio::kMaxTwimlLength) return "TwiML over 4000 characters";
  XmlNode root;
  if (std::string broken = XmlReader(twiml).Document(&root); !broken.empty()) {
    return "TwiML not well-formed: " + broken;
  }
  if (root.name != "Response" || !root.attributes.empty() || !root.text.empty()) {
    return "TwiML: not a bare <Response>";
  }
  if (root.children.size() < 2) return "TwiML: no <Gather> or no <Hangup/>";
  const XmlNode& hangup = root.children.back();
  if (hangup.name != "Hangup" || !hangup.attributes.empty() || !hangup.text.empty() ||
      !hangup.children.empty()) {
    return "TwiML: does not end with <Hangup/>";
  }
  const size_t gathers = root.children.size() - 1;
  if (gathers != 1 && gathers != static_cast<size_t>(prompt.repeats)) {
    return "TwiML: neither one <Gather> nor one per repeat";
  }
  // No '<' but the markup's: the declaration, <Response></Response>, <Hangup/>, <Gather><Say></Say></Gather>.
  if (static_cast<size_t>(std::count(twiml.begin(), twiml.end(), '<')) != 4 + 4 * gathers) {
    return "TwiML: a raw '<' outside the markup";
  }
  Attributes gather_attributes = {{"input", "dtmf"},
                                  {"numDigits", "1"},
                                  {"timeout", std::to_string(prompt.gather_timeout_secs)},
                                  {"action", prompt.action_url},
                                  {"method", "POST"}};
  if (prompt.valid_digits.find('#') != std::string::npos) gather_attributes.emplace_back("finishOnKey", "");
  Attributes say_attributes;
  if (!prompt.language.empty()) say_attributes.emplace_back("language", prompt.language);
  if (!prompt.voice.empty()) say_attributes.emplace_back("voice", prompt.voice);
  if (gathers == 1 && prompt.repeats > 1) say_attributes.emplace_back("loop", std::to_string(prompt.repeats));
  for (size_t i = 0; i < gathers; ++i) {
    const XmlNode& gather = root.children[i];
    if (gather.name != "Gather" || !gather.text.empty() || gather.children.size() != 1) {
      return "TwiML: not a <Gather> holding one <Say>";
    }
    if (gather.attributes != gather_attributes)
      return "TwiML: the <Gather>'s attributes are not the prompt's";
    const XmlNode& say = gather.children.front();
    if (say.name != "Say" || !say.children.empty()) return "TwiML: not a <Say> of text";
    if (say.attributes != say_attributes) return "TwiML: the <Say>'s attributes are not the prompt's";
    if (say.text != prompt.text) return "TwiML: the <Say> does not say the text";
  }
  return "";
}

// BuildPromptTwiml on `prompt`: refusals are INVALID_ARGUMENT, and what it accepts is as documented.
std::string CheckPrompt(const twilio::PromptTwiml& prompt, bool must_accept_short_text) {
  absl::StatusOr<std::string> twiml = twilio::BuildPromptTwiml(prompt);
  size_t chars = 0;
  const bool plain_text = IsXmlCharData(prompt.text, &chars);
  if (!twiml.ok()) {
    if (twiml.status().code() != absl::StatusCode::kInvalidArgument)
      return "BuildPromptTwiml: not INVALID_ARGUMENT";
    if (must_accept_short_text && plain_text && chars >= 1 && chars <= 500) {
      return "BuildPromptTwiml refused a short text of XML characters: " +
             std::string(twiml.status().message());
    }
    return "";
  }
  if (!plain_text) return "BuildPromptTwiml took text that is not UTF-8 of XML characters";
  if (chars == 0 || chars > twilio::kMaxSayLength) return "BuildPromptTwiml took an empty or over-long text";
  if (prompt.action_url.empty() || !IsXmlCharData(prompt.action_url) || !IsXmlCharData(prompt.language) ||
      !IsXmlCharData(prompt.voice)) {
    return "BuildPromptTwiml took an attribute that is not UTF-8 of XML characters";
  }
  return CheckTwiml(prompt, *twiml);
}

// ---- Telnyx and Twilio answers, written back ------------------------------------------------------------

std::string FormatRfc2822(absl::Time t) {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S %z", t, absl::UTCTimeZone());
}

json::object CallJson(const twilio::CallResource& call) {
  json::object o;
  o["sid"] = J(call.sid);
  o["status"] = J(call.status);
  o["to"] = J(call.to);
  o["from"] = J(call.from);
  o["answered_by"] = J(call.answered_by);
  if (call.date_created.has_value()) o["date_created"] = FormatRfc2822(*call.date_created);
  if (call.start_time.has_value()) o["start_time"] = FormatRfc2822(*call.start_time);
  return o;
}

bool SameCall(const twilio::CallResource& a, const twilio::CallResource& b) {
  return a.sid == b.sid && a.status == b.status && a.to == b.to && a.from == b.from &&
         a.date_created == b.date_created && a.start_time == b.start_time && a.answered_by == b.answered_by;
}

std::string CheckCall(const twilio::CallResource& call) {
  if (call.sid.empty()) return "a call without sid";
  absl::StatusOr<twilio::CallResource> again = twilio::ParseCallResource(json::serialize(CallJson(call)));
  if (!again.ok()) return "a call written back does not parse: " + std::string(again.status().message());
  if (!SameCall(call, *again)) return "a call changes when written back";
  return "";
}

// ---- JWT --------------------------------------------------------------------------------------------------

constexpr char kJwtSecret[] = "fuzz-jwt-secret-0123456789abcdef";
constexpr int64_t kJwtNow = 1700000000;

std::optional<json::object> JsonObjectOf(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(J(text), ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

std::vector<std::string_view> SplitDots(std::string_view token) {
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    const size_t dot = token.find('.', start);
    parts.push_back(
        token.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) return parts;
    start = dot + 1;
  }
}

// A decoded part of a token parsed as a JSON object; nullopt if it is not one.
std::optional<json::object> PartObject(std::string_view part) {
  absl::StatusOr<std::string> text = crypto::Base64UrlDecode(part);
  if (!text.ok()) return std::nullopt;
  return JsonObjectOf(*text);
}

std::optional<absl::Time> NumericDateOf(const json::object& claims, const char* name) {
  const json::value* v = claims.if_contains(name);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return absl::FromUnixSeconds(v->get_int64());
  if (v->is_uint64()) {
    return v->get_uint64() > static_cast<uint64_t>(INT64_MAX)
               ? absl::InfiniteFuture()
               : absl::FromUnixSeconds(static_cast<int64_t>(v->get_uint64()));
  }
  if (v->is_double() && std::isfinite(v->get_double()))
    return absl::UnixEpoch() + absl::Seconds(v->get_double());
  return std::nullopt;
}

// VerifyJwtHs256's verdict on `token`: a documented refusal, or an acceptance that holds, checked here.
std::string CheckJwtVerdict(std::string_view token, std::string_view secret,
                            const crypto::JwtVerifyOptions& options,
                            const absl::StatusOr<crypto::JwtClaims>& claims) {
  if (!claims.ok()) {
    if (claims.status().code() != absl::StatusCode::kUnauthenticated) {
      return "VerifyJwtHs256: a refusal not UNAUTHENTICATED";
    }
    const std::string reason(claims.status().message());
    for (std::string_view known :
         {"malformed token", "unsupported alg", "bad signature", "token expired", "token not yet valid",
          "token issued in the future", "wrong issuer", "wrong audience", "missing claim: sub",
          "missing claim: exp", "missing claim: iat"}) {
      if (reason == known) return "";
    }
    return "VerifyJwtHs256: an undocumented reason " + std::string(reason);
  }
  const std::vector<std::string_view> parts = SplitDots(token);
  if (parts.size() != 3) return "accepted a token without three parts";
  const std::string signing_input = std::string(parts[0]) + "." + std::string(parts[1]);
  const std::string mac = crypto::Base64UrlEncode(crypto::HmacSha256(secret, signing_input));
  // Base64UrlDecode takes exact padding too: one '=' after the 43 characters of a 32-byte MAC.
  if (parts[2] != mac && parts[2] != mac + "=") return "accepted a token that is not signed with the secret";
  std::optional<json::object> header = PartObject(parts[0]);
  std::optional<json::object> payload = PartObject(parts[1]);
  if (!header.has_value() || !payload.has_value()) return "accepted a token whose parts are not JSON objects";
  const json::value* alg = header->if_contains("alg");
  if (alg == nullptr || !alg->is_string() || alg->get_string() != "HS256")
    return "accepted a token not HS256";
  const json::value* sub = payload->if_contains("sub");
  if (sub == nullptr || !sub->is_string() || sub->get_string().empty()) return "accepted a token without sub";
  if (claims->subject != std::string_view(sub->get_string())) return "accepted with another subject";
  const std::optional<absl::Time> exp = NumericDateOf(*payload, "exp");
  const std::optional<absl::Time> iat = NumericDateOf(*payload, "iat");
  const std::optional<absl::Time> nbf = NumericDateOf(*payload, "nbf");
  if (!exp.has_value() || !iat.has_value()) return "accepted a token without exp or iat";
  if (claims->expires_at != *exp || claims->issued_at != *iat) return "accepted with other times";
  if (options.now >= *exp + options.leeway) return "accepted an expired token";
  if (*iat > options.now + options.leeway) return "accepted a token issued in the future";
  if (nbf.has_value() && *nbf > options.now + options.leeway) return "accepted a token not yet valid";
  if (!options.issuer.empty()) {
    const json::value* iss = payload->if_contains("iss");
    if (iss == nullptr || !iss->is_string() || iss->get_string() != J(options.issuer)) {
      return "accepted a token of another issuer";
    }
  }
  if (!options.audience.empty()) {
    const json::value* aud = payload->if_contains("aud");
    bool found = aud != nullptr && aud->is_string() && aud->get_string() == J(options.audience);
    if (aud != nullptr && aud->is_array()) {
      for (const json::value& a : aud->get_array())
        found |= a.is_string() && a.get_string() == J(options.audience);
    }
    if (!found) return "accepted a token for another audience";
    if (claims->audience != options.audience) return "accepted with another audience";
  }
  return "";
}

crypto::JwtVerifyOptions JwtOptions(absl::Time now, std::string issuer = "", std::string audience = "") {
  crypto::JwtVerifyOptions options;
  options.now = now;
  options.leeway = absl::Seconds(30);
  options.issuer = std::move(issuer);
  options.audience = std::move(audience);
  return options;
}

std::string ForgeJwt(std::string_view header, std::string_view payload, std::string_view secret) {
  const std::string input = crypto::Base64UrlEncode(header) + "." + crypto::Base64UrlEncode(payload);
  return input + "." + crypto::Base64UrlEncode(crypto::HmacSha256(secret, input));
}

}  // namespace

std::string FuzzAriEvent(const uint8_t* data, size_t size) {
  std::string_view rest = View(data, size);
  absl::StatusOr<common::v1::CallEvent> event = ari::ParseEvent(rest);
  if (event.ok()) {
    if (std::string broken = RoundTrip(*event); !broken.empty()) return broken;
    if (event->provider_event_id().empty()) return "event without id";
    absl::StatusOr<common::v1::CallEvent> again = ari::ParseEvent(rest);
    if (!again.ok() || again->provider_event_id() != event->provider_event_id()) return "event id not stable";
  } else if (event.status().code() != absl::StatusCode::kInvalidArgument) {
    return "ParseEvent: not INVALID_ARGUMENT";
  } else if (ProviderErrorOf(event.status()) != ProviderError::kMalformed) {
    return "ParseEvent: an error without its reason";
  }
  absl::StatusOr<ari::Channel> channel = ari::ParseChannel(rest);
  if (channel.ok() && channel->id.empty()) return "channel without id";
  if (!channel.ok() && channel.status().code() != absl::StatusCode::kInvalidArgument) {
    return "ParseChannel: not INVALID_ARGUMENT";
  }
  const std::string_view number = TakeLine(rest);
  absl::StatusOr<std::string> endpoint = ari::EndpointFor("PJSIP/{number}@trunk", number);
  if (endpoint.ok()) {
    if (number.empty() || number.front() != '+' ||
        number.find_first_not_of("0123456789", 1) != std::string_view::npos) {
      return "EndpointFor took a number that is not E.164";
    }
    if (*endpoint != "PJSIP/" + std::string(number) + "@trunk") return "EndpointFor changed the number";
  }
  return "";
}

std::string FuzzJwt(const uint8_t* data, size_t size) {
  const std::string_view input = View(data, size);
  const absl::Time now = absl::FromUnixSeconds(kJwtNow);
  // The input as a token, with and without iss/aud required.
  for (const crypto::JwtVerifyOptions& options :
       {JwtOptions(now), JwtOptions(now, "protectogram", "call-api")}) {
    const absl::StatusOr<crypto::JwtClaims> claims = crypto::VerifyJwtHs256(input, kJwtSecret, options);
    if (std::string broken = CheckJwtVerdict(input, kJwtSecret, options, claims); !broken.empty())
      return broken;
  }
  // "<header>\n<payload>\n...": a token of that JSON signed here, with the secret and with another.
  std::string_view rest = input;
  const std::string_view header = TakeLine(rest);
  const std::string_view payload = TakeLine(rest);
  const std::optional<json::object> header_object = JsonObjectOf(header);
  const bool objects = header_object.has_value() && JsonObjectOf(payload).has_value();
  const json::value* alg = header_object.has_value() ? header_object->if_contains("alg") : nullptr;
  const bool hs256 = alg != nullptr && alg->is_string() && alg->get_string() == "HS256";
  for (const crypto::JwtVerifyOptions& options :
       {JwtOptions(now), JwtOptions(now, "protectogram", "call-api")}) {
    const std::string token = ForgeJwt(header, payload, kJwtSecret);
    const absl::StatusOr<crypto::JwtClaims> claims = crypto::VerifyJwtHs256(token, kJwtSecret, options);
    if (std::string broken = CheckJwtVerdict(token, kJwtSecret, options, claims); !broken.empty())
      return broken;
    if (!claims.ok()) {
      const std::string reason(claims.status().message());
      if (reason == "bad signature") return "a token signed with the secret refused as a bad signature";
      if (reason == "malformed token" && objects) return "a well-formed token refused as malformed";
      if (reason == "unsupported alg" && hs256) return "an HS256 token refused as unsupported alg";
      if (header_object.has_value() && !hs256 && reason != "unsupported alg") {
        return "a token not HS256 refused as " + std::string(reason);
      }
    }
    const std::string forged = ForgeJwt(header, payload, "another-secret");
    const absl::StatusOr<crypto::JwtClaims> other = crypto::VerifyJwtHs256(forged, kJwtSecret, options);
    if (other.ok()) return "a token signed with another secret accepted";
    if (std::string broken = CheckJwtVerdict(forged, kJwtSecret, options, other); !broken.empty())
      return broken;
    if (hs256 && other.status().message() != "bad signature") {
      return "a token signed with another secret refused as " + std::string(other.status().message());
    }
  }
  // Round trip: sub, iss and aud from the next three lines, "<iat> <seconds to exp>" from the one after.
  const std::string_view subject = TakeLine(rest);
  const std::string_view issuer = TakeLine(rest);
  const std::string_view audience = TakeLine(rest);
  const std::string_view times = TakeLine(rest);
  int64_t iat = kJwtNow;
  int64_t ttl = 1800;
  if (const size_t space = times.find(' '); space != std::string_view::npos) {
    int64_t a = 0;
    int64_t b = 0;
    if (absl::SimpleAtoi(std::string(times.substr(0, space)), &a) &&
        absl::SimpleAtoi(std::string(times.substr(space + 1)), &b) && b >= 0) {
      iat = a;
      ttl = b;
    }
  }
  crypto::JwtClaims claims;
  claims.subject = std::string(subject);
  claims.issued_at = absl::FromUnixSeconds(iat);
  claims.expires_at = claims.issued_at + absl::Seconds(ttl);
  claims.issuer = std::string(issuer);
  claims.audience = std::string(audience);
  const absl::StatusOr<std::string> token = crypto::SignJwtHs256(claims, kJwtSecret);
  if (!token.ok()) {
    if (token.status().code() != absl::StatusCode::kInvalidArgument)
      return "SignJwtHs256: not INVALID_ARGUMENT";
    if (!subject.empty()) return "SignJwtHs256 refused a subject";
    return "";
  }
  if (subject.empty()) return "SignJwtHs256 signed an empty subject";
  const crypto::JwtVerifyOptions options = JwtOptions(claims.issued_at, claims.issuer, claims.audience);
  const absl::StatusOr<crypto::JwtClaims> back = crypto::VerifyJwtHs256(*token, kJwtSecret, options);
  if (std::string broken = CheckJwtVerdict(*token, kJwtSecret, options, back); !broken.empty()) return broken;
  const bool utf8 =
      DecodeUtf8(subject, nullptr) && DecodeUtf8(issuer, nullptr) && DecodeUtf8(audience, nullptr);
  if (!utf8) {
    // The claims are written as they are; JSON's parser refuses what is not UTF-8.
    if (back.ok() || back.status().message() != "malformed token") return "claims not UTF-8 verified back";
    return "";
  }
  if (!back.ok()) return "own token refused: " + std::string(back.status().message());
  const absl::Time exp = absl::FromUnixSeconds(absl::ToUnixSeconds(claims.expires_at));
  if (back->subject != claims.subject || back->issued_at != claims.issued_at || back->expires_at != exp ||
      back->issuer != claims.issuer || back->audience != claims.audience) {
    return "claims change on a round trip";
  }
  crypto::JwtVerifyOptions wrong = options;
  wrong.audience = claims.audience + "x";
  if (crypto::VerifyJwtHs256(*token, kJwtSecret, wrong).status().message() != "wrong audience") {
    return "own token not refused for another audience";
  }
  const crypto::JwtVerifyOptions late = JwtOptions(exp + absl::Seconds(30), claims.issuer, claims.audience);
  if (crypto::VerifyJwtHs256(*token, kJwtSecret, late).status().message() != "token expired") {
    return "own token not refused once expired";
  }
  std::string tampered = *token;
  const size_t signature = tampered.rfind('.') + 1;
  tampered[signature] = tampered[signature] == 'A' ? 'B' : 'A';
  if (crypto::VerifyJwtHs256(tampered, kJwtSecret, options).status().message() != "bad signature") {
    return "own token with another signature not refused as a bad signature";
  }
  return "";
}

std::string FuzzTelegramUpdate(const uint8_t* data, size_t size) {
  const std::string_view body = View(data, size);
  absl::StatusOr<common::v1::ChatEvent> event = telegram::ParseUpdate("fuzz", body);
  absl::StatusOr<int64_t> update_id = telegram::ExtractUpdateId(body);
  const bool parse_malformed = !event.ok() && event.status().message() == "malformed JSON";
  const bool extract_malformed = !update_id.ok() && update_id.status().message() == "malformed JSON";
  if (parse_malformed != extract_malformed)
    return "ParseUpdate and ExtractUpdateId disagree on malformed JSON";
  if (!event.ok()) {
    if (event.status().code() != absl::StatusCode::kInvalidArgument)
      return "ParseUpdate: not INVALID_ARGUMENT";
    return "";
  }
  if (!update_id.ok()) return "ParseUpdate accepted what ExtractUpdateId refused";
  if (event->provider_event_id() != "fuzz:" + std::to_string(*update_id)) return "update_id mismatch";
  return RoundTrip(*event);
}

std::string FuzzTelnyxCommands(const uint8_t* data, size_t size) {
  const std::string_view body = View(data, size);
  absl::StatusOr<telnyx::DialResponse> dial = telnyx::ParseDialResponse(body);
  if (dial.ok()) {
    if (dial->call_control_id.empty()) return "dial answer without call_control_id";
    json::object ids;
    ids["call_control_id"] = J(dial->call_control_id);
    if (!dial->call_leg_id.empty()) ids["call_leg_id"] = J(dial->call_leg_id);
    if (!dial->call_session_id.empty()) ids["call_session_id"] = J(dial->call_session_id);
    json::object answer;
    answer["data"] = std::move(ids);
    absl::StatusOr<telnyx::DialResponse> again = telnyx::ParseDialResponse(json::serialize(answer));
    if (!again.ok() || again->call_control_id != dial->call_control_id ||
        again->call_leg_id != dial->call_leg_id || again->call_session_id != dial->call_session_id) {
      return "dial answer changes on a round trip";
    }
  } else if (dial.status().code() != absl::StatusCode::kInvalidArgument) {
    return "ParseDialResponse: not INVALID_ARGUMENT";
  }

  const std::optional<telnyx::ApiError> error = telnyx::FirstError(body);
  if (error.has_value()) {
    json::object first;
    first["code"] = J(error->code);
    first["title"] = J(error->title);
    first["detail"] = J(error->detail);
    json::array errors;
    errors.emplace_back(std::move(first));
    json::object answer;
    answer["errors"] = std::move(errors);
    const std::optional<telnyx::ApiError> again = telnyx::FirstError(json::serialize(answer));
    if (!again.has_value() || again->code != error->code || again->title != error->title ||
        again->detail != error->detail) {
      return "FirstError changes on a round trip";
    }
  }
  const bool something =
      error.has_value() && !(error->code.empty() && error->title.empty() && error->detail.empty());
  for (int status : {200, 401, 422, 502}) {
    const std::string text = telnyx::ParseErrorResponse(status, body);
    const std::string head = "HTTP " + std::to_string(status);
    if (!something && text != head) return "ParseErrorResponse: more than \"" + head + "\" without an error";
    if (something && !text.starts_with(head + ": ")) return "ParseErrorResponse: not \"" + head + ": ...\"";
    if (!DecodeUtf8(text, nullptr)) return "ParseErrorResponse: not valid UTF-8";
    // The code as it is, the title cut at 100 bytes and the detail at 200 (each + "..."), and separators.
    const size_t bound = head.size() + 2 + (error.has_value() ? error->code.size() : 0) + 1 + 103 + 2 + 203;
    if (text.size() > bound) return "ParseErrorResponse: longer than its cut fields";
    const bool ended = status == 422 && error.has_value() && error->code == telnyx::kCallEndedErrorCode;
    if (telnyx::IsCallEndedError(status, body) != ended) return "IsCallEndedError disagrees with FirstError";
  }
  // A status out of the first bytes: always one of the labels.
  int status = 0;
  for (char c : body.substr(0, 4)) status = status * 10 + (c >= '0' && c <= '9' ? c - '0' : 0);
  const std::string_view label = telnyx::ClassifyCommandError(status);
  if (label != "ok" && label != "unauthorized" && label != "rate_limited" && label != "refused" &&
      label != "server_error" && label != "unexpected_status") {
    return "ClassifyCommandError: an unknown label";
  }
  return "";
}

std::string FuzzTelnyxEvent(const uint8_t* data, size_t size) {
  std::string_view rest = View(data, size);
  // Whole input as a body.
  absl::StatusOr<common::v1::CallEvent> event = telnyx::ParseEvent(rest);
  if (event.ok()) {
    if (std::string broken = RoundTrip(*event); !broken.empty()) return broken;
  } else if (event.status().code() != absl::StatusCode::kInvalidArgument) {
    return "ParseEvent: not INVALID_ARGUMENT";
  }
  // "<signature>\n<timestamp>\n<body>" against RFC 8032 TEST 2's public key; the fuzzer cannot know a valid
  // signature for it, and the window is centred on the given timestamp so the signature check always runs.
  const std::string_view signature = TakeLine(rest);
  const std::string_view timestamp = TakeLine(rest);
  int64_t seconds = 0;
  for (char c : timestamp.substr(0, 18)) seconds = seconds * 10 + ((c >= '0' && c <= '9') ? c - '0' : 0);
  absl::Status verified = telnyx::VerifyWebhook("PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw=", signature,
                                                timestamp, rest, absl::FromUnixSeconds(seconds));
  if (verified.ok()) return "VerifyWebhook accepted a forged signature";
  return "";
}

std::string FuzzTwilioForm(const uint8_t* data, size_t size) {
  const std::string_view body = View(data, size);
  absl::StatusOr<FormParams> params = ParseForm(body);
  if (!params.ok()) {
    if (params.status().code() != absl::StatusCode::kInvalidArgument)
      return "ParseForm: not INVALID_ARGUMENT";
    return "";
  }
  if (absl::StatusOr<common::v1::CallEvent> call = twilio::ParseVoiceCallback(*params); call.ok()) {
    if (std::string broken = RoundTrip(*call); !broken.empty()) return broken;
  }
  if (absl::StatusOr<common::v1::ChatEvent> chat = twilio::ParseWhatsAppInbound(*params); chat.ok()) {
    if (std::string broken = RoundTrip(*chat); !broken.empty()) return broken;
  }
  // The URL is fuzzed too (the "Url" field, else a fixed one), so the port variants see odd URLs.
  const std::string* fuzzed_url = FormValue(*params, "Url");
  const std::string url = fuzzed_url != nullptr ? *fuzzed_url : "https://example.com:8443/tw?x=1";
  const std::string signature = twilio::ComputeSignature("token", url, *params);
  if (!twilio::VerifySignature("token", url, *params, signature).ok()) return "own signature does not verify";
  if (twilio::VerifySignature("other", url, *params, signature).ok())
    return "signature verifies under another key";
  // bodySHA256: exercised with the fuzzed URL, and must verify with a URL whose query we know.
  (void)twilio::VerifyBodySignature("token", url, body, signature);
  const std::string body_url = "https://example.com/tw?bodySHA256=" + crypto::Sha256Hex(body);
  const std::string body_signature = twilio::ComputeSignature("token", body_url, FormParams());
  if (!twilio::VerifyBodySignature("token", body_url, body, body_signature).ok()) {
    return "own body signature does not verify";
  }
  return "";
}

std::string FuzzTwilioVoiceApi(const uint8_t* data, size_t size) {
  const std::string_view body = View(data, size);
  absl::StatusOr<twilio::CallResource> call = twilio::ParseCallResource(body);
  if (call.ok()) {
    if (std::string broken = CheckCall(*call); !broken.empty()) return broken;
  } else if (call.status().code() != absl::StatusCode::kInvalidArgument) {
    return "ParseCallResource: not INVALID_ARGUMENT";
  }
  absl::StatusOr<twilio::CallList> list = twilio::ParseCallList(body);
  if (list.ok()) {
    json::array calls;
    for (const twilio::CallResource& c : list->calls) {
      if (std::string broken = CheckCall(c); !broken.empty()) return broken;
      calls.emplace_back(CallJson(c));
    }
    json::object page;
    page["calls"] = std::move(calls);
    if (list->next_page_uri.empty()) {
      page["next_page_uri"] = nullptr;
    } else {
      page["next_page_uri"] = J(list->next_page_uri);
    }
    absl::StatusOr<twilio::CallList> again = twilio::ParseCallList(json::serialize(page));
    if (!again.ok() || again->calls.size() != list->calls.size() ||
        again->next_page_uri != list->next_page_uri) {
      return "call list changes on a round trip";
    }
    for (size_t i = 0; i < list->calls.size(); ++i) {
      if (!SameCall(list->calls[i], again->calls[i])) return "call list changes on a round trip";
    }
  } else if (list.status().code() != absl::StatusCode::kInvalidArgument) {
    return "ParseCallList: not INVALID_ARGUMENT";
  }
  absl::StatusOr<twilio::ErrorResponse> error = twilio::ParseErrorResponse(body);
  if (error.ok()) {
    json::object o;
    o["code"] = error->code;
    o["message"] = J(error->message);
    o["more_info"] = J(error->more_info);
    o["status"] = error->status;
    absl::StatusOr<twilio::ErrorResponse> again = twilio::ParseErrorResponse(json::serialize(o));
    if (!again.ok() || again->code != error->code || again->message != error->message ||
        again->more_info != error->more_info || again->status != error->status) {
      return "error answer changes on a round trip";
    }
  } else if (error.status().code() != absl::StatusCode::kInvalidArgument) {
    return "ParseErrorResponse: not INVALID_ARGUMENT";
  }

  // The input as the text of our prompt, attributes fixed (an action URL that needs escaping).
  twilio::PromptTwiml prompt;
  prompt.text = std::string(body);
  prompt.language = "ru-RU";
  prompt.voice = "Polly.Tatyana";
  prompt.action_url = "https://edge.example.org/twilio/gather?call=CA1&step=\"ask\"&lang=<ru>";
  if (std::string broken = CheckPrompt(prompt, /*must_accept_short_text=*/true); !broken.empty())
    return broken;
  // The first three lines as action URL, language and voice; '#' answers; repeats and timeout from the size.
  std::string_view rest = body;
  prompt.action_url = std::string(TakeLine(rest));
  prompt.language = std::string(TakeLine(rest));
  prompt.voice = std::string(TakeLine(rest));
  prompt.text = std::string(rest);
  prompt.valid_digits = "0123456789*#";
  prompt.repeats = 1 + static_cast<int>(size % 10);
  prompt.gather_timeout_secs = 1 + static_cast<int>(size % 60);
  return CheckPrompt(prompt, /*must_accept_short_text=*/false);
}

std::string FuzzWhatsAppWebhook(const uint8_t* data, size_t size) {
  const std::string_view body = View(data, size);
  absl::StatusOr<std::vector<common::v1::ChatEvent>> events = whatsapp::ParseWebhook(body);
  if (events.ok()) {
    for (const common::v1::ChatEvent& e : *events) {
      if (std::string broken = RoundTrip(e); !broken.empty()) return broken;
      if (e.provider_event_id().empty()) return "event without id";
    }
  } else if (events.status().code() != absl::StatusCode::kInvalidArgument) {
    return "ParseWebhook: not INVALID_ARGUMENT";
  }
  const std::string good = "sha256=" + crypto::HexEncode(crypto::HmacSha256("app-secret", body));
  if (!whatsapp::VerifySignature("app-secret", good, body).ok()) return "own signature does not verify";
  if (whatsapp::VerifySignature("other-secret", good, body).ok())
    return "signature verifies under another key";
  (void)whatsapp::VerifySignature("app-secret", body, body);  // the input as a header
  absl::StatusOr<std::string> challenge = whatsapp::VerifySubscriptionQuery(body, "verify-token");
  if (challenge.ok() && challenge->empty()) return "empty challenge accepted";
  return "";
}

}  // namespace protectogram::providers::fuzz
