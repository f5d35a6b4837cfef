#include "rpc/flow_codec.hpp"

#include "config/cluster_id.hpp"
#include "ipfix/message.hpp"
#include "ipfix/wire.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <limits>

namespace fa::rpc {

namespace {

using ipfix::antrea_pen;
using ipfix::field_spec;
using ipfix::reverse_pen;
using ipfix::varlen;

field_spec iana(std::uint16_t id, std::uint16_t len) {
  return field_spec{id, len, 0};
}
field_spec rev(std::uint16_t id) {
  return field_spec{id, 8, reverse_pen};
}
field_spec antrea(std::uint16_t id, std::uint16_t len = varlen) {
  return field_spec{id, len, antrea_pen};
}

// The order `encode` writes; tests decode records with this template, field by field.
// Without `uids`, the nine UUID elements (159..167) are left out, as Antrea's aggregator
// leaves them out of its records with includeK8sUIDs false (its default).
ipfix::template_def make_template(bool v6, bool uids) {
  ipfix::template_def t;
  t.id = v6 ? flow_template_v6 : flow_template_v4;
  t.fields = {
      iana(150, 4),                          // flowStartSeconds        start_ts.seconds
      iana(151, 4),                          // flowEndSeconds          end_ts.seconds
      iana(136, 1),                          // flowEndReason           end_reason
      iana(7, 2),                            // sourceTransportPort     transport.source_port
      iana(11, 2),                           // destinationTransportPort
      iana(4, 1),                            // protocolIdentifier      transport.protocol_number
      iana(86, 8),                           // packetTotalCount        stats.*
      iana(85, 8),                           // octetTotalCount
      iana(2, 8),                            // packetDeltaCount
      iana(1, 8),                            // octetDeltaCount
      v6 ? iana(27, 16) : iana(8, 4),        // sourceIPv6/IPv4Address  ip.source
      v6 ? iana(28, 16) : iana(12, 4),       // destinationIPv6/IPv4Address
      rev(86),                               // reversePacketTotalCount reverse_stats.*
      rev(85),                               // reverseOctetTotalCount
      rev(2),                                // reversePacketDeltaCount
      rev(1),                                // reverseOctetDeltaCount
      antrea(101),                           // sourcePodName
      antrea(100),                           // sourcePodNamespace
      antrea(159, 16),                       // sourcePodUUID
      antrea(104),                           // sourceNodeName
      antrea(161, 16),                       // sourceNodeUUID
      antrea(103),                           // destinationPodName
      antrea(102),                           // destinationPodNamespace
      antrea(160, 16),                       // destinationPodUUID
      antrea(105),                           // destinationNodeName
      antrea(162, 16),                       // destinationNodeUUID
      antrea(108, 2),                        // destinationServicePort
      antrea(109),                           // destinationServicePortName
      antrea(163, 16),                       // destinationServiceUUID
      antrea(110),                           // ingressNetworkPolicyName
      antrea(111),                           // ingressNetworkPolicyNamespace
      antrea(164, 16),                       // ingressNetworkPolicyUUID
      antrea(115, 1),                        // ingressNetworkPolicyType
      antrea(141),                           // ingressNetworkPolicyRuleName
      antrea(139, 1),                        // ingressNetworkPolicyRuleAction
      antrea(112),                           // egressNetworkPolicyName
      antrea(113),                           // egressNetworkPolicyNamespace
      antrea(165, 16),                       // egressNetworkPolicyUUID
      antrea(118, 1),                        // egressNetworkPolicyType
      antrea(142),                           // egressNetworkPolicyRuleName
      antrea(140, 1),                        // egressNetworkPolicyRuleAction
      antrea(136),                           // tcpState                transport.TCP.state_name
      antrea(137, 1),                        // flowType
      antrea(153),                           // egressName
      antrea(166, 16),                       // egressUUID
      antrea(154),                           // egressIP (text)         k8s.egress_ip (raw)
      antrea(157),                           // egressNodeName
      antrea(167, 16),                       // egressNodeUUID
      antrea(172, 2),                        // proxySnatPort
      v6 ? antrea(171, 16) : antrea(170, 4), // proxySnatIPv6/IPv4
      v6 ? antrea(107, 16) : antrea(106, 4), // destinationClusterIPv6/IPv4
      v6 ? antrea(169, 16) : antrea(168, 4), // destinationServiceIPv6/IPv4
  };
  if (!uids)
    std::erase_if(t.fields, [](const field_spec& f) {
      return f.enterprise == antrea_pen && f.id >= 159 && f.id <= 167;
    });
  return t;
}

/// Octets of the fixed-length fields of one record.
constexpr std::size_t fixed_size(bool v6, bool uids) {
  std::size_t a = v6 ? 16 : 4;
  return 4 + 4 + 1 + 2 + 2 + 1 + 4 * 8 + 2 * a + 4 * 8 // IANA and reverse
         + (uids ? 9 * 16 : 0)                         // UUIDs
         + 2 + 1 + 1 + 1 + 1 + 1 // service port, policy types/actions, flowType
         + 2 + 3 * a;            // SNAT port, SNAT/cluster/service IP
}

/// A variable-length field's prefix (RFC 7011 7): 1 octet below 255, else 3.
constexpr std::size_t varlen_size(std::size_t n) {
  return n < 255 ? 1 + n : 3 + n;
}

/// 16 is "xxx.xxx.xxx.xxx" plus one; INET6_ADDRSTRLEN is 46.
constexpr std::size_t max_ip_text = sizeof(record_plan::egress_ip);

/// An address field that may be empty: empty or of the family's length.
bool optional_address_ok(std::string_view a, std::size_t family_len) {
  return a.empty() || a.size() == family_len;
}

/// egressIP travels as text (antrea-grpc-transport.md 4.1: the aggregator parses the
/// agent's text into raw bytes; here the other way round). Returns the text length.
std::size_t egress_ip_text(std::string_view raw, char* out) {
  if (raw.size() == 4) {
    // Dotted decimal by hand: glibc's inet_ntop formats through printf (some 2,000
    // instructions, more than the rest of a record).
    char* p = out;
    for (std::size_t i = 0; i < 4; ++i) {
      const auto v = static_cast<std::uint8_t>(raw[i]);
      if (i > 0)
        *p++ = '.';
      if (v >= 100)
        *p++ = static_cast<char>('0' + v / 100);
      if (v >= 10)
        *p++ = static_cast<char>('0' + v / 10 % 10);
      *p++ = static_cast<char>('0' + v % 10);
    }
    return static_cast<std::size_t>(p - out);
  }
  if (raw.size() != 16 || ::inet_ntop(AF_INET6, raw.data(), out, max_ip_text) == nullptr)
    return 0;
  return std::strlen(out);
}

inline std::uint8_t* put_u8(std::uint8_t* p, std::uint32_t v) {
  *p = static_cast<std::uint8_t>(v);
  return p + 1;
}
inline std::uint8_t* put_u16(std::uint8_t* p, std::uint32_t v) {
  ipfix::write_u16(p, static_cast<std::uint16_t>(v));
  return p + 2;
}
inline std::uint8_t* put_u32(std::uint8_t* p, std::uint32_t v) {
  ipfix::write_u32(p, v);
  return p + 4;
}
inline std::uint8_t* put_u64(std::uint8_t* p, std::uint64_t v) {
  ipfix::write_u64(p, v);
  return p + 8;
}
/// `n` octets from `src`: names and UIDs are short, so those up to 16 octets are copied
/// inline (two overlapping fixed-size copies) rather than through a call to memcpy.
inline void copy_octets(std::uint8_t* dst, const char* src, std::size_t n) {
  if (n > 32) {
    std::memcpy(dst, src, n);
  } else if (n > 16) { // most Pod names
    std::memcpy(dst, src, 16);
    std::memcpy(dst + n - 16, src + n - 16, 16);
  } else if (n >= 8) {
    std::memcpy(dst, src, 8);
    std::memcpy(dst + n - 8, src + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(dst, src, 4);
    std::memcpy(dst + n - 4, src + n - 4, 4);
  } else {
    for (std::size_t i = 0; i < n; ++i)
      dst[i] = static_cast<std::uint8_t>(src[i]);
  }
}

inline std::uint8_t* put_text(std::uint8_t* p, std::string_view s) {
  if (s.empty()) { // most of a Flow's names: no policy, no egress, no Service
    *p = 0;
    return p + 1;
  }
  if (s.size() < 255) {
    *p++ = static_cast<std::uint8_t>(s.size());
  } else {
    *p++ = 255;
    p = put_u16(p, static_cast<std::uint32_t>(s.size()));
  }
  copy_octets(p, s.data(), s.size());
  return p + s.size();
}
/// The raw address, or zeros when unset (antrea-aggregate-semantics.md f: unset
/// addresses are 0.0.0.0 / ::).
/// (Each family's length a constant: a copy of 4 or 16 octets inline, not a call.)
inline std::uint8_t* put_address(std::uint8_t* p, std::string_view raw, std::size_t len) {
  if (len == 4) {
    if (raw.size() == 4)
      std::memcpy(p, raw.data(), 4);
    else
      std::memset(p, 0, 4);
    return p + 4;
  }
  if (raw.size() == 16)
    std::memcpy(p, raw.data(), 16);
  else
    std::memset(p, 0, 16);
  return p + 16;
}
/// The raw UUID; zeros when unset or not a canonical UUID (antrea-aggregate-semantics.md
/// f.2: "all zeros if unknown or unparsable").
inline std::uint8_t* put_uuid(std::uint8_t* p, std::string_view text) {
  if (auto u = config::parse_uuid(text))
    std::memcpy(p, u->data(), 16);
  else
    std::memset(p, 0, 16);
  return p + 16;
}
inline std::uint8_t* put_stats(std::uint8_t* p, const wire_stats& s) {
  p = put_u64(p, s.packet_total);
  p = put_u64(p, s.octet_total);
  p = put_u64(p, s.packet_delta);
  return put_u64(p, s.octet_delta);
}

/// A value of an enumeration numbered 0 .. `max` without gaps, as flow.proto numbers
/// those a record carries (flow_codec_test checks it): one comparison, where the
/// generated `_IsValid` is a call.
constexpr bool in_enum(std::int32_t v, int max) {
  return v >= 0 && v <= max;
}

bool seconds_ok(const wire_timestamp& t) {
  return t.seconds >= 0 && t.seconds <= std::numeric_limits<std::uint32_t>::max();
}

} // namespace

const ipfix::template_def& flow_template(bool v6, bool uids) {
  static const ipfix::template_def defs[2][2] = {
      {make_template(false, false), make_template(false, true)},
      {make_template(true, false), make_template(true, true)}};
  return defs[v6][uids];
}

std::string_view to_string(flow_error e) {
  switch (e) {
  case flow_error::none:
    return "none";
  case flow_error::no_timestamps:
    return "no_timestamps";
  case flow_error::bad_timestamp:
    return "bad_timestamp";
  case flow_error::bad_ip_version:
    return "bad_ip_version";
  case flow_error::bad_address:
    return "bad_address";
  case flow_error::bad_port:
    return "bad_port";
  case flow_error::unknown_enum:
    return "unknown_enum";
  case flow_error::too_large:
    return "too_large";
  case flow_error::too_many_domains:
    return "too_many_domains";
  }
  return "unknown";
}

flow_error measure(const flow_fields& f, record_plan& out, bool uids) {
  // antrea-grpc-transport.md 2.1: at HEAD a Flow without start_ts or end_ts is dropped;
  // before v2.7 it crashed the aggregator.
  if (!f.start_ts.present || !f.end_ts.present)
    return flow_error::no_timestamps;
  if (!seconds_ok(f.start_ts) || !seconds_ok(f.end_ts))
    return flow_error::bad_timestamp;
  if (f.ip_version != pb::IP_VERSION_4 && f.ip_version != pb::IP_VERSION_6)
    return flow_error::bad_ip_version;
  const bool v6 = f.ip_version == pb::IP_VERSION_6;
  const std::size_t alen = v6 ? 16 : 4;
  if (f.ip_source.size() != alen || f.ip_destination.size() != alen ||
      !optional_address_ok(f.proxy_snat_ip, alen) ||
      !optional_address_ok(f.destination_cluster_ip, alen) ||
      !optional_address_ok(f.destination_service_ip, alen) ||
      (!f.egress_ip.empty() && f.egress_ip.size() != 4 && f.egress_ip.size() != 16))
    return flow_error::bad_address;
  if (f.source_port > 65535 || f.destination_port > 65535 || f.protocol_number > 255 ||
      f.destination_service_port > 65535 || f.proxy_snat_port > 65535)
    return flow_error::bad_port;
  // Enumerations are open in proto3: a value the reference does not list arrives as a
  // number. It would be forwarded as an element value no collector knows.
  if (!in_enum(f.end_reason, pb::FlowEndReason_MAX) || !in_enum(f.flow_type, pb::FlowType_MAX) ||
      !in_enum(f.ingress_network_policy_type, pb::NetworkPolicyType_MAX) ||
      !in_enum(f.egress_network_policy_type, pb::NetworkPolicyType_MAX) ||
      !in_enum(f.ingress_network_policy_rule_action, pb::NetworkPolicyRuleAction_MAX) ||
      !in_enum(f.egress_network_policy_rule_action, pb::NetworkPolicyRuleAction_MAX))
    return flow_error::unknown_enum;
  // The 16 strings' octets and one-octet prefixes, summed straight from the fields (no
  // array of views to walk); a string of 255 octets or more takes a 3-octet prefix
  // (RFC 7011 7), rare enough to be counted apart.
  const std::size_t lengths[] = {f.source_pod_name.size(),
                                 f.source_pod_namespace.size(),
                                 f.source_node_name.size(),
                                 f.destination_pod_name.size(),
                                 f.destination_pod_namespace.size(),
                                 f.destination_node_name.size(),
                                 f.destination_service_port_name.size(),
                                 f.ingress_network_policy_name.size(),
                                 f.ingress_network_policy_namespace.size(),
                                 f.ingress_network_policy_rule_name.size(),
                                 f.egress_network_policy_name.size(),
                                 f.egress_network_policy_namespace.size(),
                                 f.egress_network_policy_rule_name.size(),
                                 f.tcp_state_name.size(),
                                 f.egress_name.size(),
                                 f.egress_node_name.size()};
  std::size_t size = fixed_size(v6, uids) + std::size(lengths);
  std::size_t any = 0;
  for (auto n : lengths) {
    size += n;
    any |= n;
  }
  // Below 255 each when their OR is (names rarely reach 128): else counted one by one.
  if (any >= 255)
    for (auto n : lengths)
      size += n >= 255 ? 2 : 0;
  out.egress_ip_length = 0;
  if (!f.egress_ip.empty())
    out.egress_ip_length = static_cast<std::uint8_t>(egress_ip_text(f.egress_ip, out.egress_ip));
  size += varlen_size(out.egress_ip_length);
  // RFC 7011 3.1: one record must fit one message with its set header.
  if (size > ipfix::max_record_length)
    return flow_error::too_large;
  out.v6 = v6;
  out.uids = uids;
  out.size = size;
  return flow_error::none;
}

namespace {

/// `encode` for one shape: with the UUIDs, or without (a branch per record, not per field).
template <bool Uids>
void encode_shape(const flow_fields& f, const record_plan& plan, std::uint8_t* dst) {
  const std::size_t alen = plan.v6 ? 16 : 4;
  auto* p = dst;
  p = put_u32(p, static_cast<std::uint32_t>(f.start_ts.seconds));
  p = put_u32(p, static_cast<std::uint32_t>(f.end_ts.seconds));
  p = put_u8(p, static_cast<std::uint32_t>(f.end_reason));
  p = put_u16(p, f.source_port);
  p = put_u16(p, f.destination_port);
  p = put_u8(p, f.protocol_number);
  p = put_stats(p, f.stats);
  p = put_address(p, f.ip_source, alen);
  p = put_address(p, f.ip_destination, alen);
  p = put_stats(p, f.reverse_stats);
  p = put_text(p, f.source_pod_name);
  p = put_text(p, f.source_pod_namespace);
  if constexpr (Uids)
    p = put_uuid(p, f.source_pod_uid);
  p = put_text(p, f.source_node_name);
  if constexpr (Uids)
    p = put_uuid(p, f.source_node_uid);
  p = put_text(p, f.destination_pod_name);
  p = put_text(p, f.destination_pod_namespace);
  if constexpr (Uids)
    p = put_uuid(p, f.destination_pod_uid);
  p = put_text(p, f.destination_node_name);
  if constexpr (Uids)
    p = put_uuid(p, f.destination_node_uid);
  p = put_u16(p, f.destination_service_port);
  p = put_text(p, f.destination_service_port_name);
  if constexpr (Uids)
    p = put_uuid(p, f.destination_service_uid);
  p = put_text(p, f.ingress_network_policy_name);
  p = put_text(p, f.ingress_network_policy_namespace);
  if constexpr (Uids)
    p = put_uuid(p, f.ingress_network_policy_uid);
  p = put_u8(p, static_cast<std::uint32_t>(f.ingress_network_policy_type));
  p = put_text(p, f.ingress_network_policy_rule_name);
  p = put_u8(p, static_cast<std::uint32_t>(f.ingress_network_policy_rule_action));
  p = put_text(p, f.egress_network_policy_name);
  p = put_text(p, f.egress_network_policy_namespace);
  if constexpr (Uids)
    p = put_uuid(p, f.egress_network_policy_uid);
  p = put_u8(p, static_cast<std::uint32_t>(f.egress_network_policy_type));
  p = put_text(p, f.egress_network_policy_rule_name);
  p = put_u8(p, static_cast<std::uint32_t>(f.egress_network_policy_rule_action));
  // antrea-aggregate-semantics.md f: "" for non-TCP flows (no TCP message).
  p = put_text(p, f.tcp_state_name);
  p = put_u8(p, static_cast<std::uint32_t>(f.flow_type));
  p = put_text(p, f.egress_name);
  if constexpr (Uids)
    p = put_uuid(p, f.egress_uid);
  p = put_text(p, {plan.egress_ip, plan.egress_ip_length});
  p = put_text(p, f.egress_node_name);
  if constexpr (Uids)
    p = put_uuid(p, f.egress_node_uid);
  p = put_u16(p, f.proxy_snat_port);
  p = put_address(p, f.proxy_snat_ip, alen);
  p = put_address(p, f.destination_cluster_ip, alen);
  p = put_address(p, f.destination_service_ip, alen);
  (void)p;
}

} // namespace

void encode(const flow_fields& f, const record_plan& plan, std::uint8_t* dst) {
  if (plan.uids)
    encode_shape<true>(f, plan, dst);
  else
    encode_shape<false>(f, plan, dst);
}

} // namespace fa::rpc
