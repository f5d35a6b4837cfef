// IPFIX over UDP (RFC 7011 8.4, 10.3):
// - agent_session with UDP template rules on the deterministic scheduler (lifetime,
//   replacement, ignored withdrawals, counts reported by the reader);
// - net::udp_listener on real loopback sockets (one datagram = one message, peers,
//   budgets, idle expiry, dual stack, stop), with no actors: its callbacks are recorded.

#include "actors/agent_session.hpp"
#include "net/udp_listener.hpp"

#include "test/actors/test_util.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

using namespace std::chrono_literals;

namespace fa::actors::test {
namespace {

// -- agent_session over UDP ---------------------------------------------------------------

class udp_agent_session_test : public actor_fixture {
 protected:
  udp_agent_session_test() {
    probe = sys.spawn(enricher_probe);
    info = ipv4_session(1, 192, 0, 2, 9);
    auto i = std::make_shared<messages::session_info>(*info);
    i->proto = messages::transport::udp;
    info = i;
    run();
  }

  agent_session_actor spawn_session(ipfix::clock_type::duration lifetime) {
    agent_session_config c;
    c.info = info;
    c.enricher = probe;
    c.table = table;
    c.templates.transport = ipfix::transport_kind::udp;
    c.templates.udp_lifetime = lifetime;
    c.metrics = &metrics;
    auto s = sys.spawn(agent_session, std::move(c));
    run();
    return s;
  }

  void send(const agent_session_actor& s, const bytes& content) {
    caf::anon_send(s, messages::frames{make_chunk(content)});
    run();
  }

  std::vector<messages::data_batch>& batches() {
    return state_of<enricher_probe_state>(probe).batches;
  }

  const messages::session_status& status(const agent_session_actor& s) {
    return state_of<agent_session_state>(s).status;
  }

  double events(const std::string& event) {
    for (auto& fam : metrics.registry()->Collect())
      if (fam.name == "flow_aggregator_template_events_total")
        for (auto& m : fam.metric)
          for (auto& l : m.label)
            if (l.name == "event" && l.value == event)
              return m.counter.value;
    return 0;
  }

  monitoring::metrics metrics;
  std::shared_ptr<output_template_table> table = std::make_shared<output_template_table>();
  enricher_actor probe;
  messages::session_info_ptr info;
};

// RFC 7011 8.4: a template not refreshed within its lifetime expires; its data is then
// unknown (dropped, counted), the session forgets it, and a refresh brings it back.
TEST_F(udp_agent_session_test, a_template_expires_after_its_lifetime) {
  constexpr auto lifetime = 100ms;
  auto s = spawn_session(lifetime);
  auto t = plain_v4(256);
  send(s, message(5, 0, [&](auto& b) {
         template_set(b, {t});
         data_set(b, 256, {plain_v4_record(1)});
       }));
  ASSERT_EQ(batches().size(), 1u);
  EXPECT_EQ(status(s).templates, 1u);
  // Still alive within the lifetime.
  send(s, message(5, 1, [&](auto& b) { data_set(b, 256, {plain_v4_record(2)}); }));
  EXPECT_EQ(batches().size(), 2u);
  // steady_clock is monotonic: after this sleep the lifetime has certainly passed.
  std::this_thread::sleep_for(lifetime + 20ms);
  send(s, message(5, 2, [&](auto& b) { data_set(b, 256, {plain_v4_record(3)}); }));
  EXPECT_EQ(batches().size(), 2u) << "data of an expired template must not be forwarded";
  EXPECT_EQ(status(s).unknown_template_sets, 1u);
  EXPECT_EQ(status(s).templates, 0u) << "the expired template is forgotten";
  EXPECT_EQ(events("expired"), 1);
  EXPECT_EQ(status(s).template_events, 0u) << "expiry is not an exporter error";
  // A refresh (the exporter resends its template) makes it usable again.
  send(s, message(5, 3, [&](auto& b) {
         template_set(b, {t});
         data_set(b, 256, {plain_v4_record(4)});
       }));
  ASSERT_EQ(batches().size(), 3u);
  EXPECT_EQ(status(s).templates, 1u);
}

// A count-only report (no data) also forgets expired templates.
TEST_F(udp_agent_session_test, expiry_runs_on_a_count_only_report) {
  constexpr auto lifetime = 50ms;
  auto s = spawn_session(lifetime);
  send(s, message(5, 0, [&](auto& b) { template_set(b, {plain_v4(256), plain_v4(257)}); }));
  EXPECT_EQ(status(s).templates, 2u);
  std::this_thread::sleep_for(lifetime + 20ms);
  caf::anon_send(s, messages::frames{nullptr, 0, 0});
  run();
  EXPECT_EQ(status(s).templates, 0u);
  EXPECT_EQ(events("expired"), 2);
}

// RFC 7011 8.4: over UDP a new definition for a live id replaces the old one; records
// that follow are read with the new layout. Not an exporter error.
TEST_F(udp_agent_session_test, a_new_definition_replaces_the_template) {
  auto s = spawn_session(30min);
  auto wide = plain_v4(256);                  // 16 octets per record
  auto narrow = make_def(256, {iana(86, 8)}); // 8 octets per record
  send(s, message(5, 0, [&](auto& b) {
         template_set(b, {wide});
         data_set(b, 256, {plain_v4_record(1)});
       }));
  send(s, message(5, 1, [&](auto& b) {
         template_set(b, {narrow});
         data_set(b, 256, {bytes(8, 0x11), bytes(8, 0x22)});
       }));
  ASSERT_EQ(batches().size(), 2u);
  ASSERT_EQ(batches()[1].slices.size(), 1u);
  EXPECT_EQ(batches()[1].slices[0].plan->input, narrow);
  EXPECT_EQ(batches()[1].slices[0].records, 2u);
  EXPECT_EQ(status(s).templates, 1u);
  EXPECT_EQ(status(s).template_events, 0u);
  EXPECT_EQ(events("replaced"), 1);
  EXPECT_EQ(status(s).malformed, 0u);
}

// RFC 7011 8.4: withdrawals are ignored over UDP, and counted.
TEST_F(udp_agent_session_test, a_withdrawal_is_ignored_and_counted) {
  auto s = spawn_session(30min);
  auto t = plain_v4(256);
  send(s, message(5, 0, [&](auto& b) {
         template_set(b, {t});
         b.begin_set(ipfix::template_set_id);
         b.add_withdrawal(256);
         b.end_set();
         data_set(b, 256, {plain_v4_record(1)});
       }));
  ASSERT_EQ(batches().size(), 1u) << "the template survives its withdrawal";
  EXPECT_EQ(status(s).templates, 1u);
  EXPECT_EQ(status(s).template_events, 1u);
  EXPECT_EQ(events("ignored_withdrawal"), 1);
}

// The UDP reader's counts (budget drops, malformed datagrams) reach the status, with or
// without data.
TEST_F(udp_agent_session_test, reader_counts_reach_the_status) {
  auto s = spawn_session(30min);
  caf::anon_send(s, messages::frames{nullptr, 3, 2});
  run();
  auto t = plain_v4(256);
  auto m = message(5, 0, [&](auto& b) {
    template_set(b, {t});
    data_set(b, 256, {plain_v4_record(1)});
  });
  caf::anon_send(s, messages::frames{make_chunk(m), 4, 0});
  run();
  EXPECT_EQ(status(s).budget_drops, 7u);
  EXPECT_EQ(status(s).malformed, 2u);
  EXPECT_EQ(status(s).records, 1u);
  EXPECT_EQ(batches().size(), 1u);
}

// -- net::udp_listener on loopback ---------------------------------------------------------

/// A UDP socket bound to an ephemeral loopback port (so its peer key stays the same).
class sender {
 public:
  explicit sender(bool v6 = false)
      : v6_(v6) {
    fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    EXPECT_GE(fd_, 0);
    if (v6) {
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_addr = in6addr_loopback;
      EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    } else {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    }
  }
  ~sender() { ::close(fd_); }
  sender(const sender&) = delete;
  sender& operator=(const sender&) = delete;

  void send(std::uint16_t port, const bytes& b) {
    ssize_t n = -1;
    if (v6_) {
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_addr = in6addr_loopback;
      a.sin6_port = htons(port);
      n = ::sendto(fd_, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(port);
      n = ::sendto(fd_, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    EXPECT_EQ(n, static_cast<ssize_t>(b.size())) << std::strerror(errno);
  }

 private:
  int fd_ = -1;
  bool v6_ = false;
};

/// Everything the listener told its owner, guarded for the test thread.
struct recorder {
  struct peer_log {
    asio::ip::udp::endpoint remote;
    std::vector<messages::chunk_ptr> chunks;
    std::uint64_t budget_drops = 0;
    std::uint64_t malformed = 0;
    std::vector<std::string> closes;
    std::weak_ptr<net::udp_peer> peer; ///< weak: the peer's handlers hold this log
  };

  std::mutex mtx;
  std::condition_variable cv;
  std::vector<std::shared_ptr<peer_log>> peers;
  std::uint64_t received = 0;
  net::udp_drop_counts dropped{};
  bool refuse = false;
  messages::session_budgets budgets;

  net::udp_listener::accept_handler on_accept() {
    return [this](const net::udp_peer_ptr& p,
                  const net::udp_listener::reclaim_handler&) -> std::optional<net::udp_peer_setup> {
      std::lock_guard g{mtx};
      if (refuse)
        return std::nullopt;
      auto log = std::make_shared<peer_log>();
      log->remote = p->remote();
      log->peer = p;
      peers.push_back(log);
      net::udp_peer_setup s;
      s.on_frames = [this, log](messages::chunk_ptr c, net::udp_peer_report r) {
        std::lock_guard g{mtx};
        if (c)
          log->chunks.push_back(std::move(c));
        log->budget_drops += r.budget_drops;
        log->malformed += r.malformed;
        cv.notify_all();
      };
      s.on_closed = [this, log](const std::string& reason) {
        std::lock_guard g{mtx};
        log->closes.push_back(reason);
        cv.notify_all();
      };
      s.budgets = budgets.session ? budgets
                                  : messages::session_budgets{
                                        std::make_shared<messages::byte_budget>(1 << 20), nullptr};
      cv.notify_all();
      return s;
    };
  }

  net::udp_listener::counts_handler on_counts() {
    return [this](std::uint64_t n, const net::udp_drop_counts& d) {
      std::lock_guard g{mtx};
      received += n;
      for (std::size_t i = 0; i < d.size(); ++i)
        dropped[i] += d[i];
      cv.notify_all();
    };
  }

  /// Waits (bounded) until `pred()` holds, under the lock.
  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lk{mtx};
    return cv.wait_for(lk, timeout, pred);
  }

  std::uint64_t drops(net::udp_drop d) { return dropped[static_cast<std::size_t>(d)]; }
};

class udp_listener_test : public ::testing::Test {
 protected:
  ~udp_listener_test() override {
    if (listener)
      listener->stop();
    guard.reset();
    if (thread.joinable())
      thread.join();
  }

  void start(const std::string& host = "127.0.0.1", net::udp_listener_config cfg = {}) {
    listener = std::make_shared<net::udp_listener>(
        ctx, asio::ip::udp::endpoint{asio::ip::make_address(host), 0}, cfg, rec.on_accept(),
        rec.on_counts());
    listener->start();
    thread = std::thread{[this] { ctx.run(); }};
  }

  /// A valid message of `size` octets (one data set of padding-free opaque bytes for
  /// template 256; the listener does not look past the header).
  static bytes datagram(std::size_t size, std::uint32_t seq = 0) {
    bytes m(size, 0);
    ipfix::write_u16(m.data(), 10);
    ipfix::write_u16(m.data() + 2, static_cast<std::uint16_t>(size));
    ipfix::write_u32(m.data() + 8, seq);
    ipfix::write_u32(m.data() + 12, 7);
    if (size >= 20) {
      ipfix::write_u16(m.data() + 16, 256);
      ipfix::write_u16(m.data() + 18, static_cast<std::uint16_t>(size - 16));
    }
    for (std::size_t i = 20; i < size; ++i)
      m[i] = static_cast<std::uint8_t>(i);
    return m;
  }

  asio::io_context ctx;
  asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(ctx);
  std::thread thread;
  recorder rec;
  net::udp_listener_ptr listener;
};

std::size_t total_chunk_bytes(const recorder::peer_log& p) {
  std::size_t n = 0;
  for (auto& c : p.chunks)
    n += c->size();
  return n;
}

// Each exporter (address, port) is one session; its datagrams arrive intact, in order,
// and a largest-possible IPv4 datagram (65507 octets) is neither truncated nor refused.
TEST_F(udp_listener_test, datagrams_reach_their_exporter_session_intact) {
  start();
  EXPECT_GT(listener->effective_receive_buffer(), 0u);
  sender a, b;
  auto a1 = datagram(100, 0), a2 = datagram(200, 1), big = datagram(65507, 2);
  auto b1 = datagram(300, 0);
  a.send(listener->port(), a1);
  b.send(listener->port(), b1);
  a.send(listener->port(), a2);
  a.send(listener->port(), big);
  ASSERT_TRUE(rec.wait([&] {
    // Chunks are handed over before the batch's counts: wait for both.
    return rec.peers.size() == 2 && total_chunk_bytes(*rec.peers[0]) == 100 + 200 + 65507 &&
           total_chunk_bytes(*rec.peers[1]) == 300 && rec.received == 4;
  }));
  std::lock_guard g{rec.mtx};
  bytes got_a;
  for (auto& c : rec.peers[0]->chunks)
    got_a.insert(got_a.end(), c->bytes().begin(), c->bytes().end());
  EXPECT_EQ(got_a, concat({a1, a2, big}));
  EXPECT_EQ(rec.peers[0]->remote.address(), asio::ip::make_address("127.0.0.1"));
  EXPECT_EQ(rec.peers[1]->chunks[0]->bytes().size(), 300u);
  EXPECT_EQ(rec.received, 4u);
  EXPECT_EQ(rec.drops(net::udp_drop::truncated), 0u);
  EXPECT_EQ(rec.drops(net::udp_drop::length_mismatch), 0u);
  EXPECT_EQ(listener->peers(), 2u);
}

// RFC 7011 10.3.3: a datagram is exactly one message. Two messages in one datagram, a
// length that is not the datagram's, a bad version or no header at all: dropped and
// counted by reason; an unknown sender opens no session, a known one gets the count.
TEST_F(udp_listener_test, a_datagram_that_is_not_one_message_is_malformed) {
  start();
  sender s;
  auto port = listener->port();
  s.send(port, concat({datagram(40), datagram(40)})); // two messages, header says 40
  auto bad_version = datagram(40);
  ipfix::write_u16(bad_version.data(), 9);
  s.send(port, bad_version);
  s.send(port, bytes(10, 0)); // shorter than a message header
  auto longer = datagram(60);
  ipfix::write_u16(longer.data() + 2, 80); // header claims more than arrived
  s.send(port, longer);
  ASSERT_TRUE(rec.wait([&] { return rec.received == 4; }));
  {
    std::lock_guard g{rec.mtx};
    EXPECT_EQ(rec.drops(net::udp_drop::length_mismatch), 2u);
    EXPECT_EQ(rec.drops(net::udp_drop::bad_version), 1u);
    EXPECT_EQ(rec.drops(net::udp_drop::short_header), 1u);
    EXPECT_TRUE(rec.peers.empty()) << "garbage must not open a session";
  }
  // Now a valid message opens the session, and its later garbage is reported to it.
  s.send(port, datagram(40));
  ASSERT_TRUE(rec.wait([&] { return rec.peers.size() == 1 && !rec.peers[0]->chunks.empty(); }));
  s.send(port, concat({datagram(40), datagram(40)}));
  ASSERT_TRUE(rec.wait([&] { return rec.peers[0]->malformed == 1; }));
  std::lock_guard g{rec.mtx};
  EXPECT_EQ(rec.drops(net::udp_drop::length_mismatch), 3u);
  EXPECT_EQ(total_chunk_bytes(*rec.peers[0]), 40u);
  EXPECT_EQ(listener->dropped(net::udp_drop::length_mismatch), 3u);
}

// collector.max_message_size holds for UDP too: a larger message is malformed.
TEST_F(udp_listener_test, a_message_above_the_maximum_size_is_malformed) {
  net::udp_listener_config cfg;
  cfg.max_message_size = 512;
  start("127.0.0.1", cfg);
  sender s;
  s.send(listener->port(), datagram(513));
  s.send(listener->port(), datagram(512));
  ASSERT_TRUE(rec.wait(
      [&] { return rec.peers.size() == 1 && !rec.peers[0]->chunks.empty() && rec.received == 2; }));
  std::lock_guard g{rec.mtx};
  EXPECT_EQ(rec.drops(net::udp_drop::too_large), 1u);
  EXPECT_EQ(total_chunk_bytes(*rec.peers[0]), 512u);
}

// DESIGN 3: UDP cannot push back. While the session's budget is spent its datagrams are
// dropped and counted (metric and session status); once the holders release their
// chunks, datagrams flow again.
TEST_F(udp_listener_test, a_spent_budget_drops_and_counts) {
  auto budget = std::make_shared<messages::byte_budget>(1000);
  rec.budgets = {budget, std::make_shared<messages::byte_budget>(1 << 20)};
  start();
  sender s;
  auto port = listener->port();
  for (std::uint32_t i = 0; i < 3; ++i)
    s.send(port, datagram(600, i));
  // 1000 octets of budget: the first two datagrams get in (the second while 400 are
  // left), the third finds it spent. The recorder holds the chunks, so it stays spent.
  ASSERT_TRUE(rec.wait([&] { return rec.drops(net::udp_drop::budget) == 1; }));
  ASSERT_TRUE(rec.wait([&] { return rec.peers.size() == 1 && rec.peers[0]->budget_drops == 1; }))
      << "the sweep reports the drop to the session";
  {
    std::lock_guard g{rec.mtx};
    EXPECT_EQ(total_chunk_bytes(*rec.peers[0]), 1200u);
    EXPECT_LT(budget->available(), 0);
    rec.peers[0]->chunks.clear(); // the enricher is done: credits come back
  }
  EXPECT_EQ(budget->available(), 1000);
  s.send(port, datagram(600, 3));
  ASSERT_TRUE(rec.wait([&] { return total_chunk_bytes(*rec.peers[0]) == 600; }));
  std::lock_guard g{rec.mtx};
  EXPECT_EQ(rec.drops(net::udp_drop::budget), 1u);
}

// The process-wide budget is checked as well as the session's.
TEST_F(udp_listener_test, a_spent_global_budget_drops_too) {
  auto global = std::make_shared<messages::byte_budget>(500);
  rec.budgets = {std::make_shared<messages::byte_budget>(1 << 20), global};
  start();
  sender s;
  s.send(listener->port(), datagram(600, 0));
  s.send(listener->port(), datagram(600, 1));
  ASSERT_TRUE(rec.wait([&] { return rec.drops(net::udp_drop::budget) == 1; }));
  std::lock_guard g{rec.mtx};
  EXPECT_EQ(total_chunk_bytes(*rec.peers[0]), 600u);
}

// An exporter silent for the idle timeout has its session closed (once), is forgotten,
// and its next datagram opens a new session.
TEST_F(udp_listener_test, an_idle_exporter_is_closed_and_forgotten) {
  net::udp_listener_config cfg;
  cfg.idle_timeout = 100ms;
  start("127.0.0.1", cfg);
  sender s;
  s.send(listener->port(), datagram(40));
  ASSERT_TRUE(rec.wait([&] { return rec.peers.size() == 1 && !rec.peers[0]->closes.empty(); }));
  {
    std::lock_guard g{rec.mtx};
    EXPECT_EQ(rec.peers[0]->closes, std::vector<std::string>{"idle_timeout"});
  }
  EXPECT_TRUE(rec.wait([&] { return listener->peers() == 0; }));
  s.send(listener->port(), datagram(40));
  ASSERT_TRUE(rec.wait([&] { return rec.peers.size() == 2 && !rec.peers[1]->chunks.empty(); }));
}

// A busy exporter is not idle: its datagrams keep the session open past the timeout.
TEST_F(udp_listener_test, a_busy_exporter_stays_open) {
  net::udp_listener_config cfg;
  cfg.idle_timeout = 300ms;
  start("127.0.0.1", cfg);
  sender s;
  auto deadline = std::chrono::steady_clock::now() + 900ms;
  std::uint32_t seq = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    s.send(listener->port(), datagram(40, seq++));
    std::this_thread::sleep_for(20ms);
  }
  std::lock_guard g{rec.mtx};
  ASSERT_EQ(rec.peers.size(), 1u);
  EXPECT_TRUE(rec.peers[0]->closes.empty());
}

// inbound::close (the supervisor's or the session's) ends the session once and forgets
// the exporter; refused exporters are counted and get no session.
TEST_F(udp_listener_test, close_and_refusal) {
  start();
  sender s;
  s.send(listener->port(), datagram(40));
  ASSERT_TRUE(rec.wait([&] { return rec.peers.size() == 1; }));
  net::udp_peer_ptr peer;
  {
    std::lock_guard g{rec.mtx};
    peer = rec.peers[0]->peer.lock();
    rec.refuse = true;
  }
  ASSERT_NE(peer, nullptr);
  peer->close("shutdown");
  peer->close("again");
  ASSERT_TRUE(rec.wait([&] { return !rec.peers[0]->closes.empty(); }));
  EXPECT_TRUE(rec.wait([&] { return listener->peers() == 0; }));
  s.send(listener->port(), datagram(40));
  ASSERT_TRUE(rec.wait([&] { return rec.drops(net::udp_drop::refused) == 1; }));
  std::lock_guard g{rec.mtx};
  EXPECT_EQ(rec.peers[0]->closes, std::vector<std::string>{"shutdown"});
  EXPECT_EQ(rec.peers.size(), 1u);
}

// Datagrams the kernel drops for want of receive buffer (before we could read them) are
// counted too: the socket's running drop count (SO_MEMINFO), read with each batch.
TEST_F(udp_listener_test, kernel_drops_are_counted) {
  net::udp_listener_config cfg;
  cfg.receive_buffer = 4096; // room for a few datagrams only
  cfg.batch = 256;           // whatever it held is read in one recvmmsg call
  listener = std::make_shared<net::udp_listener>(
      ctx, asio::ip::udp::endpoint{asio::ip::make_address("127.0.0.1"), 0}, cfg, rec.on_accept(),
      rec.on_counts());
  listener->start();
  // Nothing reads yet (the io thread is not running): most of these overflow the buffer.
  constexpr std::uint64_t sent = 200;
  sender s;
  for (std::uint32_t i = 0; i < sent; ++i)
    s.send(listener->port(), datagram(1000, i));
  thread = std::thread{[this] { ctx.run(); }};
  // What the buffer held is read in one go, with the drops so far.
  ASSERT_TRUE(rec.wait([&] { return rec.received > 0; }));
  std::uint64_t held = 0;
  {
    std::lock_guard g{rec.mtx};
    held = rec.received;
  }
  ASSERT_LT(held, sent) << "the buffer should not hold them all";
  s.send(listener->port(), datagram(1000, 999));
  ASSERT_TRUE(rec.wait([&] { return rec.received == held + 1; }));
  std::lock_guard g{rec.mtx};
  EXPECT_EQ(rec.drops(net::udp_drop::socket_overflow), sent - held);
}

// "[::]" is dual-stack: IPv4 and IPv6 exporters on one socket, two sessions.
TEST_F(udp_listener_test, dual_stack_receives_ipv4_and_ipv6) {
  start("::");
  sender v4, v6{true};
  v4.send(listener->port(), datagram(40));
  v6.send(listener->port(), datagram(48));
  ASSERT_TRUE(rec.wait([&] { return rec.peers.size() == 2; }));
  std::lock_guard g{rec.mtx};
  std::vector<std::string> addrs;
  for (auto& p : rec.peers) {
    auto a = p->remote.address();
    if (a.is_v6() && a.to_v6().is_v4_mapped())
      a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
    addrs.push_back(a.to_string());
  }
  std::sort(addrs.begin(), addrs.end());
  EXPECT_EQ(addrs, (std::vector<std::string>{"127.0.0.1", "::1"}));
}

// Stopping the listener stops receiving: its socket is closed, so the port is free
// again (a second socket can bind it), and a session that was open stays open (the
// supervisor closes it through its inbound).
TEST_F(udp_listener_test, stop_closes_the_socket) {
  start();
  sender s;
  s.send(listener->port(), datagram(40));
  ASSERT_TRUE(rec.wait([&] { return rec.peers.size() == 1; }));
  auto port = listener->port();
  listener->stop();
  auto rebinds = [port] {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
  };
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!rebinds() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(rebinds());
  std::lock_guard g{rec.mtx};
  EXPECT_TRUE(rec.peers[0]->closes.empty());
}

} // namespace
} // namespace fa::actors::test
