// monitoring/: what the metrics and the log limiter promise, without a running service.

#include "monitoring/metrics.hpp"
#include "monitoring/process_metrics.hpp"
#include "monitoring/rate_limited_log.hpp"

#include <gtest/gtest.h>

#include <prometheus/text_serializer.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace fa::monitoring {
namespace {

/// The value of the series `name` with label `key`=`value` (nullopt when absent).
std::optional<double> value(metrics& m, const std::string& name, const std::string& key = "",
                            const std::string& label = "") {
  for (const auto& f : m.registry()->Collect()) {
    if (f.name != name)
      continue;
    for (const auto& s : f.metric) {
      bool match = key.empty();
      for (const auto& l : s.label)
        match = match || (l.name == key && l.value == label);
      if (match)
        return f.type == prometheus::MetricType::Gauge ? s.gauge.value : s.counter.value;
    }
  }
  return std::nullopt;
}

std::size_t series(metrics& m, const std::string& name) {
  for (const auto& f : m.registry()->Collect())
    if (f.name == name)
      return f.metric.size();
  return 0;
}

TEST(log_rate_limiter, first_event_then_one_per_interval_with_the_suppressed_count) {
  log_rate_limiter l{1, 10s};
  auto t0 = log_rate_limiter::clock::time_point{} + 100s;
  auto first = l.admit(t0);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, 0u);
  for (int i = 1; i <= 5; ++i)
    EXPECT_FALSE(l.admit(t0 + std::chrono::seconds{i}).has_value());
  EXPECT_EQ(l.suppressed(), 5u);
  EXPECT_FALSE(l.admit(t0 + 9999ms).has_value()); // still inside the window
  auto next = l.admit(t0 + 10s);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(*next, 6u); // every event left out since the last line
  EXPECT_EQ(l.suppressed(), 0u);
  EXPECT_FALSE(l.admit(t0 + 11s).has_value());
  auto after_quiet = l.admit(t0 + 60s);
  ASSERT_TRUE(after_quiet.has_value());
  EXPECT_EQ(*after_quiet, 1u);
}

TEST(log_rate_limiter, a_burst_allows_that_many_per_window) {
  log_rate_limiter l{3, 1s};
  auto t0 = log_rate_limiter::clock::time_point{} + 5s;
  EXPECT_TRUE(l.admit(t0));
  EXPECT_TRUE(l.admit(t0 + 1ms));
  EXPECT_TRUE(l.admit(t0 + 2ms));
  EXPECT_FALSE(l.admit(t0 + 3ms));
  EXPECT_FALSE(l.admit(t0 + 4ms));
  auto r = l.admit(t0 + 1s);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 2u);
}

TEST(log_rate_limiter, the_shared_one_admits_the_burst_across_threads) {
  shared_log_rate_limiter l{10, 1h};
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i)
        if (l.admit())
          ++admitted;
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(admitted.load(), 10);
  auto later = l.admit(log_rate_limiter::clock::now() + 2h);
  ASSERT_TRUE(later);
  EXPECT_EQ(*later, 390u);
}

TEST(exporter_metrics, one_series_per_address_shared_and_removed_after_the_last_holder) {
  metrics m;
  const std::string name = "flow_aggregator_exporter_records_received_total";
  {
    auto a = m.exporter("10.0.0.1");
    auto a2 = m.exporter("10.0.0.1"); // a second session of the same exporter
    EXPECT_EQ(a.records, a2.records);
    a.records->Increment(5);
    a2.records->Increment(2);
    EXPECT_EQ(value(m, name, "exporter", "10.0.0.1"), 7.0);
    { auto moved = std::move(a2); } // released once, by the moved-to handle
    EXPECT_EQ(value(m, name, "exporter", "10.0.0.1"), 7.0);
    EXPECT_EQ(series(m, name), 1u);
  }
  EXPECT_EQ(series(m, name), 0u);
  EXPECT_EQ(series(m, "flow_aggregator_exporter_records_lost_upstream_total"), 0u);
  // Back again: a fresh series (a counter reset, as Prometheus expects after a restart).
  auto again = m.exporter("10.0.0.1");
  EXPECT_EQ(value(m, name, "exporter", "10.0.0.1"), 0.0);
}

TEST(exporter_metrics, beyond_the_cap_exporters_share_other) {
  metrics m{2};
  const std::string name = "flow_aggregator_exporter_messages_received_total";
  auto a = m.exporter("10.0.0.1");
  auto b = m.exporter("fd00::2");
  auto c = m.exporter("10.0.0.3");
  auto d = m.exporter("10.0.0.4");
  EXPECT_EQ(a.label(), "10.0.0.1");
  EXPECT_EQ(b.label(), "fd00::2");
  EXPECT_EQ(c.label(), "other");
  EXPECT_EQ(d.label(), "other");
  EXPECT_EQ(c.messages, d.messages);
  c.messages->Increment(3);
  d.messages->Increment(4);
  EXPECT_EQ(value(m, name, "exporter", "other"), 7.0);
  EXPECT_EQ(series(m, name), 3u);
  // A slot frees up: the next new exporter gets its own series again.
  a = exporter_metrics{};
  EXPECT_EQ(series(m, name), 2u);
  auto e = m.exporter("10.0.0.5");
  EXPECT_EQ(e.label(), "10.0.0.5");
  // "other" stays while any of its holders does.
  c = exporter_metrics{};
  EXPECT_EQ(value(m, name, "exporter", "other"), 7.0);
  d = exporter_metrics{};
  EXPECT_FALSE(value(m, name, "exporter", "other").has_value());
}

TEST(exporter_metrics, handles_outliving_the_metrics_object_are_safe) {
  exporter_metrics h;
  {
    metrics m;
    h = m.exporter("10.1.1.1");
  }
  h.records->Increment(); // the table and its registry are kept alive by the handle
  h = exporter_metrics{};
}

TEST(metric_names, close_reasons_are_a_fixed_set) {
  EXPECT_EQ(session_close_reason("eof"), "eof");
  EXPECT_EQ(session_close_reason("eof_mid_message"), "eof_mid_message");
  EXPECT_EQ(session_close_reason("eof_without_close_notify"), "eof_without_close_notify");
  EXPECT_EQ(session_close_reason("idle_timeout"), "idle_timeout");
  EXPECT_EQ(session_close_reason("first_message_timeout"), "first_message_timeout");
  EXPECT_EQ(session_close_reason("reclaimed"), "reclaimed");
  EXPECT_EQ(session_close_reason("shutdown"), "shutdown");
  EXPECT_EQ(session_close_reason("bad_version"), "malformed");
  EXPECT_EQ(session_close_reason("bad_message_length"), "malformed");
  EXPECT_EQ(session_close_reason("message_too_large"), "malformed");
  EXPECT_EQ(session_close_reason("Connection reset by peer"), "error");
  EXPECT_EQ(session_close_reason(""), "error");
  EXPECT_EQ(exporter_address("10.0.0.1:4739"), "10.0.0.1");
  EXPECT_EQ(exporter_address("[fd00::1]:4739"), "fd00::1");
  EXPECT_EQ(exporter_address("[::ffff:1.2.3.4]:1"), "::ffff:1.2.3.4");
}

TEST(metrics, sessions_closed_by_transport_and_reason) {
  metrics m;
  m.sessions_closed("tcp", "eof").Increment();
  m.sessions_closed("udp", "idle_timeout").Increment(2);
  EXPECT_EQ(value(m, "flow_aggregator_sessions_closed_total", "reason", "idle_timeout"), 2.0);
  EXPECT_EQ(value(m, "flow_aggregator_sessions_closed_total", "reason", "eof"), 1.0);
}

TEST(label_cache_metrics, gauges_follow_and_counters_add_the_differences) {
  metrics m;
  label_cache_values v;
  v.ready = true;
  v.pods = 3;
  v.ips = 4;
  v.last_sync = 1700000000;
  v.watch_restarts = 2;
  v.lists = 1;
  m.label_cache().update(v);
  EXPECT_EQ(value(m, "flow_aggregator_label_cache_pods"), 3.0);
  EXPECT_EQ(value(m, "flow_aggregator_label_cache_ips"), 4.0);
  EXPECT_EQ(value(m, "flow_aggregator_label_cache_ready"), 1.0);
  EXPECT_EQ(value(m, "flow_aggregator_label_cache_last_sync_timestamp_seconds"), 1700000000.0);
  EXPECT_EQ(value(m, "flow_aggregator_label_cache_watch_restarts_total"), 2.0);
  v.watch_restarts = 5;
  v.pods = 1;
  m.label_cache().update(v);
  m.label_cache().update(v); // the same numbers again add nothing
  EXPECT_EQ(value(m, "flow_aggregator_label_cache_watch_restarts_total"), 5.0);
  EXPECT_EQ(value(m, "flow_aggregator_label_cache_pods"), 1.0);
  // A new label cache (reload) starts from 0: its counts add on, the total never drops.
  v.watch_restarts = 1;
  m.label_cache().update(v);
  EXPECT_EQ(value(m, "flow_aggregator_label_cache_watch_restarts_total"), 6.0);
}

TEST(process_metrics, proc_stat_fields_are_parsed_past_a_command_with_spaces) {
  // proc(5) layout; the command holds ") (" to show the last ')' is what counts.
  std::string stat = "4242 (flow ) (agg) S 1 4242 4242 0 -1 4194560 100 0 0 0 "
                     "250 50 0 0 20 0 3 0 1000 123456789 2048 18446744073709551615";
  process_sample s;
  ASSERT_TRUE(parse_proc_stat(stat, 100, 4096, 1'600'000'000, s));
  EXPECT_DOUBLE_EQ(*s.cpu_seconds, 3.0);                    // (250 + 50) / 100
  EXPECT_DOUBLE_EQ(*s.start_time_seconds, 1'600'000'010.0); // btime + 1000 / 100
  EXPECT_DOUBLE_EQ(*s.virtual_bytes, 123456789.0);
  EXPECT_DOUBLE_EQ(*s.resident_bytes, 2048.0 * 4096);
  process_sample bad;
  EXPECT_FALSE(parse_proc_stat("1 (x) S 1 2", 100, 4096, 0, bad));
  EXPECT_FALSE(bad.cpu_seconds.has_value());
}

TEST(process_metrics, the_registry_serves_plausible_process_metrics) {
  metrics m;
  auto text = prometheus::TextSerializer{}.Serialize(m.registry()->Collect());
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                           "process_start_time_seconds"})
    EXPECT_NE(text.find(std::string{"# TYPE "} + name), std::string::npos) << name;
  auto s = read_process_sample();
  ASSERT_TRUE(s.resident_bytes && s.open_fds && s.start_time_seconds && s.cpu_seconds);
  EXPECT_GT(*s.resident_bytes, 0);
  EXPECT_GE(*s.open_fds, 3); // stdin, stdout, stderr at least
  auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch());
  EXPECT_LE(*s.start_time_seconds, now.count() + 1);
  EXPECT_GT(*s.start_time_seconds, now.count() - 24 * 3600.0);
}

} // namespace
} // namespace fa::monitoring
