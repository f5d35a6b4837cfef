#include "rpc/flow_wire.hpp"

#include <cstring>

namespace fa::rpc {

namespace {

// Protobuf's wire types ("Encoding", "Message Structure").
enum : std::uint32_t {
  wire_varint = 0,
  wire_i64 = 1,
  wire_len = 2,
  wire_start_group = 3,
  wire_end_group = 4,
  wire_i32 = 5
};

/// What is left of protobuf's recursion limit (100: ParseContext's default) while reading
/// the fields of a message at each level: a group among them takes one more.
enum : int {
  depth_request = 100,
  depth_flow = depth_request - 1,
  depth_flow_part = depth_flow - 1,          ///< ipfix, timestamps, ip, transport, k8s, stats
  depth_flow_part_part = depth_flow_part - 1 ///< ipfix.export_time, transport.TCP
};

/// UTF-8 as Unicode 3.9 table 3-7 defines it (no overlong forms, no surrogates, nothing
/// above U+10FFFF): what protobuf requires of proto3 strings.
bool valid_utf8(std::string_view s) {
  auto p = reinterpret_cast<const std::uint8_t*>(s.data());
  const auto* end = p + s.size();
  while (p != end) {
    // ASCII, eight octets at a time: Pod and policy names nearly always are.
    while (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      if (w & 0x8080808080808080ull)
        break;
      p += 8;
    }
    if (p == end)
      break;
    const std::uint8_t c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t n;
    std::uint8_t lo = 0x80, hi = 0xbf; // the range of the second octet
    if (c >= 0xc2 && c <= 0xdf) {
      n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3;
      if (c == 0xe0)
        lo = 0xa0;
      else if (c == 0xed)
        hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4;
      if (c == 0xf0)
        lo = 0x90;
      else if (c == 0xf4)
        hi = 0x8f;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) < n || p[1] < lo || p[1] > hi)
      return false;
    for (std::size_t i = 2; i < n; ++i)
      if ((p[i] & 0xc0) != 0x80)
        return false;
    p += n;
  }
  return true;
}

/// ASCII (no octet above 0x7f), word by word: Pod and policy names nearly always are, so
/// the full UTF-8 check is rarely needed.
inline bool ascii(std::string_view s) {
  const char* p = s.data();
  const std::size_t n = s.size();
  std::uint64_t any = 0;
  if (n >= 8) {
    for (std::size_t i = 0; i + 8 <= n; i += 8) {
      std::uint64_t w;
      std::memcpy(&w, p + i, 8);
      any |= w;
    }
    std::uint64_t w; // the last eight octets (overlapping what was read)
    std::memcpy(&w, p + n - 8, 8);
    any |= w;
  } else if (n >= 4) {
    std::uint32_t a, b;
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + n - 4, 4);
    any = a | b;
  } else {
    for (std::size_t i = 0; i < n; ++i)
      any |= static_cast<std::uint8_t>(p[i]);
  }
  return (any & 0x8080808080808080ull) == 0;
}

/// A record's key (protobuf's "tag"): field number << 3 | wire type.
constexpr std::uint32_t key(std::uint32_t field, std::uint32_t type) {
  return field << 3 | type;
}

/// One message's records, front to back, read as protobuf's parser reads them (its
/// `ReadTag`, `ReadSize` and varint rules, unknown fields and groups skipped). The common
/// cases (one-octet varints and keys, two-octet keys) are inline; the rest is out of line.
class reader {
 public:
  /// `depth`: what is left of the recursion limit for this message's fields. `limit`:
  /// where the buffer that holds the message ends (at or after the message's end): octets
  /// up to it may be read ahead, never taken as the message's (the varints near a
  /// sub-message's end decode without a bounds check per octet).
  reader() = default;
  reader(std::string_view s, int depth, const char* limit = nullptr)
      : p_(reinterpret_cast<const std::uint8_t*>(s.data()))
      , end_(p_ + s.size())
      , limit_(limit ? reinterpret_cast<const std::uint8_t*>(limit) : end_)
      , depth_(depth) {}

  /// Where the buffer ends (what `limit` was).
  const char* limit() const { return reinterpret_cast<const char*>(limit_); }

  bool done() const { return p_ == end_; }

  /// Whether the next key is `k` (a constant: one or two octets in its shortest form),
  /// taken if so. For the canonical fast path.
  [[gnu::always_inline]] bool take(std::uint32_t k) {
    if (k < 0x80) {
      if (p_ != end_ && *p_ == k) {
        ++p_;
        return true;
      }
      return false;
    }
    if (end_ - p_ >= 2 && p_[0] == ((k & 0x7f) | 0x80) && p_[1] == (k >> 7)) {
      p_ += 2;
      return true;
    }
    return false;
  }

  /// A sub-message's reader (the same buffer, `depth`).
  bool message(reader& sub, int depth) {
    std::string_view m;
    if (!bytes(m))
      return false;
    sub = reader{m, depth, limit()};
    return true;
  }

  /// Up to ten octets; bits beyond 64 are dropped, as protobuf's parser does.
  bool varint(std::uint64_t& v) {
    if (p_ != end_ && *p_ < 0x80) {
      v = *p_++;
      return true;
    }
    return varint_slow(v);
  }

  /// A record's key (protobuf's `ReadTag`): at most five octets, of which the low 32
  /// bits count. Called when `!done()`. Field number 0 (keys below 8) is malformed: no
  /// parser has a case for it, so it reaches `skip`, which refuses it.
  bool key(std::uint32_t& k) {
    const std::uint32_t b0 = p_[0];
    if (b0 < 0x80) { // fields 1 .. 15
      k = b0;
      ++p_;
      return true;
    }
    if (end_ - p_ >= 2 && p_[1] < 0x80) { // fields 16 .. 2047
      k = (b0 & 0x7fu) | static_cast<std::uint32_t>(p_[1]) << 7;
      p_ += 2;
      return true;
    }
    std::uint64_t v;
    if (!varint_at_most(5, v))
      return false;
    k = static_cast<std::uint32_t>(v);
    return true;
  }

  /// A length and its octets (protobuf's `ReadSize`: at most five octets, below 2^31).
  bool bytes(std::string_view& out) {
    std::uint64_t n;
    if (p_ != end_ && *p_ < 0x80)
      n = *p_++;
    else if (!varint_at_most(5, n) || n >= 0x80000000ull)
      return false;
    if (n > static_cast<std::uint64_t>(end_ - p_))
      return false;
    out = {reinterpret_cast<const char*>(p_), static_cast<std::size_t>(n)};
    p_ += n;
    return true;
  }

  /// UTF-8 octets, as protobuf requires of proto3 strings.
  bool text(std::string_view& out) { return bytes(out) && (ascii(out) || valid_utf8(out)); }

  bool u64(std::uint64_t& out) { return varint(out); }
  /// protobuf keeps the low 32 bits.
  bool u32(std::uint32_t& out) {
    std::uint64_t v;
    if (!varint(v))
      return false;
    out = static_cast<std::uint32_t>(v);
    return true;
  }
  /// Enums keep the int32 of their low 32 bits (proto3 enums are open).
  bool enumeration(std::int32_t& out) {
    std::uint64_t v;
    if (!varint(v))
      return false;
    out = static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
    return true;
  }

  /// Skips the record of key `k` (an unknown field, or a known one of another wire type,
  /// which protobuf also keeps as unknown). A group (wire type 3, deprecated since proto2)
  /// is skipped to its end as protobuf skips it; an end of group outside one and wire
  /// types 6 and 7 are malformed.
  // Always inline: a part of it out of line would take this reader's address, and then
  // every parser's reader would live in memory rather than in registers (17 % slower).
  [[gnu::always_inline]] bool skip(std::uint32_t k) {
    std::uint64_t v;
    std::string_view s;
    if (k < 8) // field number 0
      return false;
    switch (k & 7) {
    case wire_varint:
      return varint(v);
    case wire_i64:
      return advance(8);
    case wire_len:
      return bytes(s);
    case wire_i32:
      return advance(4);
    case wire_start_group:
      // Out of line, on positions rather than this reader, so that no parser's reader
      // has to live in memory for its sake.
      p_ = skip_group(p_, end_, k, depth_);
      return p_ != nullptr;
    default:
      return false;
    }
  }

 private:
  /// The fields of the group that `start` opened, from `p` to its end (the same field
  /// number, wire type 4): the position after it, or null when it is malformed.
  [[gnu::noinline]] static const std::uint8_t*
  skip_group(const std::uint8_t* p, const std::uint8_t* end, std::uint32_t start, int depth);

  bool advance(std::size_t n) {
    if (static_cast<std::size_t>(end_ - p_) < n)
      return false;
    p_ += n;
    return true;
  }

  /// A varint of at most `max` octets (keys and lengths: five).
  bool varint_at_most(unsigned max, std::uint64_t& v) {
    v = 0;
    for (unsigned i = 0; i < max; ++i) {
      if (p_ == end_)
        return false;
      const std::uint8_t b = *p_++;
      v |= static_cast<std::uint64_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0)
        return true;
    }
    return false;
  }

  /// A varint at the end of the message or of two octets or more.
  bool varint_slow(std::uint64_t& v) {
    if (limit_ - p_ >= 10) {
      // Unrolled by the compiler: no bounds check per octet. The octets may run past the
      // message's end into the buffer's next ones: such a varint is truncated, malformed.
      std::uint64_t r = p_[0] & 0x7fu;
      if (p_[0] < 0x80) {
        if (p_ == end_)
          return false;
        ++p_;
        v = r;
        return true;
      }
      for (unsigned i = 1; i < 10; ++i) {
        const std::uint64_t b = p_[i];
        r |= (b & 0x7f) << (7 * i);
        if (b < 0x80) {
          if (static_cast<std::size_t>(end_ - p_) < i + 1)
            return false;
          p_ += i + 1;
          v = r;
          return true;
        }
      }
      return false;
    }
    v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
      if (p_ == end_)
        return false;
      const std::uint8_t b = *p_++;
      if (shift < 64)
        v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0)
        return true;
    }
    return false;
  }

  const std::uint8_t* p_ = nullptr;
  const std::uint8_t* end_ = nullptr;
  const std::uint8_t* limit_ = nullptr;
  int depth_ = 0;
};

const std::uint8_t* reader::skip_group(const std::uint8_t* p, const std::uint8_t* end,
                                       std::uint32_t start, int depth) {
  if (--depth < 0) // protobuf's recursion limit
    return nullptr;
  reader r{{reinterpret_cast<const char*>(p), static_cast<std::size_t>(end - p)}, depth};
  for (;;) {
    std::uint32_t k;
    if (r.done() || !r.key(k))
      return nullptr;
    if ((k & 7) == wire_end_group)
      return (k >> 3) == (start >> 3) ? r.p_ : nullptr;
    if (!r.skip(k))
      return nullptr;
  }
}

/// Calls `field(r, key)` for each field of the message `m`, in order: false at a key that
/// does not parse or at the first field `field` refuses.
template <class Field>
bool for_each_field(std::string_view m, const char* limit, int depth, Field&& field) {
  reader r{m, depth, limit};
  while (!r.done()) {
    std::uint32_t k;
    if (!r.key(k) || !field(r, k))
      return false;
  }
  return true;
}

/// A sub-message's octets (a repeated one merges into what the earlier ones set).
template <class Parse>
bool message(reader& r, Parse&& parse) {
  std::string_view m;
  return r.bytes(m) && parse(m, r.limit());
}

bool parse_timestamp(std::string_view m, const char* limit, wire_timestamp& out, int depth) {
  out.present = true;
  return for_each_field(m, limit, depth, [&](reader& r, std::uint32_t k) {
    if (k != key(1, wire_varint))
      return r.skip(k); // nanos: not part of the record
    std::uint64_t v;
    if (!r.u64(v))
      return false;
    out.seconds = static_cast<std::int64_t>(v);
    return true;
  });
}

bool parse_stats(std::string_view m, const char* limit, wire_stats& out) {
  return for_each_field(m, limit, depth_flow_part, [&](reader& r, std::uint32_t k) {
    switch (k) {
    case key(1, wire_varint):
      return r.u64(out.packet_total);
    case key(2, wire_varint):
      return r.u64(out.packet_delta);
    case key(3, wire_varint):
      return r.u64(out.octet_total);
    case key(4, wire_varint):
      return r.u64(out.octet_delta);
    default:
      return r.skip(k);
    }
  });
}

bool parse_ipfix(std::string_view m, const char* limit, flow_fields& out) {
  return for_each_field(m, limit, depth_flow_part, [&](reader& r, std::uint32_t k) {
    switch (k) {
    case key(1, wire_len):
      return message(r, [&](std::string_view s, const char* lim) {
        return parse_timestamp(s, lim, out.export_time, depth_flow_part_part);
      });
    case key(3, wire_varint):
      return r.u32(out.observation_domain_id);
    default:
      return r.skip(k); // sequence_number, exporter_ip: not part of the record
    }
  });
}

bool parse_ip(std::string_view m, const char* limit, flow_fields& out) {
  return for_each_field(m, limit, depth_flow_part, [&](reader& r, std::uint32_t k) {
    switch (k) {
    case key(1, wire_varint):
      return r.enumeration(out.ip_version);
    case key(2, wire_len):
      return r.bytes(out.ip_source);
    case key(3, wire_len):
      return r.bytes(out.ip_destination);
    default:
      return r.skip(k);
    }
  });
}

bool parse_tcp(std::string_view m, const char* limit, flow_fields& out) {
  return for_each_field(m, limit, depth_flow_part_part, [&](reader& r, std::uint32_t k) {
    return k == key(1, wire_len) ? r.text(out.tcp_state_name) : r.skip(k);
  });
}

bool parse_transport(std::string_view m, const char* limit, flow_fields& out) {
  return for_each_field(m, limit, depth_flow_part, [&](reader& r, std::uint32_t k) {
    switch (k) {
    case key(1, wire_varint):
      return r.u32(out.protocol_number);
    case key(2, wire_varint):
      return r.u32(out.source_port);
    case key(3, wire_varint):
      return r.u32(out.destination_port);
    case key(4, wire_len):
      return message(r,
                     [&](std::string_view s, const char* lim) { return parse_tcp(s, lim, out); });
    default:
      return r.skip(k);
    }
  });
}

/// Kubernetes: strings are UTF-8 checked (`text`), bytes fields (addresses) are not; the
/// Pod labels (5 and 11) are not in the record. One case per field: a direct store, in a
/// single jump table.
bool parse_k8s(std::string_view m, const char* limit, flow_fields& out) {
  return for_each_field(m, limit, depth_flow_part, [&](reader& r, std::uint32_t k) {
    switch (k) {
    case key(1, wire_varint):
      return r.enumeration(out.flow_type);
    case key(2, wire_len):
      return r.text(out.source_pod_namespace);
    case key(3, wire_len):
      return r.text(out.source_pod_name);
    case key(4, wire_len):
      return r.text(out.source_pod_uid);
    case key(6, wire_len):
      return r.text(out.source_node_name);
    case key(7, wire_len):
      return r.text(out.source_node_uid);
    case key(8, wire_len):
      return r.text(out.destination_pod_namespace);
    case key(9, wire_len):
      return r.text(out.destination_pod_name);
    case key(10, wire_len):
      return r.text(out.destination_pod_uid);
    case key(12, wire_len):
      return r.text(out.destination_node_name);
    case key(13, wire_len):
      return r.text(out.destination_node_uid);
    case key(14, wire_len):
      return r.bytes(out.destination_cluster_ip);
    case key(15, wire_varint):
      return r.u32(out.destination_service_port);
    case key(16, wire_len):
      return r.text(out.destination_service_port_name);
    case key(17, wire_len):
      return r.text(out.destination_service_uid);
    case key(18, wire_varint):
      return r.enumeration(out.ingress_network_policy_type);
    case key(19, wire_len):
      return r.text(out.ingress_network_policy_namespace);
    case key(20, wire_len):
      return r.text(out.ingress_network_policy_name);
    case key(21, wire_len):
      return r.text(out.ingress_network_policy_uid);
    case key(22, wire_len):
      return r.text(out.ingress_network_policy_rule_name);
    case key(23, wire_varint):
      return r.enumeration(out.ingress_network_policy_rule_action);
    case key(24, wire_varint):
      return r.enumeration(out.egress_network_policy_type);
    case key(25, wire_len):
      return r.text(out.egress_network_policy_namespace);
    case key(26, wire_len):
      return r.text(out.egress_network_policy_name);
    case key(27, wire_len):
      return r.text(out.egress_network_policy_uid);
    case key(28, wire_len):
      return r.text(out.egress_network_policy_rule_name);
    case key(29, wire_varint):
      return r.enumeration(out.egress_network_policy_rule_action);
    case key(30, wire_len):
      return r.text(out.egress_name);
    case key(31, wire_len):
      return r.bytes(out.egress_ip);
    case key(32, wire_len):
      return r.text(out.egress_node_name);
    case key(33, wire_len):
      return r.text(out.egress_node_uid);
    case key(34, wire_len):
      return r.text(out.egress_uid);
    case key(35, wire_len):
      return r.bytes(out.destination_service_ip);
    default:
      return r.skip(k);
    }
  });
}

// The fast path (parse_flow tries it first): a Flow as protobuf's encoders write it, Go's
// (an Agent's) and C++'s alike: each field at most once, in field-number order, with the
// shortest keys, no unknown field. Then each field is one comparison of the next key with
// the one expected, rather than a key read and a dispatch. What is not in that form makes
// it give up (false), not refuse: parse_flow then reads the Flow afresh with the general
// reader above, which decides (so a malformed Flow is refused exactly as before). On the
// canonical form both read the same values: one occurrence of each field, nothing merged.
// The fields read unread (id, exporter_ip, labels, app, aggregation ...) are skipped as
// the general reader skips them.
namespace canonical {

/// A LEN field read unread.
bool skip_len(reader& r) {
  std::string_view unused;
  return r.bytes(unused);
}

/// One optional field of a known key (the canonical form): absent (the next key is
/// another) or read; false when it is there and its value does not read.
template <std::uint32_t Field>
[[gnu::always_inline]] inline bool text(reader& m, std::string_view& to) {
  return !m.take(key(Field, wire_len)) || m.text(to);
}
template <std::uint32_t Field>
[[gnu::always_inline]] inline bool raw(reader& m, std::string_view& to) {
  return !m.take(key(Field, wire_len)) || m.bytes(to);
}
template <std::uint32_t Field>
[[gnu::always_inline]] inline bool unread(reader& m) {
  return !m.take(key(Field, wire_len)) || skip_len(m);
}
template <std::uint32_t Field>
[[gnu::always_inline]] inline bool number(reader& m, std::uint32_t& to) {
  return !m.take(key(Field, wire_varint)) || m.u32(to);
}
template <std::uint32_t Field>
[[gnu::always_inline]] inline bool number64(reader& m, std::uint64_t& to) {
  return !m.take(key(Field, wire_varint)) || m.u64(to);
}
template <std::uint32_t Field>
[[gnu::always_inline]] inline bool enumeration(reader& m, std::int32_t& to) {
  return !m.take(key(Field, wire_varint)) || m.enumeration(to);
}
/// A varint field read unread.
template <std::uint32_t Field>
[[gnu::always_inline]] inline bool unread_number(reader& m) {
  std::uint64_t unused;
  return number64<Field>(m, unused);
}

bool timestamp(reader& r, wire_timestamp& out) {
  reader m;
  if (!r.message(m, depth_flow_part))
    return false;
  out.present = true;
  std::uint64_t seconds = 0;
  const bool ok = number64<1>(m, seconds) && unread_number<2>(m) && m.done(); // 2: nanos
  out.seconds = static_cast<std::int64_t>(seconds);
  return ok;
}

bool stats(reader& r, wire_stats& out) {
  reader m;
  return r.message(m, depth_flow_part) && number64<1>(m, out.packet_total) &&
         number64<2>(m, out.packet_delta) && number64<3>(m, out.octet_total) &&
         number64<4>(m, out.octet_delta) && m.done();
}

bool ipfix(reader& r, flow_fields& out) {
  reader m;
  return r.message(m, depth_flow_part) &&
         (!m.take(key(1, wire_len)) || timestamp(m, out.export_time)) &&
         unread_number<2>(m) &&                                               // sequence_number
         number<3>(m, out.observation_domain_id) && unread<4>(m) && m.done(); // 4: exporter_ip
}

bool ip(reader& r, flow_fields& out) {
  reader m;
  return r.message(m, depth_flow_part) && enumeration<1>(m, out.ip_version) &&
         raw<2>(m, out.ip_source) && raw<3>(m, out.ip_destination) && m.done();
}

bool tcp(reader& r, flow_fields& out) {
  reader m;
  return r.message(m, depth_flow_part_part) && text<1>(m, out.tcp_state_name) && m.done();
}

bool transport(reader& r, flow_fields& out) {
  reader m;
  return r.message(m, depth_flow_part) && number<1>(m, out.protocol_number) &&
         number<2>(m, out.source_port) && number<3>(m, out.destination_port) &&
         (!m.take(key(4, wire_len)) || tcp(m, out)) && m.done();
}

bool k8s(reader& r, flow_fields& out) {
  reader m;
  if (!r.message(m, depth_flow_part))
    return false;
  // Each field: absent (the next key is another), or read; a read that fails gives up.
  return enumeration<1>(m, out.flow_type) && text<2>(m, out.source_pod_namespace) &&
         text<3>(m, out.source_pod_name) && text<4>(m, out.source_pod_uid) &&
         unread<5>(m) && // source_pod_labels
         text<6>(m, out.source_node_name) && text<7>(m, out.source_node_uid) &&
         text<8>(m, out.destination_pod_namespace) && text<9>(m, out.destination_pod_name) &&
         text<10>(m, out.destination_pod_uid) && unread<11>(m) && // destination_pod_labels
         text<12>(m, out.destination_node_name) && text<13>(m, out.destination_node_uid) &&
         raw<14>(m, out.destination_cluster_ip) && number<15>(m, out.destination_service_port) &&
         text<16>(m, out.destination_service_port_name) &&
         text<17>(m, out.destination_service_uid) &&
         enumeration<18>(m, out.ingress_network_policy_type) &&
         text<19>(m, out.ingress_network_policy_namespace) &&
         text<20>(m, out.ingress_network_policy_name) &&
         text<21>(m, out.ingress_network_policy_uid) &&
         text<22>(m, out.ingress_network_policy_rule_name) &&
         enumeration<23>(m, out.ingress_network_policy_rule_action) &&
         enumeration<24>(m, out.egress_network_policy_type) &&
         text<25>(m, out.egress_network_policy_namespace) &&
         text<26>(m, out.egress_network_policy_name) &&
         text<27>(m, out.egress_network_policy_uid) &&
         text<28>(m, out.egress_network_policy_rule_name) &&
         enumeration<29>(m, out.egress_network_policy_rule_action) &&
         text<30>(m, out.egress_name) && raw<31>(m, out.egress_ip) &&
         text<32>(m, out.egress_node_name) && text<33>(m, out.egress_node_uid) &&
         text<34>(m, out.egress_uid) && raw<35>(m, out.destination_service_ip) && m.done();
}

bool flow(std::string_view bytes, const char* limit, flow_fields& out) {
  reader r{bytes, depth_flow, limit};
  return unread<1>(r) && // id
         (!r.take(key(2, wire_len)) || ipfix(r, out)) &&
         (!r.take(key(3, wire_len)) || timestamp(r, out.start_ts)) &&
         (!r.take(key(4, wire_len)) || timestamp(r, out.end_ts)) &&
         enumeration<5>(r, out.end_reason) && (!r.take(key(6, wire_len)) || ip(r, out)) &&
         (!r.take(key(7, wire_len)) || transport(r, out)) &&
         (!r.take(key(8, wire_len)) || k8s(r, out)) &&
         (!r.take(key(9, wire_len)) || stats(r, out.stats)) &&
         (!r.take(key(10, wire_len)) || stats(r, out.reverse_stats)) && unread<11>(r) &&
         unread_number<12>(r) && unread<13>(r) && // app, direction, aggregation
         raw<14>(r, out.proxy_snat_ip) && number<15>(r, out.proxy_snat_port) && r.done();
}

} // namespace canonical

} // namespace

bool parse_flow(std::string_view bytes, flow_fields& out, const char* limit) {
  if (!limit)
    limit = bytes.data() + bytes.size();
  if (canonical::flow(bytes, limit, out)) [[likely]]
    return true;
  out = flow_fields{};
  return for_each_field(bytes, limit, depth_flow, [&](reader& r, std::uint32_t k) {
    switch (k) {
    case key(5, wire_varint):
      return r.enumeration(out.end_reason);
    case key(15, wire_varint):
      return r.u32(out.proxy_snat_port);
    case key(2, wire_len):
      return message(r,
                     [&](std::string_view m, const char* lim) { return parse_ipfix(m, lim, out); });
    case key(3, wire_len):
      return message(r, [&](std::string_view m, const char* lim) {
        return parse_timestamp(m, lim, out.start_ts, depth_flow_part);
      });
    case key(4, wire_len):
      return message(r, [&](std::string_view m, const char* lim) {
        return parse_timestamp(m, lim, out.end_ts, depth_flow_part);
      });
    case key(6, wire_len):
      return message(r, [&](std::string_view m, const char* lim) { return parse_ip(m, lim, out); });
    case key(7, wire_len):
      return message(
          r, [&](std::string_view m, const char* lim) { return parse_transport(m, lim, out); });
    case key(8, wire_len):
      return message(r,
                     [&](std::string_view m, const char* lim) { return parse_k8s(m, lim, out); });
    case key(9, wire_len):
      return message(
          r, [&](std::string_view m, const char* lim) { return parse_stats(m, lim, out.stats); });
    case key(10, wire_len):
      return message(r, [&](std::string_view m, const char* lim) {
        return parse_stats(m, lim, out.reverse_stats);
      });
    case key(14, wire_len):
      return r.bytes(out.proxy_snat_ip);
    default:
      return r.skip(k); // id, app, aggregation: not part of the record
    }
  });
}

bool export_request_reader::next_slow(std::string_view& flow) {
  reader r{rest_, depth_request};
  while (!r.done()) {
    std::uint32_t k;
    if (!r.key(k)) {
      malformed_ = true;
      return false;
    }
    if (k == key(1, wire_len)) {
      if (!r.bytes(flow)) {
        malformed_ = true;
        return false;
      }
      rest_ = rest_.substr(static_cast<std::size_t>(flow.data() + flow.size() - rest_.data()));
      return true;
    }
    if (!r.skip(k)) {
      malformed_ = true;
      return false;
    }
  }
  rest_ = {};
  return false;
}

flow_fields fields_of(const pb::Flow& f) {
  flow_fields o;
  auto ts = [](bool has, const google::protobuf::Timestamp& t) {
    return wire_timestamp{has, has ? t.seconds() : 0};
  };
  o.start_ts = ts(f.has_start_ts(), f.start_ts());
  o.end_ts = ts(f.has_end_ts(), f.end_ts());
  o.end_reason = f.end_reason();
  o.export_time = ts(f.ipfix().has_export_time(), f.ipfix().export_time());
  o.observation_domain_id = f.ipfix().observation_domain_id();
  o.ip_version = f.ip().version();
  o.ip_source = f.ip().source();
  o.ip_destination = f.ip().destination();
  const auto& t = f.transport();
  o.protocol_number = t.protocol_number();
  o.source_port = t.source_port();
  o.destination_port = t.destination_port();
  o.tcp_state_name = t.tcp().state_name();
  auto stats = [](const pb::Stats& s) {
    return wire_stats{s.packet_total_count(), s.packet_delta_count(), s.octet_total_count(),
                      s.octet_delta_count()};
  };
  o.stats = stats(f.stats());
  o.reverse_stats = stats(f.reverse_stats());
  const auto& k = f.k8s();
  o.flow_type = k.flow_type();
  o.source_pod_namespace = k.source_pod_namespace();
  o.source_pod_name = k.source_pod_name();
  o.source_pod_uid = k.source_pod_uid();
  o.source_node_name = k.source_node_name();
  o.source_node_uid = k.source_node_uid();
  o.destination_pod_namespace = k.destination_pod_namespace();
  o.destination_pod_name = k.destination_pod_name();
  o.destination_pod_uid = k.destination_pod_uid();
  o.destination_node_name = k.destination_node_name();
  o.destination_node_uid = k.destination_node_uid();
  o.destination_cluster_ip = k.destination_cluster_ip();
  o.destination_service_port = k.destination_service_port();
  o.destination_service_port_name = k.destination_service_port_name();
  o.destination_service_uid = k.destination_service_uid();
  o.ingress_network_policy_type = k.ingress_network_policy_type();
  o.ingress_network_policy_namespace = k.ingress_network_policy_namespace();
  o.ingress_network_policy_name = k.ingress_network_policy_name();
  o.ingress_network_policy_uid = k.ingress_network_policy_uid();
  o.ingress_network_policy_rule_name = k.ingress_network_policy_rule_name();
  o.ingress_network_policy_rule_action = k.ingress_network_policy_rule_action();
  o.egress_network_policy_type = k.egress_network_policy_type();
  o.egress_network_policy_namespace = k.egress_network_policy_namespace();
  o.egress_network_policy_name = k.egress_network_policy_name();
  o.egress_network_policy_uid = k.egress_network_policy_uid();
  o.egress_network_policy_rule_name = k.egress_network_policy_rule_name();
  o.egress_network_policy_rule_action = k.egress_network_policy_rule_action();
  o.egress_name = k.egress_name();
  o.egress_ip = k.egress_ip();
  o.egress_node_name = k.egress_node_name();
  o.egress_node_uid = k.egress_node_uid();
  o.egress_uid = k.egress_uid();
  o.destination_service_ip = k.destination_service_ip();
  o.proxy_snat_ip = f.proxy_snat_ip();
  o.proxy_snat_port = f.proxy_snat_port();
  return o;
}

} // namespace fa::rpc
