#include "tests/fuzz/providers/fuzz_entries.h"

#include <string_view>

#include "libs/crypto/digest.h"
#include "libs/crypto/encoding.h"
#include "libs/providers/ari/ari.h"
#include "libs/providers/common/error.h"
#include "libs/providers/common/form.h"
#include "libs/providers/telegram/telegram.h"
#include "libs/providers/telnyx/telnyx.h"
#include "libs/providers/twilio/twilio.h"
#include "libs/providers/whatsapp/whatsapp.h"

namespace protectogram::providers::fuzz {
namespace {

std::string_view View(const uint8_t* data, size_t size) {
  return size == 0 ? std::string_view() : std::string_view(reinterpret_cast<const char*>(data), size);
}

// A message must serialize and parse back to itself: proto3 refuses invalid UTF-8 in string fields on parse.
template <typename Message>
std::string RoundTrip(const Message& m) {
  std::string wire;
  if (!m.SerializeToString(&wire)) return "event does not serialize";
  Message back;
  if (!back.ParseFromString(wire)) return "event does not parse back (invalid UTF-8?)";
  if (back.SerializeAsString() != wire) return "event changes on a round trip";
  return "";
}

// Splits off the first line ("" when there is no newline).
std::string_view TakeLine(std::string_view& rest) {
  size_t nl = rest.find('\n');
  if (nl == std::string_view::npos) {
    std::string_view line = rest;
    rest = std::string_view();
    return line;
  }
  std::string_view line = rest.substr(0, nl);
  rest.remove_prefix(nl + 1);
  return line;
}

}  // namespace

std::string FuzzAriEvent(const uint8_t* data, size_t size) {
  std::string_view rest = View(data, size);
  absl::StatusOr<common::v1::CallEvent> event = ari::ParseEvent(rest);
  if (event.ok()) {
    if (std::string broken = RoundTrip(*event); !broken.empty()) return broken;
    if (event->provider_event_id().empty()) return "event without id";
    absl::StatusOr<common::v1::CallEvent> again = ari::ParseEvent(rest);
    if (!again.ok() || again->provider_event_id() != event->provider_event_id()) return "event id not stable";
  } else if (event.status().code() != absl::StatusCode::kInvalidArgument) {
    return "ParseEvent: not INVALID_ARGUMENT";
  } else if (ProviderErrorOf(event.status()) != ProviderError::kMalformed) {
    return "ParseEvent: an error without its reason";
  }
  absl::StatusOr<ari::Channel> channel = ari::ParseChannel(rest);
  if (channel.ok() && channel->id.empty()) return "channel without id";
  if (!channel.ok() && channel.status().code() != absl::StatusCode::kInvalidArgument) {
    return "ParseChannel: not INVALID_ARGUMENT";
  }
  const std::string_view number = TakeLine(rest);
  absl::StatusOr<std::string> endpoint = ari::EndpointFor("PJSIP/{number}@trunk", number);
  if (endpoint.ok()) {
    if (number.empty() || number.front() != '+' ||
        number.find_first_not_of("0123456789", 1) != std::string_view::npos) {
      return "EndpointFor took a number that is not E.164";
    }
    if (*endpoint != "PJSIP/" + std::string(number) + "@trunk") return "EndpointFor changed the number";
  }
  return "";
}

std::string FuzzTelegramUpdate(const uint8_t* data, size_t size) {
  const std::string_view body = View(data, size);
  absl::StatusOr<common::v1::ChatEvent> event = telegram::ParseUpdate("fuzz", body);
  absl::StatusOr<int64_t> update_id = telegram::ExtractUpdateId(body);
  const bool parse_malformed = !event.ok() && event.status().message() == "malformed JSON";
  const bool extract_malformed = !update_id.ok() && update_id.status().message() == "malformed JSON";
  if (parse_malformed != extract_malformed)
    return "ParseUpdate and ExtractUpdateId disagree on malformed JSON";
  if (!event.ok()) {
    if (event.status().code() != absl::StatusCode::kInvalidArgument)
      return "ParseUpdate: not INVALID_ARGUMENT";
    return "";
  }
  if (!update_id.ok()) return "ParseUpdate accepted what ExtractUpdateId refused";
  if (event->provider_event_id() != "fuzz:" + std::to_string(*update_id)) return "update_id mismatch";
  return RoundTrip(*event);
}

std::string FuzzTelnyxEvent(const uint8_t* data, size_t size) {
  std::string_view rest = View(data, size);
  // Whole input as a body.
  absl::StatusOr<common::v1::CallEvent> event = telnyx::ParseEvent(rest);
  if (event.ok()) {
    if (std::string broken = RoundTrip(*event); !broken.empty()) return broken;
  } else if (event.status().code() != absl::StatusCode::kInvalidArgument) {
    return "ParseEvent: not INVALID_ARGUMENT";
  }
  // "<signature>\n<timestamp>\n<body>" against RFC 8032 TEST 2's public key; the fuzzer cannot know a valid
  // signature for it, and the window is centred on the given timestamp so the signature check always runs.
  const std::string_view signature = TakeLine(rest);
  const std::string_view timestamp = TakeLine(rest);
  int64_t seconds = 0;
  for (char c : timestamp.substr(0, 18)) seconds = seconds * 10 + ((c >= '0' && c <= '9') ? c - '0' : 0);
  absl::Status verified = telnyx::VerifyWebhook("PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw=", signature,
                                                timestamp, rest, absl::FromUnixSeconds(seconds));
  if (verified.ok()) return "VerifyWebhook accepted a forged signature";
  return "";
}

std::string FuzzTwilioForm(const uint8_t* data, size_t size) {
  const std::string_view body = View(data, size);
  absl::StatusOr<FormParams> params = ParseForm(body);
  if (!params.ok()) {
    if (params.status().code() != absl::StatusCode::kInvalidArgument)
      return "ParseForm: not INVALID_ARGUMENT";
    return "";
  }
  if (absl::StatusOr<common::v1::CallEvent> call = twilio::ParseVoiceCallback(*params); call.ok()) {
    if (std::string broken = RoundTrip(*call); !broken.empty()) return broken;
  }
  if (absl::StatusOr<common::v1::ChatEvent> chat = twilio::ParseWhatsAppInbound(*params); chat.ok()) {
    if (std::string broken = RoundTrip(*chat); !broken.empty()) return broken;
  }
  // The URL is fuzzed too (the "Url" field, else a fixed one), so the port variants see odd URLs.
  const std::string* fuzzed_url = FormValue(*params, "Url");
  const std::string url = fuzzed_url != nullptr ? *fuzzed_url : "https://example.com:8443/tw?x=1";
  const std::string signature = twilio::ComputeSignature("token", url, *params);
  if (!twilio::VerifySignature("token", url, *params, signature).ok()) return "own signature does not verify";
  if (twilio::VerifySignature("other", url, *params, signature).ok())
    return "signature verifies under another key";
  // bodySHA256: exercised with the fuzzed URL, and must verify with a URL whose query we know.
  (void)twilio::VerifyBodySignature("token", url, body, signature);
  const std::string body_url = "https://example.com/tw?bodySHA256=" + crypto::Sha256Hex(body);
  const std::string body_signature = twilio::ComputeSignature("token", body_url, FormParams());
  if (!twilio::VerifyBodySignature("token", body_url, body, body_signature).ok()) {
    return "own body signature does not verify";
  }
  return "";
}

std::string FuzzWhatsAppWebhook(const uint8_t* data, size_t size) {
  const std::string_view body = View(data, size);
  absl::StatusOr<std::vector<common::v1::ChatEvent>> events = whatsapp::ParseWebhook(body);
  if (events.ok()) {
    for (const common::v1::ChatEvent& e : *events) {
      if (std::string broken = RoundTrip(e); !broken.empty()) return broken;
      if (e.provider_event_id().empty()) return "event without id";
    }
  } else if (events.status().code() != absl::StatusCode::kInvalidArgument) {
    return "ParseWebhook: not INVALID_ARGUMENT";
  }
  const std::string good = "sha256=" + crypto::HexEncode(crypto::HmacSha256("app-secret", body));
  if (!whatsapp::VerifySignature("app-secret", good, body).ok()) return "own signature does not verify";
  if (whatsapp::VerifySignature("other-secret", good, body).ok())
    return "signature verifies under another key";
  (void)whatsapp::VerifySignature("app-secret", body, body);  // the input as a header
  absl::StatusOr<std::string> challenge = whatsapp::VerifySubscriptionQuery(body, "verify-token");
  if (challenge.ok() && challenge->empty()) return "empty challenge accepted";
  return "";
}

}  // namespace protectogram::providers::fuzz
