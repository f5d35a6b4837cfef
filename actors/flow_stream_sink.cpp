#include "actors/flow_stream_sink.hpp"

#include "actors/actor_stats.hpp"

namespace fa::actors {

destination_actor::behavior_type
flow_stream_sink(destination_actor::stateful_pointer<flow_stream_sink_state> self,
                 flow_stream_sink_config cfg) {
  auto& st = self->state;
  if (!cfg.server) {
    self->quit(caf::make_error(caf::sec::invalid_argument, "flow_stream_sink: no server"));
    return destination_actor::behavior_type::make_empty_behavior();
  }
  st.status.name = cfg.name;
  st.status.url = cfg.url;
  st.status.state = "serving";
  if (cfg.metrics) {
    st.metrics = cfg.metrics->destination(cfg.name);
    st.metrics.up->Set(1);
  }
  st.cfg = std::move(cfg);
  return counted_behavior{
      self,
      [=](messages::enriched_batch& b) {
        auto& st = self->state;
        // Copied into the ring at once: the batch (and any credit it holds) is released
        // when this handler returns.
        st.cfg.server->publish(*b.payload);
        st.status.sent_records += b.payload->records;
        ++st.status.sent_messages;
        if (st.metrics.records) {
          st.metrics.records->Increment(static_cast<double>(b.payload->records));
          st.metrics.messages->Increment();
        }
      },
      // Nothing waits in this destination: what it received is in the ring.
      [=](drain_atom) { return true; },
      [=](caf::get_atom) {
        auto& st = self->state;
        auto s = st.status;
        auto server = st.cfg.server->status();
        s.connections = server.subscribed;
        s.queued_records = server.buffered;
        return s;
      },
  };
}

} // namespace fa::actors
