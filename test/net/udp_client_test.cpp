// udp_client (net/udp_client.hpp) against a real loopback receiver: with UDP GSO the
// datagrams on the wire are exactly the messages of the job, as without it (RFC 7011
// 10.3.3: one message per datagram), and when the kernel refuses GSO the client falls
// back to plain datagrams, losing nothing, and says so once.

#include "net/udp_client.hpp"

#include "ipfix/message.hpp"
#include "ipfix/wire.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace fa::net {
namespace {

using bytes = std::vector<std::uint8_t>;

/// A message of `length` octets (RFC 7011 3.1 header, then filler that differs per
/// message), sequence `seq`.
bytes message(std::size_t length, std::uint32_t seq) {
  bytes m(length);
  for (std::size_t i = 0; i < length; ++i)
    m[i] = static_cast<std::uint8_t>(seq * 31 + i);
  ipfix::write_u16(m.data(), ipfix::ipfix_version);
  ipfix::write_u16(m.data() + 2, static_cast<std::uint16_t>(length));
  ipfix::write_u32(m.data() + 8, seq);
  return m;
}

/// Messages of these sizes: runs of equal sizes, a run longer than GSO's 64 segments,
/// runs that end with a shorter message, and sizes that grow (never one run).
std::vector<bytes> messages_of(const std::vector<std::size_t>& sizes) {
  std::vector<bytes> out;
  for (auto s : sizes)
    out.push_back(message(s, static_cast<std::uint32_t>(out.size())));
  return out;
}

std::vector<std::size_t> mixed_sizes() {
  std::vector<std::size_t> s{1400, 1400, 1400, 1400, 1400, 1000, 1400, 1400, 700, 700, 64};
  s.insert(s.end(), 80, 100); // more than 64 segments of one size
  for (std::size_t k : {200u, 300u, 400u, 500u})
    s.push_back(k); // growing: plain datagrams
  s.insert(s.end(), {1200, 1200, 16});
  return s;
}

class udp_client_test : public ::testing::Test {
 protected:
  udp_client_test() {
    rx.open(asio::ip::udp::v4());
    rx.bind({asio::ip::address_v4::loopback(), 0});
    int size = 4 << 20;
    if (::setsockopt(rx.native_handle(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
      ::setsockopt(rx.native_handle(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    timeval tv{10, 0}; // bounded: a missing datagram fails the test, never hangs it
    ::setsockopt(rx.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~udp_client_test() override {
    if (client)
      client->stop();
    work.reset();
    if (thread.joinable())
      thread.join();
  }

  /// Starts a client to the receiver; `on_connected` runs on its strand, once.
  void start(udp_client_options opts, std::function<void(udp_client&)> on_connected = {}) {
    opts.gso_refused = [this](int err) {
      std::lock_guard lock{mu};
      refusals.push_back(err);
    };
    client_handlers h;
    h.connected = [this, on_connected](std::uint64_t) {
      if (on_connected)
        on_connected(*client);
      std::lock_guard lock{mu};
      connected = true;
      cv.notify_all();
    };
    h.disconnected = [this](std::uint64_t, disconnect_info info) {
      std::lock_guard lock{mu};
      failure = info.reason;
      cv.notify_all();
    };
    h.written = [this](std::uint64_t, std::size_t n, std::size_t) {
      std::lock_guard lock{mu};
      written += n;
      ++writes;
      cv.notify_all();
    };
    client = std::make_shared<udp_client>(io, "127.0.0.1", rx.local_endpoint().port(), std::move(h),
                                          std::move(opts));
    thread = std::thread([this] { io.run(); });
    client->connect(1);
    std::unique_lock lock{mu};
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds{30}, [&] { return connected; }));
  }

  /// Writes `msgs` as one job, each message in up to three buffers (as the exporter
  /// gathers a header and its sets), and waits until it is reported written.
  void write(const std::vector<bytes>& msgs) {
    auto job = std::make_shared<write_job>();
    for (auto& m : msgs) {
      std::size_t a = std::min<std::size_t>(16, m.size()), b = a + (m.size() - a) / 2;
      std::uint32_t pieces = 0;
      for (auto [from, to] : {std::pair{0ul, a}, std::pair{a, b}, std::pair{b, m.size()}}) {
        if (to > from) {
          job->buffers.emplace_back(m.data() + from, to - from);
          ++pieces;
        }
      }
      job->datagrams.push_back(pieces);
    }
    std::unique_lock lock{mu};
    auto before = writes;
    lock.unlock();
    client->write(1, job);
    lock.lock();
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds{30},
                            [&] { return writes > before || !failure.empty(); }));
    ASSERT_EQ(failure, "");
  }

  /// The next `n` datagrams the receiver got.
  std::vector<bytes> receive(std::size_t n) {
    std::vector<bytes> out;
    bytes buf(65536);
    while (out.size() < n) {
      auto got = ::recv(rx.native_handle(), buf.data(), buf.size(), 0);
      if (got < 0)
        break; // timed out: the comparison below fails
      out.emplace_back(buf.begin(), buf.begin() + got);
    }
    return out;
  }

  std::vector<int> refused() {
    std::lock_guard lock{mu};
    return refusals;
  }

  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work{
      asio::make_work_guard(io)};
  std::thread thread;
  asio::ip::udp::socket rx{io};
  std::shared_ptr<udp_client> client;
  std::mutex mu;
  std::condition_variable cv;
  bool connected = false;
  std::string failure;
  std::size_t written = 0;
  std::size_t writes = 0;
  std::vector<int> refusals;
};

TEST_F(udp_client_test, gso_puts_the_same_datagrams_on_the_wire_as_plain_sends) {
  auto msgs = messages_of(mixed_sizes());
  for (bool gso : {true, false}) {
    SCOPED_TRACE(gso ? "gso" : "plain");
    start({.gso = gso});
    write(msgs);
    EXPECT_EQ(receive(msgs.size()), msgs);
    EXPECT_TRUE(refused().empty());
    client->stop();
    client.reset();
    work.reset();
    thread.join();
    io.restart();
    work.emplace(asio::make_work_guard(io));
    connected = false;
  }
}

// SO_NO_CHECK (no UDP checksums) makes the kernel refuse every GSO send (EINVAL, Linux
// udp_send_skb): a real refusal, as on a route without checksum offload.
TEST_F(udp_client_test, a_refused_gso_send_goes_again_as_plain_datagrams) {
  start({}, [](udp_client& c) {
    int on = 1;
    ASSERT_EQ(::setsockopt(c.native_handle(), SOL_SOCKET, SO_NO_CHECK, &on, sizeof on), 0);
  });
  auto msgs = messages_of(mixed_sizes());
  write(msgs);
  EXPECT_EQ(receive(msgs.size()), msgs);
  EXPECT_EQ(refused(), std::vector<int>{EINVAL});
  // Once refused, the client sends plain datagrams: nothing is refused again.
  write(msgs);
  EXPECT_EQ(receive(msgs.size()), msgs);
  EXPECT_EQ(refused().size(), 1u);
}

// Sizes that only grow never make a run: with GSO refused, nothing is even tried.
TEST_F(udp_client_test, messages_of_growing_sizes_are_never_one_gso_send) {
  start({}, [](udp_client& c) {
    int on = 1;
    ASSERT_EQ(::setsockopt(c.native_handle(), SOL_SOCKET, SO_NO_CHECK, &on, sizeof on), 0);
  });
  auto msgs = messages_of({100, 101, 200, 1400, 1401, 2000});
  write(msgs);
  EXPECT_EQ(receive(msgs.size()), msgs);
  EXPECT_TRUE(refused().empty());
}

} // namespace
} // namespace fa::net
