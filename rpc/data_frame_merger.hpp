#pragma once

// Merges the whole DATA frames of one stream that follow one another in a read of a
// client's HTTP/2 octets into one DATA frame, in place, before libnghttp2 reads them.
// An Agent sends each one-Flow ExportRequest in a DATA frame of its own (some 230
// octets), and libnghttp2 costs some 560 instructions per frame (README, "gRPC in vs IPFIX
// over TCP in"); merged, a read of some 100 requests is a handful of frames.
//
// Nothing a frame means is lost (RFC 9113 6.1): DATA frames carry a stream's octets in
// order, and their boundaries mean nothing to gRPC, whose messages carry their own
// length prefix. Only unpadded frames of one stream are merged, the last one's
// END_STREAM kept; the merged payload stays within the largest frame we announced
// (SETTINGS_MAX_FRAME_SIZE) and within the receive windows left (`room`), so that
// libnghttp2 refuses a merged frame exactly when it would have refused one of its parts
// (then it is not merged). Any other frame passes unchanged. The walk keeps its place
// across reads: a frame cut by a read's end is passed on as it is.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace fa::rpc {

class data_frame_merger {
 public:
  /// What stream `id` may still receive (its and the connection's receive windows, the
  /// smaller), before any of the read being merged.
  using room_fn = std::function<std::size_t(std::int32_t id)>;

  /// `skip`: octets before the first frame header (the client's 24-octet connection
  /// preface, RFC 9113 3.4).
  explicit data_frame_merger(std::size_t skip = 24)
      : skip_(skip) {}

  /// Rewrites the next `size` octets of the connection at `data` in place; returns how
  /// many are left (as many or fewer: 9 per merged frame header).
  std::size_t merge(std::uint8_t* data, std::size_t size, std::size_t max_frame_size,
                    const room_fn& room);

 private:
  std::size_t skip_;                   ///< octets to pass before the next frame header
  std::array<std::uint8_t, 9> head_{}; ///< a frame header cut by a read's end
  std::size_t head_size_ = 0;
};

} // namespace fa::rpc
