#pragma once

// What an aggregator shard (mode = "aggregate", DESIGN 9) reports for inspection: its
// status, and pages of the flows it holds (/api/v1/flows, `inspect flows`). Plain
// values, built once per request, never per record.

#include <cstdint>
#include <string>
#include <vector>

namespace fa::messages {

struct aggregator_status {
  std::uint32_t shard = 0;
  std::uint64_t max_flows = 0;   ///< this shard's share of aggregate.max_flows
  std::uint64_t flows = 0;       ///< in the table, pending included
  std::uint64_t pending = 0;     ///< waiting for the other Node's record
  std::uint64_t state_bytes = 0; ///< estimated octets of flow state
  std::uint64_t batches = 0;
  std::uint64_t records_in = 0; ///< every record received
  std::uint64_t forwarded = 0;  ///< records of templates that cannot be aggregated, sent on
  std::uint64_t created = 0;
  std::uint64_t correlated = 0;
  std::uint64_t out_of_date = 0;
  std::uint64_t malformed = 0;
  /// Records exported, by reason (flows::export_reason order: ready, active, inactive,
  /// evicted, shutdown, uncorrelated).
  std::vector<std::uint64_t> exports;
  std::uint64_t unchanged = 0; ///< exports skipped: nothing new (HEAD #8278)
  std::uint64_t expired = 0;
  std::uint64_t evicted = 0;
  std::uint64_t uncorrelated_exported = 0;
  std::uint64_t uncorrelated_dropped = 0;
  std::uint64_t too_large = 0;   ///< aggregated records larger than a destination's set
  std::uint64_t records_out = 0; ///< aggregated records routed to the destinations
  std::uint64_t payloads_out = 0;
};

/// Which flows to list: `ip` (text, "" = any) as the key's source or destination, `port`
/// (-1 = any) as its source or destination port, at most `limit`.
struct flow_query {
  std::string ip;
  std::int32_t port = -1;
  std::uint32_t limit = 100;
};

/// One flow as inspection shows it.
struct flow_row {
  std::uint32_t shard = 0;
  std::string source;      ///< address text
  std::string destination; ///< address text
  std::uint16_t source_port = 0;
  std::uint16_t destination_port = 0;
  std::uint8_t protocol = 0;
  std::uint8_t flow_type = 0;
  std::string state;           ///< "pending" (waiting for the other Node), "correlated", "single"
  std::string source_pod;      ///< namespace/name, "" when unknown
  std::string destination_pod; ///< namespace/name, "" when unknown
  std::uint64_t packets = 0;   ///< packetTotalCount
  std::uint64_t octets = 0;    ///< octetTotalCount
  std::uint64_t reverse_packets = 0;
  std::uint64_t reverse_octets = 0;
  std::uint64_t idle_ms = 0; ///< since its last record
};

struct flow_page {
  std::vector<flow_row> flows;
  bool more = false; ///< more flows matched than `limit`
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, aggregator_status& x) {
  return f(x.shard, x.max_flows, x.flows, x.pending, x.state_bytes, x.batches, x.records_in,
           x.forwarded, x.created, x.correlated, x.out_of_date, x.malformed, x.exports, x.unchanged,
           x.expired, x.evicted, x.uncorrelated_exported, x.uncorrelated_dropped, x.too_large,
           x.records_out, x.payloads_out);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, flow_query& x) {
  return f(x.ip, x.port, x.limit);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, flow_row& x) {
  return f(x.shard, x.source, x.destination, x.source_port, x.destination_port, x.protocol,
           x.flow_type, x.state, x.source_pod, x.destination_pod, x.packets, x.octets,
           x.reverse_packets, x.reverse_octets, x.idle_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, flow_page& x) {
  return f(x.flows, x.more);
}

} // namespace fa::messages
