#include "actors/flow_key_reader.hpp"

#include <algorithm>
#include <vector>

namespace fa::actors {

namespace {

/// Where each fixed-size field of `t` is (field_at), by index; variable-length fields get
/// {their own rank, 0}.
std::vector<field_at> places(const ipfix::template_def& t) {
  std::vector<field_at> out(t.fields.size());
  field_at at;
  for (std::size_t i = 0; i < t.fields.size(); ++i) {
    if (t.fields[i].is_varlen()) {
      at = {static_cast<std::int16_t>(at.after + 1), 0};
      out[i] = {at.after, 0};
      continue;
    }
    out[i] = at;
    at.rel = static_cast<std::uint16_t>(at.rel + t.fields[i].length);
  }
  return out;
}

bool is_zero(const std::uint8_t* p, std::size_t n) {
  return std::all_of(p, p + n, [](std::uint8_t b) { return b == 0; });
}

} // namespace

void flow_key_reader::read_placed(const std::uint8_t* record,
                                  std::span<const ipfix::field_slice> varlen, key_words& k) const {
  bool v4 = addresses != family::v6;
  if (addresses == family::v4_unless_zero)
    v4 = !is_zero(source.in(record, varlen), 4) || !is_zero(destination.in(record, varlen), 4);
  if (v4) {
    k.s_lo = mapped(ipfix::read_u32(source.in(record, varlen)));
    k.d_lo = mapped(ipfix::read_u32(destination.in(record, varlen)));
  } else {
    const auto* s = (addresses == family::v6 ? source : source6).in(record, varlen);
    const auto* d = (addresses == family::v6 ? destination : destination6).in(record, varlen);
    k.s_hi = ipfix::read_u64(s);
    k.s_lo = ipfix::read_u64(s + 8);
    k.d_hi = ipfix::read_u64(d);
    k.d_lo = ipfix::read_u64(d + 8);
  }
  k.source_port = ipfix::read_u16(source_port.in(record, varlen));
  k.destination_port = ipfix::read_u16(destination_port.in(record, varlen));
  k.protocol = *protocol.in(record, varlen);
}

void flow_key_reader::ingress_source(const std::uint8_t* record,
                                     std::span<const ipfix::field_slice> varlen,
                                     key_words& k) const {
  if (has_snat_ipv4 && !is_zero(snat_ipv4.in(record, varlen), 4)) {
    k.s_hi = 0;
    k.s_lo = mapped(ipfix::read_u32(snat_ipv4.in(record, varlen)));
  } else if (has_snat_ipv6 && !is_zero(snat_ipv6.in(record, varlen), 16)) {
    const auto* p = snat_ipv6.in(record, varlen);
    k.s_hi = ipfix::read_u64(p);
    k.s_lo = ipfix::read_u64(p + 8);
  } else {
    return;
  }
  k.source_port = ipfix::read_u16(snat_port.in(record, varlen));
}

flow_key_reader make_flow_key_reader(const flows::aggregate_layout& l) {
  const auto at = places(l.input);
  auto place = [&](flows::field_index i) { return at[static_cast<std::size_t>(i)]; };
  flow_key_reader r;
  const bool v4 = l.source_ipv4 >= 0 && l.destination_ipv4 >= 0;
  const bool v6 = l.source_ipv6 >= 0 && l.destination_ipv6 >= 0;
  using family = flow_key_reader::family;
  r.addresses = v4 && v6 ? family::v4_unless_zero : v4 ? family::v4 : family::v6;
  r.source = place(v4 ? l.source_ipv4 : l.source_ipv6);
  r.destination = place(v4 ? l.destination_ipv4 : l.destination_ipv6);
  if (v4 && v6) {
    r.source6 = place(l.source_ipv6);
    r.destination6 = place(l.destination_ipv6);
  }
  r.source_port = place(l.source_port);
  r.destination_port = place(l.destination_port);
  r.protocol = place(l.protocol);
  r.leading = !(v4 && v6) && r.source.after < 0 && r.destination.after < 0 &&
              r.source_port.after < 0 && r.destination_port.after < 0 && r.protocol.after < 0;
  r.type = place(l.flow_type);
  r.snat = l.proxy_snat_port >= 0;
  if (r.snat)
    r.snat_port = place(l.proxy_snat_port);
  r.has_snat_ipv4 = l.proxy_snat_ipv4 >= 0;
  if (r.has_snat_ipv4)
    r.snat_ipv4 = place(l.proxy_snat_ipv4);
  r.has_snat_ipv6 = l.proxy_snat_ipv6 >= 0;
  if (r.has_snat_ipv6)
    r.snat_ipv6 = place(l.proxy_snat_ipv6);
  // record_key: named when the field is there with a non-empty value; a fixed-size
  // field's value is never empty.
  const auto dst_pod = l.destination_pod_name;
  if (dst_pod >= 0 && l.input.fields[static_cast<std::size_t>(dst_pod)].is_varlen())
    r.destination_pod = place(dst_pod).after;
  else
    r.destination_named =
        dst_pod >= 0 && l.input.fields[static_cast<std::size_t>(dst_pod)].length > 0;
  return r;
}

} // namespace fa::actors
