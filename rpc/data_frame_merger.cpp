#include "rpc/data_frame_merger.hpp"

#include <algorithm>
#include <cstring>

namespace fa::rpc {

namespace {

// RFC 9113 4.1: a frame header is 9 octets: length (24 bits), type, flags, stream id
// (31 bits). 6.1: DATA is type 0, END_STREAM 0x1, PADDED 0x8.
constexpr std::size_t header_size = 9;
constexpr std::uint8_t type_data = 0x0;
constexpr std::uint8_t flag_end_stream = 0x1;
constexpr std::uint8_t flag_padded = 0x8;

struct frame_header {
  std::size_t length;
  std::uint8_t type;
  std::uint8_t flags;
  std::int32_t stream;
};

frame_header read_header(const std::uint8_t* p) {
  return {std::size_t{p[0]} << 16 | std::size_t{p[1]} << 8 | p[2], p[3], p[4],
          static_cast<std::int32_t>((std::uint32_t{p[5]} & 0x7f) << 24 | std::uint32_t{p[6]} << 16 |
                                    std::uint32_t{p[7]} << 8 | p[8])};
}

void write_length(std::uint8_t* p, std::size_t length) {
  p[0] = static_cast<std::uint8_t>(length >> 16);
  p[1] = static_cast<std::uint8_t>(length >> 8);
  p[2] = static_cast<std::uint8_t>(length);
}

bool mergeable(const frame_header& h) {
  return h.type == type_data && !(h.flags & flag_padded) && h.stream != 0;
}

} // namespace

std::size_t data_frame_merger::merge(std::uint8_t* data, std::size_t size,
                                     std::size_t max_frame_size, const room_fn& room) {
  std::size_t in = 0, out = 0;
  // Moves `n` octets from `in` to `out` (the same place until a merge shortened the read).
  auto pass = [&](std::size_t n) {
    if (out != in)
      std::memmove(data + out, data + in, n);
    in += n;
    out += n;
  };
  // What this read's DATA frames have taken from the windows so far (any stream's, as the
  // connection's window is shared: counting them all is the safe side).
  std::size_t taken = 0;
  while (in < size) {
    if (skip_ > 0) { // the rest of a frame (or the preface) that an earlier read began
      const auto n = std::min(skip_, size - in);
      pass(n);
      skip_ -= n;
      continue;
    }
    if (head_size_ > 0 || size - in < header_size) { // a header cut by a read's end
      const auto n = std::min(header_size - head_size_, size - in);
      std::memcpy(head_.data() + head_size_, data + in, n);
      head_size_ += n;
      pass(n);
      if (head_size_ < header_size)
        break;
      head_size_ = 0;
      skip_ = read_header(head_.data()).length;
      continue;
    }
    const auto first = read_header(data + in);
    const std::size_t whole = header_size + first.length;
    if (!mergeable(first) || size - in < whole || (first.flags & flag_end_stream)) {
      if (first.type == type_data)
        taken += first.length;
      skip_ = first.length; // the header, then its payload (all of it, or what this read has)
      pass(header_size);
      continue;
    }
    // Whole DATA frames of this stream, one after another, while they fit.
    const std::size_t left = room(first.stream);
    const std::size_t limit = std::min(max_frame_size, left - std::min(left, taken));
    std::size_t length = first.length;
    std::uint8_t flags = first.flags;
    std::size_t next = in + whole;
    const std::size_t merged_at = out;
    bool merged = false;
    pass(whole);
    while (!(flags & flag_end_stream) && size - next >= header_size) {
      const auto h = read_header(data + next);
      if (!mergeable(h) || h.stream != first.stream || size - next - header_size < h.length ||
          length + h.length > limit)
        break;
      in = next + header_size; // the header goes; the payload follows the merged one's
      pass(h.length);
      length += h.length;
      flags = static_cast<std::uint8_t>(flags | (h.flags & flag_end_stream));
      next = in;
      merged = true;
    }
    if (merged) { // (an empty last frame may bring only its END_STREAM)
      write_length(data + merged_at, length);
      data[merged_at + 4] = flags;
    }
    taken += length;
  }
  return out;
}

} // namespace fa::rpc
