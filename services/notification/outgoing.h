// Outgoing: the stored form of a delivery (its outbox row's payload_json), built from a request before
// anything is stored, so that every check — the bot, the recipient, the template and its parameters, the
// keyboard, Telegram's length limit — answers INVALID_ARGUMENT with nothing half-stored; the sender then only
// replays what was built. Pure functions.
//
// A message is one provider request body per part of its text (split.h), in order, the keyboard on the last
// part. An edit names the message it edits by that message's idempotency key; it is built against the
// stored message (its bot and chat). A callback answer is one body. Pacing buckets (config.h, pacing.h):
//   Telegram message  "tg:<bot>" costs its parts, "tg:<bot>:<chat>" costs 1 (the parts go as one burst)
//   Telegram edit     "tg:<bot>" 1, "tg:<bot>:<chat>" 1 (so edits of one message keep their order)
//   callback answer   "tg:<bot>" 1 (never waits for a chat)
//   WhatsApp message  "wa:<phone number id>" costs its parts
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/providers/telegram/bot_api.h"
#include "libs/providers/telegram/telegram.h"
#include "libs/providers/whatsapp/cloud_api.h"
#include "protectogram/notification/v1/notification.pb.h"
#include "services/notification/catalog.h"

namespace protectogram::notification {

// Outbox channels of the service: one per bot, one for WhatsApp, one for outcome reports.
inline constexpr char kTelegramChannelPrefix[] = "telegram:";
inline constexpr char kWhatsAppChannel[] = "whatsapp";
inline constexpr char kIncidentReportChannel[] = "report:incident";

// Priorities in the outbox (higher first).
inline constexpr int kRoutinePriority = 0;
inline constexpr int kAlertPriority = 10;
inline constexpr int kCallbackAnswerPriority = 20;  // a spinner is waiting

struct ReportTo {
  std::string service;
  std::string key;
};

struct Outgoing {
  v1::DeliveryKind kind = v1::DELIVERY_KIND_MESSAGE;
  v1::Channel channel = v1::CHANNEL_TELEGRAM;
  std::string bot_id;   // Telegram
  std::string chat_id;  // a Telegram chat id, or a WhatsApp number in E.164
  // Message and callback answer: the provider request bodies, in order. Edit: empty (built at send time).
  std::vector<std::string> bodies;
  // Edit: the message's key, the new text (nullopt: keep it) and keyboard (nullopt: none).
  std::string target_key;
  std::optional<std::string> text;
  std::optional<providers::telegram::InlineKeyboard> keyboard;
  std::optional<ReportTo> report_to;
  std::string fallback_json;  // the Outgoing to send when this one is dead ("" when none)
  std::string request_json;   // the request as received
  int priority = kRoutinePriority;
  int64_t incident_id = 0;

  // "telegram:<bot>" or "whatsapp".
  std::string OutboxChannel() const;
  std::vector<std::string> PaceKeys(const std::string& whatsapp_number_id) const;
  std::vector<int> PaceCosts() const;
};

// What the builders need to know of the configuration.
struct Recipients {
  const providers::telegram::BotRegistry* bots = nullptr;
  bool whatsapp = false;  // WhatsApp Cloud is configured
};

absl::StatusOr<Outgoing> BuildMessage(const v1::SendRequest& request, const Recipients& recipients,
                                      const Catalog& catalog);
// `target`: the stored message the edit names (NOT_FOUND is the caller's).
absl::StatusOr<Outgoing> BuildEdit(const v1::EditRequest& request, const Outgoing& target,
                                   const Catalog& catalog);
absl::StatusOr<Outgoing> BuildCallbackAnswer(const v1::AnswerCallbackRequest& request,
                                             const Recipients& recipients, const Catalog& catalog);
// A plain text for the operators' chat (bot "main"): dead-letter alerts.
absl::StatusOr<Outgoing> BuildOperatorAlert(std::string_view chat_id, std::string_view text);

// The edit's provider request against the message's Telegram id: editMessageText when it has a text,
// editMessageReplyMarkup otherwise. Returns (method, body).
absl::StatusOr<std::pair<std::string, std::string>> EditCall(const Outgoing& edit, std::string_view chat_id,
                                                             int64_t message_id);

std::string ToJson(const Outgoing& outgoing);
// INVALID_ARGUMENT for a payload this code did not write.
absl::StatusOr<Outgoing> FromJson(std::string_view json);

// The receipt of a message (the outbox row's receipt): the provider ids of the parts sent so far.
std::string ReceiptJson(const std::vector<std::string>& message_ids);
std::vector<std::string> ReceiptIds(std::string_view receipt_json);

}  // namespace protectogram::notification
