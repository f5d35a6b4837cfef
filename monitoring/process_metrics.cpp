#include "monitoring/process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace fa::monitoring {

namespace {

std::string read_all(const char* path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return {};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// /proc/stat "btime": the boot time in unix seconds, which /proc/self/stat's start
/// time (in clock ticks since boot) is relative to.
std::optional<double> boot_time() {
  std::istringstream in{read_all("/proc/stat")};
  std::string key;
  double value = 0;
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("btime ", 0) == 0) {
      std::istringstream l{line};
      if (l >> key >> value)
        return value;
    }
  return std::nullopt;
}

prometheus::MetricFamily family(const char* name, const char* help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  f.metric.push_back(std::move(m));
  return f;
}

} // namespace

bool parse_proc_stat(std::string_view text, double ticks_per_second, double page_size,
                     double boot_time, process_sample& out) {
  // proc(5): pid (comm) state ppid ... ; comm may contain ") ", so fields are counted
  // from the last ')'. After it, field 3 (state) is index 0 here.
  auto close = text.rfind(')');
  if (close == std::string_view::npos)
    return false;
  std::istringstream in{std::string{text.substr(close + 1)}};
  std::vector<std::string> fields{std::istream_iterator<std::string>{in},
                                  std::istream_iterator<std::string>{}};
  // utime 14, stime 15, starttime 22, vsize 23, rss 24 (1-based in proc(5)).
  constexpr std::size_t utime = 14 - 3, stime = 15 - 3, starttime = 22 - 3, vsize = 23 - 3,
                        rss = 24 - 3;
  if (fields.size() <= rss)
    return false;
  auto num = [&](std::size_t i) { return std::strtod(fields[i].c_str(), nullptr); };
  if (ticks_per_second > 0) {
    out.cpu_seconds = (num(utime) + num(stime)) / ticks_per_second;
    if (boot_time > 0)
      out.start_time_seconds = boot_time + num(starttime) / ticks_per_second;
  }
  out.virtual_bytes = num(vsize);
  out.resident_bytes = num(rss) * page_size;
  return true;
}

process_sample read_process_sample() {
  process_sample s;
  parse_proc_stat(read_all("/proc/self/stat"), static_cast<double>(::sysconf(_SC_CLK_TCK)),
                  static_cast<double>(::sysconf(_SC_PAGESIZE)), boot_time().value_or(0), s);
  std::error_code ec;
  std::size_t fds = 0;
  for (std::filesystem::directory_iterator i{"/proc/self/fd", ec}, end; !ec && i != end;
       i.increment(ec))
    ++fds;
  // The directory iterator's own descriptor is listed too; it is closed again now.
  if (!ec && fds > 0)
    s.open_fds = static_cast<double>(fds - 1);
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
    s.max_fds = static_cast<double>(lim.rlim_cur);
  return s;
}

std::vector<prometheus::MetricFamily> process_families(const process_sample& s) {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  auto add = [&](const std::optional<double>& v, const char* name, const char* help,
                 MetricType type) {
    if (v)
      out.push_back(family(name, help, type, *v));
  };
  add(s.cpu_seconds, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds",
      MetricType::Counter);
  add(s.resident_bytes, "process_resident_memory_bytes", "Resident memory size in bytes",
      MetricType::Gauge);
  add(s.virtual_bytes, "process_virtual_memory_bytes", "Virtual memory size in bytes",
      MetricType::Gauge);
  add(s.open_fds, "process_open_fds", "Number of open file descriptors", MetricType::Gauge);
  add(s.max_fds, "process_max_fds", "Maximum number of open file descriptors", MetricType::Gauge);
  add(s.start_time_seconds, "process_start_time_seconds",
      "Start time of the process since unix epoch in seconds", MetricType::Gauge);
  return out;
}

} // namespace fa::monitoring
