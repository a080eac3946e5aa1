#include "tests/support/bench_support.h"

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace protectogram::testing {
namespace {

// Fields after the command name of /proc/<pid>/stat (field 3 is the first); empty if the process is gone.
std::vector<std::string> StatFields(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string line;
  if (!std::getline(in, line)) return {};
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return {};
  return absl::StrSplit(line.substr(close + 2), ' ', absl::SkipEmpty());
}

double FieldSeconds(const std::vector<std::string>& f, size_t stat_field) {  // 1-based, as proc(5)
  double v = 0;
  if (f.size() >= stat_field - 2 && absl::SimpleAtod(f[stat_field - 3], &v)) return v / Ticks();
  return 0;
}

constexpr pg::Query kDataDirectory{"bench_data_directory",
                                   "SELECT current_setting('data_directory', true) AS dir"};

}  // namespace

double Ticks() { return static_cast<double>(sysconf(_SC_CLK_TCK)); }

double PostgresCpuSeconds(pid_t postmaster) {
  if (postmaster <= 0) return 0;
  const std::vector<std::string> pm = StatFields(std::to_string(postmaster));
  double total = FieldSeconds(pm, 14) + FieldSeconds(pm, 15) + FieldSeconds(pm, 16) + FieldSeconds(pm, 17);
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return total;
  while (dirent* e = readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    const std::vector<std::string> f = StatFields(e->d_name);
    if (f.size() < 15 || f[1] != std::to_string(postmaster)) continue;  // field 4: ppid
    total += FieldSeconds(f, 14) + FieldSeconds(f, 15);
  }
  closedir(proc);
  return total;
}

double SelfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

MachineCpu ReadMachineCpu() {
  std::ifstream in("/proc/stat");
  std::string line;
  std::getline(in, line);
  std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
  MachineCpu c;
  for (size_t i = 1; i < f.size() && i <= 8; ++i) {
    double v = 0;
    (void)absl::SimpleAtod(f[i], &v);
    c.total += v;
    if (i != 4 && i != 5) c.busy += v;  // idle, iowait
  }
  return c;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string first;
  in >> first;
  return first;
}

pid_t Postmaster(pg::Pool& stats) {
  absl::StatusOr<pg::Result> dir = stats.Execute(kDataDirectory);
  if (!dir.ok() || dir->empty()) return 0;
  std::optional<std::string> path = dir->front().GetOptional<std::string>("dir");
  std::ifstream in(path.value_or("/nonexistent") + "/postmaster.pid");
  int pid = 0;
  std::string first;
  if (std::getline(in, first) && absl::SimpleAtoi(first, &pid)) return pid;
  return 0;
}

Histogram ParseHistogram(const std::string& body, const std::string& name, const std::string& label) {
  Histogram h;
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (!absl::StartsWith(line, name)) continue;
    if (!label.empty() && !absl::StrContains(line, label)) continue;
    const size_t space = line.rfind(' ');
    double value = 0;
    if (space == absl::string_view::npos || !absl::SimpleAtod(line.substr(space + 1), &value)) continue;
    const absl::string_view rest = line.substr(name.size());
    if (absl::StartsWith(rest, "_sum")) {
      h.sum += value;
    } else if (absl::StartsWith(rest, "_count")) {
      h.count += value;
    } else if (absl::StartsWith(rest, "_bucket")) {
      const size_t le = line.find("le=\"");
      if (le == absl::string_view::npos) continue;
      const absl::string_view bound = line.substr(le + 4, line.find('"', le + 4) - (le + 4));
      double upper = 0;
      if (bound == "+Inf") {
        upper = 1e300;
      } else if (!absl::SimpleAtod(bound, &upper)) {
        continue;
      }
      h.buckets[upper] += value;
    }
  }
  return h;
}

double BucketQuantile(const Histogram& a, const Histogram& b, double q) {
  const double count = b.count - a.count;
  for (const auto& [upper, cumulative] : b.buckets) {
    const auto before = a.buckets.find(upper);
    const double n = cumulative - (before != a.buckets.end() ? before->second : 0);
    if (n >= q * count) return upper;
  }
  return 0;
}

void Add(Histogram& into, const Histogram& more) {
  into.sum += more.sum;
  into.count += more.count;
  for (const auto& [upper, n] : more.buckets) into.buckets[upper] += n;
}

namespace {

constexpr int kMaxChildren = 64;
pid_t g_children[kMaxChildren];
std::atomic<int> g_child_count{0};
std::string g_program = "bench";

void KillChildren() {
  for (int i = 0; i < g_child_count.load(); ++i) kill(g_children[i], SIGKILL);
}

extern "C" void OnTerminate(int) {
  KillChildren();
  _exit(1);
}

}  // namespace

void AdoptChild(pid_t pid) {
  const int i = g_child_count.load();
  if (i >= kMaxChildren) Die("more than 64 children");
  g_children[i] = pid;
  g_child_count.store(i + 1);
}

void KillChildrenOnSignals() {
  signal(SIGTERM, OnTerminate);
  signal(SIGINT, OnTerminate);
}

void SetProgramName(const std::string& name) { g_program = name; }

void Progress(const std::string& line) { std::cerr << g_program << ": " << line << std::endl; }

void Die(const std::string& what) {
  Progress(what);
  KillChildren();
  std::exit(1);
}

void Print(const std::string& key, const std::string& value) { std::cout << key << "=" << value << "\n"; }
void PrintInt(const std::string& key, int64_t value) { Print(key, std::to_string(value)); }
void PrintNum(const std::string& key, double value, int decimals) {
  Print(key, absl::StrFormat("%.*f", decimals, value));
}

}  // namespace protectogram::testing
