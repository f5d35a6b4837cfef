#include "monitoring/grpc_metrics.hpp"

#include <string>

namespace fa::monitoring {

namespace {

prometheus::Family<prometheus::Counter>& counters(prometheus::Registry& r, const char* name,
                                                  const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r);
}

prometheus::Family<prometheus::Gauge>& gauges(prometheus::Registry& r, const char* name,
                                              const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r);
}

} // namespace

grpc_metrics::grpc_metrics(prometheus::Registry& r)
    : rejected_(counters(r, "flow_aggregator_grpc_flows_rejected_total",
                         "Flows received over gRPC and refused, by reason"))
    , refused_(counters(r, "flow_aggregator_grpc_streams_refused_total",
                        "gRPC export streams refused before they became sessions, by reason"))
    , requests_(
          &counters(r, "flow_aggregator_grpc_requests_total", "ExportRequests received over gRPC")
               .Add({}))
    , flows_(&counters(r, "flow_aggregator_grpc_flows_total",
                       "Flows received over gRPC, accepted or refused")
                  .Add({})) {}

prometheus::Counter& grpc_metrics::flows_rejected(std::string_view reason) {
  return rejected_.Add({{"reason", std::string{reason}}});
}

prometheus::Counter& grpc_metrics::streams_refused(std::string_view reason) {
  return refused_.Add({{"reason", std::string{reason}}});
}

flow_stream_metrics::flow_stream_metrics(prometheus::Registry& r, std::string_view destination)
    : destination_(destination)
    , refused_(counters(r, "flow_aggregator_flow_stream_subscribers_refused_total",
                        "Flow stream subscribers refused, by destination and reason"))
    , subscriber_missed_(counters(r, "flow_aggregator_flow_stream_subscriber_missed_total",
                                  "Records one flow stream subscriber missed because the "
                                  "buffer overwrote them before it read them"))
    , subscribers_(&gauges(r, "flow_aggregator_flow_stream_subscribers",
                           "Flow stream subscribers connected, by destination")
                        .Add({{"destination", destination_}}))
    , sent_(&counters(r, "flow_aggregator_flow_stream_flows_sent_total",
                      "Flows sent to flow stream subscribers, by destination")
                 .Add({{"destination", destination_}}))
    , missed_(&counters(r, "flow_aggregator_flow_stream_missed_total",
                        "Records flow stream subscribers missed (buffer overwritten), "
                        "all subscribers of a destination")
                   .Add({{"destination", destination_}})) {}

prometheus::Counter& flow_stream_metrics::refused(std::string_view reason) {
  return refused_.Add({{"destination", destination_}, {"reason", std::string{reason}}});
}

prometheus::Counter& flow_stream_metrics::subscriber_missed(std::string_view subscriber) {
  return subscriber_missed_.Add(
      {{"destination", destination_}, {"subscriber", std::string{subscriber}}});
}

void flow_stream_metrics::forget_subscriber(prometheus::Counter& c) {
  subscriber_missed_.Remove(&c);
}

} // namespace fa::monitoring
