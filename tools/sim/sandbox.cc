#include "tools/sim/sandbox.h"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libs/http/client.h"
#include "libs/kernel/rpc.h"

namespace protectogram::sim {
namespace {

namespace json = boost::json;
namespace tg = providers::telegram;
namespace telnyx = providers::telnyx;
using incident::v1::IncidentAdminService;

constexpr absl::Duration kAdminTimeout = absl::Seconds(3);

int64_t Millis(absl::Time t) { return absl::ToUnixMillis(t); }
int64_t Millis(const google::protobuf::Timestamp& t) {
  return google::protobuf::util::TimeUtil::TimestampToMilliseconds(t);
}

// A key of a phone's keypad.
bool IsKey(absl::string_view digit) {
  return digit.size() == 1 && absl::string_view("0123456789*#").find(digit[0]) != absl::string_view::npos;
}

std::string StatusWord(incident::v1::IncidentStatus status) {
  switch (status) {
    case incident::v1::INCIDENT_STATUS_ACTIVE:
      return "active";
    case incident::v1::INCIDENT_STATUS_ACKNOWLEDGED:
      return "acknowledged";
    case incident::v1::INCIDENT_STATUS_CANCELED:
      return "canceled";
    case incident::v1::INCIDENT_STATUS_ESCALATED:
      return "escalated";
    default:
      return "unknown";
  }
}

std::string CallStateWord(telnyx::FakeTelnyx::CallState state) {
  switch (state) {
    case telnyx::FakeTelnyx::CallState::kRinging:
      return "ringing";
    case telnyx::FakeTelnyx::CallState::kAnswered:
      return "answered";
    case telnyx::FakeTelnyx::CallState::kEnded:
      return "ended";
  }
  return "ended";
}

// What the timeline's `what` means, for people.
std::string TimelineLabel(const std::string& what) {
  static const std::map<std::string, std::string> kLabels = {
      {"panic", "🆘 Тревога"},
      {"alert_queued", "Тревога отправлена"},
      {"call_placed", "📞 Звонок"},
      {"call_ended", "Звонок окончен"},
      {"acknowledged", "✅ Взял(а) ответственность"},
      {"canceled", "Тревога отменена"},
      {"escalated", "Передано операторам"},
      {"reminder_sent", "Напоминание"},
      {"round_started", "Новый круг звонков"},
      {"round_waiting", "Пауза перед новым кругом"},
      {"calls_exhausted", "Звонки исчерпаны"},
      {"no_calls", "Звонков не будет"},
      {"repaired", "Восстановлено аудитором"},
  };
  auto it = kLabels.find(what);
  return it == kLabels.end() ? what : it->second;
}

// "📞 Звонок: Борис, call 1, round 0": the label, then the details with user ids named.
std::string TimelineText(const incident::v1::TimelineEntry& entry,
                         const std::map<int64_t, std::string>& names) {
  auto name_of = [&](absl::string_view id_text) -> std::string {
    int64_t id = 0;
    if (!absl::SimpleAtoi(id_text, &id)) return std::string(id_text);
    auto it = names.find(id);
    return it == names.end() ? std::string(id_text) : it->second;
  };
  std::vector<std::string> parts;
  if (absl::StartsWith(entry.actor(), "guardian:") || absl::StartsWith(entry.actor(), "traveler:")) {
    parts.push_back(name_of(absl::string_view(entry.actor()).substr(entry.actor().find(':') + 1)));
  }
  boost::system::error_code ec;
  json::value detail = json::parse(entry.detail_json(), ec);
  if (!ec && detail.is_object()) {
    for (const auto& [k, v] : detail.as_object()) {
      if (k == "attempt_key") continue;
      const std::string value = v.is_string() ? std::string(v.as_string()) : json::serialize(v);
      if (k == "guardian") {
        parts.push_back(name_of(value));
      } else {
        parts.push_back(absl::StrCat(std::string(k), " ", value));
      }
    }
  }
  std::string text = TimelineLabel(entry.what());
  if (!parts.empty()) absl::StrAppend(&text, ": ", absl::StrJoin(parts, ", "));
  return text;
}

// An inline keyboard ({"inline_keyboard":[[{text, callback_data|url}]]}) as console rows [[{text, data}]].
json::array InlineRows(const std::string& keyboard_json) {
  json::array rows;
  boost::system::error_code ec;
  json::value v = json::parse(keyboard_json, ec);
  if (ec || !v.is_object()) return rows;
  const json::value* kb = v.as_object().if_contains("inline_keyboard");
  if (kb == nullptr || !kb->is_array()) return rows;
  for (const json::value& row : kb->as_array()) {
    if (!row.is_array()) continue;
    json::array out;
    for (const json::value& b : row.as_array()) {
      if (!b.is_object()) continue;
      const json::object& button = b.as_object();
      json::object o;
      o["text"] = button.contains("text") ? button.at("text") : json::value("");
      if (const json::value* data = button.if_contains("callback_data")) o["data"] = *data;
      if (const json::value* url = button.if_contains("url")) o["url"] = *url;
      out.push_back(std::move(o));
    }
    rows.push_back(std::move(out));
  }
  return rows;
}

// A reply keyboard's `keyboard` array as console rows [[{text, request_contact}]].
json::array ReplyRows(const std::string& keyboard_json) {
  json::array rows;
  boost::system::error_code ec;
  json::value v = json::parse(keyboard_json, ec);
  if (ec || !v.is_array()) return rows;
  for (const json::value& row : v.as_array()) {
    if (!row.is_array()) continue;
    json::array out;
    for (const json::value& b : row.as_array()) {
      json::object o;
      if (b.is_string()) {
        o["text"] = b;
        o["request_contact"] = false;
      } else if (b.is_object()) {
        const json::object& button = b.as_object();
        o["text"] = button.contains("text") ? button.at("text") : json::value("");
        const json::value* contact = button.if_contains("request_contact");
        o["request_contact"] = contact != nullptr && contact->is_bool() && contact->as_bool();
      } else {
        continue;
      }
      out.push_back(std::move(o));
    }
    rows.push_back(std::move(out));
  }
  return rows;
}

}  // namespace

std::vector<Person> DemoFamily() {
  return {
      {.key = "anna", .name = "Анна", .traveler = true, .telegram_id = 1001, .phone = "+79990000001"},
      {.key = "boris", .name = "Борис", .traveler = false, .telegram_id = 1002, .phone = "+79990000002"},
      {.key = "vera", .name = "Вера", .traveler = false, .telegram_id = 1003, .phone = "+79990000003"},
      {.key = "gleb", .name = "Глеб", .traveler = false, .telegram_id = 1004, .phone = "+79990000004"},
  };
}

Sandbox::Sandbox(SandboxOptions options)
    : options_(std::move(options)), next_id_(absl::ToUnixMillis(absl::Now())) {}

Sandbox::~Sandbox() { Stop(); }

absl::StatusOr<std::unique_ptr<Sandbox>> Sandbox::Start(SandboxOptions options) {
  std::unique_ptr<Sandbox> sandbox(new Sandbox(std::move(options)));
  if (absl::Status s = sandbox->StartFakes(); !s.ok()) return s;
  sandbox->admin_ = IncidentAdminService::NewStub(kernel::ServiceChannel(sandbox->options_.incident_addr));
  for (const Person& p : sandbox->options_.people) {
    auto mode = sandbox->options_.phone_modes.find(p.key);
    const std::string why =
        sandbox->ApplyPhoneMode(p, mode == sandbox->options_.phone_modes.end() ? "console" : mode->second);
    if (!why.empty()) return absl::InvalidArgumentError(why);
  }
  return sandbox;
}

absl::Status Sandbox::StartFakes() {
  auto named = [](absl::Status s, const std::string& what, uint16_t port) {
    return absl::Status(s.code(), absl::StrCat("the ", what, " simulator on port ", port, ": ", s.message()));
  };
  auto bot = tg::FakeBotApi::Start({.bots = {{options_.bot_token, options_.bot_username}},
                                    .address = options_.address,
                                    .port = options_.telegram_port});
  if (!bot.ok()) return named(bot.status(), "Telegram", options_.telegram_port);
  telegram_ = *std::move(bot);
  for (const auto& [chat, fault] : options_.chat_faults) {
    tg::FaultRule rule{.method = "sendMessage", .chat_id = chat, .times = 1};
    if (fault == "rate_limited") {
      rule.fault = tg::Fault::RateLimited(2);
    } else if (fault == "server_error") {
      rule.fault = tg::Fault::ServerError(502);
    } else if (fault == "blocked") {
      rule.fault = tg::Fault::Blocked();
      rule.times = tg::kForever;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("chat ", chat, ": unknown Telegram fault \"", fault,
                                                     "\" (rate_limited, server_error, blocked)"));
    }
    telegram_->Script(std::move(rule));
  }

  auto calls = telnyx::FakeTelnyx::Start({.webhook_url = options_.edge_url + "/telnyx/webhook",
                                          .address = options_.address,
                                          .port = options_.telnyx_port,
                                          .time_scale = options_.telnyx_time_scale,
                                          .default_script = telnyx::CallScript::Interactive()});
  if (!calls.ok()) return named(calls.status(), "Telnyx", options_.telnyx_port);
  telnyx_ = *std::move(calls);

  // Lifelike pauses (the fake's defaults are milliseconds, for tests): a few seconds to answer and to press.
  auto twilio = providers::twilio::FakeTwilioVoice::Start({.address = options_.address,
                                                           .port = options_.twilio_port,
                                                           .delays = {.initiated = absl::Milliseconds(100),
                                                                      .ringing = absl::Milliseconds(500),
                                                                      .answer = absl::Seconds(3),
                                                                      .press = absl::Seconds(2),
                                                                      .after_digits = absl::Milliseconds(500),
                                                                      .prompt = absl::Seconds(5),
                                                                      .machine = absl::Seconds(3)}});
  if (!twilio.ok()) return named(twilio.status(), "Twilio", options_.twilio_port);
  twilio_ = *std::move(twilio);

  auto whatsapp = providers::whatsapp::FakeCloudApi::Start(
      {.phone_numbers = {{.phone_number_id = "106540352242922", .token = "sandbox-whatsapp-token"}},
       .address = options_.address,
       .port = options_.whatsapp_port});
  if (!whatsapp.ok()) return named(whatsapp.status(), "WhatsApp", options_.whatsapp_port);
  whatsapp_ = *std::move(whatsapp);

  auto ari = providers::ari::FakeAri::Start({.address = options_.address, .port = options_.ari_port});
  if (!ari.ok()) return named(ari.status(), "ARI", options_.ari_port);
  ari_ = *std::move(ari);
  return absl::OkStatus();
}

void Sandbox::Stop() {
  if (ari_) ari_->Stop();
  if (whatsapp_) whatsapp_->Stop();
  if (twilio_) twilio_->Stop();
  if (telnyx_) telnyx_->Stop();
  if (telegram_) telegram_->Stop();
}

std::vector<std::pair<std::string, std::string>> Sandbox::Endpoints() const {
  return {{"telegram", telegram_->base_url()},
          {"telnyx", telnyx_->base_url()},
          {"twilio", twilio_->base_url()},
          {"whatsapp", whatsapp_->base_url()},
          {"ari", ari_->http_url()}};
}

const Person* Sandbox::Find(const std::string& key) const {
  for (const Person& p : options_.people) {
    if (p.key == key) return &p;
  }
  return nullptr;
}

std::string Sandbox::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

void Sandbox::SetStatus(std::string status) {
  std::lock_guard<std::mutex> lock(mu_);
  status_ = std::move(status);
}

// ---- Acting as the people ----------------------------------------------------------------------------------

json::object Sandbox::From(const Person& person) const {
  return {{"id", person.telegram_id},
          {"is_bot", false},
          {"first_name", person.name},
          {"language_code", person.language}};
}

json::object Sandbox::Chat(const Person& person) const {
  return {{"id", person.telegram_id}, {"type", "private"}, {"first_name", person.name}};
}

absl::Status Sandbox::PostUpdate(json::object update) {
  update["update_id"] = NextId();
  std::string url = options_.edge_url + "/webhook/main";
  std::string secret = options_.webhook_secret;
  if (std::optional<tg::FakeBotApi::Webhook> hook = telegram_->WebhookOf(options_.bot_token);
      hook.has_value() && !hook->url.empty()) {
    url = hook->url;
    secret = hook->secret_token;
  }
  absl::StatusOr<http::ClientResponse> r =
      webhook_client_.PostJson(url, json::serialize(update), {{"X-Telegram-Bot-Api-Secret-Token", secret}});
  if (!r.ok()) return absl::UnavailableError(absl::StrCat("the edge (", url, "): ", r.status().message()));
  if (r->status != 200) {
    return absl::UnavailableError(
        absl::StrCat("the edge answered ", r->status, ": ", r->body.substr(0, 200)));
  }
  return absl::OkStatus();
}

absl::Status Sandbox::SendText(const std::string& person_key, const std::string& text) {
  const Person* p = Find(person_key);
  if (p == nullptr) return absl::NotFoundError(absl::StrCat("no person \"", person_key, "\""));
  if (absl::StripAsciiWhitespace(text).empty()) return absl::InvalidArgumentError("the text is empty");
  const absl::Time at = absl::Now();
  json::object message{{"message_id", NextId()},
                       {"from", From(*p)},
                       {"chat", Chat(*p)},
                       {"date", absl::ToUnixSeconds(at)},
                       {"text", text}};
  if (absl::Status s = PostUpdate({{"message", std::move(message)}}); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  sent_by_[p->key].push_back({.at = at, .text = text});
  return absl::OkStatus();
}

absl::Status Sandbox::ShareContact(const std::string& person_key) {
  const Person* p = Find(person_key);
  if (p == nullptr) return absl::NotFoundError(absl::StrCat("no person \"", person_key, "\""));
  const absl::Time at = absl::Now();
  // Telegram sends the number as the user has it in their account: digits, often without the '+'.
  json::object message{
      {"message_id", NextId()},
      {"from", From(*p)},
      {"chat", Chat(*p)},
      {"date", absl::ToUnixSeconds(at)},
      {"contact",
       {{"phone_number", p->phone.substr(1)}, {"first_name", p->name}, {"user_id", p->telegram_id}}}};
  // Shared with the keyboard's contact button (the only way the sandbox shares one), which a one-time keyboard
  // hides.
  telegram_->PressedReplyKeyboard(options_.bot_token, absl::StrCat(p->telegram_id));
  if (absl::Status s = PostUpdate({{"message", std::move(message)}}); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  sent_by_[p->key].push_back({.at = at, .text = absl::StrCat("📱 ", p->phone)});
  return absl::OkStatus();
}

absl::Status Sandbox::PressButton(const std::string& person_key, int64_t message_id,
                                  const std::string& data) {
  const Person* p = Find(person_key);
  if (p == nullptr) return absl::NotFoundError(absl::StrCat("no person \"", person_key, "\""));
  if (data.empty()) return absl::InvalidArgumentError("the button has no data");
  json::object query{
      {"id", absl::StrCat("sim-", NextId())},
      {"from", From(*p)},
      {"message",
       {{"message_id", message_id}, {"chat", Chat(*p)}, {"date", absl::ToUnixSeconds(absl::Now())}}},
      {"chat_instance", absl::StrCat(p->telegram_id)},
      {"data", data}};
  return PostUpdate({{"callback_query", std::move(query)}});
}

// One phone mode as each call simulator's script: the console plays Telnyx's calls; Twilio and ARI, which a
// person cannot play, take the nearest scripted behaviour ("console" answers and presses 1 there).
std::string Sandbox::ApplyPhoneMode(const Person& person, const std::string& mode) {
  namespace tw = providers::twilio;
  namespace ari = providers::ari;
  telnyx::CallScript telnyx_script;
  tw::CallScript twilio_script;
  ari::CallScript ari_script;
  std::vector<std::string> parts = absl::StrSplit(mode, ':');
  const std::string& kind = parts[0];
  if (kind == "answer" && parts.size() <= 3) {
    // answer[:<seconds to answer>[:<digit>]]: answers by itself, then presses the digit (1) 2 s into the prompt.
    int64_t seconds = 2;
    if (parts.size() >= 2 && (!absl::SimpleAtoi(parts[1], &seconds) || seconds < 0 || seconds > 600)) {
      return absl::StrCat("phone mode \"", mode, "\": the seconds to answer must be 0..600");
    }
    const std::string digit = parts.size() == 3 ? parts[2] : "1";
    if (!IsKey(digit)) {
      return absl::StrCat("phone mode \"", mode, "\": \"", digit, "\" is not a key (0-9, *, #)");
    }
    telnyx_script = telnyx::CallScript::PressDigit(digit);
    telnyx_script.answer_after = absl::Seconds(seconds);
    telnyx_script.press_after = absl::Seconds(2);
    twilio_script = tw::CallScript::PressDigit(digit);
    ari_script = ari::CallScript::PressDigit(digit);
    ari_script.ring_time = absl::Seconds(seconds);
  } else if (parts.size() != 1) {
    return absl::StrCat("unknown phone mode \"", mode, "\"");
  } else if (kind == "console") {
    telnyx_script = telnyx::CallScript::Interactive();
  } else if (kind == "no_digit") {
    telnyx_script = telnyx::CallScript::NoDigit();
    twilio_script = tw::CallScript::NoDigit();
    ari_script = ari::CallScript::NoDigit();
  } else if (kind == "no_answer") {
    telnyx_script = telnyx::CallScript::NoAnswer();
    twilio_script = tw::CallScript::NoAnswer();
    ari_script = ari::CallScript::NoAnswer();
  } else if (kind == "busy") {
    telnyx_script = telnyx::CallScript::Busy();
    twilio_script = tw::CallScript::Busy();
    ari_script = ari::CallScript::Busy();
  } else if (kind == "machine") {
    telnyx_script = telnyx::CallScript::Machine();
    twilio_script = tw::CallScript::Machine();
    ari_script = ari::CallScript::NoDigit();  // Asterisk has no answering-machine detection here
  } else if (kind == "reject") {
    telnyx_script = telnyx::CallScript::RejectDial(422);
    twilio_script = tw::CallScript::RejectCreate(400, 21211);
    ari_script = ari::CallScript::RejectOriginate(400);
  } else if (kind == "rate_limited") {
    telnyx_script = telnyx::CallScript::RejectDial(429);
    twilio_script = tw::CallScript::RejectCreate(429, 20429);
    ari_script = ari::CallScript::RejectOriginate(503);
  } else if (kind == "server_error") {
    telnyx_script = telnyx::CallScript::RejectDial(503);
    twilio_script = tw::CallScript::RejectCreate(500, 20500);
    ari_script = ari::CallScript::RejectOriginate(500);
  } else {
    return absl::StrCat("unknown phone mode \"", mode,
                        "\" (console, answer[:seconds[:digit]], no_digit, no_answer, busy, machine, reject, "
                        "rate_limited, server_error)");
  }
  telnyx_->Script(person.phone, std::move(telnyx_script));
  twilio_->Script(person.phone, std::move(twilio_script));
  ari_->Script(person.phone, std::move(ari_script));
  std::lock_guard<std::mutex> lock(mu_);
  phone_modes_[person.key] = mode;
  return "";
}

absl::Status Sandbox::SetPhoneMode(const std::string& person_key, const std::string& mode) {
  const Person* p = Find(person_key);
  if (p == nullptr) return absl::NotFoundError(absl::StrCat("no person \"", person_key, "\""));
  const std::string why = ApplyPhoneMode(*p, mode);
  return why.empty() ? absl::OkStatus() : absl::InvalidArgumentError(why);
}

namespace {
absl::Status CallAction(bool done, const std::optional<telnyx::FakeTelnyx::Call>& call, const std::string& id,
                        absl::string_view action) {
  if (done) return absl::OkStatus();
  if (!call.has_value()) return absl::NotFoundError(absl::StrCat("no call \"", id, "\""));
  return absl::FailedPreconditionError(
      absl::StrCat("cannot ", std::string(action), " call ", id, " now (", CallStateWord(call->state), ")"));
}
}  // namespace

absl::Status Sandbox::AnswerCall(const std::string& call_id) {
  return CallAction(telnyx_->Answer(call_id), telnyx_->FindCall(call_id), call_id, "answer");
}
absl::Status Sandbox::DeclineCall(const std::string& call_id) {
  return CallAction(telnyx_->Decline(call_id), telnyx_->FindCall(call_id), call_id, "decline");
}
absl::Status Sandbox::HangupCall(const std::string& call_id) {
  return CallAction(telnyx_->EndCall(call_id), telnyx_->FindCall(call_id), call_id, "hang up");
}
absl::Status Sandbox::PressDigit(const std::string& call_id, const std::string& digit) {
  if (!IsKey(digit)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", digit, "\" is not a key (0-9, *, #)"));
  }
  return CallAction(telnyx_->PressDigit(call_id, digit), telnyx_->FindCall(call_id), call_id,
                    "press a key on");
}

// ---- What the console shows ----------------------------------------------------------------------------------

std::map<int64_t, std::string> Sandbox::NamesByUserId() {
  std::map<int64_t, std::string> names;
  incident::v1::ListUsersRequest request;
  request.set_limit(1000);
  incident::v1::ListUsersResponse response;
  if (kernel::CallService(*admin_, &IncidentAdminService::Stub::ListUsers, request, &response, kAdminTimeout,
                          options_.admin_token)
          .ok()) {
    for (const auto& u : response.users()) names[u.id()] = u.display_name();
  }
  return names;
}

std::string Sandbox::StateJson() {
  json::object state;
  state["ready"] = ready();
  state["status"] = status();
  std::map<std::string, std::string> modes;
  std::map<std::string, std::vector<UserMessage>> sent;
  {
    std::lock_guard<std::mutex> lock(mu_);
    modes = phone_modes_;
    sent = sent_by_;
  }
  const std::vector<telnyx::FakeTelnyx::Call> calls = telnyx_->Calls();

  json::array people;
  for (const Person& p : options_.people) {
    json::object person{{"key", p.key},
                        {"name", p.name},
                        {"role", p.traveler ? "traveler" : "guardian"},
                        {"telegram_id", p.telegram_id},
                        {"phone", p.phone},
                        {"phone_mode", modes[p.key]}};
    // The chat: the bot's messages as they are now and the person's own, by time.
    struct Line {
      absl::Time at;
      json::object o;
    };
    std::vector<Line> lines;
    for (const tg::FakeBotApi::Message& m :
         telegram_->Chat(options_.bot_token, absl::StrCat(p.telegram_id))) {
      lines.push_back({m.date,
                       {{"from", "bot"},
                        {"message_id", m.message_id},
                        {"text", m.text},
                        {"edited", m.edit_date.has_value()},
                        {"at_ms", Millis(m.date)},
                        {"buttons", InlineRows(m.inline_keyboard_json)}}});
    }
    for (const UserMessage& m : sent[p.key]) {
      lines.push_back({m.at,
                       {{"from", "user"},
                        {"message_id", 0},
                        {"text", m.text},
                        {"edited", false},
                        {"at_ms", Millis(m.at)},
                        {"buttons", json::array()}}});
    }
    std::stable_sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) { return a.at < b.at; });
    json::array chat;
    for (Line& l : lines) chat.push_back(std::move(l.o));
    person["chat"] = std::move(chat);
    person["keyboard"] =
        ReplyRows(telegram_->ReplyKeyboardOf(options_.bot_token, absl::StrCat(p.telegram_id)));

    json::array phone;
    for (const telnyx::FakeTelnyx::Call& c : calls) {
      if (c.to != p.phone) continue;
      json::array spoken;
      for (const std::string& s : c.spoken) spoken.push_back(json::value(s));
      phone.push_back(json::object{{"id", c.call_control_id},
                                   {"state", CallStateWord(c.state)},
                                   {"gathering", c.gathering},
                                   {"spoken", std::move(spoken)},
                                   {"hangup_cause", c.hangup_cause},
                                   {"placed_at_ms", Millis(c.placed_at)}});
    }
    person["calls"] = std::move(phone);
    people.push_back(std::move(person));
  }
  state["people"] = std::move(people);

  // The incidents, newest first; the newest with its timeline.
  json::array incidents;
  incident::v1::ListIncidentsRequest list;
  list.set_limit(5);
  incident::v1::ListIncidentsResponse listed;
  if (kernel::CallService(*admin_, &IncidentAdminService::Stub::ListIncidents, list, &listed, kAdminTimeout,
                          options_.admin_token)
          .ok()) {
    std::map<int64_t, std::string> names;
    for (int i = 0; i < listed.incidents_size(); ++i) {
      const incident::v1::Incident& summary = listed.incidents(i);
      json::object o{{"id", summary.id()},
                     {"status", StatusWord(summary.status())},
                     {"traveler", summary.traveler_name()},
                     {"acknowledged_by", summary.acknowledged_by_name()},
                     {"started_at_ms", Millis(summary.created_at())}};
      json::array timeline;
      if (i == 0) {
        incident::v1::GetIncidentRequest get;
        get.set_incident_id(summary.id());
        incident::v1::GetIncidentResponse got;
        if (kernel::CallService(*admin_, &IncidentAdminService::Stub::GetIncident, get, &got, kAdminTimeout,
                                options_.admin_token)
                .ok()) {
          names = NamesByUserId();
          for (const auto& e : got.incident().timeline()) {
            timeline.push_back(json::object{
                {"at_ms", Millis(e.at())}, {"kind", e.what()}, {"text", TimelineText(e, names)}});
          }
        }
      }
      o["timeline"] = std::move(timeline);
      incidents.push_back(std::move(o));
    }
  }
  state["incidents"] = std::move(incidents);
  return json::serialize(state);
}

// ---- Seeding ----------------------------------------------------------------------------------------------

size_t Sandbox::BotMessageCount(const Person& person) const {
  return telegram_->Chat(options_.bot_token, absl::StrCat(person.telegram_id)).size();
}

absl::Status Sandbox::WaitForBotMessage(const Person& person, const std::string& part, size_t after,
                                        absl::Time deadline) {
  while (absl::Now() < deadline && !cancel_seeding_.load()) {
    const auto chat = telegram_->Chat(options_.bot_token, absl::StrCat(person.telegram_id));
    for (size_t i = after; i < chat.size(); ++i) {
      if (absl::StrContains(chat[i].text, part)) return absl::OkStatus();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(
      absl::StrCat(person.name, " got no message containing \"", part, "\" from the bot"));
}

absl::StatusOr<std::map<int64_t, incident::v1::User>> Sandbox::UsersByTelegramId() {
  incident::v1::ListUsersRequest request;
  request.set_limit(1000);
  incident::v1::ListUsersResponse response;
  if (absl::Status s = kernel::CallService(*admin_, &IncidentAdminService::Stub::ListUsers, request,
                                           &response, kAdminTimeout, options_.admin_token);
      !s.ok()) {
    return s;
  }
  std::map<int64_t, incident::v1::User> out;
  for (const auto& u : response.users()) out[u.telegram_id()] = u;
  return out;
}

absl::StatusOr<std::vector<incident::v1::Link>> Sandbox::Links(int64_t traveler_user_id) {
  incident::v1::ListLinksRequest request;
  request.set_traveler_user_id(traveler_user_id);
  incident::v1::ListLinksResponse response;
  if (absl::Status s = kernel::CallService(*admin_, &IncidentAdminService::Stub::ListLinks, request,
                                           &response, kAdminTimeout, options_.admin_token);
      !s.ok()) {
    return s;
  }
  return std::vector<incident::v1::Link>(response.links().begin(), response.links().end());
}

absl::Status Sandbox::Seed(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  auto poll = [&](const std::function<bool()>& done, const std::string& what) -> absl::Status {
    while (absl::Now() < deadline) {
      if (cancel_seeding_.load()) return absl::CancelledError("seeding: stopped");
      if (done()) return absl::OkStatus();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return absl::DeadlineExceededError(absl::StrCat("seeding: ", what));
  };
  auto registered = [&](const Person& p) {
    absl::StatusOr<std::map<int64_t, incident::v1::User>> users = UsersByTelegramId();
    if (!users.ok()) return false;
    auto it = users->find(p.telegram_id);
    return it != users->end() && it->second.registered();
  };
  // /start, then the contact once the bot asks for it.
  auto enroll = [&](const Person& p, const std::string& start_text) -> absl::Status {
    if (absl::Status s = SendText(p.key, start_text); !s.ok()) return s;
    if (absl::Status s = poll(
            [&] {
              return absl::StrContains(
                         telegram_->ReplyKeyboardOf(options_.bot_token, absl::StrCat(p.telegram_id)),
                         "request_contact") ||
                     registered(p);
            },
            p.name + " was not asked for a phone number");
        !s.ok()) {
      return s;
    }
    if (!absl::StrContains(telegram_->ReplyKeyboardOf(options_.bot_token, absl::StrCat(p.telegram_id)),
                           "request_contact")) {
      return absl::OkStatus();  // registered before: nothing to share
    }
    return ShareContact(p.key);
  };

  SetStatus("waiting for the services");
  if (absl::Status s = poll([&] { return UsersByTelegramId().ok(); }, "the incident service does not answer");
      !s.ok()) {
    return s;
  }
  const Person* traveler = nullptr;
  for (const Person& p : options_.people) {
    if (p.traveler) traveler = &p;
  }
  if (traveler == nullptr) return absl::InvalidArgumentError("the demo has no traveler");

  if (!registered(*traveler)) {
    SetStatus(absl::StrCat("seeding: registering ", traveler->name));
    if (absl::Status s = enroll(*traveler, "/start"); !s.ok()) return s;
    if (absl::Status s = poll([&] { return registered(*traveler); }, traveler->name + " was not registered");
        !s.ok()) {
      return s;
    }
  }
  auto users = UsersByTelegramId();
  if (!users.ok()) return users.status();
  const int64_t traveler_uid = users->at(traveler->telegram_id).id();

  for (const Person& g : options_.people) {
    if (g.traveler) continue;
    auto linked = [&] {
      absl::StatusOr<std::map<int64_t, incident::v1::User>> now = UsersByTelegramId();
      if (!now.ok() || !now->contains(g.telegram_id)) return false;
      absl::StatusOr<std::vector<incident::v1::Link>> links = Links(traveler_uid);
      if (!links.ok()) return false;
      for (const auto& l : *links) {
        if (l.watcher_user_id() == now->at(g.telegram_id).id() && l.status() == "active") return true;
      }
      return false;
    };
    if (linked()) continue;
    SetStatus(absl::StrCat("seeding: inviting ", g.name));
    // The invite button (a button, so the spam guard never counts it) on the traveler's latest message.
    const auto chat = telegram_->Chat(options_.bot_token, absl::StrCat(traveler->telegram_id));
    const size_t before = chat.size();
    const int64_t on_message = chat.empty() ? 1 : chat.back().message_id;
    if (absl::Status s = PressButton(traveler->key, on_message, "menu:invite"); !s.ok()) return s;
    if (absl::Status s = WaitForBotMessage(*traveler, "?start=", before, deadline); !s.ok()) return s;
    std::string token;
    for (const auto& m : telegram_->Chat(options_.bot_token, absl::StrCat(traveler->telegram_id))) {
      if (size_t at = m.text.find("?start="); at != std::string::npos) token = m.text.substr(at + 7, 16);
    }
    if (absl::Status s = enroll(g, "/start " + token); !s.ok()) return s;
    if (absl::Status s = poll(linked, g.name + " did not become " + traveler->name + "'s guardian");
        !s.ok()) {
      return s;
    }
  }
  // A traveler seeded by an earlier run has an empty chat here: /start shows her the menu («🆘 Тревога»).
  if (BotMessageCount(*traveler) == 0) {
    if (absl::Status s = SendText(traveler->key, "/start"); !s.ok()) return s;
  }
  SetStatus("ready");
  ready_.store(true);
  return absl::OkStatus();
}

}  // namespace protectogram::sim
