// Microbenchmark of the aggregator's flow path: the flow table and the encoder, with no
// actors or sockets. For N flows it plays the source Node's and the destination Node's
// record of every flow, in rounds with growing counters, as sets of 1,024 records of an
// enriched antrea-v4 template (the loadgen's records plus what the enricher appends), and
// polls the table after every set with the simulated time, encoding what is due.
//
//   flow_table_bench [--rounds R] [--labels BYTES] [--distinct] [--given] [N ...]
//
// N defaults to 10000 100000 1000000; R to 6 (a round is 10 simulated seconds); BYTES is
// the length of each Pod's labels JSON the enricher appended (default 0: no label
// source); --distinct gives every flow Pod names of its own, so that no flow shares its
// strings with another (the worst case for memory; by default flows between the same
// Pods share them, as the loadgen's 256 Pods make them); --given hands add_set each
// record's variable-length offsets, as the enricher does (enriched_payload varlen;
// found by a walk outside the timed part), instead of letting it walk the records.
//
// Build it in Release (it is not a test):
//   cmake -S . -B build/release-bench -G Ninja -DCMAKE_BUILD_TYPE=Release
//   cmake --build build/release-bench --target flow_table_bench
//
// Reports, per N: CPU ns per input record (add + poll + encode; record generation
// excluded), the same for add alone, exports, and bytes per flow: the RSS growth over
// N, and the table's own estimate (`state_bytes`).

#include "flows/aggregate_layout.hpp"
#include "flows/flow_encoder.hpp"
#include "flows/flow_table.hpp"
#include "ipfix/elements.hpp"
#include "ipfix/record.hpp"
#include "ipfix/wire.hpp"
#include "tools/common/loadgen_content.hpp"

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

using namespace fa;
using namespace std::chrono_literals;

constexpr std::size_t set_records = 1024;
constexpr std::uint32_t epoch = 1'700'000'000;

std::size_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

std::int64_t cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

/// The enriched template: the loadgen's antrea-v4 agent template, then what the
/// enricher appends with the default configuration.
ipfix::template_def enriched_template() {
  auto def = tools::make_template(tools::template_kind::antrea_v4, 256);
  for (auto name :
       {"sourcePodLabels", "destinationPodLabels", "clusterId", "originalObservationDomainId",
        "originalExporterIPv4Address", "originalExporterIPv6Address", "flowDirection"}) {
    const auto* e = ipfix::find_element(name);
    def.fields.push_back({e->id, e->length, e->enterprise});
  }
  return def;
}

/// One record shape of one Node's half: a loadgen inter-Node record with enrichment.
/// Per record only fixed-offset fields change (key, times, counters).
struct base_record {
  std::vector<std::uint8_t> bytes;
  std::size_t name_at = 0; ///< the named Pod's name value (patched with --distinct)
  std::size_t name_length = 0;
};

/// Loadgen inter-Node records of each side, made deny-free, with the enricher's fields.
void make_bases(const fa::flows::aggregate_layout& l, std::size_t labels,
                std::vector<base_record>& src, std::vector<base_record>& dst) {
  const auto agent = tools::make_template(tools::template_kind::antrea_v4, 256);
  ipfix::record_layout al{agent};
  std::vector<ipfix::field_slice> slices(al.num_fields());
  const std::string label_json = labels == 0 ? "" : std::string(labels - 2, 'x');
  for (std::uint64_t i = 0; src.size() < 64 || dst.size() < 64; ++i) {
    std::vector<std::uint8_t> rec;
    tools::append_record(tools::template_kind::antrea_v4, 1, 1, i, rec);
    al.slice(rec, slices);
    auto at = [&](fa::flows::field_index k) { return slices[static_cast<std::size_t>(k)]; };
    if (rec[at(l.flow_type).offset] != fa::flows::flow_type::inter_node)
      continue;
    const bool from_src = at(l.source_pod_name).length > 0;
    auto& out = from_src ? src : dst;
    if (out.size() >= 64)
      continue;
    // No deny rules: every flow correlates.
    rec[at(l.ingress_rule_action).offset] = 1;
    rec[at(l.egress_rule_action).offset] = 1;
    auto put = [&](std::string_view s) {
      std::uint8_t p[3];
      auto n = ipfix::write_varlen_prefix(p, s.size());
      rec.insert(rec.end(), p, p + n);
      rec.insert(rec.end(), s.begin(), s.end());
    };
    put(label_json);
    put(label_json);
    put("8c7e7b9a-3a1f-4d2e-9b6c-5f0e1d2c3b4a"); // clusterId: a UUID
    rec.insert(rec.end(), {0, 0, 0, 1});         // 405
    rec.insert(rec.end(), {192, 0, 2, 1});       // 403
    rec.insert(rec.end(), 16, 0);                // 404
    rec.push_back(from_src ? 1 : 0);             // 61
    const auto name = at(from_src ? l.source_pod_name : l.destination_pod_name);
    out.push_back({std::move(rec), name.offset, name.length});
  }
}

/// Collects due flows into the encoder, as the aggregator actor will.
struct encoding_sink : fa::flows::flow_sink {
  fa::flows::flow_encoder enc;
  std::uint64_t exported = 0;
  void on_export(const fa::flows::flow_view& f, fa::flows::export_reason) override {
    enc.add(f);
    ++exported;
  }
};

struct result {
  double ns_per_record = 0;
  double add_ns_per_record = 0;
  std::uint64_t records = 0;
  std::uint64_t exports = 0;
  double rss_per_flow = 0;
  double state_per_flow = 0;
  double record_bytes = 0;
};

result run(std::size_t flows, int rounds, std::size_t labels, bool distinct, bool given) {
  const auto def = enriched_template();
  auto layout_mut = fa::flows::make_aggregate_layout(def);
  if (!layout_mut->aggregatable) {
    std::fprintf(stderr, "template not aggregatable: %s\n",
                 std::string(layout_mut->why_not).c_str());
    std::exit(1);
  }
  fa::flows::aggregate_layout_ptr layout = layout_mut;
  std::vector<base_record> src_bases, dst_bases;
  make_bases(*layout, labels, src_bases, dst_bases);
  const auto& l = *layout;
  // The fields patched per record lie before the first string: fixed offsets.
  auto off = [&](fa::flows::field_index i) {
    std::size_t at = 0;
    for (fa::flows::field_index k = 0; k < i; ++k)
      at += l.input.fields[static_cast<std::size_t>(k)].length;
    return at;
  };
  const std::size_t o_start = off(l.flow_start_seconds), o_end = off(l.flow_end_seconds);
  const std::size_t o_sip = off(l.source_ipv4), o_dip = off(l.destination_ipv4);
  const std::size_t o_sport = off(l.source_port), o_dport = off(l.destination_port);
  const std::size_t o_proto = off(l.protocol);
  std::size_t o_counter[fa::flows::num_counters];
  for (std::size_t c = 0; c < fa::flows::num_counters; ++c)
    o_counter[c] = off(l.counters[c]);

  std::vector<std::uint8_t> body;
  body.reserve(set_records * 512);
  std::vector<ipfix::field_slice> values; // --given: the set's, as the enricher writes them
  const std::size_t nv = l.record.num_varlen();
  fa::base::byte_buffer out;
  std::vector<fa::flows::encoded_set> sets;
  encoding_sink sink;
  double record_bytes = 0;
  std::uint64_t record_count = 0;

  const std::size_t rss_before = rss_bytes();
  fa::flows::flow_table table({60s, 90s, fa::flows::uncorrelated_policy::export_flow, 2 * flows});
  std::int64_t cpu_all = 0, cpu_add = 0;
  std::uint64_t records = 0;
  const std::size_t sets_per_half = (flows + set_records - 1) / set_records;
  for (int r = 0; r < rounds; ++r) {
    // A round takes 10 simulated seconds; the halves of a set's flows arrive together.
    for (std::size_t s = 0; s < sets_per_half; ++s) {
      for (int half = 0; half < 2; ++half) {
        body.clear();
        const std::size_t first = s * set_records;
        const std::size_t last = std::min(flows, first + set_records);
        for (std::size_t i = first; i < last; ++i) {
          const auto& b = (half == 0 ? src_bases : dst_bases)[i % 64].bytes;
          const std::size_t at = body.size();
          body.insert(body.end(), b.begin(), b.end());
          auto* p = body.data() + at;
          ipfix::write_u32(p + o_start, epoch);
          ipfix::write_u32(p + o_end, epoch + 1 + static_cast<std::uint32_t>(r));
          const std::uint8_t sip[4] = {10, static_cast<std::uint8_t>(i >> 16),
                                       static_cast<std::uint8_t>(i >> 8),
                                       static_cast<std::uint8_t>(i)};
          const std::uint8_t dip[4] = {10, 244, static_cast<std::uint8_t>(i % 7), 9};
          std::memcpy(p + o_sip, sip, 4);
          std::memcpy(p + o_dip, dip, 4);
          ipfix::write_u16(p + o_sport, static_cast<std::uint16_t>(30000 + i % 20000));
          if (distinct) { // every flow its own Pod names: no string is shared
            const auto& base = (half == 0 ? src_bases : dst_bases)[i % 64];
            const std::uint32_t tag = static_cast<std::uint32_t>(i);
            std::memcpy(p + base.name_at + base.name_length - 4, &tag, 4);
          }
          ipfix::write_u16(p + o_dport, 443);
          p[o_proto] = 6;
          const std::uint64_t total = 10 * (static_cast<std::uint64_t>(r) + 1) + half;
          const std::uint64_t v[fa::flows::num_counters] = {total, total * 100, 10, 1000,
                                                            total, total * 90,  10, 900};
          for (std::size_t c = 0; c < fa::flows::num_counters; ++c)
            ipfix::write_u64(p + o_counter[c], v[c]);
          record_bytes += static_cast<double>(b.size());
          ++record_count;
        }
        const auto now = fa::flows::clock_type::time_point{} + 1000s + r * 10s +
                         std::chrono::milliseconds(10'000 * s / sets_per_half);
        values.clear();
        if (given) {
          std::size_t pos = 0;
          ipfix::parse_error err = ipfix::parse_error::none;
          for (std::size_t i = first; i < last; ++i) {
            values.resize(values.size() + nv);
            pos += l.record.walk_varlen(ipfix::bytes_view{body}.subspan(pos),
                                        {values.data() + values.size() - nv, nv}, err);
          }
        }
        const auto t0 = cpu_ns();
        records += table.add_set(layout, body, now, sink, values);
        const auto t1 = cpu_ns();
        table.poll(now, sink);
        out.clear();
        sets.clear();
        sink.enc.finish(out, sets);
        const auto t2 = cpu_ns();
        cpu_add += t1 - t0;
        cpu_all += t2 - t0;
      }
    }
  }
  const std::size_t rss_after = rss_bytes();
  const auto st = table.stats();
  if (st.flows != flows || st.correlated != flows) {
    std::fprintf(stderr, "expected %zu correlated flows, have %llu (correlated %llu)\n", flows,
                 static_cast<unsigned long long>(st.flows),
                 static_cast<unsigned long long>(st.correlated));
    std::exit(1);
  }
  result res;
  res.records = records;
  res.exports = sink.exported;
  res.ns_per_record = static_cast<double>(cpu_all) / static_cast<double>(records);
  res.add_ns_per_record = static_cast<double>(cpu_add) / static_cast<double>(records);
  res.rss_per_flow = static_cast<double>(rss_after - rss_before) / static_cast<double>(flows);
  res.state_per_flow = static_cast<double>(st.state_bytes) / static_cast<double>(flows);
  res.record_bytes = record_bytes / static_cast<double>(record_count);
  return res;
}

} // namespace

int main(int argc, char** argv) {
  int rounds = 6;
  std::size_t labels = 0;
  bool distinct = false;
  bool given = false;
  std::vector<std::size_t> sizes;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc)
      rounds = std::atoi(argv[++i]);
    else if (a == "--distinct")
      distinct = true;
    else if (a == "--given")
      given = true;
    else if (a == "--labels" && i + 1 < argc)
      labels = static_cast<std::size_t>(std::atol(argv[++i]));
    else
      sizes.push_back(static_cast<std::size_t>(std::atol(argv[i])));
  }
  if (sizes.empty())
    sizes = {10'000, 100'000, 1'000'000};
  std::printf("%10s %6s %12s %10s %10s %10s %10s %12s %12s\n", "flows", "rounds", "records",
              "ns/rec", "add ns/rec", "exports", "rec bytes", "RSS B/flow", "est B/flow");
  for (auto n : sizes) {
    // Each size in a process of its own, so one run's freed memory does not blur the
    // next one's RSS growth.
    std::fflush(stdout);
    const pid_t pid = fork();
    if (pid != 0) {
      int status = 0;
      waitpid(pid, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 1;
      continue;
    }
    auto r = run(n, rounds, labels, distinct, given);
    std::printf("%10zu %6d %12llu %10.0f %10.0f %10llu %10.0f %12.0f %12.0f\n", n, rounds,
                static_cast<unsigned long long>(r.records), r.ns_per_record, r.add_ns_per_record,
                static_cast<unsigned long long>(r.exports), r.record_bytes, r.rss_per_flow,
                r.state_per_flow);
    std::fflush(stdout);
    std::_Exit(0);
  }
  return 0;
}
