#include "libs/jobs/internal/metrics.h"

namespace protectogram::jobs::internal {

kernel::Histogram& JobLagMetric(kernel::MetricsRegistry& registry) {
  return registry.AddHistogram(
      "scheduler_job_lag_seconds", "Time from a job's run_at to its claim by a worker (database clock).",
      {"kind"}, {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60});
}

kernel::Counter& JobsTotalMetric(kernel::MetricsRegistry& registry) {
  return registry.AddCounter("jobs_total", "Durable job runs by kind and outcome.", {"kind", "result"});
}

kernel::Gauge& JobsDueMetric(kernel::MetricsRegistry& registry) {
  return registry.AddGauge("jobs_due", "Durable jobs that are due and not claimed yet.", {"queue"});
}

kernel::Counter& OutboxSentMetric(kernel::MetricsRegistry& registry) {
  return registry.AddCounter("outbox_sent_total", "Outbox messages the receiver acknowledged, by channel.",
                             {"channel"});
}

kernel::Counter& OutboxFailedMetric(kernel::MetricsRegistry& registry) {
  return registry.AddCounter("outbox_failed_total",
                             "Outbox sends that failed (retried, throttled or dead), by channel and reason.",
                             {"channel", "reason"});
}

kernel::Counter& DuplicateInboxMetric(kernel::MetricsRegistry& registry) {
  return registry.AddCounter("duplicate_inbox_dropped_total",
                             "Incoming events dropped because the inbox already had them.");
}

kernel::Counter& InboxDeliveredMetric(kernel::MetricsRegistry& registry) {
  return registry.AddCounter("inbox_delivered_total", "Inbox delivery attempts by queue and outcome.",
                             {"queue", "result"});
}

}  // namespace protectogram::jobs::internal
