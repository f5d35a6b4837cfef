#pragma once

// Deterministic IPFIX content for the load generator, the test collector and the
// integration tests. Every field of every record is a pure function of
// (seed, odid, index), so a receiver can regenerate what was sent and compare it byte
// for byte, even after a mediator appended fields to the record.

#include "ipfix/template.hpp"
#include "ipfix/wire.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fa::tools {

/// The templates the load generator can send.
enum class template_kind : std::uint8_t {
  antrea_v4, ///< the 42-element Antrea agent template, IPv4 family
  antrea_v6, ///< the 42-element Antrea agent template, IPv6 family
  minimal,   ///< 10 fixed-length IANA elements (45 octets per record)
};

/// "antrea-v4", "antrea-v6" or "minimal".
std::string_view to_string(template_kind k);

/// Parses the text form of `to_string`; nullopt for anything else.
std::optional<template_kind> parse_template_kind(std::string_view text);

/// The template definition for `kind` with template id `id` (>= 256).
ipfix::template_def make_template(template_kind kind, std::uint16_t id);

/// Appends one encoded data record for (seed, odid, index) to `out`. Every field is a
/// pure function of the three values; packetTotalCount (IANA 86) is `index + 1`, which
/// is how a receiver recovers the index. Allocates nothing beyond `out`'s growth.
void append_record(template_kind kind, std::uint64_t seed, std::uint32_t odid, std::uint64_t index,
                   std::vector<std::uint8_t>& out);

/// The same record written to raw memory: `dst` must have room for
/// `max_record_size(kind)` octets. Returns the octets written. The load generator uses
/// it to build messages in place.
std::size_t write_record(template_kind kind, std::uint64_t seed, std::uint32_t odid,
                         std::uint64_t index, std::uint8_t* dst);

/// Aggregate-mode content (`ipfix-loadgen --pairs F`, issue 11): inter-Node flows, each
/// reported by the source Node and by the destination Node, from two sessions. Session
/// `s` (ODID `odid_base + s`) plays the source Node of pair `s / 2` when `s` is even and
/// its destination Node when odd; pair `p` owns flows `p * flows` .. `p * flows +
/// flows - 1`. A session's record `index` is flow `index % flows` in round `index /
/// flows`: each round a side's counters grow by `pair_delta`, and its totals are the sum
/// of its deltas so far, so a mediator's exported deltas must add up to them.
struct pair_content {
  std::uint64_t flows = 0; ///< flows per pair (> 0)
  std::uint32_t odid_base = 1000;
};

/// Writes the record `index` of the session with `odid` (room as for write_record) as
/// an antrea-v4 or antrea-v6 (`kind`) record of the pair content.
std::size_t write_pair_record(template_kind kind, const pair_content& c, std::uint64_t seed,
                              std::uint32_t odid, std::uint64_t index, std::uint8_t* dst);

/// What one Node counted of a pair flow: forward and reverse packets and octets.
struct pair_counts {
  std::uint64_t packets = 0;
  std::uint64_t octets = 0;
  std::uint64_t reverse_packets = 0;
  std::uint64_t reverse_octets = 0;
};

/// The counts the source (`source_node`) or destination Node of `flow` reports in
/// `round` alone (the deltas of its record of that round).
pair_counts pair_delta(std::uint64_t seed, std::uint64_t flow, bool source_node,
                       std::uint64_t round);

/// The totals after `rounds` rounds: the sum of the first `rounds` deltas.
pair_counts pair_totals(std::uint64_t seed, std::uint64_t flow, bool source_node,
                        std::uint64_t rounds);

/// The flow number of a pair record from its source address (4 or 16 octets), or
/// nullopt when the address is not one pair content uses.
std::optional<std::uint64_t> pair_flow_of(ipfix::bytes_view source_address);

/// An upper bound of the octets one record of `kind` takes, for sizing messages.
std::size_t max_record_size(template_kind kind);

/// Offset of octetDeltaCount (IANA 1, 8 octets) inside every record of `kind`; it lies
/// before any variable-length field, so the offset is fixed. `ipfix-loadgen --stamp`
/// writes the send time there.
std::size_t octet_delta_offset(template_kind kind);

/// Offset of packetTotalCount (IANA 86, 8 octets) inside every record of `kind`.
std::size_t packet_total_offset(template_kind kind);

/// What `verify_record` needs to know about one received template; build it once per
/// template, not per record.
struct verify_plan {
  bool matched = false; ///< some loadgen template is a prefix of the received one
  template_kind kind = template_kind::minimal;
  std::size_t prefix_fields = 0; ///< fields of the loadgen template
  ipfix::template_def received;
  // Indexes into `received.fields` of the fields the mediator appends (-1: absent).
  int original_odid = -1;  ///< originalObservationDomainId (405)
  int exporter_v4 = -1;    ///< originalExporterIPv4Address (403)
  int exporter_v6 = -1;    ///< originalExporterIPv6Address (404)
  int cluster_id = -1;     ///< Antrea clusterId (56506/158)
  int flow_direction = -1; ///< flowDirection (61)
};

/// Finds the loadgen template whose fields are a prefix of `received`'s fields (the
/// template id does not matter: a mediator remaps ids).
verify_plan make_verify_plan(const ipfix::template_def& received);

struct verify_result {
  bool matched = false; ///< the template is a loadgen template (possibly with appended fields)
  bool ok = false;      ///< matched, and the prefix equals the regenerated record
  template_kind kind = template_kind::minimal;
  std::uint32_t odid = 0;        ///< 405 when the template has it, else the header ODID
  std::uint64_t index = 0;       ///< packetTotalCount - 1
  std::uint64_t octet_delta = 0; ///< the received octetDeltaCount (the stamp with --stamp)
  std::string mismatch;          ///< why not ok: names the first field that differs
  // Appended fields, when the template has them and they decode.
  std::optional<std::uint32_t> original_odid;
  std::optional<std::array<std::uint8_t, 4>> exporter_v4;
  std::optional<std::array<std::uint8_t, 16>> exporter_v6;
  std::optional<std::string_view> cluster_id; ///< points into the record
  std::optional<std::uint8_t> flow_direction;
};

/// Regenerates the record for (seed, odid, index) and compares the received record's
/// prefix with it byte for byte. `record` is one data record of `plan.received`;
/// `header_odid` the ODID of the message that carried it. With `skip_octet_delta` the
/// octetDeltaCount field is not compared (it carries a timestamp with --stamp).
/// Allocates only to describe a mismatch.
verify_result verify_record(const verify_plan& plan, ipfix::bytes_view record,
                            std::uint32_t header_odid, std::uint64_t seed,
                            bool skip_octet_delta = false);

/// Convenience form: builds the plan on each call.
verify_result verify_record(const ipfix::template_def& received, ipfix::bytes_view record,
                            std::uint32_t header_odid, std::uint64_t seed,
                            bool skip_octet_delta = false);

} // namespace fa::tools
