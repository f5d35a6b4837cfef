#pragma once

// The flow key of a received record as the proxy tier and the aggregator shards route
// by it (antrea-aggregate-semantics.md a, "reference" below), read per record at places
// computed once per template, and its hash. flows::record_key reads the same key field
// by field for the flow table; this reads it without assembling a flow_key, for
// flow_split's choice per record (DESIGN 9).

#include "base/hash.hpp"
#include "flows/aggregate_layout.hpp"
#include "flows/flow_key.hpp"
#include "ipfix/record.hpp"
#include "ipfix/wire.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace fa::actors {

/// The hash flow_split routes a flow by, from its key's words: each address as two
/// big-endian 64-bit words (IPv4 in IPv4-mapped form, so an IPv4 record and an IPv6 one
/// carrying the mapped address agree, as reference a's text keys do), then the ports and
/// protocol. Each word is multiplied by its own odd constant and the products summed, so
/// the five multiplications do not wait on each other, then mixed once (mix64): every
/// bit of the result depends on every bit of the key. The same on every platform and in
/// every process, so every proxy replica routes a flow alike.
inline std::uint64_t flow_hash(std::uint64_t source_hi, std::uint64_t source_lo,
                               std::uint64_t destination_hi, std::uint64_t destination_lo,
                               std::uint64_t ports_protocol) {
  return base::mix64(source_hi * 0x9e3779b97f4a7c15ULL + source_lo * 0xbf58476d1ce4e5b9ULL +
                     destination_hi * 0x94d049bb133111ebULL +
                     destination_lo * 0xff51afd7ed558ccdULL +
                     ports_protocol * 0xc4ceb9fe1a85ec53ULL);
}

/// The word of a key's ports and protocol in flow_hash.
inline std::uint64_t ports_word(std::uint16_t source, std::uint16_t destination,
                                std::uint8_t protocol) {
  return (std::uint64_t{source} << 24) | (std::uint64_t{destination} << 8) | protocol;
}

/// flow_hash of a key: what flow_key_reader::hash computes from a record's octets.
inline std::uint64_t flow_hash(const flows::flow_key& k) {
  return flow_hash(ipfix::read_u64(k.source.data()), ipfix::read_u64(k.source.data() + 8),
                   ipfix::read_u64(k.destination.data()), ipfix::read_u64(k.destination.data() + 8),
                   ports_word(k.source_port, k.destination_port, k.protocol));
}

/// Where a fixed-size field of a record is, given the variable-length values
/// record_layout::walk_varlen found: `rel` octets after the end of value `after`, or after
/// the record start when `after` is -1. Made once per template.
struct field_at {
  std::int16_t after = -1;
  std::uint16_t rel = 0;

  const std::uint8_t* in(const std::uint8_t* record,
                         std::span<const ipfix::field_slice> varlen) const {
    std::size_t base = 0;
    if (after >= 0) {
      const auto& v = varlen[static_cast<std::size_t>(after)];
      base = std::size_t{v.offset} + v.length;
    }
    return record + base + rel;
  }
};

/// How to read the flow key of one template's records (reference a) and hash it
/// (flow_hash), made once per template plan (flow_split::reader_of) from the template's
/// aggregate layout: the same key as flows::record_key, FromExternal ingress half
/// included, read at precomputed places (field_at) without assembling a flow_key.
struct flow_key_reader {
  /// Which address pair a record is keyed by: IPv4, IPv6, or (a template with both
  /// pairs) IPv4 unless both IPv4 addresses are 0.0.0.0.
  enum class family : std::uint8_t { v4, v6, v4_unless_zero };
  family addresses = family::v4;
  field_at source; ///< the IPv4 pair, or the IPv6 pair with family::v6
  field_at destination;
  field_at source6; ///< family::v4_unless_zero: the IPv6 pair
  field_at destination6;
  field_at source_port;
  field_at destination_port;
  field_at protocol;
  field_at type; ///< flowType
  /// The template has proxySnatPort: a FromExternal record may be an ingress half.
  bool snat = false;
  field_at snat_port;
  field_at snat_ipv4; ///< when `has_snat_ipv4`
  field_at snat_ipv6; ///< when `has_snat_ipv6`
  bool has_snat_ipv4 = false;
  bool has_snat_ipv6 = false;
  /// destinationPodName: the rank of its variable-length value, or -1 (then
  /// `destination_named` says whether a fixed-size one, or none, counts as named).
  std::int16_t destination_pod = -1;
  bool destination_named = false;

  /// The addresses of one family, the ports and the protocol all precede the first
  /// variable-length value (Antrea's templates): they are read at fixed offsets (`rel`).
  bool leading = false;

  /// flow_hash(flows::record_key(...)) of `record`, whose variable-length values
  /// walk_varlen found (`varlen`).
  std::uint64_t hash(const std::uint8_t* record, std::span<const ipfix::field_slice> varlen) const {
    key_words k;
    if (leading) {
      if (addresses == family::v4) {
        k.s_lo = mapped(ipfix::read_u32(record + source.rel));
        k.d_lo = mapped(ipfix::read_u32(record + destination.rel));
      } else {
        k.s_hi = ipfix::read_u64(record + source.rel);
        k.s_lo = ipfix::read_u64(record + source.rel + 8);
        k.d_hi = ipfix::read_u64(record + destination.rel);
        k.d_lo = ipfix::read_u64(record + destination.rel + 8);
      }
      k.source_port = ipfix::read_u16(record + source_port.rel);
      k.destination_port = ipfix::read_u16(record + destination_port.rel);
      k.protocol = record[protocol.rel];
    } else {
      read_placed(record, varlen, k);
    }
    // Reference a, HEAD: the ingress half of an inter-Node FromExternal flow (no
    // destination Pod, a proxy SNAT address) is keyed on the SNAT address and port, the
    // destination Node's natural key.
    if (snat && *type.in(record, varlen) == flows::flow_type::from_external && !named(varlen))
      ingress_source(record, varlen, k);
    return flow_hash(k.s_hi, k.s_lo, k.d_hi, k.d_lo,
                     ports_word(k.source_port, k.destination_port, k.protocol));
  }

 private:
  /// The low word of an IPv4-mapped address (::ffff:a.b.c.d).
  static std::uint64_t mapped(std::uint32_t v4) { return (std::uint64_t{0xffff} << 32) | v4; }

  bool named(std::span<const ipfix::field_slice> varlen) const {
    return destination_pod >= 0 ? varlen[static_cast<std::size_t>(destination_pod)].length > 0
                                : destination_named;
  }

  /// A key as flow_hash takes it: the addresses as big-endian words.
  struct key_words {
    std::uint64_t s_hi = 0, s_lo = 0, d_hi = 0, d_lo = 0;
    std::uint16_t source_port = 0, destination_port = 0;
    std::uint8_t protocol = 0;
  };

  /// The key of a template that is not `leading`, each field at its place.
  void read_placed(const std::uint8_t* record, std::span<const ipfix::field_slice> varlen,
                   key_words& k) const;

  /// The FromExternal ingress half's source: the SNAT address and port when it has one.
  void ingress_source(const std::uint8_t* record, std::span<const ipfix::field_slice> varlen,
                      key_words& k) const;
};

/// The reader of `l`'s key (`l.aggregatable`).
flow_key_reader make_flow_key_reader(const flows::aggregate_layout& l);

} // namespace fa::actors
