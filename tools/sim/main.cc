// protectogram-sim: the provider simulators and the sandbox console of `make run` (docs/console.md).
// Configured from the environment, with the system's own names where they are shared (TELEGRAM_BOT_TOKEN,
// TELEGRAM_WEBHOOK_SECRET, INCIDENT_ADDR, ADMIN_TOKEN, ...); `protectogram-sim --help` lists them all.
#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/http/server.h"
#include "libs/kernel/config.h"
#include "libs/kernel/log.h"
#include "libs/kernel/shutdown.h"
#include "tools/sim/console_http.h"
#include "tools/sim/sandbox.h"

namespace {

using namespace protectogram;

constexpr char kHelp[] =
    R"(protectogram-sim: Telegram, Telnyx, Twilio, WhatsApp and ARI simulators and the sandbox console.

Environment (defaults in brackets):
  SIM_ADDRESS            address every simulator binds [127.0.0.1]
  SIM_CONSOLE_PORT       the console: the page, GET /api/state, the actions, GET /health [8090]
  SIM_TELEGRAM_PORT      Telegram Bot API (TELEGRAM_API_BASE_URL of the notification service) [8091]
  SIM_TELNYX_PORT        Telnyx Call Control (TELNYX_API_BASE_URL of the telephony service) [8092]
  SIM_TWILIO_PORT        Twilio Voice [8093]
  SIM_WHATSAPP_PORT      WhatsApp Cloud API [8094]
  SIM_ARI_PORT           Asterisk ARI (HTTP and the events WebSocket) [8095]
  SIM_EDGE_URL           where provider webhooks are posted [http://127.0.0.1:8080]
  SIM_TIME_SCALE         simulated call time per real second (0.1: a 25 s ring lasts 2.5 s) [1]
  SIM_PHONES             how calls to each person go, e.g. "boris=console,vera=answer:5:1,gleb=busy"; modes:
                         console (played in the console; Telnyx), answer[:<s to answer>[:<digit>]], no_digit,
                         no_answer, busy, machine, reject, rate_limited (429), server_error (5xx) [console]
  SIM_CHAT_FAULTS        Telegram faults by chat id, e.g. "1003=rate_limited"; rate_limited, server_error, blocked
  SIM_SEED               register the demo family through the bot when missing [true]
  SIM_SEED_TIMEOUT_MS    how long seeding may take [60000]
  TELEGRAM_BOT_TOKEN     the bot the simulator plays [111111:SANDBOX]
  TELEGRAM_BOT_USERNAME  its username [protectogram_sandbox_bot]
  TELEGRAM_WEBHOOK_SECRET  the webhook secret until the bot sets its own with setWebhook [dev-webhook-secret]
  INCIDENT_ADDR          IncidentAdminService, for the timeline and seeding [127.0.0.1:50051]
  ADMIN_TOKEN            its admin token
  LOG_LEVEL              [info]
)";

// "a=b,c=d" -> {a: b, c: d}; false (and `error`) on an item without '='.
bool ParsePairs(const std::string& text, std::map<std::string, std::string>* out, std::string* error) {
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
    if (kv.first.empty() || kv.second.empty()) {
      *error = absl::StrCat("\"", std::string(item), "\" is not name=value");
      return false;
    }
    (*out)[kv.first] = kv.second;
  }
  return true;
}

int Main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::fputs(kHelp, stdout);
      return 0;
    }
    std::fprintf(stderr, "protectogram-sim: unknown argument %s (see --help)\n", argv[i]);
    return 2;
  }
  kernel::BlockShutdownSignals();
  kernel::ProcessEnv env;
  kernel::ConfigReader reader(env);
  sim::SandboxOptions options;
  options.address = reader.Optional("SIM_ADDRESS", "127.0.0.1");
  const uint16_t console_port = reader.Port("SIM_CONSOLE_PORT", 8090);
  options.telegram_port = reader.Port("SIM_TELEGRAM_PORT", 8091);
  options.telnyx_port = reader.Port("SIM_TELNYX_PORT", 8092);
  options.twilio_port = reader.Port("SIM_TWILIO_PORT", 8093);
  options.whatsapp_port = reader.Port("SIM_WHATSAPP_PORT", 8094);
  options.ari_port = reader.Port("SIM_ARI_PORT", 8095);
  options.edge_url = reader.Optional("SIM_EDGE_URL", options.edge_url);
  options.bot_token = reader.Optional("TELEGRAM_BOT_TOKEN", options.bot_token);
  options.bot_username = reader.Optional("TELEGRAM_BOT_USERNAME", options.bot_username);
  options.webhook_secret = reader.Optional("TELEGRAM_WEBHOOK_SECRET", options.webhook_secret);
  options.incident_addr = reader.Optional("INCIDENT_ADDR", options.incident_addr);
  options.admin_token = reader.OptionalSecret("ADMIN_TOKEN", "");
  if (std::optional<std::string> scale = env.Get("SIM_TIME_SCALE"); scale.has_value()) {
    char* end = nullptr;
    const double v = std::strtod(scale->c_str(), &end);
    if (end == scale->c_str() || *end != '\0' || !(v > 0) || v > 1000) {
      reader.AddError(absl::StrCat("SIM_TIME_SCALE must be a number above 0, got \"", *scale, "\""));
    } else {
      options.telnyx_time_scale = v;
    }
  }
  std::string error;
  std::map<std::string, std::string> phones;
  if (!ParsePairs(reader.Optional("SIM_PHONES", ""), &phones, &error))
    reader.AddError("SIM_PHONES: " + error);
  for (const auto& [who, mode] : phones) {
    bool known = false;
    for (const sim::Person& p : options.people) {
      if (p.key == who || p.phone == who) {
        options.phone_modes[p.key] = mode;
        known = true;
      }
    }
    if (!known) reader.AddError(absl::StrCat("SIM_PHONES: nobody is \"", who, "\""));
  }
  if (!ParsePairs(reader.Optional("SIM_CHAT_FAULTS", ""), &options.chat_faults, &error)) {
    reader.AddError("SIM_CHAT_FAULTS: " + error);
  }
  const bool seed = reader.Bool("SIM_SEED", true);
  const absl::Duration seed_timeout =
      reader.Milliseconds("SIM_SEED_TIMEOUT_MS", absl::Seconds(60), absl::Minutes(30));
  const std::string log_level = reader.Optional("LOG_LEVEL", "info");
  if (absl::Status s = reader.Finish(); !s.ok()) {
    std::fprintf(stderr, "config error: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  kernel::InitLogging("sim", log_level);

  absl::StatusOr<std::unique_ptr<sim::Sandbox>> sandbox = sim::Sandbox::Start(options);
  if (!sandbox.ok()) {
    std::fprintf(stderr, "protectogram-sim: %s\n", std::string(sandbox.status().message()).c_str());
    return 1;
  }
  http::Server console({.address = options.address, .port = console_port, .handler_threads = 8},
                       sim::ConsoleRouter(**sandbox));
  if (absl::Status s = console.Start(); !s.ok()) {
    std::fprintf(stderr, "protectogram-sim: the console on port %u: %s\n", console_port,
                 std::string(s.message()).c_str());
    return 1;
  }
  for (const auto& [name, url] : (*sandbox)->Endpoints())
    kernel::LogInfo("simulator", {{"provider", name}, {"url", url}});
  kernel::LogInfo("console", {{"url", absl::StrCat("http://", options.address, ":", console.port(), "/")}});

  kernel::ShutdownSignal signal;
  std::thread seeder;
  if (seed) {
    seeder = std::thread([&] {
      if (absl::Status s = (*sandbox)->Seed(seed_timeout); absl::IsCancelled(s)) {
        return;  // stopping
      } else if (!s.ok()) {
        kernel::LogError("seeding failed", {{"error", std::string(s.message())}});
        signal.Request("seeding failed");
      } else {
        kernel::LogInfo("seeded");
      }
    });
  }
  const std::string why = signal.Wait();
  kernel::LogInfo("stopping", {{"reason", why}});
  (*sandbox)->CancelSeeding();
  if (seeder.joinable()) seeder.join();
  console.Stop(std::chrono::milliseconds(500));
  (*sandbox)->Stop();
  kernel::LogInfo("stopped");
  return why == "seeding failed" ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
