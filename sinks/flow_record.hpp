#pragma once

// The Antrea flow columns of a data record: which element fills each column of Antrea's
// ClickHouse `flows` table (reference antrea-clickhouse-export.md 2.2) and of its flow
// log (antrea-grpc-transport.md 6.1), found by element name once per template and read
// per record without a copy. Shared by the ClickHouse rows and the flow-log lines.
//
// Proxy-mode records carry the agent's elements only: the aggregation columns (per-Node
// end times, throughputs) read 0 there. Aggregate-mode records carry those elements by
// their Antrea names (flowEndSecondsFromSourceNode, throughput, ...), and the same plan
// fills the columns from them with no change here.

#include "ipfix/record.hpp"
#include "ipfix/wire.hpp"

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fa::sinks {

/// Every column either destination writes, in the order of Antrea's INSERT (2.2), then
/// destinationServiceIP, which only the flow log has.
enum class column : std::uint8_t {
  flow_start_seconds,
  flow_end_seconds,
  flow_end_seconds_from_source_node,
  flow_end_seconds_from_destination_node,
  flow_end_reason,
  source_ip,
  destination_ip,
  source_transport_port,
  destination_transport_port,
  protocol_identifier,
  packet_total_count,
  octet_total_count,
  packet_delta_count,
  octet_delta_count,
  reverse_packet_total_count,
  reverse_octet_total_count,
  reverse_packet_delta_count,
  reverse_octet_delta_count,
  source_pod_name,
  source_pod_namespace,
  source_node_name,
  destination_pod_name,
  destination_pod_namespace,
  destination_node_name,
  destination_cluster_ip,
  destination_service_port,
  destination_service_port_name,
  ingress_network_policy_name,
  ingress_network_policy_namespace,
  ingress_network_policy_rule_name,
  ingress_network_policy_rule_action,
  ingress_network_policy_type,
  egress_network_policy_name,
  egress_network_policy_namespace,
  egress_network_policy_rule_name,
  egress_network_policy_rule_action,
  egress_network_policy_type,
  tcp_state,
  flow_type,
  source_pod_labels,
  destination_pod_labels,
  throughput,
  reverse_throughput,
  throughput_from_source_node,
  throughput_from_destination_node,
  reverse_throughput_from_source_node,
  reverse_throughput_from_destination_node,
  cluster_uuid,
  egress_name,
  egress_ip,
  egress_node_name,
  destination_service_ip,
};

inline constexpr std::size_t column_count =
    static_cast<std::size_t>(column::destination_service_ip) + 1;

/// The ClickHouse type of a column; every one exists in 18.16 (reference 4.3).
enum class column_type : std::uint8_t { date_time, uint8, uint16, uint64, string };

struct column_info {
  std::string_view name; ///< the upstream column name ("flowStartSeconds")
  column_type type;
};

const column_info& info(column c);

/// The 51 columns of Antrea's INSERT into `flows`, in its order (reference 2.1, 2.2).
std::span<const column> clickhouse_columns();

/// Where each column's value lies in the records of one template, and how to read it.
/// Built once per template.
class flow_plan {
 public:
  explicit flow_plan(const ipfix::template_def& def);

  const ipfix::record_layout& layout() const { return layout_; }

  /// How a column's value is read from its field.
  enum class read : std::uint8_t {
    absent,       ///< the template has no element for the column
    uint,         ///< an unsigned integer, any reduced size (RFC 7011 6.2)
    milliseconds, ///< dateTimeMilliseconds, as whole seconds
    ntp,          ///< dateTimeMicro/Nanoseconds (RFC 7011 6.1.9, 6.1.10), as Unix seconds
    text,         ///< a string element, as sent
    address,      ///< an ipv4Address or ipv6Address element, printed as text
    address_text, ///< a string holding an address (egressIP), printed again as text
  };

  /// A column's field and where its value lies: a variable-length field is the
  /// `var`-th of the record's variable-length values; a fixed one starts `offset` octets
  /// after the end of the `var`-th (or after the record start when `var` is -1). The
  /// same rule as `ipfix::record_layout::located`, kept here so that a row reads it
  /// from one place.
  struct source {
    std::int32_t field = -1; ///< index into the template's fields
    read how = read::absent;
    bool variable = false;
    std::int16_t var = -1;
    std::uint16_t offset = 0;
    std::uint16_t length = 0;
  };

  const source& at(column c) const { return sources_[static_cast<std::size_t>(c)]; }

 private:
  ipfix::record_layout layout_;
  std::array<source, column_count> sources_{};
};

/// One record of a plan's template, read column by column. Allocates only while its
/// buffers grow (at most once per template shape); reuse one view for many records.
class flow_view {
 public:
  /// `cluster_uuid` is the clusterUUID column: the flow-aggregator's cluster identity
  /// (reference 2.3: not from the record).
  explicit flow_view(std::string cluster_uuid = {});

  /// Calls `f(const flow_view&)` for each record of a data set body of the plan's
  /// template, in order. Stops at padding (RFC 7011 3.3.1) or at a record that does not
  /// fit the body; returns the number of records visited. `varlen`, when not empty, is
  /// where the records' variable-length values lie (`num_varlen` per record, handed
  /// over by the enricher: enriched_payload): the records are then read without a walk.
  template <class F>
  std::size_t for_each(const flow_plan& plan, ipfix::bytes_view body, F&& f,
                       std::span<const ipfix::field_slice> varlen = {});

  /// Integer and DateTime columns: the value (Unix seconds for DateTime), truncated to
  /// the column's width as Antrea does (reference 2.2); 0 when the record lacks it.
  std::uint64_t number(column c) const;

  /// String columns: the text, addresses as Go's `net.IP.String()` prints them (dotted
  /// IPv4, RFC 5952 IPv6, an IPv4-mapped IPv6 address as IPv4; reference 2.3); "" when
  /// the record lacks it, and for an all-zero Service or cluster IP. The view points into
  /// the record or into this view's scratch buffer, valid until the next call.
  std::string_view text(column c) const;

  /// The record bound now.
  ipfix::bytes_view record() const { return record_; }
  /// The value of a column's field in the record (`src` from the bound plan).
  ipfix::bytes_view value(const flow_plan::source& src) const {
    if (src.variable) {
      const auto& s = varlen_[static_cast<std::size_t>(src.var)];
      return record_.subspan(s.offset, s.length);
    }
    std::size_t base = 0;
    if (src.var >= 0) {
      const auto& s = varlen_[static_cast<std::size_t>(src.var)];
      base = std::size_t{s.offset} + s.length;
    }
    return record_.subspan(base + src.offset, src.length);
  }

 private:
  const flow_plan* plan_ = nullptr;
  ipfix::bytes_view record_;
  std::span<const ipfix::field_slice> varlen_; ///< the bound record's, in `walked_` or given
  std::vector<ipfix::field_slice> walked_;
  std::string cluster_uuid_;
  mutable std::string scratch_;
};

/// Appends an address (4 or 16 octets) as Go's `net.IP.String()` prints it: dotted IPv4,
/// RFC 5952 IPv6, an IPv4-mapped IPv6 address as IPv4 (reference 2.3).
void append_go_ip(std::string& out, ipfix::bytes_view v);

/// A field's value as a column's number: an unsigned integer of any reduced size, with
/// milliseconds and NTP times as Unix seconds; 0 for an empty or too long value. Inline:
/// it runs for every number of every row.
inline std::uint64_t convert(flow_plan::read how, ipfix::bytes_view v) {
  if (v.empty() || v.size() > 8)
    return 0;
  auto n = ipfix::read_uint(v.data(), v.size());
  if (how == flow_plan::read::milliseconds)
    return n / 1000;
  if (how == flow_plan::read::ntp) {
    // RFC 7011 6.1.9: seconds since 1900 in the high 32 bits.
    constexpr std::uint64_t ntp_to_unix = 2208988800;
    auto seconds = n >> 32;
    return seconds >= ntp_to_unix ? seconds - ntp_to_unix : 0;
  }
  return n;
}

/// `v` cut to the width of a column of type `t`, as Antrea's Go code truncates (reference
/// 2.2: ports to 16 bits, protocol to 8; DateTime is 32 bits on the wire).
inline std::uint64_t truncate(column_type t, std::uint64_t v) {
  switch (t) {
  case column_type::uint8:
    return v & 0xff;
  case column_type::uint16:
    return v & 0xffff;
  case column_type::date_time:
    return v & 0xffffffff;
  default:
    return v;
  }
}

template <class F>
std::size_t flow_view::for_each(const flow_plan& plan, ipfix::bytes_view body, F&& f,
                                std::span<const ipfix::field_slice> varlen) {
  const auto& layout = plan.layout();
  plan_ = &plan;
  const std::size_t nv = layout.num_varlen();
  if (walked_.size() < nv)
    walked_.resize(nv);
  const bool given = nv > 0 && !varlen.empty();
  std::size_t pos = 0, n = 0;
  const std::size_t min = std::max<std::size_t>(layout.min_length(), 1);
  while (body.size() - pos >= min) {
    std::size_t len = 0;
    if (given) {
      if ((n + 1) * nv > varlen.size())
        break;
      varlen_ = varlen.subspan(n * nv, nv);
      len = layout.length_of(varlen_, body.size() - pos);
    } else {
      ipfix::parse_error err = ipfix::parse_error::none;
      len = layout.walk_varlen(body.subspan(pos), walked_, err);
      varlen_ = walked_;
    }
    if (len == 0)
      break;
    record_ = body.subspan(pos, len);
    f(static_cast<const flow_view&>(*this));
    pos += len;
    ++n;
  }
  return n;
}

} // namespace fa::sinks
