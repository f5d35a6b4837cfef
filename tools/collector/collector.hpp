#pragma once

// The engine of ipfix-collector: a strict IPFIX collecting process over TCP or UDP for
// tests, demos and benchmarks. One thread; every transport session (a TCP connection,
// or a UDP exporter address and port) keeps its own templates (RFC 7011 8) and
// sequence expectations (RFC 7011 3.1) per ODID.

#include "tools/common/cli.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace fa::tools {

struct collector_config {
  host_port listen{"127.0.0.1", 4739};
  std::string port_file;
  std::optional<std::uint64_t> verify_seed;
  bool stamp = false; ///< octetDeltaCount holds the send time (CLOCK_MONOTONIC ns)
  std::optional<std::uint32_t> expect_odid_base;
  std::uint32_t expect_odid_count = 0;
  std::optional<std::uint64_t> expect_records; ///< per original ODID
  std::string expect_exporter;                 ///< address literal, empty = not checked
  std::optional<std::uint64_t> expect_total;
  std::optional<std::chrono::nanoseconds> idle_exit;
  std::optional<std::chrono::nanoseconds> duration;
  std::chrono::nanoseconds drain_timeout = std::chrono::seconds(10);
  bool print = false;
  std::string save;
  std::string report;
  std::size_t read_buffer = 256 << 10;
  bool quiet = false;
  /// Receive IPFIX over UDP (RFC 7011 10.3) instead of TCP: every datagram must be
  /// exactly one message; withdrawals are exporter errors (RFC 7011 8.4).
  bool udp = false;
  /// UDP: datagrams larger than this are counted malformed ("datagram_too_large");
  /// 0 = not checked.
  std::size_t max_datagram = 0;
};

/// Runs until a stop condition; writes the report and summary. Report keys: connections
/// (UDP: transport sessions, one per exporter address and port), datagrams and
/// max_datagram (UDP: count and largest size),
/// messages, records, bytes, template_records, templates_distinct (distinct template ids),
/// malformed (reason -> count), unknown_template_records (data *sets* without a template:
/// their records cannot be delimited), sequence_errors (messages whose sequence number is
/// not the count of data records received before on that connection and ODID), verified,
/// mismatched, duplicates, missing, odids (distinct original ODIDs: 405, else the header
/// ODID), latency_us {p50, p99, max}, seconds (first connection to last data),
/// records_per_s, mismatch_examples. Returns the exit code:
/// 0 when nothing was wrong, 1 when a check failed (malformed input, sequence errors,
/// mismatches, duplicates, missing records) or the listener could not start.
int run_collector(const collector_config& cfg);

} // namespace fa::tools
