#pragma once

// ipfix-loadgen's command line: what to send, how fast, over which transport.

#include "tools/common/cli.hpp"
#include "tools/common/loadgen_content.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace fa::tools {

struct loadgen_config {
  host_port target{"127.0.0.1", 4739};
  std::uint32_t sessions = 1;
  std::optional<std::uint64_t> records; ///< per session
  std::optional<std::chrono::nanoseconds> duration;
  double rate = 0; ///< total records/s over all sessions; 0 = as fast as possible
  std::uint32_t records_per_message = 32;
  template_kind kind = template_kind::minimal;
  std::uint64_t seed = 1;
  std::uint32_t odid_base = 1000;
  /// Session i uses ODID odid_base + i * odid_step: several load generators then play
  /// interleaved sessions of one pair content (--pair-base), each to its own target.
  std::uint32_t odid_step = 1;
  std::optional<std::uint32_t> pair_base; ///< --pairs: session 0's ODID (default odid_base)
  bool stamp = false;
  std::chrono::nanoseconds connect_timeout = std::chrono::seconds{5};
  std::chrono::nanoseconds close_timeout = std::chrono::seconds{5};
  std::string report;
  // --tls-ca (RFC 7011 11): sessions are TLS clients that verify the target against the
  // CA and present --tls-cert when given.
  bool tls = false;
  std::string tls_ca, tls_cert, tls_key, tls_server_name;
  std::string write_file; ///< --write: the sessions' messages go to this file, in order
  unsigned io_threads = 1;
  std::uint64_t pregen_limit = 512ULL << 20;
  std::uint16_t template_id = 256;
  bool quiet = false;
  // --transport udp (RFC 7011 10.3): each message is one datagram.
  bool udp = false;
  std::uint32_t max_datagram = 1400; ///< UDP: largest message (= datagram payload)
  std::chrono::nanoseconds template_refresh =
      std::chrono::seconds{1}; ///< UDP: templates re-sent this often
  /// UDP: records per session encoded once and sent round and round (0: every record,
  /// when they fit --pregen-limit; otherwise each datagram is encoded as it is sent).
  std::uint64_t udp_ring = 0;
  /// --pairs: flows per pair of sessions of the aggregate-mode content (0: the
  /// template's own content).
  std::uint64_t pair_flows = 0;
  /// Index of each session's first record (--first-record): with --pairs, round R of
  /// F flows starts at R * F, so a later run continues the flows of an earlier one.
  std::uint64_t first_record = 0;
};

/// Parses and checks the command line; exits with the usage on an error.
loadgen_config parse_args(int argc, char** argv);

} // namespace fa::tools
