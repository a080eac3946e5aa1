#include "tests/fuzz/edge/fuzz_entries.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "boost/json.hpp"
#include "boost/url/parse.hpp"
#include "edge/call_api.h"
#include "edge/config.h"
#include "edge/webhooks.h"
#include "libs/crypto/digest.h"
#include "libs/crypto/ed25519.h"
#include "libs/crypto/encoding.h"
#include "libs/http/form.h"
#include "libs/http/server.h"
#include "libs/kernel/config.h"
#include "libs/providers/common/form.h"
#include "libs/providers/common/text.h"
#include "libs/providers/telegram/telegram.h"
#include "libs/providers/telnyx/telnyx.h"
#include "libs/providers/twilio/twilio.h"
#include "libs/providers/whatsapp/whatsapp.h"
#include "tests/contract/edge/fixtures.h"

namespace protectogram::edge::fuzz {
namespace {

namespace fx = protectogram::edge::testing;
using Records = std::vector<InboxRecord>;

// "Now" for Telnyx's window: the fixtures' timestamp.
constexpr int64_t kNow = 1700000000;
constexpr uint8_t kLineFlag = 0x80;
constexpr char kFormType[] = "application/x-www-form-urlencoded";
constexpr char kJsonType[] = "application/json";
constexpr char kTelegramSecretHeader[] = "x-telegram-bot-api-secret-token";
// Every credential of the configs below: none may ever appear in a stored header or a refusal message.
constexpr const char* kSecrets[] = {fx::kMainSecret,         fx::kAlphaSecret,     fx::kMainBotToken,
                                    fx::kAlphaBotToken,      fx::kTwilioAuthToken, fx::kWhatsAppAppSecret,
                                    fx::kWhatsAppVerifyToken};

[[noreturn]] void SetupFailed(const absl::Status& status) {
  std::fprintf(stderr, "edge fuzz setup failed: %s\n", std::string(status.message()).c_str());
  std::abort();
}

EdgeConfig Load(std::map<std::string, std::string> env, kernel::AppEnv app_env) {
  kernel::MapEnv map(env);
  absl::StatusOr<EdgeConfig> config = LoadEdgeConfig(map, app_env);
  if (!config.ok()) SetupFailed(config.status());
  return *std::move(config);
}

// Every provider configured, as the contract tests have it.
const EdgeConfig& DevConfig() {
  static const EdgeConfig config = Load(fx::AllProvidersEnv(), kernel::AppEnv::kDev);
  return config;
}

// Staging: the whole Telegram update is parsed at ingest, chats outside the list are stored as ignored.
const EdgeConfig& StagingConfig() {
  static const EdgeConfig config = [] {
    std::map<std::string, std::string> env = fx::AllProvidersEnv();
    env["STAGING_ALLOWED_CHATS"] = "123456789, -1001234567890";
    return Load(env, kernel::AppEnv::kStaging);
  }();
  return config;
}

// TELNYX_PUBLIC_KEY as base64 of an Ed25519 SubjectPublicKeyInfo DER (the other accepted form).
const EdgeConfig& DerKeyConfig() {
  static const EdgeConfig config = [] {
    absl::StatusOr<std::string> raw = crypto::Base64Decode(fx::kTelnyxPublicKey);
    if (!raw.ok()) SetupFailed(raw.status());
    const std::string der = std::string("\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00", 12) + *raw;
    std::map<std::string, std::string> env = fx::AllProvidersEnv();
    env["TELNYX_PUBLIC_KEY"] = crypto::Base64Encode(der);
    return Load(env, kernel::AppEnv::kDev);
  }();
  return config;
}

// Nothing configured (a dev edge without credentials): every webhook is 404 not_configured.
const EdgeConfig& NoProvidersConfig() {
  static const EdgeConfig config;
  return config;
}

const std::string& TelnyxSeed() {
  static const std::string seed = [] {
    absl::StatusOr<std::string> s = crypto::HexDecode(fx::kRfc8032Test1Seed);
    if (!s.ok()) SetupFailed(s.status());
    return *s;
  }();
  return seed;
}

// ---- the input ----------------------------------------------------------------------------------------

struct Input {
  std::string_view raw;  // everything, for "does the input itself hold this secret"
  uint8_t mode = 0;
  uint8_t flags = 0;
  std::string_view line;  // with kLineFlag: the first line of the rest, without its '\n'
  std::string_view body;
};

Input Parse(const uint8_t* data, size_t size) {
  Input in;
  in.raw = size == 0 ? std::string_view() : std::string_view(reinterpret_cast<const char*>(data), size);
  if (size >= 1) in.mode = data[0];
  if (size >= 2) in.flags = data[1];
  std::string_view rest = in.raw.substr(std::min<size_t>(size, 2));
  if (in.flags & kLineFlag) {
    const size_t nl = rest.find('\n');
    in.line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  in.body = rest;
  return in;
}

// ---- the request as the HTTP server hands it over ------------------------------------------------------

bool IsFieldValueByte(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

using Fields = std::vector<std::pair<std::string, std::string>>;

// The request libs/http/server.cc builds from a head (RequestParser + HttpSession::OnHead), without its body;
// nullopt when the server would refuse it before any route (a target or field the parser refuses, a head over
// the default limits, a target Boost.URL cannot parse).
std::optional<http::Request> ServerRequest(std::string method, std::string target, const Fields& fields) {
  const http::ParserLimits limits;
  if (target.empty() || method.size() + target.size() + 10 > limits.request_line) return std::nullopt;
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return std::nullopt;
  }
  size_t head_bytes = method.size() + target.size() + 12;
  http::Request r;
  for (const auto& [name, raw_value] : fields) {
    const std::string_view value = Trim(raw_value);
    for (char c : value) {
      if (!IsFieldValueByte(static_cast<unsigned char>(c))) return std::nullopt;
    }
    const size_t line = name.size() + 2 + raw_value.size();
    if (line > limits.field_line) return std::nullopt;
    head_bytes += line + 2;
    auto [it, inserted] = r.headers.emplace(name, std::string(value));
    if (!inserted) it->second.append(",").append(value);
  }
  if (head_bytes + 2 > limits.header_total || fields.size() + 1 > limits.field_count) return std::nullopt;
  r.method = std::move(method);
  r.target = std::move(target);
  // Parsed where it stays (the views point into it), as the session parses request_.target.
  auto url = boost::urls::parse_origin_form(r.target);
  if (!url) url = boost::urls::parse_absolute_uri(r.target);
  if (!url) return std::nullopt;
  r.path = url->path();
  if (r.path.empty()) r.path = "/";
  for (const auto& param : url->params(boost::urls::encoding_opts(/*space_as_plus=*/true))) {
    r.query.emplace(param.key, param.has_value ? param.value : std::string());
  }
  r.remote_address = "203.0.113.7";
  r.peer_address = r.remote_address;
  return r;
}

// ---- what must hold ------------------------------------------------------------------------------------

enum class Auth { kValid, kInvalid, kUnknown };

struct Expect {
  Auth auth = Auth::kUnknown;
  std::string provider;                          // of every row
  std::vector<std::string> kept_headers;         // the only keys headers_json may have
  bool may_ignore = false;                       // a row may be stored as ignored
  std::optional<RejectReason> reason;            // the refusal is exactly this one
  std::optional<std::string> body_sha256_value;  // accepted only if the body has this SHA-256 (bodySHA256)
  bool check_body_sha256 = false;  // accepted only if some bodySHA256 in the query is the body's
};

bool InInput(const Input& in, std::string_view secret) {
  return in.raw.find(secret) != std::string_view::npos;
}

std::string NamesSecret(const Input& in, std::string_view text) {
  for (const char* secret : kSecrets) {
    if (!InInput(in, secret) && text.find(secret) != std::string_view::npos) return "names a secret";
  }
  return "";
}

bool IsAuthReason(RejectReason reason) {
  switch (reason) {
    case RejectReason::kMissingSignature:
    case RejectReason::kBadSignature:
    case RejectReason::kReplay:
    case RejectReason::kBadVerifyToken:
    case RejectReason::kUnknownBot:
    case RejectReason::kNotConfigured:
      return true;
    case RejectReason::kMalformed:
    case RejectReason::kMissingId:
      return false;
  }
  return false;
}

// A refusal: a reason, the status code of its HTTP status, a message without secrets.
std::string CheckRefusal(const Input& in, const absl::Status& status, const std::string& what) {
  if (status.ok()) return absl::StrCat(what, ": not a refusal");
  const std::optional<RejectReason> reason = RejectReasonOf(status);
  if (!reason.has_value()) {
    return absl::StrCat(what, ": a refusal without a RejectReason: ", std::string(status.message()));
  }
  absl::StatusCode code = absl::StatusCode::kInvalidArgument;
  if (HttpStatusOf(*reason) == 403) code = absl::StatusCode::kPermissionDenied;
  if (HttpStatusOf(*reason) == 404) code = absl::StatusCode::kNotFound;
  if (status.code() != code) return absl::StrCat(what, ": the status code does not match the reason");
  if (!NamesSecret(in, std::string(status.message())).empty()) {
    return absl::StrCat(what, ": the refusal message names a secret");
  }
  return "";
}

bool IsValidJson(std::string_view text) {
  boost::json::parse_options options;
  options.max_depth = 64;  // as the providers' parsers
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(boost::json::string_view(text.data(), text.size()), ec,
                                            boost::json::storage_ptr(), options);
  return !ec;
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;  // KeptHeaders writes upper-case hex only
}

// headers_json: printable ASCII, a JSON object of kept headers only, each value the request's header with
// its bytes outside printable ASCII (and '%') percent-encoded.
std::string CheckHeadersJson(const Input& in, const std::string& json, const http::Request& request,
                             const std::vector<std::string>& kept) {
  for (char c : json) {
    if (c < 0x20 || c > 0x7e) return "headers_json is not printable ASCII";
  }
  if (!NamesSecret(in, json).empty()) return "headers_json names a secret";
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(boost::json::string_view(json.data(), json.size()), ec);
  if (ec || !v.is_object()) return "headers_json is not a JSON object";
  if (v.as_object().empty()) return "headers_json is an empty object";
  for (const auto& [key, value] : v.as_object()) {
    const std::string name(key.data(), key.size());
    if (std::find(kept.begin(), kept.end(), name) == kept.end()) return "headers_json keeps " + name;
    if (!value.is_string()) return "a headers_json value is not a string";
    const boost::json::string& s = value.as_string();
    std::string decoded;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '%') {
        decoded.push_back(s[i]);
        continue;
      }
      if (i + 2 >= s.size() || Hex(s[i + 1]) < 0 || Hex(s[i + 2]) < 0) return "headers_json: a bad escape";
      decoded.push_back(static_cast<char>(Hex(s[i + 1]) * 16 + Hex(s[i + 2])));
      i += 2;
    }
    if (decoded != request.Header(name)) return "headers_json does not keep the header as it came";
  }
  return "";
}

std::string CheckRecords(const Input& in, const Records& records, const http::Request& request,
                         const Expect& expect) {
  if (records.empty()) return "accepted without a row to store";
  // Every payload must be the body, so the body's own checks (storable, valid JSON) are made once: a body of
  // many messages has many rows.
  if (!CheckStorableBody(request.body).ok()) return "an accepted payload is not storable";
  bool json_checked = false;
  std::set<std::string> ids;
  std::set<std::string> headers_checked;
  for (const InboxRecord& r : records) {
    const jobs::InboxEvent& e = r.event;
    if (e.provider != expect.provider) return "a row of provider " + e.provider;
    if (e.payload != request.body) return "the payload is not the body";
    if (!CheckStorableEventId(e.provider_event_id).ok()) return "an accepted event id is not storable";
    if (!ids.insert(e.provider_event_id).second) return "two rows with one event id";
    if (e.payload_json.has_value()) {
      if (*e.payload_json != request.body) return "payload_json is not the body";
      if (!json_checked) {
        if (e.payload_json->find("\\u0000") != std::string::npos) return "payload_json holds \\u0000";
        if (!IsValidJson(*e.payload_json)) return "payload_json is not valid JSON";
        json_checked = true;
      }
    }
    if (e.headers_json.has_value() && headers_checked.insert(*e.headers_json).second) {
      if (std::string broken = CheckHeadersJson(in, *e.headers_json, request, expect.kept_headers);
          !broken.empty()) {
        return broken;
      }
    }
    if (!r.ignore_reason.empty() && !expect.may_ignore) return "a row stored as ignored: " + r.ignore_reason;
  }
  return "";
}

// The route's verdict: the head check's refusal, else Accept*'s answer (which must refuse what the head check
// refused: it runs in every case here).
std::string Judge(const Input& in, const http::Request& request, const absl::Status& precheck,
                  const absl::StatusOr<Records>& accepted, const Expect& expect, std::string* verdict) {
  const absl::Status* refusal = nullptr;
  if (!precheck.ok()) {
    if (std::string broken = CheckRefusal(in, precheck, "head check"); !broken.empty()) return broken;
    if (accepted.ok()) return "Accept* took a request its head check refuses";
    refusal = &precheck;
  }
  if (!accepted.ok()) {
    if (std::string broken = CheckRefusal(in, accepted.status(), "Accept*"); !broken.empty()) return broken;
    if (refusal == nullptr) refusal = &accepted.status();
  }
  if (refusal != nullptr) {
    const RejectReason reason = *RejectReasonOf(*refusal);
    if (verdict != nullptr) *verdict = std::string(ReasonLabel(reason));
    if (expect.auth == Auth::kValid && IsAuthReason(reason)) {
      return absl::StrCat("a valid credential refused as ", std::string(ReasonLabel(reason)), ": ",
                          std::string(refusal->message()));
    }
    if (expect.reason.has_value() && reason != *expect.reason) {
      return absl::StrCat("refused as ", std::string(ReasonLabel(reason)), ", not ",
                          std::string(ReasonLabel(*expect.reason)));
    }
    return "";
  }
  if (verdict != nullptr) *verdict = "accepted";
  if (expect.auth == Auth::kInvalid) return "accepted without a valid signature or secret";
  if (expect.reason.has_value()) {
    return absl::StrCat("accepted what must be refused as ", std::string(ReasonLabel(*expect.reason)));
  }
  if (expect.check_body_sha256) {
    const std::string sha = crypto::Sha256Hex(request.body);
    bool found = false;
    for (auto [it, end] = request.query.equal_range("bodySHA256"); it != end; ++it)
      found |= it->second == sha;
    if (!found) return "accepted a bodySHA256 request whose body has another SHA-256";
  }
  return CheckRecords(in, *accepted, request, expect);
}

std::string Skipped(std::string* verdict) {
  if (verdict != nullptr) *verdict = "skipped";
  return "";
}

std::string PercentEncodeAll(std::string_view s, bool lower) {
  static constexpr char kUpper[] = "0123456789ABCDEF";
  static constexpr char kLower[] = "0123456789abcdef";
  const char* hex = lower ? kLower : kUpper;
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back('%');
    out.push_back(hex[u >> 4]);
    out.push_back(hex[u & 0xf]);
  }
  return out;
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// ---- Telegram -------------------------------------------------------------------------------------------

// The bot of /webhook/<bot_id> as edge/edge.cc's BotIdOf has it: the rest of the path, lower-cased; "" when
// it holds another '/'.
std::string BotIdOf(const http::Request& request) {
  std::string bot_id = AsciiLower(std::string_view(request.path).substr(std::strlen("/webhook/")));
  if (bot_id.find('/') != std::string::npos) return std::string();
  return bot_id;
}

const char* SecretOf(std::string_view bot_id) {
  if (bot_id == "main") return fx::kMainSecret;
  if (bot_id == "alpha") return fx::kAlphaSecret;
  return nullptr;
}

enum class TelegramMode {
  kMainValid,           // /webhook/main with main's secret
  kAlphaValid,          // /webhook/alpha with alpha's secret
  kAlphaSpelled,        // /webhook/ALPHA or /webhook/al%70ha: the same bot
  kOtherBotsSecret,     // /webhook/alpha with main's secret
  kNoSecret,            // no header
  kFuzzedSecret,        // the line as the header
  kFuzzedBot,           // /webhook/<line>
  kStaging,             // staging config: the whole update is parsed
  kNotConfigured,       // no bot configured
  kQuerySecretIgnored,  // ?secret= on the header route counts for nothing
  kCount,
};

std::string RunTelegram(const Input& in, std::string* verdict) {
  const auto mode = static_cast<TelegramMode>(in.mode % static_cast<int>(TelegramMode::kCount));
  const EdgeConfig* config = &DevConfig();
  std::string bot = "main";
  std::optional<std::string> secret = std::string(fx::kMainSecret);
  std::string query;
  Expect expect;
  expect.auth = Auth::kValid;
  expect.kept_headers = {"content-type"};
  switch (mode) {
    case TelegramMode::kMainValid:
      break;
    case TelegramMode::kAlphaValid:
      bot = "alpha";
      secret = fx::kAlphaSecret;
      break;
    case TelegramMode::kAlphaSpelled:
      bot = (in.flags & 1) ? "ALPHA" : "al%70ha";
      secret = fx::kAlphaSecret;
      break;
    case TelegramMode::kOtherBotsSecret:
      bot = "alpha";
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kBadSignature;
      break;
    case TelegramMode::kNoSecret:
      secret.reset();
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kMissingSignature;
      break;
    case TelegramMode::kFuzzedSecret:
      bot = (in.flags & 1) ? "alpha" : "main";
      secret = std::string(in.line);
      expect.auth = Auth::kUnknown;  // decided below, on the header as the server trims it
      break;
    case TelegramMode::kFuzzedBot:
      bot = std::string(in.line);
      secret = (in.flags & 1) ? fx::kAlphaSecret : fx::kMainSecret;
      expect.auth = Auth::kUnknown;
      break;
    case TelegramMode::kStaging:
      config = &StagingConfig();
      expect.may_ignore = true;
      break;
    case TelegramMode::kNotConfigured:
      config = &NoProvidersConfig();
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kNotConfigured;
      break;
    case TelegramMode::kQuerySecretIgnored:
      secret.reset();
      query = std::string("?secret=") + fx::kMainSecret;
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kMissingSignature;
      break;
    case TelegramMode::kCount:
      break;
  }
  Fields fields = {{"host", "edge.example.org"}, {"content-type", kJsonType}};
  if (secret.has_value()) fields.emplace_back(kTelegramSecretHeader, *secret);
  std::optional<http::Request> request = ServerRequest("POST", "/webhook/" + bot + query, fields);
  if (!request.has_value() || !request->path.starts_with("/webhook/") ||
      in.body.size() > config->telegram_body_limit_bytes) {
    return Skipped(verdict);
  }
  const std::string bot_id = BotIdOf(*request);
  const std::string_view presented = request->Header(kTelegramSecretHeader);
  if (expect.auth == Auth::kUnknown) {
    // Independently of the edge: the bot the path names, and the secret that bot has.
    const char* bot_secret = SecretOf(bot_id);
    expect.auth = bot_secret != nullptr && presented == bot_secret ? Auth::kValid : Auth::kInvalid;
  }
  expect.provider = std::string(kTelegramProviderPrefix) + bot_id;

  const absl::Status precheck = bot_id.empty() ? Reject(RejectReason::kUnknownBot, "unknown bot")
                                               : PrecheckTelegram(*config, bot_id, *request, false);
  request->body = std::string(in.body);
  const absl::StatusOr<Records> accepted =
      AcceptTelegram(*config, bot_id, request->Header(kTelegramSecretHeader), request->body);
  return Judge(in, *request, precheck, accepted, expect, verdict);
}

enum class TelegramQueryMode {
  kQueryValid,             // ?secret=<main's>
  kHeaderValid,            // the header only
  kBothAgree,              // both, the same
  kHeaderWrong,            // query right, header wrong
  kQueryWrong,             // query wrong, header right
  kRepeatedSame,           // ?secret=<s>&secret=<s>
  kRepeatedDiffer,         // ?secret=<s>&secret=<other>
  kNoSecret,               // neither
  kEncodedQuery,           // ?secret=%6D%61...: the same secret, percent-encoded
  kFuzzedQuery,            // ?<line>
  kFuzzedQueryWithHeader,  // ?<line> and the right header
  kFuzzedHeader,           // the line as the header, no query
  kStaging,
  kNotConfigured,
  kAlphaSecret,  // alpha's secret on main's route
  kCount,
};

std::string RunTelegramQuery(const Input& in, std::string* verdict) {
  const auto mode = static_cast<TelegramQueryMode>(in.mode % static_cast<int>(TelegramQueryMode::kCount));
  const EdgeConfig* config = &DevConfig();
  const std::string main_secret = fx::kMainSecret;
  std::string query;
  std::optional<std::string> header;
  Expect expect;
  expect.auth = Auth::kValid;
  expect.kept_headers = {"content-type"};
  expect.provider = std::string(kTelegramProviderPrefix) + providers::telegram::kDefaultBotId;
  switch (mode) {
    case TelegramQueryMode::kQueryValid:
      query = "?secret=" + main_secret;
      break;
    case TelegramQueryMode::kHeaderValid:
      header = main_secret;
      break;
    case TelegramQueryMode::kBothAgree:
      query = "?secret=" + main_secret;
      header = main_secret;
      break;
    case TelegramQueryMode::kHeaderWrong:
      query = "?secret=" + main_secret;
      header = main_secret + "x";
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kBadSignature;
      break;
    case TelegramQueryMode::kQueryWrong:
      query = "?secret=" + main_secret.substr(1);
      header = main_secret;
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kBadSignature;
      break;
    case TelegramQueryMode::kRepeatedSame:
      query = "?secret=" + main_secret + "&secret=" + main_secret;
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kMalformed;
      break;
    case TelegramQueryMode::kRepeatedDiffer:
      query = (in.flags & 1) ? "?secret=" + main_secret + "&x=1&secret=" + fx::kAlphaSecret
                             : "?secret=&secret=" + main_secret;
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kMalformed;
      break;
    case TelegramQueryMode::kNoSecret:
      query = (in.flags & 1) ? "?other=1" : "";
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kMissingSignature;
      break;
    case TelegramQueryMode::kEncodedQuery:
      query = "?secret=" + PercentEncodeAll(main_secret, in.flags & 1);
      break;
    case TelegramQueryMode::kFuzzedQuery:
      query = "?" + std::string(in.line);
      expect.auth = Auth::kUnknown;
      break;
    case TelegramQueryMode::kFuzzedQueryWithHeader:
      query = "?" + std::string(in.line);
      header = main_secret;
      expect.auth = Auth::kUnknown;
      break;
    case TelegramQueryMode::kFuzzedHeader:
      header = std::string(in.line);
      expect.auth = Auth::kUnknown;
      break;
    case TelegramQueryMode::kStaging:
      query = "?secret=" + main_secret;
      config = &StagingConfig();
      expect.may_ignore = true;
      break;
    case TelegramQueryMode::kNotConfigured:
      query = "?secret=" + main_secret;
      config = &NoProvidersConfig();
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kNotConfigured;
      break;
    case TelegramQueryMode::kAlphaSecret:
      query = std::string("?secret=") + fx::kAlphaSecret;
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kBadSignature;
      break;
    case TelegramQueryMode::kCount:
      break;
  }
  Fields fields = {{"host", "edge.example.org"}, {"content-type", kJsonType}};
  if (header.has_value()) fields.emplace_back(kTelegramSecretHeader, *header);
  std::optional<http::Request> request = ServerRequest("POST", "/telegram/webhook" + query, fields);
  if (!request.has_value() || request->path != "/telegram/webhook" ||
      in.body.size() > config->telegram_body_limit_bytes) {
    return Skipped(verdict);
  }
  if (expect.auth == Auth::kUnknown) {
    // Independently of the edge: one secret where one is expected, and it is main's.
    std::vector<std::string_view> presented;
    for (auto [it, end] = request->query.equal_range("secret"); it != end; ++it)
      presented.push_back(it->second);
    const std::string_view from_header = request->Header(kTelegramSecretHeader);
    bool valid = false;
    if (presented.empty()) {
      valid = from_header == main_secret;
    } else if (presented.size() == 1) {
      valid = presented[0] == main_secret && (from_header.empty() || from_header == main_secret);
    }
    expect.auth = valid ? Auth::kValid : Auth::kInvalid;
  }

  const absl::Status precheck =
      PrecheckTelegram(*config, providers::telegram::kDefaultBotId, *request, /*query_secret=*/true);
  request->body = std::string(in.body);
  // The handler: the secret the request presents, then AcceptTelegram.
  const absl::StatusOr<std::string_view> secret = TelegramSecret(*request, /*query_secret=*/true);
  const absl::StatusOr<Records> accepted =
      secret.ok() ? AcceptTelegram(*config, providers::telegram::kDefaultBotId, *secret, request->body)
                  : absl::StatusOr<Records>(secret.status());
  return Judge(in, *request, precheck, accepted, expect, verdict);
}

// ---- Telnyx ---------------------------------------------------------------------------------------------

enum class TelnyxMode {
  kValid,      // signed now + a skew within the window
  kReplay,     // signed, but outside the window
  kWrongBody,  // signed over another body
  kOtherKey,   // signed with a key nobody configured
  kNoSignature,
  kNoTimestamp,
  kFuzzedSignature,  // the line as the signature header
  kFuzzedTimestamp,  // the line as the timestamp, signed over it
  kNotConfigured,
  kDerKey,             // TELNYX_PUBLIC_KEY as SubjectPublicKeyInfo DER
  kFuzzedContentType,  // the line as Content-Type, validly signed
  kCount,
};

std::string Sign(std::string_view seed, std::string_view timestamp, std::string_view body) {
  absl::StatusOr<std::string> signature = providers::telnyx::SignWebhook(seed, timestamp, body);
  if (!signature.ok()) SetupFailed(signature.status());
  return *signature;
}

std::string RunTelnyx(const Input& in, std::string* verdict) {
  const auto mode = static_cast<TelnyxMode>(in.mode % static_cast<int>(TelnyxMode::kCount));
  static constexpr int64_t kSkews[] = {-300, -299, -1, 0, 1, 299, 300};
  const EdgeConfig* config = &DevConfig();
  std::string timestamp = std::to_string(kNow + kSkews[in.flags % std::size(kSkews)]);
  std::optional<std::string> signature;
  std::optional<std::string> content_type = std::string(kJsonType);
  Expect expect;
  expect.auth = Auth::kValid;
  expect.provider = kTelnyxProvider;
  expect.kept_headers = {"content-type", providers::telnyx::kSignatureHeader,
                         providers::telnyx::kTimestampHeader};
  switch (mode) {
    case TelnyxMode::kValid:
      signature = Sign(TelnyxSeed(), timestamp, in.body);
      if (in.flags & 0x40) content_type.reset();
      break;
    case TelnyxMode::kReplay: {
      const int64_t off = 301 + static_cast<int64_t>(in.flags & 0x3f) * 1000;
      timestamp = std::to_string((in.flags & 0x40) ? kNow + off : kNow - off);
      signature = Sign(TelnyxSeed(), timestamp, in.body);
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kReplay;
      break;
    }
    case TelnyxMode::kWrongBody:
      signature = Sign(TelnyxSeed(), timestamp, std::string(in.body) + " ");
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kBadSignature;
      break;
    case TelnyxMode::kOtherKey:
      signature = Sign(std::string(32, '\x42'), timestamp, in.body);
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kBadSignature;
      break;
    case TelnyxMode::kNoSignature:
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kMissingSignature;
      break;
    case TelnyxMode::kNoTimestamp:
      signature = Sign(TelnyxSeed(), timestamp, in.body);
      timestamp.clear();
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kMissingSignature;
      break;
    case TelnyxMode::kFuzzedSignature:
      timestamp = std::to_string(kNow);
      signature = std::string(in.line);
      expect.auth = Auth::kUnknown;
      break;
    case TelnyxMode::kFuzzedTimestamp:
      timestamp = std::string(Trim(in.line));  // as the server hands the header over
      signature = Sign(TelnyxSeed(), timestamp, in.body);
      expect.auth = Auth::kUnknown;
      break;
    case TelnyxMode::kNotConfigured:
      config = &NoProvidersConfig();
      signature = Sign(TelnyxSeed(), timestamp, in.body);
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kNotConfigured;
      break;
    case TelnyxMode::kDerKey:
      config = &DerKeyConfig();
      signature = Sign(TelnyxSeed(), timestamp, in.body);
      break;
    case TelnyxMode::kFuzzedContentType:
      content_type = std::string(in.line);
      signature = Sign(TelnyxSeed(), timestamp, in.body);
      break;
    case TelnyxMode::kCount:
      break;
  }
  Fields fields = {{"host", "edge.example.org"}};
  if (content_type.has_value()) fields.emplace_back("content-type", *content_type);
  if (signature.has_value()) fields.emplace_back(providers::telnyx::kSignatureHeader, *signature);
  if (!timestamp.empty()) fields.emplace_back(providers::telnyx::kTimestampHeader, timestamp);
  std::optional<http::Request> request = ServerRequest("POST", "/telnyx/webhook", fields);
  if (!request.has_value() || in.body.size() > DevConfig().telnyx_body_limit_bytes) return Skipped(verdict);
  if (mode == TelnyxMode::kFuzzedSignature) {
    // Valid only if it decodes to the one signature of this timestamp and body (Ed25519 is deterministic and
    // OpenSSL refuses a non-canonical S).
    absl::StatusOr<std::string> presented =
        crypto::Base64Decode(request->Header(providers::telnyx::kSignatureHeader));
    absl::StatusOr<std::string> expected = crypto::Base64Decode(Sign(TelnyxSeed(), timestamp, in.body));
    expect.auth = presented.ok() && expected.ok() && *presented == *expected ? Auth::kValid : Auth::kInvalid;
  }
  if (mode == TelnyxMode::kFuzzedTimestamp) {
    const std::string_view ts = request->Header(providers::telnyx::kTimestampHeader);
    bool digits = !ts.empty() && ts.size() <= 18;
    int64_t seconds = 0;
    for (char c : ts) {
      digits = digits && c >= '0' && c <= '9';
      if (digits) seconds = seconds * 10 + (c - '0');
    }
    expect.auth = digits && std::abs(seconds - kNow) <= 300 ? Auth::kValid : Auth::kInvalid;
  }
  const absl::Time now = absl::FromUnixSeconds(kNow);
  const absl::Status precheck = PrecheckTelnyx(*config, *request, now);
  request->body = std::string(in.body);
  const absl::StatusOr<Records> accepted = AcceptTelnyx(*config, *request, now);
  return Judge(in, *request, precheck, accepted, expect, verdict);
}

// ---- Twilio ---------------------------------------------------------------------------------------------

enum class TwilioMode {
  kFormValid,             // over PUBLIC_BASE_URL + target + the sorted form
  kFormPortVariant,       // over the URL with :443 (a validator variant)
  kJsonBodySha,           // ?bodySHA256=<the body's>, signed over the URL alone
  kJsonBodyShaWrongHash,  // ?bodySHA256=<another body's>, the URL validly signed
  kWrongToken,            // signed with another auth token
  kNoSignature,
  kFuzzedSignature,    // the line as X-Twilio-Signature
  kFuzzedQuery,        // target?<line>, signed as the edge will check it
  kBodyShaFormType,    // bodySHA256 with a form Content-Type
  kFuzzedContentType,  // the line as Content-Type, validly signed
  kNotConfigured,
  kSignatureShapes,  // signatures of the wrong shape, or nearly right
  kCount,
};

providers::FormParams FormOf(std::string_view body) {
  absl::StatusOr<providers::FormParams> params = providers::ParseForm(body);
  return params.ok() ? *std::move(params) : providers::FormParams();
}

std::string RunTwilio(const Input& in, Route route, std::string* verdict) {
  const auto mode = static_cast<TwilioMode>(in.mode % static_cast<int>(TwilioMode::kCount));
  const bool voice = route == Route::kTwilioVoice;
  const std::string path = voice ? "/twilio/voice" : "/twilio/whatsapp";
  const std::string base = fx::kPublicBaseUrl;
  const std::string base_443 = base + ":443";
  const std::string token = fx::kTwilioAuthToken;
  const EdgeConfig* config = &DevConfig();
  std::string target = path;
  std::string content_type = kFormType;
  std::optional<std::string> signature;
  // How the signature is computed once the request is built: over the URL and the form, over the URL alone
  // (bodySHA256), or not at all.
  enum class Signing { kForm, kUrlOnly, kAsTheEdgeChecks, kNone } signing = Signing::kForm;
  std::string signing_base = base;
  std::string signing_token = token;
  Expect expect;
  expect.auth = Auth::kValid;
  expect.provider = voice ? kTwilioVoiceProvider : kTwilioWhatsAppProvider;
  expect.kept_headers = {"content-type", "x-twilio-signature"};
  switch (mode) {
    case TwilioMode::kFormValid:
      if (in.flags & 1) content_type = "application/x-www-form-urlencoded; charset=utf-8";
      break;
    case TwilioMode::kFormPortVariant:
      signing_base = base_443;
      break;
    case TwilioMode::kJsonBodySha:
      target = path + ((in.flags & 1) ? "?x=1&bodySHA256=" : "?bodySHA256=") + crypto::Sha256Hex(in.body);
      content_type = kJsonType;
      signing = Signing::kUrlOnly;
      break;
    case TwilioMode::kJsonBodyShaWrongHash:
      target = path + "?bodySHA256=" + crypto::Sha256Hex(std::string(in.body) + "x");
      content_type = kJsonType;
      signing = Signing::kUrlOnly;
      expect.auth = Auth::kInvalid;  // (bad_signature, or malformed for a body that is not storable)
      break;
    case TwilioMode::kWrongToken:
      signing_token = "wrong-auth-token";
      expect.auth = Auth::kInvalid;
      break;
    case TwilioMode::kNoSignature:
      signing = Signing::kNone;
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kMissingSignature;
      break;
    case TwilioMode::kFuzzedSignature:
      signing = Signing::kNone;
      signature = std::string(in.line);
      expect.auth = Auth::kUnknown;
      break;
    case TwilioMode::kFuzzedQuery:
      target = path + "?" + std::string(in.line);
      if (in.flags & 1) content_type = kJsonType;
      signing = Signing::kAsTheEdgeChecks;
      break;
    case TwilioMode::kBodyShaFormType:
      target = path + "?bodySHA256=" + crypto::Sha256Hex(in.body);
      signing = Signing::kUrlOnly;
      break;
    case TwilioMode::kFuzzedContentType:
      content_type = std::string(in.line);
      if (in.flags & 1) {
        target = path + "?bodySHA256=" + crypto::Sha256Hex(in.body);
        signing = Signing::kUrlOnly;
      }
      break;
    case TwilioMode::kNotConfigured:
      config = &NoProvidersConfig();
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kNotConfigured;
      break;
    case TwilioMode::kSignatureShapes: {
      signing = Signing::kNone;
      const std::string good = providers::twilio::ComputeSignature(token, base + target, FormOf(in.body));
      switch (in.flags % 8) {
        case 0:
          signature = crypto::Base64Encode(std::string(19, 'a'));
          break;
        case 1:
          signature = crypto::Base64Encode(std::string(21, 'a'));
          break;
        case 2:
          signature = "not base64!";
          break;
        case 3:
          signature = good.substr(0, good.size() - 1);  // no padding
          break;
        case 4:
          signature = AsciiLower(good);
          break;
        case 5:
          signature = good + "=";
          break;
        case 6:
          signature = " " + good + "\t";  // the server trims it: valid
          break;
        default:
          signature = good.substr(0, 26) + (good[26] == 'A' ? "B=" : "A=");  // another 20 bytes
          break;
      }
      expect.auth = Auth::kUnknown;
      break;
    }
    case TwilioMode::kCount:
      break;
  }
  Fields fields = {{"host", "edge.example.org"}, {"content-type", content_type}};
  std::optional<http::Request> request = ServerRequest("POST", target, fields);
  if (!request.has_value() || request->path != path || in.body.size() > DevConfig().twilio_body_limit_bytes) {
    return Skipped(verdict);
  }
  const bool body_sha = request->query.contains("bodySHA256");
  if (signing == Signing::kAsTheEdgeChecks) {
    signing = body_sha ? Signing::kUrlOnly : Signing::kForm;
    // Valid as far as the signature goes; with bodySHA256 the hash must be the body's too.
    if (body_sha) expect.auth = Auth::kUnknown;
  }
  if (body_sha) expect.check_body_sha256 = true;
  if (signing == Signing::kForm) {
    signature =
        providers::twilio::ComputeSignature(signing_token, signing_base + request->target, FormOf(in.body));
  } else if (signing == Signing::kUrlOnly) {
    signature = providers::twilio::ComputeSignature(signing_token, signing_base + request->target,
                                                    providers::FormParams());
  }
  if (signature.has_value()) {
    fields.emplace_back("x-twilio-signature", *signature);
    request = ServerRequest("POST", target, fields);
    if (!request.has_value()) return Skipped(verdict);
  }
  if (expect.auth == Auth::kUnknown &&
      (mode == TwilioMode::kFuzzedSignature || mode == TwilioMode::kSignatureShapes)) {
    // Independently of the edge: the header must be one of the signatures of this URL (as given, or with the
    // default port) and form.
    const std::string_view presented = request->Header("x-twilio-signature");
    const providers::FormParams params = body_sha ? providers::FormParams() : FormOf(in.body);
    bool valid = false;
    for (const std::string& b : {base, base_443}) {
      valid |= presented == providers::twilio::ComputeSignature(token, b + request->target, params);
    }
    expect.auth = valid ? (body_sha ? Auth::kUnknown : Auth::kValid) : Auth::kInvalid;
  }

  const absl::Status precheck = PrecheckTwilio(*config, *request);
  request->body = std::string(in.body);
  const absl::StatusOr<Records> accepted =
      voice ? AcceptTwilioVoice(*config, *request) : AcceptTwilioWhatsApp(*config, *request);
  return Judge(in, *request, precheck, accepted, expect, verdict);
}

// ---- WhatsApp -------------------------------------------------------------------------------------------

enum class WhatsAppMode {
  kValid,
  kValidUpperHex,  // the same MAC in upper-case hex
  kFlippedDigit,   // one hex digit changed
  kOtherSecret,    // a MAC under another app secret
  kNoSignature,
  kFuzzedSignature,    // the line as X-Hub-Signature-256
  kSha1Prefix,         // "sha1=" + the right hex
  kFuzzedContentType,  // the line as Content-Type, validly signed
  kNotConfigured,
  kTrailingJunk,  // the right header with bytes after it
  kChallenge,     // GET /whatsapp/webhook?<query>: the subscription check
  kCount,
};

std::string RunWhatsAppChallenge(const Input& in, std::string* verdict) {
  std::string query;
  if (in.flags & 1) {
    query = "hub.mode=subscribe&hub.challenge=" + std::string(in.line) + "&hub.verify_token=" +
            ((in.flags & 2) ? std::string("wrong") : std::string(fx::kWhatsAppVerifyToken));
  } else {
    query = std::string(in.line);
  }
  std::optional<http::Request> request =
      ServerRequest("GET", "/whatsapp/webhook?" + query, {{"host", "edge.example.org"}});
  if (!request.has_value() || request->path != "/whatsapp/webhook") return Skipped(verdict);
  const absl::StatusOr<std::string> challenge = WhatsAppChallenge(DevConfig(), *request);
  if (!challenge.ok()) {
    if (verdict != nullptr && RejectReasonOf(challenge.status()).has_value()) {
      *verdict = std::string(ReasonLabel(*RejectReasonOf(challenge.status())));
    }
    return CheckRefusal(in, challenge.status(), "WhatsAppChallenge");
  }
  if (verdict != nullptr) *verdict = "accepted";
  if (challenge->empty()) return "an empty challenge answered";
  // Independently of the edge: the raw query says subscribe, with our token, and this challenge.
  const size_t q = request->target.find('?');
  absl::StatusOr<providers::FormParams> params = providers::ParseForm(request->target.substr(q + 1));
  if (!params.ok()) return "a challenge answered for a malformed query";
  auto first = [&](std::string_view name) {
    const std::string* v = providers::FormValue(*params, name);
    return v == nullptr ? std::string() : *v;
  };
  if (first("hub.mode") != "subscribe") return "a challenge answered without hub.mode=subscribe";
  if (first("hub.verify_token") != fx::kWhatsAppVerifyToken) return "a challenge answered for another token";
  if (first("hub.challenge") != *challenge) return "the challenge answered is not the one asked";
  return "";
}

std::string RunWhatsApp(const Input& in, std::string* verdict) {
  const auto mode = static_cast<WhatsAppMode>(in.mode % static_cast<int>(WhatsAppMode::kCount));
  if (mode == WhatsAppMode::kChallenge) return RunWhatsAppChallenge(in, verdict);
  const EdgeConfig* config = &DevConfig();
  const std::string good = providers::whatsapp::ComputeSignatureHeader(fx::kWhatsAppAppSecret, in.body);
  std::optional<std::string> signature = good;
  std::string content_type = kJsonType;
  Expect expect;
  expect.auth = Auth::kValid;
  expect.provider = kWhatsAppProvider;
  expect.kept_headers = {"content-type", "x-hub-signature-256"};
  expect.may_ignore = true;  // a body without messages (receipts)
  switch (mode) {
    case WhatsAppMode::kValid:
      break;
    case WhatsAppMode::kValidUpperHex: {
      std::string upper = good;
      for (size_t i = 7; i < upper.size(); ++i) {
        if (upper[i] >= 'a' && upper[i] <= 'f') upper[i] = static_cast<char>(upper[i] - 'a' + 'A');
      }
      signature = upper;
      break;
    }
    case WhatsAppMode::kFlippedDigit: {
      std::string flipped = good;
      const size_t i = 7 + in.flags % 64;
      flipped[i] = flipped[i] == '0' ? '1' : '0';
      signature = flipped;
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kBadSignature;
      break;
    }
    case WhatsAppMode::kOtherSecret:
      signature = providers::whatsapp::ComputeSignatureHeader("another-app-secret", in.body);
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kBadSignature;
      break;
    case WhatsAppMode::kNoSignature:
      signature.reset();
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kMissingSignature;
      break;
    case WhatsAppMode::kFuzzedSignature:
      signature = std::string(in.line);
      expect.auth = Auth::kUnknown;
      break;
    case WhatsAppMode::kSha1Prefix:
      signature = "sha1=" + good.substr(7);
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kBadSignature;
      break;
    case WhatsAppMode::kFuzzedContentType:
      content_type = std::string(in.line);
      break;
    case WhatsAppMode::kNotConfigured:
      config = &NoProvidersConfig();
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kNotConfigured;
      break;
    case WhatsAppMode::kTrailingJunk:
      signature = good + ((in.flags & 1) ? "0" : ",sha256=" + good.substr(7));
      expect.auth = Auth::kInvalid;
      expect.reason = RejectReason::kBadSignature;
      break;
    case WhatsAppMode::kChallenge:
    case WhatsAppMode::kCount:
      break;
  }
  Fields fields = {{"host", "edge.example.org"}, {"content-type", content_type}};
  if (signature.has_value()) fields.emplace_back("x-hub-signature-256", *signature);
  std::optional<http::Request> request = ServerRequest("POST", "/whatsapp/webhook", fields);
  if (!request.has_value() || in.body.size() > DevConfig().whatsapp_body_limit_bytes) return Skipped(verdict);
  if (expect.auth == Auth::kUnknown) {
    // Independently of the edge: "sha256=" and the MAC's hex, in either case.
    const std::string_view presented = request->Header("x-hub-signature-256");
    expect.auth =
        presented.size() == good.size() && presented.starts_with("sha256=") && AsciiLower(presented) == good
            ? Auth::kValid
            : Auth::kInvalid;
  }
  const absl::Status precheck = PrecheckWhatsApp(*config, *request);
  request->body = std::string(in.body);
  const absl::StatusOr<Records> accepted = AcceptWhatsApp(*config, *request);
  if (std::string broken = Judge(in, *request, precheck, accepted, expect, verdict); !broken.empty()) {
    return broken;
  }
  if (precheck.ok() && accepted.ok()) {
    // One row per distinct message id, in order, none ignored; a body without messages (receipts): one row
    // keyed by the body's hash, stored as ignored.
    const Records& records = *accepted;
    absl::StatusOr<std::vector<common::v1::ChatEvent>> events =
        providers::whatsapp::ParseWebhook(request->body);
    if (!events.ok()) return "accepted a body ParseWebhook refuses";
    std::vector<std::string> ids;
    std::set<std::string> distinct;
    for (const common::v1::ChatEvent& e : *events) {
      if (distinct.insert(e.provider_event_id()).second) ids.push_back(e.provider_event_id());
    }
    if (ids.empty()) {
      if (records.size() != 1) return "a body without messages stored as several rows";
      if (records[0].event.provider_event_id != "body:" + crypto::Sha256Hex(request->body)) {
        return "a receipt row not keyed by the body's SHA-256";
      }
      if (records[0].ignore_reason.empty()) return "a receipt row not stored as ignored";
    } else {
      if (records.size() != ids.size()) return "not one row per distinct message";
      for (size_t i = 0; i < ids.size(); ++i) {
        if (records[i].event.provider_event_id != ids[i]) return "rows not in message order";
        if (!records[i].ignore_reason.empty()) return "a message row stored as ignored";
      }
    }
  }
  return "";
}

// ---- the REST call API ------------------------------------------------------------------------------------

enum class CallApiMode { kInteraction, kCreateCall, kToken, kBearer, kStatus, kRateLimit, kCount };

constexpr size_t kCallApiBodyLimit = 64 * 1024;  // edge/call_api.cc kBodyLimit
constexpr uint8_t kCallApiConfigFlag = 0x40;
constexpr char kCallApiSecret[] = "fuzz-call-api-secret-key-of-32-characters";
constexpr char kInteractionPrefix[] = "/api/v1/interaction/";
constexpr char kStatusPrefix[] = "/api/v1/status/";

const CallApiConfig& CallApiConfigOf(uint8_t flags) {
  static const CallApiConfig plain = [] {
    CallApiConfig config;
    config.enabled = true;
    config.secret_key = kCallApiSecret;
    return config;
  }();
  static const CallApiConfig configured = [] {
    CallApiConfig config = plain;
    config.jwt_issuer = "protectogram";
    config.jwt_audience = "call-api";
    config.default_context = "outbound-ivr";
    config.default_extension = "100";
    config.default_priority = 2;
    config.default_timeout_sec = 45;
    config.default_caller_id = "+15550001111";
    return config;
  }();
  return (flags & kCallApiConfigFlag) ? configured : plain;
}

std::string CallApiVerdict(std::string* verdict, std::string_view kind, std::string_view what) {
  if (verdict != nullptr) *verdict = absl::StrCat(std::string(kind), ":", std::string(what));
  return "";
}

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// "+" and 8 to 15 digits, the first not 0 (the documented rule, independently of IsE164).
bool LooksE164(std::string_view s) {
  if (s.size() < 9 || s.size() > 16 || s[0] != '+' || s[1] == '0') return false;
  return std::all_of(s.begin() + 1, s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

size_t Chars(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// Every entry a FastAPI 422 entry, and ValidationErrorJson writes them all as valid JSON, as they are.
std::string CheckFieldErrors(const std::vector<FieldError>& errors,
                             std::initializer_list<std::string_view> roots) {
  for (const FieldError& e : errors) {
    if (e.loc.empty() || std::find(roots.begin(), roots.end(), e.loc.front()) == roots.end()) {
      return "a 422 entry with an unexpected loc";
    }
    if (e.msg.empty() || e.type.empty()) return "a 422 entry without msg or type";
  }
  const std::string text = ValidationErrorJson(errors);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(boost::json::string_view(text.data(), text.size()), ec);
  if (ec || !v.is_object()) return "ValidationErrorJson is not a JSON object";
  const boost::json::value* detail = v.as_object().if_contains("detail");
  if (detail == nullptr || !detail->is_array() || detail->as_array().size() != errors.size()) {
    return "ValidationErrorJson: not one detail entry per error";
  }
  for (size_t i = 0; i < errors.size(); ++i) {
    const boost::json::value& entry = detail->as_array()[i];
    if (!entry.is_object()) return "ValidationErrorJson: an entry is not an object";
    const boost::json::object& o = entry.as_object();
    const boost::json::value* loc = o.if_contains("loc");
    const boost::json::value* msg = o.if_contains("msg");
    const boost::json::value* type = o.if_contains("type");
    if (loc == nullptr || !loc->is_array() || loc->as_array().size() != errors[i].loc.size() ||
        msg == nullptr || !msg->is_string() || msg->as_string() != errors[i].msg.c_str() || type == nullptr ||
        !type->is_string() || type->as_string() != errors[i].type.c_str()) {
      return "ValidationErrorJson: an entry is not its error";
    }
  }
  return "";
}

bool SameRequest(const OriginateRequest& a, const OriginateRequest& b) {
  return a.phone_number == b.phone_number && a.context == b.context && a.extension == b.extension &&
         a.priority == b.priority && a.timeout_sec == b.timeout_sec && a.caller_id == b.caller_id &&
         a.message == b.message && a.language == b.language;
}

// The body that asks for `r` explicitly (empty strings left out: they are the defaults or not allowed).
std::string BodyOf(const OriginateRequest& r, bool with_number) {
  boost::json::object o;
  auto put = [&o](const char* key, const std::string& value) {
    if (!value.empty()) o[key] = boost::json::string_view(value.data(), value.size());
  };
  if (with_number) put("phone_number", r.phone_number);
  put("context", r.context);
  put("extension", r.extension);
  o["priority"] = r.priority;
  o["timeout"] = r.timeout_sec;
  put("caller_id", r.caller_id);
  put("message", r.message);
  put("language", r.language);
  return boost::json::serialize(o);
}

// An accepted call: within the documented bounds, storable in the PlaceCallRequest CallApi::Originate makes.
std::string CheckOriginateRequest(const OriginateRequest& r) {
  if (!IsE164(r.phone_number) || !LooksE164(r.phone_number))
    return "accepted a phone number that is not E.164";
  if (Chars(r.context) < 1 || Chars(r.context) > 50 || Chars(r.extension) < 1 || Chars(r.extension) > 50 ||
      Chars(r.caller_id) > 50 || Chars(r.message) > 1000 || Chars(r.language) > 35) {
    return "accepted a field outside its length";
  }
  if (r.priority < 1 || r.priority > 10 || r.timeout_sec < 1 || r.timeout_sec > 600) {
    return "accepted priority or timeout outside its range";
  }
  for (const std::string* text : {&r.context, &r.extension, &r.caller_id, &r.message, &r.language}) {
    if (!providers::IsValidUtf8(*text)) return "accepted a field that is not valid UTF-8";
  }
  telephony::v1::PlaceCallRequest place;
  place.set_to_e164(r.phone_number);
  place.set_speak_text(r.message);
  place.set_language(r.language);
  place.set_ring_timeout_sec(r.timeout_sec);
  place.set_caller_id(r.caller_id);
  place.mutable_dialplan()->set_context(r.context);
  place.mutable_dialplan()->set_extension(r.extension);
  place.mutable_dialplan()->set_priority(r.priority);
  std::string wire;
  telephony::v1::PlaceCallRequest back;
  if (!place.SerializeToString(&wire) || !back.ParseFromString(wire) || back.SerializeAsString() != wire) {
    return "an accepted call does not survive a protobuf round trip";
  }
  return "";
}

bool HasLoc(const std::vector<FieldError>& errors, const std::vector<std::string>& loc) {
  return std::any_of(errors.begin(), errors.end(), [&](const FieldError& e) { return e.loc == loc; });
}

std::string CheckParsedOriginate(const ParsedOriginate& parsed, bool interaction) {
  if (parsed.request.has_value() == !parsed.errors.empty()) return "not exactly one of a request and errors";
  if (interaction) return CheckFieldErrors(parsed.errors, {"body", "path"});
  return CheckFieldErrors(parsed.errors, {"body"});
}

std::string RunInteraction(const Input& in, const CallApiConfig& config, std::string* verdict) {
  static constexpr const char* kNumbers[] = {"+15551234567", "%2B79991234567", "15551234567", "+0123456789"};
  const std::string segment = (in.flags & kLineFlag) ? std::string(in.line) : kNumbers[in.flags & 3];
  std::optional<http::Request> request = ServerRequest(
      "POST", kInteractionPrefix + segment, {{"host", "edge.example.org"}, {"content-type", kJsonType}});
  if (!request.has_value() || !request->path.starts_with(kInteractionPrefix)) return Skipped(verdict);
  // CallApi::Interaction's Segment: one non-empty segment after the prefix, else 404.
  const std::string number = request->path.substr(std::strlen(kInteractionPrefix));
  if (number.empty() || number.find('/') != std::string::npos) {
    return CallApiVerdict(verdict, "interaction", "not_found");
  }
  const ParsedOriginate parsed = ParseInteraction(number, in.body, config);
  if (std::string broken = CheckParsedOriginate(parsed, true); !broken.empty()) return broken;
  if (IsE164(number) != LooksE164(number)) return "IsE164 is not the documented rule";
  if (HasLoc(parsed.errors, {"path", "number"}) == IsE164(number))
    return "a path error iff the number is bad";
  const bool blank = std::all_of(in.body.begin(), in.body.end(), IsAsciiSpace);
  if (blank && std::any_of(parsed.errors.begin(), parsed.errors.end(),
                           [](const FieldError& e) { return e.loc.front() == "body"; })) {
    return "a blank body is not every default";
  }
  if (!parsed.request.has_value()) return CallApiVerdict(verdict, "interaction", "invalid");
  if (std::string broken = CheckOriginateRequest(*parsed.request); !broken.empty()) return broken;
  if (parsed.request->phone_number != number) return "the call is not to the path's number";
  const ParsedOriginate again = ParseInteraction(number, BodyOf(*parsed.request, false), config);
  if (!again.request.has_value() || !SameRequest(*again.request, *parsed.request)) {
    return "an interaction changes when written back as a body";
  }
  return CallApiVerdict(verdict, "interaction", "accepted");
}

std::string RunCreateCall(const Input& in, const CallApiConfig& config, std::string* verdict) {
  const ParsedOriginate parsed = ParseCreateCall(in.body, config);
  if (std::string broken = CheckParsedOriginate(parsed, false); !broken.empty()) return broken;
  const bool blank = std::all_of(in.body.begin(), in.body.end(), IsAsciiSpace);
  if (blank && (parsed.errors.size() != 1 || parsed.errors[0].loc != std::vector<std::string>{"body"} ||
                parsed.errors[0].type != "value_error.missing")) {
    return "a blank body to /calls is not \"field required\"";
  }
  if (!parsed.request.has_value()) return CallApiVerdict(verdict, "calls", "invalid");
  if (std::string broken = CheckOriginateRequest(*parsed.request); !broken.empty()) return broken;
  const ParsedOriginate again = ParseCreateCall(BodyOf(*parsed.request, true), config);
  if (!again.request.has_value() || !SameRequest(*again.request, *parsed.request)) {
    return "a call changes when written back as a body";
  }
  const ParsedOriginate interaction = ParseInteraction(parsed.request->phone_number, in.body, config);
  if (!interaction.request.has_value() || !SameRequest(*interaction.request, *parsed.request)) {
    return "/interaction/<number> does not take what /calls takes";
  }
  return CallApiVerdict(verdict, "calls", "accepted");
}

std::string RunToken(const Input& in, std::string* verdict) {
  static constexpr const char* kTypes[] = {"application/x-www-form-urlencoded",
                                           "application/x-www-form-urlencoded; charset=utf-8",
                                           " Application/X-WWW-Form-URLEncoded ;", kJsonType};
  const std::string content_type = (in.flags & kLineFlag) ? std::string(in.line) : kTypes[in.flags & 3];
  std::optional<http::Request> request =
      ServerRequest("POST", "/api/v1/token", {{"host", "edge.example.org"}, {"content-type", content_type}});
  if (!request.has_value() || in.body.size() > kCallApiBodyLimit) return Skipped(verdict);
  const std::string_view type_header = request->Header("content-type");
  const ParsedTokenForm parsed = ParseTokenForm(type_header, in.body);
  if (parsed.form.has_value() == !parsed.errors.empty()) return "not exactly one of a form and errors";
  if (std::string broken = CheckFieldErrors(parsed.errors, {"body"}); !broken.empty()) return broken;
  // Independently: the media type, trimmed and lower-cased, and the first value of each field.
  std::string_view media = type_header.substr(0, type_header.find(';'));
  while (!media.empty() && IsAsciiSpace(media.front())) media.remove_prefix(1);
  while (!media.empty() && IsAsciiSpace(media.back())) media.remove_suffix(1);
  const bool form_type = AsciiLower(media) == "application/x-www-form-urlencoded";
  std::multimap<std::string, std::string> fields;
  if (form_type) fields = http::FormDecode(in.body);
  auto first = [&fields](const std::string& name) -> std::string {
    auto [begin, end] = fields.equal_range(name);
    return begin == end ? std::string() : begin->second;
  };
  const bool grant_ok = first("grant_type").empty() || first("grant_type") == "password";
  const bool valid = form_type && grant_ok && !first("username").empty() && !first("password").empty();
  if (valid != parsed.form.has_value()) {
    return valid ? "a valid token form refused" : "a token form accepted that is not valid";
  }
  if (!parsed.form.has_value()) return CallApiVerdict(verdict, "token", "invalid");
  if (parsed.form->username != first("username") || parsed.form->password != first("password")) {
    return "the token form's fields are not the body's first ones";
  }
  const std::string encoded =
      http::FormEncode(std::vector<std::pair<std::string, std::string>>{{"grant_type", "password"},
                                                                        {"username", parsed.form->username},
                                                                        {"password", parsed.form->password},
                                                                        {"scope", ""}});
  const ParsedTokenForm again = ParseTokenForm("application/x-www-form-urlencoded", encoded);
  if (!again.form.has_value() || again.form->username != parsed.form->username ||
      again.form->password != parsed.form->password) {
    return "a token form changes when encoded again";
  }
  return CallApiVerdict(verdict, "token", "accepted");
}

std::string RunBearer(const Input& in, const CallApiConfig& config, std::string* verdict) {
  const absl::Time now = absl::FromUnixSeconds(kNow);
  std::string what = "issued";
  if (in.flags & kLineFlag) {
    std::optional<http::Request> request =
        ServerRequest("GET", std::string(kStatusPrefix) + "0b7e1a52-4c6e-4b7a-9a1e-3f1f2c3d4e5f",
                      {{"host", "edge.example.org"}, {"authorization", std::string(in.line)}});
    if (!request.has_value()) return Skipped(verdict);
    const std::string_view header = request->Header("authorization");
    const std::optional<std::string> token = BearerToken(header);
    // Independently: the scheme is the first word of the trimmed header, "bearer" in any case.
    std::string_view trimmed = header;
    while (!trimmed.empty() && IsAsciiSpace(trimmed.front())) trimmed.remove_prefix(1);
    while (!trimmed.empty() && IsAsciiSpace(trimmed.back())) trimmed.remove_suffix(1);
    const bool bearer = !trimmed.empty() && AsciiLower(trimmed.substr(0, trimmed.find(' '))) == "bearer";
    if (token.has_value() != bearer) return "BearerToken does not take exactly the bearer scheme";
    what = "missing";
    if (token.has_value()) {
      if (!token->empty() && (IsAsciiSpace(token->front()) || IsAsciiSpace(token->back()))) {
        return "BearerToken left whitespace around the token";
      }
      const absl::StatusOr<crypto::JwtClaims> claims = CheckToken(*token, config, now);
      what = claims.ok() ? "accepted" : "refused";
      if (!claims.ok() && claims.status().code() != absl::StatusCode::kUnauthenticated) {
        return "CheckToken: a refusal not UNAUTHENTICATED";
      }
      if (claims.ok()) {
        // Only a token signed with SECRET_KEY: its third part is the MAC of the first two.
        const size_t last = token->rfind('.');
        const std::string mac =
            crypto::Base64UrlEncode(crypto::HmacSha256(kCallApiSecret, token->substr(0, last)));
        const std::string signature = token->substr(last + 1);
        if (signature != mac && signature != mac + "=")
          return "CheckToken accepted a token not signed with the key";
        if (claims->subject.empty()) return "CheckToken accepted a token without a subject";
      }
    }
  }
  // A token issued for the body as the user name, presented in a few spellings, verifies back to it.
  const std::string username(in.body);
  const absl::StatusOr<std::string> token = IssueToken(username, config, now);
  if (!token.ok()) {
    if (!username.empty() || token.status().code() != absl::StatusCode::kInvalidArgument) {
      return "IssueToken refused a user name";
    }
    return CallApiVerdict(verdict, "bearer", what);
  }
  static constexpr const char* kSpellings[][2] = {
      {"Bearer ", ""}, {"bearer  ", " "}, {" BEARER ", "\t"}, {"bEaReR ", ""}};
  const auto& [before, after] = kSpellings[in.flags & 3];
  const std::optional<std::string> presented = BearerToken(before + *token + after);
  if (!presented.has_value() || *presented != *token) return "BearerToken did not give back an issued token";
  const absl::StatusOr<crypto::JwtClaims> claims = CheckToken(*presented, config, now);
  if (!providers::IsValidUtf8(username)) {
    // JWT claims are JSON: a user name that is not UTF-8 cannot come back (edge.api_users allows ASCII only).
    if (claims.ok()) return "a token for a user name that is not UTF-8 verified";
  } else if (!claims.ok() || claims->subject != username) {
    return "an issued token does not verify back to its user";
  }
  if (CheckToken(*presented, config, now + config.access_token_expire + config.jwt_leeway).ok()) {
    return "an issued token verified after it expired";
  }
  return CallApiVerdict(verdict, "bearer", what);
}

std::string RunStatus(const Input& in, std::string* verdict) {
  const std::string_view segment = (in.flags & kLineFlag) ? in.line : in.body;
  bool uuid = segment.size() == 36;
  for (size_t i = 0; uuid && i < segment.size(); ++i) {
    const char c = segment[i];
    uuid = (i == 8 || i == 13 || i == 18 || i == 23)
               ? c == '-'
               : (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }
  if (IsUuid(segment) != uuid) return "IsUuid is not the 8-4-4-4-12 hex form";
  if (!IsUuid(NewUuid())) return "NewUuid is not a UUID";
  return CallApiVerdict(verdict, "status", uuid ? "uuid" : "not_uuid");
}

std::string RunRateLimit(const Input& in, std::string* verdict) {
  const std::string_view text = (in.flags & kLineFlag) ? in.line : in.body;
  const absl::StatusOr<RateLimit> limit = ParseRateLimit(text);
  if (!limit.ok()) {
    if (limit.status().code() != absl::StatusCode::kInvalidArgument)
      return "ParseRateLimit: not INVALID_ARGUMENT";
    return CallApiVerdict(verdict, "rate_limit", "bad");
  }
  if (limit->count < 0 || limit->count > 1'000'000) return "ParseRateLimit: a count out of its range";
  if (limit->period != absl::Seconds(1) && limit->period != absl::Minutes(1) &&
      limit->period != absl::Hours(1) && limit->period != absl::Hours(24)) {
    return "ParseRateLimit: a period that is not a second, minute, hour or day";
  }
  return CallApiVerdict(verdict, "rate_limit", "ok");
}

}  // namespace

std::string FuzzEdgeRoute(Route route, const uint8_t* data, size_t size, std::string* verdict) {
  const Input in = Parse(data, size);
  switch (route) {
    case Route::kTelegram:
      return RunTelegram(in, verdict);
    case Route::kTelegramQuery:
      return RunTelegramQuery(in, verdict);
    case Route::kTelnyx:
      return RunTelnyx(in, verdict);
    case Route::kTwilioVoice:
    case Route::kTwilioWhatsApp:
      return RunTwilio(in, route, verdict);
    case Route::kWhatsApp:
      return RunWhatsApp(in, verdict);
  }
  return "unknown route";
}

std::string FuzzEdgeTelegram(const uint8_t* data, size_t size) {
  return FuzzEdgeRoute(Route::kTelegram, data, size);
}
std::string FuzzEdgeTelegramQuery(const uint8_t* data, size_t size) {
  return FuzzEdgeRoute(Route::kTelegramQuery, data, size);
}
std::string FuzzEdgeTelnyx(const uint8_t* data, size_t size) {
  return FuzzEdgeRoute(Route::kTelnyx, data, size);
}
std::string FuzzEdgeTwilioVoice(const uint8_t* data, size_t size) {
  return FuzzEdgeRoute(Route::kTwilioVoice, data, size);
}
std::string FuzzEdgeTwilioWhatsApp(const uint8_t* data, size_t size) {
  return FuzzEdgeRoute(Route::kTwilioWhatsApp, data, size);
}
std::string FuzzEdgeWhatsApp(const uint8_t* data, size_t size) {
  return FuzzEdgeRoute(Route::kWhatsApp, data, size);
}

std::string FuzzEdgeCallApi(const uint8_t* data, size_t size, std::string* verdict) {
  const Input in = Parse(data, size);
  if (in.body.size() > kCallApiBodyLimit) return Skipped(verdict);  // the route's 413
  const CallApiConfig& config = CallApiConfigOf(in.flags);
  switch (static_cast<CallApiMode>(in.mode % static_cast<int>(CallApiMode::kCount))) {
    case CallApiMode::kInteraction:
      return RunInteraction(in, config, verdict);
    case CallApiMode::kCreateCall:
      return RunCreateCall(in, config, verdict);
    case CallApiMode::kToken:
      return RunToken(in, verdict);
    case CallApiMode::kBearer:
      return RunBearer(in, config, verdict);
    case CallApiMode::kStatus:
      return RunStatus(in, verdict);
    case CallApiMode::kRateLimit:
      return RunRateLimit(in, verdict);
    case CallApiMode::kCount:
      break;
  }
  return "unknown mode";
}

}  // namespace protectogram::edge::fuzz
