#include "services/telephony/providers.h"

#include "services/telephony/ari/ari_provider.h"
#include "services/telephony/telnyx/telnyx_provider.h"
#include "services/telephony/twilio/twilio_provider.h"

namespace protectogram::telephony {
namespace {

std::unique_ptr<TelephonyProvider> MakeTelnyx(kernel::ConfigReader& reader, const ProviderContext& c) {
  TelnyxConfig config;
  config.api_key = reader.RequiredSecret("TELNYX_API_KEY");
  config.connection_id = reader.Required("TELNYX_CONNECTION_ID");
  config.from_number = reader.Required("TELNYX_FROM_NUMBER");
  config.api_base_url = reader.Optional("TELNYX_API_BASE_URL", config.api_base_url);
  config.amd = reader.Optional("TELNYX_AMD", config.amd);
  if (!c.config.public_base_url.empty()) config.webhook_url = c.config.public_base_url + "/telnyx/webhook";
  config.timeout = c.config.provider_timeout;
  if (reader.has_errors()) return nullptr;
  if (absl::Status s = TelnyxProvider::CheckConfig(config); !s.ok()) {
    reader.AddError("telnyx: " + std::string(s.message()));
    return nullptr;
  }
  return std::make_unique<TelnyxProvider>(std::move(config), c.client);
}

std::unique_ptr<TelephonyProvider> MakeTwilio(kernel::ConfigReader& reader, const ProviderContext& c) {
  TwilioConfig config;
  config.account_sid = reader.Required("TWILIO_ACCOUNT_SID");
  config.auth_token = reader.RequiredSecret("TWILIO_AUTH_TOKEN");
  config.from_number = reader.Required("TWILIO_FROM_NUMBER");
  config.api_base_url = reader.Optional("TWILIO_API_BASE_URL", config.api_base_url);
  config.public_base_url = c.config.public_base_url;
  config.timeout = c.config.provider_timeout;
  if (config.public_base_url.empty())
    reader.AddError("twilio needs PUBLIC_BASE_URL (its callbacks go there)");
  if (reader.has_errors()) return nullptr;
  return std::make_unique<TwilioProvider>(std::move(config), c.client);
}

std::unique_ptr<TelephonyProvider> MakeAri(kernel::ConfigReader& reader, const ProviderContext& c) {
  ari::AriConfig config;
  config.http_url = reader.Required("ARI_HTTP_URL");
  config.username = reader.Required("ARI_USERNAME");
  config.password = reader.RequiredSecret("ARI_PASSWORD");
  config.app = reader.Optional("ARI_APP", config.app);
  config.endpoint_template = reader.Optional("ARI_ENDPOINT_TEMPLATE", config.endpoint_template);
  config.caller_id = reader.Optional("DEFAULT_CALLER_ID", "");
  config.timeout = c.config.provider_timeout;
  if (reader.has_errors()) return nullptr;
  absl::StatusOr<std::unique_ptr<ari::AriProvider>> ari = ari::AriProvider::Create(std::move(config));
  if (!ari.ok()) {
    reader.AddError("ari: " + std::string(ari.status().message()));
    return nullptr;
  }
  return *std::move(ari);
}

}  // namespace

const std::vector<ProviderEntry>& ProviderEntries() {
  static const std::vector<ProviderEntry> kEntries = {
      {"telnyx", MakeTelnyx},
      {"twilio", MakeTwilio},
      {"ari", MakeAri},
  };
  return kEntries;
}

absl::Status BuildProviders(const kernel::Env& env, const ProviderContext& context, ProviderSet& out) {
  kernel::ConfigReader reader(env);
  for (const std::string& name : context.config.providers) {
    for (const ProviderEntry& entry : ProviderEntries()) {
      if (entry.name != name) continue;
      std::unique_ptr<TelephonyProvider> provider = entry.make(reader, context);
      if (provider != nullptr) out.Add(std::move(provider));
    }
  }
  return reader.Finish();
}

}  // namespace protectogram::telephony
