// Prometheus metrics: counters, gauges and histograms with fixed label names, and the text exposition format
// 0.0.4 (what GET /metrics serves).
//
//   auto& handled = kernel::DefaultMetrics().AddCounter(
//       "outbox_sent_total", "Outbox commands delivered.", {"target", "result"});
//   Counter::Child& sent_ok = handled.WithLabels({"notification", "ok"});  // cache it on a hot path
//   sent_ok.Inc();
//
// Rules (a broken one is a programming error: the process aborts with a message at registration):
//   - names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* and not "__"-prefixed;
//     a histogram may not use the label "le";
//   - counter names end in "_total"; help text is not empty (promtool lints both);
//   - a name is registered once: registering it again with the same type, labels (and buckets) returns the
//     existing metric, anything else aborts; a histogram also reserves <name>_bucket, _sum and _count;
//   - WithLabels gets exactly one value per label name, in registration order.
// Label values must be low-cardinality (route templates, codes; never ids or phone numbers).
//
// Thread-safety: everything is safe to call from any thread. Inc/Set/Observe on a child are lock-free
// (atomics); WithLabels takes a per-metric lock to find the child, and the returned reference stays valid as
// long as the registry, so hot paths look it up once. Expose() copies the current values under the locks.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace protectogram::kernel {

// {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10} seconds.
const std::vector<double>& DefaultLatencyBuckets();

namespace metrics_internal {

// What every metric has: a name, help text, a type and label names, and a way to print its samples.
class Family {
 public:
  Family(std::string name, std::string help, std::string type, std::vector<std::string> label_names);
  virtual ~Family() = default;
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  const std::string& name() const { return name_; }
  const std::string& type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  // Appends "# HELP", "# TYPE" and every sample line.
  void Expose(std::string& out) const;

 protected:
  // Appends the sample lines of every child.
  virtual void ExposeSamples(std::string& out) const = 0;
  // `name{labels} value\n` where `labels` is a rendered label list without braces ("" when none).
  static void AppendSample(std::string& out, std::string_view name, std::string_view labels, double value);
  // 'a="x",b="y"' for the family's label names and these values.
  std::string RenderLabels(const std::vector<std::string>& values) const;
  // Aborts unless there is exactly one value per label name.
  void CheckArity(size_t count) const;

 private:
  const std::string name_;
  const std::string help_;
  const std::string type_;
  const std::vector<std::string> label_names_;
};

// Orders label-value lists of any string type (lookups with string_views, keys of strings).
struct LabelValuesLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                        [](std::string_view x, std::string_view y) { return x < y; });
  }
};

// The children of one metric, keyed by label values.
template <typename ChildT>
class FamilyOf : public Family {
 public:
  using Family::Family;

 protected:
  virtual std::unique_ptr<ChildT> MakeChild() const = 0;
  virtual void ExposeChild(const ChildT& child, const std::string& labels, std::string& out) const = 0;

  // The child for these label values, created on first use. Finding an existing child does not allocate.
  template <typename Values>
  ChildT& ChildFor(const Values& values) {
    CheckArity(values.size());
    std::lock_guard<std::mutex> lock(mu_);
    auto it = children_.find(values);
    if (it == children_.end()) {
      it = children_.emplace(std::vector<std::string>(values.begin(), values.end()), MakeChild()).first;
    }
    return *it->second;
  }
  // The only child of a metric without labels; aborts when it has labels.
  ChildT& Unlabeled() const {
    if (unlabeled_ == nullptr) CheckArity(0);
    return *unlabeled_;
  }
  // Creates the unlabeled child at registration (called by each constructor), so it is exposed (as 0) from
  // the start and Unlabeled() needs no lock.
  void InitUnlabeled() {
    if (label_names().empty()) unlabeled_ = &ChildFor(std::vector<std::string>{});
  }

 private:
  void ExposeSamples(std::string& out) const override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [values, child] : children_) ExposeChild(*child, RenderLabels(values), out);
  }

  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<ChildT>, LabelValuesLess> children_;
  ChildT* unlabeled_ = nullptr;
};

}  // namespace metrics_internal

class CounterChild {
 public:
  // Adds `amount` (>= 0; a negative amount is ignored).
  void Inc(double amount = 1);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class GaugeChild {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double amount) { value_.fetch_add(amount, std::memory_order_relaxed); }
  void Inc() { Add(1); }
  void Dec() { Add(-1); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class HistogramChild {
 public:
  explicit HistogramChild(const std::vector<double>* bounds);
  void Observe(double value);
  void ObserveDuration(absl::Duration d) { Observe(absl::ToDoubleSeconds(d)); }
  uint64_t Count() const;
  double Sum() const { return sum_.load(std::memory_order_relaxed); }
  // Observations in bucket i: (bounds[i-1], bounds[i]], the last being (bounds.back(), +Inf). Not cumulative.
  uint64_t BucketCount(size_t i) const { return counts_[i].load(std::memory_order_relaxed); }

 private:
  const std::vector<double>* bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

// A value that only goes up (requests handled, errors).
class Counter final : public metrics_internal::FamilyOf<CounterChild> {
 public:
  using Child = CounterChild;
  Counter(std::string name, std::string help, std::vector<std::string> label_names);
  Child& WithLabels(std::initializer_list<std::string_view> values) { return ChildFor(values); }
  Child& WithLabels(const std::vector<std::string>& values) { return ChildFor(values); }
  // Only for a counter without labels (aborts otherwise).
  void Inc(double amount = 1) { Unlabeled().Inc(amount); }
  double Value() const { return Unlabeled().Value(); }

 private:
  std::unique_ptr<Child> MakeChild() const override { return std::make_unique<Child>(); }
  void ExposeChild(const Child& child, const std::string& labels, std::string& out) const override;
};

// A value that goes up and down (queue depth, connections in use).
class Gauge final : public metrics_internal::FamilyOf<GaugeChild> {
 public:
  using Child = GaugeChild;
  Gauge(std::string name, std::string help, std::vector<std::string> label_names);
  Child& WithLabels(std::initializer_list<std::string_view> values) { return ChildFor(values); }
  Child& WithLabels(const std::vector<std::string>& values) { return ChildFor(values); }
  // Only for a gauge without labels (aborts otherwise).
  void Set(double value) { Unlabeled().Set(value); }
  void Add(double amount) { Unlabeled().Add(amount); }
  double Value() const { return Unlabeled().Value(); }

 private:
  std::unique_ptr<Child> MakeChild() const override { return std::make_unique<Child>(); }
  void ExposeChild(const Child& child, const std::string& labels, std::string& out) const override;
};

// A distribution (latencies in seconds, sizes) counted into fixed buckets.
class Histogram final : public metrics_internal::FamilyOf<HistogramChild> {
 public:
  using Child = HistogramChild;
  // `buckets` are upper bounds, strictly increasing and finite ("+Inf" is implied); aborts otherwise.
  Histogram(std::string name, std::string help, std::vector<std::string> label_names,
            std::vector<double> buckets);
  Child& WithLabels(std::initializer_list<std::string_view> values) { return ChildFor(values); }
  Child& WithLabels(const std::vector<std::string>& values) { return ChildFor(values); }
  // Only for a histogram without labels (aborts otherwise).
  void Observe(double value) { Unlabeled().Observe(value); }
  const std::vector<double>& buckets() const { return buckets_; }

 private:
  std::unique_ptr<Child> MakeChild() const override { return std::make_unique<Child>(&buckets_); }
  void ExposeChild(const Child& child, const std::string& labels, std::string& out) const override;
  const std::vector<double> buckets_;
};

// Observes the time from construction to destruction into a histogram child, in seconds.
class ScopedTimer {
 public:
  explicit ScopedTimer(HistogramChild& child) : child_(child), start_(absl::Now()) {}
  ~ScopedTimer() { child_.ObserveDuration(absl::Now() - start_); }
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;

 private:
  HistogramChild& child_;
  absl::Time start_;
};

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Register (or find again) a metric; see the rules at the top. References stay valid for the registry's
  // life.
  Counter& AddCounter(std::string_view name, std::string_view help,
                      std::vector<std::string> label_names = {});
  Gauge& AddGauge(std::string_view name, std::string_view help, std::vector<std::string> label_names = {});
  Histogram& AddHistogram(std::string_view name, std::string_view help,
                          std::vector<std::string> label_names = {},
                          std::vector<double> buckets = DefaultLatencyBuckets());

  // Prometheus text format 0.0.4, metrics sorted by name, children by label values.
  std::string Expose() const;

 private:
  // The metric registered as `name` if it matches (type, labels, buckets) exactly; nullptr if none; aborts
  // on a mismatch.
  metrics_internal::Family* FindLocked(std::string_view name, std::string_view type,
                                       const std::vector<std::string>& label_names,
                                       const std::vector<double>* buckets) const;
  void InsertLocked(std::unique_ptr<metrics_internal::Family> family,
                    const std::vector<std::string>& reserved);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<metrics_internal::Family>, std::less<>> families_;
  std::map<std::string, std::string, std::less<>> reserved_;  // histogram sample names -> histogram name
};

// The process-wide registry that GET /metrics serves.
MetricsRegistry& DefaultMetrics();

// The content type of Expose()'s output.
inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// Formats a sample value as Prometheus expects: shortest round-trip decimal, "+Inf", "-Inf", "NaN".
std::string FormatMetricValue(double value);
// Escapes a label value (backslash, double quote, newline).
std::string EscapeLabelValue(std::string_view value);

}  // namespace protectogram::kernel
