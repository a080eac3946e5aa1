#include "libs/providers/telegram/telegram.h"

#include <algorithm>
#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <cctype>
#include <limits>
#include <optional>
#include <utility>

#include "libs/crypto/constant_time.h"
#include "libs/providers/common/error.h"
#include "libs/providers/common/json_reader.h"
#include "libs/providers/common/text.h"

namespace protectogram::providers::telegram {
namespace {

namespace json = boost::json;
using common::v1::ChatEvent;

constexpr std::string_view kTokenPrefix = "TG_TOKEN_";
constexpr std::string_view kSecretPrefix = "TG_WEBHOOK_SECRET_";

absl::Status Malformed(std::string message) {
  return WithProviderError(absl::InvalidArgumentError(std::move(message)), ProviderError::kMalformed);
}

// Message payloads we answer with "I understand text and buttons". `animation` comes before `document`
// because Telegram sends both fields for a GIF.
constexpr std::string_view kNonTextKinds[] = {"voice",    "sticker", "photo", "animation", "video_note",
                                              "document", "video",   "audio", "location",  "venue",
                                              "poll",     "dice",    "game"};

bool IsBotIdChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// --- ExtractUpdateId: a SAX handler that remembers the last top-level "update_id". ---

struct UpdateIdHandler {
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  int depth = 0;
  bool top_is_object = false;
  bool key_is_update_id = false;  // the value being read belongs to the top-level key "update_id"
  std::string key;                // the top-level key being read (only its first bytes matter)
  std::optional<int64_t> update_id;
  bool update_id_bad = false;

  // A value (scalar, or the start of an object/array) at the current depth.
  void Value(std::optional<int64_t> integer) {
    if (depth == 1 && key_is_update_id) {
      update_id = integer;
      update_id_bad = !integer.has_value();
      key_is_update_id = false;
    }
  }
  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) {
    if (depth == 0) top_is_object = true;
    Value(std::nullopt);
    ++depth;
    return true;
  }
  bool on_object_end(std::size_t, boost::system::error_code&) {
    --depth;
    return true;
  }
  bool on_array_begin(boost::system::error_code&) {
    Value(std::nullopt);
    ++depth;
    return true;
  }
  bool on_array_end(std::size_t, boost::system::error_code&) {
    --depth;
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, boost::system::error_code&) {
    if (depth == 1 && key.size() < 16) key.append(s.data(), std::min<size_t>(s.size(), 16));
    return true;
  }
  bool on_key(json::string_view s, std::size_t, boost::system::error_code&) {
    if (depth == 1) {
      if (key.size() < 16) key.append(s.data(), std::min<size_t>(s.size(), 16));
      key_is_update_id = key == "update_id";
      key.clear();
    }
    return true;
  }
  bool on_string_part(json::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, boost::system::error_code&) {
    Value(std::nullopt);
    return true;
  }
  bool on_number_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(int64_t i, json::string_view, boost::system::error_code&) {
    Value(i);
    return true;
  }
  bool on_uint64(uint64_t u, json::string_view, boost::system::error_code&) {
    Value(u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
              ? std::optional<int64_t>(static_cast<int64_t>(u))
              : std::nullopt);
    return true;
  }
  bool on_double(double, json::string_view, boost::system::error_code&) {
    Value(std::nullopt);
    return true;
  }
  bool on_bool(bool, boost::system::error_code&) {
    Value(std::nullopt);
    return true;
  }
  bool on_null(boost::system::error_code&) {
    // A null update_id is "absent" to the DOM reader too.
    if (depth == 1 && key_is_update_id) {
      update_id.reset();
      update_id_bad = false;
      key_is_update_id = false;
    }
    return true;
  }
  bool on_comment_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(json::string_view, boost::system::error_code&) { return true; }
};

// --- ParseUpdate helpers ---

void FillUser(JsonReader& r, const json::object* from, std::string_view path, common::v1::ChatUser* user) {
  if (from == nullptr) return;
  const std::string p(path);
  if (auto id = r.Id(from, "id", p + ".id")) user->set_id(*id);
  if (auto v = r.String(from, "first_name", p + ".first_name")) user->set_first_name(*v);
  if (auto v = r.String(from, "username", p + ".username")) user->set_username(*v);
  if (auto v = r.String(from, "language_code", p + ".language_code")) user->set_language_code(*v);
}

// "/start@alert_bot link_ab12" -> ("start", "link_ab12"). Telegram commands are 1-32 of A-Z a-z 0-9 _.
void SplitCommand(std::string_view text, common::v1::ChatText* out) {
  if (text.empty() || text.front() != '/') return;
  size_t end = 1;
  while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end]))) ++end;
  std::string_view command = text.substr(1, end - 1);
  if (size_t at = command.find('@'); at != std::string_view::npos) command = command.substr(0, at);
  if (command.empty() || command.size() > 32) return;
  for (char c : command) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return;
  }
  out->set_command(std::string(command));
  out->set_command_args(std::string(TrimAscii(text.substr(end))));
}

void ParseMessage(JsonReader& r, const json::object* msg, const std::string& kind, ChatEvent* e) {
  const bool edited = kind == "edited_message";
  const auto message_id = r.Int(msg, "message_id", kind + ".message_id");
  r.Require(message_id.has_value(), kind + ".message_id");
  const json::object* chat = r.Object(msg, "chat", kind + ".chat");
  const auto chat_id = r.Id(chat, "id", kind + ".chat.id");
  r.Require(chat_id.has_value(), kind + ".chat.id");
  if (chat_id) e->set_chat_id(*chat_id);
  FillUser(r, r.Object(msg, "from", kind + ".from"), kind + ".from", e->mutable_from());
  if (auto date = r.Int(msg, "date", kind + ".date"))
    SetTimestamp(absl::FromUnixSeconds(*date), e->mutable_sent_at());

  if (auto text = r.String(msg, "text", kind + ".text")) {
    common::v1::ChatText* t = e->mutable_text();
    t->set_text(*text);
    t->set_message_id(message_id.value_or(0));
    t->set_edited(edited);
    SplitCommand(*text, t);
    return;
  }
  if (edited) return;  // an edited caption or live location: nothing to act on
  if (const json::object* contact = r.Object(msg, "contact", kind + ".contact")) {
    common::v1::ChatContact* c = e->mutable_contact();
    auto phone = r.String(contact, "phone_number", kind + ".contact.phone_number");
    r.Require(phone.has_value(), kind + ".contact.phone_number");
    c->set_phone_number(phone.value_or(""));
    if (auto user_id = r.Id(contact, "user_id", kind + ".contact.user_id")) c->set_user_id(*user_id);
    if (auto name = r.String(contact, "first_name", kind + ".contact.first_name")) c->set_first_name(*name);
    return;
  }
  for (std::string_view non_text : kNonTextKinds) {
    if (msg->contains(json::string_view(non_text.data(), non_text.size()))) {
      e->mutable_non_text()->set_kind(std::string(non_text));
      return;
    }
  }
  // A service message (new_chat_members, pinned_message, ...): no body.
}

// The text of the inline keyboard button whose callback_data is `data`, or "" (best effort: the markup is
// ours, echoed back, and nothing depends on it).
std::string ButtonText(const json::object* message, std::string_view data) {
  if (message == nullptr) return "";
  const json::value* markup = message->if_contains("reply_markup");
  if (markup == nullptr || !markup->is_object()) return "";
  const json::value* rows = markup->get_object().if_contains("inline_keyboard");
  if (rows == nullptr || !rows->is_array()) return "";
  for (const json::value& row : rows->get_array()) {
    if (!row.is_array()) continue;
    for (const json::value& button : row.get_array()) {
      if (!button.is_object()) continue;
      const json::value* cb = button.get_object().if_contains("callback_data");
      const json::value* text = button.get_object().if_contains("text");
      if (cb != nullptr && cb->is_string() && text != nullptr && text->is_string() &&
          cb->get_string() == data) {
        return std::string(text->get_string().data(), text->get_string().size());
      }
    }
  }
  return "";
}

void ParseCallbackQuery(JsonReader& r, const json::object* cq, ChatEvent* e) {
  auto id = r.String(cq, "id", "callback_query.id");
  r.Require(id.has_value(), "callback_query.id");
  auto data = r.String(cq, "data", "callback_query.data");
  FillUser(r, r.Object(cq, "from", "callback_query.from"), "callback_query.from", e->mutable_from());
  const json::object* message = r.Object(cq, "message", "callback_query.message");
  common::v1::ChatButton* b = e->mutable_button();
  b->set_callback_id(id.value_or(""));
  b->set_data(data.value_or(""));
  if (message != nullptr) {
    if (auto mid = r.Int(message, "message_id", "callback_query.message.message_id")) b->set_message_id(*mid);
    const json::object* chat = r.Object(message, "chat", "callback_query.message.chat");
    if (auto chat_id = r.Id(chat, "id", "callback_query.message.chat.id")) e->set_chat_id(*chat_id);
    b->set_text(ButtonText(message, b->data()));
  }
}

// Kinds we only store: take chat and sender when they are where Telegram usually puts them, never failing.
void ParseOther(const json::object* payload, ChatEvent* e) {
  JsonReader lenient;
  const json::object* chat = lenient.Object(payload, "chat", "chat");
  if (chat == nullptr) {
    chat = lenient.Object(lenient.Object(payload, "message", "message"), "chat", "chat");
  }
  if (auto chat_id = lenient.Id(chat, "id", "chat.id")) e->set_chat_id(*chat_id);
  JsonReader user_reader;
  common::v1::ChatUser user;
  FillUser(user_reader, lenient.Object(payload, "from", "from"), "from", &user);
  if (user_reader.ok()) *e->mutable_from() = user;
}

}  // namespace

bool IsValidSecretToken(std::string_view secret) {
  if (secret.empty() || secret.size() > 256) return false;
  return std::all_of(secret.begin(), secret.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

absl::Status VerifySecretToken(std::string_view expected, std::string_view presented) {
  if (presented.empty()) {
    return WithProviderError(absl::PermissionDeniedError("missing secret token"),
                             ProviderError::kMissingSignature);
  }
  if (expected.empty() || !crypto::ConstantTimeEquals(expected, presented)) {
    return WithProviderError(absl::PermissionDeniedError("bad secret token"), ProviderError::kBadSignature);
  }
  return absl::OkStatus();
}

absl::StatusOr<BotRegistry> BotRegistry::FromEnv(const std::map<std::string, std::string>& env) {
  struct Pending {
    std::string token, secret, token_var, secret_var;
  };
  std::map<std::string, Pending> pending;  // bot id -> what the variables say
  auto add = [&](const std::string& id, bool is_token, const std::string& var,
                 const std::string& value) -> absl::Status {
    Pending& p = pending[id];
    std::string& slot = is_token ? p.token : p.secret;
    std::string& slot_var = is_token ? p.token_var : p.secret_var;
    if (!slot_var.empty()) {
      return absl::InvalidArgumentError(var + " and " + slot_var + " both configure Telegram bot \"" + id +
                                        "\"");
    }
    slot = value;
    slot_var = var;
    return absl::OkStatus();
  };
  for (const auto& [name, value] : env) {
    if (value.empty()) continue;
    absl::Status status;
    if (name == "TELEGRAM_BOT_TOKEN") {
      status = add(kDefaultBotId, true, name, value);
    } else if (name == "TELEGRAM_WEBHOOK_SECRET") {
      status = add(kDefaultBotId, false, name, value);
    } else if (name.starts_with(kTokenPrefix) || name.starts_with(kSecretPrefix)) {
      const bool is_token = name.starts_with(kTokenPrefix);
      std::string_view id =
          std::string_view(name).substr(is_token ? kTokenPrefix.size() : kSecretPrefix.size());
      if (id.empty() || !std::all_of(id.begin(), id.end(), IsBotIdChar)) {
        return absl::InvalidArgumentError(name + ": the bot id after the prefix must be A-Z a-z 0-9 _ -");
      }
      status = add(Lower(id), is_token, name, value);
    } else {
      continue;
    }
    if (!status.ok()) return status;
  }
  BotRegistry registry;
  for (auto& [id, p] : pending) {
    if (p.token_var.empty()) {
      return absl::InvalidArgumentError(p.secret_var + " is set but bot \"" + id + "\" has no token");
    }
    if (p.secret_var.empty()) {
      const std::string want = id == kDefaultBotId && p.token_var == "TELEGRAM_BOT_TOKEN"
                                   ? std::string("TELEGRAM_WEBHOOK_SECRET")
                                   : std::string(kSecretPrefix) + p.token_var.substr(kTokenPrefix.size());
      return absl::InvalidArgumentError(want + " is required with " + p.token_var);
    }
    if (!IsValidSecretToken(p.secret)) {
      return absl::InvalidArgumentError(p.secret_var + " must be 1-256 characters of A-Z a-z 0-9 _ -");
    }
    registry.bots_.push_back(Bot{.id = id, .token = p.token, .webhook_secret = p.secret});
  }
  return registry;  // std::map iteration: already sorted by id
}

const Bot* BotRegistry::Find(std::string_view bot_id) const {
  for (const Bot& bot : bots_) {
    if (bot.id == bot_id) return &bot;
  }
  return nullptr;
}

absl::Status BotRegistry::Authenticate(std::string_view bot_id, std::string_view presented_secret) const {
  const Bot* bot = Find(bot_id);
  if (bot == nullptr)
    return WithProviderError(absl::NotFoundError("unknown bot"), ProviderError::kUnknownBot);
  return VerifySecretToken(bot->webhook_secret, presented_secret);
}

absl::StatusOr<int64_t> ExtractUpdateId(std::string_view body) {
  json::parse_options options;
  options.max_depth = 64;  // as ParseJsonObject
  json::basic_parser<UpdateIdHandler> parser(options);
  boost::system::error_code ec;
  const size_t n = parser.write_some(false, body.data(), body.size(), ec);
  if (ec || n != body.size() || !parser.done()) return Malformed("malformed JSON");
  const UpdateIdHandler& h = parser.handler();
  if (!h.top_is_object) return Malformed("update must be a JSON object");
  if (h.update_id_bad) return Malformed("update_id must be an integer");
  if (!h.update_id) {
    return WithProviderError(absl::InvalidArgumentError("update_id is required"), ProviderError::kMissingId);
  }
  if (*h.update_id < 0) return Malformed("update_id must not be negative");
  return *h.update_id;
}

namespace {

// ParseUpdate, with the reason of a missing update_id attached (ParseUpdate attaches the others).
absl::StatusOr<ChatEvent> ParseUpdateFields(std::string_view bot_id, std::string_view body) {
  absl::StatusOr<json::object> update = ParseJsonObject(body, "update");
  if (!update.ok()) return update.status();
  JsonReader r;
  const auto update_id = r.Int(&*update, "update_id", "update_id");
  // Absent, rather than of the wrong type (then the reader holds that error, and Require adds none).
  const bool missing_id = r.ok() && !update_id.has_value();
  r.Require(update_id.has_value(), "update_id");
  if (!r.ok()) return missing_id ? WithProviderError(r.status(), ProviderError::kMissingId) : r.status();
  if (*update_id < 0) return absl::InvalidArgumentError("update_id must not be negative");

  ChatEvent e;
  e.set_provider(common::v1::PROVIDER_TELEGRAM);
  e.set_bot_id(std::string(bot_id));
  e.set_provider_event_id(std::string(bot_id) + ":" + std::to_string(*update_id));

  // The kind is the one other field (Telegram sends at most one). The kinds we act on must be objects; any
  // other kind is the first object-valued field, whatever its name.
  std::string kind;
  const json::object* payload = nullptr;
  for (const char* known : {"message", "edited_message", "callback_query"}) {
    if ((payload = r.Object(&*update, known, known)) != nullptr) {
      kind = known;
      break;
    }
  }
  if (!r.ok()) return r.status();
  for (auto it = update->begin(); payload == nullptr && it != update->end(); ++it) {
    if (it->key() == "update_id" || !it->value().is_object()) continue;
    kind.assign(it->key().data(), it->key().size());
    payload = &it->value().get_object();
  }
  e.set_provider_event_type(kind);
  if (kind == "message" || kind == "edited_message") {
    ParseMessage(r, payload, kind, &e);
  } else if (kind == "callback_query") {
    ParseCallbackQuery(r, payload, &e);
  } else if (payload != nullptr) {
    ParseOther(payload, &e);
  }
  if (!r.ok()) return r.status();
  return e;
}

}  // namespace

absl::StatusOr<ChatEvent> ParseUpdate(std::string_view bot_id, std::string_view body) {
  absl::StatusOr<ChatEvent> event = ParseUpdateFields(bot_id, body);
  if (!event.ok()) return WithProviderErrorIfNone(event.status(), ProviderError::kMalformed);
  return event;
}

}  // namespace protectogram::providers::telegram
