// enrich-bench: CPU time (this thread's) of the record rewriting alone (enrich/slice_enricher), in
// ns per record, on the load generator's `antrea-v4` records (README, Benchmark). No actors, no
// sockets: it measures what the enrichers spend per record, without the rest of the
// pipeline. Build Release (`make build`) and run `build/release/test/bench/enrich-bench`.
//
//   enrich-bench [--records N] [--slice R] [--rounds K]
//
// Prints one line per case: without a Pod index (provenance, clusterId, flowDirection),
// and with 64,000 Pods covering every address the records carry (labels looked up for
// both ends, empty names of InterNode records filled); the same with each record's
// variable-length offsets written for the readers of fields (enriched_payload varlen);
// and what those offsets save such a reader: the ClickHouse destination's RowBinary rows
// of the enriched records, by walking each record and by the offsets, rounds alternating.

#include "actors/output_template_table.hpp"
#include "actors/template_planner.hpp"
#include "enrich/slice_enricher.hpp"
#include "labels/pod_index.hpp"
#include "sinks/clickhouse_rows.hpp"
#include "sinks/flow_record.hpp"
#include "tools/common/loadgen_content.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace fa;

struct options {
  std::size_t records = 100'000; ///< distinct records, walked in slices
  std::size_t slice = 256;       ///< records per slice (a 64 KiB read holds about 280)
  std::size_t rounds = 20;       ///< passes over the records
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view k = argv[i];
    const auto v = static_cast<std::size_t>(std::strtoull(argv[i + 1], nullptr, 10));
    if (k == "--records")
      o.records = std::max<std::size_t>(v, 1);
    else if (k == "--slice")
      o.slice = std::max<std::size_t>(v, 1);
    else if (k == "--rounds")
      o.rounds = std::max<std::size_t>(v, 1);
    else {
      std::fprintf(stderr, "usage: enrich-bench [--records N] [--slice R] [--rounds K]\n");
      std::exit(2);
    }
  }
  return o;
}

/// CPU time of this thread, ns: what the rewriting costs, not what the machine's other
/// work takes from it (wall time on a shared machine measures the neighbours too).
double cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

/// A Pod on every address the load generator's IPv4 records use: 10.244.<node>.<2..251>
/// (tools/loadgen_content.cpp), with labels of a typical Deployment.
labels::pod_snapshot_ptr all_pods() {
  labels::pod_index index;
  for (std::uint32_t node = 0; node < 256; ++node)
    for (std::uint32_t host = 2; host < 252; ++host) {
      labels::pod_info p;
      const auto n = std::to_string(node * 256 + host);
      p.uid = "uid-" + n;
      p.pod_namespace = "shop";
      p.name = "web-7d4b9c-" + n;
      p.node_name = "node-" + std::to_string(node);
      p.labels = {{"app", "web"}, {"pod-template-hash", "7d4b9c"}, {"tier", "front"}};
      p.creation = 1'600'000'000;
      p.ips = {"10.244." + std::to_string(node) + "." + std::to_string(host)};
      p.phase = "Running";
      index.upsert(p, 1'700'000'000);
    }
  return index.snapshot();
}

} // namespace

int main(int argc, char** argv) {
  const auto o = parse(argc, argv);
  enrich::enrichment_options opts;
  opts.cluster_id = "5f1a2b3c-0000-4000-8000-000000000001";
  const auto def = tools::make_template(tools::template_kind::antrea_v4, 256);
  actors::output_template_table table;
  auto unbound = actors::plan_template(def, 1, opts);
  auto plan = unbound ? actors::bind_output(*unbound, table) : nullptr;
  if (!plan) {
    std::fprintf(stderr, "enrich-bench: no plan for the antrea-v4 template\n");
    return 1;
  }
  // The records, back to back, cut into slices of `slice` records.
  std::vector<std::uint8_t> body;
  std::vector<std::pair<std::size_t, std::size_t>> spans; // (offset, length) per slice
  std::vector<std::uint32_t> counts_of;                   // records per slice
  std::vector<std::size_t> ends;
  for (std::size_t i = 0; i < o.records; ++i) {
    tools::append_record(tools::template_kind::antrea_v4, 42, 1, i, body);
    ends.push_back(body.size());
  }
  for (std::size_t i = 0; i < o.records; i += o.slice) {
    const std::size_t n = std::min(o.slice, o.records - i);
    const std::size_t begin = i == 0 ? 0 : ends[i - 1];
    spans.emplace_back(begin, ends[i + n - 1] - begin);
    counts_of.push_back(static_cast<std::uint32_t>(n));
  }
  messages::session_info session;
  session.peer_is_v4 = true;
  session.peer_v6 = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 172, 18, 0, 3};

  // Each slice into a payload of its own, as each batch is: the output stays in the
  // caches, as a batch's does until its destination reads it.
  messages::enriched_payload payload;
  enrich::slice_counts counts;
  std::size_t octets = 0; ///< of the output, per pass
  auto enrich_slice = [&](enrich::slice_enricher& e, std::size_t k, bool varlen) {
    payload.bytes.clear();
    payload.sets.clear();
    payload.varlen.clear();
    enrich::set_writer w{payload, plan->output, 65535 - 20, varlen};
    messages::data_slice s{plan, {body.data() + spans[k].first, spans[k].second}, counts_of[k]};
    e.enrich(session, s, w, counts);
    w.close();
    octets += payload.bytes.size();
  };
  // One pass over the records: thread CPU ns.
  auto pass = [&](enrich::slice_enricher& e, bool varlen) {
    octets = 0;
    const auto started = cpu_ns();
    for (std::size_t k = 0; k < spans.size(); ++k)
      enrich_slice(e, k, varlen);
    return cpu_ns() - started;
  };
  // Cases compared in alternating rounds (the machine is shared: a neighbour's burst
  // then weighs on each alike), after a warm-up pass each (the index's first touches).
  auto bench = [&](std::initializer_list<std::pair<const char*, bool>> cases,
                   const labels::pod_snapshot_ptr& pods) {
    enrich::slice_enricher e{opts};
    e.set_pods(pods);
    counts = {};
    std::vector<double> ns(cases.size(), 0.0);
    for (std::size_t r = 0; r <= o.rounds; ++r) {
      std::size_t k = 0;
      for (const auto& c : cases) {
        const double t = pass(e, c.second);
        if (r > 0)
          ns[k] += t;
        ++k;
      }
    }
    std::size_t k = 0;
    for (const auto& c : cases)
      std::printf(
          "%-44s %7.1f ns/record  (%zu records x %zu rounds, %zu octets out per record, "
          "%llu label hits per pass)\n",
          c.first, ns[k++] / static_cast<double>(o.records * o.rounds), o.records, o.rounds,
          octets / o.records,
          static_cast<unsigned long long>(counts.label_hits / (o.rounds + 1) / cases.size()));
  };
  bench({{"antrea-v4, no Pod index", false}}, nullptr);
  const auto pods = all_pods();
  bench({{"antrea-v4, 64,000 Pods (labels, names filled)", false},
         {"antrea-v4, 64,000 Pods, offsets for readers", true}},
        pods);

  // The ClickHouse rows of each slice's payload (every column of the 51, RowBinary), each
  // record walked or read by the offsets handed over, the two in turns.
  const sinks::flow_plan columns{plan->output->def};
  const sinks::row_binary_program program{columns, opts.cluster_id};
  const std::size_t nv = columns.layout().num_varlen();
  sinks::flow_view view{opts.cluster_id};
  enrich::slice_enricher e{opts};
  e.set_pods(pods);
  std::string rows;
  std::size_t row_octets = 0;
  double ns[2] = {0, 0};
  for (std::size_t r = 0; r <= o.rounds; ++r)
    for (std::size_t k = 0; k < spans.size(); ++k) {
      enrich_slice(e, k, true);
      for (int turn = 0; turn < 2; ++turn) {
        const bool given = (turn + k) % 2 == 1; // each goes first in every other slice
        rows.clear();
        const auto started = cpu_ns();
        for (const auto& s : payload.sets)
          view.for_each(
              columns, {payload.bytes.data() + s.offset, s.length},
              [&](const sinks::flow_view& v) { program.append(rows, v); },
              given ? payload.varlen_of(s, nv) : std::span<const ipfix::field_slice>{});
        if (r > 0) // the first round warms up
          ns[given ? 1 : 0] += cpu_ns() - started;
        row_octets += rows.size();
      }
    }
  for (int given = 0; given < 2; ++given)
    std::printf("%-44s %7.1f ns/record  (%zu octets per row)\n",
                given ? "ClickHouse RowBinary rows, by the offsets"
                      : "ClickHouse RowBinary rows, walked",
                ns[given] / static_cast<double>(o.records * o.rounds),
                row_octets / (o.records * (o.rounds + 1) * 2));
  return 0;
}
