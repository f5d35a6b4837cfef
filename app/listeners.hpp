#pragma once

// The acceptors of `collector.listen` (DESIGN 2, app/): one per transport, each turning
// what it accepts into exporter sessions through the session registry alone.

#include "app/session_registry.hpp"
#include "config/config.hpp"
#include "monitoring/metrics.hpp"
#include "net/listener.hpp"

#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

namespace fa::net {
class tls_server_context;
}

namespace fa::app {

/// What every acceptor works with; all of it outlives the listeners.
struct acceptor_context {
  session_registry& sessions;
  asio::io_context& io;
  monitoring::metrics& metrics;
  /// The tls:// listeners' context, shared by all of them and made by the first (the
  /// supervisor re-reads its files on reload); app/tls_sessions.cpp.
  std::shared_ptr<net::tls_server_context>& tls_server;
};

/// The listener of `ep` (tcp:// here, the others below), bound and accepting, or why it
/// cannot start. Throws std::system_error when the socket cannot be bound.
std::variant<net::listener_ptr, std::string> start_listener(const acceptor_context& ctx,
                                                            const config::listen_endpoint& ep);

/// udp:// listener: one session per exporter (address, port); app/udp_sessions.cpp.
std::variant<net::listener_ptr, std::string>
start_udp_listener(const acceptor_context& ctx, const asio::ip::address& addr, std::uint16_t port);
/// tls:// listener: handshake, then a TCP-like session; app/tls_sessions.cpp.
std::variant<net::listener_ptr, std::string>
start_tls_listener(const acceptor_context& ctx, const asio::ip::address& addr, std::uint16_t port);
/// A failed handshake on a tls:// or grpcs:// listener: counted in
/// tls_handshake_failures_total by `reason` (net::handshake_failure_reason) and logged,
/// rate-limited; app/tls_sessions.cpp.
void report_tls_handshake_failure(monitoring::metrics& metrics, std::string_view reason,
                                  const std::string& peer, const std::string& detail);
/// grpc:// and grpcs:// listeners: Antrea's FlowExportService; app/grpc_sessions.cpp.
std::variant<net::listener_ptr, std::string> start_grpc_listener(const acceptor_context& ctx,
                                                                 const asio::ip::address& addr,
                                                                 std::uint16_t port, bool tls);

} // namespace fa::app
