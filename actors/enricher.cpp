#include "actors/enricher.hpp"

#include "actors/actor_stats.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

namespace fa::actors {

namespace {

using state_ptr = enricher_actor::stateful_pointer<enricher_state>;
using enrich::set_writer;

/// One of the payloads a batch is enriched into, and the set it is writing.
struct batch_output {
  std::shared_ptr<messages::enriched_payload> payload;
  std::optional<set_writer> w;
};

/// Each record of a slice split by flow into the output of its flow (DESIGN 9).
class by_flow final : public enrich::record_router {
 public:
  by_flow(const flow_split& split, const flows::aggregate_layout& layout,
          std::vector<batch_output>& outs)
      : split_(split)
      , layout_(layout)
      , outs_(outs) {}
  set_writer& writer_for(ipfix::bytes_view record,
                         std::span<const ipfix::field_slice> varlen) override {
    return *outs_[split_.output_of(layout_, record, varlen)].w;
  }

 private:
  const flow_split& split_;
  const flows::aggregate_layout& layout_;
  std::vector<batch_output>& outs_;
};

/// Adds what the batch counted (since `before`) to the status and the metrics: once per
/// batch (STYLE: metrics at batch granularity), never per record.
void count(enricher_state& st, const enrich::slice_counts& before,
           std::chrono::steady_clock::time_point started) {
  const auto& now = st.counts;
  auto& s = st.status;
  s.dropped_invalid_addresses = now.dropped_invalid_addresses;
  s.dropped_no_start_time = now.dropped_no_start_time;
  s.dropped_too_large = now.dropped_too_large;
  s.label_lookups = now.label_lookups;
  s.label_hits = now.label_hits;
  if (!st.batch_seconds)
    return;
  auto add = [](prometheus::Counter* c, std::uint64_t a, std::uint64_t b) {
    if (a > b)
      c->Increment(static_cast<double>(a - b));
  };
  add(st.dropped_addresses, now.dropped_invalid_addresses, before.dropped_invalid_addresses);
  add(st.dropped_start_time, now.dropped_no_start_time, before.dropped_no_start_time);
  add(st.dropped_too_large, now.dropped_too_large, before.dropped_too_large);
  const auto hits = now.label_hits - before.label_hits;
  const auto lookups = now.label_lookups - before.label_lookups;
  add(st.lookup_hits, hits, 0);
  add(st.lookup_misses, lookups, hits);
  st.batch_seconds->Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

/// The credit destination `i` holds: only a blocking one (on_full = "block") keeps the
/// batch's credit until written. A destination without an entry blocks.
messages::payload_credit hold_for(const enricher_state& st, std::size_t i,
                                  const messages::payload_credit& credit) {
  const auto& blocks = st.cfg.destination_blocks;
  return i >= blocks.size() || blocks[i] ? credit : nullptr;
}

/// Sends a whole batch by the fanout: to every destination, or (hash) to its exporter's.
/// Fanout flow with one destination sends to it.
void route(state_ptr self, messages::enriched_batch out, const messages::payload_credit& credit) {
  auto& st = self->state;
  if (st.cfg.fanout == fanout_mode::hash) {
    // Once per batch, never per record: every batch of a session has the same
    // exporter address, so all its records go to the same destination.
    const auto& session = out.payload->session;
    auto key = session ? exporter_key(session->peer_v6) : std::uint64_t{0};
    auto i = rendezvous_pick(st.destination_seeds, key);
    out.hold = hold_for(st, i, credit);
    self->send(st.cfg.destinations[i], std::move(out));
    return;
  }
  for (std::size_t i = 0; i < st.cfg.destinations.size(); ++i) {
    out.hold = hold_for(st, i, credit);
    self->send(st.cfg.destinations[i], out);
  }
}

/// One name per destination, as fanout hash and flow need (rendezvous seeds).
bool names_fit(const enricher_config& cfg) {
  return cfg.fanout == fanout_mode::all ||
         (!cfg.destinations.empty() && cfg.destination_names.size() == cfg.destinations.size());
}

/// The seeds and the per-record split of `st.cfg`: the shards' hash ranges, the
/// destinations' rendezvous for fanout flow, or one output (batches routed whole).
void use_routes(enricher_state& st) {
  st.destination_seeds.clear();
  if (st.cfg.fanout != fanout_mode::all)
    for (auto& n : st.cfg.destination_names)
      st.destination_seeds.push_back(destination_seed(n));
  if (st.cfg.split_by_flow)
    st.split = flow_split{st.cfg.destinations.size()};
  else if (st.cfg.fanout == fanout_mode::flow)
    st.split = flow_split{st.destination_seeds};
  else
    st.split = flow_split{1};
}

} // namespace

enricher_actor::behavior_type enricher(enricher_actor::stateful_pointer<enricher_state> self,
                                       enricher_config cfg) {
  if (cfg.max_set_body < 64) {
    self->quit(caf::make_error(caf::sec::invalid_argument, "enricher: max_set_body too small"));
    return enricher_actor::behavior_type::make_empty_behavior();
  }
  auto& st = self->state;
  if (cfg.metrics) {
    st.dropped_addresses = &cfg.metrics->enrich_dropped("invalid_addresses");
    st.dropped_start_time = &cfg.metrics->enrich_dropped("no_start_time");
    st.dropped_too_large = &cfg.metrics->enrich_dropped("too_large");
    st.lookup_hits = &cfg.metrics->label_lookups("hit");
    st.lookup_misses = &cfg.metrics->label_lookups("miss");
    st.batch_seconds = &cfg.metrics->enrich_batch_seconds();
  }
  if (!names_fit(cfg)) {
    self->quit(caf::make_error(caf::sec::invalid_argument,
                               "enricher: fanout hash and flow need one name per destination"));
    return enricher_actor::behavior_type::make_empty_behavior();
  }
  st.cfg = std::move(cfg);
  st.enricher.reconfigure(st.cfg.enrichment, st.cfg.max_set_body);
  use_routes(st);
  return counted_behavior{
      self,
      [=](messages::data_batch& batch) {
        auto& st = self->state;
        // Metrics once per batch (STYLE: histograms at batch granularity): the lookups
        // are counted per record in the status, and added to the counters from there.
        const auto started = std::chrono::steady_clock::now();
        const auto before = st.counts;
        std::size_t in_size = 0;
        std::uint64_t in_records = 0;
        for (auto& s : batch.slices) {
          in_size += s.body.size();
          in_records += s.records;
        }
        // One output per batch, or split by flow (aggregate mode with several shards,
        // fanout flow) one per shard or destination, each record in its flow's output
        // (DESIGN 9): one message per output and batch, a session's records in order.
        const std::size_t n = st.split.outputs();
        // Sized for what the last batch added per record (labels and filled names make
        // that about 170 octets with 100,000 Pods): one allocation, no regrowth that
        // copies the batch and charges its credit twice the octets. Split, each shard
        // gets its share and half as much again for an uneven split.
        const std::size_t expected = in_size + in_records * st.extra_per_record;
        std::vector<batch_output> outs(n);
        for (auto& o : outs) {
          o.payload = std::make_shared<messages::enriched_payload>();
          o.payload->bytes.reserve(n == 1 ? expected : expected / n + expected / (2 * n));
        }
        for (auto& s : batch.slices) {
          // Consecutive slices with the same output template share sets: a UDP
          // exporter's datagrams (and small TCP messages) then leave in full sets and
          // full messages, not one short set per input set.
          for (auto& o : outs)
            if (!o.w || o.w->tmpl != s.plan->output) {
              if (o.w)
                o.w->close();
              o.w.emplace(*o.payload, s.plan->output, st.cfg.max_set_body);
            }
          const auto* layout = n > 1 ? st.split.layout_of(s.plan) : nullptr;
          if (!layout) {
            // One output for the whole slice. Split, records without a flow key (not
            // Antrea, a key field missing) go by their exporter: to its shard, which
            // forwards them (counted), or with fanout flow to fanout hash's destination;
            // deterministic, and in the session's order.
            auto& w =
                *outs[n == 1 ? 0
                             : st.split.output_of_exporter(exporter_key(batch.session->peer_v6))]
                     .w;
            st.enricher.enrich(*batch.session, s, w, st.counts);
            continue;
          }
          by_flow router{st.split, *layout, outs};
          st.enricher.enrich(*batch.session, s, router, st.counts);
        }
        std::size_t out_size = 0;
        for (auto& o : outs) {
          if (o.w)
            o.w->close();
          out_size += o.payload->bytes.size();
          st.status.records_out += o.payload->records;
        }
        ++st.status.batches;
        st.status.records_in += in_records;
        if (in_records > 0) {
          auto added = out_size > in_size ? out_size - in_size : 0;
          st.extra_per_record = std::max<std::size_t>(64, added / in_records + 16);
        }
        count(st, before, started);
        // Every output's credit is charged before the input chunk's goes, so the budget
        // never looks free in between (DESIGN 3).
        std::vector<messages::payload_credit> credits(n);
        for (std::size_t k = 0; k < n; ++k)
          if (!outs[k].payload->sets.empty())
            credits[k] = std::make_shared<const messages::credit>(
                batch.data->budgets(), outs[k].payload->bytes.capacity());
        batch.data.reset();
        for (std::size_t k = 0; k < n; ++k) {
          if (!credits[k])
            continue;
          outs[k].payload->session = batch.session;
          messages::enriched_batch out{std::move(outs[k].payload), nullptr};
          if (n > 1) {
            out.hold = hold_for(st, k, credits[k]);
            self->send(st.cfg.destinations[k], std::move(out));
            continue;
          }
          route(self, std::move(out), credits[k]);
        }
      },
      [=](messages::label_snapshot& snap) { self->state.enricher.set_pods(std::move(snap.pods)); },
      // Config reload: batches handled from here on go to the new destinations with the
      // new options. A bad update (hash without one name per destination) is refused
      // whole and the current configuration stays.
      [=](messages::enricher_reconfig& r) {
        auto& st = self->state;
        if (!r.cfg || r.cfg->destinations.empty() || r.cfg->max_set_body < 64 || !names_fit(*r.cfg))
          return;
        auto metrics = st.cfg.metrics;
        st.cfg = *r.cfg;
        st.cfg.metrics = metrics;
        st.enricher.reconfigure(st.cfg.enrichment, st.cfg.max_set_body);
        // Fanout flow: rendezvous over the new names moves only the flows a new
        // destination wins or a removed one owned (README, Scaling out aggregate mode).
        use_routes(st);
      },
      [=](caf::get_atom) { return self->state.status; },
  };
}

} // namespace fa::actors
