#pragma once

// Builds IPFIX messages into a byte vector: header, template sets, data sets. Lengths
// are patched when a set or message is closed.

#include "ipfix/message.hpp"
#include "ipfix/template.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace fa::ipfix {

class message_builder {
 public:
  explicit message_builder(std::vector<std::uint8_t>& out)
      : out_(out) {}

  /// Starts a message at the end of the output vector.
  void begin_message(std::uint32_t export_time, std::uint32_t sequence, std::uint32_t odid);
  /// Closes the open set (if any) and patches the message length. Returns the message
  /// length.
  std::size_t end_message();

  void begin_set(std::uint16_t set_id);
  /// Closes the open set, adding `padding` zero octets first (RFC 7011 3.3.1).
  void end_set(std::size_t padding = 0);

  /// Adds a template record to the open set (2 for templates, 3 for options).
  void add_template(const template_def& def);
  /// Adds a withdrawal (field count 0) for `id` to the open template set.
  void add_withdrawal(std::uint16_t id);

  void put_u8(std::uint8_t v) { out_.push_back(v); }
  void put_u16(std::uint16_t v);
  void put_u32(std::uint32_t v);
  void put_u64(std::uint64_t v);
  void put_bytes(bytes_view v) { out_.insert(out_.end(), v.begin(), v.end()); }
  /// A variable-length value, 1-octet prefix below 255 octets, else 3 octets; with
  /// `force_long` the 3-octet form is used for any length (RFC 7011 7 allows it).
  void put_varlen(bytes_view v, bool force_long = false);
  void put_string(std::string_view s, bool force_long = false);

  /// Octets written to the open message so far.
  std::size_t message_size() const { return out_.size() - message_start_; }

 private:
  std::vector<std::uint8_t>& out_;
  std::size_t message_start_ = 0;
  std::size_t set_start_ = 0;
  bool in_message_ = false;
  bool in_set_ = false;
};

} // namespace fa::ipfix
