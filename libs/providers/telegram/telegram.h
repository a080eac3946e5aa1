// Telegram Bot API webhooks: the bot registry, the secret-token check and update parsing. Pure functions.
//
// Protocol facts relied on (sources: core.telegram.org/bots/api, tdlib/telegram-bot-api; see
// docs/providers.md):
// - setWebhook `secret_token` comes back on every webhook in header `X-Telegram-Bot-Api-Secret-Token`; it is
//   1-256 characters of A-Z a-z 0-9 _ - (#setwebhook; tdlib Client.cpp refuses others with 400).
// - An Update has `update_id` and at most one of `message`, `edited_message`, `channel_post`,
//   `callback_query`, `my_chat_member`, ... (#update). Telegram retries non-2xx deliveries, so the edge
//   dedups on (bot, update_id).
// - Message: `message_id`, `from` {`id`, `is_bot`, `first_name`, `username`, `language_code`}, `chat` {`id`,
//   `type`}, `date` (Unix s), `text`; or `contact` {`phone_number`, `first_name`, `user_id`}; or a non-text
//   payload `voice`, `sticker`, `photo`, `document`, `video`, `audio`, `location`, ... (#message).
// - CallbackQuery: `id` (string; answerCallbackQuery needs it), `from`, `message` (with its `reply_markup`
//   inline keyboard of {`text`, `callback_data`}), `inline_message_id`, `chat_instance`, `data`
//   (#callbackquery).
// - Ids: user and chat ids fit in 52 bits; group chat ids are negative ("-100..."). We carry them as text.
//
// Every error of the checks and parsers below carries its reason (libs/providers/common/error.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "protectogram/common/v1/events.pb.h"

namespace protectogram::providers::telegram {

// The id of the bot configured by TELEGRAM_BOT_TOKEN / TELEGRAM_WEBHOOK_SECRET.
inline constexpr char kDefaultBotId[] = "main";
// The header Telegram puts the webhook's secret_token in.
inline constexpr char kSecretTokenHeader[] = "X-Telegram-Bot-Api-Secret-Token";

struct Bot {
  std::string id;  // "main", or the lower-cased <ID> of TG_TOKEN_<ID>
  std::string token;
  std::string webhook_secret;
};

// True when `secret` follows Telegram's secret_token rules: 1-256 characters, each A-Z a-z 0-9 _ or -.
bool IsValidSecretToken(std::string_view secret);

// OK when `presented` equals `expected` (compared in constant time). PERMISSION_DENIED("missing secret
// token") when `presented` is empty (kMissingSignature), PERMISSION_DENIED("bad secret token") otherwise
// (kBadSignature); an empty `expected` never matches.
absl::Status VerifySecretToken(std::string_view expected, std::string_view presented);

// Every configured bot, by id.
class BotRegistry {
 public:
  // From environment-like variables (SPEC §10; empty values count as unset):
  //   TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET  -> bot "main"
  //   TG_TOKEN_<ID>, TG_WEBHOOK_SECRET_<ID>        -> bot "<id>": <ID> is A-Z a-z 0-9 _ -, lower-cased
  // INVALID_ARGUMENT naming the variable when a token has no secret or a secret no token, a secret breaks
  // Telegram's rules, <ID> is empty or has other characters, or two variables define the same bot id
  // (TG_TOKEN_MAIN beside TELEGRAM_BOT_TOKEN). No bot at all is not an error here.
  static absl::StatusOr<BotRegistry> FromEnv(const std::map<std::string, std::string>& env);

  // The bot with this exact (lower-case) id, or nullptr.
  const Bot* Find(std::string_view bot_id) const;
  // Every bot, sorted by id.
  const std::vector<Bot>& bots() const { return bots_; }

  // OK when `bot_id` is configured and `presented_secret` is its secret (VerifySecretToken).
  // NOT_FOUND("unknown bot", kUnknownBot) for an unknown id; PERMISSION_DENIED as VerifySecretToken.
  absl::Status Authenticate(std::string_view bot_id, std::string_view presented_secret) const;

 private:
  std::vector<Bot> bots_;
};

// The top-level `update_id` of an update body, without building a document (one SAX pass that still checks
// the whole body is well-formed JSON). INVALID_ARGUMENT if the body is not a JSON object, has no update_id
// (kMissingId), or the update_id is not a non-negative integer (kMalformed, as the others). Agrees with
// ParseUpdate (a repeated key: the last one counts).
absl::StatusOr<int64_t> ExtractUpdateId(std::string_view body);

// The update as a ChatEvent for `bot_id`: provider TELEGRAM, provider_event_id "<bot_id>:<update_id>",
// provider_event_type = the update kind ("message", "edited_message", "callback_query",
// "my_chat_member", ...).
//   message with text         -> text {text, message_id, command, command_args}
//   edited_message with text  -> text {..., edited = true}; other edits carry no body
//   message with contact      -> contact {phone_number, user_id, first_name}
//   voice/sticker/photo/...   -> non_text {kind}
//   callback_query            -> button {callback_id, data, message_id, text of the pressed button};
//                                chat_id from callback_query.message.chat
//   any other kind (my_chat_member, channel_post, ...) or a service message -> no body (stored, then ignored)
// chat_id, from and sent_at are filled whenever the update has them. event_key and received_at are left for
// the edge. INVALID_ARGUMENT with a short reason for malformed JSON, a missing or negative update_id, or a
// field of the wrong type ("message.chat.id is required", "callback_query.id must be a string"): kMissingId
// for a missing update_id, kMalformed for the rest.
absl::StatusOr<common::v1::ChatEvent> ParseUpdate(std::string_view bot_id, std::string_view body);

}  // namespace protectogram::providers::telegram
