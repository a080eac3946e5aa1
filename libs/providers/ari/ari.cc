#include "libs/providers/ari/ari.h"

#include <boost/json.hpp>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "libs/crypto/digest.h"
#include "libs/providers/common/error.h"
#include "libs/providers/common/json_reader.h"
#include "libs/providers/common/text.h"

namespace protectogram::providers::ari {
namespace {

namespace json = boost::json;
using common::v1::CallEvent;

bool IsUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// Everything outside the RFC 3986 unreserved set, for a path segment or a query value. Asterisk decodes the
// query as a form, so '+' in particular must not travel as itself (it would arrive as a space).
std::string Encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (IsUnreserved(static_cast<char>(c))) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// Appends "?name=value" or "&name=value" (value encoded) unless the value is empty.
void AddParam(std::string& target, std::string_view name, std::string_view value) {
  if (value.empty()) return;
  target.push_back(target.find('?') == std::string::npos ? '?' : '&');
  target.append(name).push_back('=');
  target.append(Encode(value));
}

std::string ChannelsPath(std::string_view channel_id) { return "/ari/channels/" + Encode(channel_id); }

// ARI's timestamps: "%Y-%m-%dT%H:%M:%S.%q%z" (ast_json_timeval), e.g. "2019-04-01T19:57:23.302+0200". An
// RFC 3339 offset ("+02:00", "Z") is taken too.
std::optional<absl::Time> ParseAriTime(const std::string& text) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime("%Y-%m-%dT%H:%M:%E*S%z", text, &t, &err)) return t;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &err)) return t;
  return std::nullopt;
}

// "Unallocated (unassigned) number" -> "unallocated_unassigned_number": ASCII letters and digits lower-cased,
// every run of anything else one '_', none at the ends.
std::string LowerSnake(std::string_view text) {
  std::string out;
  bool gap = false;
  for (char c : text) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
    if (!alnum) {
      gap = !out.empty();
      continue;
    }
    if (gap) out.push_back('_');
    gap = false;
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return out;
}

// Q.850 causes (ISDN cause codes, main/causes.h) as our hangup causes; the ones a guardian call meets get
// the names the other providers use, the rest keep Asterisk's own text.
std::string HangupCause(int64_t cause, std::string_view cause_txt) {
  switch (cause) {
    case 16:
      return "normal_clearing";
    case 17:
      return "user_busy";
    case 18:  // no user responding
    case 19:  // user alerting, no answer
      return "no_answer";
    case 21:
      return "call_rejected";
    default:
      break;
  }
  std::string snake = LowerSnake(cause_txt);
  if (snake.empty()) return absl::StrCat("cause_", cause);
  return snake;
}

// What a Dial dialstatus says about the call: a hangup cause for the final ones that end it unanswered, ""
// for the rest ("", RINGING, PROGRESS, ANSWER, CANCEL, ...: the answer comes as StasisStart, the end as
// ChannelDestroyed).
std::string_view DialHangupCause(std::string_view dialstatus) {
  if (dialstatus == "BUSY") return "busy";
  if (dialstatus == "NOANSWER") return "no_answer";
  if (dialstatus == "CHANUNAVAIL" || dialstatus == "CONGESTION") return "failed";
  return "";
}

}  // namespace

absl::StatusOr<std::string> EndpointFor(std::string_view endpoint_template, std::string_view e164) {
  if (endpoint_template.find(kNumberPlaceholder) == std::string_view::npos) {
    return absl::InvalidArgumentError("endpoint template must contain {number}");
  }
  bool digits_only = e164.size() >= 8 && e164.size() <= 16 && e164.front() == '+';
  for (size_t i = 1; digits_only && i < e164.size(); ++i) digits_only = e164[i] >= '0' && e164[i] <= '9';
  if (!digits_only) return absl::InvalidArgumentError("number must be E.164: '+' and 7 to 15 digits");
  std::string out;
  const std::string_view placeholder(kNumberPlaceholder);
  size_t from = 0;
  for (size_t at = endpoint_template.find(placeholder); at != std::string_view::npos;
       at = endpoint_template.find(placeholder, from)) {
    out.append(endpoint_template.substr(from, at - from)).append(e164);
    from = at + placeholder.size();
  }
  out.append(endpoint_template.substr(from));
  return out;
}

std::string NumberOfEndpoint(std::string_view endpoint) {
  if (size_t slash = endpoint.rfind('/'); slash != std::string_view::npos) endpoint.remove_prefix(slash + 1);
  if (size_t at = endpoint.find('@'); at != std::string_view::npos) endpoint = endpoint.substr(0, at);
  return std::string(endpoint);
}

absl::StatusOr<std::string> OriginateQuery(const Originate& originate) {
  if (originate.endpoint.empty()) return absl::InvalidArgumentError("originate: endpoint is required");
  if (originate.app.empty()) return absl::InvalidArgumentError("originate: app is required");
  if (originate.app_args.find(',') != std::string::npos) {
    return absl::InvalidArgumentError("originate: appArgs must not contain ','");
  }
  if (originate.timeout_secs < 1 || originate.timeout_secs > 600) {
    return absl::InvalidArgumentError("originate: timeout must be 1..600 seconds");
  }
  std::string target = "/ari/channels";
  AddParam(target, "endpoint", originate.endpoint);
  AddParam(target, "app", originate.app);
  AddParam(target, "appArgs", originate.app_args);
  AddParam(target, "callerId", originate.caller_id);
  AddParam(target, "timeout", std::to_string(originate.timeout_secs));
  AddParam(target, "channelId", originate.channel_id);
  return target;
}

std::string ChannelPath(std::string_view channel_id) { return ChannelsPath(channel_id); }

absl::StatusOr<std::string> PlayPath(std::string_view channel_id, const std::vector<std::string>& media,
                                     std::string_view lang, std::string_view playback_id) {
  if (media.empty()) return absl::InvalidArgumentError("play: media is required");
  for (const std::string& m : media) {
    if (m.empty() || m.find(',') != std::string::npos) {
      return absl::InvalidArgumentError("play: a media URI must be non-empty and contain no ','");
    }
  }
  std::string target = ChannelsPath(channel_id) + "/play";
  AddParam(target, "media", absl::StrJoin(media, ","));
  AddParam(target, "lang", std::string(lang));
  AddParam(target, "playbackId", std::string(playback_id));
  return target;
}

std::string HangupPath(std::string_view channel_id, std::string_view reason) {
  std::string target = ChannelsPath(channel_id);
  AddParam(target, "reason", reason);
  return target;
}

std::string ContinuePath(std::string_view channel_id, std::string_view context, std::string_view extension,
                         int priority) {
  std::string target = ChannelsPath(channel_id) + "/continue";
  AddParam(target, "context", context);
  AddParam(target, "extension", extension);
  if (priority > 0) AddParam(target, "priority", std::to_string(priority));
  return target;
}

std::string EventsPath(std::string_view app) {
  return "/ari/events?app=" + Encode(app) + "&subscribeAll=false";
}

std::string SoundLanguage(std::string_view language) {
  const size_t end = language.find_first_of("-_");
  std::string out(language.substr(0, end));
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string PromptSoundName(std::string_view language, std::string_view text) {
  std::string keyed;
  keyed.reserve(language.size() + 1 + text.size());
  keyed.append(language).append("|").append(text);
  return "prompt-" + crypto::Sha256Hex(keyed).substr(0, 16);
}

namespace {

absl::StatusOr<Channel> ParseChannelFields(std::string_view body) {
  absl::StatusOr<json::object> o = ParseJsonObject(body, "channel");
  if (!o.ok()) return o.status();
  JsonReader r;
  auto id = r.String(&*o, "id", "id");
  auto name = r.String(&*o, "name", "name");
  auto state = r.String(&*o, "state", "state");
  r.Require(id.has_value() && !id->empty(), "id");
  if (!r.ok()) return r.status();
  return Channel{.id = *id, .name = name.value_or(""), .state = state.value_or("")};
}

absl::StatusOr<CallEvent> ParseEventFields(std::string_view text) {
  absl::StatusOr<json::object> o = ParseJsonObject(text, "event");
  if (!o.ok()) return o.status();
  JsonReader r;
  auto type = r.String(&*o, "type", "type");
  auto timestamp = r.String(&*o, "timestamp", "timestamp");
  const json::object* channel = r.Object(&*o, "channel", "channel");
  const json::object* peer = r.Object(&*o, "peer", "peer");
  const json::object* playback = r.Object(&*o, "playback", "playback");
  if (!r.ok()) return r.status();
  r.Require(type.has_value() && !type->empty(), "type");
  if (!r.ok()) return r.status();

  CallEvent e;
  e.set_provider(common::v1::PROVIDER_ARI);
  e.set_provider_event_type(*type);
  e.set_type(common::v1::CALL_EVENT_TYPE_OTHER);
  if (timestamp) {
    std::optional<absl::Time> t = ParseAriTime(*timestamp);
    if (!t) return absl::InvalidArgumentError("timestamp must be an ARI time (2019-04-01T19:57:23.302+0200)");
    SetTimestamp(*t, e.mutable_occurred_at());
  }

  // The call: the event's channel; a Dial's is its peer (the channel being dialled; `caller` is the
  // dialling channel, absent for an originate); a playback's is the channel it plays on.
  const bool dial = *type == "Dial";
  const json::object* call = dial ? peer : channel;
  const std::string base = dial ? "peer" : "channel";
  if (auto v = r.String(call, "id", base + ".id")) e.set_call_id(*v);
  if (auto caller = r.Object(call, "caller", base + ".caller")) {
    if (auto v = r.String(caller, "number", base + ".caller.number")) e.set_from(*v);
  }
  if (auto connected = r.Object(call, "connected", base + ".connected")) {
    if (auto v = r.String(connected, "number", base + ".connected.number")) e.set_to(*v);
  }
  std::string detail;  // what tells two events of one call of one type at one time apart
  if (playback != nullptr) {
    auto id = r.String(playback, "id", "playback.id");
    auto target = r.String(playback, "target_uri", "playback.target_uri");
    auto state = r.String(playback, "state", "playback.state");
    if (target && target->starts_with("channel:")) e.set_call_id(target->substr(8));
    detail = id.value_or("");
    if (*type == "PlaybackFinished") {
      e.set_type(common::v1::CALL_EVENT_TYPE_SPEAK_ENDED);
      e.set_status(state.value_or(""));
    }
  }

  if (*type == "StasisStart") {
    e.set_type(common::v1::CALL_EVENT_TYPE_ANSWERED);
    if (const json::array* args = r.Array(&*o, "args", "args"); args != nullptr && !args->empty()) {
      if (!(*args)[0].is_string()) return absl::InvalidArgumentError("args[0] must be a string");
      const json::string& arg = (*args)[0].get_string();
      e.set_client_state(std::string(arg.data(), arg.size()));
    }
  } else if (*type == "ChannelStateChange") {
    auto state = r.String(channel, "state", "channel.state");
    detail = state.value_or("");
    if (detail == "Ringing" || detail == "Ring") e.set_type(common::v1::CALL_EVENT_TYPE_RINGING);
    e.set_status(detail);
  } else if (*type == "ChannelDtmfReceived") {
    auto digit = r.String(&*o, "digit", "digit");
    detail = digit.value_or("");
    e.set_type(common::v1::CALL_EVENT_TYPE_DTMF);
    e.set_digits(detail);
  } else if (dial) {
    auto dialstatus = r.String(&*o, "dialstatus", "dialstatus");
    detail = dialstatus.value_or("");
    e.set_status(detail);
    if (std::string_view cause = DialHangupCause(detail); !cause.empty()) {
      e.set_type(common::v1::CALL_EVENT_TYPE_HANGUP);
      e.set_hangup_cause(std::string(cause));
    }
  } else if (*type == "ChannelDestroyed") {
    auto cause = r.Int(&*o, "cause", "cause");
    auto cause_txt = r.String(&*o, "cause_txt", "cause_txt");
    e.set_type(common::v1::CALL_EVENT_TYPE_HANGUP);
    e.set_hangup_cause(HangupCause(cause.value_or(0), cause_txt.value_or("")));
    if (cause) e.set_status(std::to_string(*cause));
  }
  if (!r.ok()) return r.status();

  const std::string when = timestamp ? *timestamp : "sha256:" + crypto::Sha256Hex(text).substr(0, 16);
  std::string id = absl::StrCat(e.call_id(), ":", *type, ":", when);
  if (!detail.empty()) absl::StrAppend(&id, ":", detail);
  e.set_provider_event_id(std::move(id));
  return e;
}

}  // namespace

absl::StatusOr<Channel> ParseChannel(std::string_view body) {
  absl::StatusOr<Channel> channel = ParseChannelFields(body);
  if (!channel.ok()) return WithProviderErrorIfNone(channel.status(), ProviderError::kMalformed);
  return channel;
}

absl::StatusOr<CallEvent> ParseEvent(std::string_view text) {
  absl::StatusOr<CallEvent> event = ParseEventFields(text);
  if (!event.ok()) return WithProviderErrorIfNone(event.status(), ProviderError::kMalformed);
  return event;
}

std::string_view ClassifyError(int http_status) {
  if (http_status >= 200 && http_status < 300) return "ok";
  if (http_status == 401 || http_status == 403) return "unauthorized";
  if (http_status == 404) return "not_found";
  if (http_status == 409) return "already_exists";
  if (http_status >= 400 && http_status < 500) return "refused";
  if (http_status >= 500 && http_status < 600) return "server_error";
  return "unexpected_status";
}

}  // namespace protectogram::providers::ari
