// enrich-bench: CPU time (this thread's) of the record rewriting alone (enrich/slice_enricher), in
// ns per record, on the load generator's `antrea-v4` records (README, Benchmark). No actors, no
// sockets: it measures what the enrichers spend per record, without the rest of the
// pipeline. Build Release (`make build`) and run `build/release/test/bench/enrich-bench`.
//
//   enrich-bench [--records N] [--slice R] [--rounds K] [--only TEXT]
//
// `--only TEXT` runs only the cases whose line contains TEXT (for a profiler or cachegrind).
// Prints one line per case: without a Pod index (provenance, clusterId, flowDirection),
// and with 64,000 Pods covering every address the records carry (labels looked up for
// both ends, empty names of InterNode records filled); then without a Pod index split by
// flow over 3 outputs as fanout = "flow" to 3 destinations splits it (the proxy tier in
// front of aggregate-mode shards, issue 14): the difference is the routing per record; the
// 64,000 Pods case again with each record's variable-length offsets written for the
// readers of fields (enriched_payload varlen); and what those offsets save such a reader:
// the ClickHouse destination's RowBinary rows of the enriched records, by walking each
// record and by the offsets, in turns.

#include "actors/flow_split.hpp"
#include "actors/output_template_table.hpp"
#include "actors/template_planner.hpp"
#include "enrich/slice_enricher.hpp"
#include "labels/pod_index.hpp"
#include "sinks/clickhouse_rows.hpp"
#include "sinks/flow_record.hpp"
#include "test/bench/thread_cpu.hpp"
#include "tools/common/loadgen_content.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace fa;

struct options {
  std::size_t records = 100'000; ///< distinct records, walked in slices
  std::size_t slice = 256;       ///< records per slice (a 64 KiB read holds about 280)
  std::size_t rounds = 20;       ///< passes over the records
  std::string only;              ///< run only the cases whose line contains this
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view k = argv[i];
    if (k == "--only") {
      o.only = argv[i + 1];
      continue;
    }
    const auto v = static_cast<std::size_t>(std::strtoull(argv[i + 1], nullptr, 10));
    if (k == "--records")
      o.records = std::max<std::size_t>(v, 1);
    else if (k == "--slice")
      o.slice = std::max<std::size_t>(v, 1);
    else if (k == "--rounds")
      o.rounds = std::max<std::size_t>(v, 1);
    else {
      std::fprintf(stderr, "usage: enrich-bench [--records N] [--slice R] [--rounds K] "
                           "[--only TEXT]\n");
      std::exit(2);
    }
  }
  return o;
}

using fa::bench::cpu_ns;

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

/// Each record into the writer of its flow's output, as the enricher actor routes a slice
/// split by flow (actors/enricher.cpp).
class by_flow final : public enrich::record_router {
 public:
  by_flow(actors::flow_split& split, const actors::flow_key_reader& key,
          std::vector<std::optional<enrich::set_writer>>& writers)
      : split_(split)
      , key_(key)
      , writers_(writers) {}
  enrich::set_writer& writer_for(ipfix::bytes_view record,
                                 std::span<const ipfix::field_slice> varlen) override {
    return *writers_[split_.output_of(key_, record, varlen)];
  }

 private:
  actors::flow_split& split_;
  const actors::flow_key_reader& key_;
  std::vector<std::optional<enrich::set_writer>>& writers_;
};

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
  // The variable-length values of every record, as the agent session finds them (its
  // walk is not part of the enricher's cost).
  std::vector<ipfix::field_slice> varlen;
  const auto found = ipfix::slice_records(body, plan->layout, varlen);
  if (found.error != ipfix::parse_error::none || found.records != o.records) {
    std::fprintf(stderr, "enrich-bench: the generated records do not parse\n");
    return 1;
  }
  const std::size_t num_varlen = plan->layout.num_varlen();
  messages::session_info session;
  session.peer_is_v4 = true;
  session.peer_v6 = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 172, 18, 0, 3};

  // `outputs` > 1: split by flow over that many destinations (fanout = "flow").
  auto wanted = [&](std::string_view label) {
    return o.only.empty() || label.find(o.only) != std::string_view::npos;
  };
  auto bench = [&](const char* label, const labels::pod_snapshot_ptr& pods, std::size_t outputs,
                   bool offsets, const enrich::enrichment_options& case_opts) {
    if (!wanted(label))
      return;
    enrich::slice_enricher e{case_opts};
    e.set_pods(pods);
    enrich::slice_counts counts;
    std::vector<std::uint64_t> seeds;
    for (std::size_t i = 0; i < outputs; ++i)
      seeds.push_back(actors::destination_seed("shard-" + std::to_string(i)));
    actors::flow_split split{seeds};
    const auto* key = outputs > 1 ? split.reader_of(plan) : nullptr;
    if (outputs > 1 && !key) {
      std::fprintf(stderr, "enrich-bench: the antrea-v4 template has no flow key\n");
      std::exit(1);
    }
    std::vector<messages::enriched_payload> payloads(outputs);
    for (auto& p : payloads)
      p.bytes.reserve(256 * 1024); // more than a slice's output
    std::vector<std::optional<enrich::set_writer>> writers(outputs);
    std::size_t out = 0; // octets out, per pass
    // Warm-up pass (page faults of the output, the index's first touches).
    auto pass = [&](std::size_t rounds) {
      const auto started = cpu_ns();
      for (std::size_t r = 0; r < rounds; ++r) {
        out = 0;
        for (std::size_t k = 0, first = 0; k < spans.size(); first += counts_of[k++]) {
          // Each slice into payloads of its own, as each batch is: the output stays in
          // the caches, as a batch's does until its destination reads it.
          for (std::size_t i = 0; i < outputs; ++i) {
            payloads[i].bytes.clear();
            payloads[i].sets.clear();
            payloads[i].varlen.clear();
            writers[i].emplace(payloads[i], plan->output, 65535 - 20, offsets);
          }
          messages::data_slice s{
              plan, {body.data() + spans[k].first, spans[k].second}, counts_of[k]};
          const auto varlen_of_slice = std::span<const ipfix::field_slice>{varlen}.subspan(
              first * num_varlen, counts_of[k] * num_varlen);
          if (key) {
            by_flow router{split, *key, writers};
            e.enrich(session, s, varlen_of_slice, router, counts);
          } else {
            e.enrich(session, s, varlen_of_slice, *writers[0], counts);
          }
          for (std::size_t i = 0; i < outputs; ++i) {
            writers[i]->close();
            out += payloads[i].bytes.size();
          }
        }
      }
      return (cpu_ns() - started) / static_cast<double>(o.records * rounds);
    };
    pass(1);
    const double ns = pass(o.rounds);
    std::printf("%-48s %7.1f ns/record  (%zu records x %zu rounds, %zu octets out per record, "
                "%llu label hits)\n",
                label, ns, o.records, o.rounds, out / o.records,
                static_cast<unsigned long long>(counts.label_hits));
  };
  // The agent session's walk of each slice (ipfix::slice_records), into values reserved
  // as the session reserves them (its estimate from the batch before).
  if (wanted("agent session walk (slice_records)")) {
    std::vector<ipfix::field_slice> values;
    double started = 0;
    for (std::size_t r = 0; r <= o.rounds; ++r) {
      if (r == 1) // the first round warms up
        started = cpu_ns();
      for (std::size_t k = 0, first = 0; k < spans.size(); first += counts_of[k++]) {
        values = {};
        values.reserve(counts_of[k] * num_varlen + num_varlen);
        const auto walked = ipfix::slice_records({body.data() + spans[k].first, spans[k].second},
                                                 plan->layout, values);
        if (walked.records != counts_of[k] ||
            !std::equal(
                values.begin(), values.end(), varlen.begin() + first * num_varlen,
                [](auto a, auto b) { return a.offset == b.offset && a.length == b.length; })) {
          std::fprintf(stderr, "enrich-bench: slice_records disagrees with itself\n");
          return 1;
        }
      }
    }
    std::printf("%-48s %7.1f ns/record\n", "agent session walk (slice_records)",
                (cpu_ns() - started) / static_cast<double>(o.records * o.rounds));
  }
  // The same walk two or four slices at a time, side by side, each set's values in its
  // own room of one vector (ipfix::slice_records_in_place), as the agent session walks
  // the data sets of a read's messages.
  for (const std::size_t ways : {std::size_t{2}, ipfix::max_side_by_side}) {
    if (!wanted(ways == 2 ? "agent session walk, two sets side by side"
                          : "agent session walk, four sets side by side"))
      continue;
    std::vector<ipfix::field_slice> values;
    double started = 0;
    for (std::size_t r = 0; r <= o.rounds; ++r) {
      if (r == 1) // the first round warms up
        started = cpu_ns();
      for (std::size_t k = 0, first = 0; k < spans.size(); k += ways) {
        const std::size_t m = std::min(ways, spans.size() - k);
        std::array<ipfix::bytes_view, ipfix::max_side_by_side> bodies;
        std::array<std::size_t, ipfix::max_side_by_side> starts;
        std::array<ipfix::sliced_records, ipfix::max_side_by_side> found;
        for (std::size_t i = 0; i < m; ++i)
          bodies[i] = {body.data() + spans[k + i].first, spans[k + i].second};
        values = {};
        ipfix::slice_records_in_place({bodies.data(), m}, plan->layout, values, {starts.data(), m},
                                      {found.data(), m});
        auto same = [](auto x, auto y) { return x.offset == y.offset && x.length == y.length; };
        for (std::size_t i = 0; i < m; ++i) {
          const auto expected = varlen.begin() + static_cast<std::ptrdiff_t>(first * num_varlen);
          const auto got = values.begin() + static_cast<std::ptrdiff_t>(starts[i]);
          if (found[i].records != counts_of[k + i] ||
              starts[i] + counts_of[k + i] * num_varlen > values.size() ||
              !std::equal(got, got + static_cast<std::ptrdiff_t>(counts_of[k + i] * num_varlen),
                          expected, same)) {
            std::fprintf(stderr, "enrich-bench: slice_records_in_place disagrees with "
                                 "slice_records\n");
            return 1;
          }
          first += counts_of[k + i];
        }
      }
    }
    std::printf("%-48s %7.1f ns/record\n",
                ways == 2 ? "agent session walk, two sets side by side"
                          : "agent session walk, four sets side by side",
                (cpu_ns() - started) / static_cast<double>(o.records * o.rounds));
  }
  const auto pods = all_pods();
  bench("antrea-v4, no Pod index", nullptr, 1, false, opts);
  bench("antrea-v4, 64,000 Pods (labels, names filled)", pods, 1, false, opts);
  // The two parts of the Pod index's cost apart (issue 15: labels on against off).
  auto labels_only = opts;
  labels_only.fill_k8s_names = false;
  bench("antrea-v4, 64,000 Pods, labels only", pods, 1, false, labels_only);
  auto names_only = opts;
  names_only.pod_labels = false;
  bench("antrea-v4, 64,000 Pods, names filled only", pods, 1, false, names_only);
  bench("antrea-v4, no Pod index, split by flow over 3", nullptr, 3, false, opts);
  bench("antrea-v4, 64,000 Pods, offsets for readers", pods, 1, true, opts);
  if (!wanted("ClickHouse RowBinary rows"))
    return 0;

  // The ClickHouse rows of each slice's payload (every column of the 51, RowBinary), each
  // record walked or read by the offsets handed over, the two in turns.
  const sinks::flow_plan columns{plan->output->def};
  const sinks::row_binary_program program{columns, opts.cluster_id};
  const std::size_t nv = columns.layout().num_varlen();
  sinks::flow_view view{opts.cluster_id};
  enrich::slice_enricher e{opts};
  e.set_pods(pods);
  enrich::slice_counts counts;
  messages::enriched_payload payload;
  std::string rows;
  std::size_t row_octets = 0;
  double ns[2] = {0, 0};
  for (std::size_t r = 0; r <= o.rounds; ++r)
    for (std::size_t k = 0, first = 0; k < spans.size(); first += counts_of[k++]) {
      payload.bytes.clear();
      payload.sets.clear();
      payload.varlen.clear();
      enrich::set_writer w{payload, plan->output, 65535 - 20, true};
      messages::data_slice s{plan, {body.data() + spans[k].first, spans[k].second}, counts_of[k]};
      e.enrich(session, s,
               std::span<const ipfix::field_slice>{varlen}.subspan(first * num_varlen,
                                                                   counts_of[k] * num_varlen),
               w, counts);
      w.close();
      for (int turn = 0; turn < 2; ++turn) {
        const bool given = (turn + k) % 2 == 1; // each goes first in every other slice
        // As the ClickHouse writer does: the buffer keeps its size, rows go from `used`.
        std::size_t used = 0;
        const auto started = cpu_ns();
        for (const auto& set : payload.sets)
          view.for_each(
              columns, {payload.bytes.data() + set.offset, set.length},
              [&](const sinks::flow_view& v) {
                if (rows.size() - used < program.room(v))
                  rows.resize(std::max(2 * rows.size(), used + program.room(v)));
                used = static_cast<std::size_t>(program.write(rows.data() + used, v) - rows.data());
              },
              given ? payload.varlen_of(set, nv) : std::span<const ipfix::field_slice>{});
        if (r > 0) // the first round warms up
          ns[given ? 1 : 0] += cpu_ns() - started;
        row_octets += used;
      }
    }
  for (int given = 0; given < 2; ++given)
    std::printf("%-48s %7.1f ns/record  (%zu octets per row)\n",
                given ? "ClickHouse RowBinary rows, by the offsets"
                      : "ClickHouse RowBinary rows, walked",
                ns[given] / static_cast<double>(o.records * o.rounds),
                row_octets / (o.records * (o.rounds + 1) * 2));
  return 0;
}
