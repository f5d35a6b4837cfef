#include "app/destinations.hpp"

#include "actors/batch_sink.hpp"
#include "actors/exporter_session.hpp"
#include "actors/flow_stream_sink.hpp"
#include "actors/jsonl_sink.hpp"
#include "monitoring/log.hpp"
#include "net/tls_client.hpp"
#include "rpc/server_tls.hpp"
#include "rpc/stream_server.hpp"
#include "sinks/clickhouse_writer.hpp"
#include "sinks/flow_log_writer.hpp"

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

/// The parts of a batch destination's actor config every kind shares.
actors::batch_sink_config batch_config(const config::destination_config& d,
                                       monitoring::metrics& metrics) {
  actors::batch_sink_config bc;
  bc.name = d.name;
  bc.url = config::to_string(d.url);
  bc.queue_size = d.queue_size;
  bc.block = d.on_full == config::on_full_policy::block;
  bc.retry = {to_ms(d.reconnect_min), to_ms(d.reconnect_max)};
  bc.metrics = &metrics;
  return bc;
}

/// clickhouse+http(s): rows of Antrea's `flows` table (antrea-clickhouse-export.md).
std::variant<actors::destination_actor, std::string>
spawn_clickhouse(caf::actor_system& sys, const config::config& cfg,
                 const config::destination_config& d, monitoring::metrics& metrics) {
  sinks::clickhouse_writer_options o;
  auto& e = o.endpoint;
  e.tls = d.url.kind == config::destination_kind::clickhouse_https;
  e.host = d.url.host;
  e.port = d.url.port;
  e.database = d.url.database;
  e.user = d.user;
  e.password_file = d.password_file;
  e.tls_ca = d.tls_ca;
  e.tls_cert = d.tls_cert;
  e.tls_key = d.tls_key;
  e.tls_server_name = d.tls_server_name;
  e.tls_min_version = d.tls_min_version;
  o.table = d.url.table;
  o.format = d.format == config::clickhouse_format::row_binary
                 ? sinks::clickhouse_format::row_binary
                 : sinks::clickhouse_format::json_each_row;
  o.gzip = d.compression == config::compression_kind::gzip;
  o.cluster_uuid = cfg.cluster_id;
  auto writer = std::make_shared<sinks::clickhouse_writer>(std::move(o));
  if (auto err = writer->prepare())
    return "destination " + d.name + ": " + *err;
  auto bc = batch_config(d, metrics);
  bc.kind = "clickhouse";
  bc.commit_interval = to_ms(d.commit_interval);
  bc.max_rows = d.max_rows;
  bc.backend = std::move(writer);
  return sys.spawn(actors::batch_sink, std::move(bc));
}

/// flowlog: Antrea's CSV flow log in a rotating file (antrea-grpc-transport.md 6).
std::variant<actors::destination_actor, std::string>
spawn_flow_log(caf::actor_system& sys, const config::destination_config& d,
               monitoring::metrics& metrics) {
  sinks::flow_log_options o;
  o.file.path = d.url.path;
  o.file.max_size = d.max_size;
  o.file.max_backups = d.max_backups;
  o.file.max_age = std::chrono::duration_cast<std::chrono::seconds>(d.max_age);
  o.file.compress = d.compress;
  o.pretty_print = d.pretty_print;
  for (const auto& f : d.filters) {
    auto& out = o.filters.emplace_back();
    for (auto a : f.ingress_network_policy_rule_actions)
      out.ingress_actions.push_back(static_cast<std::uint8_t>(a));
    for (auto a : f.egress_network_policy_rule_actions)
      out.egress_actions.push_back(static_cast<std::uint8_t>(a));
  }
  auto writer = std::make_shared<sinks::flow_log_writer>(std::move(o));
  // A read-only directory or a missing one stops the start, naming the file.
  if (auto err = writer->prepare())
    return "destination " + d.name + ": " + *err;
  auto bc = batch_config(d, metrics);
  bc.kind = "flowlog";
  bc.backend = std::move(writer);
  return sys.spawn(actors::batch_sink, std::move(bc));
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
    ec.udp_gso = d.udp_gso;
    if (d.url.kind == config::destination_kind::ipfix_tls)
      if (auto err = use_tls(d, io, metrics, ec))
        return "destination " + d.name + ": " + *err;
    return sys.spawn(actors::exporter_session, ec);
  }
  case config::destination_kind::clickhouse_http:
  case config::destination_kind::clickhouse_https:
    return spawn_clickhouse(sys, cfg, d, metrics);
  case config::destination_kind::flowlog:
    return spawn_flow_log(sys, d, metrics);
  case config::destination_kind::grpc_stream:
  case config::destination_kind::grpcs_stream:
    return spawn_flow_stream(sys, d, metrics);
  default:
    // config validation refuses transports this version does not have.
    return "destination " + d.name + ": transport not supported in this version";
  }
}

} // namespace fa::app
