#pragma once

// A gRPC client's side of FlowExportService.Export on libnghttp2's client, for the tests
// and the fuzz corpus of the export listener (rpc/export_connection.hpp): the path, the
// Length-Prefixed-Message framing and the request headers.

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

namespace fa::test {

inline constexpr std::string_view export_path =
    "/antrea_io.antrea.pkg.apis.flow.v1alpha1.FlowExportService/Export";

/// gRPC's Length-Prefixed-Message: the compressed flag, the length (big-endian), the message.
inline std::string grpc_framed(const std::string& message, std::uint8_t compressed = 0) {
  std::string out(5, '\0');
  out[0] = static_cast<char>(compressed);
  const auto n = static_cast<std::uint32_t>(message.size());
  for (int i = 0; i < 4; ++i)
    out[1 + i] = static_cast<char>(n >> (24 - 8 * i));
  return out + message;
}

inline nghttp2_nv h2_header(std::string_view name, std::string_view value) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
          value.size(), NGHTTP2_NV_FLAG_NONE};
}

/// Submits a gRPC request on `path` whose body `body` provides; returns the stream id.
inline std::int32_t submit_grpc_request(nghttp2_session* s, std::string_view path,
                                        const nghttp2_data_provider* body) {
  const nghttp2_nv headers[] = {h2_header(":method", "POST"),
                                h2_header(":scheme", "http"),
                                h2_header(":authority", "localhost"),
                                h2_header(":path", path),
                                h2_header("content-type", "application/grpc"),
                                h2_header("te", "trailers")};
  return nghttp2_submit_request(s, nullptr, headers, std::size(headers), body, nullptr);
}

/// A client session with `cbs` (none: an empty set) that has queued its SETTINGS.
inline nghttp2_session* h2_client(nghttp2_session_callbacks* cbs = nullptr, void* user = nullptr) {
  const bool own = cbs == nullptr;
  if (own)
    nghttp2_session_callbacks_new(&cbs);
  nghttp2_session* s = nullptr;
  nghttp2_session_client_new(&s, cbs, user);
  if (own)
    nghttp2_session_callbacks_del(cbs);
  nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, nullptr, 0);
  return s;
}

/// Everything `s` has to send now.
inline std::string h2_output(nghttp2_session* s) {
  std::string out;
  for (;;) {
    const std::uint8_t* p = nullptr;
    auto n = nghttp2_session_mem_send(s, &p);
    if (n <= 0)
      break;
    out.append(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
  }
  return out;
}

} // namespace fa::test
