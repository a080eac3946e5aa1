#include "edge/routes.h"

#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "libs/providers/telegram/telegram.h"

namespace protectogram::edge {
namespace {

using Rows = absl::StatusOr<std::vector<InboxRecord>>;
using Target = ForwardEvent::Target;
using Reply = WebhookRoute::Reply;

constexpr char kTelegramBotPrefix[] = "/webhook/";
constexpr std::string_view kDefaultBot = providers::telegram::kDefaultBotId;

// The bot of /webhook/<bot_id>, lower-cased; "" when the path has no single segment after the prefix.
std::string BotIdOf(const http::Request& request) {
  std::string bot_id = absl::AsciiStrToLower(request.path.substr(sizeof(kTelegramBotPrefix) - 1));
  if (bot_id.find('/') != std::string::npos) return std::string();
  return bot_id;
}

// One entry per webhook (routes.h). The adapters below only pass each check what its route gives it.
constexpr WebhookRoute kRoutes[] = {
    // The default bot. The URL form (?secret=) is what this route documents; the secret_token header is taken
    // too, so the default bot may be registered either way (both at once must agree).
    {.method = "POST",
     .path = "/telegram/webhook",
     .label = "telegram",
     .inbox_provider = kTelegramProviderPrefix,
     .inbox_prefix = true,
     .body_limit = &EdgeConfig::telegram_body_limit_bytes,
     .precheck =
         [](const WebhookCall& head) {
           return PrecheckTelegram(head.config, kDefaultBot, head.request, /*query_secret=*/true);
         },
     .accept = [](const WebhookCall& call) -> Rows {
       absl::StatusOr<std::string_view> secret = TelegramSecret(call.request, /*query_secret=*/true);
       if (!secret.ok()) return secret.status();
       return AcceptTelegram(call.config, kDefaultBot, *secret, call.request.body);
     },
     .translate = TranslateTelegram,
     .target = Target::kIncident},
    // Every bot, by its id in the path; the secret in the X-Telegram-Bot-Api-Secret-Token header.
    {.method = "POST",
     .path = kTelegramBotPrefix,
     .prefix = true,
     .label = "telegram",
     .inbox_provider = kTelegramProviderPrefix,
     .inbox_prefix = true,
     .body_limit = &EdgeConfig::telegram_body_limit_bytes,
     .precheck =
         [](const WebhookCall& head) {
           const std::string bot_id = BotIdOf(head.request);
           if (bot_id.empty()) return Reject(RejectReason::kUnknownBot, "unknown bot");
           return PrecheckTelegram(head.config, bot_id, head.request, /*query_secret=*/false);
         },
     .accept = [](const WebhookCall& call) -> Rows {
       return AcceptTelegram(call.config, BotIdOf(call.request),
                             call.request.Header("x-telegram-bot-api-secret-token"), call.request.body);
     },
     .translate = TranslateTelegram,
     .target = Target::kIncident},
    {.method = "POST",
     .path = "/telnyx/webhook",
     .label = "telnyx",
     .inbox_provider = kTelnyxProvider,
     .body_limit = &EdgeConfig::telnyx_body_limit_bytes,
     .precheck = [](const WebhookCall& head) { return PrecheckTelnyx(head.config, head.request, head.now); },
     .accept = [](const WebhookCall& call) { return AcceptTelnyx(call.config, call.request, call.now); },
     .translate = TranslateTelnyx,
     .target = Target::kTelephony},
    {.method = "POST",
     .path = "/twilio/voice",
     .label = "twilio_voice",
     .inbox_provider = kTwilioVoiceProvider,
     .body_limit = &EdgeConfig::twilio_body_limit_bytes,
     .precheck = [](const WebhookCall& head) { return PrecheckTwilio(head.config, head.request); },
     .accept = [](const WebhookCall& call) { return AcceptTwilioVoice(call.config, call.request); },
     .reply = Reply::kTwiml,
     .translate = TranslateTwilioVoice,
     .target = Target::kTelephony},
    {.method = "POST",
     .path = "/twilio/whatsapp",
     .label = "twilio_whatsapp",
     .inbox_provider = kTwilioWhatsAppProvider,
     .body_limit = &EdgeConfig::twilio_body_limit_bytes,
     .precheck = [](const WebhookCall& head) { return PrecheckTwilio(head.config, head.request); },
     .accept = [](const WebhookCall& call) { return AcceptTwilioWhatsApp(call.config, call.request); },
     .reply = Reply::kTwiml,
     .translate = TranslateTwilioWhatsApp,
     .target = Target::kIncident},
    // Meta's subscription check: answered with hub.challenge, nothing stored.
    {.method = "GET",
     .path = "/whatsapp/webhook",
     .label = "whatsapp",
     .answer = [](const WebhookCall& call) -> absl::StatusOr<http::Response> {
       absl::StatusOr<std::string> challenge = WhatsAppChallenge(call.config, call.request);
       if (!challenge.ok()) return challenge.status();
       return http::Response::Text(200, *std::move(challenge));
     }},
    {.method = "POST",
     .path = "/whatsapp/webhook",
     .label = "whatsapp",
     .inbox_provider = kWhatsAppProvider,
     .body_limit = &EdgeConfig::whatsapp_body_limit_bytes,
     .precheck = [](const WebhookCall& head) { return PrecheckWhatsApp(head.config, head.request); },
     .accept = [](const WebhookCall& call) { return AcceptWhatsApp(call.config, call.request); },
     .translate = TranslateWhatsApp,
     .target = Target::kIncident},
};

}  // namespace

std::span<const WebhookRoute> WebhookRoutes() { return kRoutes; }

const WebhookRoute* WebhookRouteOfLabel(std::string_view route_label) {
  for (const WebhookRoute& route : kRoutes) {
    if (route.path == route_label) return &route;
  }
  return nullptr;
}

const WebhookRoute* WebhookRouteOfInboxProvider(std::string_view provider) {
  for (const WebhookRoute& route : kRoutes) {
    if (route.inbox_provider.empty()) continue;
    if (route.inbox_prefix ? provider.starts_with(route.inbox_provider) : provider == route.inbox_provider) {
      return &route;
    }
  }
  return nullptr;
}

}  // namespace protectogram::edge
