#include "services/telephony/config.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace protectogram::telephony {
namespace {

constexpr std::string_view kKnownProviders[] = {"telnyx", "twilio", "ari"};

bool Known(std::string_view name) {
  for (std::string_view p : kKnownProviders) {
    if (p == name) return true;
  }
  return false;
}

// The providers whose credentials are set, in the default order.
std::vector<std::string> ConfiguredProviders(const kernel::Env& env) {
  std::vector<std::string> out;
  if (env.Get("TELNYX_API_KEY").value_or("") != "") out.push_back("telnyx");
  if (env.Get("TWILIO_ACCOUNT_SID").value_or("") != "") out.push_back("twilio");
  if (env.Get("ARI_HTTP_URL").value_or("") != "") out.push_back("ari");
  return out;
}

}  // namespace

std::string NormalizeLanguage(std::string_view language, std::string_view fallback) {
  std::string l(absl::StripAsciiWhitespace(absl::string_view(language.data(), language.size())));
  if (l.empty()) return std::string(fallback);
  std::replace(l.begin(), l.end(), '_', '-');
  if (l.find('-') != std::string::npos) {
    std::vector<std::string> parts = absl::StrSplit(l, '-');
    return absl::AsciiStrToLower(parts[0]) + "-" + absl::AsciiStrToUpper(parts[1]);
  }
  l = absl::AsciiStrToLower(l);
  static const std::pair<std::string_view, std::string_view> kRegions[] = {
      {"ru", "ru-RU"}, {"en", "en-US"}, {"de", "de-DE"}, {"es", "es-ES"}, {"fr", "fr-FR"},
      {"it", "it-IT"}, {"uk", "uk-UA"}, {"pt", "pt-BR"}, {"tr", "tr-TR"}, {"pl", "pl-PL"}};
  for (const auto& [short_name, full] : kRegions) {
    if (l == short_name) return std::string(full);
  }
  return l + "-" + absl::AsciiStrToUpper(l);
}

absl::StatusOr<TelephonyConfig> LoadTelephonyConfig(const kernel::Env& env, kernel::AppEnv app_env) {
  kernel::ConfigReader reader(env);
  TelephonyConfig config;
  config.app_env = app_env;

  const std::string order = reader.Optional("TELEPHONY_PROVIDERS", "");
  if (order.empty()) {
    config.providers = ConfiguredProviders(env);
  } else {
    for (absl::string_view part : absl::StrSplit(order, ',', absl::SkipWhitespace())) {
      std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(part));
      if (!Known(name)) {
        reader.AddError("TELEPHONY_PROVIDERS: unknown provider \"" + name +
                        "\" (known: telnyx, twilio, ari)");
        continue;
      }
      if (std::find(config.providers.begin(), config.providers.end(), name) != config.providers.end()) {
        reader.AddError("TELEPHONY_PROVIDERS names " + name + " twice");
        continue;
      }
      config.providers.push_back(name);
    }
  }
  if (config.providers.empty() && app_env != kernel::AppEnv::kDev) {
    reader.AddError("TELEPHONY_PROVIDERS (or a provider's credentials) is required in " +
                    std::string(kernel::AppEnvName(app_env)));
  }

  config.public_base_url = reader.Optional("PUBLIC_BASE_URL", "");
  while (absl::EndsWith(config.public_base_url, "/")) config.public_base_url.pop_back();
  config.incident_addr = reader.Optional("INCIDENT_ADDR", config.incident_addr);
  for (absl::string_view part :
       absl::StrSplit(reader.Optional("STAGING_ALLOWED_NUMBERS", ""), ',', absl::SkipWhitespace())) {
    std::string number(absl::StripAsciiWhitespace(part));
    if (!IsE164(number)) {
      reader.AddError("STAGING_ALLOWED_NUMBERS: \"" + number + "\" is not an E.164 number");
      continue;
    }
    config.staging_allowed_numbers.insert(number);
  }

  constexpr int64_t kMaxCap = 1'000'000;
  config.caps.calls_per_hour =
      reader.Int("TELEPHONY_MAX_CALLS_PER_HOUR", config.caps.calls_per_hour, 0, kMaxCap);
  config.caps.calls_per_day =
      reader.Int("TELEPHONY_MAX_CALLS_PER_DAY", config.caps.calls_per_day, 0, kMaxCap);
  config.caps.ring_minutes_per_hour =
      reader.Int("TELEPHONY_MAX_RING_MINUTES_PER_HOUR", config.caps.ring_minutes_per_hour, 0, kMaxCap);
  config.caps.ring_minutes_per_day =
      reader.Int("TELEPHONY_MAX_RING_MINUTES_PER_DAY", config.caps.ring_minutes_per_day, 0, kMaxCap);

  config.default_ring_timeout_sec =
      static_cast<int>(reader.Int("TELEPHONY_RING_TIMEOUT_SEC", config.default_ring_timeout_sec, 5, 600));
  config.ring_grace = reader.Milliseconds("TELEPHONY_RING_GRACE_MS", config.ring_grace, absl::Minutes(10));
  config.provider_timeout =
      reader.Milliseconds("TELEPHONY_PROVIDER_TIMEOUT_MS", config.provider_timeout, absl::Minutes(1));
  if (config.provider_timeout <= absl::ZeroDuration()) {
    reader.AddError("TELEPHONY_PROVIDER_TIMEOUT_MS must be above 0");
  }
  config.job_lease = reader.Milliseconds("TELEPHONY_JOB_LEASE_MS", config.job_lease, absl::Hours(1));
  if (config.job_lease <= config.provider_timeout) {
    reader.AddError("TELEPHONY_JOB_LEASE_MS must be longer than TELEPHONY_PROVIDER_TIMEOUT_MS");
  }
  config.default_text = reader.Optional("TELEPHONY_DEFAULT_TEXT", config.default_text);
  config.default_language =
      NormalizeLanguage(reader.Optional("TELEPHONY_DEFAULT_LANGUAGE", config.default_language), "en-US");
  config.worker_threads =
      static_cast<int>(reader.Int("TELEPHONY_WORKER_THREADS", config.worker_threads, 1, 64));

  if (absl::Status s = reader.Finish(); !s.ok()) return s;
  return config;
}

}  // namespace protectogram::telephony
