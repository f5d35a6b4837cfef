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

/// The smallest max_set_body accepted: room for the largest fixed appended fields.
constexpr std::size_t min_set_body = 64;

/// One of the payloads a batch is enriched into, and the set it is writing.
struct batch_output {
  std::shared_ptr<messages::enriched_payload> payload;
  std::optional<set_writer> w;
};

/// Each record of a slice split by flow into the output of its flow (DESIGN 9).
class by_flow final : public enrich::record_router {
 public:
  by_flow(flow_split& split, const flow_key_reader& key, std::vector<batch_output>& outs)
      : split_(split)
      , key_(key)
      , outs_(outs) {}
  set_writer& writer_for(ipfix::bytes_view record,
                         std::span<const ipfix::field_slice> varlen) override {
    return *outs_[split_.output_of(key_, record, varlen)].w;
  }

 private:
  flow_split& split_;
  const flow_key_reader& key_;
  std::vector<batch_output>& outs_;
};

/// Enriches `batch` into one output, or split by flow (aggregate mode with several
/// shards, fanout flow) one per shard or destination, each record in its flow's output
/// (DESIGN 9): one message per output and batch, a session's records in order.
std::vector<batch_output> enrich_batch(enricher_state& st, const messages::data_batch& batch,
                                       std::size_t in_size, std::uint64_t in_records) {
  auto& split = st.routes->split();
  const std::size_t n = split.outputs();
  // Sized for what the last batch added per record (labels and filled names make that
  // about 170 octets with 100,000 Pods): one allocation, no regrowth that copies the
  // batch and charges its credit twice the octets. Split, each shard gets its share and
  // half as much again for an uneven split.
  const std::size_t expected = in_size + in_records * st.extra_per_record;
  split.begin_batch(); // which destinations are down (fanout.failover)
  // The records' variable-length values, when carried: the input's and the three at
  // most that enriching appends (labels, clusterId).
  std::size_t values = 0;
  if (st.cfg.record_varlen)
    for (const auto& s : batch.slices)
      values += s.records * (s.plan->layout.num_varlen() + 3);
  std::vector<batch_output> outs(n);
  for (auto& o : outs) {
    o.payload = std::make_shared<messages::enriched_payload>();
    o.payload->bytes.reserve(n == 1 ? expected : expected / n + expected / (2 * n));
    o.payload->varlen.reserve(n == 1 ? values : values / n + values / (2 * n));
  }
  for (const auto& s : batch.slices) {
    // Consecutive slices with the same output template share sets: a UDP exporter's
    // datagrams (and small TCP messages) then leave in full sets and full messages, not
    // one short set per input set.
    for (auto& o : outs)
      if (!o.w || o.w->tmpl != s.plan->output) {
        if (o.w)
          o.w->close();
        o.w.emplace(*o.payload, s.plan->output, st.cfg.max_set_body, st.cfg.record_varlen);
      }
    const auto* key = n > 1 ? split.reader_of(s.plan) : nullptr;
    if (!key) {
      // One output for the whole slice. Split, records without a flow key (not Antrea, a
      // key field missing) go by their exporter: to its shard, which forwards them
      // (counted), or with fanout flow to fanout hash's destination; deterministic, and
      // in the session's order.
      const auto k = n == 1 ? 0 : split.output_of_exporter(exporter_key(batch.session->peer_v6));
      st.enricher.enrich(*batch.session, s, batch.varlen_of(s), *outs[k].w, st.counts);
      continue;
    }
    by_flow router{split, *key, outs};
    st.enricher.enrich(*batch.session, s, batch.varlen_of(s), router, st.counts);
  }
  split.end_batch();
  for (auto& o : outs)
    if (o.w)
      o.w->close();
  return outs;
}

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
  add(st.lookup_hits, hits, 0);
  add(st.lookup_misses, now.label_lookups - before.label_lookups, hits);
  st.batch_seconds->Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

} // namespace

enricher_actor::behavior_type enricher(enricher_actor::stateful_pointer<enricher_state> self,
                                       enricher_config cfg) {
  std::string error = "max_set_body too small";
  auto routes =
      cfg.max_set_body < min_set_body ? std::nullopt : destination_set::make(cfg.routes(), error);
  if (!routes) {
    self->quit(caf::make_error(caf::sec::invalid_argument, "enricher: " + error));
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
  st.cfg = std::move(cfg);
  st.routes = std::move(routes);
  st.enricher.reconfigure(st.cfg.enrichment, st.cfg.max_set_body);
  return counted_behavior{
      self,
      [=](messages::data_batch& batch) {
        auto& st = self->state;
        const auto started = std::chrono::steady_clock::now();
        const auto before = st.counts;
        std::size_t in_size = 0;
        std::uint64_t in_records = 0;
        for (const auto& s : batch.slices) {
          in_size += s.body.size();
          in_records += s.records;
        }
        auto outs = enrich_batch(st, batch, in_size, in_records);
        std::size_t out_size = 0;
        for (const auto& o : outs) {
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
        // Each output's credit is charged to the input's budgets before the input chunk's
        // goes, so the budget never looks free in between (DESIGN 3).
        const auto& routes = *st.routes;
        const auto budgets = batch.data->budgets();
        auto send = send_from(self, routes);
        for (std::size_t k = 0; k < outs.size(); ++k) {
          auto& p = outs[k].payload;
          if (p->sets.empty())
            continue;
          p->session = batch.session;
          std::shared_ptr<const messages::enriched_payload> shared = std::move(p);
          if (outs.size() == 1) {
            routes.route(shared, budgets, send);
            continue;
          }
          messages::payload_credit credit;
          routes.send_to(k, shared, budgets, credit, send);
        }
        batch.data.reset();
        batch.varlen = {};
      },
      [=](messages::label_snapshot& snap) { self->state.enricher.set_pods(std::move(snap.pods)); },
      // Config reload: batches handled from here on go to the new destinations with the
      // new options. A bad update (no destination, fanout hash without one name per
      // destination) is refused whole and the current configuration stays.
      [=](messages::enricher_reconfig& r) {
        auto& st = self->state;
        std::string error;
        if (!r.cfg || r.cfg->max_set_body < min_set_body)
          return;
        auto spec = r.cfg->routes();
        spec.metrics = st.cfg.metrics; // the actor's for its whole life, set at spawn
        auto routes = destination_set::make(std::move(spec), error);
        if (!routes)
          return;
        auto metrics = st.cfg.metrics;
        st.cfg = *r.cfg;
        st.cfg.metrics = metrics;
        st.routes = std::move(routes);
        st.enricher.reconfigure(st.cfg.enrichment, st.cfg.max_set_body);
      },
      [=](caf::get_atom) { return self->state.status; },
  };
}

} // namespace fa::actors
