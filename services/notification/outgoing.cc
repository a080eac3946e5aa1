#include "services/notification/outgoing.h"

#include <google/protobuf/util/json_util.h>

#include <boost/json.hpp>

#include "absl/strings/str_cat.h"
#include "services/notification/split.h"

namespace protectogram::notification {
namespace {

namespace json = boost::json;
namespace tg = providers::telegram;

constexpr size_t kWhatsAppTextLimit = 4096;

std::string RequestJson(const google::protobuf::Message& request) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(request, &out, options);
  return out;
}

// The text of a request: literal, or its template rendered. `what` names the field for errors.
absl::StatusOr<std::string> TextOf(const std::string& text, const std::string& template_id,
                                   const std::string& locale,
                                   const google::protobuf::Map<std::string, std::string>& params,
                                   const Catalog& catalog) {
  if (!template_id.empty()) {
    if (!text.empty()) return absl::InvalidArgumentError("give either text or template_id, not both");
    const Params p(params.begin(), params.end());
    return catalog.Render(template_id, locale.empty() ? "ru" : locale, p);
  }
  if (!params.empty() || !locale.empty()) {
    return absl::InvalidArgumentError("locale and params go with template_id");
  }
  return text;
}

absl::StatusOr<tg::InlineKeyboard> InlineKeyboardOf(
    const google::protobuf::RepeatedPtrField<v1::ButtonRow>& rows) {
  tg::InlineKeyboard keyboard;
  for (const v1::ButtonRow& row : rows) {
    std::vector<tg::InlineButton>& out = keyboard.emplace_back();
    for (const v1::Button& b : row.buttons()) out.push_back({b.text(), b.data()});
  }
  if (absl::Status s = tg::ValidateInlineKeyboard(keyboard); !s.ok()) return s;
  return keyboard;
}

absl::StatusOr<tg::ReplyMarkup> MarkupOf(const v1::SendRequest& r, const Catalog& catalog) {
  int forms =
      (r.buttons_size() > 0) + (r.inline_keyboard_size() > 0) + r.has_contact_request() + r.remove_keyboard();
  if (forms > 1) {
    return absl::InvalidArgumentError(
        "give at most one of buttons, inline_keyboard, contact_request and remove_keyboard");
  }
  if (r.buttons_size() > 0) {
    google::protobuf::RepeatedPtrField<v1::ButtonRow> rows;
    for (const v1::Button& b : r.buttons()) *rows.Add()->add_buttons() = b;
    return InlineKeyboardOf(rows);
  }
  if (r.inline_keyboard_size() > 0) return InlineKeyboardOf(r.inline_keyboard());
  if (r.has_contact_request()) {
    const v1::ContactRequest& c = r.contact_request();
    absl::StatusOr<std::string> label =
        c.button_template_id().empty()
            ? absl::StatusOr<std::string>(c.button_text())
            : catalog.Render(c.button_template_id(), r.locale().empty() ? "ru" : r.locale(), {});
    if (!label.ok()) return label.status();
    tg::ReplyKeyboard keyboard{.rows = {{{.text = *label, .request_contact = true}}},
                               .one_time_keyboard = true};
    if (absl::Status s = tg::ValidateReplyKeyboard(keyboard); !s.ok()) return s;
    return keyboard;
  }
  if (r.remove_keyboard()) return tg::RemoveKeyboard{};
  return std::monostate{};
}

json::value KeyboardJson(const tg::InlineKeyboard& keyboard) {
  json::array rows;
  for (const auto& row : keyboard) {
    json::array buttons;
    for (const tg::InlineButton& b : row)
      buttons.push_back(json::object{{"text", b.text}, {"data", b.callback_data}});
    rows.push_back(std::move(buttons));
  }
  return rows;
}

absl::StatusOr<tg::InlineKeyboard> KeyboardFromJson(const json::value& v) {
  tg::InlineKeyboard keyboard;
  if (!v.is_array()) return absl::InvalidArgumentError("keyboard must be an array");
  for (const json::value& row : v.as_array()) {
    if (!row.is_array()) return absl::InvalidArgumentError("keyboard row must be an array");
    std::vector<tg::InlineButton>& out = keyboard.emplace_back();
    for (const json::value& b : row.as_array()) {
      if (!b.is_object() || !b.as_object().contains("text") || !b.as_object().contains("data")) {
        return absl::InvalidArgumentError("keyboard button must have text and data");
      }
      out.push_back({json::value_to<std::string>(b.at("text")), json::value_to<std::string>(b.at("data"))});
    }
  }
  return keyboard;
}

std::string StringOr(const json::object& o, std::string_view key, std::string fallback = "") {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : fallback;
}

// The WhatsApp message of a text (no keyboards on WhatsApp: a fallback keeps only the words).
absl::StatusOr<Outgoing> WhatsAppMessage(const std::string& to, const std::string& text,
                                         const Recipients& recipients) {
  if (!recipients.whatsapp) return absl::InvalidArgumentError("WhatsApp is not configured");
  Outgoing out;
  out.channel = v1::CHANNEL_WHATSAPP;
  out.chat_id = to;
  for (const std::string& part : SplitMessage(text, kWhatsAppTextLimit)) {
    absl::StatusOr<std::string> body = providers::whatsapp::TextMessageBody(to, part);
    if (!body.ok()) return body.status();
    out.bodies.push_back(*std::move(body));
  }
  return out;
}

absl::StatusOr<Outgoing> TelegramMessage(const std::string& bot_id, const std::string& chat_id,
                                         const std::string& text, const tg::ReplyMarkup& markup,
                                         const Recipients& recipients) {
  if (recipients.bots == nullptr || recipients.bots->Find(bot_id) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unknown bot ", bot_id));
  }
  Outgoing out;
  out.channel = v1::CHANNEL_TELEGRAM;
  out.bot_id = bot_id;
  out.chat_id = chat_id;
  const std::vector<std::string> parts = SplitMessage(text, kTelegramMessageLimit);
  for (size_t i = 0; i < parts.size(); ++i) {
    absl::StatusOr<std::string> body =
        tg::SendMessageBody(chat_id, parts[i], i + 1 == parts.size() ? markup : tg::ReplyMarkup{});
    if (!body.ok()) return body.status();
    out.bodies.push_back(*std::move(body));
  }
  return out;
}

}  // namespace

std::string Outgoing::OutboxChannel() const {
  return channel == v1::CHANNEL_WHATSAPP ? kWhatsAppChannel : absl::StrCat(kTelegramChannelPrefix, bot_id);
}

std::vector<std::string> Outgoing::PaceKeys(const std::string& whatsapp_number_id) const {
  if (channel == v1::CHANNEL_WHATSAPP) return {absl::StrCat("wa:", whatsapp_number_id)};
  if (kind == v1::DELIVERY_KIND_CALLBACK_ANSWER) return {absl::StrCat("tg:", bot_id)};
  return {absl::StrCat("tg:", bot_id), absl::StrCat("tg:", bot_id, ":", chat_id)};
}

std::vector<int> Outgoing::PaceCosts() const {
  const int parts = std::max<int>(1, static_cast<int>(bodies.size()));
  if (channel == v1::CHANNEL_WHATSAPP) return {parts};
  if (kind == v1::DELIVERY_KIND_CALLBACK_ANSWER) return {1};
  return {parts, 1};
}

absl::StatusOr<Outgoing> BuildMessage(const v1::SendRequest& request, const Recipients& recipients,
                                      const Catalog& catalog) {
  if (request.idempotency_key().empty()) return absl::InvalidArgumentError("idempotency_key is required");
  if (request.chat_id().empty()) return absl::InvalidArgumentError("chat_id is required");
  absl::StatusOr<std::string> text =
      TextOf(request.text(), request.template_id(), request.locale(), request.params(), catalog);
  if (!text.ok()) return text.status();
  if (text->empty()) return absl::InvalidArgumentError("text is empty (give text or template_id)");
  absl::StatusOr<tg::ReplyMarkup> markup = MarkupOf(request, catalog);
  if (!markup.ok()) return markup.status();
  const std::string bot_id = request.bot_id().empty() ? tg::kDefaultBotId : request.bot_id();

  absl::StatusOr<Outgoing> out = absl::InvalidArgumentError("unknown channel");
  if (request.channel() == v1::CHANNEL_WHATSAPP) {
    if (!std::holds_alternative<std::monostate>(*markup)) {
      return absl::InvalidArgumentError("keyboards are for Telegram only");
    }
    out = WhatsAppMessage(request.chat_id(), *text, recipients);
  } else if (request.channel() == v1::CHANNEL_TELEGRAM || request.channel() == v1::CHANNEL_UNSPECIFIED) {
    out = TelegramMessage(bot_id, request.chat_id(), *text, *markup, recipients);
  }
  if (!out.ok()) return out.status();

  if (request.has_fallback()) {
    const v1::Fallback& f = request.fallback();
    if (f.chat_id().empty()) return absl::InvalidArgumentError("fallback.chat_id is required");
    absl::StatusOr<Outgoing> fallback =
        f.channel() == v1::CHANNEL_WHATSAPP
            ? WhatsAppMessage(f.chat_id(), *text, recipients)
            : TelegramMessage(f.bot_id().empty() ? tg::kDefaultBotId : f.bot_id(), f.chat_id(), *text, {},
                              recipients);
    if (!fallback.ok())
      return absl::InvalidArgumentError(absl::StrCat("fallback: ", fallback.status().message()));
    fallback->priority = request.priority() == v1::PRIORITY_ALERT ? kAlertPriority : kRoutinePriority;
    fallback->incident_id = request.incident_id();
    out->fallback_json = ToJson(*fallback);
  }
  if (request.has_report_to()) {
    if (request.report_to().service() != "incident") {
      return absl::InvalidArgumentError(absl::StrCat("report_to.service must be \"incident\", got \"",
                                                     request.report_to().service(), "\""));
    }
    if (request.report_to().key().empty()) return absl::InvalidArgumentError("report_to.key is required");
    out->report_to = ReportTo{request.report_to().service(), request.report_to().key()};
  }
  out->kind = v1::DELIVERY_KIND_MESSAGE;
  out->priority = request.priority() == v1::PRIORITY_ALERT ? kAlertPriority : kRoutinePriority;
  out->incident_id = request.incident_id();
  out->request_json = RequestJson(request);
  return out;
}

absl::StatusOr<Outgoing> BuildEdit(const v1::EditRequest& request, const Outgoing& target,
                                   const Catalog& catalog) {
  if (request.idempotency_key().empty()) return absl::InvalidArgumentError("idempotency_key is required");
  if (target.kind != v1::DELIVERY_KIND_MESSAGE || target.channel != v1::CHANNEL_TELEGRAM) {
    return absl::InvalidArgumentError("only Telegram messages can be edited");
  }
  Outgoing out;
  out.kind = v1::DELIVERY_KIND_EDIT;
  out.channel = v1::CHANNEL_TELEGRAM;
  out.bot_id = target.bot_id;
  out.chat_id = target.chat_id;
  out.target_key = request.target_key();
  absl::StatusOr<std::string> text =
      TextOf(request.text(), request.template_id(), request.locale(), request.params(), catalog);
  if (!text.ok()) return text.status();
  if (!text->empty()) {
    if (Utf16Length(*text) > kTelegramMessageLimit) {
      return absl::InvalidArgumentError("an edit's text must fit one message (4096 UTF-16 code units)");
    }
    out.text = *text;
  }
  if (request.inline_keyboard_size() > 0) {
    if (request.remove_keyboard())
      return absl::InvalidArgumentError("give inline_keyboard or remove_keyboard");
    absl::StatusOr<tg::InlineKeyboard> keyboard = InlineKeyboardOf(request.inline_keyboard());
    if (!keyboard.ok()) return keyboard.status();
    out.keyboard = *std::move(keyboard);
  } else if (!out.text.has_value() && !request.remove_keyboard()) {
    return absl::InvalidArgumentError("an edit needs a text, an inline_keyboard or remove_keyboard");
  }
  // Validate the provider request now, with a stand-in message id.
  if (absl::StatusOr<std::pair<std::string, std::string>> call = EditCall(out, out.chat_id, 1); !call.ok()) {
    return call.status();
  }
  out.priority = target.priority;
  out.incident_id = target.incident_id;
  out.request_json = RequestJson(request);
  return out;
}

absl::StatusOr<Outgoing> BuildCallbackAnswer(const v1::AnswerCallbackRequest& request,
                                             const Recipients& recipients, const Catalog& catalog) {
  if (request.callback_query_id().empty()) return absl::InvalidArgumentError("callback_query_id is required");
  const std::string bot_id = request.bot_id().empty() ? tg::kDefaultBotId : request.bot_id();
  if (recipients.bots == nullptr || recipients.bots->Find(bot_id) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unknown bot ", bot_id));
  }
  absl::StatusOr<std::string> text =
      TextOf(request.text(), request.template_id(), request.locale(), request.params(), catalog);
  if (!text.ok()) return text.status();
  absl::StatusOr<std::string> body =
      tg::AnswerCallbackQueryBody(request.callback_query_id(), *text, request.show_alert());
  if (!body.ok()) return body.status();
  Outgoing out;
  out.kind = v1::DELIVERY_KIND_CALLBACK_ANSWER;
  out.channel = v1::CHANNEL_TELEGRAM;
  out.bot_id = bot_id;
  out.bodies.push_back(*std::move(body));
  out.priority = kCallbackAnswerPriority;
  out.request_json = RequestJson(request);
  return out;
}

absl::StatusOr<Outgoing> BuildOperatorAlert(std::string_view chat_id, std::string_view text) {
  absl::StatusOr<std::string> body = tg::SendMessageBody(chat_id, text);
  if (!body.ok()) return body.status();
  Outgoing out;
  out.kind = v1::DELIVERY_KIND_OPERATOR_ALERT;
  out.channel = v1::CHANNEL_TELEGRAM;
  out.bot_id = tg::kDefaultBotId;
  out.chat_id = std::string(chat_id);
  out.bodies.push_back(*std::move(body));
  out.priority = kAlertPriority;
  out.request_json = "{}";
  return out;
}

absl::StatusOr<std::pair<std::string, std::string>> EditCall(const Outgoing& edit, std::string_view chat_id,
                                                             int64_t message_id) {
  if (edit.text.has_value()) {
    absl::StatusOr<std::string> body =
        tg::EditMessageTextBody(chat_id, message_id, *edit.text, edit.keyboard);
    if (!body.ok()) return body.status();
    return std::make_pair(std::string("editMessageText"), *std::move(body));
  }
  absl::StatusOr<std::string> body = tg::EditMessageReplyMarkupBody(chat_id, message_id, edit.keyboard);
  if (!body.ok()) return body.status();
  return std::make_pair(std::string("editMessageReplyMarkup"), *std::move(body));
}

std::string ToJson(const Outgoing& o) {
  json::object obj;
  obj["kind"] = v1::DeliveryKind_Name(o.kind);
  obj["channel"] = v1::Channel_Name(o.channel);
  obj["bot"] = o.bot_id;
  obj["chat"] = o.chat_id;
  json::array bodies;
  for (const std::string& b : o.bodies) bodies.push_back(json::parse(b));
  obj["bodies"] = std::move(bodies);
  if (!o.target_key.empty()) obj["target"] = o.target_key;
  if (o.text.has_value()) obj["text"] = *o.text;
  if (o.keyboard.has_value()) obj["keyboard"] = KeyboardJson(*o.keyboard);
  if (o.report_to.has_value())
    obj["report_to"] = json::object{{"service", o.report_to->service}, {"key", o.report_to->key}};
  if (!o.fallback_json.empty()) obj["fallback"] = json::parse(o.fallback_json);
  obj["request"] = o.request_json.empty() ? json::value(json::object{}) : json::parse(o.request_json);
  obj["priority"] = o.priority;
  obj["incident_id"] = o.incident_id;
  return json::serialize(obj);
}

absl::StatusOr<Outgoing> FromJson(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return absl::InvalidArgumentError("delivery payload is not a JSON object");
  const json::object& o = v.as_object();
  Outgoing out;
  if (!v1::DeliveryKind_Parse(StringOr(o, "kind"), &out.kind) ||
      !v1::Channel_Parse(StringOr(o, "channel"), &out.channel)) {
    return absl::InvalidArgumentError("delivery payload has no kind or channel");
  }
  out.bot_id = StringOr(o, "bot");
  out.chat_id = StringOr(o, "chat");
  if (const json::value* bodies = o.if_contains("bodies"); bodies != nullptr && bodies->is_array()) {
    for (const json::value& b : bodies->as_array()) out.bodies.push_back(json::serialize(b));
  }
  out.target_key = StringOr(o, "target");
  if (const json::value* t = o.if_contains("text"); t != nullptr && t->is_string())
    out.text = std::string(t->as_string());
  if (const json::value* k = o.if_contains("keyboard"); k != nullptr) {
    absl::StatusOr<tg::InlineKeyboard> keyboard = KeyboardFromJson(*k);
    if (!keyboard.ok()) return keyboard.status();
    out.keyboard = *std::move(keyboard);
  }
  if (const json::value* r = o.if_contains("report_to"); r != nullptr && r->is_object()) {
    out.report_to = ReportTo{StringOr(r->as_object(), "service"), StringOr(r->as_object(), "key")};
  }
  if (const json::value* f = o.if_contains("fallback"); f != nullptr && f->is_object())
    out.fallback_json = json::serialize(*f);
  if (const json::value* r = o.if_contains("request"); r != nullptr) out.request_json = json::serialize(*r);
  if (const json::value* p = o.if_contains("priority"); p != nullptr && p->is_int64())
    out.priority = static_cast<int>(p->as_int64());
  if (const json::value* i = o.if_contains("incident_id"); i != nullptr && i->is_int64())
    out.incident_id = i->as_int64();
  return out;
}

std::string ReceiptJson(const std::vector<std::string>& message_ids) {
  json::array ids;
  for (const std::string& id : message_ids) ids.push_back(json::string(id));
  return json::serialize(json::object{{"ids", std::move(ids)}});
}

std::vector<std::string> ReceiptIds(std::string_view receipt_json) {
  std::vector<std::string> ids;
  if (receipt_json.empty()) return ids;
  boost::system::error_code ec;
  json::value v = json::parse(receipt_json, ec);
  if (ec || !v.is_object()) return ids;
  if (const json::value* a = v.as_object().if_contains("ids"); a != nullptr && a->is_array()) {
    for (const json::value& id : a->as_array()) {
      if (id.is_string()) ids.emplace_back(id.as_string());
    }
  }
  return ids;
}

}  // namespace protectogram::notification
