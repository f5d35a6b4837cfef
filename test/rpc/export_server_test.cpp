// The gRPC listener on a real socket (rpc/export_server): a client that stops answering
// keepalive PINGs loses its session; an HTTP/1.1 client is refused and counted. Bound to
// 127.0.0.1:0; every wait is bounded.

#include "rpc/export_server.hpp"
#include "test/support/grpc_request.hpp"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <asio.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace fa::rpc {
namespace {

using namespace std::chrono_literals;

/// What the server's handlers saw, from its thread.
struct seen {
  std::mutex mtx;
  std::condition_variable cv;
  int opened = 0;
  std::uint64_t requests = 0;
  std::vector<std::string> closed, refused;

  template <class Pred>
  bool wait(Pred p) {
    std::unique_lock lock{mtx};
    return cv.wait_for(lock, 20s, [&] { return p(*this); });
  }
};

std::shared_ptr<export_server> start(seen& s, std::chrono::milliseconds keepalive) {
  export_server_options o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.keepalive_time = keepalive;
  o.keepalive_timeout = keepalive;
  export_server_handlers h;
  auto budget = std::make_shared<messages::byte_budget>(1 << 20);
  h.open = [&s, budget](const asio::ip::address& a, std::uint16_t, net::inbound_ptr) {
    std::lock_guard lock{s.mtx};
    EXPECT_EQ(a, asio::ip::make_address("127.0.0.1"));
    ++s.opened;
    s.cv.notify_all();
    return std::optional<export_session>{export_session{{budget, nullptr},
                                                        [](messages::chunk_ptr) {},
                                                        [&s](const std::string& why) {
                                                          std::lock_guard l{s.mtx};
                                                          s.closed.push_back(why);
                                                          s.cv.notify_all();
                                                        }}};
  };
  h.refused = [&s](std::string_view why, const std::string&, const std::string&) {
    std::lock_guard lock{s.mtx};
    s.refused.emplace_back(why);
    s.cv.notify_all();
  };
  h.received = [&s](std::uint64_t requests, std::uint64_t) {
    std::lock_guard lock{s.mtx};
    s.requests += requests;
    s.cv.notify_all();
  };
  auto made = export_server::start(std::move(o), std::move(h));
  EXPECT_TRUE(std::holds_alternative<std::shared_ptr<export_server>>(made));
  return std::get<std::shared_ptr<export_server>>(made);
}

/// A client's socket connected to `server`.
struct connected {
  explicit connected(export_server& server) { sock.connect({server.address(), server.port()}); }
  asio::io_context io;
  asio::ip::tcp::socket sock{io};
};

/// What nghttp2's client sends to open one request stream that stays open (its body
/// never comes from nghttp2): the preface, SETTINGS and the HEADERS; and the stream's id.
std::pair<std::string, std::int32_t> open_stream() {
  nghttp2_session* client = test::h2_client();
  nghttp2_data_provider body{};
  body.read_callback = [](nghttp2_session*, std::int32_t, std::uint8_t*, std::size_t,
                          std::uint32_t*, nghttp2_data_source*,
                          void*) -> ssize_t { return NGHTTP2_ERR_DEFERRED; };
  const auto id = test::submit_grpc_request(client, test::export_path, &body);
  std::string out = test::h2_output(client);
  nghttp2_session_del(client);
  return {std::move(out), id};
}

// gRPC's keepalive, server side: a client that never answers the PING is gone, and its
// open stream's session ends (an Agent never half-closes).
TEST(grpc_export_server, a_client_that_does_not_answer_keepalive_pings_loses_its_session) {
  seen s;
  auto server = start(s, 200ms);
  connected c{*server};
  auto& sock = c.sock;
  // The preface, SETTINGS and a request stream from nghttp2's client; then silence: what
  // the server sends (its SETTINGS, the PING) is never read.
  asio::write(sock, asio::buffer(open_stream().first));
  ASSERT_TRUE(s.wait([](seen& x) { return x.opened == 1; })) << "no session opened";
  ASSERT_TRUE(s.wait([](seen& x) { return x.closed.size() == 1; })) << "the session lived on";
  EXPECT_EQ(s.closed.front(), "cancelled");
  server.reset(); // joins the server thread
}

// RFC 9113 3.4: an HTTP/1.1 request gets no session; the connection is refused, counted
// as not_http2, and closed.
TEST(grpc_export_server, an_http1_client_is_refused_and_closed) {
  seen s;
  auto server = start(s, 30s);
  connected c{*server};
  auto& sock = c.sock;
  asio::write(sock, asio::buffer(std::string{"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"}));
  ASSERT_TRUE(s.wait([](seen& x) { return !x.refused.empty(); }));
  EXPECT_EQ(s.refused, std::vector<std::string>{"not_http2"});
  // The server closes: reading reaches the end (after its SETTINGS and GOAWAY).
  std::array<char, 4096> buf;
  asio::error_code ec;
  for (int i = 0; i < 100 && !ec; ++i)
    sock.read_some(asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_EQ(s.opened, 0);
}

/// `n` DATA frames on stream `id`, each one gRPC message: an empty ExportRequest (no
/// Flows, which protobuf serializes as no octets), as small as a request gets.
std::string empty_requests(std::int32_t id, int n) {
  const std::string message = test::grpc_framed("");
  std::string frame(9, '\0'); // RFC 9113 4.1: length, type DATA, no flags, stream
  frame[2] = static_cast<char>(message.size());
  for (int i = 0; i < 4; ++i)
    frame[5 + i] = static_cast<char>(static_cast<std::uint32_t>(id) >> (24 - 8 * i));
  frame += message;
  std::string out;
  for (int i = 0; i < n; ++i)
    out += frame;
  return out;
}

// After a burst the listener lets requests gather with a socket low watermark of a full
// read (README, "gRPC in"); once a gather tick finds the socket quiet it waits for any
// octet again, so an Agent's next request, however small, is read.
TEST(grpc_export_server, a_small_request_after_a_quiet_spell_is_read) {
  seen s;
  auto server = start(s, 30s);
  connected c{*server};
  auto& sock = c.sock;
  const auto [out, id] = open_stream(); // its DATA frames are written by hand
  asio::write(sock, asio::buffer(out + empty_requests(id, 200)));
  ASSERT_TRUE(s.wait([](seen& x) { return x.requests == 200; })) << "the burst was not read";
  // Not needed for the result: lets the gather tick (1 ms) find the socket quiet first,
  // so that a listener that kept its low watermark would surely miss the next request.
  std::this_thread::sleep_for(50ms);
  asio::write(sock, asio::buffer(empty_requests(id, 1)));
  ASSERT_TRUE(s.wait([](seen& x) { return x.requests == 201; }))
      << "a request after a quiet spell was not read";
  server.reset();
}

} // namespace
} // namespace fa::rpc
