// The record rewriting alone (enrich/slice_enricher): plain GoogleTest, no actors
// (antrea-proxy-semantics.md 2; DESIGN 2). The enricher actor's tests cover batching,
// routing and credits on top of it.

#include "enrich/slice_enricher.hpp"

#include "actors/output_template_table.hpp"
#include "actors/template_planner.hpp"
#include "ipfix/message_builder.hpp"
#include "test/support/ipfix_records.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>

namespace fa::enrich {
namespace {

using namespace fa::test;

/// The variable-length values the enricher handed over with `p`'s records (the
/// readers' shortcut, enriched_payload varlen) are exactly what a fresh walk of each
/// record written finds, and the payload holds nothing else.
void expect_varlen_as_walked(const messages::enriched_payload& p) {
  std::size_t entries = 0;
  for (std::size_t si = 0; si < p.sets.size(); ++si) {
    const auto& s = p.sets[si];
    ipfix::record_layout layout{s.tmpl->def};
    const std::size_t nv = layout.num_varlen();
    ASSERT_NE(s.varlen, messages::enriched_set::no_varlen) << "set " << si;
    const auto given = p.varlen_of(s, nv);
    ASSERT_EQ(given.size(), s.records * nv) << "set " << si;
    entries += given.size();
    ipfix::bytes_view body{p.bytes.data() + s.offset, s.length};
    std::vector<ipfix::field_slice> walked(nv);
    std::size_t pos = 0;
    for (std::size_t r = 0; r < s.records; ++r) {
      ipfix::parse_error err = ipfix::parse_error::none;
      const auto len = layout.walk_varlen(body.subspan(pos), walked, err);
      ASSERT_GT(len, 0u) << "set " << si << " record " << r;
      const auto values = given.subspan(r * nv, nv);
      for (std::size_t k = 0; k < nv; ++k) {
        EXPECT_EQ(values[k].offset, walked[k].offset)
            << "set " << si << " record " << r << " value " << k;
        EXPECT_EQ(values[k].length, walked[k].length)
            << "set " << si << " record " << r << " value " << k;
      }
      EXPECT_EQ(layout.length_of(values, body.size() - pos), len);
      pos += len;
    }
  }
  EXPECT_EQ(entries, p.varlen.size());
}

class slice_enricher_test : public ::testing::Test {
 protected:
  slice_enricher_test() { opts.cluster_id = "cluster-a"; }

  messages::template_plan_ptr plan(const template_def& def, std::uint32_t odid = 0x01020304) {
    auto p = actors::plan_template(def, odid, opts);
    EXPECT_NE(p, nullptr);
    return p ? actors::bind_output(*p, table) : nullptr;
  }

  /// Enriches `records` of `p`, received from `session`, as one slice into `payload`.
  void enrich(slice_enricher& e, const messages::template_plan_ptr& p,
              const std::vector<bytes>& records, const messages::session_info_ptr& session,
              std::size_t max_set_body = 65535 - 20) {
    inputs.push_back({});
    for (const auto& r : records)
      append(inputs.back(), r);
    messages::data_slice slice{p, inputs.back(), static_cast<std::uint32_t>(records.size())};
    if (!writer || writer->tmpl != p->output) {
      if (writer)
        writer->close();
      writer.emplace(payload, p->output, max_set_body, with_varlen);
    }
    e.enrich(*session, slice, varlen_values_of(p->layout, inputs.back()), *writer, counts);
  }

  /// The records written so far (the open set closed first), their variable-length
  /// values checked against a walk when handed over.
  std::vector<output_record> written() {
    if (writer)
      writer->close();
    writer.reset();
    if (with_varlen)
      expect_varlen_as_walked(payload);
    return records_of(payload);
  }

  enrichment_options opts;
  /// The writers hand each record's variable-length values over (every test checks them).
  bool with_varlen = true;
  actors::output_template_table table;
  messages::enriched_payload payload;
  std::optional<set_writer> writer;
  slice_counts counts;
  std::vector<bytes> inputs; ///< each slice's octets, alive while the test runs
  messages::session_info_ptr peer4 = ipv4_session(1, 192, 0, 2, 7);
  messages::session_info_ptr peer6 = ipv6_session(2, v6(0xfd00, 7));
};

TEST_F(slice_enricher_test, appends_antreas_fields_in_order_for_an_ipv4_exporter) {
  slice_enricher e{opts};
  auto p = plan(antrea_def(256));
  auto rec = antrea_record(inter_node_from_source());
  enrich(e, p, {rec}, peer4);
  auto got = written();
  ASSERT_EQ(got.size(), 1u);
  auto want = rec;
  // No snapshot: empty labels; source named only: egress (1).
  append(want, antrea_suffix("", "", "cluster-a", 0x01020304, {192, 0, 2, 7}, {}, 1));
  EXPECT_EQ(got[0].data, want);
  EXPECT_EQ(got[0].template_id, p->output->id);
  EXPECT_EQ(payload.sets.size(), 1u);
  EXPECT_EQ(counts.label_lookups, 0u);
  EXPECT_EQ(counts.dropped_too_large, 0u);
}

TEST_F(slice_enricher_test, an_ipv6_exporter_gets_zero_ipv4_and_its_own_ipv6) {
  slice_enricher e{opts};
  auto p = plan(antrea_def(256, 6), 805306368);
  flow f;
  f.src = v6(0xfd00, 0x10);
  f.dst = v6(0xfd00, 0x20);
  f.dst_pod = "db-0";
  f.dst_ns = "data";
  f.flow_type = 4; // FromExternal, destination named: ingress
  auto rec = antrea_record(f, 6);
  enrich(e, p, {rec}, peer6);
  auto got = written();
  ASSERT_EQ(got.size(), 1u);
  auto want = rec;
  append(want, antrea_suffix("", "", "cluster-a", 805306368, {0, 0, 0, 0}, v6(0xfd00, 7), 0));
  EXPECT_EQ(got[0].data, want);
}

TEST_F(slice_enricher_test, a_foreign_record_gets_provenance_only) {
  slice_enricher e{opts};
  auto p = plan(plain_v4(256), 42);
  auto r = plain_v4_record(9);
  enrich(e, p, {r}, peer4);
  auto got = written();
  ASSERT_EQ(got.size(), 1u);
  auto want = r;
  append_u32(want, 42);
  append(want, {192, 0, 2, 7});
  append(want, bytes(16, 0));
  EXPECT_EQ(got[0].data, want);
}

// More records than are in flight at once (lookups run ahead of the record written):
// each record gets its own Pods' labels and names, in order, and the lookups are counted.
TEST_F(slice_enricher_test, a_long_slice_gives_each_record_its_own_labels_and_names) {
  slice_enricher e{opts};
  auto pods = std::make_shared<labels::pod_snapshot>();
  auto src_labels = [](int h) { return R"({"s":")" + std::to_string(h) + R"("})"; };
  for (int h = 0; h < 5; ++h) // sources 10.244.1.0-4 are Pods, 5 and 6 are not
    pods->add(key4(10, 244, 1, static_cast<std::uint8_t>(h)),
              pod("src-" + std::to_string(h), src_labels(h), 100, {}, h % 2 == 0));
  pods->add(key4(10, 244, 2, 0), pod("dst-0", "{}", 100));
  e.set_pods(pods);
  auto p = plan(antrea_def(256));
  std::vector<bytes> records, want;
  std::uint64_t hits = 0;
  const int n = 41;
  for (int i = 0; i < n; ++i) {
    const int s = i % 7, d = i % 2;
    flow f;
    f.src = v4(10, 244, 1, static_cast<std::uint8_t>(s));
    f.dst = v4(10, 244, 2, static_cast<std::uint8_t>(d));
    f.packets = static_cast<std::uint64_t>(i);
    f.dst_pod = "d";
    f.dst_ns = "default";
    f.flow_type = i % 3 == 0 ? 2 : 1; // every third: InterNode, no source name
    if (f.flow_type == 1) {
      f.src_pod = "s";
      f.src_ns = "default";
    }
    records.push_back(antrea_record(f));
    const bool src_pod = s < 5, dst_pod = d == 0;
    hits += (src_pod ? 1 : 0) + (dst_pod ? 1 : 0);
    flow filled = f;
    if (f.flow_type == 2 && src_pod) {
      filled.src_pod = "src-" + std::to_string(s);
      filled.src_ns = "default";
    }
    auto w = antrea_record(filled);
    // flowDirection from the names as received: InterNode with only the destination
    // named is ingress (0), IntraNode is unknown (255).
    append(w, antrea_suffix(src_pod ? src_labels(s) : "", dst_pod ? "{}" : "", "cluster-a",
                            0x01020304, {192, 0, 2, 7}, {}, f.flow_type == 2 ? 0 : 255));
    want.push_back(std::move(w));
  }
  enrich(e, p, records, peer4);
  auto got = written();
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i)
    EXPECT_EQ(got[i].data, want[i]) << "record " << i;
  EXPECT_EQ(counts.label_lookups, 2u * n);
  EXPECT_EQ(counts.label_hits, hits);
}

TEST_F(slice_enricher_test, names_are_filled_without_labels_when_labels_are_off) {
  opts.pod_labels = false;
  slice_enricher e{opts};
  auto pods = std::make_shared<labels::pod_snapshot>();
  pods->add(key4(10, 244, 2, 7), pod("server-1", R"({"app":"server"})", 100));
  e.set_pods(pods);
  auto p = plan(antrea_def(256));
  auto f = inter_node_from_source(); // destination not named
  enrich(e, p, {antrea_record(f)}, peer4);
  auto got = written();
  ASSERT_EQ(got.size(), 1u);
  flow filled = f;
  filled.dst_pod = "server-1";
  filled.dst_ns = "default";
  auto want = antrea_record(filled);
  append(want, antrea_suffix("", "", "cluster-a", 0x01020304, {192, 0, 2, 7}, {}, 1));
  EXPECT_EQ(got[0].data, want);
  EXPECT_EQ(counts.label_lookups, 0u); // lookups for names only are not label lookups
}

TEST_F(slice_enricher_test, invalid_records_are_counted_not_written) {
  slice_enricher e{opts};
  auto no_addr = plan(make_def(256, {iana(150, 4), antrea(101), antrea(137, 1)}));
  auto no_time = plan(antrea_def(258, 4, 0));
  bytes r_no_addr = {0x65, 0x53, 0xf1, 0x00, 1, 'a', 2};
  auto r_no_time = antrea_record(inter_node_from_source(), 4, 0);
  enrich(e, no_addr, {r_no_addr, r_no_addr}, peer4);
  enrich(e, no_time, {r_no_time, r_no_time, r_no_time}, peer4);
  EXPECT_EQ(counts.dropped_invalid_addresses, 2u);
  EXPECT_EQ(counts.dropped_no_start_time, 3u);
  EXPECT_TRUE(written().empty());
}

TEST_F(slice_enricher_test, sets_stay_within_max_set_body_and_too_large_records_are_dropped) {
  slice_enricher e{opts, 80};
  auto p = plan(plain_v4(256)); // 16 + 24 octets per output record: two fill a set
  std::vector<bytes> recs;
  for (std::uint64_t i = 0; i < 5; ++i)
    recs.push_back(plain_v4_record(i));
  enrich(e, p, {recs[0], recs[1], recs[2]}, peer4, 80);
  enrich(e, p, {recs[3], recs[4]}, peer4, 80); // the same template: sets are shared
  auto got = written();
  ASSERT_EQ(got.size(), 5u);
  ASSERT_EQ(payload.sets.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_EQ(payload.sets[i].records, i < 2 ? 2u : 1u);
  for (std::size_t i = 0; i < 5; ++i)
    EXPECT_TRUE(std::equal(recs[i].begin(), recs[i].end(), got[i].data.begin())) << i;

  // packetTotalCount, interfaceName: 8 + 1 + 30 + 24 = 63 fits 64, 8 + 1 + 40 + 24 does not.
  slice_enricher small{opts, 64};
  auto q = plan(make_def(257, {iana(86, 8), iana(82, ipfix::varlen)}));
  auto rec = [](std::size_t name_len) {
    bytes r(8, 1);
    append_varlen(r, std::string(name_len, 'x'));
    return r;
  };
  enrich(small, q, {rec(30), rec(40), rec(2)}, peer4, 64);
  EXPECT_EQ(counts.dropped_too_large, 1u);
  got = written();
  ASSERT_EQ(got.size(), 7u);
  EXPECT_EQ(got[5].data.size(), 63u);
  EXPECT_EQ(got[6].data.size(), 35u);
}

TEST_F(slice_enricher_test, enrichment_off_copies_records_unchanged) {
  opts.provenance = false;
  opts.antrea = false;
  slice_enricher e{opts};
  auto p = plan(antrea_def(256));
  auto rec = antrea_record(inter_node_from_source());
  enrich(e, p, {rec, rec}, peer4);
  auto got = written();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].data, rec);
  EXPECT_EQ(got[1].data, rec);
}

/// Sends records with an even packet count to the first writer, odd to the second.
class by_parity final : public record_router {
 public:
  by_parity(set_writer& even, set_writer& odd)
      : even_(even)
      , odd_(odd) {}
  set_writer& writer_for(ipfix::bytes_view record, std::span<const ipfix::field_slice>) override {
    // plain_v4: packetTotalCount at octet 8.
    return ipfix::read_u64(record.data() + 8) % 2 == 0 ? even_ : odd_;
  }

 private:
  set_writer& even_;
  set_writer& odd_;
};

TEST_F(slice_enricher_test, a_router_puts_each_record_in_the_writer_it_picks) {
  slice_enricher e{opts};
  auto p = plan(plain_v4(256));
  std::vector<bytes> recs;
  for (std::uint64_t i = 0; i < 7; ++i)
    recs.push_back(plain_v4_record(i));
  bytes body;
  for (const auto& r : recs)
    append(body, r);
  messages::enriched_payload even, odd;
  set_writer we{even, p->output, 65535 - 20, true}, wo{odd, p->output, 65535 - 20, true};
  by_parity router{we, wo};
  e.enrich(*peer4, {p, body, 7}, varlen_values_of(p->layout, body), router, counts);
  we.close();
  wo.close();
  expect_varlen_as_walked(even);
  expect_varlen_as_walked(odd);
  auto got_even = records_of(even), got_odd = records_of(odd);
  ASSERT_EQ(got_even.size(), 4u);
  ASSERT_EQ(got_odd.size(), 3u);
  for (std::size_t i = 0; i < 4; ++i) // in order within each output
    EXPECT_EQ(ipfix::read_u64(got_even[i].data.data() + 8), 2 * i);
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_EQ(ipfix::read_u64(got_odd[i].data.data() + 8), 2 * i + 1);
}

/// antrea_def with the Node names and, after them, a policy name: every name the
/// enricher may fill, and a value behind the filled ones.
template_def antrea_def_with_nodes(std::uint16_t id) {
  return make_def(id, {iana(150, 4), iana(8, 4), iana(12, 4), antrea(101), antrea(100), antrea(104),
                       antrea(103), antrea(102), antrea(105), antrea(137, 1), antrea(110),
                       iana(86, 8)});
}

/// Where the values of a record lie after names are filled, long labels added (3-octet
/// prefixes, RFC 7011 7) and sets split: what the enricher hands the readers of fields
/// equals a walk of each output record, with labels on and off.
TEST_F(slice_enricher_test, handed_over_values_match_a_walk_of_every_record_written) {
  const std::string long_labels = R"({"app":")" + std::string(300, 'l') + R"("})";
  const std::string long_name = "db-" + std::string(260, 'n');
  for (const bool labels : {true, false}) {
    SCOPED_TRACE(labels ? "labels on" : "labels off");
    opts.pod_labels = labels;
    slice_enricher e{opts, 2000};
    auto pods = std::make_shared<labels::pod_snapshot>();
    pods->add(key4(10, 244, 1, 5), pod("web-1", long_labels, 100));
    pods->add(key4(10, 244, 2, 7), pod(long_name, "{}", 100, {}, false));
    pods->add(key4(10, 244, 2, 8), pod("", R"({"x":"y"})", 100)); // a Pod named ""
    e.set_pods(pods);
    auto p = plan(antrea_def_with_nodes(labels ? 300 : 301));
    std::vector<bytes> records;
    for (int i = 0; i < 24; ++i) {
      bytes r;
      ipfix::message_builder b{r};
      b.put_u32(1'700'000'100);
      b.put_bytes(bytes{10, 244, 1, 5});
      b.put_bytes(bytes{10, 244, 2, static_cast<std::uint8_t>(7 + i % 2)});
      // InterNode, one side named by its Node's agent (the other filled from the index),
      // or both, or neither; now and then an IntraNode record (nothing filled).
      const bool src_named = i % 3 != 0, dst_named = i % 3 != 1;
      b.put_string(src_named ? "web-1" : "");
      b.put_string(src_named ? "default" : "");
      b.put_string(src_named ? "node-a" : "", i % 5 == 0); // a 3-octet prefix as received
      b.put_string(dst_named ? "db-0" : "");
      b.put_string(dst_named ? "data" : "");
      b.put_string(dst_named ? "node-b" : "");
      b.put_u8(i % 7 == 6 ? 1 : 2);
      b.put_string(i % 4 == 0 ? std::string(280, 'p') : "allow-web");
      b.put_u64(static_cast<std::uint64_t>(i));
      records.push_back(std::move(r));
    }
    enrich(e, p, records, peer4, 2000);
    auto got = written(); // checks the values
    ASSERT_EQ(got.size(), records.size());
    EXPECT_GT(payload.sets.size(), 2u); // long records: several sets
    // Names were filled (record 4's destination with the long one, a 3-octet prefix),
    // not just copied.
    EXPECT_NE(
        std::search(got[4].data.begin(), got[4].data.end(), long_name.begin(), long_name.end()),
        got[4].data.end());
    payload = {};
  }
}

/// Issue 15: with sealed Pods, a side's three names (a whole run in the template) and each
/// label are copied as octets encoded once per Pod (labels::wire_names, wire_labels).
/// The records, and the values handed over, are exactly those of unsealed Pods (their
/// strings written one by one): short and long (3-octet prefix) labels and names,
/// prefixes received in either form, either side filled or both, IPv4 and IPv6.
TEST_F(slice_enricher_test, sealed_pods_write_the_same_records_as_their_strings) {
  const std::string long_labels = R"({"app":")" + std::string(300, 'l') + R"("})";
  const std::string long_name = "db-" + std::string(260, 'n');
  for (const bool v6_records : {false, true}) {
    std::vector<bytes> runs[2];
    std::vector<ipfix::field_slice> values[2];
    for (const bool sealed : {true, false}) {
      SCOPED_TRACE(std::string(v6_records ? "IPv6" : "IPv4") + (sealed ? ", sealed" : ""));
      payload = {};
      slice_enricher e{opts};
      auto pods = std::make_shared<labels::pod_snapshot>();
      auto add = [&](std::uint8_t host, std::shared_ptr<const labels::pod_entry> p) {
        if (v6_records) {
          std::uint8_t a[16] = {0xfd, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, host};
          pods->add(labels::ipv6_key(a), std::move(p));
        } else {
          pods->add(key4(10, 244, 1, host), std::move(p));
        }
      };
      add(5, pod("web-1", long_labels, 100, {}, sealed));
      add(7, pod(long_name, "{}", 100, {}, sealed));
      add(8, pod("", R"({"x":"y"})", 100, {}, sealed)); // a Pod named ""
      e.set_pods(pods);
      template_def def = antrea_def_with_nodes(v6_records ? 311 : 310);
      if (v6_records) // sourceIPv6Address, destinationIPv6Address
        def.fields[1] = {27, 16, 0}, def.fields[2] = {28, 16, 0};
      auto p = plan(def);
      ASSERT_NE(p, nullptr);
      std::vector<bytes> records;
      for (int i = 0; i < 30; ++i) {
        bytes r;
        ipfix::message_builder b{r};
        b.put_u32(1'700'000'100);
        auto address = [&](std::uint8_t host) {
          if (v6_records)
            b.put_bytes(bytes{0xfd, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, host});
          else
            b.put_bytes(bytes{10, 244, 1, host});
        };
        address(static_cast<std::uint8_t>(5 + (i / 3) % 2 * 3));   // 5 or 8
        address(static_cast<std::uint8_t>(7 + i % 3));             // 7, 8 or 9 (no Pod)
        const bool src_named = i % 4 == 1, dst_named = i % 4 == 2; // 0 and 3: neither
        b.put_string(src_named ? "web-1" : "", i % 5 == 0);
        b.put_string(src_named ? "default" : "");
        b.put_string(src_named ? "node-a" : "", i % 7 == 0);
        b.put_string(dst_named ? "db-0" : "", i % 6 == 0);
        b.put_string(dst_named ? "data" : "");
        b.put_string(dst_named ? "node-b" : "");
        b.put_u8(i % 9 == 8 ? 1 : 2); // mostly InterNode
        b.put_string(i % 4 == 0 ? std::string(280, 'p') : "allow-web");
        b.put_u64(static_cast<std::uint64_t>(i));
        records.push_back(std::move(r));
      }
      enrich(e, p, records, peer4);
      auto got = written(); // checks the values handed over against a walk
      ASSERT_EQ(got.size(), records.size());
      for (auto& r : got)
        runs[sealed ? 0 : 1].push_back(r.data);
      values[sealed ? 0 : 1] = payload.varlen;
    }
    ASSERT_EQ(runs[0].size(), runs[1].size());
    for (std::size_t i = 0; i < runs[0].size(); ++i)
      EXPECT_EQ(runs[0][i], runs[1][i]) << "record " << i;
    ASSERT_EQ(values[0].size(), values[1].size());
    for (std::size_t k = 0; k < values[0].size(); ++k) {
      EXPECT_EQ(values[0][k].offset, values[1][k].offset) << "value " << k;
      EXPECT_EQ(values[0][k].length, values[1][k].length) << "value " << k;
    }
    // Names were filled from the index, the long one with a 3-octet prefix.
    bool filled_long = false;
    for (const auto& r : runs[0])
      filled_long |= std::search(r.begin(), r.end(), long_name.begin(), long_name.end()) != r.end();
    EXPECT_TRUE(filled_long);
  }
}

// Without the flag (IPFIX destinations only) nothing is handed over: no cost.
TEST_F(slice_enricher_test, no_values_are_handed_over_unless_asked) {
  with_varlen = false;
  slice_enricher e{opts};
  auto p = plan(antrea_def(256));
  enrich(e, p, {antrea_record(inter_node_from_source())}, peer4);
  ASSERT_EQ(written().size(), 1u);
  EXPECT_TRUE(payload.varlen.empty());
  ASSERT_EQ(payload.sets.size(), 1u);
  EXPECT_EQ(payload.sets[0].varlen, messages::enriched_set::no_varlen);
  EXPECT_TRUE(payload.varlen_of(payload.sets[0], 5).empty());
}

TEST(flow_direction, follows_antreas_table) {
  struct row {
    std::uint8_t type;
    bool src, dst;
    std::uint8_t want;
  };
  for (const auto& r : {
           row{1, true, true, 255}, // IntraNode
           row{2, true, false, 1},  // InterNode from the source Node: egress
           row{2, false, true, 0},  // InterNode from the destination Node: ingress
           row{2, true, true, 255}, // both named: unknown
           row{2, false, false, 255}, row{3, true, false, 1}, // ToExternal, source named: egress
           row{3, false, false, 255},
           row{4, false, true, 0}, // FromExternal, destination named: ingress
           row{4, true, false, 255}, row{0, true, false, 255}, // no flowType
       })
    EXPECT_EQ(flow_direction(r.type, r.src, r.dst), r.want)
        << int{r.type} << " " << r.src << " " << r.dst;
}

} // namespace
} // namespace fa::enrich
