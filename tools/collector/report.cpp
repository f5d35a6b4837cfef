// ipfix-collector's report: the JSON file (--report) and the summary on stderr.

#include "tools/collector/server.hpp"

#include <algorithm>

namespace fa::tools {

using namespace std::chrono_literals;

std::uint64_t collector::count_missing() const {
  if (!cfg_.verify_seed)
    return 0;
  std::uint64_t missing = 0;
  auto expected_records = [&](const odid_state* st) -> std::uint64_t {
    if (cfg_.expect_records)
      return *cfg_.expect_records;
    return st != nullptr && st->distinct > 0 ? st->max_index + 1 : 0;
  };
  if (cfg_.expect_odid_base) {
    // Without --expect-records, an ODID that sent nothing is missing as many records as
    // the others sent at most.
    std::uint64_t widest = 0;
    for (auto& [id, st] : t_.odids)
      widest = std::max(widest, st.distinct > 0 ? st.max_index + 1 : 0);
    for (std::uint64_t i = 0; i < cfg_.expect_odid_count; ++i) {
      auto id = static_cast<std::uint32_t>(*cfg_.expect_odid_base + i);
      auto it = t_.odids.find(id);
      const odid_state* st = it == t_.odids.end() ? nullptr : &it->second;
      auto want = cfg_.expect_records ? *cfg_.expect_records : widest;
      missing += want - (st != nullptr ? st->distinct_below(want) : 0);
    }
    return missing;
  }
  for (auto& [id, st] : t_.odids) {
    auto want = expected_records(&st);
    missing += want - st.distinct_below(want);
  }
  return missing;
}

std::string collector::report_json(double seconds) const {
  std::string s = "{";
  auto put = [&s](std::string_view key, std::uint64_t v) {
    if (s.size() > 1)
      s += ',';
    s += '"';
    s += key;
    s += "\":";
    s += std::to_string(v);
  };
  put("connections", t_.connections);
  put("datagrams", t_.datagrams);
  put("max_datagram", t_.max_datagram);
  put("messages", t_.messages);
  put("records", t_.records);
  put("bytes", t_.bytes);
  put("template_records", t_.template_records);
  put("templates_distinct", t_.template_ids.size());
  s += ",\"malformed\":{";
  bool first = true;
  for (auto& [reason, n] : t_.malformed) {
    if (!first)
      s += ',';
    first = false;
    append_json_string(s, reason);
    s += ':';
    s += std::to_string(n);
  }
  s += '}';
  put("unknown_template_records", t_.unknown_template_records);
  put("sequence_errors", t_.sequence_errors);
  put("verified", t_.verified);
  put("mismatched", t_.mismatched);
  put("duplicates", t_.duplicates);
  put("missing", missing_);
  put("odids", t_.odids.size());
  // Data records per message-header ODID, sorted: tells traffic of different exporters
  // apart without --verify (the UDP benchmark's flush traffic, say).
  s += ",\"records_by_header_odid\":{";
  std::map<std::uint32_t, std::uint64_t> by_odid(t_.header_odids.begin(), t_.header_odids.end());
  for (auto it = by_odid.begin(); it != by_odid.end(); ++it) {
    if (it != by_odid.begin())
      s += ',';
    s += '"';
    s += std::to_string(it->first);
    s += "\":";
    s += std::to_string(it->second);
  }
  s += '}';
  char buf[256];
  std::snprintf(buf, sizeof buf, ",\"latency_us\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}",
                static_cast<double>(t_.latency.quantile(0.5)) / 1e3,
                static_cast<double>(t_.latency.quantile(0.99)) / 1e3,
                static_cast<double>(t_.latency.max()) / 1e3);
  s += buf;
  std::snprintf(buf, sizeof buf, ",\"seconds\":%.6f,\"records_per_s\":%.1f", seconds,
                seconds > 0 ? static_cast<double>(t_.records) / seconds : 0.0);
  s += buf;
  s += ",\"mismatch_examples\":[";
  for (std::size_t i = 0; i < t_.mismatch_examples.size(); ++i) {
    if (i > 0)
      s += ',';
    append_json_string(s, t_.mismatch_examples[i]);
  }
  s += "]}\n";
  return s;
}

void collector::summary(double seconds) const {
  std::uint64_t min_records = UINT64_MAX, max_records = 0;
  for (auto& [id, st] : t_.odids) {
    min_records = std::min(min_records, st.records);
    max_records = std::max(max_records, st.records);
  }
  std::uint64_t malformed = 0;
  for (auto& [reason, n] : t_.malformed)
    malformed += n;
  std::fprintf(
      stderr,
      "ipfix-collector: %llu connections, %llu records, %llu messages, %llu bytes in "
      "%.3f s: %.0f records/s; %zu ODIDs (%llu..%llu records each), %zu header ODIDs; "
      "templates %llu (%zu ids); malformed %llu, unknown-template sets %llu, "
      "sequence errors %llu",
      static_cast<unsigned long long>(t_.connections), static_cast<unsigned long long>(t_.records),
      static_cast<unsigned long long>(t_.messages), static_cast<unsigned long long>(t_.bytes),
      seconds, seconds > 0 ? static_cast<double>(t_.records) / seconds : 0.0, t_.odids.size(),
      static_cast<unsigned long long>(t_.odids.empty() ? 0 : min_records),
      static_cast<unsigned long long>(max_records), t_.header_odids.size(),
      static_cast<unsigned long long>(t_.template_records), t_.template_ids.size(),
      static_cast<unsigned long long>(malformed),
      static_cast<unsigned long long>(t_.unknown_template_records),
      static_cast<unsigned long long>(t_.sequence_errors));
  if (t_.options_records > 0)
    std::fprintf(stderr, "; options records %llu",
                 static_cast<unsigned long long>(t_.options_records));
  if (cfg_.verify_seed)
    std::fprintf(stderr, "; verified %llu, mismatched %llu, duplicates %llu, missing %llu",
                 static_cast<unsigned long long>(t_.verified),
                 static_cast<unsigned long long>(t_.mismatched),
                 static_cast<unsigned long long>(t_.duplicates),
                 static_cast<unsigned long long>(missing_));
  if (cfg_.stamp)
    std::fprintf(stderr, "; latency p50 %.1f us, p99 %.1f us, max %.1f us",
                 static_cast<double>(t_.latency.quantile(0.5)) / 1e3,
                 static_cast<double>(t_.latency.quantile(0.99)) / 1e3,
                 static_cast<double>(t_.latency.max()) / 1e3);
  std::fprintf(stderr, "\n");
  for (auto& reason : t_.malformed)
    std::fprintf(stderr, "ipfix-collector: malformed %s: %llu\n", reason.first.c_str(),
                 static_cast<unsigned long long>(reason.second));
  for (auto& example : t_.mismatch_examples)
    std::fprintf(stderr, "ipfix-collector: mismatch: %s\n", example.c_str());
}

} // namespace fa::tools
