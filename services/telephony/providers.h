// The list of telephony providers: each entry names a provider (as TELEPHONY_PROVIDERS does) and builds it from
// its environment variables. Adding a provider = a folder services/telephony/<name>/ with its
// TelephonyProvider, and one entry here.
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/http/client.h"
#include "libs/kernel/config.h"
#include "services/telephony/config.h"
#include "services/telephony/provider.h"
#include "services/telephony/telephony_service.h"

namespace protectogram::telephony {

struct ProviderContext {
  const TelephonyConfig& config;
  http::Client& client;
};

struct ProviderEntry {
  std::string_view name;
  // Reads the provider's variables through `reader` (its errors name every missing one) and builds it.
  std::function<std::unique_ptr<TelephonyProvider>(kernel::ConfigReader& reader,
                                                   const ProviderContext& context)>
      make;
};

// telnyx, twilio, ari.
const std::vector<ProviderEntry>& ProviderEntries();

// The providers named in config.providers, built from `env`. INVALID_ARGUMENT naming every missing or bad
// variable of those providers.
absl::Status BuildProviders(const kernel::Env& env, const ProviderContext& context, ProviderSet& out);

}  // namespace protectogram::telephony
