#pragma once

// What an enricher needs to know about one input template, computed once per template
// by the agent session (DESIGN 2), never per record.

#include "ipfix/record.hpp"
#include "ipfix/template.hpp"
#include "messages/output_template.hpp"

#include <cstdint>
#include <memory>

namespace fa::messages {

/// Which fields the output template appends after the input fields, in Antrea's order
/// (antrea-proxy-semantics.md 2 step 4).
struct appended_fields {
  bool pod_labels = false;     ///< sourcePodLabels, destinationPodLabels
  bool cluster_id = false;     ///< clusterId
  bool original_odid = false;  ///< originalObservationDomainId (405)
  bool original_ipv4 = false;  ///< originalExporterIPv4Address (403)
  bool original_ipv6 = false;  ///< originalExporterIPv6Address (404)
  bool flow_direction = false; ///< flowDirection (61)
  bool any() const {
    return pod_labels || cluster_id || original_odid || original_ipv4 || original_ipv6 ||
           flow_direction;
  }
};

/// Index of a field in the input template, or -1 when the template lacks it.
using field_index = std::int16_t;

struct template_plan {
  std::uint32_t odid = 0; ///< the ODID of the received messages this template belongs to
  ipfix::template_def input;
  ipfix::record_layout layout;
  output_template_ptr output;
  appended_fields append;
  /// Antrea semantics apply (the template carries PEN 56506 elements): address and
  /// time validation, flowDirection, Pod label lookups (antrea-proxy-semantics.md 2).
  bool antrea = false;

  field_index source_ipv4 = -1;
  field_index destination_ipv4 = -1;
  field_index source_ipv6 = -1;
  field_index destination_ipv6 = -1;
  field_index flow_start_seconds = -1;
  field_index flow_start_milliseconds = -1;
  field_index flow_type = -1;
  field_index source_pod_name = -1;
  field_index source_pod_namespace = -1;
  field_index source_node_name = -1;
  field_index destination_pod_name = -1;
  field_index destination_pod_namespace = -1;
  field_index destination_node_name = -1;
};

using template_plan_ptr = std::shared_ptr<const template_plan>;

} // namespace fa::messages
