#include "test/flows/flow_test_util.hpp"

#include <gtest/gtest.h>

namespace fa::flows::test {
namespace {

/// A flow view over `rec`, with every aggregation value distinct, so a value written to
/// the wrong slot (Antrea v2.4-v2.6's #8228) cannot go unnoticed.
struct view_fixture {
  explicit view_fixture(bool v6)
      : def(enriched_def(v6))
      , layout(layout_of(def)) {
    values v;
    v.set("sourcePodName", "pod1")
        .set("clusterId", "c1")
        .set("flowDirection", 1)
        .set_text("tcpState", "ESTABLISHED")
        .set("destinationNodeName", std::string(300, 'n')); // a 3-octet prefix
    rec = v.encode(def);
    for (std::size_t c = 0; c < num_counters; ++c) {
      state.source.counters[c] = 1000 + c;
      state.destination.counters[c] = 2000 + c;
    }
    state.source.throughput = 3001;
    state.source.reverse_throughput = 3002;
    state.destination.throughput = 3003;
    state.destination.reverse_throughput = 3004;
    state.throughput = 3005;
    state.reverse_throughput = 3006;
    state.source_end_seconds = 4001;
    state.destination_end_seconds = 4002;
    // The stored form, as the flow table keeps it.
    std::vector<ipfix::field_slice> varlen(layout->record.num_varlen());
    ipfix::parse_error err = ipfix::parse_error::none;
    EXPECT_EQ(layout->record.walk_varlen(rec, varlen, err), rec.size());
    fixed.resize(layout->fixed_size);
    ipfix::bytes_view tcp;
    compact_record(*layout, rec, varlen, fixed.data(), strings, tcp);
    view.key = &key;
    view.layout = layout;
    view.fixed = fixed;
    view.strings = strings;
    view.tcp_state = tcp;
    view.state = &state;
  }
  ipfix::template_def def;
  aggregate_layout_ptr layout;
  bytes rec;
  bytes fixed;
  bytes strings;
  flow_key key;
  flow_state state;
  flow_view view;
};

class flow_encoder_test : public ::testing::TestWithParam<bool> {};

INSTANTIATE_TEST_SUITE_P(family, flow_encoder_test, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "ipv6" : "ipv4"; });

TEST_P(flow_encoder_test, every_value_is_where_the_template_says) {
  view_fixture f(GetParam());
  bytes out(flow_encoder::record_size(f.view));
  EXPECT_EQ(out.size(), f.rec.size() + aggregation_block_size);
  EXPECT_EQ(flow_encoder::write(f.view, out.data()), out.data() + out.size());
  decoded r(f.layout->output, out);
  const char* names[] = {"PacketTotalCount",        "OctetTotalCount",
                         "PacketDeltaCount",        "OctetDeltaCount",
                         "reversePacketTotalCount", "reverseOctetTotalCount",
                         "reversePacketDeltaCount", "reverseOctetDeltaCount"};
  for (std::size_t c = 0; c < num_counters; ++c) {
    std::string n = names[c];
    if (c < 4)
      n[0] = static_cast<char>(n[0] - 'A' + 'a');
    EXPECT_EQ(r.u(n + "FromSourceNode"), 1000 + c) << n;
    EXPECT_EQ(r.u(n + "FromDestinationNode"), 2000 + c) << n;
  }
  EXPECT_EQ(r.u("throughputFromSourceNode"), 3001u);
  EXPECT_EQ(r.u("reverseThroughputFromSourceNode"), 3002u);
  EXPECT_EQ(r.u("throughputFromDestinationNode"), 3003u);
  EXPECT_EQ(r.u("reverseThroughputFromDestinationNode"), 3004u);
  EXPECT_EQ(r.u("throughput"), 3005u);
  EXPECT_EQ(r.u("reverseThroughput"), 3006u);
  EXPECT_EQ(r.u("flowEndSecondsFromSourceNode"), 4001u);
  EXPECT_EQ(r.u("flowEndSecondsFromDestinationNode"), 4002u);
  // The record's own fields around the block are intact.
  EXPECT_EQ(r.s("sourcePodName"), "pod1");
  EXPECT_EQ(r.s("clusterId"), "c1");
  EXPECT_EQ(r.u("flowDirection"), 1u);
  EXPECT_EQ(r.s("tcpState"), "ESTABLISHED");
  EXPECT_EQ(r.s("destinationNodeName"), std::string(300, 'n'));
  // Apart from the aggregation block, the record is the received one, octet for octet.
  std::vector<ipfix::field_slice> in(f.layout->record.num_fields());
  f.layout->record.slice(f.rec, in);
  const auto split = in[f.layout->agent_fields - 1].offset + in[f.layout->agent_fields - 1].length;
  bytes without(out.begin(), out.begin() + split);
  without.insert(without.end(), out.begin() + split + aggregation_block_size, out.end());
  EXPECT_EQ(without, f.rec);
}

TEST_P(flow_encoder_test, sets_split_by_size_and_template) {
  view_fixture a(GetParam());
  view_fixture b(!GetParam());
  const std::size_t ra = flow_encoder::record_size(a.view);
  const std::size_t rb = flow_encoder::record_size(b.view);
  flow_encoder enc(3 * ra); // three records of `a` per set
  for (int i = 0; i < 7; ++i) {
    enc.add(a.view);
    enc.add(b.view); // interleaved templates still make whole sets per template
  }
  EXPECT_EQ(enc.staged_records(), 14u);
  base::byte_buffer out{0xee}; // the encoder appends
  std::vector<encoded_set> sets;
  enc.finish(out, sets);
  std::size_t records = 0, a_sets = 0;
  std::uint32_t expect_offset = 1;
  for (const auto& s : sets) {
    EXPECT_EQ(s.offset, expect_offset);
    expect_offset += s.length;
    EXPECT_LE(s.length, 3 * ra);
    records += s.records;
    if (s.layout == a.layout) {
      ++a_sets;
      EXPECT_EQ(s.length, s.records * ra);
    } else {
      EXPECT_EQ(s.layout, b.layout);
      EXPECT_EQ(s.length, s.records * rb);
    }
    // Every set body parses as records of its template.
    ipfix::record_layout rl{s.layout->output};
    ipfix::parse_error err = ipfix::parse_error::none;
    EXPECT_EQ(ipfix::count_records({out.data() + s.offset, s.length}, rl, err), s.records);
    EXPECT_EQ(err, ipfix::parse_error::none);
  }
  EXPECT_EQ(records, 14u);
  EXPECT_EQ(a_sets, 3u) << "7 records of a at 3 per set";
  EXPECT_EQ(out.size(), expect_offset);
  EXPECT_EQ(enc.staged_records(), 0u);

  // The next round starts empty, and a record larger than a set is counted.
  flow_encoder small(ra - 1);
  small.add(a.view);
  EXPECT_EQ(small.num_too_large(), 1u);
  EXPECT_EQ(small.staged_records(), 0u);
  sets.clear();
  out.clear();
  enc.finish(out, sets);
  EXPECT_TRUE(sets.empty());
  EXPECT_TRUE(out.empty());
}

} // namespace
} // namespace fa::flows::test
