#include "app/destinations.hpp"

#include "actors/exporter_session.hpp"
#include "actors/flow_stream_sink.hpp"
#include "actors/jsonl_sink.hpp"
#include "monitoring/log.hpp"
#include "net/tls_client.hpp"
#include "rpc/server_tls.hpp"
#include "rpc/stream_server.hpp"

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

/// grpc-stream / grpcs-stream (antrea-grpc-transport.md 5): the server is bound here, so
/// that a port in use or a bad certificate stops the start with an error naming it.
std::variant<actors::destination_actor, std::string>
spawn_flow_stream(caf::actor_system& sys, const config::destination_config& d,
                  monitoring::metrics& metrics) {
  rpc::stream_server_options o;
  o.name = d.name;
  o.host = d.url.host;
  o.port = d.url.port;
  o.buffer = d.stream_buffer;
  o.max_subscribers = d.stream_max_subscribers;
  if (d.url.kind == config::destination_kind::grpcs_stream) {
    // Antrea serves the stream with server-side TLS only; tls_ca, when set, also asks
    // subscribers for a certificate signed by it.
    auto made = rpc::make_server_credentials(
        {d.tls_cert, d.tls_key, d.tls_ca, "destination " + d.name + ": tls_cert",
         "destination " + d.name + ": tls_key", "destination " + d.name + ": tls_ca"});
    if (auto* err = std::get_if<std::string>(&made))
      return *err;
    o.credentials = std::get<std::shared_ptr<grpc::ServerCredentials>>(std::move(made));
  }
  auto stream_metrics =
      std::make_shared<monitoring::flow_stream_metrics>(*metrics.registry(), d.name);
  o.metrics = stream_metrics.get();
  auto made = rpc::stream_server::start(std::move(o));
  if (auto* err = std::get_if<std::string>(&made))
    return "destination " + d.name + ": " + *err;
  auto server = std::get<std::shared_ptr<rpc::stream_server>>(std::move(made));
  monitoring::log(
      monitoring::log_level::info, "flow stream listening",
      {{"destination", d.name}, {"address", d.url.host}, {"port", std::to_string(server->port())}});
  actors::flow_stream_sink_config fc;
  fc.name = d.name;
  fc.url = config::to_string(d.url);
  fc.server = std::move(server);
  fc.stream_metrics = std::move(stream_metrics);
  fc.metrics = &metrics;
  return sys.spawn(actors::flow_stream_sink, std::move(fc));
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
  case config::destination_kind::grpc_stream:
  case config::destination_kind::grpcs_stream:
    return spawn_flow_stream(sys, d, metrics);
  default:
    // config validation refuses transports this version does not have.
    return "destination " + d.name + ": transport not supported in this version";
  }
}

} // namespace fa::app
