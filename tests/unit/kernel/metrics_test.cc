#include "libs/kernel/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace protectogram::kernel {
namespace {

using ::testing::HasSubstr;

void FillSmallRegistry(MetricsRegistry& registry) {
  Counter& jobs = registry.AddCounter("jobs_done_total", "Jobs finished.", {"kind", "result"});
  jobs.WithLabels({"send", "ok"}).Inc();
  jobs.WithLabels({"send", "ok"}).Inc(2);
  jobs.WithLabels({"call", "fail"}).Inc();
  registry.AddGauge("queue_depth", "Jobs waiting.\nSecond line with \\ backslash.").Set(7.5);
  Histogram& op = registry.AddHistogram("op_seconds", "Op latency.", {"op"}, {0.125, 0.5, 1});
  Histogram::Child& odd = op.WithLabels({"a\"b\\c\nd"});
  odd.Observe(0.125);  // "le" is inclusive
  odd.Observe(0.25);
  odd.Observe(2);
}

TEST(MetricsTest, ExpositionIsExact) {
  MetricsRegistry registry;
  FillSmallRegistry(registry);
  EXPECT_EQ(registry.Expose(),
            "# HELP jobs_done_total Jobs finished.\n"
            "# TYPE jobs_done_total counter\n"
            "jobs_done_total{kind=\"call\",result=\"fail\"} 1\n"
            "jobs_done_total{kind=\"send\",result=\"ok\"} 3\n"
            "# HELP op_seconds Op latency.\n"
            "# TYPE op_seconds histogram\n"
            "op_seconds_bucket{op=\"a\\\"b\\\\c\\nd\",le=\"0.125\"} 1\n"
            "op_seconds_bucket{op=\"a\\\"b\\\\c\\nd\",le=\"0.5\"} 2\n"
            "op_seconds_bucket{op=\"a\\\"b\\\\c\\nd\",le=\"1\"} 2\n"
            "op_seconds_bucket{op=\"a\\\"b\\\\c\\nd\",le=\"+Inf\"} 3\n"
            "op_seconds_sum{op=\"a\\\"b\\\\c\\nd\"} 2.375\n"
            "op_seconds_count{op=\"a\\\"b\\\\c\\nd\"} 3\n"
            "# HELP queue_depth Jobs waiting.\\nSecond line with \\\\ backslash.\n"
            "# TYPE queue_depth gauge\n"
            "queue_depth 7.5\n");
}

TEST(MetricsTest, UnlabeledMetricsAreExposedFromTheStart) {
  MetricsRegistry registry;
  registry.AddCounter("started_total", "Started.");
  registry.AddHistogram("wait_seconds", "Wait.", {}, {1});
  registry.AddGauge("labeled", "Labeled, no children yet.", {"x"});
  EXPECT_EQ(registry.Expose(),
            "# HELP labeled Labeled, no children yet.\n"
            "# TYPE labeled gauge\n"
            "# HELP started_total Started.\n"
            "# TYPE started_total counter\n"
            "started_total 0\n"
            "# HELP wait_seconds Wait.\n"
            "# TYPE wait_seconds histogram\n"
            "wait_seconds_bucket{le=\"1\"} 0\n"
            "wait_seconds_bucket{le=\"+Inf\"} 0\n"
            "wait_seconds_sum 0\n"
            "wait_seconds_count 0\n");
}

TEST(MetricsTest, ValuesFormatForPrometheus) {
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(3), "3");
  EXPECT_EQ(FormatMetricValue(0.005), "0.005");
  EXPECT_EQ(FormatMetricValue(-2.5), "-2.5");
  EXPECT_EQ(FormatMetricValue(1e21), "1e+21");
  EXPECT_EQ(FormatMetricValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatMetricValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(FormatMetricValue(0.0 / 0.0), "NaN");
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(MetricsTest, RegisteringAgainReturnsTheSameMetric) {
  MetricsRegistry registry;
  Counter& a = registry.AddCounter("x_total", "X.", {"k"});
  Counter& b = registry.AddCounter("x_total", "X again.", {"k"});
  EXPECT_EQ(&a, &b);
  a.WithLabels({"v"}).Inc();
  EXPECT_EQ(b.WithLabels({"v"}).Value(), 1);
  Histogram& h1 = registry.AddHistogram("h_seconds", "H.", {}, {1, 2});
  EXPECT_EQ(&h1, &registry.AddHistogram("h_seconds", "H.", {}, {1, 2}));
}

TEST(MetricsTest, ChildrenAreStableAndCounting) {
  MetricsRegistry registry;
  Counter& counter = registry.AddCounter("hits_total", "Hits.", {"route"});
  Counter::Child& child = counter.WithLabels({"/a"});
  EXPECT_EQ(&child, &counter.WithLabels(std::vector<std::string>{"/a"}));
  child.Inc(-5);  // ignored: counters only go up
  EXPECT_EQ(child.Value(), 0);
  Gauge& gauge = registry.AddGauge("depth", "Depth.");
  gauge.Add(3);
  gauge.Add(-1);
  EXPECT_EQ(gauge.Value(), 2);
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  MetricsRegistry registry;
  Counter& counter = registry.AddCounter("ops_total", "Ops.", {"t"});
  Histogram& histogram = registry.AddHistogram("op_seconds", "Op.", {"t"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        counter.WithLabels({"x"}).Inc();
        histogram.WithLabels({"x"}).Observe(0.003);
      }
    });
  }
  std::thread scraper([&] {
    for (int i = 0; i < 50; ++i) registry.Expose();
  });
  for (auto& thread : threads) thread.join();
  scraper.join();
  EXPECT_EQ(counter.WithLabels({"x"}).Value(), 40000);
  EXPECT_EQ(histogram.WithLabels({"x"}).Count(), 40000u);
  EXPECT_THAT(registry.Expose(), HasSubstr("op_seconds_bucket{t=\"x\",le=\"0.005\"} 40000\n"));
  EXPECT_THAT(registry.Expose(), HasSubstr("op_seconds_bucket{t=\"x\",le=\"0.0025\"} 0\n"));
}

TEST(MetricsDeathTest, ProgrammingErrorsAbort) {
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.AddCounter("dup_total", "D.");
        registry.AddGauge("dup_total", "D.");
      },
      "metric dup_total registered as counter and again as gauge");
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.AddCounter("dup_total", "D.", {"a"});
        registry.AddCounter("dup_total", "D.", {"b"});
      },
      "registered twice with different labels");
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.AddCounter("requests", "No suffix.");
      },
      "counter requests must end in _total");
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.AddCounter("x_total", "X.", {"a", "b"}).WithLabels({"only-one"});
      },
      "metric x_total has 2 label\\(s\\), got 1 value\\(s\\)");
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.AddCounter("x_total", "X.", {"a"}).Inc();
      },
      "has 1 label");
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.AddHistogram("lat_seconds", "L.");
        registry.AddGauge("lat_seconds_count", "Clash.");
      },
      "taken by histogram lat_seconds");
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.AddHistogram("h", "H.", {"le"});
      },
      "may not have a label named le");
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.AddHistogram("h", "H.", {}, {1, 1});
      },
      "strictly increasing");
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.AddGauge("bad-name", "B.");
      },
      "invalid metric name");
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.AddGauge("g", "");
      },
      "needs help text");
}

// promtool (Debian package "prometheus") is the reference checker; skip only when it is not installed.
TEST(MetricsTest, PromtoolFindsNothingWrong) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) GTEST_SKIP() << "promtool not installed";
  MetricsRegistry registry;
  FillSmallRegistry(registry);
  registry.AddCounter("grpc_server_handled_total", "Calls.", {"service", "method", "code"})
      .WithLabels({"protectogram.incident.v1.IncidentService", "HandleChatEvent", "OK"})
      .Inc();
  registry.AddHistogram("grpc_server_handling_seconds", "Latency.", {"service", "method"})
      .WithLabels({"protectogram.incident.v1.IncidentService", "HandleChatEvent"})
      .Observe(0.004);
  registry.AddGauge("process_start_time_seconds", "Start.").Set(1764000000.25);
  std::string path = ::testing::TempDir() + "/metrics_" + std::to_string(getpid()) + ".txt";
  {
    std::ofstream out(path);
    out << registry.Expose();
  }
  std::string command = "promtool check metrics < " + path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof(buf), pipe)) output.append(buf, n);
  int status = pclose(pipe);
  std::remove(path.c_str());
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output, "");
}

}  // namespace
}  // namespace protectogram::kernel
