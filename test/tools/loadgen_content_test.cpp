#include "tools/common/loadgen_content.hpp"

#include "ipfix/record.hpp"
#include "ipfix/wire.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

using namespace fa;
using namespace fa::tools;

namespace {

constexpr template_kind all_kinds[] = {template_kind::antrea_v4, template_kind::antrea_v6,
                                       template_kind::minimal};

int count_pen(const ipfix::template_def& def, std::uint32_t pen) {
  return static_cast<int>(std::count_if(def.fields.begin(), def.fields.end(),
                                        [pen](auto& f) { return f.enterprise == pen; }));
}

int position(const ipfix::template_def& def, std::uint32_t pen, std::uint16_t id) {
  for (std::size_t i = 0; i < def.fields.size(); ++i)
    if (def.fields[i].enterprise == pen && def.fields[i].id == id)
      return static_cast<int>(i);
  return -1;
}

std::vector<std::uint8_t> record(template_kind k, std::uint64_t seed, std::uint32_t odid,
                                 std::uint64_t index) {
  std::vector<std::uint8_t> out;
  append_record(k, seed, odid, index, out);
  return out;
}

} // namespace

TEST(LoadgenContent, KindNamesRoundTrip) {
  for (auto k : all_kinds)
    EXPECT_EQ(parse_template_kind(to_string(k)), k);
  EXPECT_EQ(to_string(template_kind::antrea_v4), "antrea-v4");
  EXPECT_EQ(to_string(template_kind::antrea_v6), "antrea-v6");
  EXPECT_EQ(to_string(template_kind::minimal), "minimal");
  EXPECT_FALSE(parse_template_kind("antrea"));
  EXPECT_FALSE(parse_template_kind(""));
}

TEST(LoadgenContent, AntreaTemplateShape) {
  for (bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "v6" : "v4");
    auto def = make_template(v6 ? template_kind::antrea_v6 : template_kind::antrea_v4, 300);
    EXPECT_EQ(def.id, 300);
    EXPECT_FALSE(def.is_options());
    ASSERT_EQ(def.fields.size(), 42u);
    EXPECT_EQ(count_pen(def, 0), 12);
    EXPECT_EQ(count_pen(def, ipfix::reverse_pen), 4);
    EXPECT_EQ(count_pen(def, ipfix::antrea_pen), 26);
    // The agent's order: IANA, reverse, then Antrea.
    EXPECT_EQ(def.fields[0], (ipfix::field_spec{150, 4, 0})); // flowStartSeconds
    EXPECT_EQ(def.fields[6], (ipfix::field_spec{86, 8, 0}));  // packetTotalCount
    EXPECT_EQ(def.fields[9], (ipfix::field_spec{1, 8, 0}));   // octetDeltaCount
    EXPECT_EQ(def.fields[12], (ipfix::field_spec{86, 8, ipfix::reverse_pen}));
    EXPECT_EQ(def.fields[16], (ipfix::field_spec{101, ipfix::varlen, ipfix::antrea_pen}));
    EXPECT_EQ(def.fields[17], (ipfix::field_spec{100, ipfix::varlen, ipfix::antrea_pen}));
    EXPECT_EQ(position(def, ipfix::antrea_pen, 137), 35); // flowType
    EXPECT_EQ(def.fields[35].length, 1);
    EXPECT_EQ(position(def, ipfix::antrea_pen, 108), 22); // destinationServicePort
    for (std::size_t i = 0; i < 12; ++i)
      EXPECT_EQ(def.fields[i].enterprise, 0u) << i;
    if (v6) {
      EXPECT_EQ(def.fields[10], (ipfix::field_spec{27, 16, 0}));
      EXPECT_EQ(def.fields[11], (ipfix::field_spec{28, 16, 0}));
      EXPECT_EQ(def.fields[41], (ipfix::field_spec{107, 16, ipfix::antrea_pen}));
      EXPECT_EQ(position(def, 0, 8), -1);
    } else {
      EXPECT_EQ(def.fields[10], (ipfix::field_spec{8, 4, 0}));
      EXPECT_EQ(def.fields[11], (ipfix::field_spec{12, 4, 0}));
      EXPECT_EQ(def.fields[41], (ipfix::field_spec{106, 4, ipfix::antrea_pen}));
      EXPECT_EQ(position(def, 0, 27), -1);
    }
    // 19 strings, all variable length.
    EXPECT_EQ(
        std::count_if(def.fields.begin(), def.fields.end(), [](auto& f) { return f.is_varlen(); }),
        19);
  }
}

TEST(LoadgenContent, MinimalTemplateShape) {
  auto def = make_template(template_kind::minimal, 256);
  std::vector<ipfix::field_spec> want = {{8, 4, 0}, {12, 4, 0}, {7, 2, 0},   {11, 2, 0},
                                         {4, 1, 0}, {86, 8, 0}, {150, 4, 0}, {151, 4, 0},
                                         {2, 8, 0}, {1, 8, 0}};
  EXPECT_EQ(def.fields, want);
  EXPECT_EQ(def.min_record_length(), 45u);
  EXPECT_EQ(max_record_size(template_kind::minimal), 45u);
}

TEST(LoadgenContent, RecordsDecodeWithTheCodec) {
  for (auto k : all_kinds) {
    SCOPED_TRACE(std::string(to_string(k)));
    auto def = make_template(k, 256);
    ipfix::record_layout layout(def);
    std::vector<std::uint8_t> body;
    constexpr std::uint64_t n = 2000;
    for (std::uint64_t i = 0; i < n; ++i) {
      auto before = body.size();
      append_record(k, 9, 1234, i, body);
      EXPECT_LE(body.size() - before, max_record_size(k));
    }
    ipfix::record_cursor cursor(body, layout);
    ipfix::bytes_view rec;
    std::uint64_t i = 0;
    auto pt = static_cast<std::size_t>(position(def, 0, 86));
    auto ft = position(def, ipfix::antrea_pen, 137);
    auto spn = position(def, ipfix::antrea_pen, 101);
    std::map<int, int> flow_types;
    int long_form = 0, empty_pod_names = 0;
    while (cursor.next(rec)) {
      auto f = layout.field(rec, pt);
      ASSERT_EQ(f.length, 8);
      EXPECT_EQ(ipfix::read_u64(rec.data() + f.offset), i + 1) << "packetTotalCount = index + 1";
      EXPECT_EQ(f.offset, packet_total_offset(k));
      EXPECT_EQ(layout.field(rec, position(def, 0, 1)).offset, octet_delta_offset(k));
      if (ft >= 0) {
        auto t = layout.field(rec, static_cast<std::size_t>(ft));
        ++flow_types[rec[t.offset]];
        auto name = layout.field(rec, static_cast<std::size_t>(spn));
        empty_pod_names += name.length == 0;
        std::vector<ipfix::field_slice> slices(layout.num_fields());
        layout.slice(rec, slices);
        // The 3-octet form: 255, then the 2-octet length.
        for (std::size_t j = 0; j < def.fields.size(); ++j)
          if (def.fields[j].is_varlen() && slices[j].offset >= 3 &&
              rec[slices[j].offset - 3] == 255 &&
              ipfix::read_u16(rec.data() + slices[j].offset - 2) == slices[j].length)
            ++long_form;
      }
      ++i;
    }
    EXPECT_EQ(cursor.error(), ipfix::parse_error::none);
    EXPECT_EQ(i, n);
    EXPECT_EQ(cursor.consumed(), body.size());
    if (ft >= 0) {
      // Realistic mix: all four flow types, InterNode the most common; some empty names
      // (remote Pods) and some values in the 3-octet length form.
      EXPECT_EQ(flow_types.size(), 4u);
      for (auto& [type, count] : flow_types) {
        EXPECT_GE(type, 1);
        EXPECT_LE(type, 4);
        EXPECT_LE(count, flow_types[2]);
      }
      EXPECT_GT(empty_pod_names, 100);
      EXPECT_LT(empty_pod_names, 1500);
      EXPECT_GT(long_form, 100);
    }
  }
}

TEST(LoadgenContent, Deterministic) {
  for (auto k : all_kinds) {
    SCOPED_TRACE(std::string(to_string(k)));
    EXPECT_EQ(record(k, 1, 1000, 5), record(k, 1, 1000, 5));
    EXPECT_NE(record(k, 1, 1000, 5), record(k, 2, 1000, 5));
    EXPECT_NE(record(k, 1, 1000, 5), record(k, 1, 1001, 5));
    EXPECT_NE(record(k, 1, 1000, 5), record(k, 1, 1000, 6));
    std::vector<std::uint8_t> raw(max_record_size(k));
    auto n = write_record(k, 1, 1000, 5, raw.data());
    raw.resize(n);
    EXPECT_EQ(raw, record(k, 1, 1000, 5));
  }
}

TEST(LoadgenContent, VerifyAcceptsAndFindsEveryChangedByte) {
  for (auto k : all_kinds) {
    SCOPED_TRACE(std::string(to_string(k)));
    auto def = make_template(k, 256);
    auto plan = make_verify_plan(def);
    ASSERT_TRUE(plan.matched);
    EXPECT_EQ(plan.kind, k);
    for (std::uint64_t index : {0u, 17u, 999u}) {
      auto rec = record(k, 42, 7, index);
      auto ok = verify_record(plan, rec, 7, 42);
      EXPECT_TRUE(ok.ok) << ok.mismatch;
      EXPECT_EQ(ok.index, index);
      EXPECT_EQ(ok.odid, 7u);
      EXPECT_FALSE(verify_record(plan, rec, 8, 42).ok) << "another ODID";
      EXPECT_FALSE(verify_record(plan, rec, 7, 43).ok) << "another seed";
      for (std::size_t pos = 0; pos < rec.size(); ++pos) {
        auto bad = rec;
        bad[pos] ^= 0x01;
        auto r = verify_record(plan, bad, 7, 42);
        EXPECT_FALSE(r.ok) << "byte " << pos;
        EXPECT_FALSE(r.mismatch.empty());
        bool in_octet_delta = pos >= octet_delta_offset(k) && pos < octet_delta_offset(k) + 8;
        EXPECT_EQ(verify_record(plan, bad, 7, 42, true).ok, in_octet_delta) << "byte " << pos;
      }
      auto shorter = rec;
      shorter.pop_back();
      EXPECT_FALSE(verify_record(plan, shorter, 7, 42).ok);
    }
  }
  // The description names the field.
  auto rec = record(template_kind::minimal, 1, 1, 3);
  rec[2] ^= 0xff; // sourceIPv4Address
  auto r = verify_record(make_template(template_kind::minimal, 256), rec, 1, 1);
  EXPECT_NE(r.mismatch.find("sourceIPv4Address"), std::string::npos) << r.mismatch;
}

TEST(LoadgenContent, VerifyAcceptsAppendedFields) {
  // What the mediator sends: the exporter's fields unchanged, then its own.
  auto def = make_template(template_kind::antrea_v4, 256);
  def.id = 999;
  def.fields.push_back({143, ipfix::varlen, ipfix::antrea_pen}); // sourcePodLabels
  def.fields.push_back({144, ipfix::varlen, ipfix::antrea_pen}); // destinationPodLabels
  def.fields.push_back({158, ipfix::varlen, ipfix::antrea_pen}); // clusterId
  def.fields.push_back({405, 4, 0});
  def.fields.push_back({403, 4, 0});
  def.fields.push_back({404, 16, 0});
  def.fields.push_back({61, 1, 0});
  auto plan = make_verify_plan(def);
  ASSERT_TRUE(plan.matched);
  EXPECT_EQ(plan.kind, template_kind::antrea_v4);
  EXPECT_EQ(plan.prefix_fields, 42u);

  auto rec = record(template_kind::antrea_v4, 5, 1003, 77);
  auto prefix_size = rec.size();
  std::string labels = R"({"app":"web"})";
  rec.push_back(static_cast<std::uint8_t>(labels.size()));
  rec.insert(rec.end(), labels.begin(), labels.end());
  rec.push_back(0); // no destination labels
  std::string cluster = "b6e5c3a0-1d2c-4e5f-8a9b-0c1d2e3f4a5b";
  rec.push_back(255); // 3-octet form
  rec.push_back(0);
  rec.push_back(static_cast<std::uint8_t>(cluster.size()));
  rec.insert(rec.end(), cluster.begin(), cluster.end());
  for (std::uint8_t b : {0, 0, 0x03, 0xeb}) // 1003
    rec.push_back(b);
  for (std::uint8_t b : {127, 0, 0, 1})
    rec.push_back(b);
  rec.insert(rec.end(), 16, 0);
  rec.push_back(1); // egress

  // The header ODID is the mediator's; 405 carries the exporter's.
  auto r = verify_record(plan, rec, 4242, 5);
  ASSERT_TRUE(r.ok) << r.mismatch;
  EXPECT_EQ(r.odid, 1003u);
  EXPECT_EQ(r.index, 77u);
  EXPECT_EQ(r.original_odid, 1003u);
  ASSERT_TRUE(r.exporter_v4);
  EXPECT_EQ(*r.exporter_v4, (std::array<std::uint8_t, 4>{127, 0, 0, 1}));
  ASSERT_TRUE(r.exporter_v6);
  EXPECT_EQ(*r.exporter_v6, (std::array<std::uint8_t, 16>{}));
  EXPECT_EQ(r.cluster_id, cluster);
  EXPECT_EQ(r.flow_direction, 1);

  // A changed byte in the exporter's part is still found.
  auto bad = rec;
  bad[prefix_size - 1] ^= 0x10;
  EXPECT_FALSE(verify_record(plan, bad, 4242, 5).ok);
  // A wrong 405 regenerates another ODID's record: mismatch.
  bad = rec;
  bad[prefix_size + 1 + labels.size() + 1 + 3 + cluster.size() + 3] ^= 0x01;
  EXPECT_FALSE(verify_record(plan, bad, 4242, 5).ok);
  // A record cut inside the appended fields is reported, not read past its end.
  bad = rec;
  bad.resize(prefix_size + 5);
  EXPECT_FALSE(verify_record(plan, bad, 4242, 5).ok);
}

TEST(LoadgenContent, VerifyRejectsOtherTemplates) {
  auto def = make_template(template_kind::minimal, 256);
  def.fields.erase(def.fields.begin() + 3);
  auto r = verify_record(def, record(template_kind::minimal, 1, 1, 1), 1, 1);
  EXPECT_FALSE(r.matched);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.mismatch.empty());
  // A prefix of a loadgen template is not enough: the received template must hold all of
  // the loadgen fields.
  auto cut = make_template(template_kind::antrea_v6, 256);
  cut.fields.pop_back();
  EXPECT_FALSE(make_verify_plan(cut).matched);
}
