// Literal webhook requests for the edge's tests, with signatures computed independently of our code, by
// Python's standard library and pyca/cryptography (docs/edge.md, "Tests"):
//
//   import base64, hashlib, hmac
//   from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
//   sk = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(kRfc8032Test1Seed))
//   base64.b64encode(sk.sign(b"1700000000|" + kTelnyxBody))                      -> kTelnyxSignature
//   base64.b64encode(hmac.new(kTwilioAuthToken, url + sorted name+value, sha1).digest())
//                                                          -> kTwilioVoiceSignature, kTwilioWhatsAppSignature
//   hashlib.sha256(kTwilioJsonBody).hexdigest()                                 -> kTwilioJsonBodySha256
//   base64.b64encode(hmac.new(kTwilioAuthToken, url_with_bodySHA256, sha1).digest()) -> kTwilioJsonSignature
//   "sha256=" + hmac.new(kWhatsAppAppSecret, body, sha256).hexdigest()   -> kWhatsAppSignature,
//   kReceiptSignature
#pragma once

#include <map>
#include <string>

namespace protectogram::edge::testing {

// ---- Telegram -------------------------------------------------------------------------------------------
inline constexpr char kMainBotToken[] = "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
inline constexpr char kMainSecret[] = "main-webhook-secret_0123456789";
inline constexpr char kAlphaBotToken[] = "220302654:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsbx";
inline constexpr char kAlphaSecret[] = "alpha-webhook-secret_9876543210";

inline constexpr char kTelegramUpdate[] =
    R"({"update_id":815000001,"message":{"message_id":1,"from":{"id":123456789,"is_bot":false,)"
    R"("first_name":"Ivan","language_code":"ru"},"chat":{"id":123456789,"first_name":"Ivan","type":"private"},)"
    R"("date":1700000000,"text":"/start link_ab12","entities":[{"offset":0,"length":6,"type":"bot_command"}]}})";
inline constexpr char kTelegramCallback[] =
    R"({"update_id":815000002,"callback_query":{"id":"530345267123456789","from":{"id":123456789,)"
    R"("is_bot":false,"first_name":"Ivan"},"message":{"message_id":42,"from":{"id":987654321,"is_bot":true,)"
    R"("first_name":"AlertBot","username":"alert_bot"},"chat":{"id":555000111,"type":"private",)"
    R"("first_name":"Ivan"},"date":1700000050,"text":"ALERT"},"chat_instance":"-6734158872345678901",)"
    R"("data":"ack:77"}})";

// A Telegram update with this update_id (and chat), for tests that need many distinct ones.
inline std::string TelegramUpdate(long long update_id, long long chat_id = 123456789) {
  return "{\"update_id\":" + std::to_string(update_id) +
         ",\"message\":{\"message_id\":7,\"from\":{\"id\":" + std::to_string(chat_id) +
         ",\"is_bot\":false,\"first_name\":\"Ivan\"},\"chat\":{\"id\":" + std::to_string(chat_id) +
         ",\"type\":\"private\"},\"date\":1700000000,\"text\":\"hello\"}}";
}

// ---- Telnyx: RFC 8032 §7.1 TEST 1 ----------------------------------------------------------------------
inline constexpr char kRfc8032Test1Seed[] =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
// base64 of the TEST 1 public key d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a.
inline constexpr char kTelnyxPublicKey[] = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
inline constexpr char kTelnyxTimestamp[] = "1700000000";
inline constexpr char kTelnyxBody[] =
    R"({"data":{"event_type":"call.gather.ended","id":"5b1c8f4e-0b7c-4a3e-9d52-7c1f0e2a9b10",)"
    R"("occurred_at":"2023-11-14T22:13:20.000000Z","payload":{"call_control_id":"v3:edge-contract-call",)"
    R"("call_session_id":"sess-1","client_state":"YXR0ZW1wdDo0Mg==","digits":"1","from":"+15557654321",)"
    R"("status":"valid","to":"+79990001234"},"record_type":"event"},"meta":{"attempt":1}})";
inline constexpr char kTelnyxEventId[] = "5b1c8f4e-0b7c-4a3e-9d52-7c1f0e2a9b10";
inline constexpr char kTelnyxSignature[] =
    "8rZ1Qi2kWqkRDjL24tjYb5eJuMRyAYepS0rQ+2ebFgAjtkrp/6GjbMAd4JkcPQTtq+CGrIezMA6H31q1Jq+9Cg==";

// ---- Twilio ---------------------------------------------------------------------------------------------
inline constexpr char kPublicBaseUrl[] = "https://edge.example.org";
inline constexpr char kTwilioAuthToken[] = "test-auth-token-0123456789abcdef";
inline constexpr char kTwilioVoiceBody[] =
    "AccountSid=AC123&CallSid=CA0001&CallStatus=completed&CallDuration=17&Direction=outbound-api"
    "&From=%2B15550001111&To=%2B79990001234";
// Over "https://edge.example.org/twilio/voice" + the sorted parameters.
inline constexpr char kTwilioVoiceSignature[] = "8DqVW4/8Bj+2knOYpP0fV9KqSbM=";
inline constexpr char kTwilioWhatsAppBody[] =
    "MessageSid=SM0001&AccountSid=AC123&From=whatsapp%3A%2B79990001234&To=whatsapp%3A%2B15550001111&Body=1"
    "&NumMedia=0&ProfileName=Ivan&WaId=79990001234";
// Over "https://edge.example.org/twilio/whatsapp" + the sorted parameters.
inline constexpr char kTwilioWhatsAppSignature[] = "bBshFL6e0CHL4adPTSEhdFKdipI=";
inline constexpr char kTwilioJsonBody[] =
    R"({"CallSid":"CA0002","CallStatus":"ringing","From":"+15550001111","To":"+79990001234"})";
inline constexpr char kTwilioJsonBodySha256[] =
    "d736b631bddd30b50c264b044aedb95a5fbf98fbea7e32176d05c338feb04dce";
// Over "https://edge.example.org/twilio/voice?bodySHA256=<kTwilioJsonBodySha256>" alone.
inline constexpr char kTwilioJsonSignature[] = "t+LzKIs0WKb/J6LqJxzUqQzaXZI=";

// ---- WhatsApp Cloud API ---------------------------------------------------------------------------------
inline constexpr char kWhatsAppAppSecret[] = "test-app-secret";
inline constexpr char kWhatsAppVerifyToken[] = "meatyhamhock";
inline constexpr char kWhatsAppBody[] =
    R"({"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages",)"
    R"("value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881",)"
    R"("phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Ivan"},"wa_id":"79990001234"}],)"
    R"("messages":[{"from":"79990001234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFBQUFBQUFBQUFBQUFBQUFBAA==",)"
    R"("timestamp":"1700000000","type":"text","text":{"body":"1"}}]}}]}]})";
inline constexpr char kWhatsAppMessageId[] = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFBQUFBQUFBQUFBQUFBQUFBAA==";
inline constexpr char kWhatsAppSignature[] =
    "sha256=390c6260bb485a7ac8180540411ad6ddfd64c4f734bfed964ff9b3910996c5dc";
inline constexpr char kWhatsAppReceiptBody[] =
    R"({"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages",)"
    R"("value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881",)"
    R"("phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.OUT1","status":"delivered",)"
    R"("timestamp":"1700000001","recipient_id":"79990001234"}]}}]}]})";
inline constexpr char kWhatsAppReceiptSignature[] =
    "sha256=b4d1a6964277af207f2602cb4ad935d0e4a6b61816a6000c80ed7de597be8082";
inline constexpr char kWhatsAppReceiptSha256[] =
    "ea9fa22b0d6550fa20650232b8701ce8f16052e49cf4e7de48d88f26f312e7cb";

// An environment with every provider configured.
inline std::map<std::string, std::string> AllProvidersEnv() {
  return {
      {"TELEGRAM_BOT_TOKEN", kMainBotToken},
      {"TELEGRAM_WEBHOOK_SECRET", kMainSecret},
      {"TG_TOKEN_ALPHA", kAlphaBotToken},
      {"TG_WEBHOOK_SECRET_ALPHA", kAlphaSecret},
      {"TELNYX_PUBLIC_KEY", kTelnyxPublicKey},
      {"TWILIO_AUTH_TOKEN", kTwilioAuthToken},
      {"PUBLIC_BASE_URL", kPublicBaseUrl},
      {"WHATSAPP_APP_SECRET", kWhatsAppAppSecret},
      {"WHATSAPP_VERIFY_TOKEN", kWhatsAppVerifyToken},
  };
}

}  // namespace protectogram::edge::testing
