#include "libs/providers/twilio/voice_api.h"

#include <array>
#include <boost/json.hpp>
#include <string>

#include "absl/time/time.h"
#include "libs/crypto/encoding.h"
#include "libs/providers/common/json_reader.h"
#include "libs/providers/common/text.h"

namespace protectogram::providers::twilio {
namespace {

namespace json = boost::json;

constexpr std::string_view kApiVersionPrefix = "/2010-04-01/Accounts/";
constexpr std::array<std::string_view, 4> kStatusCallbackEvents = {"initiated", "ringing", "answered",
                                                                   "completed"};

// RFC 3986 unreserved characters stay; everything else is %XX (a sid is [A-Za-z0-9], so this only matters
// for a malformed one, which must not change the path).
std::string PathSegment(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

// Code points of valid UTF-8: the bytes that do not continue a sequence.
size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (char ch : s) n += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
  return n;
}

// Valid UTF-8 holding only characters XML 1.0 allows (§2.2 Char): no C0 controls but tab, LF and CR, no
// U+FFFE / U+FFFF (surrogates are not valid UTF-8 to begin with).
bool IsXmlText(std::string_view s) {
  if (!IsValidUtf8(s)) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
    if (c == 0xEF && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xBF &&
        (static_cast<unsigned char>(s[i + 2]) == 0xBE || static_cast<unsigned char>(s[i + 2]) == 0xBF)) {
      return false;
    }
  }
  return true;
}

bool EqualsIgnoreAsciiCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Twilio's dates: "Tue, 31 Aug 2010 20:36:28 +0000" (RFC 2822).
std::optional<absl::Time> ParseRfc2822(std::string_view s) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime("%a, %d %b %Y %H:%M:%S %z", std::string(s), &t, &err)) return std::nullopt;
  return t;
}

// One <Gather> around `say`.
std::string GatherElement(const PromptTwiml& prompt, std::string_view say) {
  std::string out = "<Gather input=\"dtmf\" numDigits=\"1\" timeout=\"" +
                    std::to_string(prompt.gather_timeout_secs) + "\" action=\"" +
                    XmlEscape(prompt.action_url) + "\" method=\"POST\"";
  if (prompt.valid_digits.find('#') != std::string::npos) out += " finishOnKey=\"\"";
  out += ">";
  out += say;
  out += "</Gather>";
  return out;
}

std::string SayElement(const PromptTwiml& prompt, int loop) {
  std::string out = "<Say";
  if (!prompt.language.empty()) out += " language=\"" + XmlEscape(prompt.language) + "\"";
  if (!prompt.voice.empty()) out += " voice=\"" + XmlEscape(prompt.voice) + "\"";
  if (loop > 1) out += " loop=\"" + std::to_string(loop) + "\"";
  out += ">" + XmlEscape(prompt.text) + "</Say>";
  return out;
}

constexpr std::string_view kTwimlHead = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>";
constexpr std::string_view kTwimlTail = "<Hangup/></Response>";

// Reads one call resource out of `o`; errors go to `reader`.
CallResource ReadCall(JsonReader& reader, const json::object* o, const std::string& path) {
  CallResource call;
  std::optional<std::string> sid = reader.String(o, "sid", path + "sid");
  reader.Require(sid.has_value() && !sid->empty(), path + "sid");
  call.sid = sid.value_or("");
  call.status = reader.String(o, "status", path + "status").value_or("");
  call.to = reader.String(o, "to", path + "to").value_or("");
  call.from = reader.String(o, "from", path + "from").value_or("");
  call.answered_by = reader.String(o, "answered_by", path + "answered_by").value_or("");
  for (auto [key, out] :
       {std::pair{"date_created", &call.date_created}, std::pair{"start_time", &call.start_time}}) {
    std::optional<std::string> text = reader.String(o, key, path + key);
    if (!text.has_value() || text->empty()) continue;
    *out = ParseRfc2822(*text);
    if (!out->has_value()) reader.Fail(path + key + " must be an RFC 2822 date");
  }
  return call;
}

}  // namespace

std::string CallsPath(std::string_view account_sid) {
  return std::string(kApiVersionPrefix) + PathSegment(account_sid) + "/Calls.json";
}

std::string CallPath(std::string_view account_sid, std::string_view call_sid) {
  return std::string(kApiVersionPrefix) + PathSegment(account_sid) + "/Calls/" + PathSegment(call_sid) +
         ".json";
}

FormFields ListCallsQuery(const ListCallsFilter& filter) {
  FormFields fields;
  if (!filter.to.empty()) fields.emplace_back("To", filter.to);
  if (!filter.from.empty()) fields.emplace_back("From", filter.from);
  if (!filter.status.empty()) fields.emplace_back("Status", filter.status);
  if (filter.started_on_or_after.has_value()) {
    // The parameter is named "StartTime>": on the wire "StartTime%3E=2024-01-31" (twilio-python).
    fields.emplace_back("StartTime>", absl::FormatCivilTime(*filter.started_on_or_after));
  }
  fields.emplace_back("PageSize", std::to_string(filter.page_size));
  return fields;
}

std::string BasicAuthHeader(std::string_view account_sid, std::string_view auth_token) {
  std::string credentials(account_sid);
  credentials.push_back(':');
  credentials.append(auth_token);
  return "Basic " + crypto::Base64Encode(credentials);
}

absl::StatusOr<FormFields> BuildCreateCallForm(const CreateCall& call) {
  if (call.to.empty()) return absl::InvalidArgumentError("to is required");
  if (call.from.empty()) return absl::InvalidArgumentError("from is required");
  if (call.twiml.empty()) return absl::InvalidArgumentError("twiml is required");
  if (CodePoints(call.twiml) > kMaxTwimlLength) {
    return absl::InvalidArgumentError("twiml is " + std::to_string(CodePoints(call.twiml)) +
                                      " characters (at most 4000)");
  }
  if (call.timeout_secs < kMinRingTimeoutSecs || call.timeout_secs > kMaxRingTimeoutSecs) {
    return absl::InvalidArgumentError("timeout_secs must be 5..600");
  }
  FormFields fields = {{"To", call.to}, {"From", call.from}, {"Twiml", call.twiml}};
  if (!call.status_callback.empty()) {
    fields.emplace_back("StatusCallback", call.status_callback);
    fields.emplace_back("StatusCallbackMethod", "POST");
    for (const std::string& event : call.status_callback_events) {
      bool known = false;
      for (std::string_view e : kStatusCallbackEvents) known |= e == event;
      if (!known) return absl::InvalidArgumentError("unknown status callback event \"" + event + "\"");
      fields.emplace_back("StatusCallbackEvent", event);
    }
  }
  fields.emplace_back("Timeout", std::to_string(call.timeout_secs));
  if (call.machine_detection) fields.emplace_back("MachineDetection", "Enable");
  return fields;
}

std::string_view VoiceForLanguage(std::string_view language) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kVoices = {{
      {"ru-RU", "Polly.Tatyana"},
      {"en-US", "Polly.Joanna"},
      {"de-DE", "Polly.Marlene"},
      {"es-ES", "Polly.Lucia"},
      {"fr-FR", "Polly.Celine"},
  }};
  for (const auto& [tag, voice] : kVoices) {
    if (EqualsIgnoreAsciiCase(tag, language)) return voice;
  }
  return {};
}

std::string XmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

absl::StatusOr<std::string> BuildPromptTwiml(const PromptTwiml& prompt) {
  if (prompt.text.empty()) return absl::InvalidArgumentError("text is empty");
  if (!IsXmlText(prompt.text)) {
    return absl::InvalidArgumentError("text must be valid UTF-8 without control characters");
  }
  if (CodePoints(prompt.text) > kMaxSayLength) {
    return absl::InvalidArgumentError("text is " + std::to_string(CodePoints(prompt.text)) +
                                      " characters (at most 3000)");
  }
  if (prompt.action_url.empty()) return absl::InvalidArgumentError("action_url is required");
  if (!IsXmlText(prompt.action_url) || !IsXmlText(prompt.language) || !IsXmlText(prompt.voice)) {
    return absl::InvalidArgumentError("action_url, language and voice must be valid UTF-8 text");
  }
  if (prompt.valid_digits.empty() ||
      prompt.valid_digits.find_first_not_of("0123456789*#") != std::string::npos) {
    return absl::InvalidArgumentError("valid_digits must be 0-9 * #");
  }
  if (prompt.repeats < 1 || prompt.repeats > 10) return absl::InvalidArgumentError("repeats must be 1..10");
  if (prompt.gather_timeout_secs < 1 || prompt.gather_timeout_secs > 60) {
    return absl::InvalidArgumentError("gather_timeout_secs must be 1..60");
  }
  // Preferred: one <Gather> per repetition, so each is followed by a pause to answer in.
  const std::string gather = GatherElement(prompt, SayElement(prompt, 1));
  std::string twiml(kTwimlHead);
  for (int i = 0; i < prompt.repeats; ++i) twiml += gather;
  twiml += kTwimlTail;
  if (CodePoints(twiml) <= kMaxTwimlLength) return twiml;
  // A long text: the repetitions back to back inside one <Gather>.
  twiml = std::string(kTwimlHead) + GatherElement(prompt, SayElement(prompt, prompt.repeats)) +
          std::string(kTwimlTail);
  if (CodePoints(twiml) > kMaxTwimlLength) {
    return absl::InvalidArgumentError("the prompt's TwiML is " + std::to_string(CodePoints(twiml)) +
                                      " characters (at most 4000)");
  }
  return twiml;
}

absl::StatusOr<CallResource> ParseCallResource(std::string_view body) {
  absl::StatusOr<json::object> doc = ParseJsonObject(body, "call");
  if (!doc.ok()) return doc.status();
  JsonReader reader;
  CallResource call = ReadCall(reader, &*doc, "");
  if (!reader.ok()) return reader.status();
  return call;
}

absl::StatusOr<CallList> ParseCallList(std::string_view body) {
  absl::StatusOr<json::object> doc = ParseJsonObject(body, "call list");
  if (!doc.ok()) return doc.status();
  JsonReader reader;
  CallList list;
  const json::array* calls = reader.Array(&*doc, "calls", "calls");
  reader.Require(calls != nullptr, "calls");
  list.next_page_uri = reader.String(&*doc, "next_page_uri", "next_page_uri").value_or("");
  if (!reader.ok()) return reader.status();
  for (size_t i = 0; i < calls->size(); ++i) {
    const std::string path = "calls[" + std::to_string(i) + "].";
    const json::value& v = (*calls)[i];
    if (!v.is_object())
      return absl::InvalidArgumentError("calls[" + std::to_string(i) + "] must be an object");
    list.calls.push_back(ReadCall(reader, &v.get_object(), path));
    if (!reader.ok()) return reader.status();
  }
  return list;
}

absl::StatusOr<ErrorResponse> ParseErrorResponse(std::string_view body) {
  absl::StatusOr<json::object> doc = ParseJsonObject(body, "error");
  if (!doc.ok()) return doc.status();
  JsonReader reader;
  ErrorResponse error;
  error.code = reader.Int(&*doc, "code", "code").value_or(0);
  error.message = reader.String(&*doc, "message", "message").value_or("");
  error.more_info = reader.String(&*doc, "more_info", "more_info").value_or("");
  error.status = reader.Int(&*doc, "status", "status").value_or(0);
  if (!reader.ok()) return reader.status();
  return error;
}

std::string_view ClassifyError(int http_status, int64_t code) {
  if (http_status >= 200 && http_status < 300) return "ok";
  if (http_status == 401 || http_status == 403) return "unauthorized";
  if (http_status == 429 || code == 20429) return "rate_limited";
  if (http_status >= 400 && http_status < 500) {
    if (code == 21211 || code == 21214 || code == 21217) return "invalid_number";
    return "refused";
  }
  if (http_status >= 500 && http_status < 600) return "server_error";
  return "other";
}

}  // namespace protectogram::providers::twilio
