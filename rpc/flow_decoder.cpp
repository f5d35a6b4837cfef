#include "rpc/flow_decoder.hpp"

#include "ipfix/elements.hpp"
#include "ipfix/wire.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstring>

namespace fa::rpc {

namespace {

enum slot : std::uint8_t {
  none,
  start_s,
  start_ms,
  end_s,
  end_ms,
  end_reason,
  src_ip,
  dst_ip,
  src_port,
  dst_port,
  protocol,
  pkt_total,
  oct_total,
  pkt_delta,
  oct_delta,
  rev_pkt_total,
  rev_oct_total,
  rev_pkt_delta,
  rev_oct_delta,
  src_pod_ns,
  src_pod_name,
  dst_pod_ns,
  dst_pod_name,
  src_node,
  dst_node,
  cluster_ip,
  service_port,
  service_port_name,
  ing_name,
  ing_ns,
  eg_name,
  eg_ns,
  ing_uid_text,
  ing_type,
  eg_uid_text,
  eg_type,
  tcp_state,
  flow_type,
  ing_action,
  eg_action,
  ing_rule,
  eg_rule,
  src_labels,
  dst_labels,
  egress_name,
  egress_ip,
  egress_node,
  src_pod_uid,
  dst_pod_uid,
  src_node_uid,
  dst_node_uid,
  service_uid,
  ing_uid,
  eg_uid,
  egress_uid,
  egress_node_uid,
  service_ip,
  snat_ip,
  snat_port,
  exporter_v4,
  exporter_v6,
  original_odid,
  direction,
  // Aggregation (antrea-aggregate-semantics.md d.1).
  agg_pkt_total_src,
  agg_oct_total_src,
  agg_pkt_delta_src,
  agg_oct_delta_src,
  agg_rev_pkt_total_src,
  agg_rev_oct_total_src,
  agg_rev_pkt_delta_src,
  agg_rev_oct_delta_src,
  agg_pkt_total_dst,
  agg_oct_total_dst,
  agg_pkt_delta_dst,
  agg_oct_delta_dst,
  agg_rev_pkt_total_dst,
  agg_rev_oct_total_dst,
  agg_rev_pkt_delta_dst,
  agg_rev_oct_delta_dst,
  agg_throughput,
  agg_rev_throughput,
  agg_throughput_src,
  agg_throughput_dst,
  agg_rev_throughput_src,
  agg_rev_throughput_dst,
  agg_end_src,
  agg_end_dst,
};

slot iana_slot(std::uint16_t id) {
  switch (id) {
  case 150:
    return start_s;
  case 152:
    return start_ms;
  case 151:
    return end_s;
  case 153:
    return end_ms;
  case 136:
    return end_reason;
  case 8:
  case 27:
    return src_ip;
  case 12:
  case 28:
    return dst_ip;
  case 7:
    return src_port;
  case 11:
    return dst_port;
  case 4:
    return protocol;
  case 86:
    return pkt_total;
  case 85:
    return oct_total;
  case 2:
    return pkt_delta;
  case 1:
    return oct_delta;
  case 403:
    return exporter_v4;
  case 404:
    return exporter_v6;
  case 405:
    return original_odid;
  case 61:
    return direction;
  default:
    return none;
  }
}

slot reverse_slot(std::uint16_t id) {
  switch (id) {
  case 86:
    return rev_pkt_total;
  case 85:
    return rev_oct_total;
  case 2:
    return rev_pkt_delta;
  case 1:
    return rev_oct_delta;
  default:
    return none;
  }
}

slot antrea_slot(std::uint16_t id) {
  // antrea-elements.csv, PEN 56506.
  static constexpr std::array<slot, 73> table = {
      src_pod_ns,
      src_pod_name,
      dst_pod_ns,
      dst_pod_name, // 100-103
      src_node,
      dst_node,
      cluster_ip,
      cluster_ip, // 104-107
      service_port,
      service_port_name,
      ing_name,
      ing_ns, // 108-111
      eg_name,
      eg_ns,
      ing_uid_text,
      ing_type, // 112-115
      none,
      eg_uid_text,
      eg_type,
      none, // 116-119
      agg_pkt_total_src,
      agg_oct_total_src,
      agg_pkt_delta_src,
      agg_oct_delta_src, // 120-123
      agg_rev_pkt_total_src,
      agg_rev_oct_total_src,
      agg_rev_pkt_delta_src,
      agg_rev_oct_delta_src, // 124-127
      agg_pkt_total_dst,
      agg_oct_total_dst,
      agg_pkt_delta_dst,
      agg_oct_delta_dst, // 128-131
      agg_rev_pkt_total_dst,
      agg_rev_oct_total_dst,
      agg_rev_pkt_delta_dst,
      agg_rev_oct_delta_dst, // 132-135
      tcp_state,
      flow_type,
      none,
      ing_action, // 136-139
      eg_action,
      ing_rule,
      eg_rule,
      src_labels, // 140-143
      dst_labels,
      agg_throughput,
      agg_rev_throughput,
      agg_throughput_src, // 144-147
      agg_throughput_dst,
      agg_rev_throughput_src,
      agg_rev_throughput_dst,
      agg_end_src, // 148-151
      agg_end_dst,
      egress_name,
      egress_ip,
      none, // 152-155
      none,
      egress_node,
      none,
      src_pod_uid, // 156-159
      dst_pod_uid,
      src_node_uid,
      dst_node_uid,
      service_uid, // 160-163
      ing_uid,
      eg_uid,
      egress_uid,
      egress_node_uid, // 164-167
      service_ip,
      service_ip,
      snat_ip,
      snat_ip,   // 168-171
      snat_port, // 172
  };
  if (id < 100 || id >= 100 + table.size())
    return none;
  return table[id - 100];
}

bool all_zero(ipfix::bytes_view v) {
  for (auto b : v)
    if (b != 0)
      return false;
  return true;
}

std::string_view text(ipfix::bytes_view v) {
  return {reinterpret_cast<const char*>(v.data()), v.size()};
}

void assign(std::string* out, ipfix::bytes_view v) {
  out->assign(reinterpret_cast<const char*>(v.data()), v.size());
}

/// An address element into raw bytes; 0.0.0.0 / :: stay unset (antrea-grpc-transport.md
/// 4.1).
void set_address(std::string* (*mut)(pb::Flow&), pb::Flow& f, ipfix::bytes_view v) {
  if ((v.size() == 4 || v.size() == 16) && !all_zero(v))
    mut(f)->assign(reinterpret_cast<const char*>(v.data()), v.size());
}

/// 16 raw octets into the canonical lowercase text; zeros (unknown) stay "".
void set_uuid(std::string* out, ipfix::bytes_view v) {
  if (v.size() != 16 || all_zero(v))
    return;
  static constexpr char hex[] = "0123456789abcdef";
  char buf[36];
  std::size_t k = 0;
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      buf[k++] = '-';
    buf[k++] = hex[v[i] >> 4];
    buf[k++] = hex[v[i] & 15];
  }
  out->assign(buf, 36);
}

void set_seconds(google::protobuf::Timestamp* t, std::uint64_t s) {
  t->set_seconds(static_cast<std::int64_t>(s));
}

void set_millis(google::protobuf::Timestamp* t, std::uint64_t ms) {
  t->set_seconds(static_cast<std::int64_t>(ms / 1000));
  t->set_nanos(static_cast<std::int32_t>(ms % 1000 * 1'000'000));
}

/// egressIP travels as text; the Flow holds raw bytes. Unparsable text leaves it unset
/// (4.1: the Go aggregator logs an error and does the same).
void set_egress_ip(pb::Kubernetes* k, std::string_view t) {
  if (t.empty() || t.size() >= 46)
    return;
  char buf[46];
  std::memcpy(buf, t.data(), t.size());
  buf[t.size()] = 0;
  unsigned char raw[16];
  if (::inet_pton(AF_INET, buf, raw) == 1)
    k->set_egress_ip(raw, 4);
  else if (::inet_pton(AF_INET6, buf, raw) == 1)
    k->set_egress_ip(raw, 16);
}

void set_exporter(pb::Flow& f, ipfix::bytes_view v) {
  if ((v.size() != 4 && v.size() != 16) || all_zero(v))
    return;
  char buf[46];
  if (::inet_ntop(v.size() == 4 ? AF_INET : AF_INET6, v.data(), buf, sizeof buf))
    f.mutable_ipfix()->set_exporter_ip(buf);
}

// -- labels JSON --------------------------------------------------------------------

class json_reader {
 public:
  explicit json_reader(std::string_view s)
      : s_(s) {}

  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool at_end() {
    ws();
    return i_ == s_.size();
  }

  /// A JSON string into UTF-8.
  bool string(std::string& out) {
    out.clear();
    if (!eat('"'))
      return false;
    while (i_ < s_.size()) {
      char c = s_[i_++];
      if (c == '"')
        return true;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size())
        return false;
      char e = s_[i_++];
      switch (e) {
      case '"':
      case '\\':
      case '/':
        out += e;
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        std::uint32_t cp = 0;
        if (!hex4(cp))
          return false;
        if (cp >= 0xd800 && cp < 0xdc00) {
          std::uint32_t lo = 0;
          if (i_ + 1 < s_.size() && s_[i_] == '\\' && s_[i_ + 1] == 'u') {
            i_ += 2;
            if (!hex4(lo) || lo < 0xdc00 || lo >= 0xe000)
              return false;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          } else {
            cp = 0xfffd;
          }
        }
        utf8(cp, out);
        break;
      }
      default:
        return false;
      }
    }
    return false;
  }

 private:
  bool hex4(std::uint32_t& v) {
    if (s_.size() - i_ < 4)
      return false;
    v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<std::uint32_t>(c - 'A' + 10);
      else
        return false;
    }
    return true;
  }
  static void utf8(std::uint32_t cp, std::string& out) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | cp >> 6);
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | cp >> 12);
      out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | cp >> 18);
      out += static_cast<char>(0x80 | (cp >> 12 & 0x3f));
      out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

} // namespace

bool parse_labels(std::string_view json, pb::Labels& out) {
  json_reader r{json};
  if (!r.eat('{'))
    return false;
  auto& map = *out.mutable_labels();
  if (r.eat('}'))
    return r.at_end();
  std::string key, value;
  do {
    if (!r.string(key) || !r.eat(':') || !r.string(value))
      return false;
    map[key] = value;
  } while (r.eat(','));
  return r.eat('}') && r.at_end();
}

flow_decoder::flow_decoder(const ipfix::template_def& def)
    : layout_(def) {
  slots_.reserve(def.fields.size());
  for (const auto& f : def.fields) {
    slot s = none;
    if (f.enterprise == ipfix::iana_pen)
      s = iana_slot(f.id);
    else if (f.enterprise == ipfix::reverse_pen)
      s = reverse_slot(f.id);
    else if (f.enterprise == ipfix::antrea_pen)
      s = antrea_slot(f.id);
    slots_.push_back(s);
  }
}

void flow_decoder::decode(ipfix::bytes_view record, pb::Flow& f) const {
  f.Clear();
  layout_.for_each_field(record, [&](std::size_t index, ipfix::field_slice fs) {
    auto s = static_cast<slot>(slots_[index]);
    if (s == none)
      return;
    ipfix::bytes_view v = record.subspan(fs.offset, fs.length);
    // Integers may use reduced-size encoding (RFC 7011 6.2).
    auto u = [&] { return v.size() <= 8 ? ipfix::read_uint(v.data(), v.size()) : 0; };
    auto* k = f.mutable_k8s();
    auto agg = [&] { return f.mutable_aggregation(); };
    switch (s) {
    case none:
      break;
    case start_s:
      set_seconds(f.mutable_start_ts(), u());
      break;
    case start_ms:
      set_millis(f.mutable_start_ts(), u());
      break;
    case end_s:
      set_seconds(f.mutable_end_ts(), u());
      break;
    case end_ms:
      set_millis(f.mutable_end_ts(), u());
      break;
    case end_reason:
      f.set_end_reason(static_cast<pb::FlowEndReason>(u()));
      break;
    case src_ip:
    case dst_ip:
      if (v.size() == 4 || v.size() == 16) {
        auto* ip = f.mutable_ip();
        ip->set_version(v.size() == 4 ? pb::IP_VERSION_4 : pb::IP_VERSION_6);
        (s == src_ip ? ip->mutable_source() : ip->mutable_destination())
            ->assign(reinterpret_cast<const char*>(v.data()), v.size());
      }
      break;
    case src_port:
      f.mutable_transport()->set_source_port(static_cast<std::uint32_t>(u()));
      break;
    case dst_port:
      f.mutable_transport()->set_destination_port(static_cast<std::uint32_t>(u()));
      break;
    case protocol:
      f.mutable_transport()->set_protocol_number(static_cast<std::uint32_t>(u()));
      break;
    case pkt_total:
      f.mutable_stats()->set_packet_total_count(u());
      break;
    case oct_total:
      f.mutable_stats()->set_octet_total_count(u());
      break;
    case pkt_delta:
      f.mutable_stats()->set_packet_delta_count(u());
      break;
    case oct_delta:
      f.mutable_stats()->set_octet_delta_count(u());
      break;
    case rev_pkt_total:
      f.mutable_reverse_stats()->set_packet_total_count(u());
      break;
    case rev_oct_total:
      f.mutable_reverse_stats()->set_octet_total_count(u());
      break;
    case rev_pkt_delta:
      f.mutable_reverse_stats()->set_packet_delta_count(u());
      break;
    case rev_oct_delta:
      f.mutable_reverse_stats()->set_octet_delta_count(u());
      break;
    case src_pod_ns:
      assign(k->mutable_source_pod_namespace(), v);
      break;
    case src_pod_name:
      assign(k->mutable_source_pod_name(), v);
      break;
    case dst_pod_ns:
      assign(k->mutable_destination_pod_namespace(), v);
      break;
    case dst_pod_name:
      assign(k->mutable_destination_pod_name(), v);
      break;
    case src_node:
      assign(k->mutable_source_node_name(), v);
      break;
    case dst_node:
      assign(k->mutable_destination_node_name(), v);
      break;
    case cluster_ip:
      set_address([](pb::Flow& x) { return x.mutable_k8s()->mutable_destination_cluster_ip(); }, f,
                  v);
      break;
    case service_ip:
      set_address([](pb::Flow& x) { return x.mutable_k8s()->mutable_destination_service_ip(); }, f,
                  v);
      break;
    case snat_ip:
      set_address([](pb::Flow& x) { return x.mutable_proxy_snat_ip(); }, f, v);
      break;
    case snat_port:
      f.set_proxy_snat_port(static_cast<std::uint32_t>(u()));
      break;
    case service_port:
      k->set_destination_service_port(static_cast<std::uint32_t>(u()));
      break;
    case service_port_name:
      assign(k->mutable_destination_service_port_name(), v);
      break;
    case ing_name:
      assign(k->mutable_ingress_network_policy_name(), v);
      break;
    case ing_ns:
      assign(k->mutable_ingress_network_policy_namespace(), v);
      break;
    case eg_name:
      assign(k->mutable_egress_network_policy_name(), v);
      break;
    case eg_ns:
      assign(k->mutable_egress_network_policy_namespace(), v);
      break;
    case ing_uid_text:
      if (!v.empty())
        assign(k->mutable_ingress_network_policy_uid(), v);
      break;
    case eg_uid_text:
      if (!v.empty())
        assign(k->mutable_egress_network_policy_uid(), v);
      break;
    case ing_type:
      k->set_ingress_network_policy_type(static_cast<pb::NetworkPolicyType>(u()));
      break;
    case eg_type:
      k->set_egress_network_policy_type(static_cast<pb::NetworkPolicyType>(u()));
      break;
    case ing_action:
      k->set_ingress_network_policy_rule_action(static_cast<pb::NetworkPolicyRuleAction>(u()));
      break;
    case eg_action:
      k->set_egress_network_policy_rule_action(static_cast<pb::NetworkPolicyRuleAction>(u()));
      break;
    case ing_rule:
      assign(k->mutable_ingress_network_policy_rule_name(), v);
      break;
    case eg_rule:
      assign(k->mutable_egress_network_policy_rule_name(), v);
      break;
    case tcp_state:
      // 4.1: only when non-empty (the TCP message marks a TCP flow).
      if (!v.empty())
        assign(f.mutable_transport()->mutable_tcp()->mutable_state_name(), v);
      break;
    case flow_type:
      k->set_flow_type(static_cast<pb::FlowType>(u()));
      break;
    case src_labels:
      // "" = unknown (no Labels); "{}" = a Pod without labels (2.2).
      if (!v.empty() && !parse_labels(text(v), *k->mutable_source_pod_labels()))
        k->clear_source_pod_labels();
      break;
    case dst_labels:
      if (!v.empty() && !parse_labels(text(v), *k->mutable_destination_pod_labels()))
        k->clear_destination_pod_labels();
      break;
    case egress_name:
      assign(k->mutable_egress_name(), v);
      break;
    case egress_ip:
      set_egress_ip(k, text(v));
      break;
    case egress_node:
      assign(k->mutable_egress_node_name(), v);
      break;
    case src_pod_uid:
      set_uuid(k->mutable_source_pod_uid(), v);
      break;
    case dst_pod_uid:
      set_uuid(k->mutable_destination_pod_uid(), v);
      break;
    case src_node_uid:
      set_uuid(k->mutable_source_node_uid(), v);
      break;
    case dst_node_uid:
      set_uuid(k->mutable_destination_node_uid(), v);
      break;
    case service_uid:
      set_uuid(k->mutable_destination_service_uid(), v);
      break;
    case ing_uid:
      set_uuid(k->mutable_ingress_network_policy_uid(), v);
      break;
    case eg_uid:
      set_uuid(k->mutable_egress_network_policy_uid(), v);
      break;
    case egress_uid:
      set_uuid(k->mutable_egress_uid(), v);
      break;
    case egress_node_uid:
      set_uuid(k->mutable_egress_node_uid(), v);
      break;
    case exporter_v4:
    case exporter_v6:
      set_exporter(f, v);
      break;
    case original_odid:
      f.mutable_ipfix()->set_observation_domain_id(static_cast<std::uint32_t>(u()));
      break;
    case direction:
      f.set_flow_direction(static_cast<pb::FlowDirection>(u()));
      break;
    case agg_pkt_total_src:
      agg()->mutable_stats_from_source()->set_packet_total_count(u());
      break;
    case agg_oct_total_src:
      agg()->mutable_stats_from_source()->set_octet_total_count(u());
      break;
    case agg_pkt_delta_src:
      agg()->mutable_stats_from_source()->set_packet_delta_count(u());
      break;
    case agg_oct_delta_src:
      agg()->mutable_stats_from_source()->set_octet_delta_count(u());
      break;
    case agg_rev_pkt_total_src:
      agg()->mutable_reverse_stats_from_source()->set_packet_total_count(u());
      break;
    case agg_rev_oct_total_src:
      agg()->mutable_reverse_stats_from_source()->set_octet_total_count(u());
      break;
    case agg_rev_pkt_delta_src:
      agg()->mutable_reverse_stats_from_source()->set_packet_delta_count(u());
      break;
    case agg_rev_oct_delta_src:
      agg()->mutable_reverse_stats_from_source()->set_octet_delta_count(u());
      break;
    case agg_pkt_total_dst:
      agg()->mutable_stats_from_destination()->set_packet_total_count(u());
      break;
    case agg_oct_total_dst:
      agg()->mutable_stats_from_destination()->set_octet_total_count(u());
      break;
    case agg_pkt_delta_dst:
      agg()->mutable_stats_from_destination()->set_packet_delta_count(u());
      break;
    case agg_oct_delta_dst:
      agg()->mutable_stats_from_destination()->set_octet_delta_count(u());
      break;
    case agg_rev_pkt_total_dst:
      agg()->mutable_reverse_stats_from_destination()->set_packet_total_count(u());
      break;
    case agg_rev_oct_total_dst:
      agg()->mutable_reverse_stats_from_destination()->set_octet_total_count(u());
      break;
    case agg_rev_pkt_delta_dst:
      agg()->mutable_reverse_stats_from_destination()->set_packet_delta_count(u());
      break;
    case agg_rev_oct_delta_dst:
      agg()->mutable_reverse_stats_from_destination()->set_octet_delta_count(u());
      break;
    case agg_throughput:
      agg()->set_throughput(u());
      break;
    case agg_rev_throughput:
      agg()->set_reverse_throughput(u());
      break;
    case agg_throughput_src:
      agg()->set_throughput_from_source(u());
      break;
    case agg_throughput_dst:
      agg()->set_throughput_from_destination(u());
      break;
    case agg_rev_throughput_src:
      agg()->set_reverse_throughput_from_source(u());
      break;
    case agg_rev_throughput_dst:
      agg()->set_reverse_throughput_from_destination(u());
      break;
    case agg_end_src:
      set_seconds(agg()->mutable_end_ts_from_source(), u());
      break;
    case agg_end_dst:
      set_seconds(agg()->mutable_end_ts_from_destination(), u());
      break;
    }
  });
}

} // namespace fa::rpc
