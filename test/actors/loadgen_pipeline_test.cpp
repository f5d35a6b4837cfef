// Realistic Antrea agent records (the load generator's content) through agent_session
// and a real enricher to a probe destination, checked with the load generator's own
// verifier: the input record is unchanged and the appended fields are right.

#include "actors/agent_session.hpp"
#include "actors/enricher.hpp"
#include "tools/common/loadgen_content.hpp"

#include "test/actors/test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace fa::actors::test {
namespace {

using tools::template_kind;

constexpr std::uint64_t seed = 7;
constexpr std::uint32_t odid = 801257890; // FNV-1 of "kind-worker"

class loadgen_pipeline_test : public actor_fixture {
 protected:
  loadgen_pipeline_test() {
    d = sys.spawn(destination_probe);
    enricher_config ec;
    ec.destinations = {d};
    ec.enrichment.cluster_id = "5f1a2b3c-0000-4000-8000-000000000001";
    e = sys.spawn(enricher, std::move(ec));
    agent_session_config ac;
    ac.info = ipv4_session(1, 172, 18, 0, 3);
    ac.enricher = e;
    ac.table = std::make_shared<output_template_table>();
    s = sys.spawn(agent_session, std::move(ac));
    run();
  }

  destination_actor d;
  enricher_actor e;
  agent_session_actor s;
};

int index_of(const template_def& def, std::uint32_t pen, std::uint16_t id) {
  for (std::size_t i = 0; i < def.fields.size(); ++i)
    if (def.fields[i].enterprise == pen && def.fields[i].id == id)
      return static_cast<int>(i);
  return -1;
}

TEST_F(loadgen_pipeline_test, antrea_records_keep_their_bytes_and_gain_the_right_fields) {
  constexpr std::uint64_t n = 60;
  auto t4 = tools::make_template(template_kind::antrea_v4, 256);
  auto t6 = tools::make_template(template_kind::antrea_v6, 257);
  std::vector<bytes> in4, in6;
  for (std::uint64_t i = 0; i < n; ++i) {
    in4.emplace_back();
    tools::append_record(template_kind::antrea_v4, seed, odid, i, in4.back());
    in6.emplace_back();
    tools::append_record(template_kind::antrea_v6, seed, odid, n + i, in6.back());
  }
  auto m = message(odid, 0, [&](auto& b) {
    template_set(b, {t4, t6});
    data_set(b, 256, in4);
    data_set(b, 257, in6);
  });
  caf::anon_send(s, messages::frames{make_chunk(m)});
  run();
  auto& st = state_of<enricher_state>(e).status;
  EXPECT_EQ(st.records_in, 2 * n);
  EXPECT_EQ(st.records_out, 2 * n);
  auto& payloads = state_of<destination_probe_state>(d).payloads;
  ASSERT_EQ(payloads.size(), 1u);
  auto& p = *payloads[0];
  std::vector<bytes> inputs = in4;
  inputs.insert(inputs.end(), in6.begin(), in6.end());
  std::size_t k = 0;
  for (auto& set : p.sets) {
    auto plan = tools::make_verify_plan(set.tmpl->def);
    ASSERT_TRUE(plan.matched);
    ASSERT_GE(plan.original_odid, 0);
    ASSERT_GE(plan.flow_direction, 0);
    for (auto& rec : records_of(set.tmpl->def, {p.bytes.data() + set.offset, set.length})) {
      ASSERT_LT(k, inputs.size());
      auto& input = inputs[k];
      auto& in_def = k < n ? t4 : t6;
      // The 42 input fields come first, byte for byte.
      ASSERT_GE(rec.size(), input.size());
      EXPECT_TRUE(std::equal(input.begin(), input.end(), rec.begin())) << "record " << k;
      auto v = tools::verify_record(plan, rec, 0, seed);
      EXPECT_TRUE(v.ok) << "record " << k << ": " << v.mismatch;
      EXPECT_EQ(v.index, k);
      EXPECT_EQ(v.original_odid, odid);
      EXPECT_EQ(v.exporter_v4, (std::array<std::uint8_t, 4>{172, 18, 0, 3}));
      EXPECT_EQ(v.exporter_v6, (std::array<std::uint8_t, 16>{}));
      EXPECT_EQ(v.cluster_id, std::string_view{"5f1a2b3c-0000-4000-8000-000000000001"});
      // flowDirection from the record's own flowType and names.
      ipfix::record_layout layout{in_def};
      auto type = input[layout.field(input, index_of(in_def, ipfix::antrea_pen, 137)).offset];
      auto src = layout.field(input, index_of(in_def, ipfix::antrea_pen, 101)).length > 0;
      auto dst = layout.field(input, index_of(in_def, ipfix::antrea_pen, 103)).length > 0;
      EXPECT_EQ(v.flow_direction, flow_direction(type, src, dst)) << "record " << k;
      ++k;
    }
  }
  EXPECT_EQ(k, 2 * n);
}

} // namespace
} // namespace fa::actors::test
