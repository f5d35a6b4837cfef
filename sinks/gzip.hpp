#pragma once

// gzip (RFC 1952) through zlib: ClickHouse request bodies (Content-Encoding: gzip, which
// 18.16 accepts; antrea-clickhouse-export.md 4.2) and rotated flow-log files.

#include <zlib.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace fa::sinks {

/// Compresses whole buffers, one gzip member each, reusing zlib's state between calls
/// (deflateReset), so that a body costs no allocation once the output has grown.
class gzip_compressor {
 public:
  explicit gzip_compressor(int level = 1); ///< 1 = fastest (Z_BEST_SPEED)
  ~gzip_compressor();
  gzip_compressor(const gzip_compressor&) = delete;
  gzip_compressor& operator=(const gzip_compressor&) = delete;

  /// Replaces `out` with the gzip member of `in`.
  void compress(std::string_view in, std::string& out);

 private:
  z_stream z_{};
};

/// Gzips the file `from` into `to` (written as `to`.tmp, then renamed) and removes
/// `from`; the error text when it cannot, and then `from` stays.
std::optional<std::string> gzip_file(const std::filesystem::path& from,
                                     const std::filesystem::path& to);

} // namespace fa::sinks
