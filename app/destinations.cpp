#include "app/destinations.hpp"

#include "actors/exporter_session.hpp"
#include "actors/jsonl_sink.hpp"

namespace fa::app {

namespace {

std::chrono::milliseconds to_ms(config::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
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
  case config::destination_kind::ipfix_udp: {
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
    return sys.spawn(actors::exporter_session, ec);
  }
  default:
    // config validation refuses transports this version does not have.
    return "destination " + d.name + ": transport not supported in this version";
  }
}

} // namespace fa::app
