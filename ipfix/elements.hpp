#pragma once

// The information element registry: IANA (PEN 0), reverse elements (PEN 29305, RFC
// 5103) and Antrea (PEN 56506). Built from ipfix/elements/*.csv at compile time.

#include <cstdint>
#include <string>
#include <string_view>

namespace fa::ipfix {

/// IPFIX abstract data types (RFC 7012 3.1).
enum class data_type : std::uint8_t {
  octet_array,
  unsigned8,
  unsigned16,
  unsigned32,
  unsigned64,
  signed8,
  signed16,
  signed32,
  signed64,
  float32,
  float64,
  boolean,
  mac_address,
  string,
  date_time_seconds,
  date_time_milliseconds,
  date_time_microseconds,
  date_time_nanoseconds,
  ipv4_address,
  ipv6_address,
  basic_list,
  sub_template_list,
  sub_template_multi_list,
};

std::string_view to_string(data_type t);

struct element_info {
  std::uint32_t enterprise = 0;
  std::uint16_t id = 0;
  std::string_view name;
  data_type type = data_type::octet_array;
  std::uint16_t length = 0; ///< registry (maximum) length; 65535 = variable
};

/// The element, or nullptr when the registry does not know it. Reverse elements
/// (PEN 29305) resolve to the forward element's type with a "reverse" name.
const element_info* find_element(std::uint32_t enterprise, std::uint16_t id);

/// Looks an element up by its name ("sourceIPv4Address", "reverseOctetDeltaCount").
const element_info* find_element(std::string_view name);

/// A readable name for any element: the registry name, or "e<pen>id<id>" / "id<id>"
/// for elements it does not know.
std::string element_name(std::uint32_t enterprise, std::uint16_t id);

/// Appends `element_name(enterprise, id)` to `out` without any other allocation.
void append_element_name(std::string& out, std::uint32_t enterprise, std::uint16_t id);

/// Well-known element ids used by the enrichment and the aggregation.
namespace ie {
constexpr std::uint16_t octet_delta_count = 1;
constexpr std::uint16_t packet_delta_count = 2;
constexpr std::uint16_t protocol_identifier = 4;
constexpr std::uint16_t source_transport_port = 7;
constexpr std::uint16_t source_ipv4_address = 8;
constexpr std::uint16_t destination_transport_port = 11;
constexpr std::uint16_t destination_ipv4_address = 12;
constexpr std::uint16_t source_ipv6_address = 27;
constexpr std::uint16_t destination_ipv6_address = 28;
constexpr std::uint16_t flow_direction = 61;
constexpr std::uint16_t octet_total_count = 85;
constexpr std::uint16_t packet_total_count = 86;
constexpr std::uint16_t flow_end_reason = 136;
constexpr std::uint16_t flow_start_seconds = 150;
constexpr std::uint16_t flow_end_seconds = 151;
constexpr std::uint16_t flow_start_milliseconds = 152;
constexpr std::uint16_t flow_end_milliseconds = 153;
constexpr std::uint16_t original_exporter_ipv4_address = 403;
constexpr std::uint16_t original_exporter_ipv6_address = 404;
constexpr std::uint16_t original_observation_domain_id = 405;
} // namespace ie

namespace antrea_ie {
constexpr std::uint16_t source_pod_namespace = 100;
constexpr std::uint16_t source_pod_name = 101;
constexpr std::uint16_t destination_pod_namespace = 102;
constexpr std::uint16_t destination_pod_name = 103;
constexpr std::uint16_t source_node_name = 104;
constexpr std::uint16_t destination_node_name = 105;
constexpr std::uint16_t tcp_state = 136;
constexpr std::uint16_t flow_type = 137;
constexpr std::uint16_t ingress_rule_action = 139;
constexpr std::uint16_t egress_rule_action = 140;
constexpr std::uint16_t source_pod_labels = 143;
constexpr std::uint16_t destination_pod_labels = 144;
constexpr std::uint16_t cluster_id = 158;
constexpr std::uint16_t proxy_snat_ipv4 = 170;
constexpr std::uint16_t proxy_snat_ipv6 = 171;
constexpr std::uint16_t proxy_snat_port = 172;
} // namespace antrea_ie

} // namespace fa::ipfix
