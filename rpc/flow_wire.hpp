#pragma once

// Antrea's ExportRequest read straight from the protobuf wire format (protobuf's
// "Encoding" spec: varint, I64, LEN and I32 records keyed by field number and wire type)
// into views of the request's own octets. The fields a Flow's record needs
// (rpc/flow_codec.hpp) are read; everything else is skipped unread. Parsing into
// protobuf's generated messages cost a quarter of gRPC input's CPU (README, "gRPC in"):
// a message object per sub-message and a copy, often a malloc, per string.
//
// Protobuf's semantics are kept where they decide what a record holds: the last value
// of a repeated scalar or string wins, repeated sub-messages merge, uint32 fields keep the
// low 32 bits of their varint, enums keep their int32 value (proto3 enums are open), a
// sub-message that is present but empty counts as present. Its parser's limits are kept
// too: keys and lengths of at most five octets (a key's bits beyond 32 dropped), unknown
// groups skipped within its recursion limit. The strings that become record fields must
// be valid UTF-8, as protobuf requires of proto3 strings; the skipped fields (Flow.id,
// ipfix.exporter_ip, Pod labels, app, aggregation) are not checked, so octets protobuf
// refuses only there are read (test/fuzz/fuzz_export_request checks the rest).
//
// A Flow as protobuf's encoders write it (each field once, in field-number order) is read
// by a fast path that compares each next key with the one expected; any other form is
// read afresh by the general reader, which alone decides what is refused.

#include "rpc/proto.hpp"

#include <cstdint>
#include <string_view>

namespace fa::rpc {

struct wire_stats {
  std::uint64_t packet_total = 0;
  std::uint64_t packet_delta = 0;
  std::uint64_t octet_total = 0;
  std::uint64_t octet_delta = 0;
};

struct wire_timestamp {
  bool present = false;
  std::int64_t seconds = 0;
};

/// What one Flow's record is made of; the views point into the serialized request.
struct flow_fields {
  wire_timestamp start_ts, end_ts;
  std::int32_t end_reason = 0;
  // ipfix
  wire_timestamp export_time;
  std::uint32_t observation_domain_id = 0;
  // ip
  std::int32_t ip_version = 0;
  std::string_view ip_source, ip_destination;
  // transport
  std::uint32_t protocol_number = 0;
  std::uint32_t source_port = 0;
  std::uint32_t destination_port = 0;
  std::string_view tcp_state_name;
  wire_stats stats, reverse_stats;
  // k8s
  std::int32_t flow_type = 0;
  std::string_view source_pod_namespace, source_pod_name, source_pod_uid;
  std::string_view source_node_name, source_node_uid;
  std::string_view destination_pod_namespace, destination_pod_name, destination_pod_uid;
  std::string_view destination_node_name, destination_node_uid;
  std::string_view destination_cluster_ip;
  std::uint32_t destination_service_port = 0;
  std::string_view destination_service_port_name, destination_service_uid;
  std::int32_t ingress_network_policy_type = 0;
  std::string_view ingress_network_policy_namespace, ingress_network_policy_name;
  std::string_view ingress_network_policy_uid, ingress_network_policy_rule_name;
  std::int32_t ingress_network_policy_rule_action = 0;
  std::int32_t egress_network_policy_type = 0;
  std::string_view egress_network_policy_namespace, egress_network_policy_name;
  std::string_view egress_network_policy_uid, egress_network_policy_rule_name;
  std::int32_t egress_network_policy_rule_action = 0;
  std::string_view egress_name, egress_ip, egress_node_name, egress_node_uid, egress_uid;
  std::string_view destination_service_ip;
  // Flow
  std::string_view proxy_snat_ip;
  std::uint32_t proxy_snat_port = 0;
};

/// Reads one serialized Flow into `out` (which starts empty). False when the octets are
/// not a well-formed Flow. `limit`: where the buffer holding `bytes` ends (the request's
/// end, say), when past them: the reader may look ahead up to it, never parse past `bytes`.
bool parse_flow(std::string_view bytes, flow_fields& out, const char* limit = nullptr);

/// The serialized Flows of a serialized ExportRequest (field 1, repeated), in order.
class export_request_reader {
 public:
  explicit export_request_reader(std::string_view request)
      : rest_(request)
      , end_(request.data() + request.size()) {}
  /// The next Flow's octets into `flow`; false at the end or when `malformed()`.
  bool next(std::string_view& flow) {
    // Inline, as protobuf's encoders write a Flow of 128 .. 16383 octets (an Agent's are
    // some 200): key 1 LEN (0x0a), a two-octet length. Anything else (another length, an
    // unknown field, the end) is read by next_slow, which alone refuses.
    const auto* p = reinterpret_cast<const std::uint8_t*>(rest_.data());
    if (rest_.size() >= 3 && p[0] == 0x0a && p[1] >= 0x80 && p[2] < 0x80) {
      const std::size_t n = (p[1] & 0x7fu) | std::size_t{p[2]} << 7;
      if (n <= rest_.size() - 3) {
        flow = rest_.substr(3, n);
        rest_.remove_prefix(3 + n);
        return true;
      }
    }
    return next_slow(flow);
  }
  bool malformed() const { return malformed_; }
  /// Where the request ends: `parse_flow`'s limit for its Flows.
  const char* end() const { return end_; }

 private:
  bool next_slow(std::string_view& flow);

  std::string_view rest_;
  const char* end_;
  bool malformed_ = false;
};

/// The fields of a generated message (views into `f`), for tests and tools that build
/// Flows with protobuf's classes.
flow_fields fields_of(const pb::Flow& f);

} // namespace fa::rpc
