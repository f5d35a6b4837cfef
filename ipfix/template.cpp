#include "ipfix/template.hpp"

#include "ipfix/message.hpp"

namespace fa::ipfix {

namespace {

constexpr std::uint16_t enterprise_bit = 0x8000;
/// A withdrawal, and the header of a template record (RFC 7011 3.4.1, 8.1).
constexpr std::size_t template_header_size = 4;
/// Options template record header: id, field count, scope field count (RFC 7011 3.4.2.2).
constexpr std::size_t options_header_size = 6;
constexpr std::size_t field_spec_size = 4;
constexpr std::size_t enterprise_number_size = 4;

} // namespace

std::size_t template_def::min_record_length() const {
  std::size_t n = 0;
  for (const auto& f : fields)
    n += f.is_varlen() ? 1 : f.length;
  return n;
}

bool template_def::has_varlen() const {
  for (const auto& f : fields)
    if (f.is_varlen())
      return true;
  return false;
}

std::size_t template_def::encoded_size() const {
  std::size_t n = is_options() ? options_header_size : template_header_size;
  for (const auto& f : fields)
    n += f.encoded_size();
  return n;
}

parse_error parse_template_record(std::uint16_t set_id, bytes_view body, std::size_t& pos,
                                  template_record& out, bool& done) {
  done = false;
  // Only set ids 2 and 3 carry template records; anything else is a caller's mistake,
  // reported rather than parsed as something it is not.
  if (set_id != template_set_id && set_id != options_template_set_id)
    return parse_error::reserved_set_id;
  if (pos > body.size())
    pos = body.size();
  const std::size_t left = body.size() - pos;
  // RFC 7011 3.3.1: the shortest template record (a withdrawal) has 4 octets, so fewer
  // octets left are padding, whatever their value.
  if (left < template_header_size) {
    done = true;
    return parse_error::none;
  }
  const auto* p = body.data() + pos;
  const std::uint16_t id = read_u16(p);
  const std::uint16_t count = read_u16(p + 2);

  // RFC 7011 8.1: field count 0 is a withdrawal, for either kind of template (no scope
  // count follows). Id 2 in set 2 (3 in set 3) withdraws all templates of that kind.
  if (count == 0) {
    if (id < min_data_set_id && id != set_id)
      return parse_error::bad_template_id;
    out.withdrawal = true;
    out.def = template_def{};
    out.def.id = id;
    pos += template_header_size;
    return parse_error::none;
  }
  // RFC 7011 3.4.1: ids 0..255 are reserved for set ids.
  if (id < min_data_set_id)
    return parse_error::bad_template_id;

  std::size_t header = template_header_size;
  std::uint16_t scope = 0;
  if (set_id == options_template_set_id) {
    if (left < options_header_size)
      return parse_error::short_template_record;
    scope = read_u16(p + 4);
    // RFC 7011 3.4.2.2: the scope field count MUST NOT be zero.
    if (scope == 0)
      return parse_error::zero_scope_count;
    if (scope > count)
      return parse_error::scope_count_too_large;
    header = options_header_size;
  }
  // Each specifier takes at least 4 octets: check before reserving for `count` of them.
  if ((left - header) / field_spec_size < count)
    return parse_error::short_template_record;

  template_def def;
  def.id = id;
  def.scope_count = scope;
  def.fields.reserve(count);
  std::size_t q = pos + header;
  std::size_t min_length = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (body.size() - q < field_spec_size)
      return parse_error::short_template_record;
    const std::uint16_t raw_id = read_u16(body.data() + q);
    field_spec f;
    f.id = raw_id & ~enterprise_bit;
    f.length = read_u16(body.data() + q + 2);
    q += field_spec_size;
    // RFC 7011 3.2: with the enterprise bit set, a 4-octet enterprise number follows.
    // An enterprise number of 0 names the IANA element; it is kept as one (and
    // re-encoded without the bit).
    if ((raw_id & enterprise_bit) != 0) {
      if (body.size() - q < enterprise_number_size)
        return parse_error::short_template_record;
      f.enterprise = read_u32(body.data() + q);
      q += enterprise_number_size;
    }
    if (f.length == 0)
      return parse_error::bad_field_length;
    min_length += f.is_varlen() ? 1 : f.length;
    def.fields.push_back(f);
  }
  // A record of this template could not fit any message (RFC 7011 10: at most 65535).
  if (min_length > max_record_length)
    return parse_error::template_too_long;
  out.withdrawal = false;
  out.def = std::move(def);
  pos = q;
  return parse_error::none;
}

void encode_template_record(const template_def& def, std::vector<std::uint8_t>& out) {
  const std::size_t start = out.size();
  out.resize(start + def.encoded_size());
  auto* p = out.data() + start;
  write_u16(p, def.id);
  write_u16(p + 2, static_cast<std::uint16_t>(def.fields.size()));
  p += template_header_size;
  if (def.is_options()) {
    write_u16(p, def.scope_count);
    p += 2;
  }
  for (const auto& f : def.fields) {
    const bool enterprise = f.enterprise != 0;
    write_u16(p, static_cast<std::uint16_t>((f.id & ~enterprise_bit) |
                                            (enterprise ? enterprise_bit : 0)));
    write_u16(p + 2, f.length);
    p += field_spec_size;
    if (enterprise) {
      write_u32(p, f.enterprise);
      p += enterprise_number_size;
    }
  }
}

} // namespace fa::ipfix
