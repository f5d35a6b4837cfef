#include "sinks/flow_record.hpp"

#include "ipfix/elements.hpp"
#include "ipfix/record_json.hpp"
#include "ipfix/wire.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace fa::sinks {

namespace {

/// A column: its name and type in the `flows` table, and the elements that may fill it,
/// by registry name, the first one a template carries winning (reference 2.2 "IE"; the
/// millisecond and NTP times are for exporters other than Antrea's agent).
struct column_def {
  column_info info;
  std::array<std::string_view, 4> sources;
};

using enum column_type;

// clang-format off
constexpr std::array<column_def, column_count> columns{{
    {{"flowStartSeconds", date_time}, {"flowStartSeconds", "flowStartMilliseconds", "flowStartMicroseconds", "flowStartNanoseconds"}},
    {{"flowEndSeconds", date_time}, {"flowEndSeconds", "flowEndMilliseconds", "flowEndMicroseconds", "flowEndNanoseconds"}},
    {{"flowEndSecondsFromSourceNode", date_time}, {"flowEndSecondsFromSourceNode"}},
    {{"flowEndSecondsFromDestinationNode", date_time}, {"flowEndSecondsFromDestinationNode"}},
    {{"flowEndReason", uint8}, {"flowEndReason"}},
    {{"sourceIP", string}, {"sourceIPv4Address", "sourceIPv6Address"}},
    {{"destinationIP", string}, {"destinationIPv4Address", "destinationIPv6Address"}},
    {{"sourceTransportPort", uint16}, {"sourceTransportPort"}},
    {{"destinationTransportPort", uint16}, {"destinationTransportPort"}},
    {{"protocolIdentifier", uint8}, {"protocolIdentifier"}},
    {{"packetTotalCount", uint64}, {"packetTotalCount"}},
    {{"octetTotalCount", uint64}, {"octetTotalCount"}},
    {{"packetDeltaCount", uint64}, {"packetDeltaCount"}},
    {{"octetDeltaCount", uint64}, {"octetDeltaCount"}},
    {{"reversePacketTotalCount", uint64}, {"reversePacketTotalCount"}},
    {{"reverseOctetTotalCount", uint64}, {"reverseOctetTotalCount"}},
    {{"reversePacketDeltaCount", uint64}, {"reversePacketDeltaCount"}},
    {{"reverseOctetDeltaCount", uint64}, {"reverseOctetDeltaCount"}},
    {{"sourcePodName", string}, {"sourcePodName"}},
    {{"sourcePodNamespace", string}, {"sourcePodNamespace"}},
    {{"sourceNodeName", string}, {"sourceNodeName"}},
    {{"destinationPodName", string}, {"destinationPodName"}},
    {{"destinationPodNamespace", string}, {"destinationPodNamespace"}},
    {{"destinationNodeName", string}, {"destinationNodeName"}},
    {{"destinationClusterIP", string}, {"destinationClusterIPv4", "destinationClusterIPv6"}},
    {{"destinationServicePort", uint16}, {"destinationServicePort"}},
    {{"destinationServicePortName", string}, {"destinationServicePortName"}},
    {{"ingressNetworkPolicyName", string}, {"ingressNetworkPolicyName"}},
    {{"ingressNetworkPolicyNamespace", string}, {"ingressNetworkPolicyNamespace"}},
    {{"ingressNetworkPolicyRuleName", string}, {"ingressNetworkPolicyRuleName"}},
    {{"ingressNetworkPolicyRuleAction", uint8}, {"ingressNetworkPolicyRuleAction"}},
    {{"ingressNetworkPolicyType", uint8}, {"ingressNetworkPolicyType"}},
    {{"egressNetworkPolicyName", string}, {"egressNetworkPolicyName"}},
    {{"egressNetworkPolicyNamespace", string}, {"egressNetworkPolicyNamespace"}},
    {{"egressNetworkPolicyRuleName", string}, {"egressNetworkPolicyRuleName"}},
    {{"egressNetworkPolicyRuleAction", uint8}, {"egressNetworkPolicyRuleAction"}},
    {{"egressNetworkPolicyType", uint8}, {"egressNetworkPolicyType"}},
    {{"tcpState", string}, {"tcpState"}},
    {{"flowType", uint8}, {"flowType"}},
    {{"sourcePodLabels", string}, {"sourcePodLabels"}},
    {{"destinationPodLabels", string}, {"destinationPodLabels"}},
    {{"throughput", uint64}, {"throughput"}},
    {{"reverseThroughput", uint64}, {"reverseThroughput"}},
    {{"throughputFromSourceNode", uint64}, {"throughputFromSourceNode"}},
    {{"throughputFromDestinationNode", uint64}, {"throughputFromDestinationNode"}},
    {{"reverseThroughputFromSourceNode", uint64}, {"reverseThroughputFromSourceNode"}},
    {{"reverseThroughputFromDestinationNode", uint64}, {"reverseThroughputFromDestinationNode"}},
    {{"clusterUUID", string}, {}},
    {{"egressName", string}, {"egressName"}},
    {{"egressIP", string}, {"egressIP"}},
    {{"egressNodeName", string}, {"egressNodeName"}},
    {{"destinationServiceIP", string}, {"destinationServiceIPv4", "destinationServiceIPv6"}},
}};
// clang-format on

constexpr auto insert_columns = [] {
  std::array<column, column_count - 1> out{};
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<column>(i);
  return out;
}();

/// How a field of element type `t` fills a column of type `target`; absent when it
/// cannot (an exporter's own element under a known name never happens: names come
/// from the registry).
flow_plan::read read_for(ipfix::data_type t, column_type target) {
  using ipfix::data_type;
  using read = flow_plan::read;
  if (target == column_type::string) {
    switch (t) {
    case data_type::string:
      return read::text;
    case data_type::ipv4_address:
    case data_type::ipv6_address:
      return read::address;
    default:
      return read::absent;
    }
  }
  switch (t) {
  case data_type::unsigned8:
  case data_type::unsigned16:
  case data_type::unsigned32:
  case data_type::unsigned64:
  case data_type::date_time_seconds:
    return read::uint;
  case data_type::date_time_milliseconds:
    return read::milliseconds;
  case data_type::date_time_microseconds:
  case data_type::date_time_nanoseconds:
    return read::ntp;
  default:
    return read::absent;
  }
}

bool all_zero(ipfix::bytes_view v) {
  return std::all_of(v.begin(), v.end(), [](std::uint8_t b) { return b == 0; });
}

} // namespace

void append_go_ip(std::string& out, ipfix::bytes_view v) {
  static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (v.size() == 16 && std::memcmp(v.data(), mapped, sizeof mapped) == 0)
    v = v.subspan(12);
  ipfix::append_address_text(out, v);
}

const column_info& info(column c) {
  return columns[static_cast<std::size_t>(c)].info;
}

std::span<const column> clickhouse_columns() {
  return insert_columns;
}

flow_plan::flow_plan(const ipfix::template_def& def)
    : layout_(def) {
  // Where each field lies relative to the variable-length values (RFC 7011 7).
  std::vector<source> where(def.fields.size());
  std::int16_t rank = -1;
  std::size_t run = 0;
  for (std::size_t i = 0; i < def.fields.size(); ++i) {
    auto len = def.fields[i].length;
    auto& w = where[i];
    w.field = static_cast<std::int32_t>(i);
    w.variable = len == ipfix::varlen;
    w.var = w.variable ? static_cast<std::int16_t>(rank + 1) : rank;
    w.offset = static_cast<std::uint16_t>(run);
    w.length = w.variable ? 0 : len;
    if (w.variable) {
      ++rank;
      run = 0;
    } else {
      run += len;
    }
  }
  for (std::size_t c = 0; c < column_count; ++c) {
    const auto& col = columns[c];
    for (auto name : col.sources) {
      if (name.empty())
        break;
      const auto* e = ipfix::find_element(name);
      if (e == nullptr)
        continue;
      auto it = std::find_if(def.fields.begin(), def.fields.end(), [&](const auto& f) {
        return f.enterprise == e->enterprise && f.id == e->id;
      });
      if (it == def.fields.end())
        continue;
      auto how = read_for(e->type, col.info.type);
      // egressIP is a string element holding an address (reference 2.2, column 50).
      if (how == read::text && static_cast<column>(c) == column::egress_ip)
        how = read::address_text;
      if (how == read::absent)
        continue;
      sources_[c] = where[static_cast<std::size_t>(it - def.fields.begin())];
      sources_[c].how = how;
      break;
    }
  }
}

flow_view::flow_view(std::string cluster_uuid)
    : cluster_uuid_(std::move(cluster_uuid)) {}

std::uint64_t flow_view::number(column c) const {
  const auto& src = plan_->at(c);
  if (src.how != flow_plan::read::uint && src.how != flow_plan::read::milliseconds &&
      src.how != flow_plan::read::ntp)
    return 0;
  return truncate(info(c).type, convert(src.how, value(src)));
}

std::string_view flow_view::text(column c) const {
  if (c == column::cluster_uuid)
    return cluster_uuid_;
  const auto& src = plan_->at(c);
  if (src.how == flow_plan::read::absent)
    return {};
  auto v = value(src);
  switch (src.how) {
  case flow_plan::read::text:
    return {reinterpret_cast<const char*>(v.data()), v.size()};
  case flow_plan::read::address:
    // An all-zero cluster or Service IP means "no Service" (reference 2.2, column 25).
    if ((c == column::destination_cluster_ip || c == column::destination_service_ip) && all_zero(v))
      return {};
    scratch_.clear();
    append_go_ip(scratch_, v);
    return scratch_;
  case flow_plan::read::address_text: {
    // Parsed and printed again; "" when empty or not an address (reference 2.2, col. 50).
    char buf[64];
    std::uint8_t bin[16];
    if (v.empty() || v.size() >= sizeof buf)
      return {};
    std::memcpy(buf, v.data(), v.size());
    buf[v.size()] = '\0';
    scratch_.clear();
    if (inet_pton(AF_INET, buf, bin) == 1)
      append_go_ip(scratch_, {bin, 4});
    else if (inet_pton(AF_INET6, buf, bin) == 1)
      append_go_ip(scratch_, {bin, 16});
    return scratch_;
  }
  default:
    return {};
  }
}

} // namespace fa::sinks
