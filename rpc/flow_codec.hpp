#pragma once

// One Antrea `Flow` (gRPC, antrea-grpc-transport.md 2) as one IPFIX data record of the
// shape the Agent sends over IPFIX, so that everything after the agent session (templates
// and plans, enrichment, aggregation, every destination) treats gRPC and IPFIX input
// alike (DESIGN 10).
//
// The template is the Agent's at v2.7 (antrea-aggregate-semantics.md f.2 rows 1-43: 12
// IANA elements, 4 reverse counters, the Antrea elements sourcePodName .. egressNodeName,
// proxySnatPort, proxySnatIP, destinationClusterIP, destinationServiceIP) with the UIDs
// only gRPC carries inserted where Antrea's aggregator puts them with includeK8sUIDs
// (f.2 "UID and name switches": octetArray(16), the raw UUID, zeros when unset or
// unparsable). One template per IP family, ids 256 (IPv4) and 257 (IPv6).

#include "ipfix/template.hpp"
#include "rpc/flow_wire.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fa::rpc {

inline constexpr std::uint16_t flow_template_v4 = 256;
inline constexpr std::uint16_t flow_template_v6 = 257;

/// The record shape of a Flow of one family (ids 256 and 257), with the UUID elements or
/// without them (`[collector.grpc] include_k8s_uids`, Antrea's includeK8sUIDs). Built once.
const ipfix::template_def& flow_template(bool v6, bool uids = true);

/// Why a Flow was refused (a fixed set: metric label values).
enum class flow_error : std::uint8_t {
  none,
  no_timestamps,    ///< start_ts or end_ts missing (the Go aggregator crashed on it, #7928)
  bad_timestamp,    ///< seconds outside dateTimeSeconds (0 .. 2^32-1)
  bad_ip_version,   ///< ip.version not 4 or 6, or no `ip`
  bad_address,      ///< an address of the wrong length for its family
  bad_port,         ///< a port above 65535 or a protocol above 255
  unknown_enum,     ///< an enum value the reference does not list
  too_large,        ///< the record would not fit one IPFIX message (RFC 7011 3.1)
  too_many_domains, ///< a stream used more observation domains than flow_writer allows
};

/// The size of the flow_error enumeration, for counts by reason.
inline constexpr std::size_t num_flow_errors =
    static_cast<std::size_t>(flow_error::too_many_domains) + 1;

std::string_view to_string(flow_error e);

/// What `measure` learnt about a Flow: which template, how many octets, and egressIP
/// as text (made once).
struct record_plan {
  bool v6 = false;
  bool uids = true; ///< the shape with the UUID elements
  std::size_t size = 0;
  std::uint8_t egress_ip_length = 0;
  char egress_ip[46]; ///< INET6_ADDRSTRLEN
};

/// Validates `f` and measures its record, of the shape with the UUID elements or without
/// (flow_template). Allocates nothing.
flow_error measure(const flow_fields& f, record_plan& out, bool uids = true);

/// Writes the record of `f` (which `measure` accepted into `plan`) at `dst`, which has
/// room for `plan.size` octets. Allocates nothing.
void encode(const flow_fields& f, const record_plan& plan, std::uint8_t* dst);

} // namespace fa::rpc
