// rpc/flow_wire: Flows read straight from protobuf's wire format must make the same
// records as protobuf's own parser, whatever protobuf's encoder writes (field presence,
// unknown fields, repeated sub-messages), and refuse what is not a Flow.

#include "rpc/flow_codec.hpp"
#include "rpc/flow_wire.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace fa::rpc {
namespace {

/// The record (or the refusal) a Flow's fields make.
struct made {
  flow_error error = flow_error::none;
  std::vector<std::uint8_t> record;
  bool operator==(const made&) const = default;
};

made record_of(const flow_fields& f) {
  made out;
  record_plan plan;
  out.error = measure(f, plan);
  if (out.error == flow_error::none) {
    out.record.resize(plan.size);
    encode(f, plan, out.record.data());
  }
  return out;
}

/// What protobuf's parser makes of `bytes`, or nothing when it refuses them.
std::optional<made> by_protobuf(const std::string& bytes) {
  pb::Flow f;
  if (!f.ParseFromString(bytes))
    return std::nullopt;
  return record_of(fields_of(f));
}

std::optional<made> by_wire(const std::string& bytes) {
  flow_fields f;
  if (!parse_flow(bytes, f))
    return std::nullopt;
  return record_of(f);
}

/// `by_wire` with the Flow in a longer buffer (a request's next Flows), which the reader
/// may look ahead into up to `parse_flow`'s limit to read a varint without a bounds check
/// per octet, never take as the Flow's. The padding would end any varint or key that runs
/// out of its message, and reads on as fields (field 1, varint 1) when a reader overshoots.
/// (A vector: exactly its octets, for ASan, where a string has its terminator past them.)
std::optional<made> by_wire_in_buffer(const std::string& bytes) {
  std::vector<char> buffer(bytes.begin(), bytes.end());
  for (int i = 0; i < 8; ++i) {
    buffer.push_back('\x08');
    buffer.push_back('\x01');
  }
  buffer.shrink_to_fit();
  flow_fields f;
  if (!parse_flow({buffer.data(), bytes.size()}, f, buffer.data() + buffer.size()))
    return std::nullopt;
  return record_of(f);
}

/// The smallest Flow the record takes: both timestamps and an IPv4 source and destination.
pb::Flow minimal_v4_flow() {
  pb::Flow f;
  f.mutable_start_ts()->set_seconds(1);
  f.mutable_end_ts()->set_seconds(2);
  f.mutable_ip()->set_version(pb::IP_VERSION_4);
  f.mutable_ip()->set_source(std::string(4, '\1'));
  f.mutable_ip()->set_destination(std::string(4, '\2'));
  return f;
}

/// A random Flow: each field present or not, strings of ASCII and multi-octet UTF-8,
/// values beyond what the record allows, fields the record does not carry.
class flow_maker {
 public:
  explicit flow_maker(std::uint32_t seed)
      : rng_(seed) {}

  pb::Flow make() {
    pb::Flow f;
    if (coin())
      f.set_id(text());
    if (coin()) {
      f.mutable_ipfix()->mutable_export_time()->set_seconds(seconds());
      f.mutable_ipfix()->set_observation_domain_id(u32());
      f.mutable_ipfix()->set_exporter_ip(text());
    }
    if (rng_() % 8 != 0)
      f.mutable_start_ts()->set_seconds(seconds());
    if (rng_() % 8 != 0)
      f.mutable_end_ts()->set_seconds(seconds());
    f.set_end_reason(static_cast<pb::FlowEndReason>(small_enum()));
    auto* ip = f.mutable_ip();
    const bool v6 = coin();
    ip->set_version(rng_() % 16 == 0 ? pb::IP_VERSION_UNSPECIFIED
                    : v6             ? pb::IP_VERSION_6
                                     : pb::IP_VERSION_4);
    ip->set_source(octets(rng_() % 32 == 0 ? 5 : v6 ? 16 : 4));
    ip->set_destination(octets(v6 ? 16 : 4));
    auto* t = f.mutable_transport();
    t->set_protocol_number(rng_() % 32 == 0 ? 300 : 6);
    t->set_source_port(rng_() % 32 == 0 ? 70000 : u32() % 65536);
    t->set_destination_port(u32() % 65536);
    if (coin())
      t->mutable_tcp()->set_state_name(text());
    auto stats = [&](pb::Stats* s) {
      s->set_packet_total_count(u64());
      s->set_packet_delta_count(u64());
      s->set_octet_total_count(u64());
      s->set_octet_delta_count(u64());
    };
    if (coin())
      stats(f.mutable_stats());
    if (coin())
      stats(f.mutable_reverse_stats());
    if (coin()) {
      auto* k = f.mutable_k8s();
      k->set_flow_type(static_cast<pb::FlowType>(small_enum()));
      for (auto* s :
           {k->mutable_source_pod_namespace(), k->mutable_source_pod_name(),
            k->mutable_source_node_name(), k->mutable_destination_pod_namespace(),
            k->mutable_destination_pod_name(), k->mutable_destination_node_name(),
            k->mutable_destination_service_port_name(),
            k->mutable_ingress_network_policy_namespace(), k->mutable_ingress_network_policy_name(),
            k->mutable_ingress_network_policy_rule_name(),
            k->mutable_egress_network_policy_namespace(), k->mutable_egress_network_policy_name(),
            k->mutable_egress_network_policy_rule_name(), k->mutable_egress_name(),
            k->mutable_egress_node_name()})
        if (coin())
          *s = text();
      for (auto* s : {k->mutable_source_pod_uid(), k->mutable_source_node_uid(),
                      k->mutable_destination_pod_uid(), k->mutable_destination_node_uid(),
                      k->mutable_destination_service_uid(), k->mutable_ingress_network_policy_uid(),
                      k->mutable_egress_network_policy_uid(), k->mutable_egress_node_uid(),
                      k->mutable_egress_uid()})
        if (coin())
          *s = coin() ? "4f9b1c2e-8a3d-4e5f-9b6a-7c8d9e0f1a2b" : text();
      if (coin())
        (*k->mutable_source_pod_labels()->mutable_labels())["app"] = text();
      k->set_destination_service_port(rng_() % 32 == 0 ? 65536 : u32() % 65536);
      k->set_ingress_network_policy_type(static_cast<pb::NetworkPolicyType>(small_enum()));
      k->set_egress_network_policy_type(static_cast<pb::NetworkPolicyType>(small_enum()));
      k->set_ingress_network_policy_rule_action(
          static_cast<pb::NetworkPolicyRuleAction>(small_enum() % 4));
      k->set_egress_network_policy_rule_action(
          static_cast<pb::NetworkPolicyRuleAction>(small_enum() % 4));
      if (coin())
        k->set_egress_ip(octets(coin() ? 4 : 16));
      if (coin())
        k->set_destination_cluster_ip(octets(v6 ? 16 : 4));
      if (coin())
        k->set_destination_service_ip(octets(v6 ? 16 : 4));
    }
    if (coin())
      f.mutable_app()->set_protocol_name(text());
    if (coin())
      f.mutable_aggregation()->set_throughput(u64());
    f.set_flow_direction(coin() ? pb::FLOW_DIRECTION_EGRESS : pb::FLOW_DIRECTION_UNKNOWN);
    if (coin())
      f.set_proxy_snat_ip(octets(v6 ? 16 : 4));
    f.set_proxy_snat_port(rng_() % 32 == 0 ? 65536 : u32() % 65536);
    return f;
  }

 private:
  bool coin() { return rng_() % 2 == 0; }
  std::uint32_t u32() { return static_cast<std::uint32_t>(rng_()); }
  std::uint64_t u64() { return (static_cast<std::uint64_t>(rng_()) << 32) | rng_(); }
  std::int64_t seconds() {
    return rng_() % 32 == 0 ? -5 : rng_() % 32 == 0 ? (1ll << 33) : 1'700'000'000 + rng_() % 1000;
  }
  int small_enum() { return rng_() % 16 == 0 ? 9 : static_cast<int>(rng_() % 5); }
  std::string octets(std::size_t n) {
    std::string s(n, '\0');
    for (auto& c : s)
      c = static_cast<char>(rng_());
    return s;
  }
  std::string text() {
    static const char* pieces[] = {"web", "-", "kube-system", "é", "名前", "🙂", "x"};
    std::string s;
    for (auto n = rng_() % 12; n > 0; --n)
      s += pieces[rng_() % std::size(pieces)];
    if (rng_() % 64 == 0)
      s += std::string(300, 'a'); // a 3-octet length prefix (RFC 7011 7)
    return s;
  }
  std::mt19937 rng_;
};

TEST(flow_wire, random_flows_make_the_records_protobuf_makes) {
  flow_maker maker{20261206};
  int refused = 0;
  for (int i = 0; i < 3000; ++i) {
    const auto bytes = maker.make().SerializeAsString();
    auto want = by_protobuf(bytes);
    ASSERT_TRUE(want);
    auto got = by_wire(bytes);
    ASSERT_TRUE(got) << "flow " << i;
    ASSERT_EQ(*got, *want) << "flow " << i << ": " << to_string(want->error);
    ASSERT_EQ(by_wire_in_buffer(bytes), want) << "flow " << i;
    refused += want->error != flow_error::none;
  }
  // Both paths were taken: refusals of every kind the maker provokes, and records.
  EXPECT_GT(refused, 300);
  EXPECT_LT(refused, 2700);
}

/// The records (key and value) of a serialized message, front to back: varint and LEN
/// values only, as protobuf's encoder writes a Flow and its parts.
std::vector<std::string> records_of(const std::string& m) {
  std::vector<std::string> out;
  std::size_t i = 0;
  auto varint = [&] {
    std::uint64_t v = 0;
    for (int shift = 0; i < m.size(); shift += 7) {
      const auto b = static_cast<std::uint8_t>(m[i++]);
      v |= std::uint64_t{b & 0x7fu} << shift;
      if (b < 0x80)
        break;
    }
    return v;
  };
  while (i < m.size()) {
    const auto start = i;
    const auto k = varint();
    if ((k & 7) == 2)
      i += varint();
    else
      varint();
    out.push_back(m.substr(start, i - start));
  }
  return out;
}

// The fast path reads the canonical form only (each field once, in field-number order);
// the same Flows with their records in another order (which protobuf's parser accepts)
// go to the general reader and make the same records.
TEST(flow_wire, fields_in_any_order_read_as_in_field_order) {
  flow_maker maker{17};
  for (int i = 0; i < 500; ++i) {
    auto records = records_of(maker.make().SerializeAsString());
    std::reverse(records.begin(), records.end());
    std::string bytes;
    for (const auto& r : records)
      bytes += r;
    auto want = by_protobuf(bytes);
    ASSERT_TRUE(want);
    ASSERT_EQ(by_wire(bytes), want) << "flow " << i;
    ASSERT_EQ(by_wire_in_buffer(bytes), want) << "flow " << i;
  }
}

// Concatenated messages merge (protobuf "Last One Wins" for scalars and strings, merged
// sub-messages): what one Flow split over several records of a field reads as.
TEST(flow_wire, repeated_fields_merge_as_protobuf_merges_them) {
  flow_maker maker{7};
  for (int i = 0; i < 500; ++i) {
    const auto bytes = maker.make().SerializeAsString() + maker.make().SerializeAsString() +
                       maker.make().SerializeAsString();
    auto want = by_protobuf(bytes);
    ASSERT_TRUE(want);
    auto got = by_wire(bytes);
    ASSERT_TRUE(got);
    ASSERT_EQ(*got, *want) << "flow " << i;
  }
}

// Values protobuf keeps in a form of its own: a uint32 field holds the low 32 bits of its
// varint, an enum the int32 of a negative value's ten octets, a known field of another
// wire type is an unknown field (the field keeps its default).
TEST(flow_wire, varints_and_wire_types_read_as_protobuf_reads_them) {
  auto varint = [](std::uint64_t v) {
    std::string s;
    while (v >= 0x80) {
      s += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    s += static_cast<char>(v);
    return s;
  };
  auto len = [&](std::uint32_t field, const std::string& body) {
    return varint(field << 3 | 2) + varint(body.size()) + body;
  };
  const pb::Flow base = minimal_v4_flow();
  const auto head = base.SerializeAsString();
  const std::vector<std::string> cases = {
      // transport.source_port = 2^32 + 80: 80
      len(7, varint(2 << 3) + varint((1ull << 32) + 80)),
      // end_reason = -1 (ten octets): an unknown enum value
      varint(5 << 3) + varint(~0ull),
      // proxy_snat_port as a fixed32, k8s.source_pod_name as a varint: unknown fields
      varint(15 << 3 | 5) + std::string(4, '\7') + len(8, varint(3 << 3) + varint(9)),
      // unknown fields of every wire type, in the Flow and in a sub-message
      varint(99 << 3) + varint(1) + varint(98 << 3 | 1) + std::string(8, 'x') + len(97, "abc") +
          varint(96 << 3 | 5) + std::string(4, 'y') + len(7, varint(77 << 3 | 2) + varint(1) + "z"),
      // a present but empty sub-message
      len(7, ""),
      // a key of five octets: its bits beyond 32 are dropped (protobuf's ReadTag), so this
      // is proxy_snat_port
      varint((1ull << 32) + (15 << 3)) + varint(1234),
      // a length of five octets (an overlong 4)
      varint(14 << 3 | 2) + std::string("\x84\x80\x80\x80\x00", 5) + std::string(4, '\3'),
      // an unknown group holding a varint and a nested group, skipped whole
      varint(50 << 3 | 3) + varint(1 << 3) + varint(5) + varint(2 << 3 | 3) + varint(2 << 3 | 4) +
          varint(50 << 3 | 4) + varint(15 << 3) + varint(77),
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto bytes = head + cases[i];
    auto want = by_protobuf(bytes);
    ASSERT_TRUE(want) << "case " << i;
    auto got = by_wire(bytes);
    ASSERT_TRUE(got) << "case " << i;
    EXPECT_EQ(*got, *want) << "case " << i;
  }
}

// What is not a Flow is refused, as protobuf refuses it.
TEST(flow_wire, what_protobuf_cannot_parse_is_refused) {
  const auto good = [] {
    flow_maker maker{3};
    pb::Flow f = maker.make();
    f.mutable_k8s()->set_source_pod_name("web-1");
    return f.SerializeAsString();
  }();
  const auto name_at = good.find("web-1");
  ASSERT_NE(name_at, std::string::npos);
  std::vector<std::pair<const char*, std::string>> cases = {
      {"cut short", good.substr(0, good.size() - 1)},
      {"a varint that never ends", good + std::string(11, '\xff')},
      {"a length beyond the end", good + "\x72\x7f"},
      // Keys and lengths of more than five octets (overlong forms of small values).
      {"a key of six octets", good + std::string("\xf8\x80\x80\x80\x80\x00\x01", 7)},
      {"a length of six octets",
       good + std::string("\x72\x84\x80\x80\x80\x80\x00", 7) + std::string(4, '\3')},
      // Groups that do not close as they opened.
      {"a group closed by another field", good + std::string("\x93\x03\x9c\x03", 4)},
      {"a group never closed", good + std::string("\x93\x03\x08\x01", 4)},
      {"an end of group outside one", good + std::string("\x94\x03", 2)},
      // A sub-message whose last varint, or key, would end in the octets after it.
      {"a varint that runs out of its message", good + std::string("\x4a\x02\x08\x96\x28\x01")},
      {"a key that runs out of its message", good + std::string("\x42\x01\x82\x01\x28\x01")},
      {"a varint that runs out of its message into fields",
       good + std::string("\x4a\x02\x08\x96\x28\x08\x01")},
      {"a varint missing at its message's end", good + std::string("\x4a\x01\x08")},
      {"a timestamp's seconds that run out of it", good + std::string("\x1a\x03\x08\x96\xa8\x01")},
      {"field number 0", good + std::string("\x00\x01", 2)},
      {"field number 0 in two octets", good + std::string("\x80\x00\x01", 3)},
      {"field number 0 of a length", good + std::string("\x02\x00", 2)},
      {"field number 0 in a sub-message", good + std::string("\x4a\x02\x00\x01", 4)},
      {"a Pod name that is not UTF-8",
       [&] {
         auto s = good;
         s[name_at] = '\xc0';
         return s;
       }()},
      {"an overlong UTF-8 form",
       [&] {
         auto s = good;
         s[name_at] = '\xe0';
         s[name_at + 1] = '\x80';
         s[name_at + 2] = '\xaf';
         return s;
       }()},
  };
  // The same with the Flow in a longer buffer (by_wire_in_buffer).
  for (const auto& [what, bytes] : cases) {
    EXPECT_FALSE(by_protobuf(bytes)) << what << ": the case is wrong";
    EXPECT_FALSE(by_wire(bytes)) << what;
    EXPECT_FALSE(by_wire_in_buffer(bytes)) << what << ", in a longer buffer";
  }
  EXPECT_TRUE(by_wire(good));
  EXPECT_EQ(by_wire_in_buffer(good), by_wire(good));
}

// Every string the record carries (Kubernetes' and TCP's) is UTF-8 checked, on the fast
// path as on the general one: one that is not is refused, as protobuf refuses it.
TEST(flow_wire, every_string_of_the_record_must_be_utf8) {
  pb::Flow f = minimal_v4_flow();
  std::vector<std::string> markers;
  auto fill = [&](google::protobuf::Message& m) {
    const auto* d = m.GetDescriptor();
    for (int i = 0; i < d->field_count(); ++i) {
      const auto* field = d->field(i);
      if (field->type() != google::protobuf::FieldDescriptor::TYPE_STRING || field->is_repeated())
        continue;
      markers.push_back("<" + std::string{d->name()} + "." + std::string{field->name()} + ">");
      m.GetReflection()->SetString(&m, field, markers.back());
    }
  };
  fill(*f.mutable_k8s());
  fill(*f.mutable_transport()->mutable_tcp());
  ASSERT_GT(markers.size(), 20u);
  const auto good = f.SerializeAsString();
  ASSERT_TRUE(by_wire(good));
  for (const auto& marker : markers) {
    auto bytes = good;
    const auto at = bytes.find(marker);
    ASSERT_NE(at, std::string::npos) << marker;
    bytes[at] = '\xc0';
    EXPECT_FALSE(by_protobuf(bytes)) << marker << ": the case is wrong";
    EXPECT_FALSE(by_wire(bytes)) << marker;
    EXPECT_FALSE(by_wire_in_buffer(bytes)) << marker;
  }
}

// Random damage to serialized Flows: never a crash or a read beyond the octets (ASan),
// and whenever both parsers accept the damaged octets, the same record.
TEST(flow_wire, damaged_flows_never_differ_from_protobuf_when_both_accept_them) {
  flow_maker maker{11};
  std::mt19937 rng{5};
  int both = 0;
  for (int i = 0; i < 3000; ++i) {
    auto bytes = maker.make().SerializeAsString();
    for (int n = 1 + static_cast<int>(rng() % 3); n > 0 && !bytes.empty(); --n)
      bytes[rng() % bytes.size()] = static_cast<char>(rng());
    if (rng() % 4 == 0)
      bytes.resize(rng() % (bytes.size() + 1));
    auto want = by_protobuf(bytes);
    auto got = by_wire(bytes);
    ASSERT_EQ(by_wire_in_buffer(bytes), got) << "flow " << i;
    if (want && got) {
      ++both;
      ASSERT_EQ(*got, *want) << "flow " << i;
    }
  }
  EXPECT_GT(both, 300);
}

TEST(export_request_reader, yields_each_flow_in_order_and_skips_other_fields) {
  pb::ExportRequest request;
  flow_maker maker{1};
  for (int i = 0; i < 5; ++i)
    *request.add_flows() = maker.make();
  // An unknown field between the Flows (a newer Agent's).
  const auto bytes = request.SerializeAsString() + std::string("\x10\x05", 2) +
                     pb::ExportRequest{}.SerializeAsString();
  export_request_reader r{bytes};
  std::string_view flow;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(r.next(flow)) << i;
    EXPECT_EQ(std::string{flow}, request.flows(i).SerializeAsString()) << i;
  }
  EXPECT_FALSE(r.next(flow));
  EXPECT_FALSE(r.malformed());

  export_request_reader cut{std::string_view{bytes}.substr(0, bytes.size() - 4)};
  int n = 0;
  while (cut.next(flow))
    ++n;
  EXPECT_EQ(n, 4);
  EXPECT_TRUE(cut.malformed());

  export_request_reader empty{""};
  EXPECT_FALSE(empty.next(flow));
  EXPECT_FALSE(empty.malformed());
}

} // namespace
} // namespace fa::rpc
