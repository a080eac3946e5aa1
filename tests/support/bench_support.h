// What the benchmark programs (tests/load/*/bench_main.cc) measure around a phase besides their own latencies:
// CPU seconds of a Postgres cluster (its postmaster and every backend), of this
// process, the machine's busy share (/proc/stat) and load average; and their key=value output.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

#include "libs/pg/pool.h"

namespace protectogram::testing {

// Clock ticks per second (/proc times are in ticks).
double Ticks();
// The cluster's CPU: the postmaster's own and its reaped children's, plus every live child's.
double PostgresCpuSeconds(pid_t postmaster);
// This process's user + system CPU.
double SelfCpuSeconds();

// Ticks over all cores since boot; busy excludes idle and iowait.
struct MachineCpu {
  double busy = 0, total = 0;
};
MachineCpu ReadMachineCpu();
// The 1-minute load average, as /proc/loadavg writes it.
std::string LoadAverage();

// The postmaster's pid of the cluster `stats` is connected to (a superuser pool: it reads data_directory and
// postmaster.pid); 0 when it cannot be read.
pid_t Postmaster(pg::Pool& stats);

// A Prometheus histogram as scraped: cumulative bucket counts by upper bound, sum, count.
struct Histogram {
  std::map<double, double> buckets;
  double sum = 0, count = 0;
};
// The series `name` (with `label` in its labels, when given) in a /metrics body, summed over the series that
// match (replicas, label values); add bodies of several processes with Add.
Histogram ParseHistogram(const std::string& body, const std::string& name, const std::string& label = "");
void Add(Histogram& into, const Histogram& more);
// The bucket bound under which a `q` share of the observations between scrapes `a` and `b` fall.
double BucketQuantile(const Histogram& a, const Histogram& b, double q);

// The benchmark's children (the services it started), SIGKILLed when it dies early — a failed phase (Die) or
// run.sh's timeout (SIGTERM/SIGINT, after KillChildrenOnSignals) — so none outlives it. At most 64.
void AdoptChild(pid_t pid);
void KillChildrenOnSignals();
// "<program>: <line>" on stderr.
void SetProgramName(const std::string& name);
void Progress(const std::string& line);
// Progress(what), kill the children, exit 1.
[[noreturn]] void Die(const std::string& what);

// key=value on stdout.
void Print(const std::string& key, const std::string& value);
void PrintInt(const std::string& key, int64_t value);
void PrintNum(const std::string& key, double value, int decimals = 2);

}  // namespace protectogram::testing
