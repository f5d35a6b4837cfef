#pragma once

// Views over one IPFIX message and its sets. They copy nothing and check every
// length before use (RFC 7011 3.1, 3.3.2, 9.1).

#include "ipfix/error.hpp"
#include "ipfix/wire.hpp"

#include <cstdint>
#include <optional>

namespace fa::ipfix {

constexpr std::uint16_t ipfix_version = 0x000a;
constexpr std::size_t message_header_size = 16;
constexpr std::size_t set_header_size = 4;
constexpr std::size_t max_message_size = 65535;
constexpr std::uint16_t template_set_id = 2;
constexpr std::uint16_t options_template_set_id = 3;
constexpr std::uint16_t min_data_set_id = 256;
/// The longest record that fits a set of a message of the maximum size.
constexpr std::size_t max_record_length = max_message_size - message_header_size - set_header_size;

/// RFC 7011 3.1.
struct message_header {
  std::uint16_t version = ipfix_version;
  std::uint16_t length = 0;
  std::uint32_t export_time = 0;
  std::uint32_t sequence = 0;
  std::uint32_t observation_domain_id = 0;
};

/// Reads the 16-octet header without validating anything but the size. Framing code
/// (TCP) uses it to learn a message's length before the whole message has arrived.
std::optional<message_header> peek_header(bytes_view bytes);

enum class set_kind : std::uint8_t { template_set, options_template_set, data_set };

/// One set: its id, and its body (the octets after the 4-octet set header, padding
/// included).
struct set_view {
  std::uint16_t id = 0;
  bytes_view body;
  set_kind kind() const {
    return id == template_set_id           ? set_kind::template_set
           : id == options_template_set_id ? set_kind::options_template_set
                                           : set_kind::data_set;
  }
};

/// The first set of the message at the start of `bytes`, without parsing the message:
/// when the message's length covers its header and that set, and lies inside `bytes`
/// (the agent session looks ahead at the next message of a read, issue 15). Nothing else
/// is checked; the message is parsed when its turn comes.
std::optional<set_view> peek_first_set(bytes_view bytes);

/// One validated message. `parse` checks the header and walks every set header once,
/// so iterating the sets afterwards cannot fail.
class message_view {
 public:
  /// `bytes` must hold at least the whole message; octets past the header's length
  /// are ignored (TCP framing hands over exactly one message; a UDP datagram longer
  /// than its message is an error: see `parse_datagram`).
  static parse_error parse(bytes_view bytes, message_view& out);

  /// Like `parse`, but the datagram must hold exactly one message (RFC 7011 10.3.2).
  static parse_error parse_datagram(bytes_view bytes, message_view& out);

  const message_header& header() const { return header_; }

  /// The whole message, header included.
  bytes_view bytes() const { return bytes_; }

  /// Number of sets in the message.
  std::size_t num_sets() const { return num_sets_; }

  /// Calls `f(const set_view&)` for each set in order.
  template <class F>
  void for_each_set(F&& f) const {
    std::size_t pos = message_header_size;
    while (pos < bytes_.size()) {
      set_view s;
      s.id = read_u16(bytes_.data() + pos);
      auto len = read_u16(bytes_.data() + pos + 2);
      s.body = bytes_.subspan(pos + set_header_size, len - set_header_size);
      f(s);
      pos += len;
    }
  }

 private:
  message_header header_;
  bytes_view bytes_;
  std::size_t num_sets_ = 0;
};

} // namespace fa::ipfix
