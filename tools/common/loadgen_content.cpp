#include "tools/common/loadgen_content.hpp"

#include "ipfix/elements.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace fa::tools {

namespace {

using ipfix::antrea_pen;
using ipfix::field_spec;
using ipfix::reverse_pen;
using ipfix::varlen;

// ---------------------------------------------------------------------------------------
// Randomness: splitmix64. Each record gets its own stream keyed by (seed, odid, index).

constexpr std::uint32_t epoch = 1'700'000'000; // 2023-11-14T22:13:20Z, fixed on purpose

inline std::uint64_t fmix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// Draws small random numbers from a splitmix64 stream, 64 bits at a time.
class bit_pool {
 public:
  bit_pool(std::uint64_t seed, std::uint32_t odid, std::uint64_t index) {
    auto key =
        fmix(seed + 0x9e3779b97f4a7c15ULL) ^ fmix(std::uint64_t{odid} * 0xd1b54a32d192ed03ULL);
    state_ = fmix(key + index * 0xa0761d6478bd642fULL);
  }

  std::uint64_t word() { return fmix(state_ += 0x9e3779b97f4a7c15ULL); }

  /// `n` (1..32) random bits.
  std::uint32_t take(int n) {
    if (left_ < n) {
      bits_ = word();
      left_ = 64;
    }
    auto v = static_cast<std::uint32_t>(bits_ & ((std::uint64_t{1} << n) - 1));
    bits_ >>= n;
    left_ -= n;
    return v;
  }

  /// Uniform-ish in [0, n) for n < 65536.
  std::uint32_t below(std::uint32_t n) { return (take(16) * n) >> 16; }

 private:
  std::uint64_t state_ = 0;
  std::uint64_t bits_ = 0;
  int left_ = 0;
};

// ---------------------------------------------------------------------------------------
// Name tables, built once. Sizes are powers of two so a few random bits pick an entry.

/// Strings are copied in blocks of this many octets: a fixed-size memcpy compiles to
/// vector moves, a variable one to a slow `rep movs` or a call. Sources are padded, and
/// destinations have `copy_block` octets of slack (see max_record_size).
constexpr std::size_t copy_block = 32;

struct text {
  const std::uint8_t* data = nullptr;
  std::uint8_t size = 0;
};

struct pod_entry {
  text name;
  text ns;
};

class name_tables {
 public:
  std::array<pod_entry, 256> pods;
  std::array<text, 16> nodes;
  std::array<text, 32> services;
  std::array<text, 16> policy_names;
  std::array<text, 16> policy_namespaces;
  std::array<text, 8> rule_names;
  std::array<text, 8> tcp_states;
  std::array<text, 4> egress_names;
  std::array<text, 4> egress_ips;
  std::array<text, 4> app_protocols;
  std::array<text, 4> http_vals;
  text empty;

  std::size_t max_antrea_strings = 0; ///< octets of the 19 strings at their longest

  name_tables() {
    struct deployment {
      const char* name;
      const char* ns;
    };
    static constexpr deployment deployments[16] = {
        {"frontend", "default"},
        {"backend", "default"},
        {"cartservice", "online-boutique"},
        {"checkoutservice", "online-boutique"},
        {"paymentservice", "online-boutique"},
        {"redis-cart", "online-boutique"},
        {"coredns", "kube-system"},
        {"metrics-server", "kube-system"},
        {"prometheus-server", "monitoring"},
        {"grafana", "monitoring"},
        {"ingress-nginx-controller", "ingress-nginx"},
        {"api-gateway", "payments"},
        {"ledger-writer", "payments"},
        {"iperf-server", "antrea-e2e"},
        {"iperf-client", "antrea-e2e"},
        {"flow-aggregator", "flow-aggregator"},
    };
    // Kubernetes' "safe" alphabet for generated name suffixes.
    static constexpr char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    std::uint64_t s = 0x5eed'0f'7ab1e5ULL;
    auto suffix = [&](std::string& out, int n) {
      for (int i = 0; i < n; ++i)
        out += alphabet[fmix(s += 0x9e3779b97f4a7c15ULL) % (sizeof(alphabet) - 1)];
    };
    for (std::size_t i = 0; i < pods.size(); ++i) {
      auto& d = deployments[i % 16];
      std::string name = d.name;
      if (i % 11 == 5) { // a StatefulSet Pod
        name += '-';
        name += static_cast<char>('0' + i / 16 % 3);
      } else {
        name += '-';
        suffix(name, 9 + static_cast<int>(i % 2));
        name += '-';
        suffix(name, 5);
      }
      pods[i] = {intern(name), intern(d.ns)};
    }
    nodes[0] = intern("kind-control-plane");
    nodes[1] = intern("kind-worker");
    for (std::size_t i = 2; i < nodes.size(); ++i)
      nodes[i] = intern("kind-worker" + std::to_string(i));
    static constexpr const char* port_names[2] = {"http", "grpc-metrics"};
    for (std::size_t i = 0; i < services.size(); ++i) {
      auto& d = deployments[i % 16];
      services[i] = intern(std::string(d.ns) + "/" + d.name + ":" + port_names[i / 16]);
    }
    static constexpr const char* policies[8] = {
        "allow-frontend",    "deny-all-ingress", "allow-dns",   "acnp-isolate-tenants",
        "allow-prom-scrape", "default-deny",     "anp-web-app", "k8s-np-db"};
    for (std::size_t i = 0; i < policy_names.size(); ++i) {
      policy_names[i] = intern(policies[i % 8]);
      policy_namespaces[i] = intern(deployments[(i * 5) % 16].ns);
    }
    static constexpr const char* rules[8] = {"",
                                             "rule-0",
                                             "rule-1",
                                             "allow-http",
                                             "ingress-rule-2",
                                             "egress-to-dns",
                                             "drop-all",
                                             "ApplyToGroup-rule-7"};
    static constexpr const char* states[8] = {"ESTABLISHED", "ESTABLISHED", "ESTABLISHED",
                                              "TIME_WAIT",   "SYN_SENT",    "CLOSE_WAIT",
                                              "FIN_WAIT_2",  "CLOSE"};
    for (std::size_t i = 0; i < 8; ++i) {
      rule_names[i] = intern(rules[i]);
      tcp_states[i] = intern(states[i]);
    }
    static constexpr const char* egresses[4] = {"egress-prod", "egress-staging", "egress-db",
                                                "egress-external-api"};
    static constexpr const char* ips[4] = {"172.18.0.100", "172.18.0.101", "192.168.77.10",
                                           "fd00:172:18::100"};
    static constexpr const char* apps[4] = {"http", "http", "http", "grpc"};
    static constexpr const char* http[4] = {
        R"({"0":{"hostname":"10.96.0.10","url":"/public/main.css","http_user_agent":"curl/7.74.0","http_content_type":"text/css","http_method":"GET","protocol":"HTTP/1.1","status":200,"length":1024}})",
        R"({"0":{"hostname":"frontend.default.svc","url":"/","http_user_agent":"Mozilla/5.0","http_content_type":"text/html","http_method":"GET","protocol":"HTTP/1.1","status":200,"length":153}})",
        R"({"0":{"hostname":"api-gateway","url":"/v1/payments","http_method":"POST","protocol":"HTTP/1.1","status":503,"length":0}})",
        R"({})"};
    for (std::size_t i = 0; i < 4; ++i) {
      egress_names[i] = intern(egresses[i]);
      egress_ips[i] = intern(ips[i]);
      app_protocols[i] = intern(apps[i]);
      http_vals[i] = intern(http[i]);
    }
    empty = intern("");

    auto longest = [](const auto& table) {
      std::size_t m = 0;
      for (auto& t : table)
        m = std::max<std::size_t>(m, t.size);
      return m + 3; // the 3-octet length form
    };
    std::size_t pod_name = 0, pod_ns = 0;
    for (auto& p : pods) {
      pod_name = std::max<std::size_t>(pod_name, p.name.size);
      pod_ns = std::max<std::size_t>(pod_ns, p.ns.size);
    }
    max_antrea_strings =
        2 * (pod_name + 3 + pod_ns + 3 + longest(nodes)) + longest(services) +
        2 * (longest(policy_names) + longest(policy_namespaces) + longest(rule_names)) +
        longest(tcp_states) + longest(egress_names) + longest(egress_ips) + longest(app_protocols) +
        longest(http_vals) + longest(nodes);
    if (max_antrea_strings > 3000) // append_record and verify_record use 4 KiB buffers
      std::abort();
  }

 private:
  text intern(const std::string& s) {
    if (s.size() > 254) // constant data: a programming error, not input
      std::abort();
    // Padded so put_text may copy whole 32-octet blocks.
    auto& stored = storage_.emplace_back(s.size() + copy_block, 0);
    std::memcpy(stored.data(), s.data(), s.size());
    return text{stored.data(), static_cast<std::uint8_t>(s.size())};
  }
  // A deque-like list of vectors: their data never moves once stored.
  std::vector<std::vector<std::uint8_t>> storage_ = reserve_storage();
  static std::vector<std::vector<std::uint8_t>> reserve_storage() {
    std::vector<std::vector<std::uint8_t>> v;
    v.reserve(512);
    return v;
  }
};

const name_tables& tables() {
  static const name_tables t;
  return t;
}

// ---------------------------------------------------------------------------------------
// Templates.

field_spec iana(std::uint16_t id, std::uint16_t len) {
  return field_spec{id, len, 0};
}
field_spec rev(std::uint16_t id) {
  return field_spec{id, 8, reverse_pen};
}
field_spec antrea(std::uint16_t id, std::uint16_t len = varlen) {
  return field_spec{id, len, antrea_pen};
}

std::vector<field_spec> antrea_fields(bool v6) {
  std::vector<field_spec> f = {
      // 12 IANA elements, in the agent's order (flowexporter IANAInfoElements*).
      iana(150, 4),                    // flowStartSeconds
      iana(151, 4),                    // flowEndSeconds
      iana(136, 1),                    // flowEndReason
      iana(7, 2),                      // sourceTransportPort
      iana(11, 2),                     // destinationTransportPort
      iana(4, 1),                      // protocolIdentifier
      iana(86, 8),                     // packetTotalCount
      iana(85, 8),                     // octetTotalCount
      iana(2, 8),                      // packetDeltaCount
      iana(1, 8),                      // octetDeltaCount
      v6 ? iana(27, 16) : iana(8, 4),  // sourceIPv6Address / sourceIPv4Address
      v6 ? iana(28, 16) : iana(12, 4), // destinationIPv6Address / destinationIPv4Address
      // 4 reverse counters (RFC 5103, PEN 29305 with the forward id).
      rev(86), // reversePacketTotalCount
      rev(85), // reverseOctetTotalCount
      rev(2),  // reversePacketDeltaCount
      rev(1),  // reverseOctetDeltaCount
      // 26 Antrea elements (PEN 56506), in the agent's order.
      antrea(101),                           // sourcePodName
      antrea(100),                           // sourcePodNamespace
      antrea(104),                           // sourceNodeName
      antrea(103),                           // destinationPodName
      antrea(102),                           // destinationPodNamespace
      antrea(105),                           // destinationNodeName
      antrea(108, 2),                        // destinationServicePort
      antrea(109),                           // destinationServicePortName
      antrea(110),                           // ingressNetworkPolicyName
      antrea(111),                           // ingressNetworkPolicyNamespace
      antrea(115, 1),                        // ingressNetworkPolicyType
      antrea(141),                           // ingressNetworkPolicyRuleName
      antrea(139, 1),                        // ingressNetworkPolicyRuleAction
      antrea(112),                           // egressNetworkPolicyName
      antrea(113),                           // egressNetworkPolicyNamespace
      antrea(118, 1),                        // egressNetworkPolicyType
      antrea(142),                           // egressNetworkPolicyRuleName
      antrea(140, 1),                        // egressNetworkPolicyRuleAction
      antrea(136),                           // tcpState
      antrea(137, 1),                        // flowType
      antrea(153),                           // egressName
      antrea(154),                           // egressIP
      antrea(155),                           // appProtocolName
      antrea(156),                           // httpVals
      antrea(157),                           // egressNodeName
      v6 ? antrea(107, 16) : antrea(106, 4), // destinationClusterIPv6 / destinationClusterIPv4
  };
  return f;
}

std::vector<field_spec> minimal_fields() {
  return {
      iana(8, 4),   // sourceIPv4Address
      iana(12, 4),  // destinationIPv4Address
      iana(7, 2),   // sourceTransportPort
      iana(11, 2),  // destinationTransportPort
      iana(4, 1),   // protocolIdentifier
      iana(86, 8),  // packetTotalCount
      iana(150, 4), // flowStartSeconds
      iana(151, 4), // flowEndSeconds
      iana(2, 8),   // packetDeltaCount
      iana(1, 8),   // octetDeltaCount
  };
}

constexpr std::size_t minimal_size = 45;
constexpr std::size_t minimal_packet_total = 13;
constexpr std::size_t minimal_octet_delta = 37;
constexpr std::size_t antrea_packet_total = 14;
constexpr std::size_t antrea_octet_delta = 38;

const std::vector<field_spec>& fields_of(template_kind k) {
  static const std::vector<field_spec> v4 = antrea_fields(false);
  static const std::vector<field_spec> v6 = antrea_fields(true);
  static const std::vector<field_spec> min = minimal_fields();
  switch (k) {
  case template_kind::antrea_v4:
    return v4;
  case template_kind::antrea_v6:
    return v6;
  case template_kind::minimal:
    break;
  }
  return min;
}

// ---------------------------------------------------------------------------------------
// Record encoding.

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

/// A string with a 1-octet length, or (1 in 32, chosen by the pool) the 3-octet form
/// RFC 7011 7 also allows for short values, so receivers exercise both.
inline std::uint8_t* put_text(std::uint8_t* p, text t, bit_pool& pool) {
  if (pool.take(5) == 0) {
    p[0] = 255;
    ipfix::write_u16(p + 1, t.size);
    p += 3;
  } else {
    *p++ = t.size;
  }
  for (std::size_t i = 0; i < t.size; i += copy_block)
    std::memcpy(p + i, t.data + i, copy_block);
  return p + t.size;
}

/// 10.244.<node>.<host>, a Pod address in the node's Pod CIDR.
inline std::uint8_t* put_pod_v4(std::uint8_t* p, std::uint32_t node, std::uint32_t host) {
  p[0] = 10;
  p[1] = 244;
  p[2] = static_cast<std::uint8_t>(node);
  p[3] = static_cast<std::uint8_t>(2 + host % 250);
  return p + 4;
}

/// fd00:10:244:<node>::<host>.
inline std::uint8_t* put_pod_v6(std::uint8_t* p, std::uint32_t node, std::uint32_t host) {
  static constexpr std::uint8_t prefix[8] = {0xfd, 0x00, 0x00, 0x10, 0x02, 0x44, 0x00, 0x00};
  std::memcpy(p, prefix, 8);
  p[7] = static_cast<std::uint8_t>(node);
  std::memset(p + 8, 0, 6);
  p[14] = static_cast<std::uint8_t>(host >> 8);
  p[15] = static_cast<std::uint8_t>(2 + host % 250);
  return p + 16;
}

/// An address outside the cluster: 203.0.113.<host> / 2001:db8::<host>.
inline std::uint8_t* put_external(std::uint8_t* p, bool v6, std::uint32_t host) {
  if (!v6) {
    p[0] = 203;
    p[1] = 0;
    p[2] = 113;
    p[3] = static_cast<std::uint8_t>(1 + host % 254);
    return p + 4;
  }
  static constexpr std::uint8_t prefix[4] = {0x20, 0x01, 0x0d, 0xb8};
  std::memcpy(p, prefix, 4);
  std::memset(p + 4, 0, 11);
  p[15] = static_cast<std::uint8_t>(1 + host % 254);
  return p + 16;
}

constexpr std::uint16_t service_ports[16] = {80,   443,  53,   8080, 8443,  9090, 3000, 5432,
                                             6379, 3306, 7070, 5050, 50051, 9153, 443,  80};

std::size_t write_minimal(bit_pool& pool, std::uint64_t index, std::uint8_t* dst) {
  auto* p = dst;
  auto node = pool.take(4);
  p = put_pod_v4(p, node, pool.take(8));
  p = put_pod_v4(p, pool.take(4), pool.take(8));
  auto dport = service_ports[pool.take(4)];
  p = put_u16(p, 32768 + pool.below(28232));
  p = put_u16(p, dport);
  p = put_u8(p, (dport == 53 || pool.take(3) == 0) ? 17 : 6);
  auto packets = index + 1;
  p = put_u64(p, packets);
  auto start = epoch + static_cast<std::uint32_t>(index) - pool.take(6);
  p = put_u32(p, start);
  p = put_u32(p, start + pool.take(9));
  auto delta = std::min<std::uint64_t>(packets, 1 + pool.take(8));
  p = put_u64(p, delta);
  p = put_u64(p, delta * (40 + pool.take(10)));
  return static_cast<std::size_t>(p - dst);
}

std::size_t write_antrea(bit_pool& pool, bool v6, std::uint64_t index, std::uint8_t* dst) {
  auto& t = tables();
  auto* p = dst;

  // What kind of flow this is decides which names are known (the agent only knows its
  // own Node's Pods; remote names are sent empty).
  auto roll = pool.below(100);
  std::uint32_t flow_type = roll < 20 ? 1 : roll < 70 ? 2 : roll < 85 ? 3 : 4;
  bool inter_from_source = pool.take(1) != 0;
  bool src_known = flow_type == 1 || flow_type == 3 || (flow_type == 2 && inter_from_source);
  bool dst_known = flow_type == 1 || flow_type == 4 || (flow_type == 2 && !inter_from_source);
  bool src_external = flow_type == 4;
  bool dst_external = flow_type == 3;
  auto src_pod = pool.take(8);
  auto dst_pod = pool.take(8);
  auto src_node = pool.take(4);
  auto dst_node = flow_type == 1 ? src_node : pool.take(4);
  auto dport = service_ports[pool.take(4)];
  std::uint32_t proto = (dport == 53 || pool.take(3) == 0) ? 17 : 6;

  auto start = epoch + static_cast<std::uint32_t>(index) - pool.take(6);
  p = put_u32(p, start);                     // flowStartSeconds
  p = put_u32(p, start + pool.take(9));      // flowEndSeconds
  p = put_u8(p, 1 + pool.below(3));          // flowEndReason: idle, active, end detected
  p = put_u16(p, 32768 + pool.below(28232)); // sourceTransportPort
  p = put_u16(p, dport);                     // destinationTransportPort
  p = put_u8(p, proto);                      // protocolIdentifier
  std::uint64_t packets = index + 1;
  auto packet_size = 64 + pool.take(10);
  auto delta = std::min<std::uint64_t>(packets, 1 + pool.take(8));
  p = put_u64(p, packets);               // packetTotalCount: index + 1, by contract
  p = put_u64(p, packets * packet_size); // octetTotalCount
  p = put_u64(p, delta);                 // packetDeltaCount
  p = put_u64(p, delta * packet_size);   // octetDeltaCount
  if (src_external)
    p = put_external(p, v6, pool.take(8));
  else
    p = v6 ? put_pod_v6(p, src_node, pool.take(12)) : put_pod_v4(p, src_node, pool.take(8));
  if (dst_external)
    p = put_external(p, v6, pool.take(8));
  else
    p = v6 ? put_pod_v6(p, dst_node, pool.take(12)) : put_pod_v4(p, dst_node, pool.take(8));
  std::uint64_t rpackets = packets >> pool.take(2);
  auto rsize = 64 + pool.take(10);
  auto rdelta = std::min<std::uint64_t>(rpackets, pool.take(8));
  p = put_u64(p, rpackets);         // reversePacketTotalCount
  p = put_u64(p, rpackets * rsize); // reverseOctetTotalCount
  p = put_u64(p, rdelta);           // reversePacketDeltaCount
  p = put_u64(p, rdelta * rsize);   // reverseOctetDeltaCount

  auto& sp = t.pods[src_pod];
  auto& dp = t.pods[dst_pod];
  p = put_text(p, src_known ? sp.name : t.empty, pool);           // sourcePodName
  p = put_text(p, src_known ? sp.ns : t.empty, pool);             // sourcePodNamespace
  p = put_text(p, src_known ? t.nodes[src_node] : t.empty, pool); // sourceNodeName
  p = put_text(p, dst_known ? dp.name : t.empty, pool);           // destinationPodName
  p = put_text(p, dst_known ? dp.ns : t.empty, pool);             // destinationPodNamespace
  p = put_text(p, dst_known ? t.nodes[dst_node] : t.empty, pool); // destinationNodeName
  bool service = !dst_external && pool.take(1) != 0;
  p = put_u16(p, service ? dport : 0);                                 // destinationServicePort
  p = put_text(p, service ? t.services[pool.take(5)] : t.empty, pool); // ...PortName
  for (int dir = 0; dir < 2; ++dir) { // ingress, then egress policy
    bool policy = pool.take(4) < (dir == 0 ? 5u : 3u);
    auto which = pool.take(4);
    p = put_text(p, policy ? t.policy_names[which] : t.empty, pool);      // ...PolicyName
    p = put_text(p, policy ? t.policy_namespaces[which] : t.empty, pool); // ...Namespace
    p = put_u8(p, policy ? 1 + pool.take(2) : 0);                         // ...PolicyType
    p = put_text(p, policy ? t.rule_names[pool.take(3)] : t.empty, pool); // ...RuleName
    auto action = pool.take(3);
    p = put_u8(p, !policy ? 0 : action < 6 ? 1 : action == 6 ? 2 : 3); // ...RuleAction
  }
  p = put_text(p, proto == 6 ? t.tcp_states[pool.take(3)] : t.empty, pool); // tcpState
  p = put_u8(p, flow_type);                                                 // flowType
  bool egress = flow_type == 3 && pool.take(1) != 0;
  auto egress_which = pool.take(2);
  p = put_text(p, egress ? t.egress_names[egress_which] : t.empty, pool); // egressName
  p = put_text(p, egress ? t.egress_ips[egress_which] : t.empty, pool);   // egressIP
  bool l7 = pool.take(4) == 0;
  auto l7_which = pool.take(2);
  p = put_text(p, l7 ? t.app_protocols[l7_which] : t.empty, pool);     // appProtocolName
  p = put_text(p, l7 ? t.http_vals[l7_which] : t.empty, pool);         // httpVals
  p = put_text(p, egress ? t.nodes[1 + egress_which] : t.empty, pool); // egressNodeName
  if (!v6) {                                                           // destinationClusterIP
    if (service) {
      p[0] = 10;
      p[1] = 96;
      p[2] = static_cast<std::uint8_t>(pool.take(8));
      p[3] = static_cast<std::uint8_t>(1 + pool.below(254));
    } else {
      std::memset(p, 0, 4);
    }
    p += 4;
  } else {
    std::memset(p, 0, 16);
    if (service) {
      static constexpr std::uint8_t prefix[6] = {0xfd, 0x00, 0x10, 0x96, 0x00, 0x00};
      std::memcpy(p, prefix, 6);
      p[14] = static_cast<std::uint8_t>(pool.take(8));
      p[15] = static_cast<std::uint8_t>(1 + pool.below(254));
    }
    p += 16;
  }
  return static_cast<std::size_t>(p - dst);
}

// ---------------------------------------------------------------------------------------
// Pair content (aggregate mode): the same 42 fields as write_antrea, in the same order,
// with every choice fixed by the flow, the side and the round.

/// Pair flow `f`'s source is 10.0.0.0 + f (IPv4) or 2001:db8:1::f; its destination
/// 100.64.0.0 + f or 2001:db8:2::f: the flow is read back from either address.
constexpr std::uint64_t max_pair_flows = 1ULL << 22;

std::uint8_t* put_pair_address(std::uint8_t* p, bool v6, bool source, std::uint64_t flow) {
  if (!v6) {
    const std::uint32_t base = source ? 0x0a000000u : 0x64400000u;
    return put_u32(p, base + static_cast<std::uint32_t>(flow));
  }
  static constexpr std::uint8_t prefix[6] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00};
  std::memcpy(p, prefix, 6);
  p[5] = source ? 1 : 2;
  std::memset(p + 6, 0, 6);
  ipfix::write_u32(p + 12, static_cast<std::uint32_t>(flow));
  return p + 16;
}

/// The 1-octet length form only: every pair record of one side has the same layout.
std::uint8_t* put_plain_text(std::uint8_t* p, text t) {
  *p++ = t.size;
  for (std::size_t i = 0; i < t.size; i += copy_block)
    std::memcpy(p + i, t.data + i, copy_block);
  return p + t.size;
}

std::size_t write_pair(bool v6, std::uint64_t seed, std::uint64_t flow, bool source_node,
                       std::uint64_t round, std::uint8_t* dst) {
  auto& t = tables();
  auto* p = dst;
  const auto d = pair_delta(seed, flow, source_node, round);
  const auto total = pair_totals(seed, flow, source_node, round + 1);
  const auto start = epoch + static_cast<std::uint32_t>(flow % 3600);
  p = put_u32(p, start);                                            // flowStartSeconds
  p = put_u32(p, start + 1 + static_cast<std::uint32_t>(round));    // flowEndSeconds
  p = put_u8(p, 2);                                                 // flowEndReason: active
  p = put_u16(p, 10000 + static_cast<std::uint32_t>(flow % 50000)); // sourceTransportPort
  p = put_u16(p, 80);                                               // destinationTransportPort
  p = put_u8(p, 6);                                                 // protocolIdentifier
  p = put_u64(p, total.packets);
  p = put_u64(p, total.octets);
  p = put_u64(p, d.packets);
  p = put_u64(p, d.octets);
  p = put_pair_address(p, v6, true, flow);
  p = put_pair_address(p, v6, false, flow);
  p = put_u64(p, total.reverse_packets);
  p = put_u64(p, total.reverse_octets);
  p = put_u64(p, d.reverse_packets);
  p = put_u64(p, d.reverse_octets);
  // Each Node knows only its own Pod (reference b: InterNode).
  const auto& sp = t.pods[flow % 256];
  const auto& dp = t.pods[(flow >> 8) % 256];
  const auto src_node = t.nodes[(2 * (flow % 8)) % 16];
  const auto dst_node = t.nodes[(2 * (flow % 8) + 1) % 16];
  p = put_plain_text(p, source_node ? sp.name : t.empty);
  p = put_plain_text(p, source_node ? sp.ns : t.empty);
  p = put_plain_text(p, source_node ? src_node : t.empty);
  p = put_plain_text(p, source_node ? t.empty : dp.name);
  p = put_plain_text(p, source_node ? t.empty : dp.ns);
  p = put_plain_text(p, source_node ? t.empty : dst_node);
  p = put_u16(p, 0);              // destinationServicePort
  p = put_plain_text(p, t.empty); // destinationServicePortName
  for (int dir = 0; dir < 2; ++dir) {
    p = put_plain_text(p, t.empty); // ...PolicyName
    p = put_plain_text(p, t.empty); // ...Namespace
    p = put_u8(p, 0);               // ...PolicyType
    p = put_plain_text(p, t.empty); // ...RuleName
    p = put_u8(p, 0);               // ...RuleAction: no policy, so the flow waits for its pair
  }
  p = put_plain_text(p, t.tcp_states[1]); // tcpState
  p = put_u8(p, 2);                       // flowType: InterNode
  for (int i = 0; i < 5; ++i) // egressName, egressIP, appProtocolName, httpVals, egressNodeName
    p = put_plain_text(p, t.empty);
  std::memset(p, 0, v6 ? 16 : 4); // destinationClusterIP
  p += v6 ? 16 : 4;
  return static_cast<std::size_t>(p - dst);
}

/// Walks `count` fields with `lengths` over `rec` from `pos`; stores the value offset
/// and length of each field in `offsets`/`sizes` (when not null). Returns false when
/// the record is too short.
bool walk_field(std::uint16_t length, ipfix::bytes_view rec, std::size_t& pos,
                std::size_t& value_offset, std::size_t& value_size) {
  if (length != varlen) {
    if (rec.size() - pos < length)
      return false;
    value_offset = pos;
    value_size = length;
    pos += length;
    return true;
  }
  if (rec.size() - pos < 1)
    return false;
  std::size_t n = rec[pos];
  std::size_t prefix = 1;
  if (n == 255) {
    if (rec.size() - pos < 3)
      return false;
    n = ipfix::read_u16(rec.data() + pos + 1);
    prefix = 3;
  }
  if (rec.size() - pos - prefix < n)
    return false;
  value_offset = pos + prefix;
  value_size = n;
  pos += prefix + n;
  return true;
}

std::string hex(ipfix::bytes_view v) {
  std::string s;
  char buf[4];
  for (std::size_t i = 0; i < v.size() && i < 24; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", v[i]);
    s += buf;
  }
  if (v.size() > 24)
    s += "...";
  return s.empty() ? "(empty)" : s;
}

/// Names the first loadgen field where `got` differs from `want`.
std::string describe_mismatch(template_kind kind, ipfix::bytes_view want, ipfix::bytes_view got) {
  auto& fields = fields_of(kind);
  std::size_t wpos = 0, gpos = 0;
  for (auto& f : fields) {
    std::size_t wo = 0, wn = 0, go = 0, gn = 0;
    auto wstart = wpos, gstart = gpos;
    walk_field(f.length, want, wpos, wo, wn);
    if (!walk_field(f.length, got, gpos, go, gn))
      return "record too short at field " + ipfix::element_name(f.enterprise, f.id);
    // Compare the encoding too (1- vs 3-octet length form).
    if (wpos - wstart != gpos - gstart ||
        std::memcmp(want.data() + wstart, got.data() + gstart, wpos - wstart) != 0)
      return ipfix::element_name(f.enterprise, f.id) + " differs: expected " +
             hex(want.subspan(wo, wn)) + " got " + hex(got.subspan(go, gn));
  }
  return "record differs";
}

} // namespace

std::string_view to_string(template_kind k) {
  switch (k) {
  case template_kind::antrea_v4:
    return "antrea-v4";
  case template_kind::antrea_v6:
    return "antrea-v6";
  case template_kind::minimal:
    break;
  }
  return "minimal";
}

std::optional<template_kind> parse_template_kind(std::string_view text) {
  for (auto k : {template_kind::antrea_v4, template_kind::antrea_v6, template_kind::minimal})
    if (text == to_string(k))
      return k;
  return std::nullopt;
}

ipfix::template_def make_template(template_kind kind, std::uint16_t id) {
  ipfix::template_def def;
  def.id = id;
  def.fields = fields_of(kind);
  return def;
}

std::size_t write_record(template_kind kind, std::uint64_t seed, std::uint32_t odid,
                         std::uint64_t index, std::uint8_t* dst) {
  bit_pool pool(seed, odid, index);
  switch (kind) {
  case template_kind::antrea_v4:
    return write_antrea(pool, false, index, dst);
  case template_kind::antrea_v6:
    return write_antrea(pool, true, index, dst);
  case template_kind::minimal:
    break;
  }
  return write_minimal(pool, index, dst);
}

pair_counts pair_delta(std::uint64_t seed, std::uint64_t flow, bool source_node,
                       std::uint64_t round) {
  // The two Nodes count slightly different packets of one connection, as real agents
  // do (their polls are not simultaneous).
  auto r = fmix(fmix(seed ^ 0x70a1'7e57ULL) ^ (flow * 0x9e3779b97f4a7c15ULL) ^
                (round * 0xd1b54a32d192ed03ULL) ^ (source_node ? 1 : 2));
  pair_counts c;
  c.packets = 1 + (r & 63);
  c.octets = c.packets * (64 + flow % 1400);
  c.reverse_packets = (r >> 8) & 31;
  c.reverse_octets = c.reverse_packets * 100;
  return c;
}

pair_counts pair_totals(std::uint64_t seed, std::uint64_t flow, bool source_node,
                        std::uint64_t rounds) {
  pair_counts sum;
  for (std::uint64_t k = 0; k < rounds; ++k) {
    auto d = pair_delta(seed, flow, source_node, k);
    sum.packets += d.packets;
    sum.octets += d.octets;
    sum.reverse_packets += d.reverse_packets;
    sum.reverse_octets += d.reverse_octets;
  }
  return sum;
}

std::optional<std::uint64_t> pair_flow_of(ipfix::bytes_view a) {
  if (a.size() == 4) {
    auto v = ipfix::read_u32(a.data());
    if ((v & 0xff000000u) != 0x0a000000u || (v & 0x00ffffffu) >= max_pair_flows)
      return std::nullopt;
    return v & 0x00ffffffu;
  }
  if (a.size() == 16) {
    static constexpr std::uint8_t prefix[6] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01};
    if (std::memcmp(a.data(), prefix, 6) != 0)
      return std::nullopt;
    return ipfix::read_u32(a.data() + 12);
  }
  return std::nullopt;
}

std::size_t write_pair_record(template_kind kind, const pair_content& c, std::uint64_t seed,
                              std::uint32_t odid, std::uint64_t index, std::uint8_t* dst) {
  const std::uint64_t session = odid - c.odid_base;
  const std::uint64_t flow = (session / 2) * c.flows + index % c.flows;
  return write_pair(kind == template_kind::antrea_v6, seed, flow % max_pair_flows, session % 2 == 0,
                    index / c.flows, dst);
}

void append_record(template_kind kind, std::uint64_t seed, std::uint32_t odid, std::uint64_t index,
                   std::vector<std::uint8_t>& out) {
  // Big enough for any record: the name tables are short (checked in max_record_size).
  std::uint8_t buf[4096 + copy_block];
  auto n = write_record(kind, seed, odid, index, buf);
  out.insert(out.end(), buf, buf + n);
}

std::size_t max_record_size(template_kind kind) {
  // Fixed part of the Antrea template: 12 IANA fields (with v4 or v6 addresses), 4
  // reverse counters, and the 7 fixed Antrea fields.
  constexpr std::size_t antrea_fixed_common = 4 + 4 + 1 + 2 + 2 + 1 + 4 * 8 + 4 * 8 + 2 + 4 * 1 + 1;
  static const std::size_t strings = tables().max_antrea_strings;
  static_assert(antrea_fixed_common + 2 * 16 + 16 < 4096);
  switch (kind) {
  case template_kind::antrea_v4:
    return antrea_fixed_common + 2 * 4 + 4 + strings + copy_block;
  case template_kind::antrea_v6:
    return antrea_fixed_common + 2 * 16 + 16 + strings + copy_block;
  case template_kind::minimal:
    break;
  }
  return minimal_size;
}

std::size_t octet_delta_offset(template_kind kind) {
  return kind == template_kind::minimal ? minimal_octet_delta : antrea_octet_delta;
}

std::size_t packet_total_offset(template_kind kind) {
  return kind == template_kind::minimal ? minimal_packet_total : antrea_packet_total;
}

verify_plan make_verify_plan(const ipfix::template_def& received) {
  verify_plan plan;
  plan.received = received;
  if (!received.is_options()) {
    for (auto k : {template_kind::antrea_v4, template_kind::antrea_v6, template_kind::minimal}) {
      auto& f = fields_of(k);
      if (received.fields.size() >= f.size() &&
          std::equal(f.begin(), f.end(), received.fields.begin())) {
        plan.matched = true;
        plan.kind = k;
        plan.prefix_fields = f.size();
        break;
      }
    }
  }
  for (std::size_t i = plan.prefix_fields; i < received.fields.size(); ++i) {
    auto& f = received.fields[i];
    auto idx = static_cast<int>(i);
    if (f.enterprise == 0) {
      if (f.id == ipfix::ie::original_observation_domain_id && f.length >= 1 && f.length <= 4 &&
          plan.original_odid < 0)
        plan.original_odid = idx;
      else if (f.id == ipfix::ie::original_exporter_ipv4_address && f.length == 4 &&
               plan.exporter_v4 < 0)
        plan.exporter_v4 = idx;
      else if (f.id == ipfix::ie::original_exporter_ipv6_address && f.length == 16 &&
               plan.exporter_v6 < 0)
        plan.exporter_v6 = idx;
      else if (f.id == ipfix::ie::flow_direction && f.length == 1 && plan.flow_direction < 0)
        plan.flow_direction = idx;
    } else if (f.enterprise == antrea_pen && f.id == ipfix::antrea_ie::cluster_id &&
               plan.cluster_id < 0) {
      plan.cluster_id = idx;
    }
  }
  return plan;
}

verify_result verify_record(const verify_plan& plan, ipfix::bytes_view record,
                            std::uint32_t header_odid, std::uint64_t seed, bool skip_octet_delta) {
  verify_result res;
  if (!plan.matched) {
    res.mismatch = "template " + std::to_string(plan.received.id) + " is not a loadgen template";
    return res;
  }
  res.matched = true;
  res.kind = plan.kind;

  // Walk the record once to find the appended fields (405 decides the ODID).
  std::size_t pos = 0;
  auto& fields = plan.received.fields;
  int last = std::max({plan.original_odid, plan.exporter_v4, plan.exporter_v6, plan.cluster_id,
                       plan.flow_direction});
  for (int i = 0; i <= last; ++i) {
    std::size_t off = 0, len = 0;
    if (!walk_field(fields[static_cast<std::size_t>(i)].length, record, pos, off, len)) {
      res.mismatch = "record shorter than its template";
      return res;
    }
    const auto* v = record.data() + off;
    if (i == plan.original_odid)
      res.original_odid = static_cast<std::uint32_t>(ipfix::read_uint(v, len));
    else if (i == plan.exporter_v4)
      std::memcpy(res.exporter_v4.emplace().data(), v, 4);
    else if (i == plan.exporter_v6)
      std::memcpy(res.exporter_v6.emplace().data(), v, 16);
    else if (i == plan.cluster_id)
      res.cluster_id = std::string_view(reinterpret_cast<const char*>(v), len);
    else if (i == plan.flow_direction)
      res.flow_direction = *v;
  }
  res.odid = res.original_odid ? *res.original_odid : header_odid;

  auto pt = packet_total_offset(plan.kind);
  auto od = octet_delta_offset(plan.kind);
  if (record.size() < std::max(pt, od) + 8) {
    res.mismatch = "record shorter than its template";
    return res;
  }
  auto packets = ipfix::read_u64(record.data() + pt);
  res.octet_delta = ipfix::read_u64(record.data() + od);
  if (packets == 0) {
    res.mismatch = "packetTotalCount is 0, no record index";
    return res;
  }
  res.index = packets - 1;

  std::uint8_t want[4096 + copy_block];
  auto n = write_record(plan.kind, seed, res.odid, res.index, want);
  if (skip_octet_delta)
    std::memcpy(want + od, record.data() + od, 8);
  if (record.size() >= n && std::memcmp(want, record.data(), n) == 0) {
    res.ok = true;
    return res;
  }
  res.mismatch = "odid " + std::to_string(res.odid) + " index " + std::to_string(res.index) + ": " +
                 describe_mismatch(plan.kind, {want, n}, record);
  return res;
}

verify_result verify_record(const ipfix::template_def& received, ipfix::bytes_view record,
                            std::uint32_t header_odid, std::uint64_t seed, bool skip_octet_delta) {
  return verify_record(make_verify_plan(received), record, header_odid, seed, skip_octet_delta);
}

} // namespace fa::tools
