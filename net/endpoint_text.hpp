#pragma once

// How an address and port are named in logs, metrics and the admin API: "10.0.0.1:4739",
// "[fd00::1]:4739" (RFC 3986 3.2.2 brackets), IPv4 clients of a dual-stack socket as IPv4.

#include <asio/ip/address.hpp>

#include <cstdint>
#include <string>

namespace fa::net {

/// A dual-stack socket sees an IPv4 peer as ::ffff:a.b.c.d; the exporter is a.b.c.d.
inline asio::ip::address unmapped(asio::ip::address a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

/// "ADDRESS:PORT", an IPv6 address in brackets. Built with +=: GCC 12 at -O3 reports a
/// false -Wrestrict on "[" + string.
inline std::string endpoint_text(const asio::ip::address& a, std::uint16_t port) {
  std::string out;
  if (a.is_v6())
    out += '[';
  out += a.to_string();
  if (a.is_v6())
    out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

} // namespace fa::net
