#pragma once

// Finds IPFIX message boundaries in a TCP byte stream by the header's length field
// (RFC 7011 10.4.1: the stream is a sequence of messages).

#include "ipfix/message.hpp"

#include <cstddef>
#include <string_view>

namespace fa::net {

struct frame_scan {
  std::size_t complete = 0; ///< octets of whole messages at the start of the buffer
  std::size_t needed = 0;   ///< length of the first incomplete message, if its header is in
  std::string_view error;   ///< non-empty: the stream cannot be framed any more
};

/// Scans `bytes` for whole messages. A bad version, a length below the header size or
/// above `max_length` (the configured limit) makes the stream unframeable: the session
/// must be closed (RFC 7011 10.4.1).
inline frame_scan scan_frames(ipfix::bytes_view bytes,
                              std::size_t max_length = ipfix::max_message_size) {
  frame_scan r;
  std::size_t pos = 0;
  while (bytes.size() - pos >= ipfix::message_header_size) {
    auto* p = bytes.data() + pos;
    if (ipfix::read_u16(p) != ipfix::ipfix_version) {
      r.error = "bad_version";
      break;
    }
    std::size_t len = ipfix::read_u16(p + 2);
    if (len < ipfix::message_header_size) {
      r.error = "bad_message_length";
      break;
    }
    if (len > max_length) {
      r.error = "message_too_large";
      break;
    }
    if (len > bytes.size() - pos) {
      r.needed = len;
      break;
    }
    pos += len;
  }
  r.complete = pos;
  if (r.needed == 0 && r.error.empty() && pos < bytes.size())
    r.needed = ipfix::message_header_size;
  return r;
}

} // namespace fa::net
