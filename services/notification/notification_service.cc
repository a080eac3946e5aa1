#include "services/notification/notification_service.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/jobs/retry.h"
#include "libs/kernel/log.h"

namespace protectogram::notification {
namespace {

namespace tg = providers::telegram;
using google::protobuf::util::TimeUtil;

constexpr char kDeadLetterAlertPrefix[] = "dead-letter-alert:";

google::protobuf::Timestamp Proto(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

std::string MethodFor(const Outgoing& o) {
  if (o.channel == v1::CHANNEL_WHATSAPP) return "messages";
  return o.kind == v1::DELIVERY_KIND_CALLBACK_ANSWER ? "answerCallbackQuery" : "sendMessage";
}

v1::DeliveryState StateOf(jobs::OutboxStatus status) {
  switch (status) {
    case jobs::OutboxStatus::kSent:
      return v1::DELIVERY_STATE_DELIVERED;
    case jobs::OutboxStatus::kDead:
      return v1::DELIVERY_STATE_DEAD;
    case jobs::OutboxStatus::kPending:
      break;
  }
  return v1::DELIVERY_STATE_QUEUED;
}

StoredDelivery FromMessage(const jobs::OutboxMessage& m) {
  return StoredDelivery{.id = m.id,
                        .idempotency_key = m.idempotency_key,
                        .channel = m.channel,
                        .payload_json = m.payload_json,
                        .status = m.status,
                        .attempts = m.attempts,
                        .last_error = m.last_error,
                        .receipt_json = m.receipt_json,
                        .created_at = m.created_at,
                        .updated_at = m.updated_at};
}

}  // namespace

NotificationService::NotificationService(Store& store, jobs::Outbox& outbox, Senders senders,
                                         IncidentReporter report_incident, const NotificationConfig& config,
                                         kernel::MetricsRegistry& metrics, jobs::Clock& clock)
    : store_(store),
      outbox_(outbox),
      senders_(std::move(senders)),
      report_incident_(std::move(report_incident)),
      config_(config),
      clock_(clock),
      catalog_(Catalog::Default()),
      recipients_{.bots = &config.bots, .whatsapp = senders_.whatsapp != nullptr},
      dead_letters_(
          metrics.AddGauge("dead_letters", "Deliveries that failed for good and wait for a redrive.")),
      latency_(metrics.AddHistogram(
          "notification_delivery_seconds",
          "From a message's Send to its provider accepting it (the last part of a split text).", {"channel"},
          {0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300})) {}

void NotificationService::RegisterChannels(jobs::OutboxRelay& relay) {
  jobs::OutboxChannelOptions provider;
  provider.retry = jobs::RetryPolicy::Fixed(config_.retry_delays);
  provider.max_attempts = static_cast<int>(config_.retry_delays.size()) + 1;
  provider.finalizer = [this](pg::Transaction& txn, const jobs::OutboxMessage& m,
                              const absl::Status& outcome) { return Finalize(txn, m, outcome); };
  // A delivered message with nobody to tell is recorded in one statement; everything else (a report, a
  // fallback, the dead-letter count) goes through Finalize's transaction.
  provider.finalize_if = [](const jobs::OutboxMessage& m, const absl::Status& outcome) {
    return !outcome.ok() || m.payload_json.find("\"report_to\"") != std::string::npos;
  };
  auto deliver = [this, &relay](jobs::OutboxMessage& m) { return Deliver(relay, m); };
  for (const auto& [bot_id, sender] : senders_.telegram) {
    relay.RegisterSender(absl::StrCat(kTelegramChannelPrefix, bot_id), deliver, provider);
  }
  if (senders_.whatsapp != nullptr) relay.RegisterSender(kWhatsAppChannel, deliver, provider);
  // Reports go to another service of ours: retried until it answers (it may be restarting).
  relay.RegisterSender(kIncidentReportChannel, [this](jobs::OutboxMessage& m) { return ReportIncident(m); },
                       {.retry = jobs::RetryPolicy::Exponential(absl::Milliseconds(200), absl::Seconds(30)),
                        .max_attempts = 1000});
}

// ---- requests --------------------------------------------------------------------------------------------

absl::StatusOr<bool> NotificationService::Enqueue(const std::string& key, const Outgoing& outgoing) {
  absl::StatusOr<bool> created = outbox_.Enqueue(
      {.channel = outgoing.OutboxChannel(),
       .idempotency_key = key,
       .payload_json = ToJson(outgoing),
       .incident_id = outgoing.incident_id != 0 ? std::optional<int64_t>(outgoing.incident_id) : std::nullopt,
       .priority = outgoing.priority,
       .pace_keys = outgoing.PaceKeys(config_.whatsapp_phone_number_id),
       .pace_costs = outgoing.PaceCosts()});
  if (!created.ok()) return created.status();
  if (*created) {
    wake_();
    return false;
  }
  // The key exists: the same request is a duplicate; another one under the same key is the caller's bug.
  absl::StatusOr<bool> same = store_.SameRequest(key, outgoing.request_json);
  if (!same.ok()) return same.status();
  if (!*same) {
    return absl::FailedPreconditionError(
        absl::StrCat("idempotency key ", key, " was used before for a different request"));
  }
  return true;
}

absl::StatusOr<SendResult> NotificationService::Send(const v1::SendRequest& request) {
  absl::StatusOr<Outgoing> outgoing = BuildMessage(request, recipients_, catalog_);
  if (!outgoing.ok()) return outgoing.status();
  absl::StatusOr<bool> duplicate = Enqueue(request.idempotency_key(), *outgoing);
  if (!duplicate.ok()) return duplicate.status();
  return SendResult{.duplicate = *duplicate};
}

absl::StatusOr<bool> NotificationService::Edit(const v1::EditRequest& request) {
  if (request.target_key().empty()) return absl::InvalidArgumentError("target_key is required");
  absl::StatusOr<jobs::OutboxMessage> target = outbox_.Get(request.target_key());
  if (!target.ok()) return target.status();
  absl::StatusOr<Outgoing> target_outgoing = FromJson(target->payload_json);
  if (!target_outgoing.ok()) return absl::InvalidArgumentError("target_key does not name a message");
  absl::StatusOr<Outgoing> edit = BuildEdit(request, *target_outgoing, catalog_);
  if (!edit.ok()) return edit.status();
  return Enqueue(request.idempotency_key(), *edit);
}

absl::StatusOr<bool> NotificationService::AnswerCallback(const v1::AnswerCallbackRequest& request) {
  absl::StatusOr<Outgoing> answer = BuildCallbackAnswer(request, recipients_, catalog_);
  if (!answer.ok()) return answer.status();
  const std::string key = request.idempotency_key().empty()
                              ? absl::StrCat("callback:", request.callback_query_id())
                              : request.idempotency_key();
  return Enqueue(key, *answer);
}

v1::Delivery NotificationService::ToDelivery(const StoredDelivery& row, bool mask_phone) const {
  v1::Delivery d;
  d.set_id(row.id);
  d.set_idempotency_key(row.idempotency_key);
  d.set_state(StateOf(row.status));
  d.set_attempts(row.attempts);
  d.set_last_error(row.last_error);
  *d.mutable_created_at() = Proto(row.created_at);
  *d.mutable_updated_at() = Proto(row.updated_at);
  if (row.status == jobs::OutboxStatus::kSent) *d.mutable_delivered_at() = Proto(row.updated_at);
  for (const std::string& id : ReceiptIds(row.receipt_json)) d.add_provider_message_ids(id);
  if (absl::StatusOr<Outgoing> o = FromJson(row.payload_json); o.ok()) {
    d.set_kind(o->kind);
    d.set_channel(o->channel);
    d.set_bot_id(o->bot_id);
    d.set_chat_id(mask_phone && o->channel == v1::CHANNEL_WHATSAPP ? kernel::MaskPhone(o->chat_id)
                                                                   : o->chat_id);
    d.set_priority(o->priority >= kAlertPriority ? v1::PRIORITY_ALERT : v1::PRIORITY_ROUTINE);
    d.set_incident_id(o->incident_id);
    d.set_request_json(o->request_json);
    if (!o->fallback_json.empty()) d.set_fallback_key(row.idempotency_key + "#fallback");
  }
  return d;
}

absl::StatusOr<v1::Delivery> NotificationService::GetDelivery(const std::string& key) {
  if (key.empty()) return absl::InvalidArgumentError("idempotency_key is required");
  absl::StatusOr<jobs::OutboxMessage> m = outbox_.Get(key);
  if (!m.ok()) return m.status();
  return ToDelivery(FromMessage(*m), /*mask_phone=*/false);
}

absl::StatusOr<std::vector<v1::Delivery>> NotificationService::ListDeliveries(
    const v1::ListDeliveriesRequest& request) {
  DeliveryFilter filter{.chat_id = request.chat_id(), .limit = request.limit() > 0 ? request.limit() : 100};
  switch (request.state()) {
    case v1::DELIVERY_STATE_QUEUED:
      filter.status = jobs::OutboxStatus::kPending;
      break;
    case v1::DELIVERY_STATE_DELIVERED:
      filter.status = jobs::OutboxStatus::kSent;
      break;
    case v1::DELIVERY_STATE_DEAD:
      filter.status = jobs::OutboxStatus::kDead;
      break;
    default:
      break;
  }
  if (request.has_created_after()) {
    filter.created_after = absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(request.created_after()));
  }
  if (request.has_created_before()) {
    filter.created_before = absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(request.created_before()));
  }
  absl::StatusOr<std::vector<StoredDelivery>> rows = store_.ListDeliveries(filter);
  if (!rows.ok()) return rows.status();
  std::vector<v1::Delivery> out;
  for (const StoredDelivery& row : *rows) out.push_back(ToDelivery(row, /*mask_phone=*/false));
  return out;
}

absl::StatusOr<std::vector<v1::Delivery>> NotificationService::ListDeadLetters(int limit) {
  absl::StatusOr<std::vector<StoredDelivery>> rows = store_.ListDeadLetters(limit > 0 ? limit : 100);
  if (!rows.ok()) return rows.status();
  std::vector<v1::Delivery> out;
  for (const StoredDelivery& row : *rows) out.push_back(ToDelivery(row, /*mask_phone=*/false));
  return out;
}

absl::StatusOr<int64_t> NotificationService::Redrive(const v1::RedriveRequest& request) {
  absl::StatusOr<int64_t> count = 0;
  if (request.all()) {
    count = outbox_.RedriveAll();
  } else {
    if (request.idempotency_key().empty()) return absl::InvalidArgumentError("give idempotency_key or all");
    absl::StatusOr<jobs::OutboxMessage> m = outbox_.Get(request.idempotency_key());
    if (!m.ok()) return m.status();
    if (m->status != jobs::OutboxStatus::kDead) {
      return absl::FailedPreconditionError(absl::StrCat(request.idempotency_key(), " is not a dead letter"));
    }
    absl::StatusOr<jobs::OutboxMessage> redriven = outbox_.Redrive(m->id);
    if (!redriven.ok()) return redriven.status();
    count = 1;
  }
  if (count.ok() && *count > 0) wake_();
  SampleGauges();
  return count;
}

// ---- delivering ------------------------------------------------------------------------------------------

ChatSender* NotificationService::SenderFor(const Outgoing& o) const {
  if (o.channel == v1::CHANNEL_WHATSAPP) return senders_.whatsapp;
  auto it = senders_.telegram.find(o.bot_id);
  return it != senders_.telegram.end() ? it->second : nullptr;
}

absl::Status NotificationService::Deliver(jobs::OutboxRelay& relay, jobs::OutboxMessage& m) {
  absl::StatusOr<Outgoing> o = FromJson(m.payload_json);
  if (!o.ok()) return jobs::WithFailureReason(jobs::Permanent(o.status()), "bad_payload");
  ChatSender* sender = SenderFor(*o);
  if (sender == nullptr) {
    return jobs::WithFailureReason(
        jobs::Permanent(absl::FailedPreconditionError("no sender for " + m.channel)), "not_configured");
  }
  if (o->kind == v1::DELIVERY_KIND_EDIT) return DeliverEdit(*o, m, *sender);

  // Parts already accepted by an earlier attempt are not sent again.
  std::vector<std::string> ids = ReceiptIds(m.receipt_json);
  const std::string method = MethodFor(*o);
  for (size_t part = ids.size(); part < o->bodies.size(); ++part) {
    absl::StatusOr<ProviderReply> reply = sender->Call(method, o->bodies[part]);
    if (!reply.ok()) return reply.status();
    ids.push_back(reply->message_id);
    if (part + 1 < o->bodies.size()) {
      if (absl::Status s = relay.SaveProgress(m, ReceiptJson(ids)); !s.ok()) return s;
    }
  }
  m.receipt_json = ReceiptJson(ids);
  latency_.WithLabels({o->channel == v1::CHANNEL_WHATSAPP ? "whatsapp" : "telegram"})
      .ObserveDuration((m.claimed_at - m.created_at) + (absl::Now() - m.claimed_local));
  return absl::OkStatus();
}

absl::Status NotificationService::DeliverEdit(const Outgoing& edit, jobs::OutboxMessage& m,
                                              ChatSender& sender) {
  absl::StatusOr<jobs::OutboxMessage> target = outbox_.Get(edit.target_key);
  if (!target.ok()) {
    if (absl::IsNotFound(target.status())) {
      return jobs::WithFailureReason(jobs::Permanent(target.status()), "target_gone");
    }
    return target.status();
  }
  if (target->status == jobs::OutboxStatus::kDead) {
    return jobs::WithFailureReason(
        jobs::Permanent(absl::FailedPreconditionError("the message this edit names is dead")), "target_dead");
  }
  if (target->status != jobs::OutboxStatus::kSent) {
    return jobs::WithFailureReason(
        jobs::Throttled(absl::FailedPreconditionError("waiting for the message to be sent"),
                        config_.edit_wait),
        "waiting_for_message");
  }
  absl::StatusOr<bool> later = store_.LaterEditApplied(edit.target_key, m.id);
  if (!later.ok()) return later.status();
  if (*later) {
    m.receipt_json = R"({"superseded":true})";
    return absl::OkStatus();  // a newer edit is on the message already
  }
  const std::vector<std::string> ids = ReceiptIds(target->receipt_json);
  int64_t message_id = 0;
  if (ids.empty() || !absl::SimpleAtoi(ids.back(), &message_id)) {
    return jobs::WithFailureReason(
        jobs::Permanent(absl::FailedPreconditionError("the message has no Telegram message id")),
        "target_gone");
  }
  absl::StatusOr<std::pair<std::string, std::string>> call = EditCall(edit, edit.chat_id, message_id);
  if (!call.ok()) return jobs::WithFailureReason(jobs::Permanent(call.status()), "bad_payload");
  absl::StatusOr<ProviderReply> reply = sender.Call(call->first, call->second);
  if (!reply.ok()) return reply.status();
  m.receipt_json = ReceiptJson({ids.back()});
  return absl::OkStatus();
}

absl::Status NotificationService::Finalize(pg::Transaction& txn, const jobs::OutboxMessage& m,
                                           const absl::Status& outcome) {
  absl::StatusOr<Outgoing> o = FromJson(m.payload_json);
  if (!o.ok()) return absl::OkStatus();  // nothing follows from a payload we cannot read
  if (!outcome.ok()) {
    kernel::LogWarn(
        "notification: delivery is dead",
        {{"key", m.idempotency_key},
         {"channel", m.channel},
         {"chat_id", o->channel == v1::CHANNEL_WHATSAPP ? kernel::MaskPhone(o->chat_id) : o->chat_id},
         {"reason", jobs::FailureReasonOf(outcome)},
         {"incident_id", o->incident_id}});
    if (!o->fallback_json.empty()) {
      absl::StatusOr<Outgoing> fallback = FromJson(o->fallback_json);
      if (fallback.ok()) {
        fallback->report_to = o->report_to;  // the requester hears the fallback's outcome
        fallback->request_json = o->request_json;
        absl::StatusOr<bool> queued =
            outbox_.Enqueue(txn, {.channel = fallback->OutboxChannel(),
                                  .idempotency_key = m.idempotency_key + "#fallback",
                                  .payload_json = ToJson(*fallback),
                                  .priority = fallback->priority,
                                  .pace_keys = fallback->PaceKeys(config_.whatsapp_phone_number_id),
                                  .pace_costs = fallback->PaceCosts()});
        if (!queued.ok()) return queued.status();
        if (o->kind != v1::DELIVERY_KIND_OPERATOR_ALERT) return MaybeAlertDeadLetters(txn);
        return absl::OkStatus();
      }
    }
    if (o->kind != v1::DELIVERY_KIND_OPERATOR_ALERT) {
      if (absl::Status s = MaybeAlertDeadLetters(txn); !s.ok()) return s;
    }
  }
  if (!o->report_to.has_value()) return absl::OkStatus();
  incident::v1::OnDeliveryOutcomeRequest report;
  report.set_event_key("delivery:" + m.idempotency_key);
  report.set_report_key(o->report_to->key);
  report.set_delivery_key(m.idempotency_key);
  report.set_delivered(outcome.ok());
  if (!outcome.ok()) {
    report.set_reason(jobs::FailureReasonOf(outcome));
    report.set_error(std::string(outcome.message()));
  }
  for (const std::string& id : ReceiptIds(m.receipt_json)) report.add_provider_message_ids(id);
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(report, &json);
  absl::StatusOr<bool> queued = outbox_.Enqueue(txn, {.channel = kIncidentReportChannel,
                                                      .idempotency_key = "report:" + m.idempotency_key,
                                                      .payload_json = json});
  return queued.status();
}

absl::Status NotificationService::MaybeAlertDeadLetters(pg::Transaction& txn) {
  if (config_.operator_chat_id.empty() || config_.bots.Find(tg::kDefaultBotId) == nullptr)
    return absl::OkStatus();
  absl::StatusOr<DeadLetterWindow> window =
      store_.LockDeadLetterWindow(txn, config_.dead_letter_alert_window);
  if (!window.ok()) return window.status();
  if (window->alerted || window->dead <= config_.dead_letter_alert_threshold) return absl::OkStatus();
  absl::StatusOr<std::string> text =
      catalog_.Render("operator.dead_letters_alert", "ru", {{"count", std::to_string(window->dead)}});
  if (!text.ok()) return text.status();
  absl::StatusOr<Outgoing> alert = BuildOperatorAlert(config_.operator_chat_id, *text);
  if (!alert.ok()) return alert.status();
  kernel::LogWarn("notification: dead letters are piling up; alerting the operators",
                  {{"dead_letters", window->dead}});
  return outbox_
      .Enqueue(txn,
               {.channel = alert->OutboxChannel(),
                .idempotency_key = absl::StrCat(kDeadLetterAlertPrefix, absl::ToUnixMicros(clock_.Now())),
                .payload_json = ToJson(*alert),
                .priority = alert->priority,
                .pace_keys = alert->PaceKeys(""),
                .pace_costs = alert->PaceCosts()})
      .status();
}

absl::Status NotificationService::ReportIncident(const jobs::OutboxMessage& m) {
  incident::v1::OnDeliveryOutcomeRequest report;
  if (!google::protobuf::util::JsonStringToMessage(m.payload_json, &report).ok()) {
    return jobs::Permanent(absl::InvalidArgumentError("report payload is not an OnDeliveryOutcomeRequest"));
  }
  if (!report_incident_) return absl::UnavailableError("no incident reporter");
  return report_incident_(report);
}

// ---- bots ------------------------------------------------------------------------------------------------

bool NotificationService::LearnBots() {
  {
    absl::StatusOr<std::map<std::string, std::string>> stored = store_.BotUsernames();
    absl::MutexLock lock(&mu_);
    if (stored.ok()) {
      for (auto& [id, name] : *stored) usernames_.try_emplace(id, name);
    }
  }
  bool all = true;
  for (const auto& [bot_id, sender] : senders_.telegram) {
    absl::StatusOr<ProviderReply> me = sender->Call("getMe", "{}");
    absl::StatusOr<std::string> username = me.ok() ? tg::UsernameOf(me->result_json) : me.status();
    if (!username.ok()) {
      // Known from an earlier run (or another replica): good enough until getMe answers.
      absl::MutexLock lock(&mu_);
      all = all && usernames_.contains(bot_id);
      kernel::LogWarn("notification: getMe failed; retrying",
                      {{"bot_id", bot_id}, {"error", std::string(username.status().message())}});
      continue;
    }
    const int64_t telegram_id = 0;  // not needed yet: invite links use the username
    (void)store_.UpsertBot(bot_id, *username, telegram_id);
    absl::MutexLock lock(&mu_);
    usernames_[bot_id] = *username;
  }
  return all;
}

std::string NotificationService::BotUsername(const std::string& bot_id) {
  absl::MutexLock lock(&mu_);
  auto it = usernames_.find(bot_id);
  return it != usernames_.end() ? it->second : "";
}

std::vector<v1::Bot> NotificationService::ListBots() {
  std::vector<v1::Bot> out;
  for (const tg::Bot& bot : config_.bots.bots()) {
    v1::Bot b;
    b.set_id(bot.id);
    b.set_username(BotUsername(bot.id));
    auto it = senders_.telegram.find(bot.id);
    if (it != senders_.telegram.end()) {
      absl::StatusOr<ProviderReply> info = it->second->Call("getWebhookInfo", "{}");
      absl::StatusOr<tg::WebhookInfo> parsed =
          info.ok() ? tg::ParseWebhookInfo(info->result_json) : info.status();
      if (parsed.ok()) {
        b.set_webhook_url(parsed->url);
        b.set_pending_update_count(static_cast<int32_t>(parsed->pending_update_count));
        b.set_last_error_message(parsed->last_error_message);
      } else {
        b.set_webhook_error(std::string(parsed.status().message()));
      }
    }
    out.push_back(std::move(b));
  }
  return out;
}

std::vector<v1::SetWebhookResult> NotificationService::SetWebhooks(bool drop_pending_updates) {
  std::vector<v1::SetWebhookResult> out;
  for (const tg::Bot& bot : config_.bots.bots()) {
    v1::SetWebhookResult r;
    r.set_bot_id(bot.id);
    r.set_url(absl::StrCat(config_.public_base_url, "/webhook/", bot.id));
    absl::Status status = absl::OkStatus();
    if (config_.public_base_url.empty()) {
      status = absl::FailedPreconditionError("PUBLIC_BASE_URL is not set");
    } else if (auto it = senders_.telegram.find(bot.id); it == senders_.telegram.end()) {
      status = absl::FailedPreconditionError("no sender for this bot");
    } else {
      absl::StatusOr<std::string> body =
          tg::SetWebhookBody(r.url(), bot.webhook_secret, drop_pending_updates);
      status = body.ok() ? it->second->Call("setWebhook", *body).status() : body.status();
    }
    r.set_ok(status.ok());
    if (!status.ok()) r.set_error(std::string(status.message()));
    out.push_back(std::move(r));
  }
  return out;
}

void NotificationService::SampleGauges() {
  if (absl::StatusOr<int64_t> dead = store_.CountDeadLetters(); dead.ok()) {
    dead_letters_.Set(static_cast<double>(*dead));
  }
}

}  // namespace protectogram::notification
