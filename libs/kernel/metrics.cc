#include "libs/kernel/metrics.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace protectogram::kernel {
namespace {

// Registration mistakes are programming errors, found the first time the process starts: fail loudly.
[[noreturn]] void Fatal(const std::string& message) {
  std::fprintf(stderr, "metrics: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

bool IsMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool IsLabelName(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

const std::vector<double>& DefaultLatencyBuckets() {
  static const auto* buckets =
      new std::vector<double>{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return *buckets;
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, ptr);
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

namespace metrics_internal {

Family::Family(std::string name, std::string help, std::string type, std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(std::move(type)),
      label_names_(std::move(label_names)) {
  if (!IsMetricName(name_)) Fatal("invalid metric name \"" + name_ + "\"");
  if (help_.empty()) Fatal("metric " + name_ + " needs help text");
  for (size_t i = 0; i < label_names_.size(); ++i) {
    if (!IsLabelName(label_names_[i]))
      Fatal("metric " + name_ + ": invalid label name \"" + label_names_[i] + "\"");
    for (size_t j = 0; j < i; ++j) {
      if (label_names_[i] == label_names_[j])
        Fatal("metric " + name_ + ": label " + label_names_[i] + " twice");
    }
  }
}

void Family::Expose(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  out += EscapeHelp(help_);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type_;
  out += '\n';
  ExposeSamples(out);
}

void Family::AppendSample(std::string& out, std::string_view name, std::string_view labels, double value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  out += FormatMetricValue(value);
  out += '\n';
}

std::string Family::RenderLabels(const std::vector<std::string>& values) const {
  std::string out;
  for (size_t i = 0; i < values.size() && i < label_names_.size(); ++i) {
    if (i > 0) out += ',';
    out += label_names_[i];
    out += "=\"";
    out += EscapeLabelValue(values[i]);
    out += '"';
  }
  return out;
}

void Family::CheckArity(size_t count) const {
  if (count != label_names_.size()) {
    Fatal("metric " + name_ + " has " + std::to_string(label_names_.size()) + " label(s), got " +
          std::to_string(count) + " value(s)");
  }
}

}  // namespace metrics_internal

void CounterChild::Inc(double amount) {
  if (!(amount >= 0)) return;
  value_.fetch_add(amount, std::memory_order_relaxed);
}

HistogramChild::HistogramChild(const std::vector<double>* bounds)
    : bounds_(bounds), counts_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds_->size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void HistogramChild::Observe(double value) {
  if (std::isnan(value)) return;
  // The first bucket whose upper bound is >= value ("le" is inclusive).
  size_t index = std::lower_bound(bounds_->begin(), bounds_->end(), value) - bounds_->begin();
  counts_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

uint64_t HistogramChild::Count() const {
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) total += counts_[i].load(std::memory_order_relaxed);
  return total;
}

Counter::Counter(std::string name, std::string help, std::vector<std::string> label_names)
    : FamilyOf(std::move(name), std::move(help), "counter", std::move(label_names)) {
  if (this->name().size() < 6 || this->name().substr(this->name().size() - 6) != "_total") {
    Fatal("counter " + this->name() + " must end in _total");
  }
  InitUnlabeled();
}

void Counter::ExposeChild(const Child& child, const std::string& labels, std::string& out) const {
  AppendSample(out, name(), labels, child.Value());
}

Gauge::Gauge(std::string name, std::string help, std::vector<std::string> label_names)
    : FamilyOf(std::move(name), std::move(help), "gauge", std::move(label_names)) {
  InitUnlabeled();
}

void Gauge::ExposeChild(const Child& child, const std::string& labels, std::string& out) const {
  AppendSample(out, name(), labels, child.Value());
}

Histogram::Histogram(std::string name, std::string help, std::vector<std::string> label_names,
                     std::vector<double> buckets)
    : FamilyOf(std::move(name), std::move(help), "histogram", std::move(label_names)),
      buckets_(std::move(buckets)) {
  for (const std::string& label : this->label_names()) {
    if (label == "le") Fatal("histogram " + this->name() + " may not have a label named le");
  }
  for (size_t i = 0; i < buckets_.size(); ++i) {
    if (!std::isfinite(buckets_[i]) || (i > 0 && buckets_[i] <= buckets_[i - 1])) {
      Fatal("histogram " + this->name() + ": buckets must be finite and strictly increasing");
    }
  }
  InitUnlabeled();
}

void Histogram::ExposeChild(const Child& child, const std::string& labels, std::string& out) const {
  const std::string prefix = labels.empty() ? "" : labels + ",";
  // Read the buckets once; _count is their total, so it always equals the +Inf bucket.
  uint64_t cumulative = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    cumulative += child.BucketCount(i);
    AppendSample(out, name() + "_bucket", prefix + "le=\"" + FormatMetricValue(buckets_[i]) + "\"",
                 static_cast<double>(cumulative));
  }
  cumulative += child.BucketCount(buckets_.size());
  AppendSample(out, name() + "_bucket", prefix + "le=\"+Inf\"", static_cast<double>(cumulative));
  AppendSample(out, name() + "_sum", labels, child.Sum());
  AppendSample(out, name() + "_count", labels, static_cast<double>(cumulative));
}

metrics_internal::Family* MetricsRegistry::FindLocked(std::string_view name, std::string_view type,
                                                      const std::vector<std::string>& label_names,
                                                      const std::vector<double>* buckets) const {
  const std::string n(name);
  if (auto reserved = reserved_.find(name); reserved != reserved_.end()) {
    Fatal("metric name " + n + " is taken by histogram " + reserved->second);
  }
  auto it = families_.find(name);
  if (it == families_.end()) return nullptr;
  metrics_internal::Family* family = it->second.get();
  if (family->type() != type) {
    Fatal("metric " + n + " registered as " + family->type() + " and again as " + std::string(type));
  }
  if (family->label_names() != label_names) Fatal("metric " + n + " registered twice with different labels");
  if (buckets != nullptr && static_cast<Histogram*>(family)->buckets() != *buckets) {
    Fatal("histogram " + n + " registered twice with different buckets");
  }
  return family;
}

void MetricsRegistry::InsertLocked(std::unique_ptr<metrics_internal::Family> family,
                                   const std::vector<std::string>& reserved) {
  for (const std::string& name : reserved) {
    if (families_.count(name) > 0) Fatal("histogram " + family->name() + " clashes with metric " + name);
    reserved_[name] = family->name();
  }
  std::string name = family->name();
  families_.emplace(std::move(name), std::move(family));
}

Counter& MetricsRegistry::AddCounter(std::string_view name, std::string_view help,
                                     std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto* found = FindLocked(name, "counter", label_names, nullptr)) return static_cast<Counter&>(*found);
  auto counter = std::make_unique<Counter>(std::string(name), std::string(help), std::move(label_names));
  Counter& ref = *counter;
  InsertLocked(std::move(counter), {});
  return ref;
}

Gauge& MetricsRegistry::AddGauge(std::string_view name, std::string_view help,
                                 std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto* found = FindLocked(name, "gauge", label_names, nullptr)) return static_cast<Gauge&>(*found);
  auto gauge = std::make_unique<Gauge>(std::string(name), std::string(help), std::move(label_names));
  Gauge& ref = *gauge;
  InsertLocked(std::move(gauge), {});
  return ref;
}

Histogram& MetricsRegistry::AddHistogram(std::string_view name, std::string_view help,
                                         std::vector<std::string> label_names, std::vector<double> buckets) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto* found = FindLocked(name, "histogram", label_names, &buckets))
    return static_cast<Histogram&>(*found);
  const std::string n(name);
  auto histogram =
      std::make_unique<Histogram>(n, std::string(help), std::move(label_names), std::move(buckets));
  Histogram& ref = *histogram;
  InsertLocked(std::move(histogram), {n + "_bucket", n + "_sum", n + "_count"});
  return ref;
}

std::string MetricsRegistry::Expose() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& [name, family] : families_) family->Expose(out);
  return out;
}

MetricsRegistry& DefaultMetrics() {
  static auto* registry = new MetricsRegistry();
  return *registry;
}

}  // namespace protectogram::kernel
