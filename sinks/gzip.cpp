#include "sinks/gzip.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace fa::sinks {

namespace fs = std::filesystem;

gzip_compressor::gzip_compressor(int level) {
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&z_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("zlib: deflateInit2 failed");
}

gzip_compressor::~gzip_compressor() {
  deflateEnd(&z_);
}

void gzip_compressor::compress(std::string_view in, std::string& out) {
  deflateReset(&z_);
  out.resize(deflateBound(&z_, static_cast<uLong>(in.size())) + 32);
  z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z_.avail_in = static_cast<uInt>(in.size());
  z_.next_out = reinterpret_cast<Bytef*>(out.data());
  z_.avail_out = static_cast<uInt>(out.size());
  // deflateBound guarantees one call with Z_FINISH completes.
  deflate(&z_, Z_FINISH);
  out.resize(out.size() - z_.avail_out);
}

namespace {

std::string sys_error(const std::string& what, int err) {
  return what + ": " + std::strerror(err);
}

} // namespace

std::optional<std::string> gzip_file(const fs::path& from, const fs::path& to) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return sys_error("cannot read " + from.string(), errno);
  auto tmp = to.string() + ".tmp";
  gzFile out = gzopen(tmp.c_str(), "wb");
  if (out == nullptr) {
    ::close(in);
    return sys_error("cannot create " + tmp, errno);
  }
  std::vector<char> buf(1 << 16);
  std::optional<std::string> err;
  for (;;) {
    auto n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      err = sys_error("cannot read " + from.string(), errno);
      break;
    }
    if (n == 0)
      break;
    if (gzwrite(out, buf.data(), static_cast<unsigned>(n)) != n) {
      int zerr = 0;
      err = "cannot write " + tmp + ": " + gzerror(out, &zerr);
      break;
    }
  }
  ::close(in);
  if (gzclose(out) != Z_OK && !err)
    err = "cannot write " + tmp + ": closing it failed (disk full?)";
  std::error_code ec;
  if (err) {
    fs::remove(tmp, ec);
    return err;
  }
  if (::rename(tmp.c_str(), to.c_str()) != 0) {
    auto e = sys_error("cannot rename " + tmp, errno);
    fs::remove(tmp, ec);
    return e;
  }
  fs::remove(from, ec);
  return std::nullopt;
}

} // namespace fa::sinks
