// tls:// listeners (RFC 7011 10.4.2 and 11): exporters connect with TLS; after the
// handshake each connection is a session like a TCP one.

#include "app/open_files.hpp"
#include "app/supervisor.hpp"

#include "monitoring/log.hpp"
#include "monitoring/rate_limited_log.hpp"
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

std::variant<net::listener_ptr, std::string>
supervisor::start_tls_listener(const asio::ip::address& addr, std::uint16_t port) {
  if (!tls_server_) {
    auto made = net::tls_server_context::make(server_options(cfg_.collector.tls));
    if (auto* err = std::get_if<std::string>(&made))
      return *err;
    tls_server_ = std::get<net::tls_server_context_ptr>(std::move(made));
  }
  net::tls_listener_options o;
  o.max_handshakes = cfg_.collector.tls.max_handshakes;
  o.handshake_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.collector.tls.handshake_timeout);
  o.max_read = 256 * 1024;
  o.max_message_size = cfg_.collector.max_message_size;
  o.timeouts = session_timeouts();
  net::tls_listener_handlers h;
  h.accept_failed =
      count_accept_failures(metrics_, "tls",
                            "tls://" + asio::ip::tcp::endpoint{addr, port}.address().to_string() +
                                ":" + std::to_string(port));
  h.established = [this](net::tls_connection_ptr conn) {
    auto remote = conn->remote();
    auto slot = admit(messages::transport::tls, remote.address());
    if (!slot) {
      conn->close("max_sessions");
      return;
    }
    auto s = open_session(messages::transport::tls, remote.address(), remote.port(), conn,
                          std::move(slot));
    if (monitoring::log_enabled(log_level::debug))
      log(log_level::debug, "tls session",
          {{"id", std::to_string(s.id)},
           {"peer", s.info->peer_text},
           {"names", conn->peer_names()}});
    conn->start(new_session_budgets(), frames_to(s.actor), close_to(s));
  };
  h.failed = [this](std::string_view reason, const net::tls_connection& conn,
                    const std::string& detail) {
    metrics_.tls_handshake_failures(reason).Increment();
    // A peer that connects and leaves (a TCP health check, a port scan) is routine:
    // counted, logged at debug only.
    auto level = reason == "peer_closed" ? log_level::debug : log_level::warn;
    if (!monitoring::log_enabled(level))
      return;
    if (auto suppressed = handshake_log.admit()) {
      auto r = conn.remote();
      log(level, "tls handshake failed",
          {{"reason", std::string{reason}},
           {"peer", r.address().to_string() + ":" + std::to_string(r.port())},
           {"detail", detail},
           {"suppressed", std::to_string(*suppressed)}});
    }
  };
  auto* gauge = &metrics_.tls_handshakes_in_progress();
  h.in_progress = [gauge](int delta) { gauge->Increment(delta); };
  auto l = std::make_shared<net::tls_listener>(io_.context(), asio::ip::tcp::endpoint{addr, port},
                                               tls_server_, o, std::move(h));
  l->start();
  return l;
}

std::optional<std::string> supervisor::reload_tls() {
  if (!tls_server_)
    return std::nullopt;
  if (auto err = tls_server_->reload()) {
    metrics_.tls_reloads("error").Increment();
    log(log_level::error, "tls reload failed, keeping the current certificate", {{"error", *err}});
    return err;
  }
  metrics_.tls_reloads("ok").Increment();
  log(log_level::info, "tls reloaded",
      {{"cert", cfg_.collector.tls.cert}, {"client_ca", cfg_.collector.tls.client_ca}});
  return std::nullopt;
}

} // namespace fa::app
