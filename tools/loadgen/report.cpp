#include "tools/loadgen/report.hpp"

#include <algorithm>
#include <cstdio>

namespace fa::tools {

namespace {

std::string report_json(const loadgen_config& cfg, const session_stats& total, double seconds,
                        bool complete) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "{\"sessions\":%u,\"records\":%llu,\"messages\":%llu,\"bytes\":%llu,"
                "\"seconds\":%.6f,\"records_per_s\":%.1f,\"complete\":%s}\n",
                cfg.sessions, static_cast<unsigned long long>(total.records),
                static_cast<unsigned long long>(total.messages),
                static_cast<unsigned long long>(total.bytes), seconds,
                seconds > 0 ? static_cast<double>(total.records) / seconds : 0.0,
                complete ? "true" : "false");
  return buf;
}

} // namespace

void run_totals::add(const session_stats& st) {
  total.records += st.records;
  total.messages += st.messages;
  total.bytes += st.bytes;
  last = std::max(last, st.last_write);
  complete = complete && st.complete;
  if (!st.error.empty()) {
    ++failures;
    if (first_error.empty())
      first_error = st.error;
  } else if (st.peer_closed_early) {
    ++stopped;
  }
  no_close += st.peer_close_timeout ? 1 : 0;
}

int report_run(const loadgen_config& cfg, const run_totals& t, steady::time_point start,
               bool interrupted) {
  const auto& total = t.total;
  const auto complete = t.complete;
  // The run lasted from its start to the last write of any session.
  double seconds = std::chrono::duration<double>(std::max(t.last, start) - start).count();
  if (!cfg.report.empty()) {
    if (auto err = write_file_atomically(cfg.report, report_json(cfg, total, seconds, complete));
        !err.empty())
      std::fprintf(stderr, "ipfix-loadgen: %s\n", err.c_str());
  }
  if (!cfg.quiet)
    std::fprintf(stderr,
                 "ipfix-loadgen: %u sessions, %llu records, %llu messages, %llu bytes in %.3f s: "
                 "%.0f records/s (%s)\n",
                 cfg.sessions, static_cast<unsigned long long>(total.records),
                 static_cast<unsigned long long>(total.messages),
                 static_cast<unsigned long long>(total.bytes), seconds,
                 seconds > 0 ? static_cast<double>(total.records) / seconds : 0.0,
                 std::string(to_string(cfg.kind)).c_str());
  if (t.no_close > 0)
    std::fprintf(stderr, "ipfix-loadgen: warning: %d sessions' peers did not close in time\n",
                 t.no_close);
  if (t.failures > 0) {
    std::fprintf(stderr, "ipfix-loadgen: %d of %u sessions failed; first: %s\n", t.failures,
                 cfg.sessions, t.first_error.c_str());
    return 1;
  }
  if (t.stopped > 0) {
    std::fprintf(stderr, "ipfix-loadgen: the peer closed %d sessions before all was sent\n",
                 t.stopped);
    return 3;
  }
  if (interrupted && !complete) {
    std::fprintf(stderr, "ipfix-loadgen: interrupted before all was sent\n");
    return 130;
  }
  return 0;
}

} // namespace fa::tools
