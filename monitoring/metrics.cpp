#include "monitoring/metrics.hpp"

namespace fa::monitoring {

namespace {

template <class Builder>
auto& family(Builder b, prometheus::Registry& r, const char* name, const char* help) {
  return b.Name(name).Help(help).Register(r);
}

} // namespace

#define FA_COUNTER(name, help)                                                                     \
  family(prometheus::BuildCounter(), *registry_, "flow_aggregator_" name, help)
#define FA_GAUGE(name, help)                                                                       \
  family(prometheus::BuildGauge(), *registry_, "flow_aggregator_" name, help)

metrics::metrics()
    : registry_(std::make_shared<prometheus::Registry>())
    , tls_failures_(FA_COUNTER("tls_handshake_failures_total",
                               "TLS handshakes refused on tls:// listeners, by reason"))
    , tls_in_progress_(
          FA_GAUGE("tls_handshakes_in_progress", "TLS handshakes in progress on tls:// listeners"))
    , destination_tls_failures_(
          FA_COUNTER("destination_tls_failures_total",
                     "TLS handshakes with a destination's collector that failed, by reason"))
    , tls_reloads_(FA_COUNTER("tls_reloads_total",
                              "Reloads of the tls:// certificate, key and CA, by result"))
    , messages_(FA_COUNTER("messages_received_total", "IPFIX messages received"))
    , records_(FA_COUNTER("records_received_total", "Data records received"))
    , bytes_(FA_COUNTER("received_bytes_total", "Octets of IPFIX messages received"))
    , lost_(FA_COUNTER("records_lost_upstream_total",
                       "Data records missing according to sequence numbers (RFC 7011 10.3)"))
    , out_of_order_(FA_COUNTER("messages_out_of_order_total",
                               "Messages whose sequence number was behind the expected one"))
    , unknown_template_(FA_COUNTER("data_sets_unknown_template_total",
                                   "Data sets dropped because their template was unknown"))
    , templates_in_(FA_GAUGE("templates_in", "Templates live in exporter sessions"))
    , malformed_(FA_COUNTER("malformed_total", "Malformed input discarded, by reason"))
    , template_events_(FA_COUNTER("template_events_total", "Template records applied, by outcome"))
    , enrich_dropped_(FA_COUNTER("enrich_dropped_records_total",
                                 "Records dropped during enrichment, by reason"))
    , accepted_(FA_COUNTER("sessions_accepted_total", "Exporter sessions accepted"))
    , rejected_(FA_COUNTER("sessions_rejected_total", "Exporter sessions refused, by reason"))
    , closed_(FA_COUNTER("sessions_closed_total", "Exporter sessions ended"))
    , open_(FA_GAUGE("sessions_open", "Exporter sessions open"))
    , templates_out_(FA_GAUGE("templates_out", "Output templates in use"))
    , sent_records_(FA_COUNTER("records_sent_total", "Data records written to a destination"))
    , sent_messages_(FA_COUNTER("messages_sent_total", "IPFIX messages written to a destination"))
    , sent_bytes_(FA_COUNTER("sent_bytes_total", "Octets written to a destination"))
    , dropped_(FA_COUNTER("records_dropped_total", "Records dropped at a destination, by reason"))
    , reconnects_(FA_COUNTER("destination_reconnects_total", "Connection attempts after a failure"))
    , queue_bytes_(FA_GAUGE("destination_queue_bytes", "Octets queued for a destination"))
    , up_(FA_GAUGE("destination_up", "1 when the destination's connection is up"))
    , udp_datagrams_(
          FA_COUNTER("udp_datagrams_received_total", "Datagrams received by udp:// listeners"))
    , udp_dropped_(
          FA_COUNTER("udp_datagrams_dropped_total", "Datagrams not handed to a session, by reason"))
    , udp_rcvbuf_(FA_GAUGE("udp_receive_buffer_bytes",
                           "Socket receive buffer granted to a udp:// listener")) {}

#undef FA_COUNTER
#undef FA_GAUGE

session_metrics metrics::session(std::string_view transport) {
  prometheus::Labels l{{"transport", std::string{transport}}};
  return {&messages_.Add(l),     &records_.Add(l),          &bytes_.Add(l),       &lost_.Add(l),
          &out_of_order_.Add(l), &unknown_template_.Add(l), &templates_in_.Add(l)};
}

destination_metrics metrics::destination(std::string_view name) {
  std::string n{name};
  prometheus::Labels l{{"destination", n}};
  auto dropped = [&](const char* reason) {
    return &dropped_.Add({{"destination", n}, {"reason", reason}});
  };
  return {&sent_records_.Add(l), &sent_messages_.Add(l), &sent_bytes_.Add(l),
          dropped("queue_full"), dropped("too_large"),   dropped("shutdown"),
          &reconnects_.Add(l),   &queue_bytes_.Add(l),   &up_.Add(l)};
}

prometheus::Counter& metrics::tls_handshake_failures(std::string_view reason) {
  return tls_failures_.Add({{"reason", std::string{reason}}});
}
prometheus::Gauge& metrics::tls_handshakes_in_progress() {
  return tls_in_progress_.Add({});
}
prometheus::Counter& metrics::destination_tls_failures(std::string_view destination,
                                                       std::string_view reason) {
  return destination_tls_failures_.Add(
      {{"destination", std::string{destination}}, {"reason", std::string{reason}}});
}
prometheus::Counter& metrics::tls_reloads(std::string_view result) {
  return tls_reloads_.Add({{"result", std::string{result}}});
}

prometheus::Counter& metrics::malformed(std::string_view reason) {
  return malformed_.Add({{"reason", std::string{reason}}});
}
prometheus::Counter& metrics::template_event(std::string_view event) {
  return template_events_.Add({{"event", std::string{event}}});
}
prometheus::Counter& metrics::enrich_dropped(std::string_view reason) {
  return enrich_dropped_.Add({{"reason", std::string{reason}}});
}
prometheus::Counter& metrics::sessions_accepted(std::string_view transport) {
  return accepted_.Add({{"transport", std::string{transport}}});
}
prometheus::Counter& metrics::sessions_rejected(std::string_view reason) {
  return rejected_.Add({{"reason", std::string{reason}}});
}
prometheus::Counter& metrics::sessions_closed(std::string_view transport) {
  return closed_.Add({{"transport", std::string{transport}}});
}
prometheus::Gauge& metrics::sessions_open(std::string_view transport) {
  return open_.Add({{"transport", std::string{transport}}});
}
prometheus::Gauge& metrics::templates_out() {
  return templates_out_.Add({});
}
prometheus::Counter& metrics::udp_datagrams() {
  return udp_datagrams_.Add({});
}
prometheus::Counter& metrics::udp_dropped(std::string_view reason) {
  return udp_dropped_.Add({{"reason", std::string{reason}}});
}
prometheus::Gauge& metrics::udp_receive_buffer(std::string_view listener) {
  return udp_rcvbuf_.Add({{"listener", std::string{listener}}});
}

} // namespace fa::monitoring
