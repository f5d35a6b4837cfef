#include "flows/aggregate_layout.hpp"

#include "ipfix/elements.hpp"
#include "ipfix/message.hpp"

#include <algorithm>
#include <cstring>

namespace fa::flows {

namespace {

using ipfix::antrea_pen;
using ipfix::field_spec;
using ipfix::iana_pen;
using ipfix::reverse_pen;
using ipfix::varlen;

namespace ie = ipfix::ie;
namespace antrea_ie = ipfix::antrea_ie;

/// The common counters in `counter` order: IANA ids, forward then reverse.
constexpr std::uint16_t counter_ids[4] = {ie::packet_total_count, ie::octet_total_count,
                                          ie::packet_delta_count, ie::octet_delta_count};

/// Reference c, HEAD's list, in the table's order; the two label fields last (header).
constexpr std::uint16_t correlated_ids[] = {
    101, 100, 159, // sourcePodName, sourcePodNamespace, sourcePodUUID
    104, 161,      // sourceNodeName, sourceNodeUUID
    103, 102, 160, // destinationPodName, destinationPodNamespace, destinationPodUUID
    105, 162,      // destinationNodeName, destinationNodeUUID
    106, 107,      // destinationClusterIPv4 / IPv6
    168, 169,      // destinationServiceIPv4 / IPv6
    108, 109,      // destinationServicePort, destinationServicePortName
    110, 111, 164, // ingressNetworkPolicyName, Namespace, UUID
    139, 115, 141, // ingressNetworkPolicyRuleAction, Type, RuleName
    112, 113, 165, // egressNetworkPolicyName, Namespace, UUID
    140, 118, 142, // egressNetworkPolicyRuleAction, Type, RuleName
    143, 144,      // sourcePodLabels, destinationPodLabels
};

/// The aggregation elements (reference f.1 rows 43-66, f.2 rows 44-67).
constexpr field_spec u64(std::uint16_t id) {
  return field_spec{id, 8, antrea_pen};
}
constexpr field_spec aggregation[] = {
    u64(123),
    u64(131),
    u64(121),
    u64(129),
    u64(122),
    u64(130),
    u64(120),
    u64(128),
    u64(127),
    u64(135),
    u64(125),
    u64(133),
    u64(126),
    u64(134),
    u64(124),
    u64(132),
    {151, 4, antrea_pen},
    {152, 4, antrea_pen}, // flowEndSecondsFrom{Source,Destination}Node
    u64(145),
    u64(147),
    u64(148),
    u64(146),
    u64(149),
    u64(150),
};
static_assert(std::size(aggregation) == 24);

/// The enricher's appended fields in its order (actors/template_planner.cpp).
constexpr element_ref appended_order[] = {
    {antrea_pen, antrea_ie::source_pod_labels, -1},
    {antrea_pen, antrea_ie::destination_pod_labels, -1},
    {antrea_pen, antrea_ie::cluster_id, -1},
    {iana_pen, ie::original_observation_domain_id, -1},
    {iana_pen, ie::original_exporter_ipv4_address, -1},
    {iana_pen, ie::original_exporter_ipv6_address, -1},
    {iana_pen, ie::flow_direction, -1},
};

bool is_aggregation_element(const field_spec& f) {
  return f.enterprise == antrea_pen &&
         ((f.id >= 120 && f.id <= 135) || (f.id >= 145 && f.id <= 152));
}

field_index first_of(const ipfix::template_def& t, std::uint32_t pen, std::uint16_t id) {
  for (std::size_t i = 0; i < t.fields.size(); ++i)
    if (t.fields[i].enterprise == pen && t.fields[i].id == id)
      return static_cast<field_index>(i);
  return -1;
}

/// The first field of element (pen, id) when it has `length` octets, else -1: only a
/// full-size field is read as an address, port or time (RFC 7011 6.2 allows reduced
/// sizes for integers only; the planner reads fields the same way).
field_index sized(const ipfix::template_def& t, std::uint32_t pen, std::uint16_t id,
                  std::uint16_t length) {
  auto i = first_of(t, pen, id);
  return i >= 0 && t.fields[static_cast<std::size_t>(i)].length == length ? i : -1;
}

void add_ref(const ipfix::template_def& t, std::vector<element_ref>& out, std::uint32_t pen,
             std::uint16_t id) {
  if (auto i = first_of(t, pen, id); i >= 0)
    out.push_back({pen, id, i});
}

std::string_view check(const aggregate_layout& l, bool reduced_counter) {
  const auto& in = l.input;
  if (in.is_options())
    return "options template";
  if (std::none_of(in.fields.begin(), in.fields.end(),
                   [](const field_spec& f) { return f.enterprise == antrea_pen; }))
    return "no Antrea element";
  if (std::any_of(in.fields.begin(), in.fields.end(), is_aggregation_element))
    return "already carries aggregation elements";
  if (l.flow_type < 0)
    return "no flowType";
  if ((l.source_ipv4 < 0 || l.destination_ipv4 < 0) &&
      (l.source_ipv6 < 0 || l.destination_ipv6 < 0))
    return "no source and destination address of one family";
  if (l.source_port < 0 || l.destination_port < 0 || l.protocol < 0)
    return "no transport ports or protocol";
  if (l.flow_start_seconds < 0 && l.flow_start_milliseconds < 0)
    return "no flowStartSeconds or flowStartMilliseconds";
  if (l.flow_end_seconds < 0 && l.flow_end_milliseconds < 0)
    return "no flowEndSeconds or flowEndMilliseconds";
  if (reduced_counter)
    return "reduced-size counter";
  if (l.output.encoded_size() + ipfix::message_header_size + ipfix::set_header_size >
      ipfix::max_message_size)
    return "output template too large";
  return {};
}

} // namespace

field_index find_element(std::span<const element_ref> refs, std::uint32_t enterprise,
                         std::uint16_t id) {
  for (const auto& r : refs)
    if (r.enterprise == enterprise && r.id == id)
      return r.index;
  return -1;
}

std::span<const field_spec> aggregation_specs() {
  return aggregation;
}

std::size_t appended_start(const ipfix::template_def& enriched) {
  std::size_t end = enriched.fields.size();
  std::size_t next = std::size(appended_order); // candidates are appended_order[0, next)
  while (end > 0 && next > 0) {
    const auto& f = enriched.fields[end - 1];
    std::size_t k = next;
    while (k > 0 &&
           !(appended_order[k - 1].enterprise == f.enterprise && appended_order[k - 1].id == f.id))
      --k;
    if (k == 0)
      break;
    next = k - 1;
    --end;
  }
  return end;
}

void compact_record(const aggregate_layout& l, ipfix::bytes_view record,
                    std::span<const ipfix::field_slice> varlen, std::uint8_t* fixed,
                    std::vector<std::uint8_t>& strings, ipfix::bytes_view& tcp_state) {
  std::size_t at = 0;
  for (const auto& run : l.fixed_runs) {
    const std::size_t start =
        run.after < 0 ? 0
                      : std::size_t{varlen[static_cast<std::size_t>(run.after)].offset} +
                            varlen[static_cast<std::size_t>(run.after)].length;
    std::memcpy(fixed + at, record.data() + start, run.length);
    at += run.length;
  }
  tcp_state = {};
  for (std::size_t k = 0; k < varlen.size(); ++k) {
    const auto v = record.subspan(varlen[k].offset, varlen[k].length);
    if (static_cast<std::int16_t>(k) == l.tcp_state_rank) {
      tcp_state = v;
      continue;
    }
    std::uint8_t prefix[3];
    const auto p = ipfix::write_varlen_prefix(prefix, v.size());
    strings.insert(strings.end(), prefix, prefix + p);
    strings.insert(strings.end(), v.begin(), v.end());
  }
}

namespace {

bool is_zero(const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] != 0)
      return false;
  return true;
}

} // namespace

flow_key record_key(const aggregate_layout& l, ipfix::bytes_view record,
                    std::span<const ipfix::field_slice> varlen, bool* ingress_half) {
  auto at = [&](field_index i) { return l.fixed_at(i, record.data(), varlen.data()); };
  flow_key key;
  // Reference a: IPv4 when the template has both IPv4 addresses (v2.3; the IPv6 pair
  // when the IPv4 pair is unset and the template has both families).
  bool v4 = l.source_ipv4 >= 0 && l.destination_ipv4 >= 0;
  if (v4 && l.source_ipv6 >= 0 && l.destination_ipv6 >= 0 && is_zero(at(l.source_ipv4), 4) &&
      is_zero(at(l.destination_ipv4), 4))
    v4 = false;
  if (v4) {
    key.source = ipv4_address(at(l.source_ipv4));
    key.destination = ipv4_address(at(l.destination_ipv4));
  } else {
    key.source = ipv6_address(at(l.source_ipv6));
    key.destination = ipv6_address(at(l.destination_ipv6));
  }
  key.source_port = ipfix::read_u16(at(l.source_port));
  key.destination_port = ipfix::read_u16(at(l.destination_port));
  key.protocol = *at(l.protocol);
  if (ingress_half)
    *ingress_half = false;

  // Reference a, HEAD: the ingress half of an inter-Node FromExternal flow (no
  // destination Pod, a proxy SNAT address) is keyed on the SNAT address and port, which is
  // the destination Node's natural key.
  const bool dst_named =
      l.destination_pod_name >= 0 &&
      l.record.located(static_cast<std::size_t>(l.destination_pod_name), varlen).length > 0;
  if (*at(l.flow_type) != flow_type::from_external || dst_named || l.proxy_snat_port < 0)
    return key;
  if (l.proxy_snat_ipv4 >= 0 && !is_zero(at(l.proxy_snat_ipv4), 4))
    key.source = ipv4_address(at(l.proxy_snat_ipv4));
  else if (l.proxy_snat_ipv6 >= 0 && !is_zero(at(l.proxy_snat_ipv6), 16))
    key.source = ipv6_address(at(l.proxy_snat_ipv6));
  else
    return key;
  key.source_port = ipfix::read_u16(at(l.proxy_snat_port));
  if (ingress_half)
    *ingress_half = true;
  return key;
}

namespace {

/// Reads the prefix of the string at `pos` (RFC 7011 7): advances past it, returns the
/// value length. Stored strings were written by `compact_record`, so they are whole.
std::size_t read_prefix(ipfix::bytes_view strings, std::size_t& pos) {
  std::size_t len = strings[pos++];
  if (len == 255) {
    len = ipfix::read_u16(strings.data() + pos);
    pos += 2;
  }
  return len;
}

} // namespace

ipfix::bytes_view string_value(ipfix::bytes_view strings, std::size_t rank) {
  std::size_t pos = 0;
  for (std::size_t k = 0;; ++k) {
    const std::size_t len = read_prefix(strings, pos);
    if (k == rank)
      return strings.subspan(pos, len);
    pos += len;
  }
}

std::size_t strings_length(ipfix::bytes_view strings, std::size_t count) {
  std::size_t pos = 0;
  for (std::size_t k = 0; k < count; ++k)
    pos += read_prefix(strings, pos);
  return pos;
}

std::shared_ptr<aggregate_layout> make_aggregate_layout(const ipfix::template_def& enriched) {
  return make_aggregate_layout(enriched, appended_start(enriched));
}

std::shared_ptr<aggregate_layout> make_aggregate_layout(const ipfix::template_def& enriched,
                                                        std::size_t agent_fields) {
  auto p = std::make_shared<aggregate_layout>();
  auto& l = *p;
  const auto& t = enriched;
  l.input = enriched;
  l.record = ipfix::record_layout{enriched};
  l.agent_fields = std::min(agent_fields, enriched.fields.size());
  // `located` with every variable-length value empty at offset 0 gives a fixed-size
  // field's distance from the end of the value before it.
  const std::vector<ipfix::field_slice> empty_values(l.record.num_varlen());
  l.fixed_places.assign(t.fields.size(), 0);
  for (std::size_t i = 0; i < t.fields.size(); ++i)
    if (!t.fields[i].is_varlen())
      l.fixed_places[i] = (static_cast<std::uint32_t>(l.record.var_rank(i)) << 16) |
                          l.record.located(i, empty_values).offset;

  l.source_ipv4 = sized(t, iana_pen, ie::source_ipv4_address, 4);
  l.destination_ipv4 = sized(t, iana_pen, ie::destination_ipv4_address, 4);
  l.source_ipv6 = sized(t, iana_pen, ie::source_ipv6_address, 16);
  l.destination_ipv6 = sized(t, iana_pen, ie::destination_ipv6_address, 16);
  l.source_port = sized(t, iana_pen, ie::source_transport_port, 2);
  l.destination_port = sized(t, iana_pen, ie::destination_transport_port, 2);
  l.protocol = sized(t, iana_pen, ie::protocol_identifier, 1);
  l.flow_type = sized(t, antrea_pen, antrea_ie::flow_type, 1);
  l.flow_start_seconds = sized(t, iana_pen, ie::flow_start_seconds, 4);
  l.flow_start_milliseconds = sized(t, iana_pen, ie::flow_start_milliseconds, 8);
  l.flow_end_seconds = sized(t, iana_pen, ie::flow_end_seconds, 4);
  l.flow_end_milliseconds = sized(t, iana_pen, ie::flow_end_milliseconds, 8);
  l.flow_end_reason = sized(t, iana_pen, ie::flow_end_reason, 1);
  l.tcp_state = first_of(t, antrea_pen, antrea_ie::tcp_state);
  l.ingress_rule_action = sized(t, antrea_pen, antrea_ie::ingress_rule_action, 1);
  l.egress_rule_action = sized(t, antrea_pen, antrea_ie::egress_rule_action, 1);
  l.source_pod_name = first_of(t, antrea_pen, antrea_ie::source_pod_name);
  l.destination_pod_name = first_of(t, antrea_pen, antrea_ie::destination_pod_name);
  l.proxy_snat_ipv4 = sized(t, antrea_pen, antrea_ie::proxy_snat_ipv4, 4);
  l.proxy_snat_ipv6 = sized(t, antrea_pen, antrea_ie::proxy_snat_ipv6, 16);
  l.proxy_snat_port = sized(t, antrea_pen, antrea_ie::proxy_snat_port, 2);
  bool reduced_counter = false;
  for (std::size_t c = 0; c < num_counters; ++c) {
    auto pen = c < 4 ? iana_pen : reverse_pen;
    auto i = first_of(t, pen, counter_ids[c % 4]);
    if (i >= 0 && t.fields[static_cast<std::size_t>(i)].length != 8)
      reduced_counter = true;
    l.counters[c] = i;
  }

  for (auto id : correlated_ids)
    add_ref(t, l.correlated, antrea_pen, id);
  add_ref(t, l.from_external, iana_pen, ie::source_ipv4_address);
  add_ref(t, l.from_external, iana_pen, ie::source_ipv6_address);
  add_ref(t, l.from_external, iana_pen, ie::source_transport_port);
  add_ref(t, l.from_external, antrea_pen, antrea_ie::proxy_snat_ipv4);
  add_ref(t, l.from_external, antrea_pen, antrea_ie::proxy_snat_ipv6);
  add_ref(t, l.from_external, antrea_pen, antrea_ie::proxy_snat_port);
  add_ref(t, l.from_external, antrea_pen, antrea_ie::flow_type);
  for (std::size_t k = 3; k < std::size(appended_order); ++k)
    add_ref(t, l.source_observation, appended_order[k].enterprise, appended_order[k].id);

  // The stored form (aggregate_layout.hpp).
  const std::size_t n = t.fields.size();
  l.compact_offsets.assign(n, -1);
  l.string_ranks.assign(n, -1);
  l.tcp_state_apart =
      l.tcp_state >= 0 && t.fields[static_cast<std::size_t>(l.tcp_state)].is_varlen();
  std::int32_t fixed_at = 0;
  std::int16_t varlen_rank = -1;
  std::int16_t strings = 0;
  aggregate_layout::fixed_run run;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& f = t.fields[i];
    if (!f.is_varlen()) {
      l.compact_offsets[i] = fixed_at;
      fixed_at += f.length;
      run.length = static_cast<std::uint16_t>(run.length + f.length);
      continue;
    }
    if (run.length > 0)
      l.fixed_runs.push_back(run);
    run = {++varlen_rank, 0};
    if (l.tcp_state_apart && static_cast<field_index>(i) == l.tcp_state)
      l.tcp_state_rank = varlen_rank;
    else
      l.string_ranks[i] = strings++;
  }
  if (run.length > 0)
    l.fixed_runs.push_back(run);
  l.fixed_size = static_cast<std::size_t>(fixed_at);
  l.num_strings = static_cast<std::size_t>(strings);

  // The output record: the agent's fields, the aggregation block, the appended fields.
  using seg = aggregate_layout::segment;
  auto push = [&](seg x) {
    auto& v = l.segments;
    if (!v.empty() && v.back().kind == x.kind && (x.kind == seg::fixed || x.kind == seg::strings))
      v.back().count = static_cast<std::uint16_t>(v.back().count + x.count);
    else
      v.push_back(x);
  };
  for (std::size_t i = 0; i <= n; ++i) {
    if (i == l.agent_fields)
      push({seg::aggregation, 0, 0});
    if (i == n)
      break;
    if (l.compact_offsets[i] >= 0)
      push({seg::fixed, static_cast<std::uint16_t>(l.compact_offsets[i]), t.fields[i].length});
    else if (l.string_ranks[i] >= 0)
      push({seg::strings, 0, 1});
    else
      push({seg::tcp_state, 0, 0});
  }

  l.output.scope_count = t.scope_count;
  l.output.fields.assign(t.fields.begin(),
                         t.fields.begin() + static_cast<std::ptrdiff_t>(l.agent_fields));
  l.output.fields.insert(l.output.fields.end(), std::begin(aggregation), std::end(aggregation));
  l.output.fields.insert(l.output.fields.end(),
                         t.fields.begin() + static_cast<std::ptrdiff_t>(l.agent_fields),
                         t.fields.end());

  l.why_not = check(l, reduced_counter);
  l.aggregatable = l.why_not.empty();
  return p;
}

} // namespace fa::flows
