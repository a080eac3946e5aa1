// The library's metric families (registered on first use; registering again returns the same family).
#pragma once

#include "libs/kernel/metrics.h"

namespace protectogram::jobs::internal {

// scheduler_job_lag_seconds{kind}: claim time minus run_at (database clock), buckets from 0.5 ms to 60 s.
kernel::Histogram& JobLagMetric(kernel::MetricsRegistry& registry);
// jobs_total{kind,result}: result is done, retry, dead, rescheduled, lease_expired.
kernel::Counter& JobsTotalMetric(kernel::MetricsRegistry& registry);
// jobs_due{queue}: due and not claimed, sampled by each worker.
kernel::Gauge& JobsDueMetric(kernel::MetricsRegistry& registry);
// outbox_sent_total{channel}: acknowledged by the receiver (a duplicate it already had counts too).
kernel::Counter& OutboxSentMetric(kernel::MetricsRegistry& registry);
// outbox_failed_total{channel,reason}: every failed send; reason is FailureReasonOf (retry.h).
kernel::Counter& OutboxFailedMetric(kernel::MetricsRegistry& registry);
// duplicate_inbox_dropped_total: stores of an event already in the inbox.
kernel::Counter& DuplicateInboxMetric(kernel::MetricsRegistry& registry);
// inbox_delivered_total{queue,result}: result is delivered, retry, ignored.
kernel::Counter& InboxDeliveredMetric(kernel::MetricsRegistry& registry);

}  // namespace protectogram::jobs::internal
