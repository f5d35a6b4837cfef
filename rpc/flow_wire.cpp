#include "rpc/flow_wire.hpp"

#include <array>
#include <cstring>

namespace fa::rpc {

namespace {

// Protobuf's wire types ("Encoding", "Message Structure").
enum : std::uint32_t { wire_varint = 0, wire_i64 = 1, wire_len = 2, wire_i32 = 5 };

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

/// One message's records, front to back.
class reader {
 public:
  explicit reader(std::string_view s)
      : p_(reinterpret_cast<const std::uint8_t*>(s.data()))
      , end_(p_ + s.size()) {}

  bool done() const { return p_ == end_; }

  /// Up to ten octets; bits beyond 64 are dropped, as protobuf's parser does.
  bool varint(std::uint64_t& v) {
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

  /// A record's tag: field number 0 and numbers beyond 2^29 - 1 are malformed.
  bool tag(std::uint32_t& field, std::uint32_t& type) {
    std::uint64_t v;
    if (!varint(v) || v > 0xffffffffull)
      return false;
    field = static_cast<std::uint32_t>(v >> 3);
    type = static_cast<std::uint32_t>(v & 7);
    return field != 0;
  }

  bool bytes(std::string_view& out) {
    std::uint64_t n;
    if (!varint(n) || n > static_cast<std::uint64_t>(end_ - p_))
      return false;
    out = {reinterpret_cast<const char*>(p_), static_cast<std::size_t>(n)};
    p_ += n;
    return true;
  }

  /// Skips a record of `type` (an unknown field, or a known one of another wire type,
  /// which protobuf also keeps as unknown). Groups (wire types 3 and 4, deprecated
  /// since proto2) are refused.
  bool skip(std::uint32_t type) {
    std::uint64_t v;
    std::string_view s;
    switch (type) {
    case wire_varint:
      return varint(v);
    case wire_i64:
      return advance(8);
    case wire_len:
      return bytes(s);
    case wire_i32:
      return advance(4);
    default:
      return false;
    }
  }

 private:
  bool advance(std::size_t n) {
    if (static_cast<std::size_t>(end_ - p_) < n)
      return false;
    p_ += n;
    return true;
  }

  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

/// Walks a message: `field(reader, number, type)` reads a known field and returns
/// 1 (read), 0 (not one of its fields: skipped here) or -1 (malformed).
template <class Field>
bool walk(std::string_view message, Field&& field) {
  reader r{message};
  while (!r.done()) {
    std::uint32_t number, type;
    if (!r.tag(number, type))
      return false;
    const int got = field(r, number, type);
    if (got < 0 || (got == 0 && !r.skip(type)))
      return false;
  }
  return true;
}

// Typed reads of a field whose wire type matched: 1 or -1, as `walk` wants.
int read_u64(reader& r, std::uint64_t& out) {
  return r.varint(out) ? 1 : -1;
}
int read_u32(reader& r, std::uint32_t& out) {
  std::uint64_t v;
  if (!r.varint(v))
    return -1;
  out = static_cast<std::uint32_t>(v); // protobuf keeps the low 32 bits
  return 1;
}
int read_enum(reader& r, std::int32_t& out) {
  std::uint64_t v;
  if (!r.varint(v))
    return -1;
  out = static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
  return 1;
}
int read_bytes(reader& r, std::string_view& out) {
  return r.bytes(out) ? 1 : -1;
}
int read_string(reader& r, std::string_view& out) {
  return r.bytes(out) && valid_utf8(out) ? 1 : -1;
}
/// A sub-message: a repeated one merges into what the earlier ones set.
template <class Parse>
int read_message(reader& r, Parse&& parse) {
  std::string_view m;
  return r.bytes(m) && parse(m) ? 1 : -1;
}

bool parse_timestamp(std::string_view m, wire_timestamp& out) {
  out.present = true;
  return walk(m, [&](reader& r, std::uint32_t n, std::uint32_t t) -> int {
    if (n == 1 && t == wire_varint) {
      std::uint64_t v;
      if (read_u64(r, v) < 0)
        return -1;
      out.seconds = static_cast<std::int64_t>(v);
      return 1;
    }
    return 0; // nanos: not part of the record
  });
}

bool parse_stats(std::string_view m, wire_stats& out) {
  return walk(m, [&](reader& r, std::uint32_t n, std::uint32_t t) -> int {
    if (t != wire_varint)
      return 0;
    switch (n) {
    case 1:
      return read_u64(r, out.packet_total);
    case 2:
      return read_u64(r, out.packet_delta);
    case 3:
      return read_u64(r, out.octet_total);
    case 4:
      return read_u64(r, out.octet_delta);
    default:
      return 0;
    }
  });
}

bool parse_ipfix(std::string_view m, flow_fields& out) {
  return walk(m, [&](reader& r, std::uint32_t n, std::uint32_t t) -> int {
    if (n == 1 && t == wire_len)
      return read_message(r,
                          [&](std::string_view s) { return parse_timestamp(s, out.export_time); });
    if (n == 3 && t == wire_varint)
      return read_u32(r, out.observation_domain_id);
    return 0;
  });
}

bool parse_ip(std::string_view m, flow_fields& out) {
  return walk(m, [&](reader& r, std::uint32_t n, std::uint32_t t) -> int {
    if (n == 1 && t == wire_varint)
      return read_enum(r, out.ip_version);
    if (n == 2 && t == wire_len)
      return read_bytes(r, out.ip_source);
    if (n == 3 && t == wire_len)
      return read_bytes(r, out.ip_destination);
    return 0;
  });
}

bool parse_transport(std::string_view m, flow_fields& out) {
  return walk(m, [&](reader& r, std::uint32_t n, std::uint32_t t) -> int {
    if (t == wire_varint) {
      switch (n) {
      case 1:
        return read_u32(r, out.protocol_number);
      case 2:
        return read_u32(r, out.source_port);
      case 3:
        return read_u32(r, out.destination_port);
      default:
        return 0;
      }
    }
    if (n == 4 && t == wire_len) // TCP { string state_name = 1; }
      return read_message(r, [&](std::string_view tcp) {
        return walk(tcp, [&](reader& r2, std::uint32_t n2, std::uint32_t t2) -> int {
          return n2 == 1 && t2 == wire_len ? read_string(r2, out.tcp_state_name) : 0;
        });
      });
    return 0;
  });
}

/// Kubernetes' octet fields (string = UTF-8 checked, bytes = not), by field number.
struct k8s_text {
  std::uint32_t number;
  std::string_view flow_fields::*member;
  bool utf8;
};
constexpr k8s_text k8s_texts[] = {
    {2, &flow_fields::source_pod_namespace, true},
    {3, &flow_fields::source_pod_name, true},
    {4, &flow_fields::source_pod_uid, true},
    {6, &flow_fields::source_node_name, true},
    {7, &flow_fields::source_node_uid, true},
    {8, &flow_fields::destination_pod_namespace, true},
    {9, &flow_fields::destination_pod_name, true},
    {10, &flow_fields::destination_pod_uid, true},
    {12, &flow_fields::destination_node_name, true},
    {13, &flow_fields::destination_node_uid, true},
    {14, &flow_fields::destination_cluster_ip, false},
    {16, &flow_fields::destination_service_port_name, true},
    {17, &flow_fields::destination_service_uid, true},
    {19, &flow_fields::ingress_network_policy_namespace, true},
    {20, &flow_fields::ingress_network_policy_name, true},
    {21, &flow_fields::ingress_network_policy_uid, true},
    {22, &flow_fields::ingress_network_policy_rule_name, true},
    {25, &flow_fields::egress_network_policy_namespace, true},
    {26, &flow_fields::egress_network_policy_name, true},
    {27, &flow_fields::egress_network_policy_uid, true},
    {28, &flow_fields::egress_network_policy_rule_name, true},
    {30, &flow_fields::egress_name, true},
    {31, &flow_fields::egress_ip, false},
    {32, &flow_fields::egress_node_name, true},
    {33, &flow_fields::egress_node_uid, true},
    {34, &flow_fields::egress_uid, true},
    {35, &flow_fields::destination_service_ip, false},
};

/// k8s_texts by field number (0 = not one: Pod labels, 5 and 11, are not in the record).
constexpr auto k8s_text_index = [] {
  std::array<std::uint8_t, 36> index{};
  for (std::size_t i = 0; i < std::size(k8s_texts); ++i)
    index[k8s_texts[i].number] = static_cast<std::uint8_t>(i + 1);
  return index;
}();

bool parse_k8s(std::string_view m, flow_fields& out) {
  return walk(m, [&](reader& r, std::uint32_t n, std::uint32_t t) -> int {
    if (t == wire_varint) {
      switch (n) {
      case 1:
        return read_enum(r, out.flow_type);
      case 15:
        return read_u32(r, out.destination_service_port);
      case 18:
        return read_enum(r, out.ingress_network_policy_type);
      case 23:
        return read_enum(r, out.ingress_network_policy_rule_action);
      case 24:
        return read_enum(r, out.egress_network_policy_type);
      case 29:
        return read_enum(r, out.egress_network_policy_rule_action);
      default:
        return 0;
      }
    }
    if (t != wire_len || n >= k8s_text_index.size() || k8s_text_index[n] == 0)
      return 0;
    const auto& field = k8s_texts[k8s_text_index[n] - 1];
    return field.utf8 ? read_string(r, out.*field.member) : read_bytes(r, out.*field.member);
  });
}

} // namespace

bool parse_flow(std::string_view bytes, flow_fields& out) {
  return walk(bytes, [&](reader& r, std::uint32_t n, std::uint32_t t) -> int {
    if (t == wire_varint) {
      switch (n) {
      case 5:
        return read_enum(r, out.end_reason);
      case 15:
        return read_u32(r, out.proxy_snat_port);
      default:
        return 0;
      }
    }
    if (t != wire_len)
      return 0;
    switch (n) {
    case 2:
      return read_message(r, [&](std::string_view m) { return parse_ipfix(m, out); });
    case 3:
      return read_message(r, [&](std::string_view m) { return parse_timestamp(m, out.start_ts); });
    case 4:
      return read_message(r, [&](std::string_view m) { return parse_timestamp(m, out.end_ts); });
    case 6:
      return read_message(r, [&](std::string_view m) { return parse_ip(m, out); });
    case 7:
      return read_message(r, [&](std::string_view m) { return parse_transport(m, out); });
    case 8:
      return read_message(r, [&](std::string_view m) { return parse_k8s(m, out); });
    case 9:
      return read_message(r, [&](std::string_view m) { return parse_stats(m, out.stats); });
    case 10:
      return read_message(r, [&](std::string_view m) { return parse_stats(m, out.reverse_stats); });
    case 14:
      return read_bytes(r, out.proxy_snat_ip);
    default:
      return 0; // id, app, aggregation: not part of the record
    }
  });
}

bool export_request_reader::next(std::string_view& flow) {
  reader r{rest_};
  while (!r.done()) {
    std::uint32_t number, type;
    if (!r.tag(number, type)) {
      malformed_ = true;
      return false;
    }
    if (number == 1 && type == wire_len) {
      if (!r.bytes(flow)) {
        malformed_ = true;
        return false;
      }
      rest_ = rest_.substr(static_cast<std::size_t>(flow.data() + flow.size() - rest_.data()));
      return true;
    }
    if (!r.skip(type)) {
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
