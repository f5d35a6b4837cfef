#include "app/listeners.hpp"

#include "app/open_files.hpp"
#include "net/tcp_connection.hpp"

namespace fa::app {

namespace {

/// A tcp:// connection: admitted, then a session fed by the connection's frames.
void accept(session_registry& sessions, asio::ip::tcp::socket socket) {
  asio::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  if (ec)
    return; // the peer went away before we looked
  auto slot = sessions.admit(messages::transport::tcp, remote.address());
  if (!slot) {
    socket.close(ec);
    return;
  }
  constexpr std::size_t max_read = 256 * 1024;
  auto conn = std::make_shared<net::tcp_connection>(
      std::move(socket), sessions.new_session_budgets(), max_read,
      sessions.collector().max_message_size, sessions.session_timeouts());
  auto s = sessions.open(messages::transport::tcp, remote.address(), remote.port(), conn,
                         std::move(slot));
  conn->start(session_registry::frames_to(s.actor), session_registry::close_to(s));
}

/// tcp:// listener: each connection is a session.
net::listener_ptr start_tcp_listener(const acceptor_context& ctx, const asio::ip::address& addr,
                                     const config::listen_endpoint& ep) {
  auto& sessions = ctx.sessions;
  return std::make_shared<net::tcp_listener>(
      ctx.io, asio::ip::tcp::endpoint{addr, ep.port},
      [&sessions](asio::ip::tcp::socket s) { accept(sessions, std::move(s)); },
      count_accept_failures(ctx.metrics, "tcp", config::to_string(ep)));
}

} // namespace

std::variant<net::listener_ptr, std::string> start_listener(const acceptor_context& ctx,
                                                            const config::listen_endpoint& ep) {
  asio::error_code ec;
  auto addr = asio::ip::make_address(ep.host, ec);
  if (ec)
    return "not an IP address";
  switch (ep.transport) {
  case config::transport_kind::udp:
    return start_udp_listener(ctx, addr, ep.port);
  case config::transport_kind::tls:
    return start_tls_listener(ctx, addr, ep.port);
  case config::transport_kind::grpc:
  case config::transport_kind::grpcs:
    return start_grpc_listener(ctx, addr, ep.port, ep.transport == config::transport_kind::grpcs);
  default:
    return start_tcp_listener(ctx, addr, ep);
  }
}

} // namespace fa::app
