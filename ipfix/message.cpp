#include "ipfix/message.hpp"

namespace fa::ipfix {

std::optional<message_header> peek_header(bytes_view bytes) {
  if (bytes.size() < message_header_size)
    return std::nullopt;
  const auto* p = bytes.data();
  message_header h;
  h.version = read_u16(p);
  h.length = read_u16(p + 2);
  h.export_time = read_u32(p + 4);
  h.sequence = read_u32(p + 8);
  h.observation_domain_id = read_u32(p + 12);
  return h;
}

std::optional<set_view> peek_first_set(bytes_view bytes) {
  constexpr std::size_t first = message_header_size + set_header_size;
  if (bytes.size() < first)
    return std::nullopt;
  const std::size_t len = read_u16(bytes.data() + 2);
  const std::size_t set_len = read_u16(bytes.data() + message_header_size + 2);
  if (len < first || len > bytes.size() || set_len < set_header_size ||
      set_len > len - message_header_size)
    return std::nullopt;
  set_view set;
  set.id = read_u16(bytes.data() + message_header_size);
  set.body = bytes.subspan(first, set_len - set_header_size);
  return set;
}

parse_error message_view::parse(bytes_view bytes, message_view& out) {
  auto header = peek_header(bytes);
  if (!header)
    return parse_error::short_header;
  // RFC 7011 3.1: version 10 only.
  if (header->version != ipfix_version)
    return parse_error::bad_version;
  // Never trust a length before checking it (RFC 7011 9.1).
  if (header->length < message_header_size || header->length > bytes.size())
    return parse_error::bad_message_length;
  const auto message = bytes.first(header->length);
  std::size_t num_sets = 0;
  std::size_t pos = message_header_size;
  while (pos < message.size()) {
    if (message.size() - pos < set_header_size)
      return parse_error::short_set_header;
    const auto id = read_u16(message.data() + pos);
    const auto len = read_u16(message.data() + pos + 2);
    // RFC 7011 3.3.2: the set length includes the set header.
    if (len < set_header_size)
      return parse_error::bad_set_length;
    if (len > message.size() - pos)
      return parse_error::set_overruns_message;
    // RFC 7011 3.3.2: 0 and 1 are not used (NetFlow v9), 4..255 are reserved.
    if (id != template_set_id && id != options_template_set_id && id < min_data_set_id)
      return parse_error::reserved_set_id;
    ++num_sets;
    pos += len;
  }
  out.header_ = *header;
  out.bytes_ = message;
  out.num_sets_ = num_sets;
  return parse_error::none;
}

parse_error message_view::parse_datagram(bytes_view bytes, message_view& out) {
  message_view view;
  if (auto err = parse(bytes, view); err != parse_error::none)
    return err;
  // RFC 7011 10.3.2: one message per datagram; trailing octets mean a bad length.
  if (view.bytes().size() != bytes.size())
    return parse_error::bad_message_length;
  out = view;
  return parse_error::none;
}

} // namespace fa::ipfix
