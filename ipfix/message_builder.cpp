#include "ipfix/message_builder.hpp"

#include "ipfix/record.hpp"

namespace fa::ipfix {

void message_builder::begin_message(std::uint32_t export_time, std::uint32_t sequence,
                                    std::uint32_t odid) {
  message_start_ = out_.size();
  in_message_ = true;
  in_set_ = false;
  put_u16(ipfix_version);
  put_u16(0); // length, patched by end_message
  put_u32(export_time);
  put_u32(sequence);
  put_u32(odid);
}

std::size_t message_builder::end_message() {
  if (in_set_)
    end_set();
  const std::size_t len = out_.size() - message_start_;
  // A message over 65535 octets cannot be encoded; the returned length tells the caller.
  if (in_message_)
    write_u16(out_.data() + message_start_ + 2, static_cast<std::uint16_t>(len));
  in_message_ = false;
  return len;
}

void message_builder::begin_set(std::uint16_t set_id) {
  if (in_set_)
    end_set();
  set_start_ = out_.size();
  in_set_ = true;
  put_u16(set_id);
  put_u16(0); // length, patched by end_set
}

void message_builder::end_set(std::size_t padding) {
  if (!in_set_)
    return;
  out_.insert(out_.end(), padding, std::uint8_t{0});
  write_u16(out_.data() + set_start_ + 2, static_cast<std::uint16_t>(out_.size() - set_start_));
  in_set_ = false;
}

void message_builder::add_template(const template_def& def) {
  encode_template_record(def, out_);
}

void message_builder::add_withdrawal(std::uint16_t id) {
  // RFC 7011 8.1: a withdrawal is the template id with field count 0.
  put_u16(id);
  put_u16(0);
}

void message_builder::put_u16(std::uint16_t v) {
  std::uint8_t b[2];
  write_u16(b, v);
  out_.insert(out_.end(), b, b + 2);
}

void message_builder::put_u32(std::uint32_t v) {
  std::uint8_t b[4];
  write_u32(b, v);
  out_.insert(out_.end(), b, b + 4);
}

void message_builder::put_u64(std::uint64_t v) {
  std::uint8_t b[8];
  write_u64(b, v);
  out_.insert(out_.end(), b, b + 8);
}

void message_builder::put_varlen(bytes_view v, bool force_long) {
  std::uint8_t prefix[3];
  std::size_t n;
  if (force_long) {
    // RFC 7011 7: the 3-octet form is allowed for short values too.
    prefix[0] = 255;
    write_u16(prefix + 1, static_cast<std::uint16_t>(v.size()));
    n = 3;
  } else {
    n = write_varlen_prefix(prefix, v.size());
  }
  out_.insert(out_.end(), prefix, prefix + n);
  put_bytes(v);
}

void message_builder::put_string(std::string_view s, bool force_long) {
  put_varlen(bytes_view(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()), force_long);
}

} // namespace fa::ipfix
