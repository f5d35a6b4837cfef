#include "app/destinations.hpp"

#include "actors/exporter_session.hpp"
#include "actors/jsonl_sink.hpp"
#include "monitoring/log.hpp"
#include "net/tls_client.hpp"

namespace fa::app {

namespace {

std::chrono::milliseconds to_ms(config::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

/// ipfix+tls (RFC 7011 11): the connection is a TLS client that verifies the collector
/// (and shows our certificate when one is configured). The context is built here, once,
/// so that a missing or bad file stops the start with an error naming it.
std::optional<std::string> use_tls(const config::destination_config& d, asio::io_context& io,
                                   monitoring::metrics& metrics,
                                   actors::exporter_session_config& ec) {
  net::tls_client_options o;
  o.ca = d.tls_ca;
  o.cert = d.tls_cert;
  o.key = d.tls_key;
  o.min_version = d.tls_min_version;
  auto made = net::make_client_context(o);
  if (auto* err = std::get_if<std::string>(&made))
    return *err;
  auto server_name = d.tls_server_name.empty() ? d.url.host : d.tls_server_name;
  ec.make_client = [&io, &metrics, ctx = std::get<net::ssl_context_ptr>(std::move(made)),
                    host = d.url.host, port = d.url.port, server_name, name = d.name,
                    timeout = ec.connect_timeout](net::client_handlers h) -> net::client_ptr {
    auto on_failure = [&metrics, name](std::string_view reason, const std::string& detail) {
      // Retried with backoff by the exporter session, so this is bounded in rate.
      metrics.destination_tls_failures(name, reason).Increment();
      monitoring::log(monitoring::log_level::warn, "tls handshake with collector failed",
                      {{"destination", name}, {"reason", std::string{reason}}, {"detail", detail}});
    };
    return std::make_shared<net::tls_client>(io, ctx, host, port, server_name, std::move(h),
                                             std::move(on_failure), timeout);
  };
  return std::nullopt;
}

} // namespace

std::variant<actors::destination_actor, std::string>
spawn_destination(caf::actor_system& sys, const config::config& cfg,
                  const config::destination_config& d, asio::io_context& io,
                  monitoring::metrics& metrics) {
  switch (d.url.kind) {
  case config::destination_kind::jsonl: {
    actors::jsonl_sink_config jc{d.name, d.url.path, &metrics};
    return sys.spawn<caf::detached>(actors::jsonl_sink, jc);
  }
  case config::destination_kind::ipfix_tcp:
  case config::destination_kind::ipfix_udp:
  case config::destination_kind::ipfix_tls: {
    actors::exporter_session_config ec;
    ec.name = d.name;
    ec.url = config::to_string(d.url);
    ec.host = d.url.host;
    ec.port = d.url.port;
    ec.observation_domain_id = config::export_odid(cfg, d);
    ec.max_message_size = config::effective_max_message_size(d);
    ec.flush_interval = to_ms(d.flush_interval);
    ec.queue_size = d.queue_size;
    ec.replay_window = d.replay_window;
    ec.on_full = d.on_full == config::on_full_policy::drop ? actors::on_full_policy::drop
                                                           : actors::on_full_policy::block;
    ec.reconnect_min = to_ms(d.reconnect_min);
    ec.reconnect_max = to_ms(d.reconnect_max);
    ec.io = &io;
    ec.metrics = &metrics;
    // ipfix+udp: one message per datagram, template refresh (RFC 7011 10.3, 8.4).
    ec.datagram = d.url.kind == config::destination_kind::ipfix_udp;
    ec.template_refresh = to_ms(d.template_refresh);
    ec.template_refresh_messages = d.template_refresh_messages;
    if (d.url.kind == config::destination_kind::ipfix_tls)
      if (auto err = use_tls(d, io, metrics, ec))
        return "destination " + d.name + ": " + *err;
    return sys.spawn(actors::exporter_session, ec);
  }
  default:
    // config validation refuses transports this version does not have.
    return "destination " + d.name + ": transport not supported in this version";
  }
}

} // namespace fa::app
