#pragma once

// ipfix-loadgen over UDP (RFC 7011 10.3): one connected socket per exporter session, one
// message per datagram.

#include "tools/loadgen/options.hpp"

#include <asio/ip/address.hpp>

namespace fa::tools {

/// Runs the sessions of `cfg` to `address` until each has sent everything, the run's
/// --duration ends or a signal stops it; reports and returns the exit code.
int run_udp(const loadgen_config& cfg, const asio::ip::address& address);

} // namespace fa::tools
