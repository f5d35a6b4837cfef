#include "actors/jsonl_sink.hpp"

#include "actors/actor_stats.hpp"
#include "ipfix/record.hpp"
#include "ipfix/record_json.hpp"

#include <cerrno>
#include <cstring>

namespace fa::actors {

jsonl_sink_state::~jsonl_sink_state() {
  if (out && owns_file)
    std::fclose(out);
}

destination_actor::behavior_type
jsonl_sink(destination_actor::stateful_pointer<jsonl_sink_state> self, jsonl_sink_config cfg) {
  auto& st = self->state;
  st.status.name = cfg.name;
  st.status.url = "jsonl:" + cfg.path;
  if (cfg.path == "stdout") {
    st.out = stdout;
  } else {
    st.out = std::fopen(cfg.path.c_str(), "a");
    st.owns_file = true;
    if (!st.out) {
      self->quit(caf::make_error(caf::sec::invalid_argument,
                                 "cannot open " + cfg.path + ": " + std::strerror(errno)));
      return destination_actor::behavior_type::make_empty_behavior();
    }
  }
  st.status.state = "connected";
  if (cfg.metrics) {
    st.metrics = cfg.metrics->destination(cfg.name);
    st.metrics.up->Set(1);
  }
  return counted_behavior{
      self,
      [=](messages::enriched_batch& b) {
        auto& st = self->state;
        auto& p = *b.payload;
        std::uint64_t written = 0;
        auto write_line = [&] {
          st.line.push_back('\n');
          std::fwrite(st.line.data(), 1, st.line.size(), st.out);
          st.status.sent_bytes += st.line.size();
          ++written;
        };
        for (auto& s : p.sets) {
          // One layout per set, not per record.
          ipfix::record_layout layout{s.tmpl->def};
          ipfix::bytes_view body{p.bytes.data() + s.offset, s.length};
          // The records' variable-length values handed over by the enricher: no walk.
          if (auto varlen = p.varlen_of(s, layout.num_varlen()); !varlen.empty()) {
            ipfix::for_each_given(body, layout, varlen, [&](ipfix::bytes_view rec, auto values) {
              st.line.clear();
              ipfix::append_record_json(st.line, s.tmpl->def, layout, rec, values);
              write_line();
            });
            continue;
          }
          ipfix::record_cursor cur{body, layout};
          ipfix::bytes_view rec;
          while (cur.next(rec)) {
            st.line.clear();
            ipfix::append_record_json(st.line, s.tmpl->def, layout, rec);
            write_line();
          }
        }
        std::fflush(st.out);
        st.status.sent_records += written;
        ++st.status.sent_messages;
        if (st.metrics.records) {
          st.metrics.records->Increment(static_cast<double>(written));
          st.metrics.messages->Increment();
        }
      },
      // Writes are synchronous: by the time a drain is read everything before it is out.
      [=](drain_atom) { return true; },
      [=](caf::get_atom) { return self->state.status; },
  };
}

} // namespace fa::actors
