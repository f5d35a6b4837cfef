#pragma once

// The standard process_* metrics of Prometheus client libraries (CPU seconds, resident
// and virtual memory, open and maximum file descriptors, start time), read from
// /proc/self when /metrics is scraped: nothing is sampled between scrapes.

#include <prometheus/metric_family.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace fa::monitoring {

/// One reading of /proc/self (Linux). Fields that could not be read stay unset.
struct process_sample {
  std::optional<double> cpu_seconds;        ///< user + system time
  std::optional<double> resident_bytes;     ///< RSS
  std::optional<double> virtual_bytes;      ///< VSZ
  std::optional<double> open_fds;           ///< entries of /proc/self/fd
  std::optional<double> max_fds;            ///< RLIMIT_NOFILE soft limit
  std::optional<double> start_time_seconds; ///< unix seconds
};

process_sample read_process_sample();

/// Parses the text of /proc/<pid>/stat: fields after the command name (which may hold
/// spaces and parentheses, so it is skipped up to the last ')'). `ticks_per_second` is
/// sysconf(_SC_CLK_TCK), `page_size` in octets, `boot_time` the unix seconds of boot
/// (/proc/stat btime). Returns false when the text does not have the fields.
bool parse_proc_stat(std::string_view text, double ticks_per_second, double page_size,
                     double boot_time, process_sample& out);

/// The sample as Prometheus families: process_cpu_seconds_total (counter),
/// process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
/// process_max_fds and process_start_time_seconds (gauges).
std::vector<prometheus::MetricFamily> process_families(const process_sample& s);

} // namespace fa::monitoring
