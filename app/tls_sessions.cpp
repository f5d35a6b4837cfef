// tls:// listeners (RFC 7011 10.4.2 and 11): exporters connect with TLS; after the
// handshake each connection is a session like a TCP one.

#include "app/listeners.hpp"
#include "app/open_files.hpp"

#include "monitoring/log.hpp"
#include "monitoring/rate_limited_log.hpp"
#include "net/endpoint_text.hpp"
#include "net/tls_connection.hpp"
#include "net/tls_context.hpp"

namespace fa::app {

using monitoring::log;
using monitoring::log_level;

namespace {

net::tls_server_options server_options(const config::tls_config& t) {
  net::tls_server_options o;
  o.cert = t.cert;
  o.key = t.key;
  o.client_ca = t.client_ca;
  o.allowed_names = t.allowed_names;
  o.min_version = t.min_version;
  return o;
}

/// Failed handshakes are logged at most 10 times per 10 s (STYLE: bad input is logged
/// with a rate limit): a scanner or a misconfigured fleet must not flood the log. The
/// counter by reason sees every one.
monitoring::shared_log_rate_limiter handshake_log{10, std::chrono::seconds{10}};

} // namespace

void report_tls_handshake_failure(monitoring::metrics& metrics, std::string_view reason,
                                  const std::string& peer, const std::string& detail) {
  metrics.tls_handshake_failures(reason).Increment();
  // A peer that connects and leaves (a TCP health check, a port scan) is routine:
  // counted, logged at debug only.
  auto level = reason == "peer_closed" ? log_level::debug : log_level::warn;
  if (!monitoring::log_enabled(level))
    return;
  if (auto suppressed = handshake_log.admit())
    log(level, "tls handshake failed",
        {{"reason", std::string{reason}},
         {"peer", peer},
         {"detail", detail},
         {"suppressed", std::to_string(*suppressed)}});
}

std::variant<net::listener_ptr, std::string>
start_tls_listener(const acceptor_context& ctx, const asio::ip::address& addr, std::uint16_t port) {
  auto& sessions = ctx.sessions;
  auto& metrics = ctx.metrics;
  const auto& collector = sessions.collector();
  if (!ctx.tls_server) {
    auto made = net::tls_server_context::make(server_options(collector.tls));
    if (auto* err = std::get_if<std::string>(&made))
      return *err;
    ctx.tls_server = std::get<net::tls_server_context_ptr>(std::move(made));
  }
  net::tls_listener_options o;
  o.max_handshakes = collector.tls.max_handshakes;
  o.handshake_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(collector.tls.handshake_timeout);
  o.max_read = 256 * 1024;
  o.max_message_size = collector.max_message_size;
  o.timeouts = sessions.session_timeouts();
  net::tls_listener_handlers h;
  h.accept_failed =
      count_accept_failures(metrics, "tls", "tls://" + net::endpoint_text(addr, port));
  h.established = [&sessions](net::tls_connection_ptr conn) {
    auto remote = conn->remote();
    auto slot = sessions.admit(messages::transport::tls, remote.address());
    if (!slot) {
      conn->close("max_sessions");
      return;
    }
    auto s = sessions.open(messages::transport::tls, remote.address(), remote.port(), conn,
                           std::move(slot));
    if (monitoring::log_enabled(log_level::debug))
      log(log_level::debug, "tls session",
          {{"id", std::to_string(s.id)},
           {"peer", s.info->peer_text},
           {"names", conn->peer_names()}});
    conn->start(sessions.new_session_budgets(), session_registry::frames_to(s.actor),
                session_registry::close_to(s));
  };
  h.failed = [&metrics](std::string_view reason, const net::tls_connection& conn,
                        const std::string& detail) {
    auto r = conn.remote();
    report_tls_handshake_failure(metrics, reason,
                                 net::endpoint_text(net::unmapped(r.address()), r.port()), detail);
  };
  auto* gauge = &metrics.tls_handshakes_in_progress();
  h.in_progress = [gauge](int delta) { gauge->Increment(delta); };
  auto l = std::make_shared<net::tls_listener>(ctx.io, asio::ip::tcp::endpoint{addr, port},
                                               ctx.tls_server, o, std::move(h));
  l->start();
  return l;
}

} // namespace fa::app
