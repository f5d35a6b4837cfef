// libFuzzer target: what a client sends to the gRPC listener (rpc/export_connection: the
// HTTP/2 preface and frames by libnghttp2, the gRPC message prefix, reassembly across
// DATA frames, conversion into the stream's chunk), read in pieces whose sizes the first
// octet chooses. Invariants, for any octets:
// - every session opened is closed exactly once, after its last chunk;
// - every chunk's credit is released with the chunk (the budget comes back whole).

#include "rpc/export_connection.hpp"

#include <google/protobuf/stubs/logging.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace fa;

class noop_inbound : public net::inbound {
 public:
  void close(std::string) override {}
};

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)quiet;
  if (size == 0)
    return 0;
  constexpr std::int64_t limit = 1 << 16;
  auto budget = std::make_shared<messages::byte_budget>(limit);
  int opened = 0, closed = 0;
  std::vector<messages::chunk_ptr> chunks;
  rpc::export_server_handlers h;
  h.open = [&](const asio::ip::address&, std::uint16_t, net::inbound_ptr) {
    ++opened;
    return std::optional<rpc::export_session>{
        rpc::export_session{{budget, nullptr},
                            [&](messages::chunk_ptr c) {
                              check(closed < opened, "a chunk after its session closed");
                              chunks.push_back(std::move(c));
                            },
                            [&](const std::string&) { ++closed; }}};
  };
  rpc::export_limits limits;
  limits.max_message_size = 4096;
  limits.stream_window = 65535;
  {
    rpc::export_connection::context ctx;
    ctx.address = asio::ip::make_address("127.0.0.1");
    ctx.peer = "127.0.0.1:1";
    ctx.make_inbound = [](std::int32_t) { return std::make_shared<noop_inbound>(); };
    ctx.make_resume = [](std::int32_t) { return [] {}; };
    ctx.stopping = [] { return false; };
    rpc::export_connection c{std::move(ctx), limits, h};
    const std::size_t piece = 1 + data[0] % 97;
    std::string out;
    for (std::size_t at = 1; at < size; at += piece) {
      if (!c.receive(data + at, std::min(piece, size - at)))
        break;
      out.clear();
      c.output(out);
      if (chunks.size() > 8)
        chunks.clear(); // the session's actor is done with them
    }
    out.clear();
    c.output(out);
    c.close_all("cancelled");
    check(opened == closed, "a session opened and never closed");
  }
  check(opened == closed, "a session closed twice");
  chunks.clear();
  check(budget->available() == limit, "a credit outlived its chunk");
  return 0;
}
