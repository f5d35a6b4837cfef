#pragma once

// The way back for the flow stream service (antrea-grpc-transport.md 5): an IPFIX data
// record of any template, as the destinations receive it (the agent's elements plus what
// enrichment appended), into an Antrea `Flow`. Elements are matched by (enterprise, id),
// as Antrea's aggregator matches IPFIX records by name (4.1); unknown ones are ignored and
// missing ones keep the protobuf defaults. Addresses of 0.0.0.0 / :: are unset (4.1).
//
// | IPFIX element(s)                                  | Flow field                       |
// |---------------------------------------------------|----------------------------------|
// | flowStart/EndSeconds, flowStart/EndMilliseconds   | start_ts / end_ts                |
// | flowEndReason                                     | end_reason                       |
// | source/destinationIPv4/IPv6Address                | ip.{version,source,destination}  |
// | ports, protocolIdentifier, tcpState               | transport.*, transport.TCP       |
// | packet/octet Total/Delta counts, reverse...       | stats.*, reverse_stats.*         |
// | Pod, Node, Service, policy, egress elements       | k8s.* (UUIDs as canonical text)  |
// | sourcePodLabels / destinationPodLabels (JSON)     | k8s.*_pod_labels ("" = absent)   |
// | destinationClusterIP / destinationServiceIP       | k8s.destination_{cluster,service}_ip |
// | proxySnatIP, proxySnatPort                        | proxy_snat_ip, proxy_snat_port   |
// | originalExporterIPv4/IPv6Address, originalODID    | ipfix.exporter_ip,
// ipfix.observation_domain_id | | flowDirection                                     |
// flow_direction                   | | *FromSourceNode / *FromDestinationNode, throughput|
// aggregation.*                    |

#include "ipfix/record.hpp"
#include "ipfix/template.hpp"
#include "rpc/proto.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace fa::rpc {

class flow_decoder {
 public:
  /// Prepares the mapping of `def`'s fields; once per template, not per record.
  explicit flow_decoder(const ipfix::template_def& def);

  /// Fills `out` (cleared first) from one record of the template. A record the layout
  /// cannot walk leaves what was read before the fault.
  void decode(ipfix::bytes_view record, pb::Flow& out) const;

 private:
  ipfix::record_layout layout_;
  std::vector<std::uint8_t> slots_; ///< per field: what it fills (0 = nothing)
};

/// Parses the label JSON of sourcePodLabels/destinationPodLabels (a flat object of
/// strings, as Go's encoding/json writes a map[string]string) into `out`. False for
/// anything else (then `out` holds what was read).
bool parse_labels(std::string_view json, pb::Labels& out);

} // namespace fa::rpc
