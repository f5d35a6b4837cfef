#pragma once

// What the flow table needs to know about one enriched template, computed once per
// template (never per record), and the aggregate output template it exports with
// (antrea-aggregate-semantics.md, referred to as "reference" below).
//
// An enriched template is the agent's template followed by the fields the enricher
// appended (actors/template_planner.cpp): sourcePodLabels, destinationPodLabels,
// clusterId, 405, 403, 404, flowDirection, each optional. The aggregate output template
// is the agent's fields in the agent's order, then the 24 aggregation elements in the
// order the template of v2.3 and v2.7 announces (reference f.1, f.2; never the value
// order v2.4-v2.6 wrote, f.3), then the appended fields.
//
// Provenance of a merged record (403/404/405) and its flowDirection (61): Antrea's
// aggregate mode has neither. A record merged from two exporters keeps them, and they
// describe the **source Node's** observation: when the source Node's record is merged
// into a flow the destination Node's record created, its 403/404/405/61 replace the
// stored ones. So a correlated inter-Node flow names the source Node's exporter with
// flowDirection 1 (egress) whatever the arrival order, and a flow only one Node reported
// names that Node. For the ingress half of a FromExternal flow (reference a) the ingress
// Node counts as the source Node (reference b).

#include "flows/flow_key.hpp"
#include "ipfix/record.hpp"
#include "ipfix/template.hpp"
#include "messages/output_template.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace fa::flows {

/// Index of a field in a template, or -1 when the template lacks it.
using field_index = std::int16_t;

/// Antrea's enumerations (reference b).
namespace flow_type {
constexpr std::uint8_t intra_node = 1;
constexpr std::uint8_t inter_node = 2;
constexpr std::uint8_t to_external = 3;
constexpr std::uint8_t from_external = 4;
} // namespace flow_type

namespace rule_action {
constexpr std::uint8_t drop = 2;
constexpr std::uint8_t reject = 3;
} // namespace rule_action

namespace end_reason {
constexpr std::uint8_t end_of_flow = 3; ///< sticky once set (reference d.3 step 4)
} // namespace end_reason

/// The eight counters of a record and of each Node side, in the order of the per-Node
/// element ids: the source side's element is 56506/(120 + counter), the destination
/// side's 56506/(128 + counter) (reference d.1). The record's own ("common") counters
/// are the IANA elements 86, 85, 2, 1 and their reverse (PEN 29305) forms.
enum counter : std::uint8_t {
  packet_total,
  octet_total,
  packet_delta,
  octet_delta,
  reverse_packet_total,
  reverse_octet_total,
  reverse_packet_delta,
  reverse_octet_delta,
};
constexpr std::size_t num_counters = 8;

/// An element of the template and where the template has it.
struct element_ref {
  std::uint32_t enterprise = 0;
  std::uint16_t id = 0;
  field_index index = -1;
};

/// The index of element (enterprise, id) in `refs`, or -1.
field_index find_element(std::span<const element_ref> refs, std::uint32_t enterprise,
                         std::uint16_t id);

/// The layout of one enriched template for the flow table. A plain struct, like
/// `messages::template_plan`: built by `make_aggregate_layout`, then shared immutable.
struct aggregate_layout {
  ipfix::template_def input; ///< the enriched template (its id is not used)
  ipfix::record_layout record;
  std::size_t agent_fields = 0; ///< fields before the enricher's appended fields
  /// The aggregate output template: agent fields, `aggregation_specs()`, appended fields.
  /// Its id is 0: the user interns it and stores the result in `output_template`.
  ipfix::template_def output;
  messages::output_template_ptr output_template;

  /// Whether records of this template are aggregated; when false `why_not` says why and
  /// the records are forwarded as they are.
  bool aggregatable = false;
  std::string_view why_not;

  field_index source_ipv4 = -1;
  field_index destination_ipv4 = -1;
  field_index source_ipv6 = -1;
  field_index destination_ipv6 = -1;
  field_index source_port = -1;
  field_index destination_port = -1;
  field_index protocol = -1;
  field_index flow_type = -1;
  field_index flow_start_seconds = -1;
  field_index flow_start_milliseconds = -1;
  field_index flow_end_seconds = -1;
  field_index flow_end_milliseconds = -1;
  field_index flow_end_reason = -1;
  field_index tcp_state = -1;
  std::array<field_index, num_counters> counters{-1, -1, -1, -1, -1, -1, -1, -1};
  field_index ingress_rule_action = -1;
  field_index egress_rule_action = -1;
  field_index source_pod_name = -1;
  field_index destination_pod_name = -1;
  field_index proxy_snat_ipv4 = -1;
  field_index proxy_snat_ipv6 = -1;
  field_index proxy_snat_port = -1;

  /// Per field of `input`, where a fixed-size field lies in a received record: bits
  /// 16-31 the rank + 1 of the variable-length value it follows (0: the record start),
  /// bits 0-15 its distance from that value's end (0 for variable-length fields).
  /// `record_layout::located` finds the same through three tables; `record_key` and the
  /// flow table's `parse` read some 25 fixed-size fields of every record, and those
  /// lookups were most of their instructions (issue 11, cachegrind).
  std::vector<std::uint32_t> fixed_places;

  /// The first octet of fixed-size field `i` of `record`, whose variable-length values
  /// are `varlen`: `record + record.located(i, varlen).offset`.
  const std::uint8_t* fixed_at(field_index i, const std::uint8_t* record,
                               const ipfix::field_slice* varlen) const {
    const std::uint32_t p = fixed_places[static_cast<std::size_t>(i)];
    const std::uint32_t after = p >> 16;
    std::size_t base = 0;
    if (after != 0)
      base = std::size_t{varlen[after - 1].offset} + varlen[after - 1].length;
    return record + base + (p & 0xffff);
  }

  /// Fields copied from the other Node's record at correlation, when set there
  /// (reference c, HEAD's list), plus the two label fields: the enricher looks labels up
  /// per record, so the second half may carry labels the first lacked.
  std::vector<element_ref> correlated;
  /// Fields a FromExternal ingress half gives the stored record (reference c, HEAD
  /// extra step): source address and port, proxy SNAT address and port, flowType.
  std::vector<element_ref> from_external;
  /// 403, 404, 405 and flowDirection: taken from the source Node's record (header).
  std::vector<element_ref> source_observation;

  // The stored form of a record (flow_table.hpp): the fixed-size fields in template
  // order, `fixed_size` octets at fixed offsets (so updating one costs no walk); the
  // variable-length fields but tcpState, each with its shortest prefix (RFC 7011 7), in
  // template order, as one string (shared through a string_pool); tcpState's value apart,
  // as it changes during a flow's life and the rest hardly ever does.

  std::size_t fixed_size = 0;
  /// Per field: its offset in the fixed area, or -1 for a variable-length field.
  std::vector<std::int32_t> compact_offsets;
  /// Per field: its rank in the strings, or -1 (fixed-size fields, tcpState).
  std::vector<std::int16_t> string_ranks;
  std::size_t num_strings = 0;
  /// tcpState is a variable-length field, kept apart (a fixed-size one is a fixed field).
  bool tcp_state_apart = false;
  /// The record varlen rank of tcpState when kept apart (`record_layout::walk_varlen`).
  std::int16_t tcp_state_rank = -1;

  /// A run of fixed-size fields in a received record: it starts where variable-length
  /// value `after` ends (-1: at the record start) and spans `length` octets. The runs in
  /// order make up the fixed area.
  struct fixed_run {
    std::int16_t after = -1;
    std::uint16_t length = 0;
  };
  std::vector<fixed_run> fixed_runs;

  /// One piece of the aggregate output record, in order (flow_encoder).
  struct segment {
    enum kind_type : std::uint8_t { fixed, strings, tcp_state, aggregation };
    kind_type kind = fixed;
    std::uint16_t offset = 0; ///< fixed: in the fixed area
    std::uint16_t count = 0;  ///< fixed: octets; strings: values
  };
  std::vector<segment> segments;
};

using aggregate_layout_ptr = std::shared_ptr<const aggregate_layout>;

/// The 24 aggregation elements (PEN 56506) in the order of the v2.3 / v2.7 template:
/// 123, 131, 121, 129, 122, 130, 120, 128, 127, 135, 125, 133, 126, 134, 124, 132, 151,
/// 152, 145, 147, 148, 146, 149, 150 (reference f.1 rows 43-66).
std::span<const ipfix::field_spec> aggregation_specs();

/// Octets of the aggregation elements in a record: 16 counters, 2 times, 6 throughputs.
constexpr std::size_t aggregation_block_size = 16 * 8 + 2 * 4 + 6 * 8;

/// Where the enricher's appended fields start in `enriched`: the longest suffix of
/// fields that are, in order, a subsequence of sourcePodLabels, destinationPodLabels,
/// clusterId, 405, 403, 404, flowDirection (template_planner's appended order).
std::size_t appended_start(const ipfix::template_def& enriched);

/// The layout of `enriched`, whose first `agent_fields` fields are the agent's.
/// Always returns a layout; `aggregatable` is false (with `why_not`) for options
/// templates, templates without Antrea elements, templates that already carry
/// aggregation elements, templates missing the key, flowType, flowStart or flowEnd, with
/// a reduced-size counter (RFC 7011 6.2: the sums would not fit), or whose output
/// template would not fit a message.
std::shared_ptr<aggregate_layout> make_aggregate_layout(const ipfix::template_def& enriched,
                                                        std::size_t agent_fields);

/// The flow key of `record`, a record of the aggregatable layout `l` whose
/// variable-length values `walk_varlen` found (`varlen`), by reference a. The ingress
/// half of an inter-Node FromExternal flow is keyed on its proxy SNAT address and port
/// (`*ingress_half` says so): whatever routes records to flow tables (an enricher
/// picking an aggregator shard) must use this key, or the two halves part.
flow_key record_key(const aggregate_layout& l, ipfix::bytes_view record,
                    std::span<const ipfix::field_slice> varlen, bool* ingress_half = nullptr);

/// Writes the stored form of `record`, a record of `l` whose variable-length values
/// `walk_varlen` found (`varlen`): the fixed area to `fixed` (`l.fixed_size` octets), the
/// strings appended to `strings`; `tcp_state` gets tcpState's value when kept apart.
void compact_record(const aggregate_layout& l, ipfix::bytes_view record,
                    std::span<const ipfix::field_slice> varlen, std::uint8_t* fixed,
                    std::vector<std::uint8_t>& strings, ipfix::bytes_view& tcp_state);

/// The value of the string of rank `rank` in the strings of a stored record.
ipfix::bytes_view string_value(ipfix::bytes_view strings, std::size_t rank);

/// Octets of the first `count` values of `strings`, prefixes included.
std::size_t strings_length(ipfix::bytes_view strings, std::size_t count);

/// The same with `agent_fields = appended_start(enriched)`.
std::shared_ptr<aggregate_layout> make_aggregate_layout(const ipfix::template_def& enriched);

} // namespace fa::flows
